/*
 * tests/test_fault.c: OS failures injected at the platform boundary leave everything as it was.
 *
 * For each operation under test:
 *   1. build a state (windows, frames with a unique pattern each, a layout of mapped runs) and
 *      count the OS calls one successful call makes (N), then undo it all;
 *   2. for every k in 1..N and for each injected errno: build the same state, make the k-th OS
 *      call of the operation fail (plat_testing_fail_nth_os_call), call, and check that the call
 *      failed with the matching code (ENOMEM -> AWE_ENOMEM, anything else -> AWE_EIO) and that
 *      the state is exactly the one before: awe_query of every page, the pattern of every mapped
 *      page, a fault on every unmapped page, the patterns of unmapped frames, the counters, and
 *      vmas_in_use equal to the count before and to /proc/self/maps.
 * Frame allocation, window reservation and release, and frame freeing (which may legitimately
 * end part way) are checked for consistency of whatever result they give.
 */
#include "test_util.h"

#include "plat_testing.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#define PG (tu_page())

/* The injected errnos and the codes they must give. */
static const struct {
    int os_errno;
    int awe_rc;
} injections[] = {
    {ENOMEM, AWE_ENOMEM},
    {EIO, AWE_EIO},
    {EACCES, AWE_EIO},
};
#define NINJ (sizeof(injections) / sizeof(injections[0]))

/* The pattern tag of frame f: written once at setup, it travels with the frame. */
static uint64_t tag(awe_frame_t f)
{
    return (uint64_t)f * 0x10001ull + 0x7700000000000007ull;
}

/* ---- The fixture: windows, frames, a layout ----------------------------------------------- */

enum { NFRAMES = 28, P1 = 32, P2 = 16 };

struct fx {
    char *w1;               /* window of P1 pages */
    char *w2;               /* window of P2 pages */
    char *scratch;          /* window of NFRAMES pages, empty between uses */
    awe_frame_t f[NFRAMES]; /* consecutive frame numbers, ascending */
};

/* The state a call must leave untouched. */
struct snap {
    awe_frame_t pages[P1 + P2]; /* w1's pages then w2's */
    struct awe_stats st;        /* counters */
    long maps;                  /* /proc/self/maps lines over the three windows */
};

static int cmp_frame(const void *a, const void *b)
{
    awe_frame_t x = *(const awe_frame_t *)a, y = *(const awe_frame_t *)b;

    return x < y ? -1 : x > y;
}

/* Builds the windows and frames, tags every frame, and maps the initial layout:
 *   w1: pages 0..5 <- f0..f5 (one run), page 10 <- f10, pages 12..13 <- f12, f13,
 *       pages 20..22 <- f17, f15, f14 (three runs)
 *   w2: pages 0..3 <- f8, f9, f11, f16 (runs f8-f9, f11, f16), page 15 <- f19
 * Unmapped: f6, f7, f18, f20..f27. */
static void fx_build(struct fx *x, bool need_consecutive)
{
    awe_frame_t *f = tu_alloc(NFRAMES);
    awe_frame_t e[4];

    memcpy(x->f, f, sizeof(x->f));
    qsort(x->f, NFRAMES, sizeof(awe_frame_t), cmp_frame);
    for (size_t i = 1; need_consecutive && i < NFRAMES; i++) {
        if (x->f[i] != x->f[0] + i)
            fail_msg("frames from an empty pool are not consecutive");
    }
    x->scratch = tu_reserve(NFRAMES);
    x->w1 = tu_reserve(P1);
    x->w2 = tu_reserve(P2);
    TU_EXPECT(awe_map(x->scratch, NFRAMES, x->f), AWE_OK);
    for (size_t i = 0; i < NFRAMES; i++)
        tu_fill(TU_AT(x->scratch, i), PG, tag(x->f[i]));
    TU_EXPECT(awe_unmap(x->scratch, NFRAMES), AWE_OK);

    TU_EXPECT(awe_map(x->w1, 6, x->f), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(x->w1, 10), 1, &x->f[10]), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(x->w1, 12), 2, &x->f[12]), AWE_OK);
    e[0] = x->f[17];
    e[1] = x->f[15];
    e[2] = x->f[14];
    TU_EXPECT(awe_map(TU_AT(x->w1, 20), 3, e), AWE_OK);
    e[0] = x->f[8];
    e[1] = x->f[9];
    e[2] = x->f[11];
    e[3] = x->f[16];
    TU_EXPECT(awe_map(x->w2, 4, e), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(x->w2, 15), 1, &x->f[19]), AWE_OK);
}

static long fx_maps(const struct fx *x)
{
    struct tu_range r[3] = {
        {(uintptr_t)x->w1, (uintptr_t)x->w1 + P1 * PG},
        {(uintptr_t)x->w2, (uintptr_t)x->w2 + P2 * PG},
        {(uintptr_t)x->scratch, (uintptr_t)x->scratch + NFRAMES * PG},
    };

    return tu_maps_count(r, 3);
}

static char *fx_page(const struct fx *x, size_t i)
{
    return i < P1 ? TU_AT(x->w1, i) : TU_AT(x->w2, i - P1);
}

static void fx_snap(const struct fx *x, struct snap *s)
{
    for (size_t i = 0; i < P1 + P2; i++)
        s->pages[i] = tu_query(fx_page(x, i));
    s->st = tu_stats();
    s->maps = fx_maps(x);
    assert_int_equal(s->maps, (long)s->st.vmas_in_use);
}

/* Asserts that the state is exactly `s` (failed_calls aside, which the caller checks). */
static void fx_verify(const struct fx *x, const struct snap *s, const char *what, size_t k,
                      int os_errno)
{
    struct awe_stats st = tu_stats();
    bool mapped[NFRAMES] = {false};
    long maps = fx_maps(x);

    for (size_t i = 0; i < P1 + P2; i++) {
        char *va = fx_page(x, i);
        awe_frame_t now = tu_query(va);

        if (now != s->pages[i])
            fail_msg("%s, OS call %zu failing with errno %d: %s page %zu holds %#lx, before "
                     "%#lx",
                     what, k, os_errno, i < P1 ? "w1" : "w2", i < P1 ? i : i - P1,
                     (unsigned long)now, (unsigned long)s->pages[i]);
        if (now == 0) {
            if (!page_faults(va))
                fail_msg("%s, OS call %zu failing: unmapped page %zu does not fault", what, k, i);
            continue;
        }
        if (!tu_check(va, PG, tag(now)))
            fail_msg("%s, OS call %zu failing: page %zu does not show frame %#lx's pattern "
                     "(first word %#lx)",
                     what, k, i, (unsigned long)now, (unsigned long)tu_tag_of(va));
        for (size_t j = 0; j < NFRAMES; j++)
            mapped[j] |= x->f[j] == now;
    }
    if (st.vmas_in_use != s->st.vmas_in_use || maps != s->maps)
        fail_msg("%s, OS call %zu failing: vmas_in_use %lu (before %lu), /proc/self/maps %ld "
                 "(before %ld)",
                 what, k, (unsigned long)st.vmas_in_use, (unsigned long)s->st.vmas_in_use, maps,
                 s->maps);
    assert_int_equal(st.frames_allocated, s->st.frames_allocated);
    assert_int_equal(st.windows, s->st.windows);
    assert_int_equal(st.pages_mapped, s->st.pages_mapped);
    assert_int_equal(st.pages_unmapped, s->st.pages_unmapped);
    assert_int_equal(st.map_calls, s->st.map_calls);
    assert_int_equal(st.scatter_calls, s->st.scatter_calls);
    /* The frames that are not mapped kept their patterns too: look through the scratch window */
    for (size_t j = 0; j < NFRAMES; j++) {
        if (mapped[j])
            continue;
        TU_EXPECT(awe_map(x->scratch, 1, &x->f[j]), AWE_OK);
        if (!tu_check(x->scratch, PG, tag(x->f[j])))
            fail_msg("%s, OS call %zu failing: unmapped frame %#lx lost its pattern", what, k,
                     (unsigned long)x->f[j]);
        TU_EXPECT(awe_unmap(x->scratch, 1), AWE_OK);
    }
}

/* ---- The driver --------------------------------------------------------------------------- */

typedef int (*fx_op)(struct fx *x);

/* Runs op on a fresh fixture with no injection and returns the OS calls it made. */
static uint64_t count_calls(const char *what, fx_op op)
{
    struct fx x;
    uint64_t before;
    int rc;

    fx_build(&x, true);
    before = plat_testing_os_calls();
    rc = op(&x);
    if (rc != AWE_OK)
        fail_msg("%s without injection: %s", what, awe_strerror(rc));
    before = plat_testing_os_calls() - before;
    tu_release_all();
    tu_assert_baseline();
    return before;
}

/* Steps 1 and 2 of the file comment for one all-or-nothing operation. */
static void inject_all(const char *what, fx_op op, uint64_t min_calls)
{
    uint64_t n = count_calls(what, op);

    print_message("%s: %lu OS calls\n", what, (unsigned long)n);
    assert_true(n >= min_calls);
    for (size_t e = 0; e < NINJ; e++) {
        for (uint64_t k = 1; k <= n; k++) {
            struct fx x;
            struct snap s;
            uint64_t calls;
            int rc;

            fx_build(&x, true);
            fx_snap(&x, &s);
            calls = plat_testing_os_calls();
            plat_testing_fail_nth_os_call(k, injections[e].os_errno);
            rc = op(&x);
            plat_testing_fail_nth_os_call(0, 0);
            calls = plat_testing_os_calls() - calls;
            if (calls < k)
                fail_msg("%s: only %lu OS calls this time, %lu before", what, (unsigned long)calls,
                         (unsigned long)n);
            if (rc != injections[e].awe_rc)
                fail_msg("%s with OS call %lu of %lu failing (errno %d): returned %d (%s), "
                         "expected %d (%s)",
                         what, (unsigned long)k, (unsigned long)n, injections[e].os_errno, rc,
                         awe_strerror(rc), injections[e].awe_rc,
                         awe_strerror(injections[e].awe_rc));
            fx_verify(&x, &s, what, (size_t)k, injections[e].os_errno);
            assert_int_equal(tu_stats().failed_calls, s.st.failed_calls + 1);
            tu_release_all();
            tu_assert_baseline();
        }
    }
}

static int fault_setup(void **state)
{
    plat_testing_fail_nth_os_call(0, 0);
    return tu_setup(state);
}

static int fault_teardown(void **state)
{
    plat_testing_fail_nth_os_call(0, 0);
    return tu_teardown(state);
}

/* ---- Multi-run map ------------------------------------------------------------------------ */

/* awe_map over w1 pages 2..23: unmaps, replacements, new runs and frames out of order; nine
 * runs (one OS call each) and three stretches with nothing to do. */
static int op_map(struct fx *x)
{
    const awe_frame_t *f = x->f;
    awe_frame_t e[22] = {
        0,     0,                        /* 2, 3: unmap f2, f3 (one run) */
        f[20], f[21],                    /* 4, 5: replace f4, f5 (one run) */
        0,                               /* 6: nothing there: no call */
        f[18],                           /* 7: a run of one */
        f[25],                           /* 8: not consecutive with f18: another */
        f[22], f[23],                    /* 9, 10: a run, replacing f10 at 10 */
        0,     0,                        /* 11, 12: unmap f12 (one run) */
        f[6],  f[7],                     /* 13, 14: a run, replacing f13 at 13 */
        0,     0,                        /* 15..22: one run unmapping f17, f15, f14 at 20..22 */
        0,     0,     0, 0, 0, 0, f[27], /* 23: a run of one */
    };

    return awe_map(TU_AT(x->w1, 2), 22, e);
}

static void test_inject_map(void **state)
{
    (void)state;
    inject_all("awe_map of many runs", op_map, 9);
}

/* awe_map_scatter across both windows, in no order, with unmaps and replacements: ten runs. */
static int op_scatter(struct fx *x)
{
    const awe_frame_t *f = x->f;
    void *vas[12] = {
        TU_AT(x->w2, 1),  TU_AT(x->w1, 26), TU_AT(x->w1, 3),  TU_AT(x->w2, 9),
        TU_AT(x->w1, 27), TU_AT(x->w2, 2),  TU_AT(x->w1, 12), TU_AT(x->w2, 15),
        TU_AT(x->w1, 21), TU_AT(x->w2, 8),  TU_AT(x->w1, 10), TU_AT(x->w1, 4),
    };
    awe_frame_t e[12] = {
        0,     /* w2 1: unmap f9 */
        f[6],  /* w1 26 (and 27: f7): a run */
        f[20], /* w1 3: replace f3 */
        f[22], /* w2 9 (and 8: f21): a run */
        f[7],  /* w1 27 */
        f[18], /* w2 2: replace f11 */
        0,     /* w1 12: unmap f12 */
        f[23], /* w2 15: replace f19 */
        0,     /* w1 21: unmap f15 */
        f[21], /* w2 8 */
        0,     /* w1 10: unmap f10 */
        0,     /* w1 4: unmap f4 */
    };

    return awe_map_scatter(vas, 12, e);
}

static void test_inject_scatter(void **state)
{
    (void)state;
    inject_all("awe_map_scatter across two windows", op_scatter, 10);
}

/* Unmap with NULL of a range of w1 that holds several runs and gaps (one OS call). */
static int op_unmap_range(struct fx *x)
{
    return awe_map(TU_AT(x->w1, 3), 20, NULL);
}

static void test_inject_unmap_range(void **state)
{
    (void)state;
    inject_all("awe_unmap of a range of runs", op_unmap_range, 1);
}

/* Scatter unmap (frames NULL) of pages in both windows. */
static int op_scatter_unmap(struct fx *x)
{
    void *vas[6] = {TU_AT(x->w2, 15), TU_AT(x->w1, 0), TU_AT(x->w1, 21),
                    TU_AT(x->w2, 0),  TU_AT(x->w1, 5), TU_AT(x->w1, 13)};

    return awe_map_scatter(vas, 6, NULL);
}

static void test_inject_scatter_unmap(void **state)
{
    (void)state;
    inject_all("awe_map_scatter(NULL) in two windows", op_scatter_unmap, 2);
}

/* ---- Window release and reserve ----------------------------------------------------------- */

static int op_release_w1(struct fx *x)
{
    return awe_window_release(x->w1);
}

static void test_inject_window_release(void **state)
{
    uint64_t n = count_calls("awe_window_release", op_release_w1);

    (void)state;
    assert_true(n >= 1);
    for (size_t e = 0; e < NINJ; e++) {
        for (uint64_t k = 1; k <= n; k++) {
            struct fx x;
            struct snap s;
            int rc;

            fx_build(&x, true);
            fx_snap(&x, &s);
            plat_testing_fail_nth_os_call(k, injections[e].os_errno);
            rc = op_release_w1(&x);
            plat_testing_fail_nth_os_call(0, 0);
            if (rc != injections[e].awe_rc)
                fail_msg("awe_window_release with OS call %lu failing (errno %d): %s, expected "
                         "%s",
                         (unsigned long)k, injections[e].os_errno, awe_strerror(rc),
                         awe_strerror(injections[e].awe_rc));
            fx_verify(&x, &s, "awe_window_release", (size_t)k, injections[e].os_errno);
            tu_release_all();
            tu_assert_baseline();
        }
    }
}

/* Where the kernel would place a new mapping of len bytes now (it places them top-down in the
 * first gap that fits, so the next reservation of that size lands there too). */
static uintptr_t next_mmap_address(size_t len)
{
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    assert_true(p != MAP_FAILED);
    munmap(p, len);
    return (uintptr_t)p;
}

static void test_inject_window_reserve(void **state)
{
    (void)state;
    for (size_t e = 0; e < NINJ; e++) {
        for (int want = 0; want < 2; want++) {
            char *hint = NULL;
            uint64_t k;

            if (want) {
                /* A free, aligned address: where a window was */
                hint = tu_reserve(32);
                TU_EXPECT(awe_window_release(hint), AWE_OK);
                tu_release_all();
            }
            for (k = 1;; k++) {
                struct awe_stats a = tu_stats();
                uintptr_t next = next_mmap_address(32 * PG + tu_caps.alloc_granularity);
                struct tu_range where = {next, next + 32 * PG + tu_caps.alloc_granularity};
                uint64_t calls = plat_testing_os_calls();
                void *base = NULL;
                int rc;

                plat_testing_fail_nth_os_call(k, injections[e].os_errno);
                rc = awe_window_reserve(hint, 32 * PG, 0, &base);
                plat_testing_fail_nth_os_call(0, 0);
                calls = plat_testing_os_calls() - calls;
                if (calls < k) {
                    /* The injection did not fire: all k - 1 calls were failed already */
                    TU_EXPECT(rc, AWE_OK);
                    TU_EXPECT(awe_window_release(base), AWE_OK);
                    break;
                }
                if (rc != injections[e].awe_rc)
                    fail_msg("awe_window_reserve(%s) with OS call %lu failing (errno %d): %s, "
                             "expected %s",
                             want ? "wanted address" : "anywhere", (unsigned long)k,
                             injections[e].os_errno, awe_strerror(rc),
                             awe_strerror(injections[e].awe_rc));
                assert_null(base);
                assert_int_equal(tu_stats().windows, a.windows);
                assert_int_equal(tu_stats().vmas_in_use, a.vmas_in_use);
                if (tu_maps_count(&where, 1) != 0)
                    fail_msg("awe_window_reserve with OS call %lu failing: something is mapped "
                             "at %#lx, where the kernel places the reservation (it leaked)",
                             (unsigned long)k, (unsigned long)next);
                if (want) {
                    /* The wanted range is free again */
                    TU_EXPECT(awe_window_reserve(hint, 32 * PG, 0, &base), AWE_OK);
                    assert_ptr_equal(base, hint);
                    TU_EXPECT(awe_window_release(base), AWE_OK);
                }
            }
            assert_true(k >= 2);
        }
    }
}

/* ---- Frame allocation --------------------------------------------------------------------- */

/* In a fork()ed child the platform starts afresh, so its first allocation sets up the frame pool
 * (memfd, tables): the OS calls worth failing. Exit codes: 0 ok, others name the failed check. */
struct alloc_child {
    uint64_t k;    /* the OS call to fail; 0: count the calls and return their number */
    int os_errno;  /* what it fails with */
    int expect_rc; /* the code the allocation must return */
};

static int child_alloc(void *arg)
{
    const struct alloc_child *c = arg;
    awe_frame_t f[4] = {0, 0, 0, 0};
    struct awe_stats st;
    size_t count = 4;
    uint64_t calls = plat_testing_os_calls();
    void *w = NULL;
    int rc;

    if (awe_get_stats(&st) != AWE_OK || st.frames_allocated != 0)
        return 101;
    if (c->k == 0) {
        if (awe_frames_alloc(&count, f, 0, -1) != AWE_OK || count != 4)
            return 102;
        calls = plat_testing_os_calls() - calls;
        return calls > 100 ? 100 : (int)calls;
    }
    plat_testing_fail_nth_os_call(c->k, c->os_errno);
    rc = awe_frames_alloc(&count, f, 0, -1);
    plat_testing_fail_nth_os_call(0, 0);
    if (rc != c->expect_rc)
        return 103;
    if (count != 4 || f[0] != 0 || f[3] != 0)
        return 104; /* count and array untouched */
    if (awe_get_stats(&st) != AWE_OK || st.frames_allocated != 0 || st.frames_peak != 0)
        return 105;
    count = 1;
    f[0] = 1;
    if (awe_frames_free(&count, f) != AWE_EINVAL) /* still a process that never allocated */
        return 106;
    f[0] = 0;
    count = 4;
    /* The next allocation sets the pool up and works */
    if (awe_frames_alloc(&count, f, 0, -1) != AWE_OK || count != 4)
        return 107;
    if (awe_window_reserve(NULL, 4 * PG, 0, &w) != AWE_OK || awe_map(w, 4, f) != AWE_OK)
        return 108;
    for (size_t i = 0; i < 4; i++) {
        if (!tu_is_zero(TU_AT(w, i), PG))
            return 109;
    }
    if (awe_frames_free(&count, f) != AWE_OK || awe_window_release(w) != AWE_OK)
        return 110;
    return 0;
}

static void test_inject_alloc_setup(void **state)
{
    struct alloc_child c = {0, 0, 0};
    int n = tu_run_child(child_alloc, &c);

    (void)state;
    assert_true(n >= 1 && n < 100);
    print_message("the first awe_frames_alloc: %d OS calls\n", n);
    for (size_t e = 0; e < NINJ; e++) {
        for (int k = 1; k <= n; k++) {
            int rc;

            c.k = (uint64_t)k;
            c.os_errno = injections[e].os_errno;
            c.expect_rc = injections[e].awe_rc;
            rc = tu_run_child(child_alloc, &c);
            if (rc != 0)
                fail_msg("first awe_frames_alloc with OS call %d failing (errno %d): child check "
                         "%d failed (103: wrong code, expected %s; 104: count or array changed; "
                         "105: counters changed; 106: the process counts as having allocated; "
                         "107-110: the pool does not "
                         "recover)",
                         k, injections[e].os_errno, rc, awe_strerror(injections[e].awe_rc));
        }
    }
}

/* With AWE_FRAMES_POPULATE the memory is committed at allocation (fallocate). A failure may
 * give fewer frames (AWE_OK, *count lowered) or none (an error, nothing allocated); either way
 * the frames given are owned and read as zeros. */
static void test_inject_alloc_populate(void **state)
{
    enum { N = 8 };
    uint64_t n;

    (void)state;
    {
        awe_frame_t f[N];
        size_t count = N;
        uint64_t calls = plat_testing_os_calls();

        TU_EXPECT(awe_frames_alloc(&count, f, AWE_FRAMES_POPULATE, -1), AWE_OK);
        n = plat_testing_os_calls() - calls;
        assert_int_equal(count, N);
        TU_EXPECT(awe_frames_free(&count, f), AWE_OK);
    }
    print_message("awe_frames_alloc(POPULATE): %lu OS calls\n", (unsigned long)n);
    for (size_t e = 0; e < NINJ; e++) {
        for (uint64_t k = 1; k <= n; k++) {
            awe_frame_t f[N];
            size_t count = N;
            struct awe_stats a = tu_stats();
            struct awe_stats b;
            char *w;
            int rc;

            memset(f, 0, sizeof(f));
            plat_testing_fail_nth_os_call(k, injections[e].os_errno);
            rc = awe_frames_alloc(&count, f, AWE_FRAMES_POPULATE, -1);
            plat_testing_fail_nth_os_call(0, 0);
            b = tu_stats();
            if (rc != AWE_OK) {
                TU_EXPECT(rc, injections[e].awe_rc);
                assert_int_equal(count, N);
                assert_int_equal(f[0], 0);
                assert_int_equal(b.frames_allocated, a.frames_allocated);
                assert_int_equal(b.failed_calls, a.failed_calls + 1);
                continue;
            }
            assert_true(count >= 1 && count <= N);
            tu_track_frames(f, count);
            assert_int_equal(b.frames_allocated, a.frames_allocated + count);
            w = tu_reserve(count);
            TU_EXPECT(awe_map(w, count, f), AWE_OK);
            for (size_t i = 0; i < count; i++)
                assert_true(tu_is_zero(TU_AT(w, i), PG));
            tu_release_all();
        }
    }
}

/* ---- Frame freeing ------------------------------------------------------------------------ */

/* Frees six frames: three mapped in the middle or at the ends of runs, two mapped alone in w2,
 * one unmapped. Each OS call that can fail (the unmapping, the release of memory) is failed in
 * turn. Freeing may stop part way (an error, *count = the frames freed) or complete; either way
 * the freed frames are gone from every window, the others are untouched, the counters and the
 * kernel agree, and no frame handed out later shows old data. */

/* The frames the free tests free, in this order: mapped and unmapped ones, in two windows. */
static void free_list(const struct fx *x, awe_frame_t list[6])
{
    static const size_t pick[6] = {2, 12, 11, 7, 19, 15};

    for (size_t i = 0; i < 6; i++)
        list[i] = x->f[pick[i]];
}

static void test_inject_free(void **state)
{
    uint64_t n;
    size_t retired_runs = 0;

    (void)state;
    {
        struct fx x;
        awe_frame_t list[6];
        size_t count = 6;
        uint64_t calls;

        fx_build(&x, true);
        free_list(&x, list);
        calls = plat_testing_os_calls();
        TU_EXPECT(awe_frames_free(&count, list), AWE_OK);
        n = plat_testing_os_calls() - calls;
        tu_release_all();
    }
    print_message("awe_frames_free of 6 frames: %lu OS calls\n", (unsigned long)n);
    for (size_t e = 0; e < NINJ; e++) {
        for (uint64_t k = 1; k <= n; k++) {
            struct fx x;
            struct snap s;
            awe_frame_t list[6];
            size_t count = 6;
            size_t freed;
            int rc;
            char *probe;

            fx_build(&x, false);
            free_list(&x, list);
            fx_snap(&x, &s);
            plat_testing_fail_nth_os_call(k, injections[e].os_errno);
            rc = awe_frames_free(&count, list);
            plat_testing_fail_nth_os_call(0, 0);
            if (rc != AWE_OK) {
                if (rc != injections[e].awe_rc && rc != AWE_ENOMEM)
                    fail_msg("awe_frames_free with OS call %lu failing (errno %d): %s",
                             (unsigned long)k, injections[e].os_errno, awe_strerror(rc));
                assert_true(count < 6);
                freed = count;
            } else {
                assert_int_equal(count, 6);
                freed = 6;
            }
            /* The freed prefix: owned no more, mapped nowhere. The rest: as before. */
            for (size_t i = 0; i < 6; i++) {
                size_t one = 1;

                for (size_t p = 0; p < P1 + P2; p++) {
                    if (s.pages[p] == list[i] && i < freed)
                        s.pages[p] = 0;
                }
                if (i < freed)
                    TU_EXPECT(awe_frames_free(&one, &list[i]), AWE_ENXIO);
            }
            s.st.frames_allocated -= freed;
            s.maps = (long)tu_stats().vmas_in_use;
            {
                /* Only the pages and their contents are compared here; counters below */
                struct awe_stats now = tu_stats();

                s.st.vmas_in_use = now.vmas_in_use;
                s.st.pages_unmapped = now.pages_unmapped;
                s.st.map_calls = now.map_calls;
                s.st.scatter_calls = now.scatter_calls;
            }
            /* Freed frames cannot be looked at through the scratch window: forget them */
            for (size_t i = 0; i < freed; i++) {
                for (size_t j = 0; j < NFRAMES; j++) {
                    if (x.f[j] == list[i])
                        x.f[j] = x.f[0]; /* f0 is not in the list */
                }
            }
            fx_verify(&x, &s, "awe_frames_free", (size_t)k, injections[e].os_errno);
            if (fx_maps(&x) != (long)tu_stats().vmas_in_use)
                fail_msg("awe_frames_free with OS call %lu failing: vmas_in_use %lu, "
                         "/proc/self/maps %ld",
                         (unsigned long)k, (unsigned long)tu_stats().vmas_in_use, fx_maps(&x));
            /* Frames handed out now read as zeros, whether or not their memory release failed */
            probe = tu_reserve(NFRAMES);
            {
                awe_frame_t *g = tu_alloc(NFRAMES);

                TU_EXPECT(awe_map(probe, NFRAMES, g), AWE_OK);
                for (size_t i = 0; i < NFRAMES; i++) {
                    if (!tu_is_zero(TU_AT(probe, i), PG))
                        fail_msg("after awe_frames_free with OS call %lu failing, a new frame "
                                 "%#lx holds old data",
                                 (unsigned long)k, (unsigned long)g[i]);
                }
            }
            if (rc != AWE_OK)
                retired_runs++;
            tu_release_all();
            tu_assert_baseline();
        }
    }
    print_message("%zu of the injected frees stopped part way\n", retired_runs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inject_alloc_setup, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_inject_map, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_inject_scatter, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_inject_unmap_range, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_inject_scatter_unmap, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_inject_window_release, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_inject_window_reserve, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_inject_alloc_populate, fault_setup, fault_teardown),
        /* Last: a frame whose memory release fails is retired, which ends consecutive runs */
        cmocka_unit_test_setup_teardown(test_inject_free, fault_setup, fault_teardown),
    };

    tu_init();
    return cmocka_run_group_tests_name("fault", tests, NULL, NULL);
}
