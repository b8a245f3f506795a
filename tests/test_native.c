/*
 * tests/test_native.c: conformance of the native AWE API (awe/awe.h) to the AWE contract
 * (docs/awe-semantics.md), rule by rule, with the native error codes.
 *
 * Every test starts and ends with no frames, no windows and no kernel mappings held
 * (tu_setup/tu_teardown check it), so the tests are independent and a leak shows at once. The
 * first test checks the "never allocated" rule and so must run before anything allocates.
 */
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

/* A frame number no process owns: far beyond any memfd. */
#define UNOWNED ((awe_frame_t)UINTPTR_MAX)

#define PG (tu_page())

/* A tag for frame f's content, version v: nonzero and distinct per (f, v). */
static uint64_t tag_of(awe_frame_t f, uint64_t v)
{
    return ((uint64_t)f << 20) ^ (v << 1) ^ 0x5a5a000000000001ull;
}

/* Maps frames[0..n) at base page 0.. and fills each with tag_of(frame, 0). */
static void map_and_fill(char *base, size_t n, const awe_frame_t *frames)
{
    TU_EXPECT(awe_map(base, n, frames), AWE_OK);
    for (size_t i = 0; i < n; i++)
        tu_fill(TU_AT(base, i), PG, tag_of(frames[i], 0));
}

/* Asserts that page i of base holds frame f with tag_of(f, v). */
static void assert_page(char *base, size_t i, awe_frame_t f, uint64_t v)
{
    assert_int_equal(tu_query(TU_AT(base, i)), f);
    assert_false(page_faults(TU_AT(base, i)));
    if (!tu_check(TU_AT(base, i), PG, tag_of(f, v)))
        fail_msg("page %zu: content is not frame %#lx version %lu (first word %#lx)", i,
                 (unsigned long)f, (unsigned long)v, (unsigned long)tu_tag_of(TU_AT(base, i)));
}

/* Asserts that page i of base is unmapped and faults. */
static void assert_unmapped(char *base, size_t i)
{
    assert_int_equal(tu_query(TU_AT(base, i)), 0);
    if (!page_faults(TU_AT(base, i)))
        fail_msg("page %zu is unmapped by awe_query but does not fault", i);
}

/* ---- The never-allocated process ---------------------------------------------------------- */

/* In a child that never allocated a frame: map, scatter and free are AWE_EINVAL. */
static int child_never_allocated(void *arg)
{
    struct awe_stats st;
    void *base = NULL;
    void *va;
    awe_frame_t f = 1;
    size_t count = 1;

    (void)arg;
    if (awe_get_stats(&st) != AWE_OK || st.frames_peak != 0 || st.frames_allocated != 0)
        return 2; /* something allocated before this test: the check would mean nothing */
    if (awe_window_reserve(NULL, 4 * PG, 0, &base) != AWE_OK)
        return 3; /* reserving needs no frame */
    va = base;
    if (awe_map(base, 1, &f) != AWE_EINVAL)
        return 4;
    if (awe_map_scatter(&va, 1, &f) != AWE_EINVAL)
        return 5;
    if (awe_frames_free(&count, &f) != AWE_EINVAL || count != 1)
        return 6;
    f = UNOWNED;
    if (awe_map(base, 1, &f) != AWE_EINVAL)
        return 7;
    if (awe_frames_free(&count, &f) != AWE_EINVAL || count != 1)
        return 8;
    return 0;
}

static void test_never_allocated(void **state)
{
    struct awe_stats st = tu_stats();
    int rc;

    (void)state;
    assert_int_equal(st.frames_peak, 0); /* this test must run first */
    rc = tu_run_child(child_never_allocated, NULL);
    if (rc != 0)
        fail_msg("child check %d failed (2: precondition, 3: reserve, 4: map, 5: scatter, "
                 "6: free, 7: map of an out-of-range frame, 8: free of one: expected "
                 "AWE_EINVAL before any frame was ever allocated)",
                 rc);
}

/* ---- Capabilities, strerror, NULL pointers ------------------------------------------------ */

static void test_caps_strerror_efault(void **state)
{
    static const int codes[] = {AWE_OK,     AWE_EINVAL, AWE_ENXIO,  AWE_EADDRNOTAVAIL, AWE_EPERM,
                                AWE_ENOMEM, AWE_EDQUOT, AWE_EFAULT, AWE_ENOTSUP,       AWE_EIO};
    long long mmc = tu_read_sysctl("/proc/sys/vm/max_map_count");
    size_t n = sizeof(codes) / sizeof(codes[0]);

    (void)state;
    assert_int_equal(tu_caps.page_size, (size_t)sysconf(_SC_PAGESIZE));
    assert_int_equal(tu_caps.alloc_granularity, 65536);
    assert_true(tu_caps.frame_limit > 0);
    assert_true(tu_caps.processor_count >= 1);
    if (mmc > 0) {
        assert_int_equal(tu_caps.max_map_count, (uint64_t)mmc);
        assert_true(tu_caps.vma_budget > 0 && tu_caps.vma_budget < (uint64_t)mmc);
    }
    for (size_t i = 0; i < n; i++) {
        assert_non_null(awe_strerror(codes[i]));
        assert_string_not_equal(awe_strerror(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(awe_strerror(codes[i]), awe_strerror(codes[j]));
    }
    assert_string_equal(awe_strerror(-123456), "unknown error");
    assert_string_equal(awe_strerror(1), "unknown error");

    TU_EXPECT(awe_get_caps(NULL), AWE_EFAULT);
    TU_EXPECT(awe_get_stats(NULL), AWE_EFAULT);
    TU_EXPECT(awe_window_reserve(NULL, PG, 0, NULL), AWE_EFAULT);
    {
        char *w = tu_reserve(1);

        TU_EXPECT(awe_query(w, NULL), AWE_EFAULT);
    }
}

/* ---- Frame allocation -------------------------------------------------------------------- */

static void test_alloc_basic(void **state)
{
    enum { N = 64 };
    awe_frame_t frames[N + 1];
    struct awe_stats before = tu_stats();
    struct awe_stats after;
    size_t count = 0;
    char *w;

    (void)state;
    /* count 0: success, nothing allocated, even with a NULL array */
    TU_EXPECT(awe_frames_alloc(&count, frames, 0, -1), AWE_OK);
    assert_int_equal(count, 0);
    TU_EXPECT(awe_frames_alloc(&count, NULL, 0, -1), AWE_OK);
    assert_int_equal(count, 0);
    after = tu_stats();
    assert_int_equal(after.frames_allocated, before.frames_allocated);

    /* NULL pointers and bad arguments: nothing allocated, count untouched */
    count = 2;
    TU_EXPECT(awe_frames_alloc(NULL, frames, 0, -1), AWE_EFAULT);
    TU_EXPECT(awe_frames_alloc(&count, NULL, 0, -1), AWE_EFAULT);
    assert_int_equal(count, 2);
    TU_EXPECT(awe_frames_alloc(&count, frames, 0x80u, -1), AWE_EINVAL);
    assert_int_equal(count, 2);
    TU_EXPECT(awe_frames_alloc(&count, frames, 0, 1 << 20), AWE_EINVAL);
    assert_int_equal(count, 2);
    after = tu_stats();
    assert_int_equal(after.frames_allocated, 0);
    assert_int_equal(after.failed_calls, before.failed_calls + 4);

    /* A real allocation: nonzero, distinct frames that read as zeros; node 0 is a preference */
    count = N;
    frames[N] = 0xabcdef; /* beyond *count: must stay untouched */
    TU_EXPECT(awe_frames_alloc(&count, frames, 0, -1), AWE_OK);
    assert_int_equal(count, N);
    assert_int_equal(frames[N], 0xabcdef);
    tu_track_frames(frames, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_not_equal(frames[i], 0);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(frames[i], frames[j]);
    }
    after = tu_stats();
    assert_int_equal(after.frames_allocated, N);
    assert_true(after.frames_peak >= N);
    w = tu_reserve(N);
    TU_EXPECT(awe_map(w, N, frames), AWE_OK);
    for (size_t i = 0; i < N; i++)
        assert_true(tu_is_zero(TU_AT(w, i), PG));

    {
        awe_frame_t g[2];

        count = 2;
        TU_EXPECT(awe_frames_alloc(&count, g, AWE_FRAMES_POPULATE, 0), AWE_OK);
        assert_int_equal(count, 2);
        tu_track_frames(g, 2);
        assert_true(g[0] != 0 && g[1] != 0 && g[0] != g[1]);
    }
}

static void test_alloc_limit(void **state)
{
    awe_frame_t a[8];
    size_t count;
    struct awe_stats st;

    (void)state;
    TU_EXPECT(awe_set_frame_limit(UINT64_MAX), AWE_EINVAL);
    TU_EXPECT(awe_set_frame_limit(5), AWE_OK);

    count = 3;
    TU_EXPECT(awe_frames_alloc(&count, a, 0, -1), AWE_OK);
    assert_int_equal(count, 3);
    tu_track_frames(a, 3);

    /* Partial: 4 asked, 2 left under the limit */
    count = 4;
    TU_EXPECT(awe_frames_alloc(&count, a + 3, 0, -1), AWE_OK);
    assert_int_equal(count, 2);
    tu_track_frames(a + 3, 2);
    st = tu_stats();
    assert_int_equal(st.frames_allocated, 5);

    /* The limit is reached: AWE_EDQUOT, nothing allocated, count and array untouched */
    count = 1;
    a[5] = 0x1234;
    TU_EXPECT(awe_frames_alloc(&count, a + 5, 0, -1), AWE_EDQUOT);
    assert_int_equal(count, 1);
    assert_int_equal(a[5], 0x1234);
    st = tu_stats();
    assert_int_equal(st.frames_allocated, 5);

    /* Lowering the limit below what is held keeps the frames; allocation is refused */
    TU_EXPECT(awe_set_frame_limit(2), AWE_OK);
    st = tu_stats();
    assert_int_equal(st.frames_allocated, 5);
    count = 1;
    TU_EXPECT(awe_frames_alloc(&count, a + 5, 0, -1), AWE_EDQUOT);

    /* Freeing makes room again */
    count = 4;
    TU_EXPECT(awe_frames_free(&count, a), AWE_OK);
    count = 2;
    TU_EXPECT(awe_frames_alloc(&count, a, 0, -1), AWE_OK);
    assert_int_equal(count, 1);
    tu_track_frames(a, 1);
    TU_EXPECT(awe_set_frame_limit(tu_caps.frame_limit), AWE_OK);
}

static void test_alloc_huge(void **state)
{
    long long nr = tu_read_sysctl("/proc/sys/vm/nr_hugepages");
    awe_frame_t f[1];
    size_t count = 1;
    void *w = NULL;
    awe_frame_t small;

    (void)state;
    if (tu_caps.huge_frames_free == 0 && nr == 0) {
        /* No huge page pool: huge frames are not available, and nothing is allocated. */
        TU_EXPECT(awe_frames_alloc(&count, f, AWE_FRAMES_HUGE, -1), AWE_ENOTSUP);
        assert_int_equal(count, 1);
        return;
    }
    if (tu_caps.huge_frames_free == 0) {
        print_message("huge page pool configured but empty: huge frame test not run\n");
        return;
    }
    TU_EXPECT(awe_frames_alloc(&count, f, AWE_FRAMES_HUGE, -1), AWE_OK);
    assert_int_equal(count, 1);
    tu_track_frames(f, 1);
    assert_int_equal(tu_stats().huge_frames_allocated, 1);
    TU_EXPECT(awe_window_reserve(NULL, tu_caps.huge_page_size, AWE_WINDOW_HUGE, &w), AWE_OK);
    tu_track_window(w);
    assert_int_equal((uintptr_t)w % tu_caps.huge_page_size, 0);
    TU_EXPECT(awe_map(w, 1, f), AWE_OK);
    tu_fill(w, tu_caps.huge_page_size, 77);
    assert_true(tu_check(w, tu_caps.huge_page_size, 77));
    TU_EXPECT(awe_unmap(w, 1), AWE_OK);
    assert_true(page_faults(w));
    /* A small frame does not go into a huge window, nor a huge frame into a small one */
    small = tu_alloc(1)[0];
    TU_EXPECT(awe_map(w, 1, &small), AWE_EINVAL);
    {
        char *sw = tu_reserve(1);

        TU_EXPECT(awe_map(sw, 1, f), AWE_EINVAL);
    }
    count = 1;
    TU_EXPECT(awe_frames_free(&count, f), AWE_OK);
    assert_int_equal(tu_stats().huge_frames_allocated, 0);
}

/* ---- Frame freeing ------------------------------------------------------------------------ */

static void test_free_rules(void **state)
{
    awe_frame_t *f = tu_alloc(6);
    awe_frame_t list[4];
    size_t count;
    char *w = tu_reserve(4);
    struct awe_stats st;

    (void)state;
    /* count 0 and NULL pointers */
    count = 0;
    TU_EXPECT(awe_frames_free(&count, f), AWE_EINVAL);
    TU_EXPECT(awe_frames_free(NULL, f), AWE_EFAULT);
    count = 1;
    TU_EXPECT(awe_frames_free(&count, NULL), AWE_EFAULT);
    assert_int_equal(tu_stats().frames_allocated, 6);

    /* Partial: stops at the bad entry; the prefix stays freed; the rest is untouched */
    list[0] = f[0];
    list[1] = f[1];
    list[2] = UNOWNED;
    list[3] = f[2];
    count = 4;
    TU_EXPECT(awe_frames_free(&count, list), AWE_ENXIO);
    assert_int_equal(count, 2);
    st = tu_stats();
    assert_int_equal(st.frames_allocated, 4);
    TU_EXPECT(awe_map(w, 1, &f[0]), AWE_ENXIO); /* freed */
    TU_EXPECT(awe_map(w, 1, &f[2]), AWE_OK);    /* still owned */

    /* A freed frame alone: nothing freed */
    count = 1;
    TU_EXPECT(awe_frames_free(&count, &f[1]), AWE_ENXIO);
    assert_int_equal(count, 0);

    /* Frame 0 */
    list[0] = 0;
    count = 1;
    TU_EXPECT(awe_frames_free(&count, list), AWE_ENXIO);
    assert_int_equal(count, 0);

    /* Repeated entry: the first occurrence is freed, the repeat stops the call */
    list[0] = f[3];
    list[1] = f[4];
    list[2] = f[3];
    list[3] = f[5];
    count = 4;
    TU_EXPECT(awe_frames_free(&count, list), AWE_ENXIO);
    assert_int_equal(count, 2);
    assert_int_equal(tu_stats().frames_allocated, 2); /* f[2] and f[5] */

    /* Success leaves count as it was; f[2] was mapped: it is unmapped first */
    list[0] = f[5];
    list[1] = f[2];
    count = 2;
    TU_EXPECT(awe_frames_free(&count, list), AWE_OK);
    assert_int_equal(count, 2);
    assert_unmapped(w, 0);
    st = tu_stats();
    assert_int_equal(st.frames_allocated, 0);
    assert_int_equal(st.windows, 1);
}

static void test_free_mapped(void **state)
{
    awe_frame_t *f = tu_alloc(4);
    awe_frame_t *g = tu_alloc(1);
    char *w = tu_reserve(4);
    awe_frame_t pair[2];
    size_t count = 2;

    (void)state;
    map_and_fill(w, 4, f);
    pair[0] = f[1];
    pair[1] = f[2];
    TU_EXPECT(awe_frames_free(&count, pair), AWE_OK);
    assert_unmapped(w, 1);
    assert_unmapped(w, 2);
    assert_page(w, 0, f[0], 0);
    assert_page(w, 3, f[3], 0);
    /* The window stays: its pages take frames again */
    assert_int_equal(tu_stats().windows, 1);
    TU_EXPECT(awe_map(TU_AT(w, 1), 1, g), AWE_OK);
    assert_true(tu_is_zero(TU_AT(w, 1), PG));
}

static void test_free_then_realloc_reads_zero(void **state)
{
    enum { N = 32 };
    awe_frame_t *f = tu_alloc(N);
    awe_frame_t again[N];
    awe_frame_t old[N];
    char *w = tu_reserve(N);
    size_t count = N;
    size_t reused = 0;

    (void)state;
    memcpy(old, f, sizeof(old));
    map_and_fill(w, N, f);
    /* Free half while mapped, half after an unmap */
    TU_EXPECT(awe_unmap(w, N / 2), AWE_OK);
    TU_EXPECT(awe_frames_free(&count, f), AWE_OK);
    count = N;
    TU_EXPECT(awe_frames_alloc(&count, again, 0, -1), AWE_OK);
    assert_int_equal(count, N);
    tu_track_frames(again, N);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < N; j++)
            reused += again[i] == old[j];
    }
    TU_EXPECT(awe_map(w, N, again), AWE_OK);
    for (size_t i = 0; i < N; i++) {
        if (!tu_is_zero(TU_AT(w, i), PG))
            fail_msg("reallocated frame %#lx (page %zu) does not read as zeros",
                     (unsigned long)again[i], i);
    }
    print_message("%zu of %d frame numbers were handed out again\n", reused, N);
}

/* ---- Windows ------------------------------------------------------------------------------ */

static void test_window_reserve(void **state)
{
    enum { N = 16 };
    char *w = tu_reserve(N);
    void *base = NULL;
    void *again = NULL;
    awe_frame_t *f = tu_alloc(2);
    char *small;

    (void)state;
    assert_int_equal((uintptr_t)w % tu_caps.alloc_granularity, 0);
    assert_int_equal(tu_stats().windows, 1);
    for (size_t i = 0; i < N; i++)
        assert_unmapped(w, i);
    assert_true(page_faults(TU_AT(w, N - 1) + PG - 1));

    /* Bad arguments */
    TU_EXPECT(awe_window_reserve(NULL, 0, 0, &base), AWE_EINVAL);
    TU_EXPECT(awe_window_reserve(NULL, PG, 0x80u, &base), AWE_EINVAL);
    /* Larger than the address space: no memory, refused before any table is allocated (an
     * oversized allocation aborted the ASan build). */
    if (sizeof(size_t) == 8) { /* a 32-bit process may well have 2 GiB to reserve */
        TU_EXPECT(awe_window_reserve(NULL, SIZE_MAX / 2, 0, &base), AWE_ENOMEM);
        TU_EXPECT(awe_window_reserve(NULL, SIZE_MAX / 2 + 1, 0, &base), AWE_ENOMEM);
    }
    TU_EXPECT(awe_window_reserve(NULL, SIZE_MAX - 2 * PG, 0, &base), AWE_ENOMEM);
    TU_EXPECT(awe_window_reserve(NULL, SIZE_MAX, 0, &base), AWE_ENOMEM);
    assert_int_equal(tu_stats().windows, 1);

    /* The size is rounded up to whole pages: 1 byte is one page */
    TU_EXPECT(awe_window_reserve(NULL, 1, 0, &base), AWE_OK);
    tu_track_window(base);
    small = base;
    TU_EXPECT(awe_map(small, 2, f), AWE_EINVAL);
    TU_EXPECT(awe_map(small, 1, f), AWE_OK);
    TU_EXPECT(awe_unmap(small, 1), AWE_OK);

    /* A wanted address that is taken: AWE_EADDRNOTAVAIL */
    TU_EXPECT(awe_window_reserve(w, PG, 0, &again), AWE_EADDRNOTAVAIL);
    TU_EXPECT(awe_window_reserve(w + 5 * PG, PG, 0, &again), AWE_EADDRNOTAVAIL);
    {
        /* Taken by an ordinary mapping, not a window */
        size_t len = 4 * tu_caps.alloc_granularity;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *inside;

        assert_true(m != MAP_FAILED);
        m[0] = 1;
        inside = (char *)(((uintptr_t)m + tu_caps.alloc_granularity) &
                          ~(uintptr_t)(tu_caps.alloc_granularity - 1));
        TU_EXPECT(awe_window_reserve(inside, PG, 0, &again), AWE_EADDRNOTAVAIL);
        assert_int_equal(m[0], 1);
        munmap(m, len);
    }
    assert_int_equal(tu_stats().windows, 2);

    /* A wanted address that is free (w's, once released), given unaligned: rounded down */
    TU_EXPECT(awe_window_release(w), AWE_OK);
    TU_EXPECT(awe_window_reserve(w + 3 * PG + 17, N * PG, 0, &again), AWE_OK);
    tu_track_window(again);
    assert_ptr_equal(again, w);
    for (size_t i = 0; i < N; i++)
        assert_unmapped(w, i);
}

/* Plain virtual memory (awe_vm_*): reserve, commit, protect, decommit, release, and sizes that
 * wrap when rounded up to pages (SIZE_MAX used to "succeed" and commit nothing). */
static void test_vm(void **state)
{
    void *base = NULL;
    char *p;

    (void)state;
    TU_EXPECT(awe_vm_reserve(NULL, 4 * PG, &base), AWE_OK);
    p = base;
    TU_EXPECT(awe_vm_commit(base, SIZE_MAX, (AWE_PROT_READ | AWE_PROT_WRITE)), AWE_EINVAL);
    TU_EXPECT(awe_vm_commit(base, SIZE_MAX - 1, (AWE_PROT_READ | AWE_PROT_WRITE)), AWE_EINVAL);
    TU_EXPECT(awe_vm_commit(base, 0, (AWE_PROT_READ | AWE_PROT_WRITE)), AWE_EINVAL);
    assert_true(page_faults(p));
    TU_EXPECT(awe_vm_commit(base, 2 * PG, (AWE_PROT_READ | AWE_PROT_WRITE)), AWE_OK);
    p[0] = 1;
    p[2 * PG - 1] = 2;
    assert_true(page_faults(p + 2 * PG));
    TU_EXPECT(awe_vm_protect(base, SIZE_MAX, AWE_PROT_READ), AWE_EINVAL);
    assert_false(page_faults(p));
    TU_EXPECT(awe_vm_protect(base, PG, AWE_PROT_NONE), AWE_OK);
    assert_true(page_faults(p));
    TU_EXPECT(awe_vm_decommit(base, SIZE_MAX), AWE_EINVAL);
    assert_int_equal(p[2 * PG - 1], 2);
    TU_EXPECT(awe_vm_decommit(base, 2 * PG), AWE_OK);
    assert_true(page_faults(p + PG));
    TU_EXPECT(awe_vm_release(base, SIZE_MAX), AWE_EINVAL);
    TU_EXPECT(awe_vm_release(base, 4 * PG), AWE_OK);
}

static void test_window_release(void **state)
{
    enum { N = 4 };
    awe_frame_t *f = tu_alloc(N);
    char *w1 = tu_reserve(N);
    char *w2 = tu_reserve(2 * N);
    int local = 0;
    struct awe_stats st;
    awe_frame_t q;

    (void)state;
    map_and_fill(w1, N, f);

    /* Not at the base, inside, or no window at all: AWE_EADDRNOTAVAIL, nothing changed */
    TU_EXPECT(awe_window_release(w1 + PG), AWE_EADDRNOTAVAIL);
    TU_EXPECT(awe_window_release(w1 + 1), AWE_EADDRNOTAVAIL);
    TU_EXPECT(awe_window_release(&local), AWE_EADDRNOTAVAIL);
    TU_EXPECT(awe_window_release(NULL), AWE_EADDRNOTAVAIL);
    st = tu_stats();
    assert_int_equal(st.windows, 2);
    for (size_t i = 0; i < N; i++)
        assert_page(w1, i, f[i], 0);

    /* Release: the range is gone, the frames stay with their contents */
    TU_EXPECT(awe_window_release(w1), AWE_OK);
    TU_EXPECT(awe_window_release(w1), AWE_EADDRNOTAVAIL);
    TU_EXPECT(awe_query(w1, &q), AWE_EINVAL);
    st = tu_stats();
    assert_int_equal(st.windows, 1);
    assert_int_equal(st.frames_allocated, N);

    /* Map them elsewhere (they are unmapped now), in reverse order, and read back */
    for (size_t i = 0; i < N; i++)
        TU_EXPECT(awe_map(TU_AT(w2, 2 * N - 1 - i), 1, &f[i]), AWE_OK);
    for (size_t i = 0; i < N; i++)
        assert_page(w2, 2 * N - 1 - i, f[i], 0);
    for (size_t i = 0; i < N; i++)
        assert_unmapped(w2, i);
}

/* ---- awe_map ------------------------------------------------------------------------------ */

static void test_map_basic(void **state)
{
    enum { N = 8 };
    awe_frame_t *f = tu_alloc(N);
    awe_frame_t *g = tu_alloc(2);
    char *w = tu_reserve(N);
    struct awe_stats before;
    struct awe_stats after;
    int local = 0;

    (void)state;
    /* count 0 */
    TU_EXPECT(awe_map(w, 0, f), AWE_EINVAL);
    TU_EXPECT(awe_map(w, 0, NULL), AWE_EINVAL);
    TU_EXPECT(awe_unmap(w, 0), AWE_EINVAL);

    /* Unmapping a range that holds nothing succeeds */
    TU_EXPECT(awe_unmap(w, N), AWE_OK);
    TU_EXPECT(awe_map(w, N, NULL), AWE_OK);

    before = tu_stats();
    map_and_fill(w, 4, f);
    after = tu_stats();
    assert_int_equal(after.map_calls, before.map_calls + 1);
    assert_int_equal(after.pages_mapped, before.pages_mapped + 4);
    for (size_t i = 0; i < 4; i++)
        assert_page(w, i, f[i], 0);
    for (size_t i = 4; i < N; i++)
        assert_unmapped(w, i);

    /* NULL unmaps; the frames stay allocated and can go elsewhere */
    TU_EXPECT(awe_map(TU_AT(w, 2), 2, NULL), AWE_OK);
    assert_unmapped(w, 2);
    assert_unmapped(w, 3);
    assert_page(w, 1, f[1], 0);
    TU_EXPECT(awe_map(TU_AT(w, 6), 1, &f[2]), AWE_OK);
    assert_page(w, 6, f[2], 0);
    TU_EXPECT(awe_unmap(TU_AT(w, 6), 1), AWE_OK);

    /* An unaligned va is rounded down to its page */
    TU_EXPECT(awe_map(TU_AT(w, 5) + 123, 1, &f[5]), AWE_OK);
    assert_int_equal(tu_query(TU_AT(w, 5)), f[5]);
    tu_fill(TU_AT(w, 5), PG, tag_of(f[5], 0));
    TU_EXPECT(awe_unmap(TU_AT(w, 5) + PG - 1, 1), AWE_OK);
    assert_unmapped(w, 5);

    /* Replace at the target: the old frame becomes unmapped and free to go elsewhere */
    TU_EXPECT(awe_map(w, 1, &g[0]), AWE_OK);
    assert_true(tu_is_zero(w, PG));
    TU_EXPECT(awe_map(TU_AT(w, 7), 1, &f[0]), AWE_OK);
    assert_page(w, 7, f[0], 0);

    /* A 0 entry unmaps its page; with a replacement between */
    TU_EXPECT(awe_map(TU_AT(w, 2), 2, f + 2), AWE_OK); /* pages 2,3 <- f2,f3 */
    {
        awe_frame_t mix[3] = {0, g[1], 0};

        TU_EXPECT(awe_map(TU_AT(w, 1), 3, mix), AWE_OK); /* 1: unmap, 2: f2 -> g1, 3: unmap */
    }
    assert_unmapped(w, 1);
    assert_int_equal(tu_query(TU_AT(w, 2)), g[1]);
    assert_true(tu_is_zero(TU_AT(w, 2), PG));
    assert_unmapped(w, 3);
    TU_EXPECT(awe_map(TU_AT(w, 4), 3, f + 1), AWE_OK); /* f1..f3 are all unmapped now */
    assert_page(w, 4, f[1], 0);
    assert_page(w, 5, f[2], 0);
    assert_page(w, 6, f[3], 0);

    /* va outside any window */
    TU_EXPECT(awe_map(&local, 1, &f[4]), AWE_EINVAL);
    TU_EXPECT(awe_map(NULL, 1, &f[4]), AWE_EINVAL);
    TU_EXPECT(awe_unmap(&local, 1), AWE_EINVAL);
}

static void test_map_rejects(void **state)
{
    enum { N = 6 };
    awe_frame_t *f = tu_alloc(N);
    awe_frame_t *g = tu_alloc(3);
    awe_frame_t freed = tu_alloc(1)[0];
    char *w = tu_reserve(N);
    awe_frame_t e[4];
    size_t one = 1;

    (void)state;
    TU_EXPECT(awe_frames_free(&one, &freed), AWE_OK);
    map_and_fill(w, 4, f); /* pages 0..3 <- f0..f3; 4, 5 empty */

/* Every rejected call below must leave the window exactly as it is now. */
#define ASSERT_UNCHANGED()                                                                         \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < 4; i_++)                                                          \
            assert_page(w, i_, f[i_], 0);                                                          \
        assert_unmapped(w, 4);                                                                     \
        assert_unmapped(w, 5);                                                                     \
    } while (0)

    /* A frame mapped elsewhere */
    TU_EXPECT(awe_map(TU_AT(w, 4), 1, &f[0]), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* A frame mapped at the very page it would go to */
    TU_EXPECT(awe_map(TU_AT(w, 2), 1, &f[2]), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* A swap inside one call: both frames are still mapped */
    e[0] = f[1];
    e[1] = f[0];
    TU_EXPECT(awe_map(w, 2, e), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* A frame whose page this very call unmaps is still mapped when validated */
    e[0] = 0;
    e[1] = g[0];
    e[2] = g[1];
    e[3] = f[0];
    TU_EXPECT(awe_map(w, 4, e), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* Listed twice */
    e[0] = g[0];
    e[1] = g[0];
    TU_EXPECT(awe_map(TU_AT(w, 4), 2, e), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* Range crossing the window end */
    e[0] = g[0];
    e[1] = g[1];
    TU_EXPECT(awe_map(TU_AT(w, 5), 2, e), AWE_EINVAL);
    TU_EXPECT(awe_unmap(TU_AT(w, 3), 4), AWE_EINVAL);
    TU_EXPECT(awe_map(w, SIZE_MAX / 2, NULL), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* Not owned: never allocated / out of range, freed */
    e[0] = g[0];
    e[1] = UNOWNED;
    TU_EXPECT(awe_map(TU_AT(w, 4), 2, e), AWE_ENXIO);
    ASSERT_UNCHANGED();
    TU_EXPECT(awe_map(TU_AT(w, 4), 1, &freed), AWE_ENXIO);
    ASSERT_UNCHANGED();
    /* All or nothing: valid replacements and unmaps before a bad entry do not happen */
    e[0] = g[0];
    e[1] = 0;
    e[2] = g[1];
    e[3] = UNOWNED;
    TU_EXPECT(awe_map(w, 4, e), AWE_ENXIO);
    ASSERT_UNCHANGED();
    e[3] = g[0];
    TU_EXPECT(awe_map(w, 4, e), AWE_EINVAL); /* listed twice, last */
    ASSERT_UNCHANGED();
    /* The frames that the failed calls named are still free to map */
    TU_EXPECT(awe_map(TU_AT(w, 4), 2, g), AWE_OK);
    assert_int_equal(tu_query(TU_AT(w, 4)), g[0]);
    assert_int_equal(tu_query(TU_AT(w, 5)), g[1]);
#undef ASSERT_UNCHANGED
}

/* The first bad entry in array order decides the error. */
static void test_first_bad_entry_decides(void **state)
{
    awe_frame_t *f = tu_alloc(2);
    char *w = tu_reserve(4);
    awe_frame_t e[2];
    void *vas[2];

    (void)state;
    TU_EXPECT(awe_map(w, 1, &f[0]), AWE_OK); /* f0 mapped at page 0 */

    e[0] = UNOWNED; /* entry 1: not owned */
    e[1] = f[0];    /* entry 2: mapped */
    TU_EXPECT(awe_map(TU_AT(w, 2), 2, e), AWE_ENXIO);
    e[0] = f[0];
    e[1] = UNOWNED;
    TU_EXPECT(awe_map(TU_AT(w, 2), 2, e), AWE_EINVAL);

    vas[0] = TU_AT(w, 3);
    vas[1] = TU_AT(w, 1);
    e[0] = UNOWNED;
    e[1] = f[0];
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_ENXIO);
    e[0] = f[0];
    e[1] = UNOWNED;
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_EINVAL);

    assert_int_equal(tu_query(w), f[0]);
    for (size_t i = 1; i < 4; i++)
        assert_unmapped(w, i);
}

/* ---- awe_map_scatter ---------------------------------------------------------------------- */

static void test_scatter(void **state)
{
    awe_frame_t *f = tu_alloc(8);
    char *w1 = tu_reserve(8);
    char *w2 = tu_reserve(8);
    void *vas[4];
    awe_frame_t e[4];
    struct awe_stats before;
    struct awe_stats after;
    int local = 0;

    (void)state;
    /* count 0 succeeds */
    TU_EXPECT(awe_map_scatter(vas, 0, f), AWE_OK);
    TU_EXPECT(awe_map_scatter(NULL, 0, NULL), AWE_OK);
    TU_EXPECT(awe_map_scatter(NULL, 1, f), AWE_EFAULT);
    /* A count no plan could hold (it would overflow the size of the work arrays): rejected before
     * any entry is read, no crash */
    TU_EXPECT(awe_map_scatter(vas, SIZE_MAX / 2, f), AWE_EINVAL);
    TU_EXPECT(awe_map_scatter(vas, SIZE_MAX, NULL), AWE_EINVAL);

    /* Entries in two windows, out of order */
    vas[0] = TU_AT(w2, 3);
    vas[1] = TU_AT(w1, 0);
    vas[2] = TU_AT(w2, 0) + 99; /* unaligned: its page */
    vas[3] = TU_AT(w1, 5);
    before = tu_stats();
    TU_EXPECT(awe_map_scatter(vas, 4, f), AWE_OK);
    after = tu_stats();
    assert_int_equal(after.scatter_calls, before.scatter_calls + 1);
    assert_int_equal(after.pages_mapped, before.pages_mapped + 4);
    assert_int_equal(tu_query(TU_AT(w2, 3)), f[0]);
    assert_int_equal(tu_query(TU_AT(w1, 0)), f[1]);
    assert_int_equal(tu_query(TU_AT(w2, 0)), f[2]);
    assert_int_equal(tu_query(TU_AT(w1, 5)), f[3]);
    tu_fill(TU_AT(w2, 3), PG, tag_of(f[0], 0));
    tu_fill(TU_AT(w1, 0), PG, tag_of(f[1], 0));
    tu_fill(TU_AT(w2, 0), PG, tag_of(f[2], 0));
    tu_fill(TU_AT(w1, 5), PG, tag_of(f[3], 0));

/* The state after the first scatter; every rejected call must leave it. */
#define ASSERT_UNCHANGED()                                                                         \
    do {                                                                                           \
        assert_page(w2, 3, f[0], 0);                                                               \
        assert_page(w1, 0, f[1], 0);                                                               \
        assert_page(w2, 0, f[2], 0);                                                               \
        assert_page(w1, 5, f[3], 0);                                                               \
        assert_unmapped(w1, 1);                                                                    \
        assert_unmapped(w2, 1);                                                                    \
    } while (0)
    ASSERT_UNCHANGED();

    /* A page listed twice (even as two addresses in one page, even both unmapping) */
    vas[0] = TU_AT(w1, 1);
    vas[1] = TU_AT(w1, 1) + 8;
    e[0] = f[4];
    e[1] = f[5];
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_EINVAL);
    TU_EXPECT(awe_map_scatter(vas, 2, NULL), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* A frame mapped elsewhere, or listed twice */
    vas[0] = TU_AT(w1, 1);
    vas[1] = TU_AT(w2, 1);
    e[0] = f[4];
    e[1] = f[0];
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_EINVAL);
    e[1] = f[4];
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* A page in no window */
    vas[0] = TU_AT(w1, 1);
    vas[1] = &local;
    e[0] = f[4];
    e[1] = f[5];
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_EINVAL);
    ASSERT_UNCHANGED();
    /* All or nothing: a valid unmap (0 entry) and a valid map before a bad entry */
    vas[0] = TU_AT(w2, 3);
    vas[1] = TU_AT(w1, 1);
    vas[2] = TU_AT(w2, 1);
    e[0] = 0;
    e[1] = f[4];
    e[2] = UNOWNED;
    TU_EXPECT(awe_map_scatter(vas, 3, e), AWE_ENXIO);
    ASSERT_UNCHANGED();
    e[2] = f[1]; /* mapped at w1 page 0 */
    TU_EXPECT(awe_map_scatter(vas, 3, e), AWE_EINVAL);
    ASSERT_UNCHANGED();
    vas[2] = TU_AT(w1, 8); /* one past w1's end */
    e[2] = f[5];
    TU_EXPECT(awe_map_scatter(vas, 3, e), AWE_EINVAL);
    ASSERT_UNCHANGED();
#undef ASSERT_UNCHANGED

    /* A 0 entry unmaps; replacement at a target */
    vas[0] = TU_AT(w2, 3);
    vas[1] = TU_AT(w1, 0);
    e[0] = 0;
    e[1] = f[4]; /* replaces f1 */
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_OK);
    assert_unmapped(w2, 3);
    assert_int_equal(tu_query(w1), f[4]);
    assert_true(tu_is_zero(w1, PG));
    /* f0 and f1 are free to map again: their contents travelled with them */
    vas[0] = TU_AT(w1, 7);
    vas[1] = TU_AT(w2, 7);
    e[0] = f[0];
    e[1] = f[1];
    TU_EXPECT(awe_map_scatter(vas, 2, e), AWE_OK);
    assert_page(w1, 7, f[0], 0);
    assert_page(w2, 7, f[1], 0);

    /* frames == NULL unmaps every listed page (mapped or not) */
    vas[0] = TU_AT(w1, 7);
    vas[1] = TU_AT(w2, 0);
    vas[2] = TU_AT(w1, 3);
    vas[3] = TU_AT(w2, 7);
    TU_EXPECT(awe_map_scatter(vas, 4, NULL), AWE_OK);
    assert_unmapped(w1, 7);
    assert_unmapped(w2, 0);
    assert_unmapped(w1, 3);
    assert_unmapped(w2, 7);
    assert_int_equal(tu_query(w1), f[4]);
    assert_int_equal(tu_query(TU_AT(w1, 5)), f[3]);
}

/* ---- awe_query ---------------------------------------------------------------------------- */

static void test_query(void **state)
{
    awe_frame_t *f = tu_alloc(1);
    char *w = tu_reserve(2);
    awe_frame_t q = 99;
    int local = 0;

    (void)state;
    TU_EXPECT(awe_query(w, &q), AWE_OK);
    assert_int_equal(q, 0);
    TU_EXPECT(awe_map(TU_AT(w, 1), 1, f), AWE_OK);
    TU_EXPECT(awe_query(TU_AT(w, 1) + PG - 1, &q), AWE_OK);
    assert_int_equal(q, f[0]);
    TU_EXPECT(awe_query(TU_AT(w, 1) + 1, &q), AWE_OK);
    assert_int_equal(q, f[0]);
    q = 99;
    TU_EXPECT(awe_query(&local, &q), AWE_EINVAL);
    TU_EXPECT(awe_query(NULL, &q), AWE_EINVAL);
    TU_EXPECT(awe_query(TU_AT(w, 1), NULL), AWE_EFAULT);
}

/* ---- Data stays with the frame ------------------------------------------------------------ */

static void test_data_stays_with_frame(void **state)
{
    awe_frame_t *f = tu_alloc(3);
    char *a = tu_reserve(4);
    char *b = tu_reserve(8);

    (void)state;
    TU_EXPECT(awe_map(TU_AT(a, 2), 1, &f[0]), AWE_OK);
    tu_fill(TU_AT(a, 2), PG, tag_of(f[0], 1));
    TU_EXPECT(awe_unmap(TU_AT(a, 2), 1), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(b, 5), 1, &f[0]), AWE_OK);
    assert_page(b, 5, f[0], 1);
    tu_fill(TU_AT(b, 5), PG, tag_of(f[0], 2));
    /* Taken out by replacement this time */
    TU_EXPECT(awe_map(TU_AT(b, 5), 1, &f[1]), AWE_OK);
    TU_EXPECT(awe_map(a, 1, &f[0]), AWE_OK);
    assert_page(a, 0, f[0], 2);
    /* A run of frames keeps each page's data in its own frame */
    tu_fill(TU_AT(b, 5), PG, tag_of(f[1], 1));
    TU_EXPECT(awe_unmap(TU_AT(b, 5), 1), AWE_OK);
    TU_EXPECT(awe_map(TU_AT(a, 1), 1, &f[2]), AWE_OK);
    tu_fill(TU_AT(a, 1), PG, tag_of(f[2], 1));
    TU_EXPECT(awe_unmap(a, 2), AWE_OK);
    TU_EXPECT(awe_map(b, 3, f), AWE_OK);
    assert_page(b, 0, f[0], 2);
    assert_page(b, 1, f[1], 1);
    assert_page(b, 2, f[2], 1);
}

/* awe_frames_read / awe_frames_write: a frame's contents moved without mapping it, coherent with
 * its mappings; bad arguments change nothing. */
static void test_frames_copy(void **state)
{
    awe_frame_t *f = tu_alloc(3), bogus[1] = {0};
    char *w = tu_reserve(3);
    unsigned char *buf = malloc(3 * PG), *back = malloc(3 * PG);
    size_t one = 1;

    (void)state;
    assert_non_null(buf);
    assert_non_null(back);
    /* Written unmapped, read through a mapping. */
    for (size_t i = 0; i < 3 * PG; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    TU_EXPECT(awe_frames_write(f, 3, buf), AWE_OK);
    TU_EXPECT(awe_map(w, 3, f), AWE_OK);
    assert_memory_equal(w, buf, 3 * PG);
    /* Written through the mapping, read unmapped (a frame listed alone, out of order). */
    memset(w + PG, 0x5a, PG);
    TU_EXPECT(awe_frames_read(&f[1], 1, back), AWE_OK);
    for (size_t i = 0; i < PG; i++)
        assert_int_equal(back[i], 0x5a);
    TU_EXPECT(awe_unmap(w, 3), AWE_OK);
    TU_EXPECT(awe_frames_read(f, 3, back), AWE_OK);
    assert_memory_equal(back, buf, PG);
    assert_memory_equal(back + 2 * PG, buf + 2 * PG, PG);

    /* Bad arguments: nothing read or written. */
    TU_EXPECT(awe_frames_read(NULL, 1, back), AWE_EFAULT);
    TU_EXPECT(awe_frames_read(f, 1, NULL), AWE_EFAULT);
    TU_EXPECT(awe_frames_write(f, 0, buf), AWE_EINVAL);
    TU_EXPECT(awe_frames_read(bogus, 1, back), AWE_EINVAL); /* frame 0: never a frame */
    TU_EXPECT(awe_frames_free(&one, &f[2]), AWE_OK);
    TU_EXPECT(awe_frames_read(&f[1], 2, back), AWE_ENXIO); /* f[2] is not ours any more */
    TU_EXPECT(awe_frames_write(&f[2], 1, buf), AWE_ENXIO);
    f[2] = 0;
    free(buf);
    free(back);
}

/* ---- Fork --------------------------------------------------------------------------------- */

struct fork_ctx {
    char *w;
    size_t pages;
};

static int child_probe_window(void *arg)
{
    const struct fork_ctx *c = arg;

    for (size_t i = 0; i < c->pages; i++) {
        if (!page_faults(TU_AT(c->w, i)))
            return 10 + (int)i; /* the child sees the parent's frame */
    }
    return 0;
}

static void test_fork_not_inherited(void **state)
{
    enum { N = 4 };
    awe_frame_t *f = tu_alloc(N);
    char *w = tu_reserve(N);
    struct fork_ctx c = {w, N};
    int rc;

    (void)state;
    map_and_fill(w, N, f);
    rc = tu_run_child(child_probe_window, &c);
    if (rc != 0)
        fail_msg("in a fork()ed child, window page %d was accessible (expected a fault: frames "
                 "and windows are not inherited); child status %d",
                 rc - 10, rc);
    for (size_t i = 0; i < N; i++)
        assert_page(w, i, f[i], 0);
}

/* ---- TLB coherence across threads --------------------------------------------------------- */

/*
 * The writer publishes frames at one shared page, round after round. Before round r it writes r
 * into a fresh frame (through a private staging page), stores started = r, maps the frame at the
 * shared page (replacing the previous one) and stores published = r once awe_map returned. The
 * reader loads published (p), then reads the shared page: it must see r >= p. A fault is allowed
 * only while a remap is in flight (started > p), and is counted.
 */
struct tlb_ctx {
    char *shared;                 /* the page both threads use */
    _Atomic uint64_t started;     /* the round whose remap began */
    _Atomic uint64_t published;   /* the round whose remap returned */
    _Atomic int done;             /* the writer finished */
    _Atomic uint64_t reads;       /* reads made */
    _Atomic uint64_t stale;       /* reads that saw an older round than published */
    _Atomic uint64_t bad_faults;  /* faults with no remap in flight */
    _Atomic uint64_t fly_faults;  /* faults during a remap */
    _Atomic uint64_t first_stale; /* published, seen for the first stale read */
    _Atomic uint64_t first_seen;  /* what that read saw */
};

static void *tlb_reader(void *arg)
{
    struct tlb_ctx *c = arg;
    uint64_t reads = 0;

    while (!atomic_load_explicit(&c->done, memory_order_acquire)) {
        uint64_t p = atomic_load_explicit(&c->published, memory_order_acquire);
        uint64_t v0;
        uint64_t v1;
        bool ok0;
        bool ok1;

        if (p == 0)
            continue;
        ok0 = tu_try_read_u64(c->shared, &v0);
        ok1 = tu_try_read_u64(c->shared + tu_page() - 8, &v1);
        reads++;
        if (!ok0 || !ok1) {
            if (atomic_load_explicit(&c->started, memory_order_acquire) > p)
                atomic_fetch_add(&c->fly_faults, 1);
            else
                atomic_fetch_add(&c->bad_faults, 1);
            continue;
        }
        if (v0 < p || v1 < p) {
            if (atomic_fetch_add(&c->stale, 1) == 0) {
                atomic_store(&c->first_stale, p);
                atomic_store(&c->first_seen, v0 < v1 ? v0 : v1);
            }
        }
    }
    atomic_store(&c->reads, reads);
    return NULL;
}

static void test_tlb_coherence(void **state)
{
    enum { POOL = 4, ROUNDS = 3000 };
    awe_frame_t *f = tu_alloc(POOL);
    char *w = tu_reserve(2);
    char *staging = TU_AT(w, 1);
    struct tlb_ctx c;
    pthread_t reader;
    int rc = AWE_OK;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.shared = w;
    assert_int_equal(pthread_create(&reader, NULL, tlb_reader, &c), 0);
    /* No cmocka assertion while the reader runs: record the first failure, stop, then check. */
    for (uint64_t r = 1; r <= ROUNDS && rc == AWE_OK; r++) {
        awe_frame_t fr = f[r % POOL];
        uint64_t *words = (void *)staging; /* page-aligned */

        rc = awe_map(staging, 1, &fr);
        if (rc != AWE_OK)
            break;
        words[0] = r;
        words[tu_page() / 8 - 1] = r;
        rc = awe_unmap(staging, 1);
        if (rc != AWE_OK)
            break;
        atomic_store_explicit(&c.started, r, memory_order_release);
        rc = awe_map(w, 1, &fr);
        atomic_store_explicit(&c.published, r, memory_order_release);
        if (r % 64 == 0)
            sched_yield();
    }
    atomic_store_explicit(&c.done, 1, memory_order_release);
    pthread_join(reader, NULL);
    TU_EXPECT(rc, AWE_OK);
    print_message("tlb: %lu reads, %lu faults during a remap\n", (unsigned long)c.reads,
                  (unsigned long)c.fly_faults);
    if (c.stale != 0)
        fail_msg("%lu reads saw an older frame after awe_map returned (first: round %lu "
                 "published, round %lu seen)",
                 (unsigned long)c.stale, (unsigned long)c.first_stale, (unsigned long)c.first_seen);
    assert_int_equal(c.bad_faults, 0);
    assert_true(c.reads > 0);
}

/* ---- Counters ----------------------------------------------------------------------------- */

static void test_stats_counters(void **state)
{
    awe_frame_t *f = tu_alloc(4);
    char *w = tu_reserve(4);
    struct awe_stats a = tu_stats();
    struct awe_stats b;
    awe_frame_t bad = UNOWNED;

    (void)state;
    assert_int_equal(a.frames_allocated, 4);
    assert_int_equal(a.windows, 1);
    TU_EXPECT(awe_map(w, 4, f), AWE_OK);
    TU_EXPECT(awe_map(w, 1, &bad), AWE_ENXIO);
    TU_EXPECT(awe_unmap(TU_AT(w, 1), 2), AWE_OK);
    TU_EXPECT(awe_map(w, 1, &f[1]), AWE_OK); /* replaces f0 */
    b = tu_stats();
    assert_int_equal(b.map_calls, a.map_calls + 3);
    assert_int_equal(b.failed_calls, a.failed_calls + 1);
    assert_int_equal(b.pages_mapped, a.pages_mapped + 5);
    assert_int_equal(b.pages_unmapped, a.pages_unmapped + 3);
    assert_true(b.vmas_in_use >= 1);
    assert_true(b.vmas_peak >= b.vmas_in_use);
    assert_true(b.runs > a.runs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* Must be first: nothing may have been allocated yet. */
        cmocka_unit_test_setup_teardown(test_never_allocated, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_caps_strerror_efault, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_basic, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_limit, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_huge, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_free_rules, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_free_mapped, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_free_then_realloc_reads_zero, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_window_reserve, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_vm, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_frames_copy, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_window_release, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_basic, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_rejects, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_first_bad_entry_decides, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_scatter, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_query, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_data_stays_with_frame, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_fork_not_inherited, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_tlb_coherence, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_stats_counters, tu_setup, tu_teardown),
    };

    tu_init();
    return cmocka_run_group_tests_name("native", tests, NULL, NULL);
}
