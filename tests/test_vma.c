/*
 * tests/test_vma.c: the kernel mapping (VMA) accounting of the Linux platform is exact.
 *
 * Three views of the same thing must agree after every call:
 *   1. awe_get_stats().vmas_in_use, the platform's count;
 *   2. the lines of /proc/self/maps that overlap the windows, the kernel's truth;
 *   3. the count the test derives from awe_query of every page: a window holds 1 + the number
 *      of page boundaries whose two sides cannot be one mapping (an unmapped page next to a
 *      mapped one, or two frames that are not consecutive).
 * Also: a contiguous run of frames costs one OS call, scattered frames one each; the VMA budget
 * refuses a call that would pass it before anything changes; and the real vm.max_map_count is
 * reached without the kernel ever failing a call half way.
 *
 * `test_vma max_map_count` runs only the vm.max_map_count tests (a separate ctest entry: they map
 * tens of thousands of runs, and skip with 77 on a machine whose limit is too large to reach).
 */
#include "test_util.h"

#include "plat_testing.h"

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

/* The windows the current test holds, for the three-way check. */
#define MAX_WINDOWS 8
static struct {
    char *base;
    size_t pages;
} windows[MAX_WINDOWS];
static size_t nwindows;

static char *window(size_t pages)
{
    char *w = tu_reserve(pages);

    assert_true(nwindows < MAX_WINDOWS);
    windows[nwindows].base = w;
    windows[nwindows].pages = pages;
    nwindows++;
    return w;
}

static int vma_setup(void **state)
{
    nwindows = 0;
    return tu_setup(state);
}

static awe_frame_t *mm_layout; /* the max_map_count tests' layout, freed at teardown */

static int vma_teardown(void **state)
{
    free(mm_layout);
    mm_layout = NULL;
    plat_testing_set_vma_budget(0);
    nwindows = 0;
    return tu_teardown(state);
}

/* The VMAs window i should hold, from awe_query of each page. */
static uint64_t derived_vmas(size_t i)
{
    uint64_t n = 1;
    awe_frame_t prev = tu_query(windows[i].base);

    for (size_t p = 1; p < windows[i].pages; p++) {
        awe_frame_t cur = tu_query(TU_AT(windows[i].base, p));
        bool join = prev == 0 ? cur == 0 : cur == prev + 1;

        n += !join;
        prev = cur;
    }
    return n;
}

/* Asserts that the platform's count, the kernel's and the derived one agree. */
static void check_vmas_at(int line)
{
    struct tu_range r[MAX_WINDOWS];
    struct awe_stats st = tu_stats();
    uint64_t derived = 0;
    long kernel;

    for (size_t i = 0; i < nwindows; i++) {
        r[i].lo = (uintptr_t)windows[i].base;
        r[i].hi = r[i].lo + windows[i].pages * PG;
        derived += derived_vmas(i);
    }
    kernel = tu_maps_count(r, nwindows);
    assert_true(kernel >= 0);
    if (st.vmas_in_use != (uint64_t)kernel || derived != (uint64_t)kernel)
        fail_msg("line %d: vmas_in_use %lu, /proc/self/maps %ld, derived from awe_query %lu", line,
                 (unsigned long)st.vmas_in_use, kernel, (unsigned long)derived);
}
#define check_vmas() check_vmas_at(__LINE__)

static int cmp_frame(const void *a, const void *b)
{
    awe_frame_t x = *(const awe_frame_t *)a, y = *(const awe_frame_t *)b;

    return x < y ? -1 : x > y;
}

/* n frames with consecutive numbers, ascending (a fresh pool hands them out so). */
static awe_frame_t *consecutive_frames(size_t n)
{
    awe_frame_t *f = tu_alloc(n);

    qsort(f, n, sizeof(*f), cmp_frame);
    for (size_t i = 1; i < n; i++) {
        if (f[i] != f[0] + i)
            fail_msg("%zu frames allocated from an empty pool are not consecutive "
                     "(frame %zu is %#lx, frame 0 is %#lx)",
                     n, i, (unsigned long)f[i], (unsigned long)f[0]);
    }
    return f;
}

/* ---- Runs and exact counts ---------------------------------------------------------------- */

static void test_runs_and_counts(void **state)
{
    enum { N = 16 };
    awe_frame_t *f = consecutive_frames(2 * N);
    char *w = window(64);
    awe_frame_t rev[N];
    struct awe_stats a;
    struct awe_stats b;
    uint64_t calls;

    (void)state;
    check_vmas(); /* an empty window: 1 */
    assert_int_equal(tu_stats().vmas_in_use, 1);

    /* A contiguous run of N frames: one OS call, one VMA (plus the two gaps around it) */
    a = tu_stats();
    calls = plat_testing_os_calls();
    TU_EXPECT(awe_map(TU_AT(w, 8), N, f), AWE_OK);
    b = tu_stats();
    assert_int_equal(b.runs, a.runs + 1);
    assert_int_equal(plat_testing_os_calls(), calls + 1);
    assert_int_equal(b.vmas_in_use, 3);
    check_vmas();

    /* N frames in reverse order: N runs, N VMAs */
    for (size_t i = 0; i < N; i++)
        rev[i] = f[2 * N - 1 - i];
    a = tu_stats();
    calls = plat_testing_os_calls();
    TU_EXPECT(awe_map(TU_AT(w, 40), N, rev), AWE_OK);
    b = tu_stats();
    assert_int_equal(b.runs, a.runs + N);
    assert_int_equal(plat_testing_os_calls(), calls + N);
    assert_int_equal(b.vmas_in_use, 3 + N + 1);
    check_vmas();

    /* Unmap in the middle of the run: it splits in two */
    TU_EXPECT(awe_unmap(TU_AT(w, 15), 1), AWE_OK);
    check_vmas();
    /* Put the same frame back: the run is whole again */
    TU_EXPECT(awe_map(TU_AT(w, 15), 1, &f[7]), AWE_OK);
    check_vmas();
    assert_int_equal(tu_stats().vmas_in_use, 3 + N + 1);

    /* Replace in the middle of the run with a frame that does not fit */
    TU_EXPECT(awe_unmap(TU_AT(w, 40), 1), AWE_OK); /* frees rev[0] */
    TU_EXPECT(awe_map(TU_AT(w, 12), 1, &rev[0]), AWE_OK);
    check_vmas();
    /* Replace it back with a frame that fits (f[4] was displaced and is unmapped) */
    TU_EXPECT(awe_map(TU_AT(w, 12), 1, &f[4]), AWE_OK);
    check_vmas();

    /* Unmapping a range that holds several runs and gaps is one OS call */
    a = tu_stats();
    calls = plat_testing_os_calls();
    TU_EXPECT(awe_unmap(TU_AT(w, 10), 40), AWE_OK);
    b = tu_stats();
    assert_int_equal(b.runs, a.runs + 1);
    assert_int_equal(plat_testing_os_calls(), calls + 1);
    check_vmas();

    /* Unmapping a range that holds nothing makes no OS call */
    calls = plat_testing_os_calls();
    TU_EXPECT(awe_unmap(TU_AT(w, 20), 10), AWE_OK);
    assert_int_equal(plat_testing_os_calls(), calls);
    check_vmas();

    /* Runs at both ends of the window, then the whole window as one run */
    TU_EXPECT(awe_unmap(w, 64), AWE_OK);
    TU_EXPECT(awe_map(w, 3, f), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(w, 61), 3, f + 10), AWE_OK);
    check_vmas();
    TU_EXPECT(awe_unmap(w, 64), AWE_OK);
    assert_int_equal(tu_stats().vmas_in_use, 1);
    TU_EXPECT(awe_map(w, 2 * N, f), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(w, 2 * N), 2 * N, NULL), AWE_OK);
    check_vmas();
    assert_int_equal(tu_stats().vmas_in_use, 2);
}

/* Scatter forms runs whatever the order of its array, across windows. */
static void test_scatter_runs(void **state)
{
    enum { N = 12 };
    awe_frame_t *f = consecutive_frames(N);
    char *w1 = window(32);
    char *w2 = window(16);
    void *vas[N];
    awe_frame_t e[N];
    struct awe_stats a;
    struct awe_stats b;
    uint64_t calls;
    uint64_t seed = 12345;

    (void)state;
    /* Pages 4..11 of w1 <- f0..f7 and pages 2..5 of w2 <- f8..f11, shuffled: two runs */
    for (size_t i = 0; i < N; i++) {
        vas[i] = i < 8 ? TU_AT(w1, 4 + i) : TU_AT(w2, 2 + i - 8);
        e[i] = f[i];
    }
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = (size_t)(tu_rand(&seed) % (i + 1));
        void *tv = vas[i];
        awe_frame_t tf = e[i];

        vas[i] = vas[j];
        e[i] = e[j];
        vas[j] = tv;
        e[j] = tf;
    }
    a = tu_stats();
    calls = plat_testing_os_calls();
    TU_EXPECT(awe_map_scatter(vas, N, e), AWE_OK);
    b = tu_stats();
    assert_int_equal(b.runs, a.runs + 2);
    assert_int_equal(plat_testing_os_calls(), calls + 2);
    assert_int_equal(b.vmas_in_use, 3 + 3);
    check_vmas();

    /* Unmapping all of them, shuffled: still one call per window */
    a = tu_stats();
    TU_EXPECT(awe_map_scatter(vas, N, NULL), AWE_OK);
    b = tu_stats();
    assert_int_equal(b.runs, a.runs + 2);
    assert_int_equal(b.vmas_in_use, 2);
    check_vmas();
}

/* A random walk of map, unmap, replace and scatter calls; the three views agree after each. */
static void test_random_walk(void **state)
{
    enum { NF = 48, P1 = 40, P2 = 24, STEPS = 300 };
    awe_frame_t *f = consecutive_frames(NF);
    char *w[2];
    size_t pages[2] = {P1, P2};
    uint64_t seed = 0x1234567;

    (void)state;
    w[0] = window(P1);
    w[1] = window(P2);
    for (int step = 0; step < STEPS; step++) {
        uint64_t r = tu_rand(&seed);
        int wi = (int)(r & 1);
        size_t start = (size_t)((r >> 8) % pages[wi]);
        size_t len = 1 + (size_t)((r >> 24) % 6);
        size_t base_frame = (size_t)((r >> 32) % NF);
        awe_frame_t e[6];
        void *vas[6];
        int kind = (int)((r >> 40) % 4);
        int rc;

        if (start + len > pages[wi])
            len = pages[wi] - start;
        for (size_t i = 0; i < len; i++) {
            /* consecutive frames mostly, a 0 now and then */
            size_t k = (base_frame + i) % NF;

            e[i] = ((r >> (44 + i)) & 7) == 0 ? 0 : f[k];
            vas[i] = TU_AT(w[(wi + (int)((r >> (50 + i)) & 1)) & 1], start);
        }
        switch (kind) {
        case 0:
            rc = awe_unmap(TU_AT(w[wi], start), len);
            break;
        case 1:
        case 2:
            /* Unmap the frames first wherever they are, so that the map is valid */
            for (size_t i = 0; i < len; i++) {
                for (int x = 0; x < 2; x++) {
                    for (size_t p = 0; p < pages[x]; p++) {
                        if (e[i] != 0 && tu_query(TU_AT(w[x], p)) == e[i])
                            TU_EXPECT(awe_unmap(TU_AT(w[x], p), 1), AWE_OK);
                    }
                }
            }
            rc = awe_map(TU_AT(w[wi], start), len, e);
            break;
        default:
            /* Scatter: pages in both windows (distinct), frames unmapped first */
            for (size_t i = 0; i < len; i++) {
                int x = (wi + (int)((r >> (50 + i)) & 1)) & 1;

                vas[i] = TU_AT(w[x], (start + i * 3) % pages[x]);
                for (size_t j = 0; j < i; j++) {
                    if (vas[j] == vas[i])
                        vas[i] = NULL;
                }
            }
            {
                size_t m = 0;

                for (size_t i = 0; i < len; i++) {
                    if (vas[i] != NULL) {
                        vas[m] = vas[i];
                        e[m] = e[i];
                        m++;
                    }
                }
                len = m;
            }
            for (size_t i = 0; i < len; i++) {
                for (int x = 0; x < 2; x++) {
                    for (size_t p = 0; p < pages[x]; p++) {
                        if (e[i] != 0 && tu_query(TU_AT(w[x], p)) == e[i])
                            TU_EXPECT(awe_unmap(TU_AT(w[x], p), 1), AWE_OK);
                    }
                }
            }
            rc = awe_map_scatter(vas, len, e);
            break;
        }
        if (rc != AWE_OK)
            fail_msg("step %d (kind %d): %s", step, kind, awe_strerror(rc));
        check_vmas();
    }
}

/* Windows placed side by side (with wanted addresses): the kernel merges their mappings across
 * the border, and each window still counts the mappings it spans (awe.h, vmas_in_use). */
static void test_adjacent_windows(void **state)
{
    awe_frame_t *f = consecutive_frames(4);
    size_t gran = tu_caps.alloc_granularity;
    size_t gpages = gran / PG;
    char *probe = window(3 * gpages);
    char *a;
    char *b;
    void *got = NULL;

    (void)state;
    /* Find a free 2-granule range: where the probe window was */
    TU_EXPECT(awe_window_release(probe), AWE_OK);
    nwindows = 0;
    TU_EXPECT(awe_window_reserve(probe, gran, 0, &got), AWE_OK);
    tu_track_window(got);
    a = got;
    TU_EXPECT(awe_window_reserve(probe + gran, gran, 0, &got), AWE_OK);
    tu_track_window(got);
    b = got;
    assert_ptr_equal(b, a + gran);
    windows[0].base = a;
    windows[0].pages = gpages;
    windows[1].base = b;
    windows[1].pages = gpages;
    nwindows = 2;
    check_vmas();
    /* Consecutive frames across the border */
    TU_EXPECT(awe_map(TU_AT(a, gpages - 2), 2, f), AWE_OK);
    TU_EXPECT(awe_map(b, 2, f + 2), AWE_OK);
    check_vmas();
    TU_EXPECT(awe_unmap(TU_AT(a, gpages - 2), 2), AWE_OK);
    TU_EXPECT(awe_unmap(b, 2), AWE_OK);
    check_vmas();
}

/* ---- The budget --------------------------------------------------------------------------- */

/* Fills page i of w with the tag of the frame there, for pages [0, n). */
static void fill_mapped(char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        awe_frame_t fr = tu_query(TU_AT(w, i));

        if (fr != 0)
            tu_fill(TU_AT(w, i), PG, fr * 7919 + 1);
    }
}

/* Asserts that pages [0, n) of w hold exactly expect[] (0: unmapped, faults) with the tags
 * fill_mapped wrote. */
static void check_window(char *w, size_t n, const awe_frame_t *expect)
{
    for (size_t i = 0; i < n; i++) {
        awe_frame_t fr = tu_query(TU_AT(w, i));

        if (fr != expect[i])
            fail_msg("page %zu holds frame %#lx, expected %#lx", i, (unsigned long)fr,
                     (unsigned long)expect[i]);
        if (fr == 0) {
            assert_true(page_faults(TU_AT(w, i)));
        } else if (!tu_check(TU_AT(w, i), PG, fr * 7919 + 1)) {
            fail_msg("page %zu: frame %#lx lost its content", i, (unsigned long)fr);
        }
    }
}

static void snapshot(char *w, size_t n, awe_frame_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = tu_query(TU_AT(w, i));
}

static void test_budget(void **state)
{
    enum { P = 64, N = 20 };
    awe_frame_t *f = consecutive_frames(2 * N);
    char *w = window(P);
    awe_frame_t before[P];
    awe_frame_t scattered[N];
    void *vas[N];
    uint64_t v;

    (void)state;
    /* A run at pages 0..9, so the window holds something to lose */
    TU_EXPECT(awe_map(w, 10, f), AWE_OK);
    fill_mapped(w, P);
    snapshot(w, P, before);
    v = tu_stats().vmas_in_use;
    assert_int_equal(v, 2);

    /* N isolated frames (every other page from 20) need about 2N more VMAs; allow N/2 */
    for (size_t i = 0; i < N; i++) {
        scattered[i] = f[2 * N - 1 - i];
        vas[i] = TU_AT(w, 20 + 2 * i);
    }
    plat_testing_set_vma_budget(v + N / 2);
    TU_EXPECT(awe_map_scatter(vas, N, scattered), AWE_ENOMEM);
    check_window(w, P, before);
    check_vmas();
    /* The same as a map call with 0 entries between the frames */
    {
        awe_frame_t e[2 * N];

        for (size_t i = 0; i < N; i++) {
            e[2 * i] = scattered[i];
            e[2 * i + 1] = 0;
        }
        TU_EXPECT(awe_map(TU_AT(w, 20), 2 * N - 1, e), AWE_ENOMEM);
    }
    check_window(w, P, before);
    check_vmas();
    /* Even when the call would also unmap and replace: nothing of it happens */
    {
        awe_frame_t e[12];

        e[0] = 0; /* unmap page 9 */
        for (size_t i = 1; i < 12; i++)
            e[i] = i % 2 ? scattered[i] : 0;
        TU_EXPECT(awe_map(TU_AT(w, 9), 12, e), AWE_ENOMEM);
    }
    check_window(w, P, before);
    check_vmas();
    /* The frames named by the refused calls are still free to map */
    TU_EXPECT(awe_map(TU_AT(w, 30), 3, f + 10), AWE_OK); /* one run: +2 VMAs */
    fill_mapped(w, P);
    check_vmas();
    snapshot(w, P, before);

    /* Within budget again after raising it */
    plat_testing_set_vma_budget(0);
    TU_EXPECT(awe_map_scatter(vas, 4, scattered), AWE_OK);
    check_vmas();
}

/* awe_frames_free must unmap first; past the budget it stops at the first frame it cannot unmap:
 * the frames before are freed, the rest are untouched. */
static void test_budget_free(void **state)
{
    enum { P = 96, RUNS = 10, LEN = 5 };
    awe_frame_t *f = consecutive_frames(RUNS * LEN);
    char *w = window(P);
    awe_frame_t mids[RUNS];
    awe_frame_t before[P];
    size_t count = RUNS;
    uint64_t v;
    int rc;

    (void)state;
    /* RUNS runs of LEN frames, at pages 0, 9, 18, ...: freeing a run's middle frame splits it */
    for (size_t r = 0; r < RUNS; r++) {
        TU_EXPECT(awe_map(TU_AT(w, r * 9), LEN, f + r * LEN), AWE_OK);
        mids[r] = f[r * LEN + LEN / 2];
    }
    fill_mapped(w, P);
    check_vmas();
    v = tu_stats().vmas_in_use;
    plat_testing_set_vma_budget(v + RUNS); /* room for about half the splits */
    rc = awe_frames_free(&count, mids);
    check_vmas();
    assert_true(tu_stats().vmas_in_use <= v + RUNS);
    if (rc != AWE_ENOMEM)
        fail_msg("freeing %d frames that each split a run, with room for half: %s, count %zu "
                 "(expected AWE_ENOMEM and a partial count)",
                 RUNS, awe_strerror(rc), count);
    assert_true(count >= 1 && count < RUNS);
    assert_int_equal(tu_stats().frames_allocated, RUNS * LEN - count);
    snapshot(w, P, before);
    for (size_t r = 0; r < RUNS; r++) {
        size_t page = r * 9 + LEN / 2;

        if (r < count) {
            size_t one = 1;

            assert_int_equal(before[page], 0); /* freed, so unmapped */
            TU_EXPECT(awe_frames_free(&one, &mids[r]), AWE_ENXIO);
        } else {
            assert_int_equal(before[page], mids[r]); /* untouched */
        }
    }
    check_window(w, P, before);
    plat_testing_set_vma_budget(0);
    count = RUNS - count;
    TU_EXPECT(awe_frames_free(&count, mids + (RUNS - count)), AWE_OK);
    check_vmas();
}

/* ---- The real vm.max_map_count ------------------------------------------------------------ */

static long long max_map_count;
static size_t mm_frames; /* frames the tests need: max_map_count / 2 + margin */

/* Every other page of a window of 2 * mm_frames + 2 pages holds a frame, in reverse order. */
static void max_map_layout(awe_frame_t **frames, awe_frame_t **layout, char **w, size_t *pages)
{
    awe_frame_t *f = tu_alloc(mm_frames);

    *pages = 2 * mm_frames + 2;
    *w = window(*pages);
    *layout = calloc(*pages, sizeof(awe_frame_t));
    assert_non_null(*layout);
    mm_layout = *layout;
    for (size_t i = 0; i < mm_frames; i++)
        (*layout)[1 + 2 * i] = f[mm_frames - 1 - i];
    *frames = f;
}

/* One call that needs more VMAs than the system allows: refused by the budget, nothing done. */
static void test_max_map_count_one_call(void **state)
{
    awe_frame_t *f;
    awe_frame_t *layout;
    char *w;
    size_t pages;
    struct awe_stats a;
    uint64_t calls;

    (void)state;
    max_map_layout(&f, &layout, &w, &pages);
    a = tu_stats();
    calls = plat_testing_os_calls();
    TU_EXPECT(awe_map(w, pages, layout), AWE_ENOMEM);
    assert_int_equal(plat_testing_os_calls(), calls); /* refused before any kernel call */
    assert_int_equal(tu_stats().vmas_in_use, a.vmas_in_use);
    for (size_t i = 0; i < pages; i++)
        assert_int_equal(tu_query(TU_AT(w, i)), 0);
    check_vmas();
}

/* All the lines of /proc/self/maps. */
static long maps_total(void)
{
    struct tu_range all = {0, UINTPTR_MAX};

    return tu_maps_count(&all, 1);
}

/* With the budget lifted above the kernel's limit, the kernel itself fails an mmap half way:
 * the call must roll back to exactly the previous state. Linux checks the limit before the first
 * split of a MAP_FIXED mmap but not before the second, so whether the process stops at the limit
 * or one above it depends on the parity of the number of mappings it held before: the two
 * variants make it even and odd (adding a read-only page of our own if needed). */
static void kernel_refuses(long parity)
{
    awe_frame_t *f;
    awe_frame_t *layout;
    char *w;
    size_t pages;
    int rc;
    void *odd = NULL;
    long total = 0;

    max_map_layout(&f, &layout, &w, &pages);
    /* Something to lose at the start of the window */
    layout[1] = 0;
    TU_EXPECT(awe_map(w, 1, &f[mm_frames - 1]), AWE_OK);
    tu_fill(w, PG, 4242);
    for (int tries = 0; tries < 8; tries++) {
        total = maps_total();
        if ((total & 1) == parity)
            break;
        if (odd == NULL) {
            /* A read-only page merges with nothing */
            odd = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            assert_true(odd != MAP_FAILED);
        } else {
            munmap(odd, PG);
            odd = NULL;
        }
    }
    plat_testing_set_vma_budget((uint64_t)max_map_count * 4);
    rc = awe_map(TU_AT(w, 1), pages - 1, layout + 1);
    plat_testing_set_vma_budget(0);
    if (odd != NULL)
        munmap(odd, PG);
    if (rc != AWE_ENOMEM) {
        struct tu_range r = {(uintptr_t)w, (uintptr_t)w + pages * PG};
        size_t mapped = 0;

        for (size_t i = 1; i < pages; i++)
            mapped += tu_query(TU_AT(w, i)) != 0;
        fail_msg("a call the kernel cannot complete (vm.max_map_count %lld) returned %s, "
                 "expected AWE_ENOMEM and nothing changed (now: %zu pages mapped by awe_query, "
                 "vmas_in_use %lu, /proc/self/maps %ld in the window, %ld in all; %ld before "
                 "the call)",
                 max_map_count, awe_strerror(rc), mapped, (unsigned long)tu_stats().vmas_in_use,
                 tu_maps_count(&r, 1), maps_total(), total);
    }
    assert_int_equal(tu_query(w), f[mm_frames - 1]);
    assert_true(tu_check(w, PG, 4242));
    for (size_t i = 1; i < pages; i++)
        assert_int_equal(tu_query(TU_AT(w, i)), 0);
    assert_true(page_faults(TU_AT(w, 1)));
    assert_true(page_faults(TU_AT(w, pages - 1)));
    check_vmas();
    assert_int_equal(tu_stats().vmas_in_use, 2);
}

static void test_max_map_count_kernel_refuses_even(void **state)
{
    (void)state;
    kernel_refuses(0);
}

static void test_max_map_count_kernel_refuses_odd(void **state)
{
    (void)state;
    kernel_refuses(1);
}

/* Chunk by chunk up to the budget: every call below it succeeds (the kernel never fails one),
 * the first above it is refused and changes nothing. */
static void test_max_map_count_incremental(void **state)
{
    enum { CHUNK = 1000 };
    awe_frame_t *f;
    awe_frame_t *layout;
    char *w;
    size_t pages;
    size_t done = 0;
    int rc = AWE_OK;
    uint64_t budget = tu_caps.vma_budget;

    (void)state;
    max_map_layout(&f, &layout, &w, &pages);
    while (done < mm_frames) {
        size_t n = mm_frames - done < CHUNK ? mm_frames - done : CHUNK;

        rc = awe_map(TU_AT(w, 2 * done), 2 * n, layout + 2 * done);
        if (rc != AWE_OK)
            break;
        done += n;
    }
    TU_EXPECT(rc, AWE_ENOMEM);
    print_message("mapped %zu isolated frames (%lu VMAs, budget %lu, vm.max_map_count %lld)\n",
                  done, (unsigned long)tu_stats().vmas_in_use, (unsigned long)budget,
                  max_map_count);
    assert_true(tu_stats().vmas_in_use <= budget);
    assert_true(tu_stats().vmas_in_use + 2 * CHUNK + 4 > budget);
    /* The refused chunk left nothing; every earlier one is in place */
    for (size_t i = 0; i < pages; i++) {
        awe_frame_t want = i < 2 * done ? layout[i] : 0;

        if (tu_query(TU_AT(w, i)) != want)
            fail_msg("page %zu: frame %#lx, expected %#lx", i, (unsigned long)tu_query(TU_AT(w, i)),
                     (unsigned long)want);
    }
    for (size_t i = 1; i < 2 * done; i += 2 * 97) {
        tu_fill(TU_AT(w, i), PG, i + 1);
        assert_true(tu_check(TU_AT(w, i), PG, i + 1));
    }
    assert_true(page_faults(TU_AT(w, 2 * done + 1)));
    check_vmas();
    /* Unmapping makes room: a call within the budget succeeds again */
    TU_EXPECT(awe_unmap(w, 2 * CHUNK), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(w, 2 * done), 2 * (CHUNK / 2), layout + 2 * done), AWE_OK);
    check_vmas();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_and_counts, vma_setup, vma_teardown),
        cmocka_unit_test_setup_teardown(test_scatter_runs, vma_setup, vma_teardown),
        cmocka_unit_test_setup_teardown(test_random_walk, vma_setup, vma_teardown),
        cmocka_unit_test_setup_teardown(test_adjacent_windows, vma_setup, vma_teardown),
        cmocka_unit_test_setup_teardown(test_budget, vma_setup, vma_teardown),
        cmocka_unit_test_setup_teardown(test_budget_free, vma_setup, vma_teardown),
    };
    const struct CMUnitTest max_map_tests[] = {
        cmocka_unit_test_setup_teardown(test_max_map_count_one_call, vma_setup, vma_teardown),
        cmocka_unit_test_setup_teardown(test_max_map_count_kernel_refuses_even, vma_setup,
                                        vma_teardown),
        cmocka_unit_test_setup_teardown(test_max_map_count_kernel_refuses_odd, vma_setup,
                                        vma_teardown),
        cmocka_unit_test_setup_teardown(test_max_map_count_incremental, vma_setup, vma_teardown),
    };

    tu_init();
    if (argc > 1 && strcmp(argv[1], "max_map_count") == 0) {
        max_map_count = tu_read_sysctl("/proc/sys/vm/max_map_count");
        if (max_map_count <= 0) {
            printf("skipped: /proc/sys/vm/max_map_count is unreadable\n");
            return 77;
        }
        mm_frames = (size_t)max_map_count / 2 + 1000;
        if ((uint64_t)mm_frames * PG > ((uint64_t)1 << 30)) {
            printf("skipped: vm.max_map_count is %lld; reaching it needs %zu frames (over 1 GiB)\n",
                   max_map_count, mm_frames);
            return 77;
        }
        if (tu_caps.vma_budget == 0) {
            printf("skipped: this platform reports no VMA budget\n");
            return 77;
        }
        return cmocka_run_group_tests_name("vma_max_map_count", max_map_tests, NULL, NULL);
    }
    return cmocka_run_group_tests_name("vma", tests, NULL, NULL);
}
