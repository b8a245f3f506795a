/*
 * tests/test_engine.c: the page cache's contract (engine/awecache.h), call by call.
 *
 * Configuration checks, creating and opening files (foreign, locked, of another page size),
 * pins (shared, exclusive, waiting, errors), batches, EBUSY, prefetch, the counters, closed
 * handles, a file larger than the frames with a window smaller than them (three page sizes, with
 * and without O_DIRECT and io_uring), corruption of pages, checksum records and superblocks.
 *
 * Every test starts and ends with no AWE frames or windows held (the fixtures check it), so a
 * failed open that leaks shows in the test that caused it. Backing files live in a scratch
 * directory under the build tree (engine_util.h), removed at exit.
 */
#include "engine_util.h"
#include "plat_testing.h"
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define K4  ((size_t)4096)
#define K64 ((size_t)65536)
#define M2  ((size_t)2 << 20)

/* ---- Fixtures and helpers ---------------------------------------------------------------- */

static struct awe_stats base; /* AWE's counters when the test started */

static int setup(void **state)
{
    (void)state;
    assert_int_equal(awe_get_stats(&base), AWE_OK);
    return 0;
}

/* Every cache closed, nothing leaked by failed opens. A test that failed half way may have left
 * its cache open: it is closed here first, so that the next tests start clean. */
static void assert_released(void)
{
    struct awe_stats now;

    assert_int_equal(awe_get_stats(&now), AWE_OK);
    assert_int_equal(now.frames_allocated, base.frames_allocated);
    assert_int_equal(now.windows, base.windows);
    assert_int_equal(now.vmas_in_use, base.vmas_in_use);
}

static int teardown(void **state)
{
    (void)state;
    if (et_close_all() == 0) /* a test that passed closed everything itself */
        assert_released();
    return 0;
}

/* A path in the scratch directory, with any file of that name removed. */
static const char *fresh(char *buf, size_t len, const char *name)
{
    et_path(buf, len, name);
    et_unlink(buf);
    return buf;
}

/* Pins `page` exclusively, writes `version` of it, unpins dirty. */
static void put_page(awc_t *c, size_t ps, uint64_t page, uint64_t version)
{
    void *p = NULL;

    ET_EXPECT(awc_pin(c, page, AWC_EXCLUSIVE, &p), AWC_OK);
    assert_non_null(p);
    et_fill(p, ps, page, version);
    ET_EXPECT(awc_unpin(c, page, 1), AWC_OK);
}

/* Asserts that the bytes at p are version `version` of `page` (0: zeros). */
static void check_bytes(const void *p, size_t ps, uint64_t page, uint64_t version)
{
    uint64_t got = UINT64_MAX;
    enum et_verdict v = et_check(p, ps, page, &got);

    if (v != ET_GOOD)
        fail_msg("page %llu: %s (expected version %llu)", (unsigned long long)page, et_check_str(v),
                 (unsigned long long)version);
    if (got != version)
        fail_msg("page %llu: version %llu, expected %llu", (unsigned long long)page,
                 (unsigned long long)got, (unsigned long long)version);
}

/* Pins `page` shared, checks it holds `version`, unpins. */
static void check_page(awc_t *c, size_t ps, uint64_t page, uint64_t version)
{
    void *p = NULL;

    ET_EXPECT(awc_pin(c, page, AWC_SHARED, &p), AWC_OK);
    check_bytes(p, ps, page, version);
    ET_EXPECT(awc_unpin(c, page, 0), AWC_OK);
}

/* Asserts that `page` holds no pin (an unpin says so and changes nothing). */
static void assert_not_pinned(awc_t *c, uint64_t page)
{
    ET_EXPECT(awc_unpin(c, page, 0), AWC_ENOTPINNED);
}

static uint64_t hits(const struct awc_stats *s)
{
    return s->window_hits + s->frame_hits;
}

/* ---- Configuration ----------------------------------------------------------------------- */

static void test_config_invalid(void **state)
{
    char path[1024];
    struct {
        size_t page;
        uint64_t frames, window; /* bytes */
        const char *why;
    } bad[] = {
        {0, 64 * K4, 8 * K4, "page size 0"},
        {4095, 64 * K4, 8 * K4, "page size 4095"},
        {2048, 64 * K4, 8 * K4, "page size 2048 (< 4096)"},
        {1024, 64 * K4, 8 * K4, "page size 1024 (< 4096)"},
        {12288, 64 * 12288, 8 * 12288, "page size 12 KiB (not a power of two)"},
        {65536 + 4096, 64 * K64, 8 * K64, "page size 68 KiB (not a power of two)"},
        {(size_t)4 << 20, (uint64_t)16 << 20, (uint64_t)4 << 20, "page size 4 MiB (> 2 MiB)"},
        {(size_t)3 << 20, (uint64_t)12 << 20, (uint64_t)3 << 20, "page size 3 MiB"},
        {K4, 0, 0, "frame budget 0"},
        {K4, K4 - 1, K4 - 1, "frame budget < one page"},
        {M2, M2 - 4096, M2 - 4096, "frame budget < one 2 MiB page"},
        {K4, 64 * K4, K4 - 1, "window budget < one page"},
        {K4, 64 * K4, 65 * K4, "window budget > frame budget"},
        {K4, 8 * K4, 8 * K4 + 1, "window budget > frame budget by one byte"},
    };
    struct awc_config cfg;
    awc_t *c;

    (void)state;
    fresh(path, sizeof(path), "config");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg = (struct awc_config){path, bad[i].page, bad[i].frames, bad[i].window, AWC_CREATE};
        c = NULL;
        int rc = awc_open(&cfg, &c);

        if (rc != AWC_EINVAL)
            fail_msg("%s: awc_open returned %d (%s), expected AWC_EINVAL", bad[i].why, rc,
                     awc_strerror(rc));
        if (et_exists(path))
            fail_msg("%s: awc_open failed but created the file", bad[i].why);
        assert_released();
    }

    /* NULL arguments. */
    cfg = et_cfg(path, K4, 16, 4, AWC_CREATE);
    ET_EXPECT(awc_open(NULL, &c), AWC_EINVAL);
    ET_EXPECT(awc_open(&cfg, NULL), AWC_EINVAL);
    cfg.path = NULL;
    ET_EXPECT(awc_open(&cfg, &c), AWC_EINVAL);
    assert_false(et_exists(path));
    assert_released();

    /* The edges that are valid: one 2 MiB page of frames and window; budgets that are not
     * whole pages round down. */
    cfg = et_cfg(path, M2, 1, 1, AWC_CREATE);
    c = et_open(&cfg);
    struct awc_stats st = et_stats(c);
    assert_int_equal(st.frames, 1);
    assert_int_equal(st.slots, 1);
    et_close(c);
    et_unlink(path);

    cfg = et_cfg(path, K4, 3, 2, AWC_CREATE);
    cfg.frame_budget += K4 / 2;
    cfg.window_budget += K4 / 2;
    c = et_open(&cfg);
    st = et_stats(c);
    assert_int_equal(st.frames, 3);
    assert_int_equal(st.slots, 2);
    et_close(c);
    et_unlink(path);

    /* A window of 0 is the default (README 1.1): all the frames up to 64 MiB of them (identity
     * where the platform maps them so), else a quarter of them, at most 64 MiB. */
    static const struct {
        uint64_t frames, slots;
    } dflt[] = {{16, 16}, {16384, 16384}, {16385, 4096}, {32768, 8192}, {131072, 16384}};
    for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++) {
        cfg = et_cfg(path, K4, dflt[i].frames, 1, AWC_CREATE);
        cfg.window_budget = 0;
        c = et_open(&cfg);
        st = et_stats(c);
        assert_int_equal(st.frames + (st.copy_window ? st.slots : 0), dflt[i].frames);
        assert_int_equal(st.slots, dflt[i].slots);
        et_close(c);
        et_unlink(path);
    }
}

/* ---- Creating and opening ---------------------------------------------------------------- */

static void test_create_open(void **state)
{
    char path[1024], sub[1024];
    struct awc_config cfg;
    awc_t *c;

    (void)state;
    fresh(path, sizeof(path), "create");

    /* No file, no AWC_CREATE: ENOENT, nothing created (also read-only). */
    cfg = et_cfg(path, K4, 16, 4, 0);
    ET_EXPECT(awc_open(&cfg, &c), AWC_ENOENT);
    cfg.flags = AWC_READONLY;
    ET_EXPECT(awc_open(&cfg, &c), AWC_ENOENT);
    assert_false(et_exists(path));

    /* A file created and closed with nothing written opens again, empty (read-only too). */
    cfg.flags = AWC_CREATE | AWC_EXCL;
    et_close(et_open(&cfg));
    assert_true(et_exists(path));
    cfg.flags = 0;
    c = et_open(&cfg);
    assert_int_equal(et_stats(c).pages_in_file, 0);
    check_page(c, K4, 0, 0);
    et_close(c);
    cfg.flags = AWC_READONLY;
    c = et_open(&cfg);
    check_page(c, K4, 0, 0);
    et_close(c);
    et_unlink(path);

    /* CREATE | EXCL makes it; again is EEXIST. */
    cfg.flags = AWC_CREATE | AWC_EXCL;
    c = et_open(&cfg);
    assert_true(et_exists(path));
    put_page(c, K4, 0, 1);
    et_close(c);
    ET_EXPECT(awc_open(&cfg, &c), AWC_EEXIST);
    assert_released();

    /* Plain open and CREATE of an existing file open it, contents kept. */
    cfg.flags = 0;
    c = et_open(&cfg);
    check_page(c, K4, 0, 1);
    et_close(c);
    cfg.flags = AWC_CREATE;
    c = et_open(&cfg);
    check_page(c, K4, 0, 1);
    et_close(c);

    /* A missing directory on the way: ENOENT. */
    snprintf(sub, sizeof(sub), "%s/no-such-dir/file", et_dir());
    cfg = et_cfg(sub, K4, 16, 4, AWC_CREATE);
    ET_EXPECT(awc_open(&cfg, &c), AWC_ENOENT);

    /* A directory is not a backing file: an error, not a crash. */
    cfg = et_cfg(et_dir(), K4, 16, 4, AWC_CREATE);
    assert_int_not_equal(awc_open(&cfg, &c), AWC_OK);
    assert_released();
    et_unlink(path);
}

/* ---- Foreign files ----------------------------------------------------------------------- */

/* Writes n pseudo-random bytes as the file at path. */
static void write_random_file(const char *path, size_t n, uint64_t seed)
{
    unsigned char *b = malloc(n);

    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(et_rand(&seed) >> 56);
    et_unlink(path);
    et_pwrite(path, b, n, 0);
    free(b);
}

/* Opens a foreign file with every flag combination that might touch it: each must fail with
 * `want` and leave the file's bytes as they were. */
static void expect_refused(const char *path, size_t ps, int want)
{
    uint64_t size = et_file_size(path);
    unsigned char *before = malloc(size + 1), *after = malloc(size + 1);
    unsigned flags[] = {0, AWC_CREATE, AWC_READONLY, AWC_NO_DIRECT | AWC_NO_URING};
    awc_t *c;

    assert_non_null(before);
    assert_non_null(after);
    if (size > 0)
        et_pread(path, before, size, 0);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        struct awc_config cfg = et_cfg(path, ps, 16, 4, flags[i]);

        ET_EXPECT(awc_open(&cfg, &c), want);
        assert_released();
    }
    assert_int_equal(et_file_size(path), size);
    if (size > 0) {
        et_pread(path, after, size, 0);
        assert_memory_equal(before, after, size);
    }
    free(before);
    free(after);
}

static void test_foreign_file(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    unsigned char zeros[16384] = {0};

    (void)state;
    fresh(path, sizeof(path), "foreign");

    /* Random bytes, large and tiny. */
    write_random_file(path, ET_MIB + 4096, 42);
    expect_refused(path, K4, AWC_EBADFILE);
    write_random_file(path, 100, 43);
    expect_refused(path, K4, AWC_EBADFILE);
    write_random_file(path, 8192 + 4096 + ET_SEG_PAGES * 4096,
                      44); /* the size of a one-segment file */
    expect_refused(path, K4, AWC_EBADFILE);

    /* Zeros where the superblocks should be. */
    et_unlink(path);
    et_pwrite(path, zeros, sizeof(zeros), 0);
    expect_refused(path, K4, AWC_EBADFILE);

    /* Not files at all, and an empty file: never an awecache file (awc_get_file_info said
     * AWC_EINVAL for /dev/null and a directory). */
    {
        struct awc_file_info info;
        struct awc_config dev = et_cfg("/dev/null", K4, 16, 4, 0);
        char dir[1024];

        ET_EXPECT(awc_get_file_info("/dev/null", &info), AWC_EBADFILE);
        ET_EXPECT(awc_get_file_info(et_path(dir, sizeof(dir), ""), &info), AWC_EBADFILE);
        ET_EXPECT(awc_open(&dev, &c), AWC_EBADFILE);
        dev.path = dir;
        ET_EXPECT(awc_open(&dev, &c), AWC_EBADFILE);
        assert_released();
        et_unlink(path);
        et_pwrite(path, zeros, 0, 0);
        ET_EXPECT(awc_get_file_info(path, &info), AWC_EBADFILE);
    }

    /* An awecache file of another page size: refused (EINVAL: a configuration that does not
     * match the file; EBADFILE is accepted too, the header does not name one), and not harmed. */
    et_unlink(path);
    cfg = et_cfg(path, K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 3, 7);
    et_close(c);
    size_t other[] = {8192, K64, M2};
    for (size_t i = 0; i < 3; i++) {
        cfg = et_cfg(path, other[i], 2, 1, 0);
        ET_EXPECT2(awc_open(&cfg, &c), AWC_EINVAL, AWC_EBADFILE);
        assert_released();
    }
    cfg = et_cfg(path, K4, 16, 4, 0);
    c = et_open(&cfg); /* the failed opens left no lock behind */
    check_page(c, K4, 3, 7);
    et_close(c);

    /* The other way round: a 64 KiB file opened with 4 KiB pages. */
    et_unlink(path);
    cfg = et_cfg(path, K64, 4, 2, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K64, 1, 1);
    et_close(c);
    cfg = et_cfg(path, K4, 16, 4, 0);
    ET_EXPECT2(awc_open(&cfg, &c), AWC_EINVAL, AWC_EBADFILE);
    cfg = et_cfg(path, K64, 4, 2, 0);
    c = et_open(&cfg);
    check_page(c, K64, 1, 1);
    et_close(c);
    et_unlink(path);
}

/* A file whose length is not whole segments (a crash while growing) opens, its pages intact,
 * and is cut back to whole segments (README 5.6). */
/* Bytes past the last whole segment (a checksum block cut short: no page there) are left as
 * they are, and the file still grows a whole segment at a time past them. */
static void test_partial_segment(void **state)
{
    char path[1024];
    unsigned char junk[1000];
    struct awc_config cfg;
    awc_t *c;
    uint64_t size;

    (void)state;
    fresh(path, sizeof(path), "partial");
    cfg = et_cfg(path, K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    for (uint64_t p = 0; p < 10; p++)
        put_page(c, K4, p, p + 1);
    et_close(c);
    size = et_file_size(path);
    assert_int_equal((size - ET_DATA_BASE) % (4096 + ET_SEG_PAGES * K4), 0);
    memset(junk, 0xa5, sizeof(junk));
    et_pwrite(path, junk, sizeof(junk), size);
    c = et_open(&cfg);
    for (uint64_t p = 0; p < 10; p++)
        check_page(c, K4, p, p + 1);
    check_page(c, K4, 10, 0);
    check_page(c, K4, ET_SEG_PAGES + 3, 0);
    et_close(c);
    assert_int_equal(et_file_size(path), size + sizeof(junk)); /* opening destroys nothing */
    c = et_open(&cfg);
    put_page(c, K4, ET_SEG_PAGES + 3, 7);
    et_close(c);
    assert_int_equal(et_file_size(path), size + (4096 + ET_SEG_PAGES * K4));
    c = et_open(&cfg);
    for (uint64_t p = 0; p < 10; p++)
        check_page(c, K4, p, p + 1);
    check_page(c, K4, ET_SEG_PAGES + 3, 7);
    check_page(c, K4, ET_SEG_PAGES + 4, 0);
    et_close(c);
    et_unlink(path);
}

/* ---- Locking ----------------------------------------------------------------------------- */

static const char *lock_path;

/* In a fork()ed child: 0 if awc_open says AWC_ELOCKED, 1 if it opened, 2 otherwise. */
static int child_open(void *arg)
{
    struct awc_config cfg = et_cfg(lock_path, K4, 16, 4, 0);
    awc_t *c = NULL;
    int rc = awc_open(&cfg, &c);

    (void)arg;
    if (rc == AWC_ELOCKED)
        return 0;
    if (rc == AWC_OK) {
        awc_close(c);
        return 1;
    }
    fprintf(stderr, "child: awc_open returned %d (%s)\n", rc, awc_strerror(rc));
    return 2;
}

static void test_locked(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c, *c2;

    (void)state;
    lock_path = fresh(path, sizeof(path), "locked");
    cfg = et_cfg(path, K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 1, 1);

    /* In this process, and from a child process. */
    ET_EXPECT(awc_open(&cfg, &c2), AWC_ELOCKED);
    cfg.flags = 0;
    ET_EXPECT(awc_open(&cfg, &c2), AWC_ELOCKED);
    cfg.flags = AWC_CREATE | AWC_NO_DIRECT | AWC_NO_URING;
    ET_EXPECT(awc_open(&cfg, &c2), AWC_ELOCKED);
    assert_int_equal(tu_run_child(child_open, NULL), 0);

    /* The first cache is unharmed by the refused opens. */
    check_page(c, K4, 1, 1);
    et_close(c);

    /* Closed: both may open it now. */
    assert_int_equal(tu_run_child(child_open, NULL), 1);
    cfg.flags = 0;
    c = et_open(&cfg);
    check_page(c, K4, 1, 1);
    et_close(c);
    et_unlink(path);
}

/* ---- Pins -------------------------------------------------------------------------------- */

static void test_pin_shared_many(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p0 = NULL, *p;
    struct awc_stats before, after;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "shared"), K4, 16, 8, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 3, 1);
    before = et_stats(c);
    for (int i = 0; i < 100; i++) {
        ET_EXPECT(awc_pin(c, 3, AWC_SHARED, &p), AWC_OK);
        if (i == 0)
            p0 = p;
        assert_ptr_equal(p, p0);
        check_bytes(p, K4, 3, 1);
    }
    after = et_stats(c);
    assert_int_equal(hits(&after) - hits(&before), 100);
    assert_int_equal(after.misses, before.misses);
    ET_EXPECT(awc_close(c), AWC_EBUSY); /* pins held */
    for (int i = 0; i < 100; i++)
        ET_EXPECT(awc_unpin(c, 3, 0), AWC_OK);
    assert_not_pinned(c, 3);
    assert_not_pinned(c, 4); /* never pinned at all */
    assert_not_pinned(c, 1000000);
    et_close(c);
    et_unlink(path);
}

struct waiter {
    awc_t *c;
    uint64_t page;
    int mode;
    size_t ps;
    _Atomic int state;   /* 0 started, 1 pinned, 2 done */
    int rc;              /* of the pin */
    uint64_t version;    /* what the pin showed */
    uint64_t write_next; /* exclusive: write this version before unpinning (0: none) */
    pthread_t th;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    void *p = NULL;

    w->rc = awc_pin(w->c, w->page, w->mode, &p);
    if (w->rc == AWC_OK) {
        atomic_store(&w->state, 1);
        if (et_check(p, w->ps, w->page, &w->version) != ET_GOOD)
            w->version = UINT64_MAX;
        if (w->write_next != 0)
            et_fill(p, w->ps, w->page, w->write_next);
        w->rc = awc_unpin(w->c, w->page, w->write_next != 0);
    }
    atomic_store(&w->state, 2);
    return NULL;
}

static void start_waiter(struct waiter *w, awc_t *c, uint64_t page, int mode, uint64_t write_next)
{
    memset(w, 0, sizeof(*w));
    w->c = c;
    w->page = page;
    w->mode = mode;
    w->ps = K4;
    w->write_next = write_next;
    assert_int_equal(pthread_create(&w->th, NULL, waiter_main, w), 0);
}

/* Waits up to 10 s for the waiter to be done; fails (leaving it blocked) if it is not. */
static void join_waiter(struct waiter *w, const char *what)
{
    uint64_t end = et_now_ns() + UINT64_C(10000000000);

    while (atomic_load(&w->state) != 2) {
        if (et_now_ns() > end)
            fail_msg("%s: the waiting pin did not complete within 10 s after the unpin", what);
        et_sleep_ms(1);
    }
    pthread_join(w->th, NULL);
    ET_EXPECT(w->rc, AWC_OK);
}

static void test_exclusive_excludes(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p;
    static struct waiter w[4]; /* static: a stuck waiter must not outlive a stack frame */

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "excl"), K4, 16, 8, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 1, 1);

    /* 1. An exclusive pin holds off a shared pin of another thread until it is unpinned; the
     *    waiter then sees what the writer wrote. */
    ET_EXPECT(awc_pin(c, 1, AWC_EXCLUSIVE, &p), AWC_OK);
    start_waiter(&w[0], c, 1, AWC_SHARED, 0);
    et_sleep_ms(150);
    assert_int_equal(atomic_load(&w[0].state), 0);
    et_fill(p, K4, 1, 2);
    ET_EXPECT(awc_unpin(c, 1, 1), AWC_OK);
    join_waiter(&w[0], "shared after exclusive");
    assert_int_equal(w[0].version, 2);

    /* 2. A shared pin holds off an exclusive one; other pages are not held off meanwhile. */
    ET_EXPECT(awc_pin(c, 1, AWC_SHARED, &p), AWC_OK);
    start_waiter(&w[0], c, 1, AWC_EXCLUSIVE, 3);
    et_sleep_ms(150);
    assert_int_equal(atomic_load(&w[0].state), 0);
    start_waiter(&w[1], c, 2, AWC_EXCLUSIVE, 1);
    join_waiter(&w[1], "exclusive pin of another page");
    check_bytes(p, K4, 1, 2); /* nobody wrote under our shared pin */
    ET_EXPECT(awc_unpin(c, 1, 0), AWC_OK);
    join_waiter(&w[0], "exclusive after shared");
    check_page(c, K4, 1, 3);

    /* 3. Several threads waiting on one exclusive pin (shared and exclusive) all get it. */
    ET_EXPECT(awc_pin(c, 1, AWC_EXCLUSIVE, &p), AWC_OK);
    start_waiter(&w[0], c, 1, AWC_SHARED, 0);
    start_waiter(&w[1], c, 1, AWC_SHARED, 0);
    start_waiter(&w[2], c, 1, AWC_SHARED, 0);
    start_waiter(&w[3], c, 1, AWC_EXCLUSIVE, 5);
    et_sleep_ms(150);
    for (int i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&w[i].state), 0);
    et_fill(p, K4, 1, 4);
    ET_EXPECT(awc_unpin(c, 1, 1), AWC_OK);
    for (int i = 0; i < 4; i++)
        join_waiter(&w[i], "one of four waiters");
    for (int i = 0; i < 3; i++)
        assert_true(w[i].version == 4 || w[i].version == 5);
    assert_int_equal(w[3].version, 4); /* then it wrote 5 */
    check_page(c, K4, 1, 5);
    et_close(c);
    et_unlink(path);
}

static void test_write_flush_reopen(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    struct awc_stats st;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "reopen"), K4, 32, 8, AWC_CREATE);
    c = et_open(&cfg);
    for (uint64_t p = 0; p < 20; p++)
        put_page(c, K4, p, p + 1);
    for (uint64_t p = 0; p < 20; p++)
        check_page(c, K4, p, p + 1); /* before any write-back: from frames */
    st = et_stats(c);
    assert_int_equal(st.writebacks, 0);
    assert_int_equal(st.flushes, 0);
    ET_EXPECT(awc_flush(c), AWC_OK);
    st = et_stats(c);
    assert_int_equal(st.writebacks, 20);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(st.pages_in_file, 20);
    assert_true(st.bytes_written >= 20 * K4);
    ET_EXPECT(awc_flush(c), AWC_OK); /* nothing dirty: nothing written */
    st = et_stats(c);
    assert_int_equal(st.writebacks, 20);
    assert_int_equal(st.flushes, 2);
    et_close(c);

    c = et_open(&cfg);
    st = et_stats(c);
    assert_int_equal(st.pages_in_file, 20);
    assert_true(st.checksum_bytes >= 20 * 16);
    for (uint64_t p = 0; p < 20; p++)
        check_page(c, K4, p, p + 1);
    st = et_stats(c);
    assert_int_equal(st.misses, 20);
    assert_true(st.bytes_read >= 20 * K4);
    et_close(c);
    et_unlink(path);
}

/* awc_writeback_range writes the dirty pages of its range only, without a flush; a page outside
 * it stays dirty (a pinned one in it too), and awc_writeback then writes the rest. */
static void test_writeback_range(void **state)
{
    char path[1024];
    struct awc_config cfg = et_cfg(fresh(path, sizeof(path), "wbrange"), K4, 32, 8, AWC_CREATE);
    awc_t *c = et_open(&cfg);
    void *p = NULL;

    (void)state;
    for (uint64_t q = 0; q < 10; q++)
        put_page(c, K4, q, q + 1);
    ET_EXPECT(awc_pin(c, 4, AWC_SHARED, &p), AWC_OK);
    ET_EXPECT(awc_writeback_range(c, 2, 0), AWC_OK);
    assert_int_equal(et_stats(c).writebacks, 0);
    ET_EXPECT(awc_writeback_range(c, 2, 4), AWC_OK); /* pages 2, 3 and 5: 4 is pinned */
    assert_int_equal(et_stats(c).writebacks, 3);
    ET_EXPECT(awc_writeback_range(c, 2, 4), AWC_OK); /* clean now, 4 still pinned */
    assert_int_equal(et_stats(c).writebacks, 3);
    ET_EXPECT(awc_unpin(c, 4, 0), AWC_OK);
    ET_EXPECT(awc_writeback_range(c, 8, UINT64_MAX), AWC_OK); /* to the last page: 8 and 9 */
    assert_int_equal(et_stats(c).writebacks, 5);
    ET_EXPECT(awc_writeback(c), AWC_OK); /* 0, 1, 4, 6, 7 */
    assert_int_equal(et_stats(c).writebacks, 10);
    assert_int_equal(et_stats(c).flushes, 0);
    et_close(c);
    c = et_open(&cfg);
    for (uint64_t q = 0; q < 10; q++)
        check_page(c, K4, q, q + 1);
    et_close(c);
    et_unlink(path);
}

/* The highest page whose offset fits in 63 bits, for 4 KiB pages (README 5.7). */
static uint64_t hard_last_page(void)
{
    const uint64_t seg = 4096 + ET_SEG_PAGES * (uint64_t)K4;

    return ((uint64_t)INT64_MAX - ET_DATA_BASE) / seg * ET_SEG_PAGES - 1;
}

static void test_past_end_zeros(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    uint64_t limit;
    const uint64_t far[] = {0, 1, 254, 255, 256, 4096, 1000000, UINT64_C(3000000000)};
    void *p;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "zeros"), K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    limit = et_stats(c).page_limit;
    assert_true(limit > far[sizeof(far) / sizeof(far[0]) - 1] && limit - 1 <= hard_last_page());
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++)
        check_page(c, K4, far[i], 0);
    check_page(c, K4, limit - 1, 0);
    /* Past the file system's limit (ext4: 2^32 pages of 4 KiB): refused at pin time, in every
     * mode, rather than dirtied and left unwritable; past 63 bits of offset: AWC_EINVAL. */
    ET_EXPECT(awc_pin(c, limit, AWC_EXCLUSIVE, &p),
              limit <= hard_last_page() ? AWC_EFBIG : AWC_EINVAL);
    ET_EXPECT(awc_pin(c, limit, AWC_SHARED, &p),
              limit <= hard_last_page() ? AWC_EFBIG : AWC_EINVAL);
    ET_EXPECT(awc_pin(c, hard_last_page() + 1, AWC_SHARED, &p), AWC_EINVAL);
    assert_int_equal(et_stats(c).pages_in_file, 0);
    put_page(c, K4, 5, 1);
    ET_EXPECT(awc_flush(c), AWC_OK);
    assert_int_equal(et_stats(c).pages_in_file, 6);
    check_page(c, K4, 4, 0);
    check_page(c, K4, 6, 0);
    check_page(c, K4, 300, 0);
    et_close(c);

    c = et_open(&cfg);
    assert_int_equal(et_stats(c).pages_in_file, 6);
    check_page(c, K4, 5, 1);
    for (uint64_t q = 0; q < 5; q++)
        check_page(c, K4, q, 0);
    check_page(c, K4, 6, 0);
    check_page(c, K4, 255, 0);
    check_page(c, K4, 256, 0);
    check_page(c, K4, 1000000, 0);
    et_close(c);
    et_unlink(path);
}

static void test_unpin_errors(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "unpin"), K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 2, 1);

    assert_not_pinned(c, 7); /* never seen */
    assert_not_pinned(c, 2); /* cached, not pinned */
    ET_EXPECT(awc_unpin(c, 2, 1), AWC_ENOTPINNED);

    /* Dirty unpin of a shared pin: EINVAL, and the pin is still held. */
    ET_EXPECT(awc_pin(c, 2, AWC_SHARED, &p), AWC_OK);
    ET_EXPECT(awc_unpin(c, 2, 1), AWC_EINVAL);
    ET_EXPECT(awc_unpin(c, 2, 0), AWC_OK);
    assert_not_pinned(c, 2);

    /* Bad arguments of pin change nothing. */
    ET_EXPECT(awc_pin(c, 2, 3, &p), AWC_EINVAL);
    ET_EXPECT(awc_pin(c, 2, -1, &p), AWC_EINVAL);
    ET_EXPECT(awc_pin(c, 2, AWC_SHARED, NULL), AWC_EINVAL);
    assert_not_pinned(c, 2);

    /* A clean unpin of an exclusive pin discards nothing that was flushed, and keeps the
     * change in frames (the caller said clean: the engine need not write it). */
    ET_EXPECT(awc_pin(c, 2, AWC_EXCLUSIVE, &p), AWC_OK);
    check_bytes(p, K4, 2, 1);
    ET_EXPECT(awc_unpin(c, 2, 0), AWC_OK);
    assert_not_pinned(c, 2);
    check_page(c, K4, 2, 1);
    et_close(c);
    et_unlink(path);
}

static void test_edeadlk(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p, *q, *out[3];
    const uint64_t batch[3] = {4, 2, 6};

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "deadlk"), K4, 16, 8, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 2, 1);
    ET_EXPECT(awc_pin(c, 2, AWC_EXCLUSIVE, &p), AWC_OK);
    ET_EXPECT(awc_pin(c, 2, AWC_EXCLUSIVE, &q), AWC_EDEADLK);
    ET_EXPECT(awc_pin(c, 2, AWC_SHARED, &q), AWC_EDEADLK);
    /* In a batch: all or nothing, the other pages of the batch are not left pinned. */
    ET_EXPECT(awc_pin_batch(c, batch, 3, AWC_EXCLUSIVE, out), AWC_EDEADLK);
    ET_EXPECT(awc_pin_batch(c, batch, 3, AWC_SHARED, out), AWC_EDEADLK);
    assert_not_pinned(c, 4);
    assert_not_pinned(c, 6);
    /* Exactly one pin of page 2 is held: the failed pins took none. */
    et_fill(p, K4, 2, 2);
    ET_EXPECT(awc_unpin(c, 2, 1), AWC_OK);
    assert_not_pinned(c, 2);
    check_page(c, K4, 2, 2);
    et_close(c);
    et_unlink(path);
}

static void test_readonly(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p, *out[2];
    const uint64_t pages[2] = {1, 2};

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "readonly"), K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 1, 1);
    put_page(c, K4, 2, 1);
    et_close(c);

    cfg.flags = AWC_READONLY;
    c = et_open(&cfg);
    ET_EXPECT(awc_pin(c, 1, AWC_EXCLUSIVE, &p), AWC_EACCES);
    ET_EXPECT(awc_pin_batch(c, pages, 2, AWC_EXCLUSIVE, out), AWC_EACCES);
    assert_not_pinned(c, 1);
    assert_not_pinned(c, 2);
    ET_EXPECT(awc_pin(c, 1, AWC_SHARED, &p), AWC_OK);
    check_bytes(p, K4, 1, 1);
    ET_EXPECT2(awc_unpin(c, 1, 1), AWC_EACCES, AWC_EINVAL);
    ET_EXPECT(awc_unpin(c, 1, 0), AWC_OK);
    ET_EXPECT(awc_pin_batch(c, pages, 2, AWC_SHARED, out), AWC_OK);
    check_bytes(out[0], K4, 1, 1);
    check_bytes(out[1], K4, 2, 1);
    ET_EXPECT(awc_unpin(c, 1, 0), AWC_OK);
    ET_EXPECT(awc_unpin(c, 2, 0), AWC_OK);
    check_page(c, K4, 100, 0);
    ET_EXPECT(awc_prefetch(c, 0, 8), AWC_OK);
    ET_EXPECT(awc_flush(c), AWC_OK);
    et_close(c);
    et_unlink(path);
}

/* ---- Batches ----------------------------------------------------------------------------- */

static void test_pin_batch(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *out[16], *p;
    struct awc_stats a, b;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "batch"), K4, 32, 8, AWC_CREATE);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < 16; i++)
        put_page(c, K4, i, i + 1);

    /* Distinct pages, any order: distinct pointers, right contents. */
    {
        const uint64_t pg[4] = {12, 1, 7, 3};

        ET_EXPECT(awc_pin_batch(c, pg, 4, AWC_SHARED, out), AWC_OK);
        for (int i = 0; i < 4; i++) {
            check_bytes(out[i], K4, pg[i], pg[i] + 1);
            for (int j = 0; j < i; j++)
                assert_ptr_not_equal(out[i], out[j]);
        }
        for (int i = 0; i < 4; i++)
            ET_EXPECT(awc_unpin(c, pg[i], 0), AWC_OK);
        for (int i = 0; i < 4; i++)
            assert_not_pinned(c, pg[i]);
    }

    /* Exclusive batch: written through, dirty, read back. */
    {
        const uint64_t pg[2] = {9, 2};

        ET_EXPECT(awc_pin_batch(c, pg, 2, AWC_EXCLUSIVE, out), AWC_OK);
        et_fill(out[0], K4, 9, 100);
        et_fill(out[1], K4, 2, 100);
        ET_EXPECT(awc_unpin(c, 9, 1), AWC_OK);
        ET_EXPECT(awc_unpin(c, 2, 1), AWC_OK);
        check_page(c, K4, 9, 100);
        check_page(c, K4, 2, 100);
    }

    /* Duplicates, too many pages, bad mode, NULLs: EINVAL (or EBUSY for too many), nothing
     * pinned. */
    {
        const uint64_t dup[3] = {1, 2, 1};
        uint64_t many[9];

        for (int i = 0; i < 9; i++)
            many[i] = 100 + (uint64_t)i;
        ET_EXPECT(awc_pin_batch(c, dup, 3, AWC_SHARED, out), AWC_EINVAL);
        assert_not_pinned(c, 1);
        assert_not_pinned(c, 2);
        ET_EXPECT2(awc_pin_batch(c, many, 9, AWC_SHARED, out), AWC_EINVAL, AWC_EBUSY);
        for (int i = 0; i < 9; i++)
            assert_not_pinned(c, many[i]);
        ET_EXPECT(awc_pin_batch(c, many, 2, 5, out), AWC_EINVAL);
        ET_EXPECT(awc_pin_batch(c, NULL, 2, AWC_SHARED, out), AWC_EINVAL);
        ET_EXPECT(awc_pin_batch(c, many, 2, AWC_SHARED, NULL), AWC_EINVAL);
        assert_not_pinned(c, 100);
        assert_not_pinned(c, 101);

        /* Exactly the window: fits. */
        ET_EXPECT(awc_pin_batch(c, many, 8, AWC_SHARED, out), AWC_OK);
        for (int i = 0; i < 8; i++) {
            check_bytes(out[i], K4, many[i], 0);
            ET_EXPECT(awc_unpin(c, many[i], 0), AWC_OK);
        }
    }

    /* All or nothing: six slots pinned, a batch of three new pages cannot fit. */
    {
        const uint64_t three[3] = {26, 27, 28};
        const uint64_t mixed[2] = {20, 30};

        for (uint64_t i = 20; i < 26; i++)
            ET_EXPECT(awc_pin(c, i, AWC_SHARED, &p), AWC_OK);
        ET_EXPECT(awc_pin_batch(c, three, 3, AWC_SHARED, out), AWC_EBUSY);
        for (int i = 0; i < 3; i++)
            assert_not_pinned(c, three[i]);
        /* A batch with a page pinned already (shared) and one new page: fits (one slot). */
        ET_EXPECT(awc_pin_batch(c, mixed, 2, AWC_SHARED, out), AWC_OK);
        check_bytes(out[0], K4, 20, 0);
        ET_EXPECT(awc_unpin(c, 20, 0), AWC_OK);
        ET_EXPECT(awc_unpin(c, 30, 0), AWC_OK);
        for (uint64_t i = 20; i < 26; i++)
            ET_EXPECT(awc_unpin(c, i, 0), AWC_OK);
        ET_EXPECT(awc_pin_batch(c, three, 3, AWC_SHARED, out), AWC_OK);
        for (int i = 0; i < 3; i++)
            ET_EXPECT(awc_unpin(c, three[i], 0), AWC_OK);
    }

    /* One map call and one miss per page for a batch of new pages (in a fresh cache, so that
     * every page needs a mapping: a victim buffer still mapped somewhere would need none), with
     * the window remapped (AWC_MAP_WINDOW; in copy mode no call at all, README 4.3). */
    et_close(c);
    cfg.flags |= AWC_MAP_WINDOW;
    c = et_open(&cfg);
    {
        const uint64_t pg[4] = {43, 40, 42, 41};

        a = et_stats(c);
        ET_EXPECT(awc_pin_batch(c, pg, 4, AWC_SHARED, out), AWC_OK);
        b = et_stats(c);
        assert_int_equal(b.misses - a.misses, 4);
        assert_int_equal(b.map_calls - a.map_calls, 1);
        assert_int_equal(b.pages_mapped - a.pages_mapped, 4);
        for (int i = 0; i < 4; i++)
            ET_EXPECT(awc_unpin(c, pg[i], 0), AWC_OK);
    }
    et_close(c);

    /* Everything written through batches survived. */
    c = et_open(&cfg);
    for (uint64_t i = 0; i < 16; i++)
        check_page(c, K4, i, i == 2 || i == 9 ? 100 : i + 1);
    et_close(c);
    et_unlink(path);
}

/* ---- EBUSY ------------------------------------------------------------------------------- */

static void busy_case(uint64_t frames, uint64_t slots)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p, *held[64];
    int rc;

    cfg = et_cfg(fresh(path, sizeof(path), "busy"), K4, frames, slots, AWC_CREATE);
    c = et_open(&cfg);
    assert_int_equal(et_stats(c).slots, slots);
    for (uint64_t i = 0; i < slots; i++) {
        ET_EXPECT(awc_pin(c, i, AWC_EXCLUSIVE, &held[i]), AWC_OK);
        et_fill(held[i], K4, i, 1);
    }
    ET_EXPECT(awc_pin(c, slots, AWC_SHARED, &p), AWC_EBUSY);
    ET_EXPECT(awc_pin(c, slots + 1, AWC_EXCLUSIVE, &p), AWC_EBUSY);
    rc = awc_prefetch(c, 1000, 4);
    if (rc != AWC_OK && rc != AWC_EBUSY)
        fail_msg("prefetch with every slot pinned: %d (%s)", rc, awc_strerror(rc));
    assert_not_pinned(c, slots);
    /* The held pages are untouched by the refused pins. */
    for (uint64_t i = 0; i < slots; i++)
        check_bytes(held[i], K4, i, 1);
    /* One unpinned: the next pin fits. */
    ET_EXPECT(awc_unpin(c, 0, 1), AWC_OK);
    ET_EXPECT(awc_pin(c, slots, AWC_SHARED, &p), AWC_OK);
    check_bytes(p, K4, slots, 0);
    ET_EXPECT(awc_unpin(c, slots, 0), AWC_OK);
    for (uint64_t i = 1; i < slots; i++)
        ET_EXPECT(awc_unpin(c, i, 1), AWC_OK);
    et_close(c);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < slots; i++)
        check_page(c, K4, i, 1);
    et_close(c);
    et_unlink(path);
}

static void test_ebusy(void **state)
{
    (void)state;
    busy_case(16, 8); /* every slot pinned */
    busy_case(4, 4);  /* every frame (and slot) pinned */
    busy_case(1, 1);
}

/* A pinned page keeps its address and contents while many others pass through the window. */
static void test_pinned_stays(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p, *q;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "stays"), K4, 8, 4, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 0, 1);
    ET_EXPECT(awc_pin(c, 0, AWC_SHARED, &p), AWC_OK);
    for (uint64_t i = 1; i < 200; i++) {
        ET_EXPECT(awc_pin(c, i, AWC_EXCLUSIVE, &q), AWC_OK);
        assert_ptr_not_equal(p, q);
        et_fill(q, K4, i, 1);
        ET_EXPECT(awc_unpin(c, i, 1), AWC_OK);
        check_bytes(p, K4, 0, 1);
    }
    assert_true(et_stats(c).frame_evictions > 0);
    ET_EXPECT(awc_pin(c, 0, AWC_SHARED, &q), AWC_OK);
    assert_ptr_equal(p, q);
    ET_EXPECT(awc_unpin(c, 0, 0), AWC_OK);
    ET_EXPECT(awc_unpin(c, 0, 0), AWC_OK);
    for (uint64_t i = 0; i < 200; i++)
        check_page(c, K4, i, 1);
    et_close(c);
    et_unlink(path);
}

/* ---- Prefetch ---------------------------------------------------------------------------- */

static void test_prefetch(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    struct awc_stats a, b;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "prefetch"), K4, 64, 16, AWC_CREATE);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < 32; i++)
        put_page(c, K4, i, i + 1);
    et_close(c);

    c = et_open(&cfg);
    a = et_stats(c);
    ET_EXPECT(awc_prefetch(c, 0, 32), AWC_OK);
    b = et_stats(c);
    assert_int_equal(b.misses - a.misses, 32);
    assert_int_equal(hits(&b), hits(&a));
    for (uint64_t i = 0; i < 32; i++)
        assert_not_pinned(c, i);               /* prefetch pins nothing */
    ET_EXPECT(awc_prefetch(c, 0, 32), AWC_OK); /* cached: skipped */
    ET_EXPECT(awc_prefetch(c, 8, 0), AWC_OK);
    a = et_stats(c);
    assert_int_equal(a.misses, b.misses);
    for (uint64_t i = 0; i < 32; i++)
        check_page(c, K4, i, i + 1);
    b = et_stats(c);
    assert_int_equal(b.misses, a.misses);
    assert_int_equal(hits(&b) - hits(&a), 32);

    /* A count that overflows. */
    ET_EXPECT(awc_prefetch(c, UINT64_MAX - 2, 10), AWC_EINVAL);
    ET_EXPECT(awc_prefetch(c, 1, UINT64_MAX), AWC_EINVAL);
    et_close(c);
    et_unlink(path);
}

/* Prefetch pins nothing (the header), so pins held by the caller do not stop it while a slot is
 * free: AWC_EBUSY is for "every frame or window slot is pinned". */
static void test_prefetch_with_pins(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    struct awc_stats a, b;
    void *p;
    int rc;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "prefetch-pins"), K4, 64, 8, AWC_CREATE);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < 7; i++)
        ET_EXPECT(awc_pin(c, i, AWC_SHARED, &p), AWC_OK); /* 7 of the 8 slots */
    a = et_stats(c);
    rc = awc_prefetch(c, 100, 16);
    b = et_stats(c);
    if (rc != AWC_OK)
        print_message("awc_prefetch(100, 16) with 7 of 8 slots pinned: %d (%s), %llu pages "
                      "read\n",
                      rc, awc_strerror(rc), (unsigned long long)(b.misses - a.misses));
    for (uint64_t i = 0; i < 7; i++)
        ET_EXPECT(awc_unpin(c, i, 0), AWC_OK);
    ET_EXPECT(rc, AWC_OK);
    assert_int_equal(b.misses - a.misses, 16);
    for (uint64_t i = 100; i < 116; i++)
        check_page(c, K4, i, 0);
    assert_int_equal(et_stats(c).misses, b.misses); /* all were in frames */
    et_close(c);
    et_unlink(path);
}

/* ---- Counters ---------------------------------------------------------------------------- */

static void pin_unpin(awc_t *c, uint64_t page)
{
    void *p;

    ET_EXPECT(awc_pin(c, page, AWC_SHARED, &p), AWC_OK);
    ET_EXPECT(awc_unpin(c, page, 0), AWC_OK);
}

static void test_stats(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    struct awc_stats s, t;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "stats"), K4, 8, 4, AWC_CREATE);
    c = et_open(&cfg);
    ET_EXPECT(awc_get_stats(c, NULL), AWC_EINVAL);
    s = et_stats(c);
    assert_int_equal(s.window_hits, 0);
    assert_int_equal(s.frame_hits, 0);
    assert_int_equal(s.misses, 0);
    assert_int_equal(s.window_evictions, 0);
    assert_int_equal(s.frame_evictions, 0);
    assert_int_equal(s.writebacks, 0);
    assert_int_equal(s.map_calls, 0);
    assert_int_equal(s.pages_mapped, 0);
    assert_int_equal(s.checksum_failures, 0);
    assert_int_equal(s.flushes, 0);
    assert_int_equal(s.pages_in_file, 0);
    assert_int_equal(s.frames, 8);
    assert_int_equal(s.slots, 4);

    /* A miss: one read into a frame, one map call. */
    pin_unpin(c, 0);
    s = et_stats(c);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.map_calls, 1);
    assert_int_equal(s.pages_mapped, 1);
    assert_int_equal(hits(&s), 0);

    /* A window hit: no call. */
    pin_unpin(c, 0);
    s = et_stats(c);
    assert_int_equal(s.window_hits, 1);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.map_calls, 1);

    /* Fill the window, then one more: a window eviction. */
    for (uint64_t i = 1; i < 4; i++)
        pin_unpin(c, i);
    s = et_stats(c);
    assert_int_equal(s.misses, 4);
    assert_int_equal(s.window_evictions, 0);
    pin_unpin(c, 4);
    s = et_stats(c);
    assert_int_equal(s.misses, 5);
    assert_int_equal(s.map_calls, 5);
    assert_int_equal(s.window_evictions, 1);
    assert_int_equal(s.frame_evictions, 0);

    /* All five again: all in frames; each one not in the window costs a window eviction. */
    for (uint64_t i = 0; i < 5; i++)
        pin_unpin(c, i);
    t = et_stats(c);
    assert_int_equal(t.misses, 5);
    assert_int_equal(hits(&t) - hits(&s), 5);
    assert_true(t.frame_hits - s.frame_hits >= 1);
    assert_int_equal(t.window_evictions - s.window_evictions, t.frame_hits - s.frame_hits);
    assert_int_equal(t.map_calls - s.map_calls, t.frame_hits - s.frame_hits);

    /* New pages past the 8 frames: every miss past the first 8 evicts one frame. */
    for (uint64_t i = 5; i < 13; i++)
        pin_unpin(c, i);
    s = et_stats(c);
    assert_int_equal(s.misses, 13);
    assert_int_equal(s.frame_evictions, 13 - 8);
    assert_int_equal(s.writebacks, 0);

    /* A dirty page evicted: one write-back, before any flush. */
    put_page(c, K4, 100, 1);
    for (uint64_t i = 200; i < 216; i++)
        pin_unpin(c, i);
    s = et_stats(c);
    assert_int_equal(s.writebacks, 1);
    assert_int_equal(s.flushes, 0);
    assert_true(s.bytes_written >= K4);
    assert_int_equal(s.pages_in_file, 101);
    assert_int_equal(s.frame_evictions, s.misses - 8);

    /* Flush with nothing dirty, then with one dirty page. */
    ET_EXPECT(awc_flush(c), AWC_OK);
    t = et_stats(c);
    assert_int_equal(t.flushes, 1);
    assert_int_equal(t.writebacks, 1);
    put_page(c, K4, 215, 1);
    ET_EXPECT(awc_flush(c), AWC_OK);
    t = et_stats(c);
    assert_int_equal(t.flushes, 2);
    assert_int_equal(t.writebacks, 2);
    assert_true(t.bytes_written >= s.bytes_written + K4);

    /* Read back from the file: bytes read. */
    s = et_stats(c);
    check_page(c, K4, 100, 1);
    t = et_stats(c);
    assert_int_equal(t.misses - s.misses, 1);
    assert_true(t.bytes_read - s.bytes_read >= K4);
    assert_int_equal(t.checksum_failures, 0);
    assert_true(t.checksum_bytes >= 216 * 16);
    et_close(c);
    et_unlink(path);
}

/* The frame CLOCK's usage count (engine/README.md 4.2) against AWC_CLOCK_COMPAT's bit, on two
 * frames (a window as large: identity mode, 4.4): A is pinned three times, then B, C and D miss.
 * C's sweep lowers A (count 2 to 1, or the bit to 0) and takes B; D's sweep finds A at 1 and
 * takes C (the count), or finds A at 0 and takes it (the bit). So A hits afterwards with the
 * count and misses with the bit. */
static void test_clock_count(void **state)
{
    char path[1024];
    struct awc_config cfg;
    struct awc_stats s;
    awc_t *c;

    (void)state;
    for (int compat = 0; compat < 2; compat++) {
        cfg = et_cfg(fresh(path, sizeof(path), compat ? "clock-compat" : "clock-count"), K4, 2, 2,
                     AWC_CREATE | (compat ? AWC_CLOCK_COMPAT : 0u));
        c = et_open(&cfg);
        s = et_stats(c);
        assert_int_equal(s.identity_window, 1);
        for (int i = 0; i < 3; i++)
            pin_unpin(c, 0);
        pin_unpin(c, 1);
        pin_unpin(c, 2);
        pin_unpin(c, 3);
        s = et_stats(c);
        assert_int_equal(s.misses, 4);
        pin_unpin(c, 0);
        s = et_stats(c);
        assert_int_equal(s.misses, compat ? 5 : 4);
        assert_int_equal(s.map_calls, 0); /* identity mode: the window never changes */
        et_close(c);
        et_unlink(path);
    }
}

/* Cleaning ahead (engine/README.md 4.2.7). Identity mode, 8 frames all dirty: the first miss
 * writes its victim and the 7 others in one batch, so the next 7 misses write nothing. Copy mode
 * (56 buffers, 8 slots): the buffers cleaned ahead include ones in no slot, copied out of their
 * frames. Every page reads back its version from the file, before and after a reopen. */
static void test_clean_ahead(void **state)
{
    char path[1024];
    struct awc_config cfg;
    struct awc_stats s;
    awc_t *c;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "clean-ahead"), K4, 8, 8, AWC_CREATE);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < 8; i++)
        put_page(c, K4, i, i + 1);
    assert_int_equal(et_stats(c).writebacks, 0);
    pin_unpin(c, 8);
    s = et_stats(c);
    assert_int_equal(s.writebacks, 8);
    assert_int_equal(s.writebacks_ahead, 7);
    for (uint64_t i = 9; i < 16; i++)
        pin_unpin(c, i);
    s = et_stats(c);
    assert_int_equal(s.writebacks, 8);
    assert_int_equal(s.frame_evictions, 8);
    for (uint64_t i = 0; i < 8; i++)
        check_page(c, K4, i, i + 1);
    et_close(c);

    cfg = et_cfg(path, K4, 64, 8, 0);
    c = et_open(&cfg);
    assert_int_equal(et_stats(c).copy_window, 1);
    for (uint64_t i = 0; i < 64; i++)
        put_page(c, K4, i, i + 100);
    s = et_stats(c);
    assert_true(s.writebacks_ahead > 0);
    assert_true(s.writebacks_ahead < s.writebacks);
    for (uint64_t i = 0; i < 64; i++)
        check_page(c, K4, i, i + 100);
    for (uint64_t i = 0; i < 8; i++)
        check_page(c, K4, i, i + 100);
    et_close(c);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < 64; i++)
        check_page(c, K4, i, i + 100);
    assert_int_equal(et_stats(c).checksum_failures, 0);
    et_close(c);
    et_unlink(path);
}

/* Copy mode's flush (engine/README.md 4.3 item 4, 5.5): a dirty buffer in no slot is written from
 * a copy of its frames, never mapped. 2,000 dirty pages in 2,048 buffers and 64 slots (so more
 * than one round's copies, 1,024 pages of 4 KiB): awc_writeback_range, awc_writeback and
 * awc_flush write them with no map call, one copy for each page in no slot, and every page reads
 * back after a reopen. */
static void test_flush_copy(void **state)
{
    enum { FRAMES = 2112, SLOTS = 64, N = 2000 };
    char path[1024];
    struct awc_config cfg;
    struct awc_stats s, t;
    awc_t *c;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "flush-copy"), K4, FRAMES, SLOTS, AWC_CREATE);
    c = et_open(&cfg);
    s = et_stats(c);
    assert_int_equal(s.copy_window, 1);
    assert_int_equal(s.slots, SLOTS);
    for (uint64_t i = 0; i < N; i++)
        put_page(c, K4, i, i + 1);
    s = et_stats(c);
    assert_int_equal(s.writebacks, 0);
    assert_int_equal(s.frame_evictions, 0); /* nothing written before the calls below */

    /* A range in no slot (the slots show the last 64 pages put): 50 copies, 50 writes. */
    ET_EXPECT(awc_writeback_range(c, 100, 50), AWC_OK);
    t = et_stats(c);
    assert_int_equal(t.writebacks - s.writebacks, 50);
    assert_int_equal(t.window_copies - s.window_copies, 50);

    /* The rest: the 64 shown in slots are written from them. */
    ET_EXPECT(awc_writeback(c), AWC_OK);
    s = et_stats(c);
    assert_int_equal(s.writebacks - t.writebacks, N - 50);
    assert_int_equal(s.window_copies - t.window_copies, N - 50 - SLOTS);

    /* A second version of every page, then a flush. */
    for (uint64_t i = 0; i < N; i++)
        put_page(c, K4, i, i + 2);
    s = et_stats(c);
    ET_EXPECT(awc_flush(c), AWC_OK);
    t = et_stats(c);
    assert_int_equal(t.writebacks - s.writebacks, N);
    assert_int_equal(t.window_copies - s.window_copies, N - SLOTS);
    assert_int_equal(t.map_calls, 0); /* copy mode: no map call, flushes included */
    assert_int_equal(t.pages_mapped, 0);
    et_close(c);

    cfg = et_cfg(path, K4, FRAMES, SLOTS, 0);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < N; i++)
        check_page(c, K4, i, i + 2);
    t = et_stats(c);
    assert_int_equal(t.checksum_failures, 0);
    assert_int_equal(t.map_calls, 0);
    et_close(c);
    et_unlink(path);
}

/* The version of `page` the file holds (asserts it is a good one). */
static uint64_t version_on_disk(const char *path, uint64_t page)
{
    static unsigned char buf[4096];
    uint64_t v = UINT64_MAX;
    enum et_verdict r;

    et_pread(path, buf, K4, et_page_offset(K4, page));
    r = et_check(buf, K4, page, &v);
    if (r != ET_GOOD)
        fail_msg("page %llu on disk: %s", (unsigned long long)page, et_check_str(r));
    return v;
}

/* A frame copy that fails in copy mode's write-back (engine/README.md 5.5) fails that page alone.
 * Frame copies go through pread here (plat_testing_copy_frames_by_os), so that the gate can fail
 * one: a write-back's first OS call is the copy of its first page in no slot.
 * 1. awc_writeback (one round): the 99 others are written, the copy's error returned, that page
 *    keeps its old version on disk and stays dirty: the next flush writes it, alone.
 * 2. awc_flush: the error is returned, the others are written; its last round (the buffers
 *    unpinned meanwhile) lists the page again, dirty, so the once-failed copy is tried again.
 * Every page reads back after a reopen. */
static void test_flush_copy_fails(void **state)
{
    enum { FRAMES = 256, SLOTS = 16, N = 100 };
    char path[1024];
    struct awc_config cfg;
    struct awc_stats s, t;
    uint64_t failed = UINT64_MAX;
    awc_t *c;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "flush-copy-fail"), K4, FRAMES, SLOTS, AWC_CREATE);
    c = et_open(&cfg);
    assert_int_equal(et_stats(c).copy_window, 1);
    for (uint64_t i = 0; i < N; i++)
        put_page(c, K4, i, 1);
    ET_EXPECT(awc_flush(c), AWC_OK);
    for (uint64_t i = 0; i < N; i++)
        put_page(c, K4, i, 2);
    plat_testing_copy_frames_by_os(1);

    /* Step 1 */
    s = et_stats(c);
    plat_testing_fail_nth_os_call(1, EIO);
    ET_EXPECT(awc_writeback(c), AWC_EIO);
    plat_testing_fail_nth_os_call(0, 0);
    t = et_stats(c);
    assert_int_equal(t.writebacks - s.writebacks, N - 1);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t v = version_on_disk(path, i);

        if (v == 1) {
            assert_int_equal(failed, UINT64_MAX); /* one page alone */
            failed = i;
        } else {
            assert_int_equal(v, 2);
        }
    }
    assert_int_not_equal(failed, UINT64_MAX);
    s = et_stats(c);
    ET_EXPECT(awc_flush(c), AWC_OK);
    t = et_stats(c);
    assert_int_equal(t.writebacks - s.writebacks, 1);
    assert_int_equal(version_on_disk(path, failed), 2);

    /* Step 2 */
    for (uint64_t i = 0; i < N; i++)
        put_page(c, K4, i, 3);
    s = et_stats(c);
    plat_testing_fail_nth_os_call(1, EIO);
    ET_EXPECT(awc_flush(c), AWC_EIO);
    plat_testing_fail_nth_os_call(0, 0);
    t = et_stats(c);
    assert_int_equal(t.writebacks - s.writebacks, N); /* N - 1, then the page in the last round */
    assert_int_equal(t.flushes, s.flushes);           /* a flush that failed is not counted */
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(version_on_disk(path, i), 3);
    plat_testing_copy_frames_by_os(0);
    assert_int_equal(t.map_calls, 0);
    et_close(c);

    cfg = et_cfg(path, K4, FRAMES, SLOTS, 0);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < N; i++)
        check_page(c, K4, i, 3);
    assert_int_equal(et_stats(c).checksum_failures, 0);
    et_close(c);
    et_unlink(path);
}

/* ---- Closing ----------------------------------------------------------------------------- */

static void test_closed_handle(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p;
    struct awc_stats st;
    const uint64_t pg[2] = {1, 2};

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "closed"), K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 1, 1);
    et_close(c);
    ET_EXPECT(awc_pin(c, 1, AWC_SHARED, &p), AWC_ECLOSED);
    ET_EXPECT(awc_pin(c, 1, AWC_EXCLUSIVE, &p), AWC_ECLOSED);
    ET_EXPECT(awc_unpin(c, 1, 0), AWC_ECLOSED);
    ET_EXPECT(awc_unpin(c, 1, 1), AWC_ECLOSED);
    ET_EXPECT(awc_pin_batch(c, pg, 2, AWC_SHARED, (void **)&p), AWC_ECLOSED);
    ET_EXPECT(awc_prefetch(c, 0, 4), AWC_ECLOSED);
    ET_EXPECT(awc_flush(c), AWC_ECLOSED);
    ET_EXPECT(awc_get_stats(c, &st), AWC_ECLOSED);
    ET_EXPECT(awc_close(c), AWC_ECLOSED);
    ET_EXPECT(awc_close(c), AWC_ECLOSED);
    assert_released(); /* closed means released */

    /* The file can be opened again at once (the lock went with the close). */
    c = et_open(&cfg);
    check_page(c, K4, 1, 1);
    et_close(c);
    et_unlink(path);
}

static void test_close_busy(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p, *q;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "closebusy"), K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);
    ET_EXPECT(awc_pin(c, 1, AWC_EXCLUSIVE, &p), AWC_OK);
    ET_EXPECT(awc_close(c), AWC_EBUSY);
    /* Nothing was closed: the pin and the cache still work. */
    et_fill(p, K4, 1, 1);
    ET_EXPECT(awc_pin(c, 2, AWC_SHARED, &q), AWC_OK);
    ET_EXPECT(awc_close(c), AWC_EBUSY);
    ET_EXPECT(awc_unpin(c, 1, 1), AWC_OK);
    ET_EXPECT(awc_close(c), AWC_EBUSY);
    ET_EXPECT(awc_unpin(c, 2, 0), AWC_OK);
    et_close(c);
    c = et_open(&cfg);
    check_page(c, K4, 1, 1);
    et_close(c);
    et_unlink(path);
}

/* ---- Flush with pins held ---------------------------------------------------------------- */

struct flusher {
    awc_t *c;
    _Atomic int done;
    int rc;
};

static void *flusher_main(void *arg)
{
    struct flusher *f = arg;

    f->rc = awc_flush(f->c);
    atomic_store(&f->done, 1);
    return NULL;
}

static void test_flush_pinned(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p;
    static struct flusher f; /* static: a stuck flusher must not outlive a stack frame */
    pthread_t th;
    uint64_t end;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "flushpin"), K4, 16, 4, AWC_CREATE);
    c = et_open(&cfg);

    /* A dirty page pinned shared is written as it is. */
    put_page(c, K4, 3, 1);
    ET_EXPECT(awc_pin(c, 3, AWC_SHARED, &p), AWC_OK);
    ET_EXPECT(awc_flush(c), AWC_OK);
    assert_int_equal(et_stats(c).writebacks, 1);
    ET_EXPECT(awc_unpin(c, 3, 0), AWC_OK);

    /* A dirty page held exclusively by this thread: flush does not wait for the holder. */
    put_page(c, K4, 3, 2);
    ET_EXPECT(awc_pin(c, 3, AWC_EXCLUSIVE, &p), AWC_OK);
    et_fill(p, K4, 3, 3);
    ET_EXPECT(awc_flush(c), AWC_OK);

    /* Another thread's flush while this thread holds a dirty page exclusively, half way through
     * changing it: the flush never waits for another thread's pin, and does not write the page
     * (no consistent version of it exists): version 3 stays on disk until a later flush. */
    ET_EXPECT(awc_unpin(c, 3, 1), AWC_OK); /* version 3, dirty */
    ET_EXPECT(awc_flush(c), AWC_OK);
    ET_EXPECT(awc_pin(c, 3, AWC_EXCLUSIVE, &p), AWC_OK);
    memset(p, 0x77, K4 / 2); /* half way through writing version 4 */
    f.c = c;
    assert_int_equal(pthread_create(&th, NULL, flusher_main, &f), 0);
    end = et_now_ns() + UINT64_C(5000000000);
    while (!atomic_load(&f.done)) {
        if (et_now_ns() > end) {
            ET_EXPECT(awc_unpin(c, 3, 0), AWC_OK); /* let it go, then report */
            pthread_join(th, NULL);
            fail_msg("awc_flush in another thread waited for this thread's exclusive pin");
        }
        et_sleep_ms(1);
    }
    pthread_join(th, NULL);
    ET_EXPECT(f.rc, AWC_OK);
    {
        char *img = aligned_alloc(4096, K4);
        uint64_t v = 0;
        enum et_verdict d;

        assert_non_null(img);
        et_pread(path, img, K4, et_page_offset(K4, 3)); /* what a crash now would leave */
        d = et_check(img, K4, 3, &v);
        free(img);
        if (d != ET_GOOD || v != 3)
            fail_msg("after a flush that met another thread's exclusive pin, page 3 on disk is "
                     "%s, version %llu (expected version 3, the last one unpinned)",
                     et_check_str(d), (unsigned long long)v);
    }
    et_fill(p, K4, 3, 4);
    ET_EXPECT(awc_unpin(c, 3, 1), AWC_OK);
    et_close(c);
    c = et_open(&cfg);
    check_page(c, K4, 3, 4);
    et_close(c);
    et_unlink(path);
}

/* ---- Flush and pins in several threads: no deadlock -------------------------------------- */

/* A helper thread's script: pin `page` exclusively (announce it), wait for `go`, then either
 * flush or pin `then_pin` exclusively, then unpin everything dirty. */
struct holder {
    awc_t *c;
    uint64_t page, then_pin; /* then_pin UINT64_MAX: flush instead */
    _Atomic int *go;
    _Atomic int held, done;
    int rc;
    pthread_t th;
};

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    void *p, *q;

    h->rc = awc_pin(h->c, h->page, AWC_EXCLUSIVE, &p);
    if (h->rc != AWC_OK) {
        atomic_store(&h->held, 1);
        atomic_store(&h->done, 1);
        return NULL;
    }
    et_fill(p, K4, h->page, 2);
    atomic_store(&h->held, 1);
    while (!atomic_load(h->go))
        et_sleep_ms(1);
    if (h->then_pin == UINT64_MAX) {
        h->rc = awc_flush(h->c);
    } else {
        h->rc = awc_pin(h->c, h->then_pin, AWC_EXCLUSIVE, &q);
        if (h->rc == AWC_OK) {
            et_fill(q, K4, h->then_pin, 3);
            h->rc = awc_unpin(h->c, h->then_pin, 1);
        }
    }
    if (awc_unpin(h->c, h->page, 1) != AWC_OK && h->rc == AWC_OK)
        h->rc = AWC_EIO; /* any error will do: the unpin failed */
    atomic_store(&h->done, 1);
    return NULL;
}

static void start_holder(struct holder *h, awc_t *c, uint64_t page, uint64_t then_pin,
                         _Atomic int *go)
{
    memset(h, 0, sizeof(*h));
    h->c = c;
    h->page = page;
    h->then_pin = then_pin;
    h->go = go;
    assert_int_equal(pthread_create(&h->th, NULL, holder_main, h), 0);
    while (!atomic_load(&h->held))
        et_sleep_ms(1);
}

/* Waits up to 5 s for both; false if they are stuck (then they are left as they are: the
 * process ends with them). */
static bool holders_done(struct holder *a, struct holder *b)
{
    uint64_t end = et_now_ns() + UINT64_C(5000000000);

    while (!atomic_load(&a->done) || !atomic_load(&b->done)) {
        if (et_now_ns() > end)
            return false;
        et_sleep_ms(1);
    }
    pthread_join(a->th, NULL);
    pthread_join(b->th, NULL);
    return true;
}

/* Two threads, each holding one dirty page exclusively, both call awc_flush. Nothing in the
 * header makes this wait on anything but the other flush: it must complete. */
static void test_flush_two_holders(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    /* Static: if the threads deadlock they outlive this function and must not point into its
     * stack frame. */
    static struct holder a, b;
    static _Atomic int go;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "flush2"), K4, 16, 8, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 1, 1); /* both dirty */
    put_page(c, K4, 2, 1);
    start_holder(&a, c, 1, UINT64_MAX, &go);
    start_holder(&b, c, 2, UINT64_MAX, &go);
    atomic_store(&go, 1);
    if (!holders_done(&a, &b))
        fail_msg("deadlock: two threads, each holding an exclusive pin of a dirty page, called "
                 "awc_flush; after 5 s %s",
                 atomic_load(&a.done) || atomic_load(&b.done) ? "one of them is still stuck"
                                                              : "neither returned");
    ET_EXPECT(a.rc, AWC_OK);
    ET_EXPECT(b.rc, AWC_OK);
    et_close(c);
    c = et_open(&cfg);
    check_page(c, K4, 1, 2);
    check_page(c, K4, 2, 2);
    et_close(c);
    et_unlink(path);
}

/* Thread A holds page 1 and flushes; thread B holds dirty page 2 and waits to pin page 1 (which
 * the header allows: a pin waits for a conflicting holder). A's flush must not wait for B's page
 * (B waits for A): it must complete, then B gets page 1 once A unpins. */
static void test_flush_pin_cycle(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    static struct holder a, b; /* static: as in test_flush_two_holders */
    static _Atomic int go_b, go_a;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "flushcycle"), K4, 16, 8, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 1, 1);
    put_page(c, K4, 2, 1);
    start_holder(&a, c, 1, UINT64_MAX, &go_a); /* will flush */
    start_holder(&b, c, 2, 1, &go_b);          /* will pin page 1: waits for A */
    atomic_store(&go_b, 1);
    et_sleep_ms(50); /* B is now waiting for page 1 */
    atomic_store(&go_a, 1);
    if (!holders_done(&a, &b))
        fail_msg("deadlock: thread A (holding page 1) called awc_flush while thread B (holding "
                 "dirty page 2) waited to pin page 1; after 5 s %s",
                 atomic_load(&a.done) ? "B is still stuck" : "A's flush has not returned");
    ET_EXPECT(a.rc, AWC_OK);
    ET_EXPECT(b.rc, AWC_OK);
    et_close(c);
    c = et_open(&cfg);
    check_page(c, K4, 1, 3);
    check_page(c, K4, 2, 2);
    et_close(c);
    et_unlink(path);
}

/* ---- Unpin while the page table changes ------------------------------------------------- */

struct churner {
    awc_t *c;
    _Atomic int stop;
    int rc; /* the first error */
};

/* Misses over many pages, so that entries come and go in the page table all the time. */
static void *churner_main(void *arg)
{
    struct churner *k = arg;
    uint64_t page = 1000;
    void *p;

    while (!atomic_load(&k->stop) && k->rc == AWC_OK) {
        k->rc = awc_pin(k->c, page, AWC_SHARED, &p);
        if (k->rc == AWC_OK)
            k->rc = awc_unpin(k->c, page, 0);
        page = page + 1 < 100000 ? page + 1 : 1000;
    }
    return NULL;
}

/* A page that is pinned must always be found by its unpin, whatever the other threads do to the
 * page table meanwhile (inserts, removals, and whatever reorganises it). */
static void test_unpin_while_table_changes(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    static struct churner k; /* static: the thread must not outlive a stack frame */
    pthread_t th;
    uint64_t end, rounds = 0, bad = 0, retries = 0;
    char msg[512];
    int first_bad = AWC_OK;
    void *p;

    (void)state;
    cfg = et_cfg(fresh(path, sizeof(path), "churn"), K4, 16, 8, AWC_CREATE);
    c = et_open(&cfg);
    put_page(c, K4, 0, 1);
    k.c = c;
    assert_int_equal(pthread_create(&th, NULL, churner_main, &k), 0);
    end = et_now_ns() + UINT64_C(700000000);
    while (et_now_ns() < end && bad == 0) {
        ET_EXPECT(awc_pin(c, 0, AWC_SHARED, &p), AWC_OK);
        for (int i = 0; i < 100 && bad == 0; i++) {
            int rc;

            ET_EXPECT(awc_pin(c, 0, AWC_SHARED, &p), AWC_OK);
            rc = awc_unpin(c, 0, 0);
            if (rc != AWC_OK) {
                uint64_t give_up = et_now_ns() + UINT64_C(2000000000);

                bad++;
                first_bad = rc;
                /* The pin is still there: release it (once the unpin finds it again). */
                while (awc_unpin(c, 0, 0) != AWC_OK && et_now_ns() < give_up)
                    retries++;
            }
            rounds++;
        }
        ET_EXPECT(awc_unpin(c, 0, 0), AWC_OK);
    }
    atomic_store(&k.stop, 1);
    pthread_join(th, NULL);
    ET_EXPECT(k.rc, AWC_OK);
    if (bad != 0)
        snprintf(msg, sizeof(msg),
                 "awc_unpin of a pinned page returned %d (%s) after %llu pin/unpin pairs, while "
                 "another thread missed over many pages; it found the pin again after %llu more "
                 "tries",
                 first_bad, awc_strerror(first_bad), (unsigned long long)rounds,
                 (unsigned long long)retries);
    check_page(c, K4, 0, 1);
    et_close(c);
    et_unlink(path);
    if (bad != 0)
        fail_msg("%s", msg);
}

/* ---- Two caches at once ------------------------------------------------------------------ */

static void test_two_caches(void **state)
{
    char pa[1024], pb[1024];
    struct awc_config ca, cb;
    awc_t *a, *b;

    (void)state;
    ca = et_cfg(fresh(pa, sizeof(pa), "two-a"), K4, 8, 4, AWC_CREATE);
    cb = et_cfg(fresh(pb, sizeof(pb), "two-b"), K64, 4, 2, AWC_CREATE);
    a = et_open(&ca);
    b = et_open(&cb);
    for (uint64_t i = 0; i < 40; i++) {
        put_page(a, K4, i, 1000 + i);
        put_page(b, K64, i, 2000 + i);
    }
    for (uint64_t i = 0; i < 40; i++) {
        check_page(a, K4, i, 1000 + i);
        check_page(b, K64, i, 2000 + i);
    }
    et_close(a);
    et_close(b);
    a = et_open(&ca);
    b = et_open(&cb);
    for (uint64_t i = 0; i < 40; i++) {
        check_page(b, K64, i, 2000 + i);
        check_page(a, K4, i, 1000 + i);
    }
    et_close(a);
    et_close(b);
    et_unlink(pa);
    et_unlink(pb);
}

/* ---- A file larger than the frames ------------------------------------------------------- */

struct big_case {
    size_t ps;
    uint64_t pages, frames, slots;
    unsigned flags;
};

/* Writes every page of the case (single pins and batches mixed), reads all of them back through
 * the cache, rewrites the odd ones, flushes, closes, reopens (with and without O_DIRECT) and
 * checks every page. */
static void test_big(void **state)
{
    const struct big_case *k = *state;
    char path[1024], name[64];
    struct awc_config cfg;
    awc_t *c;
    struct awc_stats st;
    uint64_t batch[64], half = k->slots / 2 ? k->slots / 2 : 1;
    void *out[64];

    snprintf(name, sizeof(name), "big-%zu-%u", k->ps, k->flags);
    cfg =
        et_cfg(fresh(path, sizeof(path), name), k->ps, k->frames, k->slots, AWC_CREATE | k->flags);
    c = et_open(&cfg);
    st = et_stats(c);
    if (k->flags & AWC_NO_DIRECT)
        assert_int_equal(st.direct_io, 0);
    if (k->flags & AWC_NO_URING)
        assert_int_equal(st.io_uring, 0);
    print_message("page %zu KiB, %llu pages, %llu frames, %llu slots: direct_io %u, io_uring %u\n",
                  k->ps / 1024, (unsigned long long)k->pages, (unsigned long long)k->frames,
                  (unsigned long long)st.slots, st.direct_io, st.io_uring);

    /* 1. Version 1 of every page: every third group of pages as an exclusive batch. */
    for (uint64_t p = 0; p < k->pages;) {
        uint64_t n = (p / half) % 3 == 1 ? half : 1;

        if (p + n > k->pages)
            n = k->pages - p;
        if (n == 1) {
            put_page(c, k->ps, p, 1);
        } else {
            for (uint64_t i = 0; i < n; i++)
                batch[i] = p + n - 1 - i; /* descending, for variety */
            ET_EXPECT(awc_pin_batch(c, batch, n, AWC_EXCLUSIVE, out), AWC_OK);
            for (uint64_t i = 0; i < n; i++)
                et_fill(out[i], k->ps, batch[i], 1);
            for (uint64_t i = 0; i < n; i++)
                ET_EXPECT(awc_unpin(c, batch[i], 1), AWC_OK);
        }
        p += n;
    }
    st = et_stats(c);
    assert_true(st.frame_evictions > 0);
    assert_true(st.writebacks > 0);
    assert_true(st.window_evictions > 0);

    /* 2. All back through the cache (the evicted ones from the file). */
    for (uint64_t p = 0; p < k->pages; p++)
        check_page(c, k->ps, p, 1);
    st = et_stats(c);
    assert_int_equal(st.checksum_failures, 0);

    /* 3. Odd pages: version 2; flush; check all in reverse order. */
    for (uint64_t p = 1; p < k->pages; p += 2)
        put_page(c, k->ps, p, 2);
    ET_EXPECT(awc_flush(c), AWC_OK);
    for (uint64_t p = k->pages; p-- > 0;)
        check_page(c, k->ps, p, p % 2 ? 2 : 1);
    et_close(c);

    /* 4. Reopen as written, then with the other I/O mode: the format does not depend on it. */
    for (int round = 0; round < 2; round++) {
        cfg.flags = round == 0 ? k->flags : (k->flags ^ AWC_NO_DIRECT);
        c = et_open(&cfg);
        st = et_stats(c);
        assert_int_equal(st.pages_in_file, k->pages);
        for (uint64_t p = 0; p < k->pages; p++)
            check_page(c, k->ps, p, p % 2 ? 2 : 1);
        check_page(c, k->ps, k->pages, 0);
        assert_int_equal(et_stats(c).checksum_failures, 0);
        et_close(c);
    }
    et_unlink(path);
}

/* ---- Corruption -------------------------------------------------------------------------- */

/* Makes a closed file of `pages` pages, page p holding version p + 1. */
static void make_file(const char *path, size_t ps, uint64_t pages, uint64_t frames)
{
    struct awc_config cfg = et_cfg(path, ps, frames, frames / 2 ? frames / 2 : 1, AWC_CREATE);
    awc_t *c = et_open(&cfg);

    for (uint64_t p = 0; p < pages; p++)
        put_page(c, ps, p, p + 1);
    et_close(c);
}

static void test_corrupt_page(void **state)
{
    const size_t ps = *(const size_t *)*state;
    const uint64_t pages = 300, bad1 = 5, bad2 = 260, bad3 = 7;
    char path[1024], name[64];
    struct awc_config cfg;
    awc_t *c;
    void *p, *out[3];
    const uint64_t batch[3] = {4, 5, 6};

    snprintf(name, sizeof(name), "corrupt-%zu", ps);
    fresh(path, sizeof(path), name);
    make_file(path, ps, pages, 32);
    /* Damage: a byte in page 5 and one in page 260 (second segment), and page 7's checksum
     * record. */
    et_flip_byte(path, et_page_offset(ps, bad1) + 100);
    et_flip_byte(path, et_page_offset(ps, bad2) + ps - 1);
    et_flip_byte(path, et_ck_offset(ps, bad3) + 3);

    for (int round = 0; round < 2; round++) {
        cfg = et_cfg(path, ps, 32, 8, 0);
        c = et_open(&cfg);
        ET_EXPECT(awc_pin(c, bad1, AWC_SHARED, &p), AWC_ECHECKSUM);
        assert_int_equal(et_stats(c).checksum_failures, 1);
        ET_EXPECT(awc_pin(c, bad2, AWC_SHARED, &p), AWC_ECHECKSUM);
        assert_int_equal(et_stats(c).checksum_failures, 2);
        ET_EXPECT(awc_pin(c, bad3, AWC_SHARED, &p), AWC_ECHECKSUM);
        assert_int_equal(et_stats(c).checksum_failures, 3);
        /* Not cached as garbage: asking again fails again, exclusively too. */
        ET_EXPECT(awc_pin(c, bad1, AWC_EXCLUSIVE, &p), AWC_ECHECKSUM);
        assert_int_equal(et_stats(c).checksum_failures, 4);
        assert_not_pinned(c, bad1);
        /* A batch with a bad page: nothing of it pinned. */
        ET_EXPECT(awc_pin_batch(c, batch, 3, AWC_SHARED, out), AWC_ECHECKSUM);
        assert_not_pinned(c, 4);
        assert_not_pinned(c, 6);
        /* Every other page is fine. */
        for (uint64_t q = 0; q < pages; q++)
            if (q != bad1 && q != bad2 && q != bad3)
                check_page(c, ps, q, q + 1);
        et_close(c); /* and the second round sees the damage again: nothing was "repaired" */
    }
    /* AWC_OVERWRITE: a damaged page is not read but starts as zeros, and can be written anew;
     * a page in frames keeps its contents. */
    cfg = et_cfg(path, ps, 32, 8, 0);
    c = et_open(&cfg);
    ET_EXPECT(awc_pin(c, bad1, AWC_OVERWRITE, &p), AWC_OK);
    assert_true(((const unsigned char *)p)[0] == 0 && ((const unsigned char *)p)[ps - 1] == 0);
    ET_EXPECT(awc_pin(c, bad1, AWC_SHARED, &out[0]), AWC_EDEADLK); /* held exclusively */
    ET_EXPECT(awc_unpin(c, bad1, 1), AWC_OK);
    assert_int_equal(et_stats(c).checksum_failures, 0);
    put_page(c, ps, bad1, 77);
    ET_EXPECT(awc_pin(c, 9, AWC_SHARED, &p), AWC_OK); /* cached now */
    ET_EXPECT(awc_unpin(c, 9, 0), AWC_OK);
    ET_EXPECT(awc_pin(c, 9, AWC_OVERWRITE, &p), AWC_OK);
    ET_EXPECT(awc_unpin(c, 9, 0), AWC_OK);
    check_page(c, ps, 9, 10);
    et_close(c);
    c = et_open(&cfg);
    check_page(c, ps, bad1, 77);
    check_page(c, ps, 9, 10);
    et_close(c);
    et_unlink(path);
}

static void test_corrupt_superblock(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    const uint64_t spots[] = {0, 9, 20, 33, 41, 50, 4095};

    (void)state;
    fresh(path, sizeof(path), "sb");
    cfg = et_cfg(path, K4, 16, 4, 0);

    /* One copy damaged (either one, anywhere in it): the file opens from the other, read-only
     * and read-write, and a close (which writes a superblock) keeps it openable. */
    for (int copy = 0; copy < 2; copy++) {
        for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++) {
            if (s > 2 && copy == 1 && s != 6)
                continue; /* a few spots suffice for copy 1 */
            make_file(path, K4, 10, 16);
            et_flip_byte(path, (uint64_t)copy * ET_SB_SIZE + spots[s]);
            cfg.flags = AWC_READONLY;
            c = et_open(&cfg);
            check_page(c, K4, 9, 10);
            et_close(c);
            cfg.flags = 0;
            c = et_open(&cfg);
            check_page(c, K4, 3, 4);
            put_page(c, K4, 10, 11);
            et_close(c);
            c = et_open(&cfg);
            check_page(c, K4, 10, 11);
            check_page(c, K4, 0, 1);
            et_close(c);
            et_unlink(path);
        }
    }

    /* Both copies damaged: EBADFILE, whatever the flags. */
    make_file(path, K4, 10, 16);
    et_flip_byte(path, 0);
    et_flip_byte(path, ET_SB_SIZE + 20);
    expect_refused(path, K4, AWC_EBADFILE);
    et_unlink(path);
}

/* ---- Zeroed, truncated and unwritable (engine/README.md 5.3, 5.6, 5.7) --------------------- */

/* Opens path read-only and read-write in turn and checks every page below `pages`: those in
 * [bad_lo, bad_hi) fail with AWC_ECHECKSUM (and are counted), the others hold version p + 1. */
static void expect_damage(const char *path, uint64_t pages, uint64_t bad_lo, uint64_t bad_hi)
{
    const unsigned flags[] = {AWC_READONLY, 0};

    for (size_t f = 0; f < 2; f++) {
        struct awc_config cfg = et_cfg(path, K4, 32, 8, flags[f]);
        awc_t *c = et_open(&cfg);
        uint64_t failures = 0;
        void *p;

        for (uint64_t q = 0; q < pages; q++) {
            if (q >= bad_lo && q < bad_hi) {
                ET_EXPECT(awc_pin(c, q, AWC_SHARED, &p), AWC_ECHECKSUM);
                failures++;
            } else {
                check_page(c, K4, q, q + 1);
            }
        }
        assert_int_equal(et_stats(c).checksum_failures, failures);
        assert_int_equal(et_stats(c).pages_in_file, pages);
        et_close(c);
    }
}

/* A page written once and covered by a flush, then zeroed on disk, is damage: before, the rule
 * "prev 0: the older version is zeros" let it read back as zeros. A zeroed checksum block makes
 * its pages fail, never read as never-written. */
static void test_zeroed_page(void **state)
{
    char path[1024];
    static char zeros[4096];

    (void)state;
    fresh(path, sizeof(path), "zeroed");
    make_file(path, K4, 300, 32);
    et_pwrite(path, zeros, K4, et_page_offset(K4, 5));
    expect_damage(path, 300, 5, 6);
    expect_damage(path, 300, 5, 6); /* and a read-write open repaired nothing into zeros */

    et_unlink(path);
    make_file(path, K4, 300, 32);
    et_pwrite(path, zeros, sizeof(zeros), et_ck_offset(K4, ET_SEG_PAGES)); /* segment 1's block */
    expect_damage(path, 300, ET_SEG_PAGES, 300);
    et_unlink(path);
}

/* A truncated file: pages it should hold but does not fail (never read as zeros), opening
 * (read-write too) cuts nothing, and a lost page written anew reads back again. */
static void test_truncated_file(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;
    uint64_t cut;
    void *p;

    (void)state;
    fresh(path, sizeof(path), "truncated");
    make_file(path, K4, 600, 64);
    cut = et_page_offset(K4, 266);
    et_truncate(path, cut); /* inside segment 1: pages 255..265 are whole */
    expect_damage(path, 600, 266, 600);
    assert_int_equal(et_file_size(path), cut);

    /* A page written anew (AWC_OVERWRITE: an exclusive pin reads it first, and fails) is
     * readable; the others stay lost after a reopen. */
    cfg = et_cfg(path, K4, 32, 8, 0);
    c = et_open(&cfg);
    ET_EXPECT(awc_pin(c, 599, AWC_EXCLUSIVE, &p), AWC_ECHECKSUM);
    for (uint64_t q = 300; q < 601; q += 299) {
        ET_EXPECT(awc_pin(c, q, AWC_OVERWRITE, &p), AWC_OK);
        et_fill(p, K4, q, q + 1);
        ET_EXPECT(awc_unpin(c, q, 1), AWC_OK);
    }
    et_close(c);
    c = et_open(&cfg);
    check_page(c, K4, 599, 600);
    check_page(c, K4, 300, 301);
    check_page(c, K4, 265, 266);
    ET_EXPECT(awc_pin(c, 598, AWC_SHARED, &p), AWC_ECHECKSUM);
    ET_EXPECT(awc_pin(c, 266, AWC_SHARED, &p), AWC_ECHECKSUM);
    ET_EXPECT(awc_pin(c, 510, AWC_SHARED, &p), AWC_ECHECKSUM);
    et_close(c);

    /* The last segment dropped whole (cut at a segment's end). */
    et_unlink(path);
    make_file(path, K4, 600, 64);
    et_truncate(path, et_ck_offset(K4, 2 * ET_SEG_PAGES));
    expect_damage(path, 600, 2 * ET_SEG_PAGES, 600);
    /* Cut inside the superblocks' area after them: every page is lost, the file still opens. */
    et_truncate(path, ET_DATA_BASE);
    expect_damage(path, 600, 0, 600);
    et_unlink(path);
}

/* In a fork()ed child: a flush that cannot write one page (the process's file size limit,
 * lowered after the open, stops the file from growing: EFBIG) writes every other page, keeps the
 * failing one dirty and says why; close loses only that page. */
static const char *unwritable_path;

static int unwritable_child(void *arg)
{
    struct awc_config cfg = et_cfg(unwritable_path, K4, 32, 8, AWC_CREATE);
    struct rlimit rl, low;
    awc_t *c = NULL;
    void *p;

    (void)arg;
    signal(SIGXFSZ, SIG_IGN);
    if (awc_open(&cfg, &c) != AWC_OK)
        return 10;
    for (uint64_t q = 0; q < 4; q++) {
        if (awc_pin(c, q, AWC_EXCLUSIVE, &p) != AWC_OK)
            return 11;
        et_fill(p, K4, q, 1);
        awc_unpin(c, q, 1);
    }
    if (awc_flush(c) != AWC_OK || getrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 12;
    low = rl;
    low.rlim_cur = et_file_size(unwritable_path); /* no second segment */
    if (setrlimit(RLIMIT_FSIZE, &low) != 0)
        return 13;
    for (uint64_t q = 0; q < 3; q++) { /* pages 0-2 get version 2, page 600 needs growth */
        uint64_t page = q == 2 ? 600 : q;

        if (awc_pin(c, page, AWC_EXCLUSIVE, &p) != AWC_OK)
            return 14;
        et_fill(p, K4, page, 2);
        awc_unpin(c, page, 1);
    }
    if (awc_flush(c) != AWC_EFBIG || awc_flush(c) != AWC_EFBIG) /* the true error, each time */
        return 15;
    if (awc_close(c) != AWC_EFBIG)
        return 16;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 17;
    return 0;
}

static void test_flush_unwritable(void **state)
{
    char path[1024];
    struct awc_config cfg;
    awc_t *c;

    (void)state;
    unwritable_path = fresh(path, sizeof(path), "unwritable");
    assert_int_equal(tu_run_child(unwritable_child, NULL), 0);
    cfg = et_cfg(path, K4, 32, 8, 0);
    c = et_open(&cfg);
    check_page(c, K4, 0, 2);
    check_page(c, K4, 1, 2);
    check_page(c, K4, 3, 1);
    check_page(c, K4, 600, 0); /* never written: lost with the close, as the error said */
    et_close(c);
    et_unlink(path);
}

/* ---- The randomized model test with damage ------------------------------------------------ */

#define MODEL_PAGES 700u /* three segments */

/* The model: each page's version (0: never written) and whether damage may have reached it
 * since it was last written (a damaged page reads back as its version or AWC_ECHECKSUM). */
struct model {
    uint64_t version[MODEL_PAGES];
    bool hurt[MODEL_PAGES];
    uint64_t next_version;
};

/* Marks the pages whose data or checksum record lie in [off, off + len) of the file. */
static void model_hurt_range(struct model *m, uint64_t off, uint64_t len)
{
    for (uint64_t q = 0; q < MODEL_PAGES; q++) {
        uint64_t d = et_page_offset(K4, q), ck = et_ck_offset(K4, q);
        uint64_t blk = ck - ck % 4096; /* the page's whole checksum block: its own checksum */

        if ((d < off + len && off < d + K4) || (blk < off + len && off < blk + 4096))
            m->hurt[q] = true;
    }
}

/* One damage step on the closed file, chosen at random; returns what it did, for messages. */
static const char *model_damage(struct model *m, const char *path, uint64_t *rng)
{
    static char zeros[4096];
    uint64_t size = et_file_size(path), q = et_rand_below(rng, MODEL_PAGES), off;

    switch (et_rand_below(rng, 6)) {
    case 0: /* zero a page */
        if (et_page_offset(K4, q) + K4 > size)
            return "nothing (the page lies past the end)";
        et_pwrite(path, zeros, K4, et_page_offset(K4, q));
        model_hurt_range(m, et_page_offset(K4, q), K4);
        return "zeroed a page";
    case 1: /* flip bytes in a page */
        for (int i = 0; i < 3; i++) {
            off = et_page_offset(K4, q) + et_rand_below(rng, K4);
            if (off < size) {
                et_flip_byte(path, off);
                model_hurt_range(m, off, 1);
            }
        }
        return "flipped bytes in a page";
    case 2: /* flip a byte of a checksum block */
        off = et_ck_offset(K4, q) + et_rand_below(rng, 4096 - et_ck_offset(K4, q) % 4096);
        if (off >= size)
            return "nothing (the block lies past the end)";
        et_flip_byte(path, off);
        model_hurt_range(m, off, 1);
        return "flipped a checksum block's byte";
    case 3: /* zero a checksum block */
        off = et_ck_offset(K4, q) - et_ck_offset(K4, q) % 4096;
        if (off + 4096 > size)
            return "nothing (the block lies past the end)";
        et_pwrite(path, zeros, 4096, off);
        model_hurt_range(m, off, 4096);
        return "zeroed a checksum block";
    case 4: /* truncate anywhere in the segments */
        if (size <= ET_DATA_BASE)
            return "nothing (no segment)";
        off = ET_DATA_BASE + et_rand_below(rng, size - ET_DATA_BASE);
        et_truncate(path, off);
        model_hurt_range(m, off, UINT64_MAX / 2);
        return "truncated the file";
    default: /* drop the last segment */
        if (size < ET_DATA_BASE + 4096 + ET_SEG_PAGES * K4)
            return "nothing (no segment)";
        off = size - (size - ET_DATA_BASE) % (4096 + ET_SEG_PAGES * K4);
        off = off == size ? size - (4096 + ET_SEG_PAGES * K4) : off;
        et_truncate(path, off);
        model_hurt_range(m, off, UINT64_MAX / 2);
        return "dropped the last segment";
    }
}

/* Checks page q against the model: its version exactly, or (if damage may have reached it)
 * AWC_ECHECKSUM; a page that reads back exactly is whole again. */
static void model_check(awc_t *c, struct model *m, uint64_t q, const char *after)
{
    uint64_t got = UINT64_MAX;
    void *p = NULL;
    int rc = awc_pin(c, q, AWC_SHARED, &p);

    if (rc == AWC_ECHECKSUM && m->hurt[q])
        return;
    if (rc != AWC_OK)
        fail_msg("page %llu (version %llu%s, after %s): awc_pin returned %d (%s)",
                 (unsigned long long)q, (unsigned long long)m->version[q],
                 m->hurt[q] ? ", damaged" : "", after, rc, awc_strerror(rc));
    if (et_check(p, K4, q, &got) != ET_GOOD || got != m->version[q])
        fail_msg("page %llu (after %s): read back %s version %llu, the model has %llu",
                 (unsigned long long)q, after, et_check_str(et_check(p, K4, q, &got)),
                 (unsigned long long)got, (unsigned long long)m->version[q]);
    ET_EXPECT(awc_unpin(c, q, 0), AWC_OK);
    m->hurt[q] = false;
}

/* Random writes, reads, flushes and reopens of a three-segment file against a model, with a
 * damage step (a zeroed or flipped page or checksum block, a cut, a dropped segment) before
 * some reopens. The rule checked: every page reads back as its latest version, except a page
 * damage may have reached, which reads back as that version or fails with AWC_ECHECKSUM (never
 * zeros, never another version); such a page written anew (AWC_OVERWRITE) is whole again.
 * AWC_MODEL_OPS (default 3000) and AWC_MODEL_SEED. */
static void test_model_damage(void **state)
{
    char path[1024];
    struct awc_config cfg;
    struct model *m = calloc(1, sizeof(*m));
    uint64_t ops = et_env_u64("AWC_MODEL_OPS", 3000);
    uint64_t seed = et_env_u64("AWC_MODEL_SEED", et_now_ns() | 1), rng = seed;
    const char *last = "the start";
    awc_t *c;
    void *p;

    (void)state;
    assert_non_null(m);
    printf("model: %llu operations, seed %llu (AWC_MODEL_SEED to repeat)\n",
           (unsigned long long)ops, (unsigned long long)seed);
    fresh(path, sizeof(path), "model");
    cfg = et_cfg(path, K4, 32, 8, AWC_CREATE);
    c = et_open(&cfg);
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t q = et_rand_below(&rng, MODEL_PAGES), pick = et_rand_below(&rng, 100);

        if (pick < 45) {
            ET_EXPECT(awc_pin(c, q, m->hurt[q] ? AWC_OVERWRITE : AWC_EXCLUSIVE, &p), AWC_OK);
            et_fill(p, K4, q, ++m->next_version);
            ET_EXPECT(awc_unpin(c, q, 1), AWC_OK);
            m->version[q] = m->next_version;
            m->hurt[q] = false;
        } else if (pick < 90) {
            model_check(c, m, q, last);
        } else if (pick < 97) {
            ET_EXPECT(awc_flush(c), AWC_OK);
        } else {
            et_close(c);
            last = et_rand_below(&rng, 3) == 0 ? "a clean reopen" : model_damage(m, path, &rng);
            c = et_open(&cfg);
            for (uint64_t r = 0; r < MODEL_PAGES; r++)
                model_check(c, m, r, last);
        }
    }
    et_close(c);
    et_unlink(path);
    free(m);
}

/* ---- main -------------------------------------------------------------------------------- */

static const struct big_case big_4k = {K4, 1024, 64, 16, 0};
static const struct big_case big_4k_nodirect = {K4, 600, 48, 8, AWC_NO_DIRECT};
static const struct big_case big_4k_nouring = {K4, 600, 48, 8, AWC_NO_URING};
static const struct big_case big_4k_neither = {K4, 600, 48, 8, AWC_NO_DIRECT | AWC_NO_URING};
static const struct big_case big_64k = {K64, 300, 24, 8, 0};
static const struct big_case big_64k_neither = {K64, 300, 24, 8, AWC_NO_DIRECT | AWC_NO_URING};
static const struct big_case big_2m = {M2, 20, 6, 4, 0};
static const size_t ps_4k = K4, ps_64k = K64;

#define T(f)       cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TP(f, arg) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)(arg))

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_invalid),
        T(test_create_open),
        T(test_foreign_file),
        T(test_partial_segment),
        T(test_locked),
        T(test_pin_shared_many),
        T(test_exclusive_excludes),
        T(test_write_flush_reopen),
        T(test_writeback_range),
        T(test_past_end_zeros),
        T(test_unpin_errors),
        T(test_edeadlk),
        T(test_readonly),
        T(test_pin_batch),
        T(test_ebusy),
        T(test_pinned_stays),
        T(test_prefetch),
        T(test_prefetch_with_pins),
        T(test_stats),
        T(test_clock_count),
        T(test_clean_ahead),
        T(test_flush_copy),
        T(test_flush_copy_fails),
        T(test_closed_handle),
        T(test_close_busy),
        T(test_flush_pinned),
        T(test_flush_two_holders),
        T(test_flush_pin_cycle),
        T(test_unpin_while_table_changes),
        T(test_two_caches),
        TP(test_big, &big_4k),
        TP(test_big, &big_4k_nodirect),
        TP(test_big, &big_4k_nouring),
        TP(test_big, &big_4k_neither),
        TP(test_big, &big_64k),
        TP(test_big, &big_64k_neither),
        TP(test_big, &big_2m),
        TP(test_corrupt_page, &ps_4k),
        TP(test_corrupt_page, &ps_64k),
        T(test_corrupt_superblock),
        T(test_zeroed_page),
        T(test_truncated_file),
        T(test_flush_unwritable),
        T(test_model_damage),
    };
    int rc;

    tu_init();
    et_init("test_engine");
    rc = cmocka_run_group_tests_name("engine", tests, NULL, NULL);
    et_cleanup();
    return rc;
}
