/*
 * tests/test_util.h: helpers shared by the native test programs.
 *
 * - Fault probes: page_faults() touches a byte under a SIGSEGV/SIGBUS handler and says whether
 *   the access faulted. It installs its handler only for the duration of the probe (cmocka
 *   installs its own around each test) and may be called from several threads at once.
 * - Page contents: tu_fill() writes a pattern derived from a 64-bit tag into a page; tu_check()
 *   verifies it; tu_tag_of() reads the tag back (it is the first word). Tags should be nonzero
 *   so that a zero page never passes a check.
 * - Tracked resources: tu_alloc() and tu_reserve() assert success and remember what they made;
 *   tu_teardown() (a cmocka teardown) gives everything back and then checks that the process-wide
 *   counters are at their baseline (no frames, no windows, no VMAs), so that one test's leak or a
 *   counter bug shows up at once.
 * - /proc readers: tu_maps_count() counts the lines of /proc/self/maps that overlap given
 *   address ranges, without allocating memory (so the reading does not change the map).
 *
 * Everything here calls cmocka assertions from the calling thread: call it from the test's
 * main thread only, except page_faults(), tu_fill(), tu_check(), tu_is_zero() and tu_tag_of(),
 * which are thread-safe and never assert.
 */
#ifndef AWECACHE_TESTS_TEST_UTIL_H
#define AWECACHE_TESTS_TEST_UTIL_H

#include "awe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The machine's AWE capabilities, filled by tu_init() (which every test program calls first). */
extern struct awe_caps tu_caps;

/* Fills tu_caps; exits with a message if awe_get_caps() fails. */
void tu_init(void);

/* The page size (tu_caps.page_size). */
size_t tu_page(void);

/* ---- Fault probes ------------------------------------------------------------------------- */

/* True when reading the byte at p raises SIGSEGV or SIGBUS. Thread-safe. */
bool page_faults(const void *p);

/* Reads the 64-bit word at p (8-aligned); false (and *out untouched) when the read faulted. */
bool tu_try_read_u64(const void *p, uint64_t *out);

/* ---- Page contents ------------------------------------------------------------------------ */

/* Writes the pattern of `tag` over [p, p + len) (len a multiple of 8). */
void tu_fill(void *p, size_t len, uint64_t tag);

/* True when [p, p + len) holds the pattern of `tag`. */
bool tu_check(const void *p, size_t len, uint64_t tag);

/* True when [p, p + len) is all zero bytes. */
bool tu_is_zero(const void *p, size_t len);

/* The tag a page was filled with (its first word). */
uint64_t tu_tag_of(const void *p);

/* ---- Tracked resources (main thread only) -------------------------------------------------- */

/* Allocates exactly n small frames (asserts), records them for tu_teardown, returns a
 * malloc'ed array of n frame numbers that tu_teardown frees. */
awe_frame_t *tu_alloc(size_t n);

/* Records frames allocated by the test itself (through awe_frames_alloc) for tu_teardown. */
void tu_track_frames(const awe_frame_t *frames, size_t n);

/* Reserves a window of `pages` pages (asserts), records it for tu_teardown. */
char *tu_reserve(size_t pages);

/* Records a window reserved by the test itself. */
void tu_track_window(void *base);

/* Frees every recorded frame and releases every recorded window (errors ignored: the test may
 * have done it already), then forgets them. */
void tu_release_all(void);

/* cmocka fixtures: tu_setup checks the counters are at baseline; tu_teardown calls
 * tu_release_all() and checks the counters are back at baseline. */
int tu_setup(void **state);
int tu_teardown(void **state);

/* Asserts that frames_allocated, windows and vmas_in_use are 0. */
void tu_assert_baseline(void);

/* A snapshot of awe_get_stats(asserts success). */
struct awe_stats tu_stats(void);

/* The frame mapped at the page holding va (asserts that awe_query succeeds). */
awe_frame_t tu_query(const void *va);

/* Asserts that `call` (an awe_* call) returns `want`, naming both codes when it does not.
 * Needs cmocka.h. */
#define TU_EXPECT(call, want)                                                                      \
    do {                                                                                           \
        int tu_rc_ = (call);                                                                       \
        int tu_want_ = (want);                                                                     \
        if (tu_rc_ != tu_want_)                                                                    \
            fail_msg("%s returned %d (%s), expected %d (%s)", #call, tu_rc_, awe_strerror(tu_rc_), \
                     tu_want_, awe_strerror(tu_want_));                                            \
    } while (0)

/* The address of page i of a window. */
#define TU_AT(base, i) ((char *)(base) + (size_t)(i)*tu_page())

/* ---- /proc ------------------------------------------------------------------------------- */

struct tu_range {
    uintptr_t lo; /* first byte */
    uintptr_t hi; /* one past the last byte */
};

/* The number of /proc/self/maps lines that overlap r[0..n), counted per range: a line that
 * overlaps two ranges (the kernel merged the mappings of two adjacent windows) counts for each,
 * as awe's vmas_in_use does. -1 if the file cannot be read. Allocates nothing. */
long tu_maps_count(const struct tu_range *r, size_t n);

/* The integer in a /proc/sys file; -1 if unreadable. */
long long tu_read_sysctl(const char *path);

/* ---- Child processes ---------------------------------------------------------------------- */

/* Runs fn(arg) in a fork()ed child and returns its exit status (fn's return value), or
 * 128 + signal if it died of a signal, or -1 if fork failed. The child exits with _exit. */
int tu_run_child(int (*fn)(void *), void *arg);

/* A small deterministic PRNG (xorshift64*), for tests that want reproducible randomness. */
uint64_t tu_rand(uint64_t *state);

#endif /* AWECACHE_TESTS_TEST_UTIL_H */
