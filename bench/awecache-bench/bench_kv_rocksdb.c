/*
 * bench/awecache-bench/bench_kv_rocksdb.c: the RocksDB side of `awecache-bench --kv` (bench_kv.h),
 * through RocksDB's C API (rocksdb/c.h). Built where CMake found RocksDB (AWECACHE_HAVE_ROCKSDB);
 * elsewhere the side says it is not built.
 *
 * Set up for the same RAM budget as the other sides, nothing hidden outside it:
 *   - the memtable: write_buffer_size = budget / 4, at most 64 MiB (at least 64 KiB), counted
 *     inside the budget (RocksDB may fill a second one while the first is flushed);
 *   - a block-based table with an LRU block cache of the rest of the budget, 4 KiB blocks, a
 *     full Bloom filter of 10 bits per key, and cache_index_and_filter_blocks, so that index and
 *     filter blocks are inside the block cache too;
 *   - no compression (the values are random bytes);
 *   - direct I/O for reads and for flushes and compactions, so that the OS page cache holds no
 *     hidden copy of the data (where the file system refuses direct I/O the side opens without
 *     it and the note says so: the OS cache then adds RAM beyond the budget);
 *   - puts without the write-ahead log (the load's and the run's: the data is made durable by
 *     the flush after the load, as awecache's by awc_kv_flush and LMDB's by its sync);
 *   - statistics on (their cost is in the figures), for the block cache's counters.
 * The load ends with a flush that waits, then waits until no flush or compaction is running or
 * pending (counted in the load's time).
 *
 * Counters of the measured part: "RAM hit" is the block cache's hit ratio for data blocks
 * (rocksdb.block.cache.data.hit / (hit + miss)); the note adds the ratio over all blocks (index
 * and filter blocks included). "meta" is the index and filter blocks of every table (from the
 * aggregated table properties), "RAM used" the block cache's usage + the memtables + the table
 * readers (at close), disk the table files.
 */
#include "bench_kv.h"

#ifdef AWECACHE_HAVE_ROCKSDB

#include "cli.h"
#include "plat_proc.h"

#include <rocksdb/c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024ull * 1024ull)

struct side_state {
    const struct kv_config *cfg;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *filter; /* owned by table once set */
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    uint64_t write_buffer; /* bytes */
    uint64_t cache_bytes;  /* the block cache's capacity */
    bool direct;           /* direct I/O is on */
    uint64_t base[4];      /* tickers at begin: data hit, data miss, all hit, all miss */
};

static const char *const tickers[4] = {"rocksdb.block.cache.data.hit",
                                       "rocksdb.block.cache.data.miss", "rocksdb.block.cache.hit",
                                       "rocksdb.block.cache.miss"};

/* Reads the tickers from the statistics' text ("NAME COUNT : N" lines). */
static void read_tickers(struct side_state *s, uint64_t out[4])
{
    char *text = rocksdb_options_statistics_get_string(s->opts);

    for (int i = 0; i < 4; i++) {
        const char *p = text;
        size_t n = strlen(tickers[i]);

        out[i] = 0;
        while (p != NULL && (p = strstr(p, tickers[i])) != NULL) {
            unsigned long long v;

            if (p[n] == ' ' && sscanf(p + n, " COUNT : %llu", &v) == 1) {
                out[i] = v;
                break;
            }
            p += n;
        }
    }
    rocksdb_free(text);
}

/* An integer property; KV_UNKNOWN when RocksDB does not know it. */
static uint64_t prop_u64(struct side_state *s, const char *name)
{
    uint64_t v = 0;

    return rocksdb_property_int(s->db, name, &v) == 0 ? v : KV_UNKNOWN;
}

/* The number after "<what>" and the next '=' in the aggregated table properties. */
static uint64_t table_prop(const char *text, const char *what)
{
    const char *p = text != NULL ? strstr(text, what) : NULL;
    unsigned long long v;

    if (p == NULL || (p = strchr(p, '=')) == NULL || sscanf(p + 1, "%llu", &v) != 1)
        return KV_UNKNOWN;
    return v;
}

static void side_release(struct side_state *s)
{
    if (s->db != NULL)
        rocksdb_close(s->db);
    if (s->ro != NULL)
        rocksdb_readoptions_destroy(s->ro);
    if (s->wo != NULL)
        rocksdb_writeoptions_destroy(s->wo);
    if (s->opts != NULL)
        rocksdb_options_destroy(s->opts);
    if (s->table != NULL)
        rocksdb_block_based_options_destroy(s->table);
    if (s->cache != NULL)
        rocksdb_cache_destroy(s->cache);
    free(s);
}

/* Steps: 1. the budget's split; 2. the options (file comment); 3. open with direct I/O, and
 * without it where the file system refuses it. */
static int side_open(void **state, const struct kv_config *cfg, char *drop_path, size_t drop_len,
                     char *err, size_t errlen)
{
    struct side_state *s = calloc(1, sizeof(*s));
    char *e = NULL;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    /* Step 1 */
    s->write_buffer = cfg->ram_budget / 4;
    if (s->write_buffer > 64 * MIB)
        s->write_buffer = 64 * MIB;
    if (s->write_buffer < 64 * 1024)
        s->write_buffer = 64 * 1024;
    if (cfg->ram_budget <= s->write_buffer + 64 * 1024) {
        snprintf(err, errlen, "the RAM budget is too small for a memtable and a block cache");
        free(s);
        return -1;
    }
    s->cache_bytes = cfg->ram_budget - s->write_buffer;
    /* Step 2 */
    s->cache = rocksdb_cache_create_lru((size_t)s->cache_bytes);
    s->table = rocksdb_block_based_options_create();
    s->opts = rocksdb_options_create();
    s->ro = rocksdb_readoptions_create();
    s->wo = rocksdb_writeoptions_create();
    if (s->cache == NULL || s->table == NULL || s->opts == NULL || s->ro == NULL || s->wo == NULL) {
        snprintf(err, errlen, "out of memory");
        side_release(s);
        return -1;
    }
    rocksdb_block_based_options_set_block_cache(s->table, s->cache);
    rocksdb_block_based_options_set_block_size(s->table, 4096);
    rocksdb_block_based_options_set_filter_policy(s->table,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(s->table, 1);
    rocksdb_options_set_block_based_table_factory(s->opts, s->table);
    rocksdb_options_set_create_if_missing(s->opts, 1);
    rocksdb_options_set_error_if_exists(s->opts, 1);
    rocksdb_options_set_compression(s->opts, rocksdb_no_compression);
    rocksdb_options_set_write_buffer_size(s->opts, (size_t)s->write_buffer);
    rocksdb_options_enable_statistics(s->opts);
    rocksdb_writeoptions_disable_WAL(s->wo, 1);
    /* Step 3 */
    s->direct = true;
    rocksdb_options_set_use_direct_reads(s->opts, 1);
    rocksdb_options_set_use_direct_io_for_flush_and_compaction(s->opts, 1);
    s->db = rocksdb_open(s->opts, cfg->path, &e);
    if (s->db == NULL && e != NULL && strstr(e, "irect") != NULL) {
        rocksdb_free(e);
        e = NULL;
        rocksdb_destroy_db(s->opts, cfg->path, &e);
        rocksdb_free(e);
        e = NULL;
        s->direct = false;
        rocksdb_options_set_use_direct_reads(s->opts, 0);
        rocksdb_options_set_use_direct_io_for_flush_and_compaction(s->opts, 0);
        s->db = rocksdb_open(s->opts, cfg->path, &e);
    }
    if (s->db == NULL) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->path, e != NULL ? e : "rocksdb_open");
        rocksdb_free(e);
        side_release(s);
        return -1;
    }
    snprintf(drop_path, drop_len, "%s/CURRENT", cfg->path);
    *state = s;
    return 0;
}

static int side_put(void *state, unsigned thread, const void *key, size_t key_len,
                    const void *value, size_t value_len, char *err, size_t errlen)
{
    struct side_state *s = state;
    char *e = NULL;

    (void)thread;
    rocksdb_put(s->db, s->wo, key, key_len, value, value_len, &e);
    if (e != NULL) {
        snprintf(err, errlen, "rocksdb_put %.*s: %s", (int)key_len, (const char *)key, e);
        rocksdb_free(e);
        return -1;
    }
    return 0;
}

static int side_get(void *state, unsigned thread, const void *key, size_t key_len,
                    struct kv_check *c, char *err, size_t errlen)
{
    struct side_state *s = state;
    rocksdb_pinnableslice_t *ps;
    const char *v;
    size_t len = 0;
    char *e = NULL;

    (void)thread;
    ps = rocksdb_get_pinned(s->db, s->ro, key, key_len, &e);
    if (e != NULL) {
        snprintf(err, errlen, "rocksdb_get %.*s: %s", (int)key_len, (const char *)key, e);
        rocksdb_free(e);
        rocksdb_pinnableslice_destroy(ps);
        return -1;
    }
    if (ps == NULL)
        return 0;
    v = rocksdb_pinnableslice_value(ps, &len);
    kv_check_piece(c, v, len);
    rocksdb_pinnableslice_destroy(ps);
    return 1;
}

/* rocksdb_multi_get: RocksDB's batched lookup (it copies each value out). */
static int side_get_batch(void *state, unsigned thread, size_t n, const char *const *keys,
                          size_t key_len, struct kv_check *c, int *found, char *err, size_t errlen)
{
    struct side_state *s = state;
    size_t klens[KV_BATCH_MAX] = {0}, vlens[KV_BATCH_MAX];
    char *values[KV_BATCH_MAX], *errs[KV_BATCH_MAX];
    int rc = 0;

    (void)thread;
    for (size_t i = 0; i < n; i++)
        klens[i] = key_len;
    rocksdb_multi_get(s->db, s->ro, n, keys, klens, values, vlens, errs);
    for (size_t i = 0; i < n; i++) {
        if (errs[i] != NULL && rc == 0) {
            snprintf(err, errlen, "rocksdb_multi_get %.*s: %s", (int)key_len, keys[i], errs[i]);
            rc = -1;
        }
        found[i] = errs[i] == NULL && values[i] != NULL;
        if (found[i])
            kv_check_piece(&c[i], values[i], vlens[i]);
        rocksdb_free(errs[i]);
        rocksdb_free(values[i]);
    }
    return rc;
}

/* Steps: 1. flush the memtable and wait for it; 2. wait until no flush or compaction runs or is
 * pending (polled every 20 ms, at most 10 minutes). */
static int side_sync(void *state, char *err, size_t errlen)
{
    struct side_state *s = state;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    char *e = NULL;

    /* Step 1 */
    if (fo == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(s->db, fo, &e);
    rocksdb_flushoptions_destroy(fo);
    if (e != NULL) {
        snprintf(err, errlen, "rocksdb_flush: %s", e);
        rocksdb_free(e);
        return -1;
    }
    /* Step 2 */
    for (int i = 0; i < 30000; i++) {
        if (prop_u64(s, "rocksdb.num-running-compactions") == 0 &&
            prop_u64(s, "rocksdb.num-running-flushes") == 0 &&
            prop_u64(s, "rocksdb.compaction-pending") == 0 &&
            prop_u64(s, "rocksdb.mem-table-flush-pending") == 0)
            return 0;
        plat_sleep_ns(20000000u);
    }
    return 0;
}

static void side_begin(void *state)
{
    struct side_state *s = state;

    read_tickers(s, s->base);
}

/* A scan: an iterator, Seek to the first key >= key, then Next until n items were handed over. */
static long side_scan(void *state, unsigned thread, const void *key, size_t key_len, unsigned n,
                      kv_visit_fn visit, void *ctx, char *err, size_t errlen)
{
    struct side_state *s = state;
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->ro);
    long got = 0;
    char *e = NULL;

    (void)thread;
    if (it == NULL) {
        snprintf(err, errlen, "rocksdb_create_iterator: out of memory");
        return -1;
    }
    for (rocksdb_iter_seek(it, key, key_len); (unsigned long)got < n && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen), *v = rocksdb_iter_value(it, &vlen);

        got++;
        if (visit(ctx, k, klen, v, vlen) != 0)
            break;
    }
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    if (e != NULL) {
        snprintf(err, errlen, "rocksdb iterator from %.*s: %s", (int)key_len, (const char *)key, e);
        rocksdb_free(e);
        return -1;
    }
    return got;
}

/* The counters since begin, the memory and the sizes. */
static void side_stats(void *state, struct kv_side_stats *out)
{
    struct side_state *s = state;
    uint64_t now[4], d[4], readers, memtables, idx, filt;
    char *props;
    char b1[32], b2[32];

    read_tickers(s, now);
    for (int i = 0; i < 4; i++)
        d[i] = now[i] - s->base[i];
    readers = prop_u64(s, "rocksdb.estimate-table-readers-mem");
    memtables = prop_u64(s, "rocksdb.cur-size-all-mem-tables");
    props = rocksdb_property_value(s->db, "rocksdb.aggregated-table-properties");
    idx = table_prop(props, "index block size");
    filt = table_prop(props, "filter block size");
    rocksdb_free(props);
    out->hits = d[0];
    out->misses = d[1];
    out->meta_bytes = idx != KV_UNKNOWN && filt != KV_UNKNOWN ? idx + filt : KV_UNKNOWN;
    out->mem_bytes = rocksdb_cache_get_usage(s->cache) + (readers != KV_UNKNOWN ? readers : 0) +
                     (memtables != KV_UNKNOWN ? memtables : 0);
    out->disk_bytes = prop_u64(s, "rocksdb.total-sst-files-size");
    snprintf(
        out->note, sizeof(out->note), "block cache %s + memtable %s; all blocks %.1f%% hit; %s",
        cli_fmt_size(s->cache_bytes, b1, sizeof(b1)), cli_fmt_size(s->write_buffer, b2, sizeof(b2)),
        d[2] + d[3] > 0 ? 100.0 * (double)d[2] / (double)(d[2] + d[3]) : 0.0,
        s->direct ? "direct I/O"
                  : "no direct I/O here: the OS page cache adds RAM beyond the budget");
}

/* Steps: 1. the counters, memory and sizes; 2. close. */
static int side_close(void *state, struct kv_side_stats *out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* Step 1 */
    if (out != NULL)
        side_stats(state, out);
    /* Step 2 */
    side_release(state);
    return 0;
}

static void side_destroy(const char *path)
{
    rocksdb_options_t *o = rocksdb_options_create();
    char *e = NULL;

    if (o != NULL) {
        rocksdb_destroy_db(o, path, &e);
        rocksdb_free(e);
        rocksdb_options_destroy(o);
    }
    remove(path); /* the directory, if RocksDB left it */
}

const struct kv_side kv_side_rocksdb = {
    .name = "rocksdb",
    .missing = NULL,
    .suffix = ".rocksdb",
    .open = side_open,
    .put = side_put,
    .get = side_get,
    .get_batch = side_get_batch,
    .sync = side_sync,
    .start = NULL,
    .begin = side_begin,
    .scan = side_scan,
    .stats = side_stats,
    .close = side_close,
    .destroy = side_destroy,
};

#else /* !AWECACHE_HAVE_ROCKSDB */

#if defined(__SANITIZE_THREAD__)
#define ROCKSDB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ROCKSDB_TSAN 1
#endif
#endif

#ifdef ROCKSDB_TSAN
const struct kv_side kv_side_rocksdb = {
    .name = "rocksdb",
    .missing = "not built: a ThreadSanitizer build leaves RocksDB out (the library is not "
               "instrumented; TSan reports its lock-free memtable's copies as races)",
    .suffix = ".rocksdb",
};
#else
const struct kv_side kv_side_rocksdb = {
    .name = "rocksdb",
    .missing = "not built: RocksDB (rocksdb/c.h and librocksdb) was not found when this program "
               "was configured (Debian: librocksdb-dev; the 32-bit and Windows builds go without)",
    .suffix = ".rocksdb",
};

#endif

#endif
