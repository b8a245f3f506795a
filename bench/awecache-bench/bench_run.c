/*
 * bench/awecache-bench/bench_run.c: the harness of `awecache-bench`: runs one side on a workload
 * with threads, measures it, and shows progress (bench.h).
 *
 * The main thread prepares, starts the workers, opens the barrier between warm-up and the
 * measured part, drives the progress display and ends the run; the workers only generate
 * operations and hand them to the side. What they share:
 *
 *     arrived   workers past their warm-up (or failed in it); the main thread polls it
 *     go        the barrier's word: GO_WAIT until the side's begin ran, then GO_RUN (or
 *               GO_ABORT when a worker failed in the warm-up); workers sleep on it (plat_wait)
 *     stop      set by the main thread at the deadline, or by the first worker that fails
 *     claimed   with an op limit: measured operations handed out, CHUNK at a time
 *     running   workers still in the measured part: the run is over when it reaches 0
 *     failed    set by the first worker that fails, which then owns `error`
 *
 * Each worker publishes its measured operation count in its own cache line (`done`), which the
 * main thread sums for the progress display; the totals are read after the join.
 */
#include "bench.h"
#include "cli.h"
#include "plat_io.h"
#include "plat_proc.h"
#include "plat_sync.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_NS   10000000ull /* the main thread's poll interval (10 ms) */
#define CHUNK     256u        /* measured operations a worker claims at once under an op limit */
#define REDRAWS   4u          /* draws per operation of a batch before a duplicate is dropped */
#define CACHELINE 64
#define MAX_BATCH (1u << 24) /* keeps the duplicate check's set size in 32 bits */

enum { GO_WAIT = 0, GO_RUN = 1, GO_ABORT = 2 };

/* One run: what the main thread and the workers share. */
struct run {
    const struct bench_side *side;
    const struct bench_config *cfg;
    struct bench_workload wl; /* the workload, prepared (a copy of cfg->wl) */
    void *state;              /* the side's state */
    uint64_t chunk;           /* CHUNK rounded up to a multiple of the batch */
    _Atomic uint32_t arrived; /* workers past their warm-up (or failed in it) */
    _Atomic uint32_t go;      /* GO_*: the barrier */
    _Atomic uint32_t stop;    /* nonzero: every worker leaves after its current batch */
    _Atomic uint32_t running; /* workers not finished with the measured part */
    _Atomic uint32_t failed;  /* nonzero once a worker failed (the first one wrote error) */
    _Atomic uint64_t claimed; /* measured operations claimed so far (op limit only) */
    char error[200];          /* the first worker failure */
};

/* One worker thread. Aligned to a cache line so that `done` and `warm_done` are not shared. */
struct worker {
    _Alignas(CACHELINE) _Atomic uint64_t done; /* measured operations served so far (read for
                                                * progress) */
    _Atomic uint64_t warm_done; /* warm-up operations served so far (read for progress) */
    struct run *run;
    unsigned id;              /* 0 .. threads - 1 */
    plat_thread_t th;         /* its thread, once started */
    struct bench_gen gen;     /* its operation generator */
    uint64_t warmup;          /* its share of the warm-up operations */
    uint64_t *pages;          /* the batch: pages[0..batch) */
    uint8_t *writes;          /* and which of them are writes */
    uint64_t *set_key;        /* duplicate check: an open-addressed set of set_cap pages */
    uint32_t *set_stamp;      /* an entry belongs to the current batch iff its stamp is */
    uint32_t stamp;           /* the current batch's stamp (never 0) */
    uint32_t set_cap;         /* a power of two >= 2 * batch */
    uint64_t reads, writes_n; /* measured reads and writes */
    uint64_t sink;            /* what the side read: kept so that it must be read */
    uint64_t end_ns;          /* when it left the measured part */
    char err[200];            /* its side's error text */
};

/* ---- bench_touch ------------------------------------------------------------------------- */

uint64_t bench_touch(void *page, size_t page_size, bool write)
{
    const uint64_t *w = page;
    uint64_t x = 0;

    for (size_t i = 0; i < page_size / sizeof(uint64_t); i += CACHELINE / sizeof(uint64_t))
        x ^= w[i];
    if (write) {
        volatile uint64_t *w1 = (volatile uint64_t *)page + 1;

        *w1 = *w1; /* the pattern's free word, stored back as it is */
    }
    return x;
}

/* ---- Workers ----------------------------------------------------------------------------- */

/* Records the first failure and stops every worker. */
static void run_fail(struct run *run, const char *msg)
{
    uint32_t expect = 0;

    if (atomic_compare_exchange_strong(&run->failed, &expect, 1))
        snprintf(run->error, sizeof(run->error), "%s", msg[0] != '\0' ? msg : "failed");
    atomic_store(&run->stop, 1);
}

/* Adds page p to the batch's set; false if it is there already. */
static bool set_insert(struct worker *w, uint64_t p)
{
    uint32_t mask = w->set_cap - 1;
    uint32_t i = (uint32_t)((p * 0x9e3779b97f4a7c15ull) >> 32) & mask;

    while (w->set_stamp[i] == w->stamp) {
        if (w->set_key[i] == p)
            return false;
        i = (i + 1) & mask;
    }
    w->set_stamp[i] = w->stamp;
    w->set_key[i] = p;
    return true;
}

/* Draws up to n operations on distinct pages into the batch: a page already in the batch is
 * drawn again, and after REDRAWS * n draws in all the batch stays short (a data set with fewer
 * pages than a batch, say). Returns how many (>= 1). */
static size_t fill_batch(struct worker *w, size_t n)
{
    size_t m = 0;
    bool wr;

    if (n == 1) {
        w->pages[0] = bench_gen_next(&w->gen, &wr);
        w->writes[0] = wr;
        return 1;
    }
    if (++w->stamp == 0) { /* wrapped: forget every stamp */
        memset(w->set_stamp, 0, w->set_cap * sizeof(*w->set_stamp));
        w->stamp = 1;
    }
    for (size_t draws = 0; m < n && draws < REDRAWS * n; draws++) {
        uint64_t p = bench_gen_next(&w->gen, &wr);

        if (!set_insert(w, p))
            continue;
        w->pages[m] = p;
        w->writes[m++] = wr;
    }
    return m;
}

/* Serves one batch of up to n operations; returns how many were served, 0 on failure. */
static size_t serve_batch(struct worker *w, size_t n)
{
    struct run *run = w->run;
    size_t m = fill_batch(w, n);

    w->err[0] = '\0';
    if (run->side->serve(run->state, w->id, w->pages, w->writes, m, &w->sink, w->err,
                         sizeof(w->err)) != 0) {
        run_fail(run, w->err);
        return 0;
    }
    return m;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    const struct bench_config *cfg = run->cfg;
    uint64_t left, done = 0;
    uint32_t g;

    /* Step 4: the warm-up, then the barrier. */
    for (left = w->warmup;
         left > 0 && atomic_load_explicit(&run->stop, memory_order_relaxed) == 0;) {
        size_t m = serve_batch(w, left < cfg->batch ? (size_t)left : cfg->batch);

        if (m == 0)
            break;
        left -= m;
        atomic_store_explicit(&w->warm_done, w->warmup - left, memory_order_relaxed);
    }
    atomic_fetch_add(&run->arrived, 1);
    while ((g = atomic_load(&run->go)) == GO_WAIT)
        plat_wait(&run->go, GO_WAIT);
    if (g != GO_RUN) {
        w->end_ns = plat_clock_ns();
        atomic_fetch_sub(&run->running, 1);
        return NULL;
    }

    /* Step 5: the measured part, until stop or until no operation is left to claim. */
    left = 0;
    while (atomic_load_explicit(&run->stop, memory_order_relaxed) == 0) {
        size_t n = cfg->batch, m;

        if (cfg->ops != 0) {
            if (left == 0) {
                uint64_t c = atomic_fetch_add(&run->claimed, run->chunk);

                if (c >= cfg->ops)
                    break;
                left = cfg->ops - c < run->chunk ? cfg->ops - c : run->chunk;
            }
            if (left < n)
                n = (size_t)left;
        }
        m = serve_batch(w, n);
        if (m == 0)
            break;
        for (size_t i = 0; i < m; i++) {
            w->writes_n += w->writes[i] != 0;
            w->reads += w->writes[i] == 0;
        }
        done += m;
        left -= cfg->ops != 0 ? m : 0;
        atomic_store_explicit(&w->done, done, memory_order_relaxed);
    }
    w->end_ns = plat_clock_ns();
    atomic_fetch_sub(&run->running, 1);
    return NULL;
}

/* ---- The main thread ---------------------------------------------------------------------- */

static uint64_t sum_done(struct worker *ws, unsigned n, bool warm)
{
    uint64_t s = 0;

    for (unsigned i = 0; i < n; i++)
        s += atomic_load_explicit(warm ? &ws[i].warm_done : &ws[i].done, memory_order_relaxed);
    return s;
}

/* Allocates the workers and their batches; NULL on failure. */
static struct worker *workers_new(struct run *run, unsigned n)
{
    size_t bytes = ((n * sizeof(struct worker)) + CACHELINE - 1) / CACHELINE * CACHELINE;
    struct worker *ws = plat_aligned_alloc(CACHELINE, bytes);
    const struct bench_config *cfg = run->cfg;
    uint32_t cap = 2;

    if (ws == NULL)
        return NULL;
    memset(ws, 0, bytes);
    while (cap < 2u * cfg->batch)
        cap *= 2;
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &ws[i];

        atomic_init(&w->done, 0);
        atomic_init(&w->warm_done, 0);
        w->run = run;
        w->id = i;
        w->warmup = cfg->warmup_ops / n + (i < cfg->warmup_ops % n ? 1 : 0);
        bench_gen_init(&w->gen, &run->wl, i, n);
        w->set_cap = cap;
        w->pages = malloc(cfg->batch * sizeof(*w->pages));
        w->writes = malloc(cfg->batch * sizeof(*w->writes));
        w->set_key = malloc(cap * sizeof(*w->set_key));
        w->set_stamp = calloc(cap, sizeof(*w->set_stamp));
        if (w->pages == NULL || w->writes == NULL || w->set_key == NULL || w->set_stamp == NULL)
            return ws; /* the caller checks every worker's arrays */
    }
    return ws;
}

static void workers_free(struct worker *ws, unsigned n)
{
    if (ws == NULL)
        return;
    for (unsigned i = 0; i < n; i++) {
        free(ws[i].pages);
        free(ws[i].writes);
        free(ws[i].set_key);
        free(ws[i].set_stamp);
    }
    plat_aligned_free(ws);
}

static bool workers_complete(const struct worker *ws, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (ws[i].pages == NULL || ws[i].writes == NULL || ws[i].set_key == NULL ||
            ws[i].set_stamp == NULL)
            return false;
    return true;
}

static int fail_result(struct bench_result *r, const char *msg)
{
    r->ok = false;
    snprintf(r->error, sizeof(r->error), "%s", msg);
    return -1;
}

int bench_drop_os_cache(const char *path, char *err, size_t errlen)
{
    struct plat_file *f;
    int rc = plat_file_open(path, PLAT_FILE_READONLY, &f);

    if (rc != 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, plat_io_strerror(rc));
        return -1;
    }
    rc = plat_file_drop_cache(f);
    plat_file_close(f);
    if (rc != 0) {
        snprintf(err, errlen, "cannot drop the OS page cache of %s: %s", path,
                 plat_io_strerror(rc));
        return -1;
    }
    return 0;
}

/* Step 4's wait for the warm-up, with its progress display. */
static void wait_warmup(struct run *run, struct worker *ws, unsigned n, const char *label)
{
    struct cli_progress prog;
    char lab[96];

    snprintf(lab, sizeof(lab), "%s warm-up", label);
    if (run->cfg->warmup_ops > 0)
        cli_progress_start(&prog, lab, run->cfg->warmup_ops, "ops");
    while (atomic_load(&run->arrived) < n) {
        plat_sleep_ns(POLL_NS);
        if (run->cfg->warmup_ops > 0)
            cli_progress_update(&prog, sum_done(ws, n, true));
    }
    if (run->cfg->warmup_ops > 0)
        cli_progress_end(&prog, sum_done(ws, n, true));
}

/* Step 5: drives the progress display until the run is over; returns when every worker left
 * the measured part or was told to stop. */
static void drive_measured(struct run *run, struct worker *ws, unsigned n, uint64_t t0,
                           const char *label)
{
    const struct bench_config *cfg = run->cfg;
    struct cli_progress prog;
    uint64_t done;

    /* By operations with an op limit; else by time: the total is then re-estimated at each
     * update as done / elapsed fraction, so that the bar shows the elapsed fraction while the
     * counts stay operations. */
    cli_progress_start(&prog, label, cfg->ops, "ops");
    while (atomic_load(&run->running) > 0 && atomic_load(&run->stop) == 0) {
        uint64_t now = plat_clock_ns(), wait = POLL_NS;

        if (cfg->duration_ns != 0) {
            if (now - t0 >= cfg->duration_ns) {
                atomic_store(&run->stop, 1);
                break;
            }
            if (t0 + cfg->duration_ns - now < wait)
                wait = t0 + cfg->duration_ns - now;
        }
        plat_sleep_ns(wait);
        done = sum_done(ws, n, false);
        if (cfg->ops == 0 && done > 0) {
            double frac = (double)(plat_clock_ns() - t0) / (double)cfg->duration_ns;

            prog.total = frac > 0 && (double)done / frac > (double)done
                             ? (uint64_t)((double)done / frac)
                             : done;
        }
        cli_progress_update(&prog, done);
    }
    done = sum_done(ws, n, false);
    if (cfg->ops == 0)
        prog.total = done > 0 ? done : 1;
    cli_progress_end(&prog, done);
}

/*
 * Steps:
 *  1. Drop the OS page cache's copy of the data file, so that no side profits from pages an
 *     earlier side left there (not with cfg->keep_os_cache: a later part of one side's run).
 *  2. Open the side.
 *  3. Start the workers, each with its own generator; they hand the side batches of distinct
 *     pages.
 *  4. Warm-up: warmup_ops operations in all, split over the workers, not measured; every worker
 *     then waits at the barrier; once all arrived, the side's begin runs and the barrier opens.
 *  5. The measured part, until the duration passed or the op count was served; the main thread
 *     shows progress and tells the workers to stop.
 *  6. The first failure of any worker stops them all and fails the run.
 *  7. Join, close the side (its counters), and compute the totals and rates.
 */
int bench_run(const struct bench_side *side, const struct bench_config *cfg, struct bench_result *r)
{
    struct run *run;
    struct worker *ws = NULL;
    unsigned n = cfg->threads, started = 0;
    char label[64], err[200];
    uint64_t t0 = 0, t_end = 0;
    bool failed = false;
    int rc;

    memset(r, 0, sizeof(*r));
    snprintf(r->side, sizeof(r->side), "%s", side->name);
    r->hits = r->misses = r->window_hits = r->frame_hits = UINT64_MAX;
    r->bytes_read = r->bytes_written = r->mem_bytes = UINT64_MAX;
    if (n == 0 || cfg->batch == 0 || cfg->batch > MAX_BATCH)
        return fail_result(r, "threads and batch must be at least 1 (and a batch at most 2^24)");
    if (cfg->duration_ns == 0 && cfg->ops == 0)
        return fail_result(r, "neither a duration nor an operation count was given");
    if (cfg->wl.dist == BENCH_TRACE && (cfg->wl.trace == NULL || cfg->wl.trace_len == 0))
        return fail_result(r, "the trace is empty");
    if (cfg->wl.pages == 0 && cfg->pages == 0)
        return fail_result(r, "the data set has no pages");
    run = calloc(1, sizeof(*run));
    if (run == NULL)
        return fail_result(r, "out of memory");
    run->side = side;
    run->cfg = cfg;
    run->wl = cfg->wl;
    if (run->wl.pages == 0)
        run->wl.pages = cfg->pages;
    run->chunk = (CHUNK + cfg->batch - 1) / cfg->batch * cfg->batch;
    atomic_init(&run->running, n);
    snprintf(label, sizeof(label), "bench %s", side->name);

    /* The generators share the Zipf constants: prepared here unless the caller did. */
    if ((run->wl.dist == BENCH_ZIPF || run->wl.dist == BENCH_MIX) && run->wl.zipf_state == NULL) {
        rc = bench_workload_prepare(&run->wl);
        if (rc != 0) {
            free(run);
            return fail_result(r, "cannot prepare the workload (bad parameters)");
        }
    }

    /* Step 1 */
    if (!cfg->keep_os_cache && bench_drop_os_cache(cfg->path, err, sizeof(err)) != 0) {
        rc = fail_result(r, err);
        goto out_wl;
    }
    /* Step 2 */
    err[0] = '\0';
    if (side->open(&run->state, cfg, err, sizeof(err)) != 0) {
        rc = fail_result(r, err[0] != '\0' ? err : "cannot open the side");
        goto out_wl;
    }
    /* Step 3 */
    ws = workers_new(run, n);
    if (ws == NULL || !workers_complete(ws, n)) {
        run_fail(run, "out of memory");
    } else {
        for (started = 0; started < n; started++) {
            if (plat_thread_create(&ws[started].th, worker_main, &ws[started]) != 0) {
                run_fail(run, "cannot start a thread");
                break;
            }
        }
    }
    if (started < n) {
        /* The threads that did start stop at once: they count as arrived and running out. */
        atomic_store(&run->stop, 1);
        atomic_fetch_add(&run->arrived, n - started);
    }
    /* Step 4 */
    if (started > 0)
        wait_warmup(run, ws, n, label);
    if (atomic_load(&run->failed) != 0) {
        atomic_store(&run->go, GO_ABORT);
    } else {
        if (side->begin != NULL)
            side->begin(run->state);
        t0 = plat_clock_ns();
        atomic_store(&run->go, GO_RUN);
    }
    plat_wake(&run->go, 1);
    /* Step 5 */
    if (atomic_load(&run->go) == GO_RUN)
        drive_measured(run, ws, n, t0, label);
    atomic_store(&run->stop, 1);
    /* Step 7 (and 6: a failure is in run->error) */
    for (unsigned i = 0; i < started; i++)
        plat_thread_join(ws[i].th, NULL);
    failed = atomic_load(&run->failed) != 0;
    err[0] = '\0';
    if (side->close(run->state, r, err, sizeof(err)) != 0 && !failed) {
        failed = true;
        snprintf(run->error, sizeof(run->error), "%s", err[0] != '\0' ? err : "close failed");
    }
    r->ops = r->reads = r->writes = 0;
    for (unsigned i = 0; i < started; i++) {
        r->reads += ws[i].reads;
        r->writes += ws[i].writes_n;
        if (ws[i].end_ns > t_end)
            t_end = ws[i].end_ns;
    }
    r->ops = r->reads + r->writes;
    r->seconds = t_end > t0 && t0 != 0 ? (double)(t_end - t0) / 1e9 : 0.0;
    r->ops_per_s = r->seconds > 0 ? (double)r->ops / r->seconds : 0.0;
    r->mib_per_s = r->ops_per_s * (double)cfg->page_size / (1024.0 * 1024.0);
    r->ok = !failed;
    if (failed)
        snprintf(r->error, sizeof(r->error), "%s", run->error);
    rc = failed ? -1 : 0;
    workers_free(ws, n);
out_wl:
    if (run->wl.zipf_state != cfg->wl.zipf_state)
        bench_workload_free(&run->wl);
    free(run);
    return rc;
}
