/*
 * tests/engine_util.h: helpers shared by the page-cache tests (test_engine*.c).
 *
 * - Scratch files: et_init() makes a fresh directory for this program's backing files under the
 *   build tree (AWC_TEST_DIR, a compile definition, or the environment variable of that name;
 *   never /tmp, which may be tmpfs and so refuse O_DIRECT), and removes it at exit.
 *   et_path() names a file in it.
 * - Page contents: et_fill() writes version `version` of page `page`: a header (magic, page,
 *   version, a checksum of the body) and a body derived from (page, version); et_check() reads it
 *   back and says what it found. Version 0 is the all-zero page (never written). Thread-safe.
 * - The file layout (engine/README.md section 5), for tests that damage a closed file on purpose:
 *   et_page_offset(), et_ck_offset(), et_flip_byte().
 * - Small things: a configuration builder, ET_EXPECT (names both codes on failure), snapshots of
 *   the stats, environment knobs, a clock, and et_keep(), which keeps closed handles reachable
 *   (the header says a closed handle's bytes are never reused, i.e. never freed: without this
 *   LeakSanitizer would call each closed handle a leak).
 *
 * The cmocka assertions here are for the main thread; et_fill, et_check, et_check_str, et_rand*,
 * et_now_ns and et_sleep_ms never assert and may be called from any thread.
 */
#ifndef AWECACHE_TESTS_ENGINE_UTIL_H
#define AWECACHE_TESTS_ENGINE_UTIL_H

#include "awecache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ET_KIB ((size_t)1024)
#define ET_MIB ((size_t)1024 * 1024)

/* ---- Scratch directory ------------------------------------------------------------------- */

/* Creates <AWC_TEST_DIR>/<prog>-XXXXXX (mkdir -p of the base first) and arranges for it and its
 * files to be removed at exit (et_cleanup). Exits 1 with a message if that fails. */
void et_init(const char *prog);

/* The scratch directory made by et_init. */
const char *et_dir(void);

/* Writes "<scratch dir>/<name>" into buf[0..len) (asserts it fits) and returns buf. */
char *et_path(char *buf, size_t len, const char *name);

/* Removes every file of the scratch directory and the directory (idempotent). Only the process
 * that called et_init does anything here: a fork()ed child's exit leaves it alone. */
void et_cleanup(void);

/* Removes one file (no error if it is missing). */
void et_unlink(const char *path);

/* True when the path exists. */
bool et_exists(const char *path);

/* The size of a file in bytes (asserts it exists). */
uint64_t et_file_size(const char *path);

/* Writes len bytes at off into the file (asserts), creating it if needed. */
void et_pwrite(const char *path, const void *buf, size_t len, uint64_t off);

/* Reads len bytes at off from the file (asserts a full read). */
void et_pread(const char *path, void *buf, size_t len, uint64_t off);

/* XORs the byte at off with 0xff (asserts). */
void et_flip_byte(const char *path, uint64_t off);

/* Sets the file's size (asserts). */
void et_truncate(const char *path, uint64_t size);

/* ---- The file layout (engine/README.md section 5) --------------------------------------- */

#define ET_SB_SIZE   4096u /* each of the two superblocks */
#define ET_DATA_BASE 8192u /* the first segment */
#define ET_SEG_PAGES 255u  /* pages per segment, after its 4 KiB checksum block */

/* Offset of page p's data in a file of page size ps. */
uint64_t et_page_offset(size_t ps, uint64_t page);

/* Offset of page p's 16-byte checksum record. */
uint64_t et_ck_offset(size_t ps, uint64_t page);

/* ---- Configuration ----------------------------------------------------------------------- */

/* A configuration of `frames` frames and `slots` window slots of `page_size` bytes each. */
struct awc_config et_cfg(const char *path, size_t page_size, uint64_t frames, uint64_t slots,
                         unsigned flags);

/* Opens (asserts AWC_OK), keeps the handle (et_keep) and returns it. */
awc_t *et_open(const struct awc_config *cfg);

/* Closes (asserts AWC_OK). */
void et_close(awc_t *c);

/* Keeps a handle reachable until exit (see above). Main thread only. */
void et_keep(awc_t *c);

/* Closes every kept handle that is still open (a test that failed half way leaves its cache
 * open); returns how many it closed. Handles with pins held stay open (awc_close refuses). */
unsigned et_close_all(void);

/* awc_get_stats (asserts AWC_OK). */
struct awc_stats et_stats(awc_t *c);

/* Asserts that `call` returns `want`, naming both codes when it does not. Needs cmocka.h. */
#define ET_EXPECT(call, want)                                                                      \
    do {                                                                                           \
        int et_rc_ = (call);                                                                       \
        int et_want_ = (want);                                                                     \
        if (et_rc_ != et_want_)                                                                    \
            fail_msg("%s:%d: %s returned %d (%s), expected %d (%s)", __FILE__, __LINE__, #call,    \
                     et_rc_, awc_strerror(et_rc_), et_want_, awc_strerror(et_want_));              \
    } while (0)

/* Asserts that `call` returns one of two codes. */
#define ET_EXPECT2(call, want1, want2)                                                             \
    do {                                                                                           \
        int et_rc_ = (call);                                                                       \
        int et_w1_ = (want1), et_w2_ = (want2);                                                    \
        if (et_rc_ != et_w1_ && et_rc_ != et_w2_)                                                  \
            fail_msg("%s:%d: %s returned %d (%s), expected %d (%s) or %d (%s)", __FILE__,          \
                     __LINE__, #call, et_rc_, awc_strerror(et_rc_), et_w1_, awc_strerror(et_w1_),  \
                     et_w2_, awc_strerror(et_w2_));                                                \
    } while (0)

/* ---- Page contents ----------------------------------------------------------------------- */

/* What et_check found. */
enum et_verdict {
    ET_GOOD = 0,    /* a whole, consistent (page, version) pattern; version 0: all zeros */
    ET_BAD_MAGIC,   /* not all zeros and no pattern header */
    ET_WRONG_PAGE,  /* a pattern of another page */
    ET_BAD_BODY,    /* the header is fine but the body does not match it (torn or mixed) */
    ET_BAD_CHECKSUM /* the body checksum in the header does not match the body */
};

/* Writes version `version` (>= 1) of page `page` over p[0..len) (len a multiple of 64). */
void et_fill(void *p, size_t len, uint64_t page, uint64_t version);

/* Checks p[0..len) as page `page`; on ET_GOOD stores the version found (0: all zeros). */
enum et_verdict et_check(const void *p, size_t len, uint64_t page, uint64_t *version);

/* A name for a verdict. */
const char *et_check_str(enum et_verdict v);

/* ---- Key-value test values --------------------------------------------------------------- */

/* splitmix64's finaliser: a well-mixed 64-bit function of x. */
uint64_t et_mix64(uint64_t x);

#define ET_VHDR 24u /* bytes at the start of a value: key id, version, check word */

/* Writes version `version` of key `id`'s value over b[0..len) (len >= ET_VHDR): the header,
 * then bytes derived from it, so that a value names its key and version and any torn, mixed or
 * foreign value is told apart. Thread-safe. */
void et_value_make(uint8_t *b, size_t len, uint64_t id, uint64_t version);

/* True when b[0..len) is exactly a value et_value_make made for key `id`; *version gets its
 * version. Thread-safe. */
bool et_value_ok(const uint8_t *b, size_t len, uint64_t id, uint64_t *version);

/* True when p[0..len) is all zero bytes. */
bool et_is_zero(const void *p, size_t len);

/* ---- Small things ------------------------------------------------------------------------ */

/* The unsigned integer in environment variable `name`, or dflt if unset or unparsable. */
uint64_t et_env_u64(const char *name, uint64_t dflt);

/* xorshift64* (state must be nonzero); et_rand_below: uniform in [0, n), n > 0. */
uint64_t et_rand(uint64_t *state);
uint64_t et_rand_below(uint64_t *state, uint64_t n);

/* Monotonic nanoseconds; a sleep of ms milliseconds. */
uint64_t et_now_ns(void);
void et_sleep_ms(unsigned ms);

#endif /* AWECACHE_TESTS_ENGINE_UTIL_H */
