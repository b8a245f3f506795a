/*
 * tests/windows_smoke/smoke_win.c: the Windows smoke test of the platform layer, the AWE API and
 * the page cache, cross-built with mingw-w64 and run under Wine by tools/cross-windows (or on
 * Windows by hand). No cmocka (Debian has no mingw build of it): its own small checks.
 *
 * Two parts:
 *   1. What needs no AWE, run for real everywhere: capabilities; files (create, exclusive, the
 *      write lock, whole-length reads and writes, zeros past the end, resize, batches longer
 *      than the queue depth, a bad entry among good ones, read-only handles, direct I/O
 *      alignment, the one-at-a-time queue, sync, a file mapping, dropping the cache, a failed
 *      OS call injected); threads, a mutex, wait and wake, the clock, sleeping, memory facts,
 *      the memory limit's refusal; plain virtual memory and aligned heap memory.
 *   2. AWE: frames, a window, map, scatter, query, the errors the contract promises, free,
 *      counters; then the page cache opening a small cache, pinning, writing, flushing and
 *      reading back after reopening. When the system cannot give AWE frames (the "Lock pages in
 *      memory" privilege is not held, or the AWE calls are stubs, as under Wine), this part is
 *      skipped with the platform's reason, after checking that the page cache refuses to open;
 *      the same checks then run on the platform's emulation of the OS's AWE calls
 *      (plat_testing_emulate_awe), which exercises the platform's own AWE tables and the page
 *      cache on Windows files, everything but Windows' AWE itself.
 *
 * Exit status: 0 when both parts passed, 1 when any check failed, 77 when part 1 passed and
 * part 2 was skipped. Usage: smoke_win [DIR] (the scratch files go in DIR, default ".").
 */
#include "awe.h"
#include "awecache.h"
#include "plat.h"
#include "plat_io.h"
#include "plat_proc.h"
#include "plat_sync.h"
#include "plat_testing.h"

#include <windows.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096u

static int failures;   /* checks that failed */
static int checks;     /* checks made */
static char dir[512];  /* where the scratch files go */
static char path[600]; /* the scratch file of the running section */

/* Each argument is evaluated once (they are often the call under test). */
#define CHECK(cond, ...)    check((cond) != 0, #cond, __LINE__, __VA_ARGS__)
#define CHECK_RC(got, want) check_rc((got), (want), #got, __LINE__)

static void check(bool ok, const char *what, int line, const char *fmt, ...) PLAT_PRINTF(4, 5);
static void check(bool ok, const char *what, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    checks++;
    if (ok)
        return;
    failures++;
    va_start(ap, fmt); /* vsnprintf: mingw's C99 one (%zu), whatever the C runtime */
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    printf("  FAIL line %d: %s: %s\n", line, what, msg);
    fflush(stdout);
}

static void check_rc(int got, int want, const char *what, int line)
{
    check(got == want, what, line, "got %d (%s), want %d (%s)", got,
          got < -1000 ? awc_strerror(got) : plat_strerror(got), want,
          want < -1000 ? awc_strerror(want) : plat_strerror(want));
}

static void section(const char *name, int failures_before)
{
    printf("%-5s %s\n", failures == failures_before ? "ok" : "FAIL", name);
    fflush(stdout);
}

static void scratch(const char *name)
{
    snprintf(path, sizeof(path), "%s\\smoke_win_%lu_%s", dir, (unsigned long)GetCurrentProcessId(),
             name);
    remove(path);
}

/* Byte j of page p of pattern `seed`. */
static unsigned char pat(unsigned seed, uint64_t p, size_t j)
{
    return (unsigned char)(seed * 131u + p * 31u + j * 7u + (j >> 8));
}

static void fill(void *buf, size_t len, unsigned seed, uint64_t p)
{
    for (size_t j = 0; j < len; j++)
        ((unsigned char *)buf)[j] = pat(seed, p, j);
}

static bool same(const void *buf, size_t len, unsigned seed, uint64_t p)
{
    for (size_t j = 0; j < len; j++)
        if (((const unsigned char *)buf)[j] != pat(seed, p, j))
            return false;
    return true;
}

static bool zeros(const void *buf, size_t len)
{
    for (size_t j = 0; j < len; j++)
        if (((const unsigned char *)buf)[j] != 0)
            return false;
    return true;
}

/* ---- Part 1: no AWE ----------------------------------------------------------------------- */

static void test_caps(void)
{
    int before = failures;
    struct plat_caps c;

    CHECK_RC(plat_get_caps(&c), 0);
    CHECK(c.page_size == PAGE, "page size %zu", c.page_size);
    CHECK(c.alloc_granularity >= c.page_size, "granularity %zu", c.alloc_granularity);
    CHECK(c.processor_count >= 1, "processors %u", c.processor_count);
    CHECK(c.max_app_address > c.min_app_address, "address range");
    CHECK(c.huge_page_size == 0 && c.vma_budget == 0, "no huge frames, no mapping budget");
    CHECK_RC(plat_get_caps(NULL), PLAT_EFAULT);
    section("capabilities", before);
}

static void test_files(void)
{
    int before = failures;
    struct plat_file *f = NULL, *g = NULL, *r = NULL;
    struct plat_file_info fi;
    unsigned char *buf = malloc(8 * PAGE), *big = malloc(200 * PAGE);
    struct plat_io ios[200];

    scratch("files.dat");
    /* Open flags and their errors */
    CHECK_RC(plat_file_open(path, 0, &f), PLAT_ENOENT);
    CHECK_RC(plat_file_open(path, PLAT_FILE_EXCL, &f), PLAT_EINVAL);
    CHECK_RC(plat_file_open(path, PLAT_FILE_CREATE | PLAT_FILE_READONLY, &f), PLAT_EINVAL);
    CHECK_RC(plat_file_open(path, PLAT_FILE_CREATE | PLAT_FILE_EXCL, &f), 0);
    CHECK_RC(plat_file_open(path, PLAT_FILE_CREATE | PLAT_FILE_EXCL, &g), PLAT_EEXIST);
    CHECK_RC(plat_file_open(dir, 0, &g), PLAT_EISDIR);
    CHECK_RC(plat_file_open("bad\xff\xfe.dat", PLAT_FILE_CREATE, &g), PLAT_EINVAL);
    /* The write lock: a second writer is refused, a reader is not (and can read) */
    CHECK_RC(plat_file_open(path, 0, &g), PLAT_ELOCKED);
    CHECK_RC(plat_file_get_info(f, &fi), 0);
    CHECK(fi.size == 0 && fi.align == 1 && !fi.direct && !fi.readonly && fi.queue_depth > 1,
          "fresh file: size %llu align %zu qd %u", (unsigned long long)fi.size, fi.align,
          fi.queue_depth);

    /* Whole-length writes and reads; zeros past the end */
    fill(buf, 3 * PAGE, 1, 0);
    CHECK_RC(plat_file_write(f, buf, 3 * PAGE, 0), 0);
    memset(buf, 0xaa, 8 * PAGE);
    CHECK_RC(plat_file_read(f, buf, 4 * PAGE, 0), 0);
    CHECK(same(buf, 3 * PAGE, 1, 0) && zeros(buf + 3 * PAGE, PAGE), "read back, zeros past end");
    CHECK_RC(plat_file_read(f, buf, PAGE, 100 * PAGE), 0);
    CHECK(zeros(buf, PAGE), "a read far past the end is zeros");
    CHECK_RC(plat_file_read(f, NULL, 0, 0), 0);
    CHECK_RC(plat_file_read(f, NULL, 1, 0), PLAT_EFAULT);
    CHECK_RC(plat_file_read(f, buf, 1, (uint64_t)INT64_MAX), PLAT_EINVAL);
    CHECK_RC(plat_file_open(path, PLAT_FILE_READONLY, &r), 0);
    if (r != NULL) {
        CHECK_RC(plat_file_read(r, buf, 3 * PAGE, 0), 0);
        CHECK(same(buf, 3 * PAGE, 1, 0), "a reader sees the writer's data");
        CHECK_RC(plat_file_write(r, buf, PAGE, 0), PLAT_EACCES);
        CHECK_RC(plat_file_resize(r, 0), PLAT_EACCES);
        ios[0] = (struct plat_io){buf, PAGE, 0, 0};
        CHECK_RC(plat_file_write_batch(r, ios, 1), PLAT_EACCES);
        CHECK_RC(plat_file_sync(r), 0);
        CHECK_RC(plat_file_get_info(r, &fi), 0);
        CHECK(fi.readonly, "read-only handle");
        CHECK_RC(plat_file_close(r), 0);
    }

    /* Resize */
    CHECK_RC(plat_file_resize(f, 10 * PAGE), 0);
    CHECK_RC(plat_file_get_info(f, &fi), 0);
    CHECK(fi.size == 10 * PAGE, "grown to %llu", (unsigned long long)fi.size);
    CHECK_RC(plat_file_read(f, buf, 2 * PAGE, 8 * PAGE), 0);
    CHECK(zeros(buf, 2 * PAGE), "grown part reads zeros");
    CHECK_RC(plat_file_resize(f, PAGE), 0);
    CHECK_RC(plat_file_get_info(f, &fi), 0);
    CHECK(fi.size == PAGE, "shrunk to %llu", (unsigned long long)fi.size);
    CHECK_RC(plat_file_resize(f, (uint64_t)INT64_MAX + 1), PLAT_EINVAL);

    /* A batch longer than the queue depth, in scattered order, then read back */
    for (size_t i = 0; i < 200; i++) {
        uint64_t p = (i * 37) % 200;

        fill(big + i * PAGE, PAGE, 2, p);
        ios[i] = (struct plat_io){big + i * PAGE, PAGE, p * PAGE, 0};
    }
    CHECK_RC(plat_file_write_batch(f, ios, 200), 0);
    memset(big, 0, 200 * PAGE);
    for (size_t i = 0; i < 200; i++)
        ios[i] = (struct plat_io){big + i * PAGE, PAGE, (uint64_t)i * PAGE, 0};
    CHECK_RC(plat_file_read_batch(f, ios, 200), 0);
    {
        bool ok = true;

        for (size_t i = 0; i < 200; i++)
            ok = ok && same(big + i * PAGE, PAGE, 2, i) && ios[i].result == 0;
        CHECK(ok, "200-entry batch read back");
    }
    /* A bad entry among good ones fails alone; the first failure is the result */
    for (size_t i = 0; i < 4; i++)
        ios[i] = (struct plat_io){big + i * PAGE, PAGE, (uint64_t)i * PAGE, 0};
    ios[2].buf = NULL;
    CHECK_RC(plat_file_read_batch(f, ios, 4), PLAT_EFAULT);
    CHECK(ios[0].result == 0 && ios[1].result == 0 && ios[2].result == PLAT_EFAULT &&
              ios[3].result == 0,
          "results %d %d %d %d", ios[0].result, ios[1].result, ios[2].result, ios[3].result);
    /* A batch ending past the end of the file reads zeros there */
    ios[0] = (struct plat_io){big, 2 * PAGE, 199 * PAGE, 0};
    CHECK_RC(plat_file_read_batch(f, ios, 1), 0);
    CHECK(same(big, PAGE, 2, 199) && zeros(big + PAGE, PAGE), "batch read across the end");
    CHECK_RC(plat_file_sync(f), 0);

    /* An injected OS failure fails the one call, and the next works */
    plat_testing_fail_nth_os_call(1, EIO);
    CHECK_RC(plat_file_write(f, buf, PAGE, 0), PLAT_EIO);
    plat_testing_fail_nth_os_call(1, ENOSPC);
    CHECK_RC(plat_file_sync(f), PLAT_ENOSPC);
    CHECK_RC(plat_file_write(f, buf, PAGE, 0), 0);

    /* A mapping through the OS cache shows the file; dropping the cache works */
    {
        void *m = NULL;

        CHECK_RC(plat_file_map(f, 201 * PAGE, &m), PLAT_EINVAL);
        CHECK_RC(plat_file_map(f, 200 * PAGE, &m), 0);
        if (m != NULL) {
            CHECK(same((char *)m + 50 * PAGE, PAGE, 2, 50), "mapped view shows page 50");
            CHECK_RC(plat_file_unmap(m, 200 * PAGE), 0);
        }
        CHECK_RC(plat_file_drop_cache(f), 0);
    }
    CHECK_RC(plat_file_close(f), 0);
    f = NULL;

    /* The lock went with the handle */
    CHECK_RC(plat_file_open(path, 0, &g), 0);
    if (g != NULL)
        CHECK_RC(plat_file_close(g), 0);

    /* One transfer at a time */
    CHECK_RC(plat_file_open(path, PLAT_FILE_NO_URING, &g), 0);
    if (g != NULL) {
        CHECK_RC(plat_file_get_info(g, &fi), 0);
        CHECK(fi.queue_depth == 1, "queue depth %u", fi.queue_depth);
        for (size_t i = 0; i < 100; i++)
            ios[i] = (struct plat_io){big + i * PAGE, PAGE, (uint64_t)(199 - i) * PAGE, 0};
        CHECK_RC(plat_file_read_batch(g, ios, 100), 0);
        CHECK(same(big + 99 * PAGE, PAGE, 2, 100), "queue depth 1 batch");
        CHECK_RC(plat_file_close(g), 0);
    }

    /* Direct I/O: aligned transfers work, misaligned ones are refused before any I/O */
    CHECK_RC(plat_file_open(path, PLAT_FILE_DIRECT, &g), 0);
    if (g != NULL) {
        size_t a;
        unsigned char *ab;

        CHECK_RC(plat_file_get_info(g, &fi), 0);
        a = fi.align;
        CHECK(!fi.direct || (a >= 512 && (a & (a - 1)) == 0), "direct alignment %zu", a);
        ab = plat_aligned_alloc(a > PAGE ? a : PAGE, 4 * PAGE);
        CHECK(ab != NULL && ((uintptr_t)ab % (a > PAGE ? a : PAGE)) == 0, "aligned allocation");
        if (ab != NULL) {
            CHECK_RC(plat_file_read(g, ab, 4 * PAGE, 10 * PAGE), 0);
            CHECK(same(ab, PAGE, 2, 10) && same(ab + 3 * PAGE, PAGE, 2, 13), "direct read");
            fill(ab, PAGE, 3, 0);
            CHECK_RC(plat_file_write(g, ab, PAGE, 0), 0);
            if (fi.direct) {
                CHECK_RC(plat_file_read(g, ab + 1, PAGE, 0), PLAT_EINVAL);
                CHECK_RC(plat_file_read(g, ab, PAGE, 1), PLAT_EINVAL);
            }
            plat_aligned_free(ab);
        }
        printf("      (direct I/O: %s, alignment %zu)\n", fi.direct ? "on" : "off", a);
        CHECK_RC(plat_file_close(g), 0);
    }
    CHECK(plat_aligned_alloc(3, 10) == NULL, "bad alignment refused");
    remove(path);
    free(buf);
    free(big);
    section("files", before);
}

struct counter {
    plat_mutex_t mu;
    uint64_t n;
    _Atomic uint32_t word;
};

static void *count_up(void *arg)
{
    struct counter *c = arg;

    for (int i = 0; i < 20000; i++) {
        plat_mutex_lock(&c->mu);
        c->n++;
        plat_mutex_unlock(&c->mu);
    }
    return (void *)(uintptr_t)7;
}

static void *waiter(void *arg)
{
    struct counter *c = arg;
    uint32_t v;

    while ((v = atomic_load(&c->word)) == 0)
        plat_wait(&c->word, v);
    return (void *)(uintptr_t)v;
}

static void test_threads(void)
{
    int before = failures;
    struct counter c;
    plat_thread_t t[4], w;
    void *ret = NULL;
    uint64_t t0, t1;

    CHECK_RC(plat_mutex_init(&c.mu), 0);
    c.n = 0;
    atomic_init(&c.word, 0);
    for (int i = 0; i < 4; i++)
        CHECK_RC(plat_thread_create(&t[i], count_up, &c), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_RC(plat_thread_join(t[i], &ret), 0);
        CHECK(ret == (void *)(uintptr_t)7, "thread result");
    }
    CHECK(c.n == 80000, "mutex count %llu", (unsigned long long)c.n);
    plat_mutex_destroy(&c.mu);
    CHECK_RC(plat_thread_create(NULL, count_up, &c), PLAT_EFAULT);

    /* Wait and wake; a stale wait returns at once */
    CHECK_RC(plat_thread_create(&w, waiter, &c), 0);
    plat_sleep_ns(20000000);
    atomic_store(&c.word, 5);
    plat_wake(&c.word, 1);
    CHECK_RC(plat_thread_join(w, &ret), 0);
    CHECK(ret == (void *)(uintptr_t)5, "woken with the new value");
    plat_wait(&c.word, 4); /* differs: returns at once */
    plat_wake(&c.word, 0); /* nobody waits: harmless */

    /* The clock and sleeping */
    t0 = plat_clock_ns();
    plat_sleep_ns(30000000);
    t1 = plat_clock_ns();
    CHECK(t1 - t0 >= 29000000 && t1 - t0 < 5000000000ull, "slept %llu ns",
          (unsigned long long)(t1 - t0));
    CHECK(plat_cpu_count() >= 1, "cpu count");
    section("threads, wait/wake, clock", before);
}

static void test_proc(void)
{
    int before = failures;
    uint64_t total = 0, avail = 0, lock = 0;
    struct plat_memlimit *m = NULL;
    char why[256] = "";

    CHECK_RC(plat_mem_info(&total, &avail, &lock), 0);
    CHECK(total > 0 && avail > 0 && avail <= total, "memory %llu of %llu",
          (unsigned long long)avail, (unsigned long long)total);
    (void)plat_is_terminal(1);
    CHECK(!plat_is_terminal(0), "stdin is never asked about");
    CHECK_RC(plat_memlimit_enter(1u << 30, &m, why, sizeof(why)), PLAT_ENOTSUP);
    CHECK(why[0] != '\0', "the refusal says why");
    CHECK_RC(plat_memlimit_leave(NULL), 0);
    section("process: memory facts, memory limit refused", before);
}

static void test_vm(void)
{
    int before = failures;
    void *base = NULL;
    struct plat_caps c;

    plat_get_caps(&c);
    CHECK_RC(plat_vm_reserve(NULL, 1 << 20, &base), 0);
    if (base != NULL) {
        CHECK(((uintptr_t)base % c.alloc_granularity) == 0, "reservation aligned");
        CHECK_RC(plat_vm_commit(base, 65536, PLAT_PROT_READ | PLAT_PROT_WRITE), 0);
        CHECK(zeros(base, 65536), "committed memory reads zeros");
        memset(base, 0x5a, 65536);
        CHECK_RC(plat_vm_protect(base, 65536, PLAT_PROT_READ), 0);
        CHECK(((unsigned char *)base)[100] == 0x5a, "still readable");
        CHECK_RC(plat_vm_commit(base, 4096, 0x80), PLAT_EINVAL);
        CHECK_RC(plat_vm_decommit(base, 65536), 0);
        CHECK_RC(plat_vm_commit(base, 4096, PLAT_PROT_READ | PLAT_PROT_WRITE), 0);
        CHECK(zeros(base, 4096), "recommitted memory reads zeros");
        CHECK_RC(plat_vm_release(base, 1 << 20), 0);
    }
    section("plain virtual memory", before);
}

/* ---- Part 2: AWE -------------------------------------------------------------------------- */

/* Returns false when AWE is unavailable here (and says why); checks the rest. */
static bool test_awe(const char *label)
{
    int before = failures;
    awe_frame_t fr[16], q = 0, big = 0;
    size_t n = 16;
    void *win = NULL, *vas[4];
    struct awe_stats st;
    unsigned char *p;
    int rc;

    rc = awe_frames_alloc(&n, fr, 0, -1);
    if (rc == AWE_EPERM) {
        const char *why = plat_awe_unavailable_reason();

        CHECK(why != NULL, "a reason for PLAT_EPERM");
        printf("skip  AWE: frames cannot be had: %s\n", why != NULL ? why : "(no reason)");
        return false;
    }
    CHECK_RC(rc, 0);
    CHECK(n == 16, "got %zu frames", n);
    rc = awe_window_reserve(NULL, 16 * PAGE, 0, &win);
    if (rc == AWE_ENOTSUP) {
        printf("skip  AWE: no window: %s\n", plat_awe_unavailable_reason());
        return false;
    }
    CHECK_RC(rc, 0);
    if (rc != 0 || n != 16)
        return true;
    p = win;
    /* Map, write, query */
    CHECK_RC(awe_map(win, 16, fr), 0);
    for (size_t i = 0; i < 16; i++)
        fill(p + i * PAGE, PAGE, 4, i);
    CHECK_RC(awe_query(p + 5 * PAGE + 17, &q), 0);
    CHECK(q == fr[5], "query");
    /* The contract's errors: a mapped frame, an unowned frame, a range past the window */
    CHECK_RC(awe_map(p, 1, &fr[3]), AWE_EINVAL);
    big = fr[15] + 1000000;
    CHECK_RC(awe_map(p, 1, &big), AWE_ENXIO);
    CHECK_RC(awe_map(p + 15 * PAGE, 2, fr), AWE_EINVAL);
    /* Unmap all, then scatter four frames in another order: data stays with its frame */
    CHECK_RC(awe_unmap(win, 16), 0);
    CHECK_RC(awe_query(p, &q), 0);
    CHECK(q == 0, "unmapped");
    for (size_t i = 0; i < 4; i++)
        vas[i] = p + i * PAGE;
    {
        awe_frame_t s[4] = {fr[9], fr[2], fr[14], fr[0]};

        CHECK_RC(awe_map_scatter(vas, 4, s), 0);
        CHECK(same(p, PAGE, 4, 9) && same(p + PAGE, PAGE, 4, 2) &&
                  same(p + 2 * PAGE, PAGE, 4, 14) && same(p + 3 * PAGE, PAGE, 4, 0),
              "scattered frames keep their data");
        vas[1] = vas[0];
        CHECK_RC(awe_map_scatter(vas, 2, NULL), AWE_EINVAL); /* a page listed twice */
    }
    /* A map over mapped pages replaces their frames, which can then go elsewhere; a 0 entry
     * unmaps its page */
    {
        awe_frame_t r[3] = {fr[5], 0, fr[6]};

        CHECK_RC(awe_map(p, 3, r), 0);
        CHECK(same(p, PAGE, 4, 5) && same(p + 2 * PAGE, PAGE, 4, 6), "replaced in place");
        CHECK_RC(awe_query(p + PAGE, &q), 0);
        CHECK(q == 0, "a 0 entry unmaps its page");
        CHECK_RC(awe_map(p + 8 * PAGE, 1, &fr[9]), 0); /* fr[9] was replaced: free to go */
        CHECK(same(p + 8 * PAGE, PAGE, 4, 9), "a replaced frame keeps its data");
    }
    /* A window's release keeps the frames and their data; they map into another window */
    {
        void *win2 = NULL, *b = NULL;
        size_t sz = 0;

        CHECK_RC(awe_window_reserve(NULL, 4 * PAGE, 0, &win2), 0);
        CHECK_RC(awe_window_find((char *)win2 + 3 * PAGE + 1, &b, &sz), 0);
        CHECK(b == win2 && sz == 4 * PAGE, "window_find");
        CHECK_RC(awe_window_release(win2), 0);
        CHECK_RC(awe_window_find(win2, &b, &sz), AWE_EADDRNOTAVAIL);
    }
    CHECK_RC(awe_get_stats(&st), 0);
    CHECK(st.frames_allocated >= 16 && st.windows >= 1 && st.map_calls >= 3 &&
              st.scatter_calls >= 1 && st.pages_mapped >= 20,
          "stats: frames %llu windows %llu maps %llu scatters %llu pages %llu",
          (unsigned long long)st.frames_allocated, (unsigned long long)st.windows,
          (unsigned long long)st.map_calls, (unsigned long long)st.scatter_calls,
          (unsigned long long)st.pages_mapped);
    /* The frame limit: none left is AWE_EDQUOT */
    {
        struct awe_caps caps;
        awe_frame_t one;
        size_t k = 1;

        CHECK_RC(awe_get_caps(&caps), 0);
        CHECK_RC(awe_set_frame_limit(st.frames_allocated), 0);
        CHECK_RC(awe_frames_alloc(&k, &one, 0, -1), AWE_EDQUOT);
        CHECK_RC(awe_set_frame_limit(caps.frame_limit), 0);
        CHECK_RC(awe_frames_alloc(&k, &one, 0, 99999), AWE_EINVAL); /* no such NUMA node */
    }
    /* Freeing stops at the first bad entry; the ones before it are freed (mapped ones
     * unmapped first), the window stays */
    {
        awe_frame_t two[3] = {fr[15], fr[14], fr[15]};
        size_t k = 3;

        CHECK_RC(awe_frames_free(&k, two), AWE_ENXIO);
        CHECK(k == 2, "freed %zu before the repeated entry", k);
        n = 14;
        CHECK_RC(awe_frames_free(&n, fr), 0);
        CHECK_RC(awe_query(p + 8 * PAGE, &q), 0);
        CHECK(q == 0, "freed frames are unmapped");
        n = 1;
        CHECK_RC(awe_frames_free(&n, fr), AWE_ENXIO);
        CHECK(n == 0, "nothing freed");
    }
    CHECK_RC(awe_window_release(p + PAGE), AWE_EADDRNOTAVAIL);
    CHECK_RC(awe_window_release(win), 0);
    CHECK_RC(awe_query(win, &q), AWE_EINVAL);
    printf("%-5s %s: frames, window, map, scatter, query, free\n",
           failures == before ? "ok" : "FAIL", label);
    return true;
}

/* The page cache: open a small cache, pin, write, flush, reopen, read back. `awe` false: AWE is
 * unavailable, and opening must fail cleanly with a message. */
static void test_engine(bool awe, const char *label)
{
    int before = failures;
    struct awc_config cfg = {NULL, PAGE, 64 * PAGE, 16 * PAGE, AWC_CREATE};
    awc_t *c = NULL;
    void *pg = NULL;
    int rc;

    scratch("cache.awc");
    cfg.path = path;
    rc = awc_open(&cfg, &c);
    if (!awe) {
        CHECK(rc != AWC_OK, "awc_open without AWE must fail");
        printf("      (awc_open without AWE: %d, \"%s\")\n", rc, awc_strerror(rc));
        if (rc == AWC_OK)
            awc_close(c);
        remove(path);
        section("page cache refuses to open without AWE", before);
        return;
    }
    CHECK_RC(rc, AWC_OK);
    if (rc != AWC_OK)
        return;
    for (uint64_t i = 0; i < 200; i++) {
        rc = awc_pin(c, i, AWC_EXCLUSIVE, &pg);
        CHECK(rc == AWC_OK, "pin %llu: %s", (unsigned long long)i, awc_strerror(rc));
        if (rc != AWC_OK)
            break;
        fill(pg, PAGE, 5, i);
        awc_unpin(c, i, 1);
    }
    CHECK_RC(awc_flush(c), AWC_OK);
    CHECK_RC(awc_close(c), AWC_OK);
    cfg.flags = 0;
    CHECK_RC(awc_open(&cfg, &c), AWC_OK);
    for (uint64_t i = 0; c != NULL && i < 200; i += 7) {
        rc = awc_pin(c, i, AWC_SHARED, &pg);
        CHECK(rc == AWC_OK && same(pg, PAGE, 5, i), "page %llu after reopening",
              (unsigned long long)i);
        if (rc == AWC_OK)
            awc_unpin(c, i, 0);
    }
    /* A batch: one map call and one batched read for its misses */
    if (c != NULL) {
        uint64_t pages[8];
        void *out[8];

        for (int i = 0; i < 8; i++)
            pages[i] = 190 - (uint64_t)i * 23;
        rc = awc_pin_batch(c, pages, 8, AWC_SHARED, out);
        CHECK_RC(rc, AWC_OK);
        for (int i = 0; rc == AWC_OK && i < 8; i++) {
            CHECK(same(out[i], PAGE, 5, pages[i]), "batch page %llu", (unsigned long long)pages[i]);
            awc_unpin(c, pages[i], 0);
        }
        CHECK_RC(awc_prefetch(c, 100, 50), AWC_OK);
    }
    if (c != NULL)
        CHECK_RC(awc_close(c), AWC_OK);
    remove(path);
    printf("%-5s %s: open, pin, flush, reopen\n", failures == before ? "ok" : "FAIL", label);
}

/* The key-value cache: put items of several sizes (one spanning pages), get, a reference,
 * delete, a time-to-live on the system's real-time clock, close, reopen, read back. */
static void test_kv(const char *label)
{
    int before = failures;
    struct awc_kv_config cfg = {NULL,      128 * PAGE, PAGE, 64 * PAGE,
                                16 * PAGE, AWC_CREATE, NULL, NULL};
    static unsigned char val[3 * PAGE], got[3 * PAGE];
    struct awc_kv_ref ref;
    awc_kv_t *kv = NULL;
    char key[32];
    size_t len;
    int rc;

    scratch("kv.awc");
    cfg.path = path;
    rc = awc_kv_open(&cfg, &kv);
    CHECK_RC(rc, AWC_OK);
    if (rc != AWC_OK)
        return;
    for (unsigned i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "key-%u", i);
        fill(val, sizeof(val), 9, i);
        CHECK_RC(awc_kv_put(kv, key, strlen(key), val, i == 7 ? sizeof(val) : i * 50, 0), AWC_OK);
    }
    CHECK_RC(awc_kv_put(kv, "ttl", 3, "x", 1, 3600 * 1000), AWC_OK);
    CHECK_RC(awc_kv_delete(kv, "key-3", 5), AWC_OK);
    CHECK_RC(awc_kv_get_ref(kv, "key-7", 5, &ref), AWC_OK);
    CHECK(ref.value_len == sizeof(val) && ref.nfrags >= 3, "reference to a value over 3 pages");
    CHECK_RC(awc_kv_release(kv, &ref), AWC_OK);
    CHECK_RC(awc_kv_close(kv), AWC_OK);
    cfg.flags = 0;
    cfg.capacity = 0;
    rc = awc_kv_open(&cfg, &kv);
    CHECK_RC(rc, AWC_OK);
    for (unsigned i = 0; rc == AWC_OK && i < 40; i++) {
        size_t want = i == 7 ? sizeof(val) : i * 50;

        snprintf(key, sizeof(key), "key-%u", i);
        fill(val, sizeof(val), 9, i);
        if (i == 3) {
            CHECK_RC(awc_kv_get(kv, key, strlen(key), got, sizeof(got), &len), AWC_ENOTFOUND);
            continue;
        }
        CHECK_RC(awc_kv_get(kv, key, strlen(key), got, sizeof(got), &len), AWC_OK);
        CHECK(len == want && memcmp(got, val, want) == 0, "item %u after reopening", i);
    }
    if (rc == AWC_OK) {
        CHECK_RC(awc_kv_get(kv, "ttl", 3, got, sizeof(got), &len), AWC_OK);
        CHECK_RC(awc_kv_close(kv), AWC_OK);
    }
    remove(path);
    printf("%-5s %s: put, get, reference, delete, reopen\n", failures == before ? "ok" : "FAIL",
           label);
}

int main(int argc, char **argv)
{
    bool awe;

    snprintf(dir, sizeof(dir), "%s", argc > 1 ? argv[1] : ".");
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("smoke_win: platform layer, AWE and page cache on Windows\n");
    test_caps();
    test_files();
    test_threads();
    test_proc();
    test_vm();
    awe = test_awe("AWE");
    test_engine(awe, "page cache");
    if (!awe) {
        /* The platform's AWE tables and the page cache still run, on an emulation of the OS's
         * AWE calls (plat_testing.h): everything but Windows' own AWE. */
        plat_testing_emulate_awe(1);
        if (!test_awe("emulated AWE"))
            CHECK(false, "the emulation must give frames and windows");
        test_engine(true, "emulated AWE: page cache");
        test_kv("emulated AWE: key-value cache");
    } else {
        test_kv("key-value cache");
    }
    printf("smoke_win: %d checks, %d failed; AWE part %s\n", checks, failures,
           awe ? "ran" : "skipped (the emulation of the OS's AWE calls ran)");
    if (failures > 0)
        return 1;
    return awe ? 0 : 77;
}
