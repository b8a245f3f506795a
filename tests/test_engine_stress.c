/*
 * tests/test_engine_stress.c: many threads pinning, checking and rewriting pages of one cache.
 *
 * T threads (AWC_STRESS_THREADS, default 4, at most 16) run for AWC_STRESS_SECONDS (default 3)
 * over a file larger than the frame pool, through a window smaller than the frames (4096 pages
 * of 4 KiB, 512 frames, 64 slots). Every page's content encodes (page, version) with a checksum of
 * its body (engine_util.h); version 0 is the never-written all-zero page. Each thread, at random:
 *   - pins one page shared (uniform or skewed choice) and checks it;
 *   - pins one page exclusively, checks it, writes the next version and unpins dirty (or
 *     sometimes unpins clean without changing it);
 *   - pins a batch of 2..B distinct pages shared, or 2..min(B, 4) exclusively and bumps each,
 *     where B = min(8, 32 / T), so that the threads never pin more than half the slots;
 *   - prefetches a range; rarely, flushes.
 * latest[p] (an atomic) is the last version unpinned dirty: a writer sets it while it still holds
 * the page exclusively, so whoever pins the page afterwards must see exactly that version (never
 * an older one, never a mix). The main thread reads the counters meanwhile. At the end: flush,
 * close, reopen, and every page must hold its latest version.
 *
 * AWC_EBUSY is counted rather than fatal in the loop, and checked at the end: at most T * B <= 32
 * pages are pinned at once here, half the 64 slots, so the header's condition for it
 * ("every frame or window slot is pinned") never holds, for pins or for prefetches (which pin
 * nothing, per the header). Workers never call cmocka: they record their first failure and stop
 * everyone; the main thread asserts. The test's own sharing is atomics and pins only, so any
 * ThreadSanitizer report comes from the engine.
 */
#include "engine_util.h"
#include "test_util.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define PS        ((size_t)4096)
#define NPAGES    4096u
#define NFRAMES   512u
#define NSLOTS    64u
#define MAX_BATCH 8u
#define MAX_T     16u

struct run {
    awc_t *c;
    size_t max_batch; /* pages per batch: at most threads * max_batch <= NSLOTS / 2 pinned */
    _Atomic uint64_t latest[NPAGES]; /* the last version unpinned dirty */
    _Atomic bool stop;
};

struct worker {
    int id;
    struct run *run;
    pthread_t th;
    uint64_t rng;
    uint64_t ops[8];         /* by kind, below */
    uint64_t ebusy;          /* pins and batches that returned AWC_EBUSY */
    uint64_t ebusy_prefetch; /* prefetches that did */
    bool failed;
    char err[512];
};

enum { OP_SHARED, OP_EXCL, OP_EXCL_CLEAN, OP_BATCH_SHARED, OP_BATCH_EXCL, OP_PREFETCH, OP_FLUSH };

static const char *op_names[] = {"shared",       "exclusive",       "exclusive-clean",
                                 "batch-shared", "batch-exclusive", "prefetch",
                                 "flush"};

static void fail_worker(struct worker *w, const char *fmt, ...)
{
    va_list ap;

    if (w->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    w->failed = true;
    atomic_store(&w->run->stop, true);
}

/* A page: uniform half of the time, else skewed towards a hot set (u^4 of the range). */
static uint64_t pick(struct worker *w)
{
    if (et_rand(&w->rng) & 1)
        return et_rand_below(&w->rng, NPAGES);
    double u = (double)(et_rand(&w->rng) >> 11) / (double)(UINT64_C(1) << 53);
    uint64_t p = (uint64_t)(u * u * u * u * NPAGES);

    return p < NPAGES ? p : NPAGES - 1;
}

/* Checks the page at p against latest[page] (exact: nobody can write while we hold a pin).
 * Returns the version, or UINT64_MAX after recording a failure. */
static uint64_t verify(struct worker *w, const void *p, uint64_t page, const char *how)
{
    uint64_t v = UINT64_MAX, want;
    enum et_verdict d = et_check(p, PS, page, &v);

    want = atomic_load(&w->run->latest[page]);
    if (d != ET_GOOD) {
        fail_worker(w, "thread %d, %s pin of page %llu: %s (latest version %llu)", w->id, how,
                    (unsigned long long)page, et_check_str(d), (unsigned long long)want);
        return UINT64_MAX;
    }
    if (v != want) {
        fail_worker(w, "thread %d, %s pin of page %llu: version %llu, but version %llu was %s",
                    w->id, how, (unsigned long long)page, (unsigned long long)v,
                    (unsigned long long)want,
                    v < want ? "unpinned before (went back)" : "the latest (a newer one?)");
        return UINT64_MAX;
    }
    return v;
}

/* Handles a pin's error: EBUSY is counted (false: try something else), anything else fails. */
static bool pin_ok(struct worker *w, int rc, const char *what, uint64_t page)
{
    if (rc == AWC_OK)
        return true;
    if (rc == AWC_EBUSY) {
        w->ebusy++;
        return false;
    }
    fail_worker(w, "thread %d: %s (page %llu) returned %d (%s)", w->id, what,
                (unsigned long long)page, rc, awc_strerror(rc));
    return false;
}

static void unpin_ok(struct worker *w, uint64_t page, int dirty)
{
    int rc = awc_unpin(w->run->c, page, dirty);

    if (rc != AWC_OK)
        fail_worker(w, "thread %d: awc_unpin(%llu, %d) returned %d (%s)", w->id,
                    (unsigned long long)page, dirty, rc, awc_strerror(rc));
}

/* n distinct pages into pages[]. */
static void pick_distinct(struct worker *w, uint64_t *pages, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool dup;

        do {
            pages[i] = pick(w);
            dup = false;
            for (size_t j = 0; j < i; j++)
                dup = dup || pages[j] == pages[i];
        } while (dup);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    awc_t *c = r->c;
    uint64_t pages[MAX_BATCH];
    void *out[MAX_BATCH], *p;

    while (!atomic_load_explicit(&r->stop, memory_order_relaxed) && !w->failed) {
        uint64_t dice = et_rand_below(&w->rng, 1000), page, v;
        int rc, op;
        size_t n;

        if (dice < 450) {
            op = OP_SHARED;
            page = pick(w);
            if (!pin_ok(w, awc_pin(c, page, AWC_SHARED, &p), "shared pin", page))
                continue;
            verify(w, p, page, "shared");
            unpin_ok(w, page, 0);
        } else if (dice < 700) {
            op = dice < 650 ? OP_EXCL : OP_EXCL_CLEAN;
            page = pick(w);
            if (!pin_ok(w, awc_pin(c, page, AWC_EXCLUSIVE, &p), "exclusive pin", page))
                continue;
            v = verify(w, p, page, "exclusive");
            if (v != UINT64_MAX && op == OP_EXCL) {
                et_fill(p, PS, page, v + 1);
                atomic_store(&r->latest[page], v + 1);
            }
            unpin_ok(w, page, op == OP_EXCL);
        } else if (dice < 850) {
            op = OP_BATCH_SHARED;
            n = 2 + et_rand_below(&w->rng, r->max_batch - 1);
            pick_distinct(w, pages, n);
            if (!pin_ok(w, awc_pin_batch(c, pages, n, AWC_SHARED, out), "shared batch", pages[0]))
                continue;
            for (size_t i = 0; i < n; i++)
                verify(w, out[i], pages[i], "batch shared");
            for (size_t i = 0; i < n; i++)
                unpin_ok(w, pages[i], 0);
        } else if (dice < 960) {
            op = OP_BATCH_EXCL;
            n = 2 + et_rand_below(&w->rng, r->max_batch < 4 ? r->max_batch - 1 : 3);
            pick_distinct(w, pages, n);
            if (!pin_ok(w, awc_pin_batch(c, pages, n, AWC_EXCLUSIVE, out), "exclusive batch",
                        pages[0]))
                continue;
            for (size_t i = 0; i < n; i++) {
                v = verify(w, out[i], pages[i], "batch exclusive");
                if (v != UINT64_MAX) {
                    et_fill(out[i], PS, pages[i], v + 1);
                    atomic_store(&r->latest[pages[i]], v + 1);
                }
            }
            for (size_t i = 0; i < n; i++)
                unpin_ok(w, pages[i], 1);
        } else if (dice < 998) {
            op = OP_PREFETCH;
            page = pick(w);
            n = 1 + et_rand_below(&w->rng, 32);
            rc = awc_prefetch(c, page, page + n <= NPAGES ? n : NPAGES - page);
            if (rc == AWC_EBUSY)
                w->ebusy_prefetch++;
            else if (rc != AWC_OK)
                fail_worker(w, "thread %d: awc_prefetch returned %d (%s)", w->id, rc,
                            awc_strerror(rc));
        } else {
            op = OP_FLUSH;
            rc = awc_flush(c);
            if (rc != AWC_OK)
                fail_worker(w, "thread %d: awc_flush returned %d (%s)", w->id, rc,
                            awc_strerror(rc));
        }
        w->ops[op]++;
    }
    return NULL;
}

/* The window's modes (engine/README.md 4.3, 4.4): copy mode (the default for this small a
 * window), remapping (AWC_MAP_WINDOW), and identity (a window as large as the frames). */
struct mode_case {
    const char *name;
    uint64_t slots;
    unsigned flags;
};

static const struct mode_case mode_copy = {"copy", NSLOTS, 0};
static const struct mode_case mode_remap = {"remap", NSLOTS, AWC_MAP_WINDOW};
static const struct mode_case mode_identity = {"identity", NFRAMES, 0};

static void test_stress(void **state)
{
    const struct mode_case *mc = *state;
    uint64_t nthreads = et_env_u64("AWC_STRESS_THREADS", 4);
    uint64_t seconds = et_env_u64("AWC_STRESS_SECONDS", 3);
    uint64_t seed = et_env_u64("AWC_STRESS_SEED", et_now_ns() | 1);
    static struct run run; /* static: nothing leaks when an assertion ends the test */
    static struct worker workers[MAX_T];
    struct run *r = &run;
    struct worker *w = workers;
    struct mode_case m = *mc;
    struct awc_config cfg;
    struct awc_stats st;
    char path[1024];
    uint64_t end, samples = 0, total[8] = {0}, ebusy = 0, ebusy_pf = 0, written = 0;
    void *p;

    memset(r, 0, sizeof(*r));
    memset(workers, 0, sizeof(workers));
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > MAX_T)
        nthreads = MAX_T;
    r->max_batch = NSLOTS / 2 / nthreads < MAX_BATCH ? NSLOTS / 2 / nthreads : MAX_BATCH;
    print_message("%s window: %llu threads, %llu s, seed %llu (AWC_STRESS_SEED to repeat)\n",
                  m.name, (unsigned long long)nthreads, (unsigned long long)seconds,
                  (unsigned long long)seed);

    et_path(path, sizeof(path), "stress");
    et_unlink(path);
    cfg = et_cfg(path, PS, NFRAMES, m.slots, AWC_CREATE | AWC_EXCL | m.flags);
    r->c = et_open(&cfg);
    st = et_stats(r->c);
    assert_int_equal(st.frames + (st.copy_window ? st.slots : 0), NFRAMES); /* README 4.3 */
    assert_int_equal(st.slots, m.slots);
    assert_int_equal(st.copy_window, m.slots < NFRAMES && m.flags == 0);
    assert_int_equal(st.identity_window, m.slots == NFRAMES);

    for (uint64_t i = 0; i < nthreads; i++) {
        w[i].id = (int)i;
        w[i].run = r;
        w[i].rng = seed * (2 * i + 1) + 0x9e3779b97f4a7c15ull * (i + 1);
        if (w[i].rng == 0)
            w[i].rng = 1;
        assert_int_equal(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
    }
    end = et_now_ns() + seconds * UINT64_C(1000000000);
    while (et_now_ns() < end && !atomic_load(&r->stop)) {
        ET_EXPECT(awc_get_stats(r->c, &st), AWC_OK); /* counters read while they move */
        samples++;
        et_sleep_ms(20);
    }
    atomic_store(&r->stop, true);
    for (uint64_t i = 0; i < nthreads; i++)
        pthread_join(w[i].th, NULL);
    for (uint64_t i = 0; i < nthreads; i++) {
        if (w[i].failed)
            fail_msg("%s", w[i].err);
        for (int k = 0; k < 8; k++)
            total[k] += w[i].ops[k];
        ebusy += w[i].ebusy;
        ebusy_pf += w[i].ebusy_prefetch;
    }

    st = et_stats(r->c);
    print_message("ops:");
    for (int k = 0; k <= OP_FLUSH; k++)
        print_message(" %s %llu", op_names[k], (unsigned long long)total[k]);
    print_message("\nstats: window_hits %llu frame_hits %llu misses %llu window_evictions %llu "
                  "frame_evictions %llu writebacks %llu map_calls %llu pages_mapped %llu "
                  "flushes %llu; %llu samples; EBUSY: %llu pins, %llu prefetches\n",
                  (unsigned long long)st.window_hits, (unsigned long long)st.frame_hits,
                  (unsigned long long)st.misses, (unsigned long long)st.window_evictions,
                  (unsigned long long)st.frame_evictions, (unsigned long long)st.writebacks,
                  (unsigned long long)st.map_calls, (unsigned long long)st.pages_mapped,
                  (unsigned long long)st.flushes, (unsigned long long)samples,
                  (unsigned long long)ebusy, (unsigned long long)ebusy_pf);
    assert_int_equal(st.checksum_failures, 0);
    assert_true(st.frame_evictions > 0);
    assert_true(total[OP_SHARED] > 0 && total[OP_EXCL] > 0 && total[OP_BATCH_EXCL] > 0);
    if (st.identity_window)
        assert_int_equal(st.map_calls, 0); /* README 4.4: the window never changes */
    if (ebusy != 0 || ebusy_pf != 0)
        fail_msg("%llu pins and %llu prefetches returned AWC_EBUSY although the threads never "
                 "held more than %llu of the %u slots (and %u frames) pinned at once",
                 (unsigned long long)ebusy, (unsigned long long)ebusy_pf,
                 (unsigned long long)(nthreads * r->max_batch), (unsigned)m.slots, NFRAMES);

    /* The end: flush, close, reopen, every page at its latest version. */
    ET_EXPECT(awc_flush(r->c), AWC_OK);
    et_close(r->c);
    cfg.flags = m.flags;
    r->c = et_open(&cfg);
    for (uint64_t pg = 0; pg < NPAGES; pg++) {
        uint64_t v = UINT64_MAX, want = atomic_load(&r->latest[pg]);
        enum et_verdict d;

        ET_EXPECT(awc_pin(r->c, pg, AWC_SHARED, &p), AWC_OK);
        d = et_check(p, PS, pg, &v);
        if (d != ET_GOOD || v != want)
            fail_msg("after reopen, page %llu: %s, version %llu, expected %llu",
                     (unsigned long long)pg, et_check_str(d), (unsigned long long)v,
                     (unsigned long long)want);
        ET_EXPECT(awc_unpin(r->c, pg, 0), AWC_OK);
        written += want != 0;
    }
    print_message("%llu of %u pages written at least once; all read back at their latest "
                  "version\n",
                  (unsigned long long)written, NPAGES);
    assert_int_equal(et_stats(r->c).checksum_failures, 0);
    et_close(r->c);
    et_unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_stress, (void *)&mode_copy),
        cmocka_unit_test_prestate(test_stress, (void *)&mode_remap),
        cmocka_unit_test_prestate(test_stress, (void *)&mode_identity),
    };
    int rc;

    tu_init();
    et_init("test_engine_stress");
    rc = cmocka_run_group_tests_name("engine_stress", tests, NULL, NULL);
    et_cleanup();
    return rc;
}
