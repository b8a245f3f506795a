/*
 * bench/awecache-bench/bench_kv.c: `awecache-bench --kv`: the key-value benchmark (bench_kv.h): its
 * options, the items and their check, the run of each side, and the report.
 *
 * What it does, in order (cmd_bench_kv's steps):
 *   1. Parse and validate the options; count the items and their bytes; open the medium
 *      (--medium ram: a RAM disk) and pick the stores' base name.
 *   2. --repeat times, for each side (awecache; with --compare RocksDB and LMDB), the sides
 *      interleaved: a side not built in gets a row saying why. Otherwise:
 *      a. create the store (base path + the side's suffix) with the RAM budget;
 *      b. load: put version 1 of every item, one thread, in key order, then make the store
 *         durable (the side's sync); the load rate counts both;
 *      c. run the workload through the harness (bench_run.c): threads draw items from the
 *         distribution, a get checks every byte of what it finds, a put writes the item's next
 *         version; a warm-up first, then the measured part;
 *      d. close the side (its counters), then remove the store unless --keep.
 *   3. Report each side's medians over its runs (min-max): a table (default), --json or --csv.
 * A wrong value (a get finding another item's bytes, a torn value, or an older version than one
 * a completed put wrote) fails the side and the command (exit 1). SIGINT and SIGTERM stop the
 * side at the next operation; its store is removed all the same.
 *
 * How a run reaches the harness: struct kv_run begins with the harness's struct bench_config,
 * and the adapter side (kv_adapter) that bench_run drives finds the run from the configuration
 * pointer it is handed. The adapter's open hands over the already loaded store.
 */
#include "bench_kv.h"
#include "bench.h"
#include "cli.h"

#include "awecache.h"
#include "plat_proc.h"
#include "plat_sync.h"

#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD         NULL
#define KV_PATH_LEN 4096
#define KV_LOCKS    1024u /* stripes of the put locks (a power of two) */
#define NSIDES      3
#define CACHELINE   64

/* ---- Items ------------------------------------------------------------------------------- */

/* Little-endian words: one copy on a little-endian host (the checks below go through every
 * byte of every value a get returns, so this is the harness's hottest code), bytes elsewhere. */
static void store_le64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, p, 8);
#else
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
#endif
    return v;
}

void kv_key(uint64_t id, char key[KV_KEY_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";

    key[0] = 'k';
    key[1] = 'v';
    for (int i = 0; i < 16; i++)
        key[2 + i] = hex[(id >> (60 - 4 * i)) & 0xf];
    key[KV_KEY_LEN] = '\0';
}

size_t kv_value_len(const struct kv_items *it, uint64_t id)
{
    uint64_t span = (uint64_t)it->value_max - it->value_min + 1;

    return it->value_min + (size_t)(cli_mix64(id ^ (it->seed * 0x9e3779b97f4a7c15ull)) % span);
}

/* The seed of version `version` of item id's pattern (the bytes after the head). */
static uint64_t pattern_seed(const struct kv_items *it, uint64_t id, uint64_t version)
{
    return cli_mix64(cli_mix64(id + it->seed) ^ (version * 0xd1b54a32d192ed03ull));
}

/* Word w (w >= 2) of a value's pattern. */
static uint64_t pattern_word(uint64_t seed, uint64_t w)
{
    return cli_mix64(seed + w);
}

void kv_value_fill(const struct kv_items *it, uint64_t id, uint64_t version, void *buf)
{
    size_t len = kv_value_len(it, id), w;
    uint8_t *b = buf, tail[8];
    uint64_t seed = pattern_seed(it, id, version);

    store_le64(b, id);
    store_le64(b + 8, version);
    for (w = 2; (w + 1) * 8 <= len; w++)
        store_le64(b + w * 8, pattern_word(seed, w));
    if (w * 8 < len) {
        store_le64(tail, pattern_word(seed, w));
        memcpy(b + w * 8, tail, len - w * 8);
    }
}

void kv_check_begin(struct kv_check *c, const struct kv_items *it, uint64_t id)
{
    memset(c, 0, sizeof(*c));
    c->items = it;
    c->id = id;
    c->want_len = kv_value_len(it, id);
}

/* Marks the first bad byte. */
static void check_bad(struct kv_check *c, size_t at)
{
    if (!c->bad) {
        c->bad = true;
        c->bad_at = at;
    }
}

/* Compares the n whole words at p with the pattern's words w0, w0 + 1, ...: the offset in p of
 * the first byte that differs, or n * 8 when none does. */
static size_t check_words(const uint8_t *p, uint64_t seed, uint64_t w0, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint64_t x = load_le64(p + 8 * k) ^ pattern_word(seed, w0 + k);

        if (x != 0) {
            size_t b = 0;

            while (((x >> (8 * b)) & 0xff) == 0)
                b++;
            return 8 * k + b;
        }
    }
    return 8 * n;
}

/* Steps: 1. the head's 16 bytes are collected; once whole, the pattern's seed follows from the
 * id and version it holds (a foreign id is caught by kv_check_end); 2. the rest is compared as
 * whole words where the piece allows (check_words), else byte by byte; 3. bytes past the item's
 * length mark the value bad. */
void kv_check_piece(struct kv_check *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i = 0;

    while (i < len && !c->bad) {
        size_t at = c->at;

        /* Step 3 */
        if (at >= c->want_len) {
            check_bad(c, at);
            break;
        }
        /* Step 1 */
        if (at < KV_VALUE_HEAD) {
            c->head[at] = p[i];
            if (at + 1 == KV_VALUE_HEAD)
                c->seed = pattern_seed(c->items, load_le64(c->head), load_le64(c->head + 8));
            c->at++;
            i++;
            continue;
        }
        /* Step 2 */
        if (at % 8 == 0 && len - i >= 8 && c->want_len - at >= 8) {
            size_t n = (len - i < c->want_len - at ? len - i : c->want_len - at) / 8;
            size_t good = check_words(p + i, c->seed, at / 8, n);

            if (good < 8 * n)
                check_bad(c, at + good);
            c->at += 8 * n;
            i += 8 * n;
        } else {
            uint8_t w[8];

            store_le64(w, pattern_word(c->seed, at / 8));
            if (p[i] != w[at % 8])
                check_bad(c, at);
            c->at++;
            i++;
        }
    }
    if (c->bad)
        c->at += len - i; /* the length still counts what was handed over */
}

int kv_check_end(struct kv_check *c, uint64_t *version, char *err, size_t errlen)
{
    char key[KV_KEY_LEN + 1];
    uint64_t id = c->at >= KV_VALUE_HEAD ? load_le64(c->head) : c->id;

    kv_key(c->id, key);
    if (c->at >= KV_VALUE_HEAD && id != c->id) {
        snprintf(err, errlen, "get %s returned item %llu's value, not item %llu's", key,
                 (unsigned long long)id, (unsigned long long)c->id);
        return -1;
    }
    if (c->at != c->want_len) {
        snprintf(err, errlen, "get %s returned %zu bytes; the value has %zu", key, c->at,
                 c->want_len);
        return -1;
    }
    if (c->bad) {
        snprintf(err, errlen, "get %s returned a corrupt value: byte %zu of %zu differs", key,
                 c->bad_at, c->want_len);
        return -1;
    }
    *version = load_le64(c->head + 8);
    return 0;
}

/* ---- The process's memory and faults ------------------------------------------------------- */

/* From the platform layer; KV_UNKNOWN where the OS does not say. */
uint64_t kv_proc_rss(void)
{
    uint64_t rss;

    return plat_proc_usage(&rss, NULL) == 0 && rss != UINT64_MAX ? rss : KV_UNKNOWN;
}

uint64_t kv_proc_major_faults(void)
{
    uint64_t n;

    return plat_proc_usage(NULL, &n) == 0 && n != UINT64_MAX ? n : KV_UNKNOWN;
}

/* ---- Options ----------------------------------------------------------------------------- */

enum opt_id {
    OPT_KV = KV_OPT_END,
    OPT_DIST,
    OPT_TTL,
    OPT_BATCH,
};

static const struct cli_opt kv_opts_table[] = {
    {"kv", OPT_KV, NULL, "the key-value benchmark (this help)"},
    {"items", KV_OPT_ITEMS, "N", "items to load (default: as many as --data-size holds)"},
    {"data-size", BENCH_OPT_DATA_SIZE, "SIZE",
     "bytes of values to load (default 1G): items = SIZE / the mean value size"},
    {"value-size", KV_OPT_VALUE_SIZE, "MIN-MAX",
     "value sizes, uniform by key, each from 16 B to 64M (default 100-4096; one size: fixed)"},
    {"frames", BENCH_OPT_FRAMES, "SIZE",
     "the RAM budget, every side's: awecache's frames + index, RocksDB's block cache + "
     "memtable, LMDB's memory cgroup (default 256M)"},
    {"window", BENCH_OPT_WINDOW, "SIZE",
     "awecache's window, at most --frames (default: the frames up to 64M, else a quarter, at most "
     "64M)"},
    {"page-size", BENCH_OPT_PAGE_SIZE, "SIZE", "awecache's page size, 4K to 2M (default 4K)"},
    {"dist", OPT_DIST, "DIST",
     "which items: zipf[:THETA] (default zipf:0.99, hot items scattered) or uniform"},
    {"reads", BENCH_OPT_READS, "R",
     "fraction (0.9) or percent (90%) of operations that are gets; the rest put a new "
     "version (default 0.9)"},
    {"threads", BENCH_OPT_THREADS, "N", "threads issuing operations (default: the processors)"},
    {"duration", KV_OPT_DURATION, "T", "measure for T per side: 500ms, 10s, 2m (default 10s)"},
    {"ops", BENCH_OPT_OPS, "N",
     "measure N operations per side (given alone: no time limit; with --duration: whichever "
     "comes first)"},
    {"warmup", BENCH_OPT_WARMUP, "N",
     "operations per side before measuring, not counted (default: the items the budget holds, "
     "at most 200k)"},
    {"seed", BENCH_OPT_SEED, "N", "seed of the values and the workload (default 1)"},
    {"ttl", OPT_TTL, "T",
     "awecache's items expire T after their put (default: never; the other sides ignore it)"},
    {"dir", KV_OPT_DIR, "DIR",
     "where the stores go, as awecache-kv-<random>.<side> (default $TMPDIR or /var/tmp)"},
    {"batch", OPT_BATCH, "N",
     "gets handed to a side at once, up to 256: awecache's awc_kv_get_batch, RocksDB's "
     "MultiGet, LMDB one by one (default 1)"},
    KV_OPTS_MEDIUM_REPEAT,
    {"keep", BENCH_OPT_KEEP, NULL, "keep the stores (default: removed at the end)"},
    {"compare", BENCH_OPT_COMPARE, NULL,
     "also run RocksDB and LMDB (where built in) after awecache"},
    {"json", BENCH_OPT_JSON, NULL, "print the configuration and results as JSON"},
    {"csv", BENCH_OPT_CSV, NULL,
     "print the results as CSV (a header, a row per side: its medians; with --repeat also "
     "a row per run)"},
    {"no-direct", BENCH_OPT_NO_DIRECT, NULL, "awecache uses buffered I/O, not O_DIRECT"},
    {NULL, 0, NULL, NULL},
};

struct kv_opts {
    struct bench_common c; /* what bench takes too (window 0: the side's default) */
    struct kv_common k;    /* what --btree takes too */
    uint64_t ttl_ns;       /* --ttl (0: none) */
    uint64_t batch;        /* --batch (1: one get at a time) */
};

/* A size that must be more than 0 (--data-size, --window): 0, or -1 with a message. */
static int more_than_0(const char *name, const char *arg, uint64_t v)
{
    if (v == 0) {
        cli_error(CMD, "--%s %s: must be more than 0", name, arg);
        return -1;
    }
    return 0;
}

int kv_parse_value_size(const char *s, uint64_t largest, uint64_t *min, uint64_t *max)
{
    const char *dash = strchr(s, '-');
    char lo[64], b[32];

    if (dash == NULL) {
        if (cli_parse_size(s, min) != 0)
            goto bad;
        *max = *min;
    } else {
        if ((size_t)(dash - s) >= sizeof(lo))
            goto bad;
        memcpy(lo, s, (size_t)(dash - s));
        lo[dash - s] = '\0';
        if (cli_parse_size(lo, min) != 0 || cli_parse_size(dash + 1, max) != 0)
            goto bad;
    }
    if (*min < KV_VALUE_HEAD || *max > largest || *min > *max) {
        cli_error(CMD, "--value-size %s: sizes must be from %u B to %s, MIN <= MAX", s,
                  KV_VALUE_HEAD, cli_fmt_size(largest, b, sizeof(b)));
        return -1;
    }
    return 0;
bad:
    cli_error(CMD, "--value-size %s: expected MIN-MAX or one size (100-4096, 1K-8K, 512)", s);
    return -1;
}

int kv_common_option(int id, const char *arg, struct bench_common *c, struct kv_common *k,
                     uint64_t value_largest)
{
    switch (id) {
    case KV_OPT_ITEMS:
        return bench_opt_count("items", arg, 1, 1ull << 40, &k->items);
    case BENCH_OPT_DATA_SIZE:
        if (bench_common_option(id, arg, c) != 0)
            return -1;
        return more_than_0("data-size", arg, c->data_size);
    case BENCH_OPT_WINDOW:
        if (bench_common_option(id, arg, c) != 0)
            return -1;
        return more_than_0("window", arg, c->window);
    case BENCH_OPT_PAGE_SIZE:
        if (bench_common_option(id, arg, c) != 0)
            return -1;
        if (!cli_page_size_ok(c->page_size)) {
            cli_error(CMD, "--page-size %s: must be a power of two from 4 KiB to 2 MiB", arg);
            return -1;
        }
        return 0;
    case KV_OPT_VALUE_SIZE:
        return kv_parse_value_size(arg, value_largest, &k->value_min, &k->value_max);
    case KV_OPT_DURATION:
        if (cli_parse_duration(arg, &c->duration_ns) != 0 || c->duration_ns == 0) {
            cli_error(CMD, "--duration %s: not a duration above 0 (500ms, 10s, 2m)", arg);
            return -1;
        }
        c->duration_given = true;
        return 0;
    case KV_OPT_DIR:
        if (arg[0] == '\0') {
            cli_error(CMD, "--dir: an empty path");
            return -1;
        }
        k->dir = arg;
        return 0;
    case KV_OPT_MEDIUM:
        return bench_parse_medium(arg, &k->m);
    case KV_OPT_REPEAT:
        return bench_opt_count("repeat", arg, 1, BENCH_REPEAT_MAX, &k->repeat);
    default:
        return 1;
    }
}

/* Takes one of --kv's own options into the struct kv_opts at ctx (bench_parse's `own`), and
 * those it shares with --btree: 0, -1 for a wrong value (message printed), or 1 when id is not
 * one of them. */
static int kv_option(int id, const char *arg, void *ctx)
{
    struct kv_opts *o = ctx;

    switch (id) {
    case OPT_KV:
        return 0;
    case OPT_DIST:
        return bench_parse_dist(arg, &o->c.wl, NULL);
    case OPT_TTL:
        if (cli_parse_duration(arg, &o->ttl_ns) != 0 || o->ttl_ns < 1000000u) {
            cli_error(CMD, "--ttl %s: not a duration of 1 ms or more (500ms, 30s, 1h)", arg);
            return -1;
        }
        return 0;
    case OPT_BATCH:
        return bench_opt_count("batch", arg, 1, KV_BATCH_MAX, &o->batch);
    default:
        return kv_common_option(id, arg, &o->c, &o->k, AWC_KV_MAX_VALUE);
    }
}

/* Parses argv into *o. Returns -1 to go on, or the exit status (help printed: CLI_EXIT_OK). */
static int parse_args(int argc, char **argv, struct kv_opts *o)
{
    struct cli_parser p;

    memset(o, 0, sizeof(*o));
    bench_common_init(&o->c);
    o->c.data_size = 1ull << 30;
    o->c.frames = 256ull << 20;
    o->batch = 1;
    o->k.repeat = 1;
    o->c.duration_ns = 10ull * 1000000000ull;
    o->k.value_min = 100;
    o->k.value_max = 4096;

    cli_parser_init(&p, CMD, "awecache-bench --kv [OPTIONS]",
                    "Loads items (keys and values) into awecache's key-value cache and measures "
                    "gets and puts under a workload; with --compare RocksDB and LMDB too, under "
                    "the same RAM budget (--repeat N: N times, interleaved, each a fresh store; "
                    "medians with min-max). Every value a get finds is checked byte for byte. "
                    "Results on stdout: a table, --json or --csv; progress and notes on stderr.",
                    kv_opts_table, argc, argv);
    return bench_parse(&p, "awecache-bench --kv --help", &o->c, kv_option, o);
}

/* ---- Signals ----------------------------------------------------------------------------- */

int kv_signals_restore(const struct cli_signals *s, int status)
{
    if (cli_signals_restore(s) && status == CLI_EXIT_OK) {
        cli_error(NULL, "interrupted");
        return CLI_EXIT_FAIL;
    }
    return status;
}

/* ---- A side's run -------------------------------------------------------------------------- */

/* One thread's counters and buffer, alone in its cache lines. */
struct kv_thread {
    _Alignas(CACHELINE) uint64_t found; /* gets that found their item (measured part) */
    uint64_t missing;                   /* gets that did not */
    uint8_t *buf;                       /* a value's bytes (value_max) */
};

/* One side's run. `base` comes first: the adapter finds the run from the pointer bench_run
 * hands it. */
struct kv_run {
    struct bench_config base; /* the harness's configuration */
    const struct kv_side *side;
    struct kv_config kc; /* the side's configuration */
    const struct kv_items *items;
    void *st;                    /* the side's state while open, else NULL */
    _Atomic uint32_t *ver;       /* [items]: the version of the last completed put of each item */
    plat_mutex_t *locks;         /* [KV_LOCKS]: a put holds its item's stripe */
    struct kv_thread *th;        /* [threads + 1]: the last one is the load's */
    struct kv_side_stats ss;     /* what the side reported at close (or its stats) */
    uint64_t rss_open;           /* the process's RSS before the side was opened */
    uint64_t rss_close;          /* and before it was closed (or at the end of a measured part) */
    bool hold;                   /* kv_run_measure: the harness leaves the side open (--btree) */
    bool started;                /* the side's start ran */
    enum kv_reads reads;         /* what the harness's reads are */
    char path[KV_PATH_LEN + 32]; /* the store */
    char drop[KV_PATH_LEN + 64]; /* the store's file whose OS-cached pages are dropped */
};

static plat_mutex_t *item_lock(struct kv_run *run, uint64_t id)
{
    return &run->locks[(uint32_t)(cli_mix64(id) >> 40) & (KV_LOCKS - 1)];
}

/* Puts the next version of item id from thread t. Steps: 1. take the item's stripe (not in the
 * load, which runs alone: a side may hold its own locks from one put to the next there, as LMDB
 * its write transaction), so that puts of one item reach the store in the order of their
 * versions; 2. write the next version; 3. publish it (a get that starts later must find it or a
 * newer one). */
static int put_item(struct kv_run *run, unsigned t, uint64_t id, bool load, char *err,
                    size_t errlen)
{
    char key[KV_KEY_LEN + 1];
    plat_mutex_t *m = item_lock(run, id);
    uint64_t v;
    int rc;

    kv_key(id, key);
    /* Step 1 */
    if (!load)
        plat_mutex_lock(m);
    /* Step 2 */
    v = (uint64_t)atomic_load_explicit(&run->ver[id], memory_order_relaxed) + 1;
    kv_value_fill(run->items, id, v, run->th[t].buf);
    rc = run->side->put(run->st, t, key, KV_KEY_LEN, run->th[t].buf, kv_value_len(run->items, id),
                        err, errlen);
    /* Step 3 */
    if (rc == 0)
        atomic_store_explicit(&run->ver[id], (uint32_t)v, memory_order_release);
    if (!load)
        plat_mutex_unlock(m);
    return rc;
}

/* Gets item id from thread t and checks it: found, every byte right, a version no older than
 * the last put that completed before the get began (and no newer than one in flight). */
static int get_item(struct kv_run *run, unsigned t, uint64_t id, uint64_t *sink, char *err,
                    size_t errlen)
{
    char key[KV_KEY_LEN + 1];
    struct kv_check c;
    uint64_t v0, v1, version = 0;
    int rc;

    kv_key(id, key);
    v0 = atomic_load_explicit(&run->ver[id], memory_order_acquire);
    kv_check_begin(&c, run->items, id);
    rc = run->side->get(run->st, t, key, KV_KEY_LEN, &c, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0 && run->hold) {
        snprintf(err, errlen, "get %s: not found, yet every item was loaded", key);
        return -1;
    }
    if (rc == 0) {
        run->th[t].missing++;
        return 0;
    }
    if (kv_check_end(&c, &version, err, errlen) != 0)
        return -1;
    v1 = atomic_load_explicit(&run->ver[id], memory_order_acquire);
    if (version < v0 || version > v1 + 1) {
        snprintf(err, errlen, "get %s returned version %llu; a completed put wrote version %llu",
                 key, (unsigned long long)version, (unsigned long long)v0);
        return -1;
    }
    run->th[t].found++;
    *sink += version;
    return 0;
}

/* What a scan's visitor checks against: the item it expects next. */
struct scan_check {
    struct kv_run *run;
    uint64_t next;  /* the item expected next */
    uint64_t *sink; /* what was read */
    char *err;      /* where a fault is described */
    size_t errlen;
    bool bad; /* a fault was found */
};

/* A scan's item: its key must be the next item's, its value that item's, whole, of a version no
 * newer than one in flight (a scan may see a snapshot older than the last completed put). */
static int scan_visit(void *ctx, const void *key, size_t key_len, const void *value,
                      size_t value_len)
{
    struct scan_check *sc = ctx;
    char want[KV_KEY_LEN + 1];
    struct kv_check c;
    uint64_t version = 0, v1;

    kv_key(sc->next, want);
    if (key_len != KV_KEY_LEN || memcmp(key, want, KV_KEY_LEN) != 0) {
        snprintf(sc->err, sc->errlen, "a scan found the key %.*s where %s comes next",
                 (int)(key_len < 64 ? key_len : 64), (const char *)key, want);
        sc->bad = true;
        return 1;
    }
    kv_check_begin(&c, sc->run->items, sc->next);
    kv_check_piece(&c, value, value_len);
    if (kv_check_end(&c, &version, sc->err, sc->errlen) != 0) {
        sc->bad = true;
        return 1;
    }
    v1 = atomic_load_explicit(&sc->run->ver[sc->next], memory_order_acquire);
    if (version == 0 || version > v1 + 1) {
        snprintf(sc->err, sc->errlen, "a scan found %s at version %llu; no put wrote it", want,
                 (unsigned long long)version);
        sc->bad = true;
        return 1;
    }
    *sc->sink += version;
    sc->next++;
    return 0;
}

/* Scans KV_SCAN_LEN items (fewer near the end) from item id from thread t, and checks that
 * they are the items that follow, in order, each value whole. */
static int scan_items(struct kv_run *run, unsigned t, uint64_t id, uint64_t *sink, char *err,
                      size_t errlen)
{
    char key[KV_KEY_LEN + 1];
    uint64_t left = run->items->n - id;
    unsigned want = left < KV_SCAN_LEN ? (unsigned)left : KV_SCAN_LEN;
    struct scan_check sc = {run, id, sink, err, errlen, false};
    long got;

    kv_key(id, key);
    got = run->side->scan(run->st, t, key, KV_KEY_LEN, want, scan_visit, &sc, err, errlen);
    if (got < 0 || sc.bad)
        return -1;
    if ((unsigned long)got != want) {
        snprintf(err, errlen, "a scan from %s found %ld items; %u follow it", key, got, want);
        return -1;
    }
    run->th[t].found += (uint64_t)got;
    return 0;
}

/* The adapter: the side as bench_run drives it. */
static int adapter_open(void **state, const struct bench_config *cfg, char *err, size_t errlen)
{
    struct kv_run *run = (struct kv_run *)cfg; /* base is the first member */

    if (!run->started && run->side->start != NULL && run->side->start(run->st, err, errlen) != 0)
        return -1;
    run->started = true;
    *state = run;
    return 0;
}

static void adapter_begin(void *state)
{
    struct kv_run *run = state;

    for (unsigned t = 0; t <= run->kc.threads; t++)
        run->th[t].found = run->th[t].missing = 0;
    if (run->side->begin != NULL)
        run->side->begin(run->st);
}

/* Gets items ids[0..n) from thread t with one get_batch call, each checked as get_item does. */
static int get_items(struct kv_run *run, unsigned t, const uint64_t *ids, size_t n, uint64_t *sink,
                     char *err, size_t errlen)
{
    char keyb[KV_BATCH_MAX][KV_KEY_LEN + 1];
    const char *keys[KV_BATCH_MAX];
    struct kv_check c[KV_BATCH_MAX];
    uint64_t v0[KV_BATCH_MAX];
    int found[KV_BATCH_MAX];

    for (size_t i = 0; i < n; i++) {
        kv_key(ids[i], keyb[i]);
        keys[i] = keyb[i];
        v0[i] = atomic_load_explicit(&run->ver[ids[i]], memory_order_acquire);
        kv_check_begin(&c[i], run->items, ids[i]);
    }
    if (run->side->get_batch(run->st, t, n, keys, KV_KEY_LEN, c, found, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t v1, version = 0;

        if (!found[i]) {
            run->th[t].missing++;
            continue;
        }
        if (kv_check_end(&c[i], &version, err, errlen) != 0)
            return -1;
        v1 = atomic_load_explicit(&run->ver[ids[i]], memory_order_acquire);
        if (version < v0[i] || version > v1 + 1) {
            snprintf(err, errlen,
                     "get %s returned version %llu; a completed put wrote version %llu", keys[i],
                     (unsigned long long)version, (unsigned long long)v0[i]);
            return -1;
        }
        run->th[t].found++;
        *sink += version;
    }
    return 0;
}

/* Serves ops[0..n): puts one by one; gets one by one, or with --batch each run of consecutive
 * gets (up to KV_BATCH_MAX) in one get_batch call where the side has one. */
static int adapter_serve(void *state, unsigned thread, const uint64_t *pages, const uint8_t *writes,
                         size_t n, uint64_t *sink, char *err, size_t errlen)
{
    struct kv_run *run = state;

    for (size_t i = 0; i < n;) {
        size_t m = 1;
        int rc;

        if (cli_stopping()) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        if (writes[i]) {
            rc = put_item(run, thread, pages[i], false, err, errlen);
        } else if (run->reads == KV_READS_SCAN) {
            rc = scan_items(run, thread, pages[i], sink, err, errlen);
        } else if (run->side->get_batch == NULL || n == 1) {
            rc = get_item(run, thread, pages[i], sink, err, errlen);
        } else {
            while (i + m < n && !writes[i + m] && m < KV_BATCH_MAX)
                m++;
            rc = get_items(run, thread, pages + i, m, sink, err, errlen);
        }
        if (rc != 0)
            return -1;
        i += m;
    }
    return 0;
}

static int adapter_close(void *state, struct bench_result *r, char *err, size_t errlen)
{
    struct kv_run *run = state;
    int rc = 0;

    run->rss_close = kv_proc_rss();
    if (!run->hold) {
        rc = run->side->close(run->st, &run->ss, err, errlen);
        run->st = NULL;
    } else if (run->side->stats != NULL) {
        run->side->stats(run->st, &run->ss);
    }
    r->hits = run->ss.hits;
    r->misses = run->ss.misses;
    r->mem_bytes = run->ss.mem_bytes;
    snprintf(r->note, sizeof(r->note), "%s", run->ss.note);
    return rc;
}

static const struct bench_side kv_adapter = {
    .name = "",
    .open = adapter_open,
    .begin = adapter_begin,
    .serve = adapter_serve,
    .close = adapter_close,
};

/* One side's line of the report. */
struct kv_row {
    const char *side;
    bool built;              /* false: not built in (note says why) */
    bool ok;                 /* the side ran and every check passed */
    char error[240];         /* why it failed */
    double load_s;           /* the load and its sync, seconds */
    uint64_t load_items;     /* items loaded */
    struct bench_result r;   /* the harness: ops, gets (reads), puts (writes), seconds */
    uint64_t found, missing; /* gets of the measured part */
    struct kv_side_stats ss; /* the side's own figures */
    uint64_t rss_delta;      /* RSS at close - RSS before open (KV_UNKNOWN) */
};

/* Loads every item (version 1) from the calling thread, as thread cfg->threads, in order's
 * order (NULL: key order), then syncs. Returns 0 or -1 with err. */
int kv_run_load(struct kv_run *run, const uint32_t *order, double *seconds, char *err,
                size_t errlen)
{
    struct cli_progress prog;
    char label[64];
    unsigned t = run->kc.threads;
    uint64_t n = run->items->n, t0 = plat_clock_ns();

    snprintf(label, sizeof(label), "load %s", run->side->name);
    cli_progress_start(&prog, label, n, "items");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = order != NULL ? order[i] : i;

        if (cli_stopping()) {
            cli_progress_end(&prog, i);
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        atomic_store_explicit(&run->ver[id], 0, memory_order_relaxed);
        if (put_item(run, t, id, true, err, errlen) != 0) {
            cli_progress_end(&prog, i);
            return -1;
        }
        if ((i & 1023) == 0)
            cli_progress_update(&prog, i);
    }
    if (run->side->sync(run->st, err, errlen) != 0) {
        cli_progress_end(&prog, n);
        return -1;
    }
    cli_progress_end(&prog, n);
    *seconds = (double)(plat_clock_ns() - t0) / 1e9;
    return 0;
}

/* Frees what kv_run_new allocated. */
void kv_run_free(struct kv_run *run)
{
    if (run == NULL)
        return;
    if (run->th != NULL) {
        for (unsigned t = 0; t <= run->kc.threads; t++)
            free(run->th[t].buf);
        plat_aligned_free(run->th);
    }
    if (run->locks != NULL) {
        for (unsigned i = 0; i < KV_LOCKS; i++)
            plat_mutex_destroy(&run->locks[i]);
        free(run->locks);
    }
    free(run->ver);
    free(run);
}

/* Allocates a run's shared arrays (outside any memory limit a side enters later). */
struct kv_run *kv_run_new(const struct kv_items *items, unsigned threads)
{
    struct kv_run *run = calloc(1, sizeof(*run));
    size_t thbytes = ((size_t)threads + 1) * sizeof(struct kv_thread);

    if (run == NULL)
        return NULL;
    run->items = items;
    run->kc.threads = threads;
    run->ver = malloc(items->n * sizeof(*run->ver));
    run->locks = calloc(KV_LOCKS, sizeof(*run->locks));
    thbytes = (thbytes + CACHELINE - 1) / CACHELINE * CACHELINE;
    run->th = plat_aligned_alloc(CACHELINE, thbytes);
    if (run->th != NULL)
        memset(run->th, 0, thbytes);
    if (run->ver == NULL || run->locks == NULL || run->th == NULL) {
        free(run->locks);
        run->locks = NULL;
        kv_run_free(run);
        return NULL;
    }
    for (uint64_t id = 0; id < items->n; id++)
        atomic_init(&run->ver[id], 0);
    for (unsigned i = 0; i < KV_LOCKS; i++) {
        if (plat_mutex_init(&run->locks[i]) != 0) {
            for (unsigned k = 0; k < i; k++)
                plat_mutex_destroy(&run->locks[k]);
            free(run->locks);
            run->locks = NULL;
            kv_run_free(run);
            return NULL;
        }
    }
    for (unsigned t = 0; t <= threads; t++) {
        run->th[t].buf = malloc(items->value_max);
        if (run->th[t].buf == NULL) {
            kv_run_free(run);
            return NULL;
        }
    }
    return run;
}

struct bench_config *kv_run_harness_config(struct kv_run *run)
{
    return &run->base;
}

/* Steps: 1. note the process's RSS; 2. create the store, which must name a file to drop. */
int kv_run_open(struct kv_run *run, const struct kv_side *side, const char *path, char *err,
                size_t errlen)
{
    snprintf(run->path, sizeof(run->path), "%s", path);
    run->drop[0] = '\0';
    run->side = side;
    run->kc.path = run->path;
    run->started = false;
    memset(&run->ss, 0, sizeof(run->ss));
    run->ss.hits = run->ss.misses = run->ss.meta_bytes = KV_UNKNOWN;
    run->ss.mem_bytes = run->ss.disk_bytes = KV_UNKNOWN;
    /* Step 1 */
    run->rss_open = kv_proc_rss();
    run->rss_close = KV_UNKNOWN;
    /* Step 2 */
    err[0] = '\0';
    if (side->open(&run->st, &run->kc, run->drop, sizeof(run->drop), err, errlen) != 0) {
        run->st = NULL;
        if (err[0] == '\0')
            snprintf(err, errlen, "cannot create the store");
        side->destroy(run->path);
        return -1;
    }
    if (run->drop[0] == '\0') {
        snprintf(err, errlen, "the side named no file of its store");
        kv_run_close(run, false);
        return -1;
    }
    run->base.path = run->drop;
    return 0;
}

/* RSS at the last close or measured part less before the open (KV_UNKNOWN). */
static uint64_t rss_delta(const struct kv_run *run)
{
    if (run->rss_open == KV_UNKNOWN || run->rss_close == KV_UNKNOWN)
        return KV_UNKNOWN;
    return run->rss_close > run->rss_open ? run->rss_close - run->rss_open : 0;
}

/* The harness through the adapter (the first time it drops the OS cache of the store's file and
 * enters the side's start; it warms up, measures, and closes the side unless run->hold). */
static int measure(struct kv_run *run, struct bench_result *r)
{
    struct bench_side adapter = kv_adapter;

    adapter.name = run->side->name;
    run->base.keep_os_cache = run->started;
    if (bench_run(&adapter, &run->base, r) != 0 || !r->ok) {
        r->ok = false;
        if (r->error[0] == '\0')
            snprintf(r->error, sizeof(r->error), "the run failed");
        return -1;
    }
    return 0;
}

int kv_run_measure(struct kv_run *run, enum kv_reads reads, struct bench_result *r,
                   struct kv_side_stats *ss, uint64_t *rss_delta_out)
{
    int rc;

    run->hold = true;
    run->reads = reads;
    rc = measure(run, r);
    *ss = run->ss;
    *rss_delta_out = rss_delta(run);
    return rc;
}

void kv_run_close(struct kv_run *run, bool keep)
{
    struct kv_side_stats ignored;
    char err[200];

    if (run->st != NULL) {
        run->rss_close = kv_proc_rss();
        run->side->close(run->st, &ignored, err, sizeof(err));
        run->st = NULL;
    }
    if (keep)
        cli_note(CMD, "kept the %s store %s", run->side->name, run->path);
    else
        run->side->destroy(run->path);
}

/*
 * Runs one side into row (steps 2a-2d of the file comment):
 *   1. Create the store (kv_run_open).
 *   2. Load and sync (kv_run_load).
 *   3. The harness, which closes the side at its end (measure).
 *   4. Close the side if the harness did not; remove the store unless keep.
 * Returns true when the side ran and every check passed.
 */
static bool run_one(const struct kv_side *side, struct kv_run *run, const char *base, bool keep,
                    struct kv_row *row)
{
    char path[KV_PATH_LEN + 32], err[200] = "";
    bool ok = false;

    row->side = side->name;
    row->built = true;
    snprintf(path, sizeof(path), "%s%s", base, side->suffix);
    snprintf(row->r.side, sizeof(row->r.side), "%s", side->name);
    /* Step 1 */
    if (kv_run_open(run, side, path, err, sizeof(err)) != 0) {
        snprintf(row->error, sizeof(row->error), "%s", err);
        return false;
    }
    /* Step 2 */
    if (kv_run_load(run, NULL, &row->load_s, err, sizeof(err)) != 0) {
        snprintf(row->error, sizeof(row->error), "load: %s", err[0] ? err : "failed");
        goto out;
    }
    row->load_items = run->items->n;
    /* Step 3 */
    run->hold = false;
    run->reads = KV_READS_GET;
    if (measure(run, &row->r) != 0) {
        snprintf(row->error, sizeof(row->error), "%s", row->r.error);
        goto out;
    }
    ok = true;
out:
    /* Step 4 */
    kv_run_close(run, keep);
    row->ss = run->ss;
    row->rss_delta = rss_delta(run);
    for (unsigned t = 0; t < run->kc.threads; t++) {
        row->found += run->th[t].found;
        row->missing += run->th[t].missing;
    }
    row->ok = ok;
    return ok;
}

/* ---- A run's figures --------------------------------------------------------------------- */

static double per_s(uint64_t n, double s)
{
    return s > 0 && n != KV_UNKNOWN ? (double)n / s : NAN;
}

/* The side's RAM hit ratio: hits / (hits + misses), or with misses alone known (faults) 1 -
 * misses per operation, at least 0. NAN when unknown. */
double kv_hit_ratio(const struct kv_side_stats *ss, uint64_t ops)
{
    uint64_t h = ss->hits, m = ss->misses;

    if (m == KV_UNKNOWN)
        return NAN;
    if (h == KV_UNKNOWN)
        return ops == 0 ? NAN : (m >= ops ? 0.0 : 1.0 - (double)m / (double)ops);
    return h + m == 0 ? NAN : (double)h / (double)(h + m);
}

static double row_hit_ratio(const struct kv_row *w)
{
    return w->ok ? kv_hit_ratio(&w->ss, w->r.ops) : NAN;
}

static double row_found_ratio(const struct kv_row *w)
{
    return w->ok && w->found + w->missing > 0 ? (double)w->found / (double)(w->found + w->missing)
                                              : NAN;
}

static double row_meta_per_item(const struct kv_row *w, uint64_t items)
{
    return w->ok && w->ss.meta_bytes != KV_UNKNOWN && items > 0
               ? (double)w->ss.meta_bytes / (double)items
               : NAN;
}

static double row_load_rate(const struct kv_row *w)
{
    return w->load_s > 0 ? (double)w->load_items / w->load_s : NAN;
}

double kv_ratio(double a, double b)
{
    return isfinite(a) && isfinite(b) && b > 0 ? a / b : NAN;
}

static const char *dist_name(const struct kv_opts *o, char *buf, size_t len)
{
    if (o->c.wl.dist == BENCH_ZIPF)
        snprintf(buf, len, "zipf:%g", o->c.wl.theta);
    else
        snprintf(buf, len, "uniform");
    return buf;
}

static void config_line(const struct kv_opts *o, const struct kv_items *it, uint64_t data_bytes,
                        const char *base, char *buf, size_t len)
{
    struct kv_config_text t;
    char dist[48], ttl[48] = "", rep[64] = "";

    kv_config_text(&t, it, data_bytes, &o->c);
    if (o->ttl_ns != 0)
        snprintf(ttl, sizeof(ttl), ", ttl %g s (awecache)", (double)o->ttl_ns / 1e9);
    if (o->k.repeat > 1)
        snprintf(rep, sizeof(rep), ", repeat %llu (median, min-max)",
                 (unsigned long long)o->k.repeat);
    if (snprintf(
            buf, len,
            "items %s (keys %u B, values %s: %s with the keys), RAM budget %s, window %s, "
            "page %s, dist %s, reads %g%%, threads %llu, batch %llu, warm-up %llu ops, %s%s%s, "
            "medium %s, stores %s.*",
            t.n, KV_KEY_LEN, t.values, t.data, t.frames, t.window, t.page,
            dist_name(o, dist, sizeof(dist)), o->c.wl.read_ratio * 100.0,
            (unsigned long long)o->c.threads, (unsigned long long)o->batch,
            (unsigned long long)o->c.warmup, t.limit, ttl, rep, o->k.m.text, base) < 0)
        buf[0] = '\0';
}

/* ---- Repetitions: each side's runs and their medians ------------------------------------- */

/* The rates a run gives, each with its median over the runs. */
enum kv_rate { RATE_LOAD, RATE_OPS, RATE_GETS, RATE_PUTS, NRATES };
static const char *const rate_names[NRATES] = {"load_per_s", "ops_per_s", "gets_per_s",
                                               "puts_per_s"};

static double row_rate(const struct kv_row *w, enum kv_rate k)
{
    switch (k) {
    case RATE_LOAD:
        return row_load_rate(w);
    case RATE_OPS:
        return w->ok ? w->r.ops_per_s : (double)NAN;
    case RATE_GETS:
        return w->ok ? per_s(w->r.reads, w->r.seconds) : (double)NAN;
    default:
        return w->ok ? per_s(w->r.writes, w->r.seconds) : (double)NAN;
    }
}

/* A side over the --repeat runs. */
struct kv_side_runs {
    const struct kv_side *side;
    bool built;               /* false: not built in (error says why) */
    bool reached;             /* it ran, or was to run, at least once (a signal stops the rest) */
    bool failed;              /* a run failed (error says why); its later runs were left out */
    char error[240];          /* why it failed, or is not built */
    struct kv_row *runs;      /* [repeat]: runs[0 .. nruns) made it, in the order they ran */
    size_t nruns;             /* runs that made it */
    bool ok;                  /* every run made it (fold) */
    const struct kv_row *mid; /* the run of the median ops/s (fold) */
    double med[NRATES], lo[NRATES], hi[NRATES]; /* each rate's median, lowest, highest */
};

/* Step 3's fold of each side: ok when every run made it; then each rate's median (of an even
 * count the mean of the middle two), lowest and highest, and the run whose ops/s is the median
 * (of an even count the lower middle one), which gives the other columns. */
static void fold(struct kv_side_runs *sides, size_t nsides, size_t reps)
{
    for (size_t s = 0; s < nsides; s++) {
        struct kv_side_runs *sr = &sides[s];

        sr->ok = sr->built && !sr->failed && sr->nruns == reps;
        sr->mid = NULL;
        for (int k = 0; k < NRATES; k++) {
            double v[BENCH_REPEAT_MAX];
            size_t mid = 0;

            sr->med[k] = sr->lo[k] = sr->hi[k] = NAN;
            if (!sr->ok)
                continue;
            for (size_t r = 0; r < reps; r++)
                v[r] = row_rate(&sr->runs[r], (enum kv_rate)k);
            sr->med[k] = bench_median(v, reps, &sr->lo[k], &sr->hi[k], &mid);
            if (k == RATE_OPS)
                sr->mid = &sr->runs[mid];
        }
        if (sr->built && !sr->failed && !sr->ok && sr->reached)
            snprintf(sr->error, sizeof(sr->error), "interrupted after %zu of %zu runs", sr->nruns,
                     reps);
    }
}

/* awecache's median of rate k over the side's (NAN: either unknown). */
static double vs_awecache(const struct kv_side_runs *sides, const struct kv_side_runs *sr,
                          enum kv_rate k)
{
    return sides[0].ok && sr->ok ? kv_ratio(sides[0].med[k], sr->med[k]) : (double)NAN;
}

/* ---- Report ------------------------------------------------------------------------------ */

#define CELL_LEN 256
#define NCOLS    12

/* The table: one row per side; the rates the medians (min-max) over the runs, the other figures
 * of the median run, `vs awecache` from the medians. */
static int print_table(const struct kv_side_runs *sides, size_t nsides, size_t reps, uint64_t items)
{
    static const char *const header[NCOLS] = {"side",     "load/s", "ops/s",       "gets/s",
                                              "puts/s",   "found",  "RAM hit",     "meta B/item",
                                              "RAM used", "RSS +",  "vs awecache", "notes"};
    const char **cells;
    char(*text)[CELL_LEN] = cli_table_alloc(CMD, nsides, NCOLS, CELL_LEN, &cells);

    if (text == NULL)
        return -1;
    for (size_t i = 0; i < nsides; i++) {
        const struct kv_side_runs *sr = &sides[i];
        const struct kv_row *w = sr->mid;
        char(*t)[CELL_LEN] = text + i * NCOLS;
        const char **c = cells + i * NCOLS;
        double v;

        c[0] = sr->side->name;
        if (w != NULL) {
            for (int k = 0; k < NRATES; k++) {
                bench_fmt_median(t[1 + k], CELL_LEN, sr->med[k], sr->lo[k], sr->hi[k], reps);
                c[1 + k] = t[1 + k];
            }
            if (isfinite(v = row_found_ratio(w))) {
                snprintf(t[5], CELL_LEN, "%.1f%%", v * 100.0);
                c[5] = t[5];
            }
            if (isfinite(v = row_hit_ratio(w))) {
                snprintf(t[6], CELL_LEN, "%.1f%%", v * 100.0);
                c[6] = t[6];
            }
            if (isfinite(v = row_meta_per_item(w, items))) {
                snprintf(t[7], CELL_LEN, "%.1f", v);
                c[7] = t[7];
            }
            if (w->ss.mem_bytes != KV_UNKNOWN)
                c[8] = cli_fmt_size(w->ss.mem_bytes, t[8], CELL_LEN);
            if (w->rss_delta != KV_UNKNOWN)
                c[9] = cli_fmt_size(w->rss_delta, t[9], CELL_LEN);
            if (isfinite(v = vs_awecache(sides, sr, RATE_OPS))) {
                snprintf(t[10], CELL_LEN, v >= 0.1 ? "%.2fx" : "%.2gx", v);
                c[10] = t[10];
            }
        }
        if (!sr->built)
            snprintf(t[11], CELL_LEN, "%s", sr->error);
        else if (w == NULL)
            snprintf(t[11], CELL_LEN, "FAILED: %s", sr->error);
        else
            snprintf(t[11], CELL_LEN, "%s", w->ss.note);
        c[11] = t[11];
    }
    cli_table_print(stdout, NCOLS, header, cells, nsides);
    free(text);
    free(cells);
    return 0;
}

/* What a side without a whole set of runs shows: nothing known. */
static const struct kv_row no_row = {
    .ss = {KV_UNKNOWN, KV_UNKNOWN, KV_UNKNOWN, KV_UNKNOWN, KV_UNKNOWN, ""},
    .rss_delta = KV_UNKNOWN,
};

/* Rate k's fields: NAME (the median), NAME_median, NAME_min, NAME_max and NAME_runs (every
 * run's, in the order they ran). */
static void json_rate(struct cli_json *j, const struct kv_side_runs *sr, enum kv_rate k)
{
    char key[48];

    cli_json_real(j, rate_names[k], sr->med[k]);
    snprintf(key, sizeof(key), "%s_median", rate_names[k]);
    cli_json_real(j, key, sr->med[k]);
    snprintf(key, sizeof(key), "%s_min", rate_names[k]);
    cli_json_real(j, key, sr->lo[k]);
    snprintf(key, sizeof(key), "%s_max", rate_names[k]);
    cli_json_real(j, key, sr->hi[k]);
    snprintf(key, sizeof(key), "%s_runs", rate_names[k]);
    cli_json_begin_array(j, key);
    for (size_t r = 0; r < sr->nruns; r++)
        cli_json_real(j, NULL, row_rate(&sr->runs[r], k));
    cli_json_end_array(j);
}

static void print_json(const struct kv_opts *o, const struct kv_items *it, uint64_t data_bytes,
                       const char *base, const struct kv_side_runs *sides, size_t nsides)
{
    struct cli_json j;
    char dist[48];

    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_begin_object(&j, "config");
    kv_json_config(&j, "kv", base, it, data_bytes, &o->c);
    cli_json_str(&j, "dist", dist_name(o, dist, sizeof(dist)));
    cli_json_real(&j, "reads", o->c.wl.read_ratio);
    cli_json_u64(&j, "threads", o->c.threads);
    cli_json_u64(&j, "batch", o->batch);
    cli_json_real(&j, "duration_s", (double)o->c.duration_ns / 1e9);
    cli_json_u64(&j, "ops", o->c.ops);
    cli_json_u64(&j, "warmup_ops", o->c.warmup);
    cli_json_u64(&j, "seed", o->c.wl.seed);
    cli_json_real(&j, "ttl_s", (double)o->ttl_ns / 1e9);
    cli_json_bool(&j, "compare", o->c.compare);
    cli_json_u64(&j, "repeat", o->k.repeat);
    bench_medium_json(&j, &o->k.m);
    cli_json_end_object(&j);
    cli_json_begin_array(&j, "results");
    for (size_t i = 0; i < nsides; i++) {
        const struct kv_side_runs *sr = &sides[i];
        const struct kv_row *w = sr->mid != NULL ? sr->mid : &no_row;

        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "side", sr->side->name);
        cli_json_bool(&j, "built", sr->built);
        cli_json_bool(&j, "ok", sr->ok);
        cli_json_str(&j, "error", sr->ok || !sr->built ? NULL : sr->error);
        cli_json_u64(&j, "runs", sr->ok ? sr->nruns : 0);
        cli_json_u64(&j, "load_items", w->load_items);
        cli_json_real(&j, "load_seconds", w->load_s);
        json_rate(&j, sr, RATE_LOAD);
        cli_json_u64(&j, "ops", w->r.ops);
        cli_json_u64(&j, "gets", w->r.reads);
        cli_json_u64(&j, "puts", w->r.writes);
        cli_json_real(&j, "seconds", w->r.seconds);
        for (int k = RATE_OPS; k < NRATES; k++)
            json_rate(&j, sr, (enum kv_rate)k);
        cli_json_u64(&j, "found", w->found);
        cli_json_u64(&j, "not_found", w->missing);
        cli_json_real(&j, "found_ratio", row_found_ratio(w));
        bench_json_u64_or_null(&j, "hits", w->ss.hits);
        bench_json_u64_or_null(&j, "misses", w->ss.misses);
        cli_json_real(&j, "hit_ratio", row_hit_ratio(w));
        bench_json_u64_or_null(&j, "meta_bytes", w->ss.meta_bytes);
        cli_json_real(&j, "meta_bytes_per_item", row_meta_per_item(w, it->n));
        bench_json_u64_or_null(&j, "mem_bytes", w->ss.mem_bytes);
        bench_json_u64_or_null(&j, "rss_delta_bytes", w->rss_delta);
        bench_json_u64_or_null(&j, "disk_bytes", w->ss.disk_bytes);
        cli_json_real(&j, "ratio_vs_awecache", vs_awecache(sides, sr, RATE_OPS));
        cli_json_real(&j, "load_ratio_vs_awecache", vs_awecache(sides, sr, RATE_LOAD));
        cli_json_str(&j, "note", !sr->built ? sr->error : (w->ss.note[0] ? w->ss.note : NULL));
        cli_json_end_object(&j);
    }
    cli_json_end_array(&j);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

/* One CSV row: run w of side sr, labelled run ("median": the side's summary, its rates the
 * medians with min and max and the ratios; else one run's own figures). */
static void csv_row(const struct kv_opts *o, const struct kv_side_runs *sides,
                    const struct kv_side_runs *sr, const struct kv_row *w, const char *run,
                    uint64_t items)
{
    bool summary = strcmp(run, "median") == 0, ok = summary ? sr->ok : true;
    double rate[NRATES];

    for (int k = 0; k < NRATES; k++)
        rate[k] = summary ? sr->med[k] : row_rate(w, (enum kv_rate)k);
    bench_csv_str(stdout, sr->side->name);
    fputs(sr->built ? ",true" : ",false", stdout);
    fputs(ok ? ",true," : ",false,", stdout);
    bench_csv_str(stdout, ok || !sr->built ? NULL : sr->error);
    bench_csv_u64(stdout, w->load_items);
    bench_csv_real(stdout, w->load_s, 6);
    bench_csv_real(stdout, rate[RATE_LOAD], 3);
    bench_csv_u64(stdout, w->r.ops);
    bench_csv_u64(stdout, w->r.reads);
    bench_csv_u64(stdout, w->r.writes);
    bench_csv_real(stdout, w->r.seconds, 6);
    for (int k = RATE_OPS; k < NRATES; k++)
        bench_csv_real(stdout, rate[k], 3);
    bench_csv_u64(stdout, w->found);
    bench_csv_u64(stdout, w->missing);
    bench_csv_real(stdout, row_found_ratio(w), 6);
    bench_csv_u64(stdout, w->ss.hits);
    bench_csv_u64(stdout, w->ss.misses);
    bench_csv_real(stdout, row_hit_ratio(w), 6);
    bench_csv_u64(stdout, w->ss.meta_bytes);
    bench_csv_real(stdout, row_meta_per_item(w, items), 2);
    bench_csv_u64(stdout, w->ss.mem_bytes);
    bench_csv_u64(stdout, w->rss_delta);
    bench_csv_u64(stdout, w->ss.disk_bytes);
    bench_csv_real(stdout, summary ? vs_awecache(sides, sr, RATE_OPS) : (double)NAN, 4);
    bench_csv_real(stdout, summary ? vs_awecache(sides, sr, RATE_LOAD) : (double)NAN, 4);
    printf(",%s", run);
    bench_csv_u64(stdout, sr->ok ? sr->nruns : 0);
    printf(",%s", o->k.m.rd != NULL ? "ram" : "disk");
    for (int k = 0; k < NRATES; k++) {
        bench_csv_real(stdout, summary ? sr->lo[k] : (double)NAN, 3);
        bench_csv_real(stdout, summary ? sr->hi[k] : (double)NAN, 3);
    }
    fputc(',', stdout);
    bench_csv_str(stdout, !sr->built ? sr->error : (w->ss.note[0] ? w->ss.note : NULL));
    fputc('\n', stdout);
}

/* The CSV: per side, its summary (run "median"), then with --repeat above 1 a row per run. */
static void print_csv(const struct kv_opts *o, const struct kv_side_runs *sides, size_t nsides,
                      uint64_t items)
{
    fputs("side,built,ok,error,load_items,load_seconds,load_per_s,ops,gets,puts,seconds,"
          "ops_per_s,gets_per_s,puts_per_s,found,not_found,found_ratio,hits,misses,hit_ratio,"
          "meta_bytes,meta_bytes_per_item,mem_bytes,rss_delta_bytes,disk_bytes,"
          "ratio_vs_awecache,load_ratio_vs_awecache,run,repeat,medium,load_per_s_min,"
          "load_per_s_max,ops_per_s_min,ops_per_s_max,gets_per_s_min,gets_per_s_max,"
          "puts_per_s_min,puts_per_s_max,note\n",
          stdout);
    for (size_t i = 0; i < nsides; i++) {
        const struct kv_side_runs *sr = &sides[i];

        csv_row(o, sides, sr, sr->mid != NULL ? sr->mid : &no_row, "median", items);
        for (size_t r = 0; o->k.repeat > 1 && sr->ok && r < sr->nruns; r++) {
            char run[24];

            snprintf(run, sizeof(run), "%zu", r + 1);
            csv_row(o, sides, sr, &sr->runs[r], run, items);
        }
    }
}

/* ---- The command ----------------------------------------------------------------------------
 */

int kv_check_common(const struct bench_common *c, const struct kv_common *k, struct kv_items *it)
{
    char b1[32], b2[32], b3[32];

    if (k->items != 0 && c->data_size_given) {
        cli_error(CMD, "--items and --data-size: give one of them");
        return -1;
    }
    if (bench_check_frames_page(c->frames, c->page_size) != 0)
        return -1;
    if (c->window != 0 && (c->window < c->page_size || c->window > c->frames)) {
        cli_error(CMD, "--window %s: must be from one page (%s) to --frames (%s)",
                  cli_fmt_size(c->window, b1, sizeof(b1)),
                  cli_fmt_size(c->page_size, b2, sizeof(b2)),
                  cli_fmt_size(c->frames, b3, sizeof(b3)));
        return -1;
    }
    if (bench_check_ram(c->frames) != 0)
        return -1;
    if (k->m.ram_asked && (k->dir != NULL || c->keep)) {
        cli_error(CMD,
                  "--medium ram with %s: the RAM disk is made for the run and gone at its end; "
                  "leave out %s",
                  k->dir != NULL ? "--dir" : "--keep", k->dir != NULL ? "--dir" : "--keep");
        return -1;
    }
    it->value_min = (uint32_t)k->value_min;
    it->value_max = (uint32_t)k->value_max;
    it->seed = c->wl.seed;
    return 0;
}

uint64_t kv_data_bytes(const struct kv_items *it)
{
    uint64_t bytes = it->n * KV_KEY_LEN;

    for (uint64_t id = 0; id < it->n; id++)
        bytes += kv_value_len(it, id);
    return bytes;
}

void kv_run_configure(struct kv_run *run, uint64_t data_bytes, const struct bench_common *c)
{
    run->kc.items = run->items;
    run->kc.data_bytes = data_bytes;
    run->kc.ram_budget = c->frames;
    run->kc.window = c->window;
    run->kc.page_size = (size_t)c->page_size;
    run->kc.awc_flags = c->no_direct ? AWC_NO_DIRECT : 0;
    run->base.pages = run->items->n;
    run->base.page_size = (size_t)c->page_size;
    run->base.frame_budget = c->frames;
    run->base.window_budget = c->window;
    run->base.batch = 1;
    run->base.duration_ns = c->duration_ns;
    run->base.ops = c->ops;
}

void kv_config_text(struct kv_config_text *t, const struct kv_items *it, uint64_t data_bytes,
                    const struct bench_common *c)
{
    char lo[32], hi[32];

    cli_fmt_si((double)it->n, t->n, sizeof(t->n));
    cli_fmt_size(it->value_min, lo, sizeof(lo));
    cli_fmt_size(it->value_max, hi, sizeof(hi));
    if (it->value_min == it->value_max)
        snprintf(t->values, sizeof(t->values), "%s", lo);
    else
        snprintf(t->values, sizeof(t->values), "%s to %s", lo, hi);
    cli_fmt_size(data_bytes, t->data, sizeof(t->data));
    cli_fmt_size(c->frames, t->frames, sizeof(t->frames));
    if (c->window != 0)
        cli_fmt_size(c->window, t->window, sizeof(t->window));
    else
        snprintf(t->window, sizeof(t->window), "default");
    cli_fmt_size(c->page_size, t->page, sizeof(t->page));
    bench_limit_text(t->limit, sizeof(t->limit), c->duration_ns, c->ops);
}

void kv_json_config(struct cli_json *j, const char *mode, const char *base,
                    const struct kv_items *it, uint64_t data_bytes, const struct bench_common *c)
{
    cli_json_str(j, "mode", mode);
    cli_json_str(j, "stores", base);
    cli_json_u64(j, "items", it->n);
    cli_json_u64(j, "key_bytes", KV_KEY_LEN);
    cli_json_u64(j, "value_min", it->value_min);
    cli_json_u64(j, "value_max", it->value_max);
    cli_json_u64(j, "data_bytes", data_bytes);
    cli_json_u64(j, "ram_budget", c->frames);
    cli_json_u64(j, "window", c->window);
    cli_json_u64(j, "page_size", c->page_size);
}

int kv_pick_base(const char *dir_opt, const char *prefix, char *base, size_t len)
{
    static const char *const suffixes[] = {".awc", ".rocksdb", ".lmdb", ".lmdb-lock", ".probe"};
    char dir[KV_PATH_LEN - 64];
    uint64_t x = plat_clock_ns() ^ ((uint64_t)(uintptr_t)base << 16);

    if (dir_opt != NULL) {
        if (strlen(dir_opt) >= sizeof(dir)) {
            cli_error(CMD, "--dir %s: the path is too long", dir_opt);
            return -1;
        }
        snprintf(dir, sizeof(dir), "%s", dir_opt);
    } else if (plat_temp_dir(dir, sizeof(dir)) != 0) {
        cli_error(CMD, "no temporary directory (set TMPDIR, or give --dir)");
        return -1;
    }
    for (int tries = 0; tries < 100; tries++) {
        bool taken = false;
        char p[KV_PATH_LEN + 32];

        x = cli_mix64(x);
        snprintf(base, len, "%s/%s-%08x", dir, prefix, (unsigned)(x >> 32));
        for (size_t k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]) && !taken; k++) {
            snprintf(p, sizeof(p), "%s%s", base, suffixes[k]);
            taken = bench_file_exists(p);
        }
        if (!taken) {
            FILE *f;

            snprintf(p, sizeof(p), "%s.probe", base);
            f = fopen(p, "wb");
            if (f == NULL) {
                cli_error(CMD, "cannot make files in %s%s", dir,
                          dir_opt != NULL ? " (--dir): no such directory, or not writable" : "");
                return -1;
            }
            fclose(f);
            remove(p);
            return 0;
        }
    }
    cli_error(CMD, "cannot find a new store name in %s; give another --dir", dir);
    return -1;
}

int kv_open_medium(struct kv_common *k, uint64_t files_bytes, uint64_t frames, const char *prefix,
                   char *base, size_t len)
{
    const char *dir;

    bench_medium_open(&k->m, files_bytes, frames);
    dir = bench_medium_dir(&k->m) != NULL ? bench_medium_dir(&k->m) : k->dir;
    if (kv_pick_base(dir, prefix, base, len) != 0) {
        bench_medium_close(&k->m);
        return -1;
    }
    return 0;
}

/* Step 1's medium: the RAM disk holds one side's store at a time (each is removed before the
 * next is made): awecache's log file (its capacity, and the checksums and regions' ~0.4 % more),
 * or RocksDB's or LMDB's store, taken as twice the items with 64 bytes each + 256 MiB (RocksDB's
 * compactions write a level anew before they drop the old one; LMDB keeps a value above half a
 * page on pages of its own, and a put's pages anew until no reader needs the old ones). */
static uint64_t medium_bytes(const struct kv_items *it, uint64_t data_bytes, uint64_t page)
{
    uint64_t awc = kv_awc_capacity(data_bytes, it->n, page), other;

    awc += awc / 128 + (16ull << 20);
    other = 2 * (data_bytes + it->n * 64) + (256ull << 20);
    return awc > other ? awc : other;
}

/*
 * awecache-bench --kv [OPTIONS]
 *   1. Parse and validate (usage errors: exit 2); count the items and their bytes; open the
 *      medium (--medium ram: a RAM disk) and pick the stores' base name.
 *   2. --repeat times: awecache, then with --compare RocksDB and LMDB (interleaved: a drift of
 *      the machine touches every side alike), each run a fresh store: load, warm-up, measured
 *      part (run_one). A side not built in gets a row saying why; a side whose run fails runs no
 *      more; SIGINT/SIGTERM stop the run.
 *   3. Fold each side's runs (medians, min-max) and report (table, --json or --csv). Exit 1 if
 *      a side that is built failed.
 */
int cmd_bench_kv(int argc, char **argv)
{
    static const struct kv_side *const side_list[NSIDES] = {&kv_side_awecache, &kv_side_rocksdb,
                                                            &kv_side_lmdb};
    struct kv_opts o;
    struct kv_items it;
    struct kv_side_runs sides[NSIDES];
    struct cli_signals sig = {SIG_ERR, SIG_ERR};
    struct kv_run *run = NULL;
    char base[KV_PATH_LEN], b1[32], b2[32];
    uint64_t data_bytes = 0;
    size_t nsides;
    int status = CLI_EXIT_OK, rc;

    /* Step 1 */
    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (kv_check_common(&o.c, &o.k, &it) != 0)
        return CLI_EXIT_USAGE;
    it.n = o.k.items != 0 ? o.k.items : o.c.data_size / ((o.k.value_min + o.k.value_max) / 2);
    if (it.n == 0) {
        cli_error(CMD, "--data-size %s holds no value of the mean size; give more",
                  cli_fmt_size(o.c.data_size, b1, sizeof(b1)));
        return CLI_EXIT_USAGE;
    }
    if (it.n > UINT32_MAX) {
        cli_error(CMD, "%llu items: at most %u", (unsigned long long)it.n, UINT32_MAX);
        return CLI_EXIT_USAGE;
    }
    data_bytes = kv_data_bytes(&it);
    if (!o.c.warmup_given) {
        uint64_t held = o.c.frames / ((o.k.value_min + o.k.value_max) / 2 + KV_KEY_LEN);

        o.c.warmup = held < 200000 ? held : 200000;
    }
    nsides = o.c.compare ? NSIDES : 1;
    memset(sides, 0, sizeof(sides));
    for (size_t s = 0; s < nsides; s++) {
        sides[s].side = side_list[s];
        sides[s].built = side_list[s]->missing == NULL;
        sides[s].runs = calloc((size_t)o.k.repeat, sizeof(*sides[s].runs));
        if (sides[s].runs == NULL) {
            cli_error(CMD, "out of memory");
            status = CLI_EXIT_FAIL;
            goto out;
        }
    }
    if (kv_open_medium(&o.k, medium_bytes(&it, data_bytes, o.c.page_size), o.c.frames,
                       "awecache-kv", base, sizeof(base)) != 0) {
        status = CLI_EXIT_FAIL;
        goto out;
    }
    if (o.c.frames >= data_bytes)
        cli_note(CMD, "the data (%s) fits in the RAM budget (%s): every side can cache it all",
                 cli_fmt_size(data_bytes, b1, sizeof(b1)),
                 cli_fmt_size(o.c.frames, b2, sizeof(b2)));

    run = kv_run_new(&it, (unsigned)o.c.threads);
    if (run == NULL) {
        cli_error(CMD, "out of memory for %llu items' versions", (unsigned long long)it.n);
        status = CLI_EXIT_FAIL;
        goto out;
    }
    kv_run_configure(run, data_bytes, &o.c);
    run->kc.ttl_ms = o.ttl_ns / 1000000u;
    run->base.threads = (unsigned)o.c.threads;
    run->base.batch = o.batch;
    run->base.warmup_ops = o.c.warmup;
    run->base.wl = o.c.wl;
    run->base.wl.pages = it.n;
    if (bench_workload_prepare(&run->base.wl) != 0) {
        cli_error(CMD, "out of memory for the workload");
        status = CLI_EXIT_FAIL;
        goto out;
    }

    /* Step 2 */
    cli_signals_install(&sig);
    for (uint64_t rep = 0; rep < o.k.repeat && !cli_stopping(); rep++) {
        if (o.k.repeat > 1)
            cli_note(CMD, "round %llu of %llu", (unsigned long long)rep + 1,
                     (unsigned long long)o.k.repeat);
        for (size_t s = 0; s < nsides && !cli_stopping(); s++) {
            struct kv_side_runs *sr = &sides[s];
            struct kv_row *row = &sr->runs[sr->nruns];

            if (!sr->built) {
                if (!sr->reached) {
                    snprintf(sr->error, sizeof(sr->error), "%s", sr->side->missing);
                    cli_note(CMD, "%s: %s", sr->side->name, sr->side->missing);
                }
                sr->reached = true;
                continue;
            }
            sr->reached = true;
            if (sr->failed)
                continue;
            if (run_one(sr->side, run, base, o.c.keep, row)) {
                sr->nruns++;
            } else {
                sr->failed = true;
                snprintf(sr->error, sizeof(sr->error), "%s", row->error);
                cli_error(CMD, "%s: %s", sr->side->name, sr->error);
                status = CLI_EXIT_FAIL;
            }
        }
    }
    status = kv_signals_restore(&sig, status);

    /* Step 3 */
    while (nsides > 0 && !sides[nsides - 1].reached)
        nsides--;
    fold(sides, nsides, (size_t)o.k.repeat);
    if (o.c.json) {
        print_json(&o, &it, data_bytes, base, sides, nsides);
    } else if (o.c.csv) {
        print_csv(&o, sides, nsides, it.n);
    } else {
        char line[2 * KV_PATH_LEN];

        config_line(&o, &it, data_bytes, base, line, sizeof(line));
        printf("%s\n\n", line);
        if (print_table(sides, nsides, (size_t)o.k.repeat, it.n) != 0)
            status = CLI_EXIT_FAIL;
    }
    fflush(stdout);
out:
    if (run != NULL) {
        bench_workload_free(&run->base.wl);
        kv_run_free(run);
    }
    for (size_t s = 0; s < NSIDES; s++)
        free(sides[s].runs);
    bench_medium_close(&o.k.m);
    return status;
}
