/*
 * bench/awecache-bench/bench_bt.c: `awecache-bench --btree`: the ordered-store benchmark (issue
 * 14 item 5). The items of the key-value benchmark (bench_kv.h: fixed-width keys that sort as
 * their ids, values checked byte for byte) go into awecache's B+-tree (awc_bt_*,
 * bench_bt_awecache.c), LMDB (a B+-tree over mmap, inside a memory cgroup of the RAM budget) and
 * RocksDB (an LSM tree, its block cache the budget), and each is measured at the operations an
 * index serves, in the same run, under the same budget.
 *
 * What it does, in order (cmd_bench_bt's steps):
 *   1. Parse and validate the options; count the items (--data-size fit: a third of the budget
 *      in keys and values, so that every side's pages fit in it; 4x: four times the budget);
 *      open the medium (--medium ram: a RAM disk); pick the stores' base name.
 *   2. --repeat times, the sides one after the other each time (interleaved, so that a drift of
 *      the machine touches every side alike), a side's part being:
 *      a. a store loaded in key order (the sorted load: its rate, then the store is removed);
 *      b. a store loaded in a random order (the random load), made durable;
 *      c. on that store, kept open, the measured parts of the harness (bench_run.c: threads,
 *         warm-up, then the measured time): point lookups over uniform and Zipf 0.99 keys, short
 *         range scans of 100 items (a seek to the first key >= a uniform key, then 99 nexts; an
 *         operation each) and a 90/10 mix of
 *         uniform lookups and updates (the item's next version), each with 1 thread, then with
 *         --threads (default 2); every item a lookup or scan finds is checked;
 *      d. close the store (its counters) and remove it unless --keep.
 *   3. Report: the medians over the repetitions (with min-max when more than one), awecache's
 *      rate against each other side's, the RAM hit ratio of each side, and each side's memory:
 *      a table (default), --json or --csv. Exit 1 when a side that is built failed.
 *
 * A side not built in (RocksDB and LMDB are optional) gets a row saying so. SIGINT and SIGTERM
 * stop the run at the next operation; the store is removed all the same.
 */
#include "bench.h"
#include "bench_kv.h"
#include "cli.h"

#include "awecache.h"
#include "awecache_bt.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD         NULL
#define BT_PATH_LEN 4096
#define NSIDES      3
#define NPARTS      4                /* measured parts per thread count */
#define NROWS       (2 + 2 * NPARTS) /* the two loads, then the parts at 1 and N threads */
#define FIT_SHARE   3u               /* --data-size fit: keys and values = budget / FIT_SHARE */
#define LARGE_TIMES 4u               /* --data-size 4x: keys and values = budget * LARGE_TIMES */

/* The measured parts (step 2c), in their order. */
static const struct bt_part {
    const char *name;
    enum kv_reads reads;
    enum bench_dist dist;
    double read_ratio;
} parts[NPARTS] = {
    {"lookup uniform", KV_READS_GET, BENCH_UNIFORM, 1.0},
    {"lookup zipf:0.99", KV_READS_GET, BENCH_ZIPF, 1.0},
    {"scan 100", KV_READS_SCAN, BENCH_UNIFORM, 1.0},
    {"90/10 lookup/update", KV_READS_GET, BENCH_UNIFORM, 0.9},
};

/* ---- Options ----------------------------------------------------------------------------- */

enum opt_id {
    OPT_BTREE = KV_OPT_END,
};

static const struct cli_opt bt_opts_table[] = {
    {"btree", OPT_BTREE, NULL, "the B+-tree benchmark (this help)"},
    {"items", KV_OPT_ITEMS, "N", "items to load (default: as --data-size says)"},
    {"data-size", BENCH_OPT_DATA_SIZE, "SIZE",
     "bytes of keys and values to load: fit (default: a third of --frames, every side's pages "
     "fit in the budget), 4x (four times --frames) or a size"},
    {"value-size", KV_OPT_VALUE_SIZE, "MIN-MAX",
     "value sizes, uniform by key, from 16 B to what a tree node takes (default 100)"},
    {"frames", BENCH_OPT_FRAMES, "SIZE",
     "the RAM budget, every side's: awecache's frames + checksums, RocksDB's block cache + "
     "memtable, LMDB's memory cgroup (default 64M)"},
    {"window", BENCH_OPT_WINDOW, "SIZE",
     "awecache's window, at most --frames (default: the frames up to 64M, else a quarter, at most "
     "64M)"},
    {"page-size", BENCH_OPT_PAGE_SIZE, "SIZE", "awecache's page size, 4K to 2M (default 4K)"},
    {"threads", BENCH_OPT_THREADS, "N",
     "each part runs with 1 thread, then with N (default 2; 1: once)"},
    {"duration", KV_OPT_DURATION, "T", "measure each part for T: 500ms, 10s, 2m (default 2s)"},
    {"ops", BENCH_OPT_OPS, "N",
     "measure N operations per part (given alone: no time limit; with --duration: whichever "
     "comes first)"},
    {"warmup", BENCH_OPT_WARMUP, "N",
     "operations before each part, not counted; a twentieth for scans (default: a quarter of "
     "the items, at most 50k)"},
    {"seed", BENCH_OPT_SEED, "N",
     "seed of the values, the load order and the workload (default 1)"},
    {"dir", KV_OPT_DIR, "DIR",
     "where the stores go, as awecache-bt-<random>.<side> (default $TMPDIR or /var/tmp)"},
    KV_OPTS_MEDIUM_REPEAT,
    {"keep", BENCH_OPT_KEEP, NULL, "keep the randomly loaded stores (default: removed)"},
    {"json", BENCH_OPT_JSON, NULL, "print the configuration and results as JSON"},
    {"csv", BENCH_OPT_CSV, NULL,
     "print the results as CSV (a header, a row per operation and side)"},
    {"no-direct", BENCH_OPT_NO_DIRECT, NULL, "awecache uses buffered I/O, not O_DIRECT"},
    {NULL, 0, NULL, NULL},
};

enum bt_size { SIZE_FIT, SIZE_LARGE, SIZE_BYTES };

struct bt_opts {
    struct bench_common c; /* what bench takes too (window 0: the side's default) */
    struct kv_common k;    /* what --kv takes too */
    enum bt_size size;     /* --data-size fit, 4x, or a size (c.data_size) */
};

/* Takes one of --btree's own options into the struct bt_opts at ctx (bench_parse's `own`): 0,
 * -1 for a wrong value (message printed), or 1 when id is not one of them. */
static int bt_option(int id, const char *arg, void *ctx)
{
    struct bt_opts *o = ctx;

    switch (id) {
    case OPT_BTREE:
        return 0;
    case BENCH_OPT_DATA_SIZE:
        o->c.data_size_given = true;
        if (strcmp(arg, "fit") == 0 || strcmp(arg, "4x") == 0) {
            o->size = arg[0] == 'f' ? SIZE_FIT : SIZE_LARGE;
            return 0;
        }
        o->size = SIZE_BYTES;
        if (cli_parse_size(arg, &o->c.data_size) != 0 || o->c.data_size == 0) {
            cli_error(CMD, "--data-size %s: expected fit, 4x or a size above 0 (64M, 1G)", arg);
            return -1;
        }
        return 0;
    default:
        return kv_common_option(id, arg, &o->c, &o->k, AWC_KV_MAX_VALUE);
    }
}

/* Parses argv into *o. Returns -1 to go on, or the exit status (help printed: CLI_EXIT_OK). */
static int parse_args(int argc, char **argv, struct bt_opts *o)
{
    struct cli_parser p;

    memset(o, 0, sizeof(*o));
    bench_common_init(&o->c);
    o->c.frames = 64ull << 20;
    o->c.duration_ns = 2ull * 1000000000ull;
    o->c.threads = 2;
    o->k.value_min = o->k.value_max = 100;
    o->k.repeat = 1;
    cli_parser_init(&p, CMD, "awecache-bench --btree [OPTIONS]",
                    "Loads items into awecache's B+-tree, LMDB and RocksDB (those built in) under "
                    "one RAM budget, in key order and in a random order, then measures point "
                    "lookups (uniform, Zipf 0.99), scans of 100 items and a 90/10 lookup/update "
                    "mix with 1 and N threads. Every item found is checked byte for byte. Results "
                    "on stdout: a table, --json or --csv; progress and notes on stderr.",
                    bt_opts_table, argc, argv);
    return bench_parse(&p, "awecache-bench --btree --help", &o->c, bt_option, o);
}

/* ---- Results ----------------------------------------------------------------------------- */

/* One side at one row (a load or a measured part) in one repetition. */
struct bt_cell {
    bool ok;
    double rate;             /* items loaded per second, or operations per second */
    double hit;              /* RAM hit ratio (NAN: unknown, or a load) */
    struct kv_side_stats ss; /* the side's figures at the end of the part */
    uint64_t rss_delta;      /* the process's RSS then, less before the store (KV_UNKNOWN) */
};

/* What a side did over the repetitions. */
struct bt_side_run {
    const struct kv_side *side;
    bool built;
    bool failed;
    char error[512];
    struct bt_cell *cells; /* [repeat][NROWS] */
};

/* A row's name and thread count. */
static void row_name(size_t row, unsigned threads, char *buf, size_t len, unsigned *nthreads)
{
    if (row < 2) {
        snprintf(buf, len, "load %s", row == 0 ? "random" : "sorted");
        *nthreads = 1;
        return;
    }
    snprintf(buf, len, "%s", parts[(row - 2) % NPARTS].name);
    *nthreads = row - 2 < NPARTS ? 1 : threads;
}

/* The rows the run has: the loads and the parts at 1 thread, and at N when N > 1. */
static size_t rows_in_run(unsigned threads)
{
    return threads > 1 ? NROWS : NROWS - NPARTS;
}

/* One side at one row, over the repetitions (fold). */
struct bt_fig {
    char name[48];              /* the row's operation */
    unsigned threads;           /* and its threads */
    double med, lo, hi;         /* the rate's median, lowest, highest (NAN: not run whole) */
    double vs;                  /* awecache's median / this one's (NAN: unknown) */
    const struct bt_cell *cell; /* the repetition that gives the median, or NULL */
};

/* The figures of every side at every row the run has (figs[row][side]). */
static void fold(const struct bt_side_run *sides, size_t reps, unsigned threads,
                 struct bt_fig figs[NROWS][NSIDES])
{
    for (size_t row = 0; row < rows_in_run(threads); row++) {
        for (size_t s = 0; s < NSIDES; s++) {
            struct bt_fig *f = &figs[row][s];
            double v[BENCH_REPEAT_MAX];
            size_t mid = 0, r;

            row_name(row, threads, f->name, sizeof(f->name), &f->threads);
            f->med = f->lo = f->hi = NAN;
            f->cell = NULL;
            for (r = 0; sides[s].built && r < reps && sides[s].cells[r * NROWS + row].ok; r++)
                v[r] = sides[s].cells[r * NROWS + row].rate;
            if (sides[s].built && r == reps) {
                f->med = bench_median(v, reps, &f->lo, &f->hi, &mid);
                f->cell = &sides[s].cells[mid * NROWS + row];
            }
            f->vs = kv_ratio(figs[row][0].med, f->med);
        }
    }
}

/* ---- The run of one side ----------------------------------------------------------------- */

/* Fills a random order of the items (Fisher-Yates over the seed). */
static void shuffle(uint32_t *order, uint64_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

    for (uint64_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t k;
        uint32_t t;

        x = cli_mix64(x);
        k = x % i;
        t = order[i - 1];
        order[i - 1] = order[k];
        order[k] = t;
    }
}

/* What every side's run shares. */
struct bt_ctx {
    const struct bt_opts *o;
    const struct kv_items *it;
    struct kv_run *run;
    const uint32_t *order;       /* the random load's order */
    struct bench_workload wl[2]; /* uniform, zipf:0.99 (prepared) */
    const char *base;            /* the stores' base name */
    unsigned threads;            /* N */
};

/* Opens a store at the base name + infix + the side's suffix and loads it in order (NULL: key
 * order) into cell. Returns 0 with the store open, or -1 with err (nothing left). */
static int load_store(struct bt_ctx *x, const struct kv_side *side, const char *infix,
                      const uint32_t *order, struct bt_cell *cell, char *err, size_t errlen)
{
    char path[BT_PATH_LEN + 64];
    double seconds = 0;

    snprintf(path, sizeof(path), "%s%s%s", x->base, infix, side->suffix);
    if (kv_run_open(x->run, side, path, err, errlen) != 0)
        return -1;
    if (kv_run_load(x->run, order, &seconds, err, errlen) != 0) {
        kv_run_close(x->run, false);
        return -1;
    }
    cell->ok = true;
    cell->rate = seconds > 0 ? (double)x->it->n / seconds : NAN;
    cell->hit = NAN;
    cell->rss_delta = KV_UNKNOWN;
    cell->ss.hits = cell->ss.misses = cell->ss.meta_bytes = KV_UNKNOWN;
    cell->ss.mem_bytes = cell->ss.disk_bytes = KV_UNKNOWN;
    return 0;
}

/* Steps 2a to 2d for one side, into cells[0 .. NROWS). Returns 0, or -1 with err. */
static int run_side(struct bt_ctx *x, const struct kv_side *side, struct bt_cell *cells, char *err,
                    size_t errlen)
{
    struct bench_config *hc = kv_run_harness_config(x->run);
    size_t nrows = rows_in_run(x->threads);

    /* Step 2a */
    if (load_store(x, side, "-sorted", NULL, &cells[1], err, errlen) != 0)
        return -1;
    kv_run_close(x->run, false);
    /* Step 2b */
    if (load_store(x, side, "", x->order, &cells[0], err, errlen) != 0)
        return -1;
    /* Step 2c */
    for (size_t row = 2; row < nrows && !cli_stopping(); row++) {
        const struct bt_part *p = &parts[(row - 2) % NPARTS];
        struct bt_cell *c = &cells[row];
        struct bench_result r;

        memset(&r, 0, sizeof(r));
        hc->threads = row - 2 < NPARTS ? 1 : x->threads;
        hc->wl = x->wl[p->dist == BENCH_ZIPF];
        hc->wl.read_ratio = p->read_ratio;
        hc->warmup_ops = p->reads == KV_READS_SCAN ? x->o->c.warmup / 20 : x->o->c.warmup;
        if (kv_run_measure(x->run, p->reads, &r, &c->ss, &c->rss_delta) != 0) {
            snprintf(err, errlen, "%s, %u thread%s: %s", p->name, hc->threads,
                     hc->threads > 1 ? "s" : "", r.error);
            kv_run_close(x->run, false);
            return -1;
        }
        c->ok = true;
        c->rate = r.ops_per_s;
        c->hit = kv_hit_ratio(&c->ss, r.ops);
    }
    /* Step 2d */
    kv_run_close(x->run, x->o->c.keep);
    if (cli_stopping()) {
        snprintf(err, errlen, "interrupted");
        return -1;
    }
    return 0;
}

/* ---- Report ------------------------------------------------------------------------------ */

/* The figures a side's memory table shows: its last part in the last repetition it ran whole. */
static const struct bt_cell *side_figures(const struct bt_side_run *sr, size_t reps,
                                          unsigned threads)
{
    if (!sr->built || sr->failed)
        return NULL;
    return &sr->cells[(reps - 1) * NROWS + rows_in_run(threads) - 1];
}

static const char *size_name(const struct bt_opts *o)
{
    return o->size == SIZE_FIT ? "fit" : o->size == SIZE_LARGE ? "4x" : "size";
}

static void config_line(const struct bt_opts *o, const struct kv_items *it, uint64_t data_bytes,
                        const char *base, char *buf, size_t len)
{
    struct kv_config_text t;
    char fit[64] = "", threads[32] = "1";

    kv_config_text(&t, it, data_bytes, &o->c);
    if (o->c.threads > 1)
        snprintf(threads, sizeof(threads), "1 and %llu", (unsigned long long)o->c.threads);
    if (o->k.items == 0 && o->size != SIZE_BYTES)
        snprintf(fit, sizeof(fit), "; %s",
                 o->size == SIZE_FIT ? "fit: a third of the budget" : "4x the budget");
    if (snprintf(buf, len,
                 "items %s (keys %u B, values %s: %s with the keys%s), RAM budget %s, window %s, "
                 "page %s, threads %s, warm-up %llu ops (scans %llu), %s per part, repeat %llu, "
                 "medium %s, stores %s.*",
                 t.n, KV_KEY_LEN, t.values, t.data, fit, t.frames, t.window, t.page, threads,
                 (unsigned long long)o->c.warmup, (unsigned long long)o->c.warmup / 20, t.limit,
                 (unsigned long long)o->k.repeat, o->k.m.text, base) < 0)
        buf[0] = '\0';
}

#define CELL_LEN 256
#define NCOLS1   (2 + 2 * NSIDES + (NSIDES - 1))
#define NCOLS2   6

/* A rate cell: the median, with min-max after --repeat; NULL when unknown. */
static const char *rate_cell(const struct bt_fig *f, size_t reps, char *buf)
{
    if (f->cell == NULL)
        return NULL;
    bench_fmt_median(buf, CELL_LEN, f->med, f->lo, f->hi, reps);
    return buf;
}

/* The two tables: the rates per row (awecache's against each other side's, the RAM hit ratios),
 * then each side's memory and notes. */
static int print_tables(const struct bt_side_run *sides, struct bt_fig figs[NROWS][NSIDES],
                        size_t reps, unsigned threads, uint64_t items)
{
    static const char *const h1[NCOLS1] = {"operation", "threads",    "awecache/s",  "lmdb/s",
                                           "rocksdb/s", "awc/lmdb",   "awc/rocksdb", "hit awecache",
                                           "hit lmdb",  "hit rocksdb"};
    static const char *const h2[NCOLS2] = {"side", "RAM used",    "RSS +",
                                           "disk", "meta B/item", "notes"};
    size_t nrows = rows_in_run(threads);
    const char **c1, **c2;
    char(*t1)[CELL_LEN] = cli_table_alloc(CMD, nrows, NCOLS1, CELL_LEN, &c1);
    char(*t2)[CELL_LEN] = cli_table_alloc(CMD, NSIDES, NCOLS2, CELL_LEN, &c2);

    if (t1 == NULL || t2 == NULL) {
        free(t1);
        free(c1);
        free(t2);
        free(c2);
        return -1;
    }
    for (size_t row = 0; row < nrows; row++) {
        char(*t)[CELL_LEN] = t1 + row * NCOLS1;
        const char **c = c1 + row * NCOLS1;

        c[0] = figs[row][0].name;
        snprintf(t[1], CELL_LEN, "%u", figs[row][0].threads);
        c[1] = t[1];
        for (size_t s = 0; s < NSIDES; s++) {
            const struct bt_fig *f = &figs[row][s];
            size_t hit = 2 + 2 * NSIDES - 1 + s, vs = 2 + NSIDES + s - 1;

            c[2 + s] = rate_cell(f, reps, t[2 + s]);
            if (f->cell != NULL && isfinite(f->cell->hit)) {
                snprintf(t[hit], CELL_LEN, "%.1f%%", f->cell->hit * 100.0);
                c[hit] = t[hit];
            }
            if (s > 0 && isfinite(f->vs)) {
                snprintf(t[vs], CELL_LEN, f->vs >= 0.1 ? "%.2fx" : "%.2gx", f->vs);
                c[vs] = t[vs];
            }
        }
    }
    for (size_t s = 0; s < NSIDES; s++) {
        const struct bt_side_run *sr = &sides[s];
        const struct bt_cell *f = side_figures(sr, reps, threads);
        char(*t)[CELL_LEN] = t2 + s * NCOLS2;
        const char **c = c2 + s * NCOLS2;

        c[0] = sr->side->name;
        if (f != NULL) {
            if (f->ss.mem_bytes != KV_UNKNOWN)
                c[1] = cli_fmt_size(f->ss.mem_bytes, t[1], CELL_LEN);
            if (f->rss_delta != KV_UNKNOWN)
                c[2] = cli_fmt_size(f->rss_delta, t[2], CELL_LEN);
            if (f->ss.disk_bytes != KV_UNKNOWN)
                c[3] = cli_fmt_size(f->ss.disk_bytes, t[3], CELL_LEN);
            if (f->ss.meta_bytes != KV_UNKNOWN && items > 0) {
                snprintf(t[4], CELL_LEN, "%.1f", (double)f->ss.meta_bytes / (double)items);
                c[4] = t[4];
            }
            snprintf(t[5], CELL_LEN, "%s", f->ss.note);
        } else if (!sr->built) {
            snprintf(t[5], CELL_LEN, "%s", sr->error);
        } else {
            snprintf(t[5], CELL_LEN, "FAILED: %s", sr->error);
        }
        c[5] = t[5];
    }
    cli_table_print(stdout, NCOLS1, h1, c1, nrows);
    printf("\n");
    cli_table_print(stdout, NCOLS2, h2, c2, NSIDES);
    free(t1);
    free(c1);
    free(t2);
    free(c2);
    return 0;
}

static void print_json(const struct bt_opts *o, const struct kv_items *it, uint64_t data_bytes,
                       const char *base, const struct bt_side_run *sides,
                       struct bt_fig figs[NROWS][NSIDES], unsigned threads)
{
    size_t reps = (size_t)o->k.repeat, nrows = rows_in_run(threads);
    struct cli_json j;

    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_begin_object(&j, "config");
    kv_json_config(&j, "btree", base, it, data_bytes, &o->c);
    cli_json_str(&j, "data_size", o->k.items != 0 ? "items" : size_name(o));
    cli_json_u64(&j, "threads", threads);
    cli_json_real(&j, "duration_s", (double)o->c.duration_ns / 1e9);
    cli_json_u64(&j, "ops", o->c.ops);
    cli_json_u64(&j, "warmup_ops", o->c.warmup);
    cli_json_u64(&j, "seed", o->c.wl.seed);
    cli_json_u64(&j, "repeat", o->k.repeat);
    bench_medium_json(&j, &o->k.m);
    cli_json_end_object(&j);
    cli_json_begin_array(&j, "sides");
    for (size_t s = 0; s < NSIDES; s++) {
        const struct bt_side_run *sr = &sides[s];
        const struct bt_cell *f = side_figures(sr, reps, threads);

        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "side", sr->side->name);
        cli_json_bool(&j, "built", sr->built);
        cli_json_bool(&j, "ok", sr->built && !sr->failed);
        cli_json_str(&j, "error", sr->built && sr->failed ? sr->error : NULL);
        bench_json_u64_or_null(&j, "mem_bytes", f != NULL ? f->ss.mem_bytes : KV_UNKNOWN);
        bench_json_u64_or_null(&j, "rss_delta_bytes", f != NULL ? f->rss_delta : KV_UNKNOWN);
        bench_json_u64_or_null(&j, "disk_bytes", f != NULL ? f->ss.disk_bytes : KV_UNKNOWN);
        bench_json_u64_or_null(&j, "meta_bytes", f != NULL ? f->ss.meta_bytes : KV_UNKNOWN);
        cli_json_str(&j, "note", !sr->built ? sr->error : (f != NULL ? f->ss.note : NULL));
        cli_json_end_object(&j);
    }
    cli_json_end_array(&j);
    cli_json_begin_array(&j, "results");
    for (size_t row = 0; row < nrows; row++) {
        for (size_t s = 0; s < NSIDES; s++) {
            const struct bt_fig *f = &figs[row][s];

            cli_json_begin_object(&j, NULL);
            cli_json_str(&j, "operation", f->name);
            cli_json_u64(&j, "threads", f->threads);
            cli_json_str(&j, "side", sides[s].side->name);
            cli_json_bool(&j, "built", sides[s].built);
            cli_json_bool(&j, "ok", f->cell != NULL);
            cli_json_real(&j, "per_s", f->med);
            cli_json_real(&j, "per_s_min", f->lo);
            cli_json_real(&j, "per_s_max", f->hi);
            cli_json_u64(&j, "runs", f->cell != NULL ? reps : 0);
            cli_json_real(&j, "hit_ratio", f->cell != NULL ? f->cell->hit : (double)NAN);
            cli_json_real(&j, "awecache_ratio", f->vs);
            cli_json_end_object(&j);
        }
    }
    cli_json_end_array(&j);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

static void print_csv(const struct bt_side_run *sides, struct bt_fig figs[NROWS][NSIDES],
                      size_t reps, unsigned threads)
{
    fputs("operation,threads,side,built,ok,per_s,per_s_min,per_s_max,runs,hit_ratio,"
          "awecache_ratio,mem_bytes,rss_delta_bytes,note\n",
          stdout);
    for (size_t row = 0; row < rows_in_run(threads); row++) {
        for (size_t s = 0; s < NSIDES; s++) {
            const struct bt_side_run *sr = &sides[s];
            const struct bt_fig *f = &figs[row][s];
            const struct bt_cell *c = f->cell;

            bench_csv_str(stdout, f->name);
            printf(",%u,", f->threads);
            bench_csv_str(stdout, sr->side->name);
            fputs(sr->built ? ",true" : ",false", stdout);
            fputs(c != NULL ? ",true" : ",false", stdout);
            bench_csv_real(stdout, f->med, 3);
            bench_csv_real(stdout, f->lo, 3);
            bench_csv_real(stdout, f->hi, 3);
            bench_csv_u64(stdout, c != NULL ? reps : 0);
            bench_csv_real(stdout, c != NULL ? c->hit : (double)NAN, 6);
            bench_csv_real(stdout, f->vs, 4);
            bench_csv_u64(stdout, c != NULL ? c->ss.mem_bytes : KV_UNKNOWN);
            bench_csv_u64(stdout, c != NULL ? c->rss_delta : KV_UNKNOWN);
            fputc(',', stdout);
            bench_csv_str(stdout,
                          !sr->built || sr->failed ? sr->error : (c != NULL ? c->ss.note : NULL));
            fputc('\n', stdout);
        }
    }
}

/* ---- The command ------------------------------------------------------------------------- */

/* Step 1's checks and counts past parsing: the items, their bytes, the warm-up. Returns 0, or
 * an exit status (message printed). */
static int plan(struct bt_opts *o, struct kv_items *it, uint64_t *data_bytes)
{
    uint64_t target, item_max = AWC_BT_MAX_ITEM(o->c.page_size);
    char b1[32], b2[32];

    if (kv_check_common(&o->c, &o->k, it) != 0)
        return CLI_EXIT_USAGE;
    if (o->k.value_max + KV_KEY_LEN > item_max) {
        cli_error(CMD,
                  "--value-size: a key (%u B) and a value of %s exceed what a node of %s takes "
                  "(%llu B)",
                  KV_KEY_LEN, cli_fmt_size(o->k.value_max, b1, sizeof(b1)),
                  cli_fmt_size(o->c.page_size, b2, sizeof(b2)), (unsigned long long)item_max);
        return CLI_EXIT_USAGE;
    }
    target = o->size == SIZE_FIT     ? o->c.frames / FIT_SHARE
             : o->size == SIZE_LARGE ? o->c.frames * LARGE_TIMES
                                     : o->c.data_size;
    it->n = o->k.items != 0 ? o->k.items
                            : target / ((o->k.value_min + o->k.value_max) / 2 + KV_KEY_LEN);
    if (it->n == 0 || it->n > UINT32_MAX) {
        cli_error(CMD, "%llu items: from 1 to %u (give another --data-size or --items)",
                  (unsigned long long)it->n, UINT32_MAX);
        return CLI_EXIT_USAGE;
    }
    *data_bytes = kv_data_bytes(it);
    if (!o->c.warmup_given)
        o->c.warmup = it->n / 4 < 50000 ? it->n / 4 : 50000;
    return -1;
}

/*
 * awecache-bench --btree [OPTIONS]
 *   1. Parse and validate (usage errors: exit 2); count the items; open the medium; pick the
 *      stores' base name; the random load's order and the two workloads.
 *   2. --repeat times, each side (awecache, LMDB, RocksDB; one not built: a row saying why),
 *      steps 2a-2d of the file comment; SIGINT/SIGTERM stop the run.
 *   3. Report (table, --json or --csv). Exit 1 if a side that is built failed.
 */
int cmd_bench_bt(int argc, char **argv)
{
    static const struct kv_side *const side_list[NSIDES] = {&bt_side_awecache, &kv_side_lmdb,
                                                            &kv_side_rocksdb};
    struct bt_opts o;
    struct kv_items it;
    struct bt_side_run sides[NSIDES];
    struct bt_fig figs[NROWS][NSIDES];
    struct cli_signals sig = {SIG_ERR, SIG_ERR};
    struct bt_ctx x;
    uint32_t *order = NULL;
    char base[BT_PATH_LEN];
    uint64_t data_bytes = 0;
    bool oom = false;
    int status = CLI_EXIT_OK, rc;

    /* Step 1 */
    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    rc = plan(&o, &it, &data_bytes);
    if (rc >= 0)
        return rc;
    memset(&x, 0, sizeof(x));
    memset(sides, 0, sizeof(sides));
    if (kv_open_medium(&o.k, 3 * (data_bytes + it.n * 16) + (64ull << 20), o.c.frames,
                       "awecache-bt", base, sizeof(base)) != 0)
        return CLI_EXIT_FAIL;
    x.o = &o;
    x.it = &it;
    x.base = base;
    x.threads = (unsigned)o.c.threads;
    order = it.n <= SIZE_MAX / sizeof(*order) ? malloc((size_t)it.n * sizeof(*order)) : NULL;
    x.run = kv_run_new(&it, x.threads);
    for (size_t s = 0; s < NSIDES; s++) {
        sides[s].side = side_list[s];
        sides[s].built = side_list[s]->missing == NULL;
        sides[s].cells = calloc(o.k.repeat * NROWS, sizeof(*sides[s].cells));
        oom = oom || sides[s].cells == NULL;
    }
    x.wl[0] = o.c.wl;
    x.wl[0].dist = BENCH_UNIFORM;
    x.wl[0].pages = it.n;
    x.wl[1] = x.wl[0];
    x.wl[1].dist = BENCH_ZIPF;
    x.wl[1].theta = 0.99;
    if (oom || order == NULL || x.run == NULL || bench_workload_prepare(&x.wl[1]) != 0) {
        cli_error(CMD, "out of memory for %llu items", (unsigned long long)it.n);
        status = CLI_EXIT_FAIL;
        goto out;
    }
    shuffle(order, it.n, o.c.wl.seed);
    x.order = order;
    kv_run_configure(x.run, data_bytes, &o.c);

    /* Step 2 */
    cli_signals_install(&sig);
    for (size_t s = 0; s < NSIDES; s++) {
        if (!sides[s].built) {
            snprintf(sides[s].error, sizeof(sides[s].error), "%s", side_list[s]->missing);
            cli_note(CMD, "%s: %s", side_list[s]->name, side_list[s]->missing);
        }
    }
    for (uint64_t rep = 0; rep < o.k.repeat && !cli_stopping(); rep++) {
        for (size_t s = 0; s < NSIDES && !cli_stopping(); s++) {
            struct bt_side_run *sr = &sides[s];
            char err[sizeof(sr->error)] = "";

            if (!sr->built || sr->failed)
                continue;
            if (run_side(&x, sr->side, sr->cells + rep * NROWS, err, sizeof(err)) != 0) {
                sr->failed = true;
                snprintf(sr->error, sizeof(sr->error), "%s", err[0] ? err : "failed");
                cli_error(CMD, "%s: %s", sr->side->name, sr->error);
                status = CLI_EXIT_FAIL;
            }
        }
    }
    status = kv_signals_restore(&sig, status);

    /* Step 3 */
    fold(sides, (size_t)o.k.repeat, x.threads, figs);
    if (o.c.json) {
        print_json(&o, &it, data_bytes, base, sides, figs, x.threads);
    } else if (o.c.csv) {
        print_csv(sides, figs, (size_t)o.k.repeat, x.threads);
    } else {
        char line[2 * BT_PATH_LEN];

        config_line(&o, &it, data_bytes, base, line, sizeof(line));
        printf("%s\n\n", line);
        if (print_tables(sides, figs, (size_t)o.k.repeat, x.threads, it.n) != 0)
            status = CLI_EXIT_FAIL;
    }
    fflush(stdout);
out:
    bench_workload_free(&x.wl[1]);
    kv_run_free(x.run);
    for (size_t s = 0; s < NSIDES; s++)
        free(sides[s].cells);
    free(order);
    bench_medium_close(&o.k.m);
    return status;
}
