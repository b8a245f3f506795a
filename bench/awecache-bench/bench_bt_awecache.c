/*
 * bench/awecache-bench/bench_bt_awecache.c: the awecache side of `awecache-bench --btree`
 * (bench_bt.c): the engine's B+-tree (awc_bt_*, engine/awecache_bt.h) on a page-cache file, as
 * a store of struct kv_side (bench_kv.h).
 *
 * The budget: the RAM budget holds the page cache's checksum table as well as the frames, as
 * RocksDB's block cache holds its index and filter blocks and LMDB's memory cgroup everything:
 *     frames = budget - checksum table,
 * the table for a file of three times the items' bytes with 16 bytes of slot and header per item
 * (nodes are 1/2 to full, and a flush's copy-on-write keeps a second copy of changed nodes until
 * the next one). The window (address space over the frames, not RAM) is --window, else the
 * engine's default (engine/README.md 1.1: the frames up to 64 MiB of them, else a quarter of
 * them, at most 64 MiB).
 *
 * Operations: a put is awc_bt_put (insert or replace); a get is a reference (awc_bt_get_ref:
 * the value in place, its leaf pinned shared) checked and released; a scan is the thread's
 * cursor (one per worker thread, opened at the first scan), awc_bt_cursor_seek then
 * awc_bt_cursor_next, each item read with awc_bt_cursor_get; the load's sync is awc_bt_flush.
 *
 * Counters: "RAM hit" is the page cache's pins served without a file read ((window hits + frame
 * hits) / all pins), from the difference of awc_bt_get_counters (constant time, no node read)
 * between one report and the next (the first: after the load); the ratio covers the warm-up
 * too. The tree's shape (inner nodes, leaf fill) needs a walk of every node (awc_bt_get_stats),
 * made once, after the load and before the first counters: a walk after each part would read
 * the whole tree through the cache between parts (minutes for a tree of gigabytes, and the
 * next part would start from the walk's pages). "meta" is the inner nodes' pages then, "RAM
 * used" frames + checksum table, disk the tree's pages.
 */
#include "bench_kv.h"
#include "cli.h"

#include "awecache_bt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct side_state {
    awc_bt_t *bt;
    const struct kv_config *cfg;
    awc_bt_cursor_t **cursors; /* [threads]: each worker's, opened at its first scan */
    uint64_t frames;           /* the frame budget it opened with */
    uint64_t checksums;        /* the checksum table counted in the budget */
    struct awc_stats base;     /* the page cache's statistics at the last report */
    uint64_t inner_pages;      /* the walk after the load: inner nodes */
    uint64_t leaf_fill_pct;    /* and how full the leaves were */
};

/* Closes the cursors, then the tree (which flushes), and frees s: awc_bt_close's result. */
static int side_free(struct side_state *s)
{
    int rc = AWC_OK;

    if (s->cursors != NULL) {
        for (unsigned t = 0; t < s->cfg->threads; t++) {
            if (s->cursors[t] != NULL)
                awc_bt_cursor_close(s->cursors[t]);
        }
        free(s->cursors);
    }
    if (s->bt != NULL)
        rc = awc_bt_close(s->bt);
    free(s);
    return rc;
}

/* Steps: 1. the frames: the budget less the checksum table; 2. create the tree's file. */
static int side_open(void **state, const struct kv_config *cfg, char *drop_path, size_t drop_len,
                     char *err, size_t errlen)
{
    struct side_state *s = calloc(1, sizeof(*s));
    struct awc_bt_config bc;
    uint64_t page = cfg->page_size;
    char b1[32], b2[32];
    int rc;

    if (s == NULL || (s->cursors = calloc(cfg->threads, sizeof(*s->cursors))) == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    /* Step 1 */
    s->checksums = kv_awc_checksum_estimate(3 * (cfg->data_bytes + cfg->items->n * 16), page);
    s->frames = cfg->ram_budget > s->checksums ? (cfg->ram_budget - s->checksums) / page * page : 0;
    if (s->frames < 4 * page) {
        snprintf(err, errlen, "the RAM budget %s holds no frames beside the checksum table (%s)",
                 cli_fmt_size(cfg->ram_budget, b1, sizeof(b1)),
                 cli_fmt_size(s->checksums, b2, sizeof(b2)));
        side_free(s);
        return -1;
    }
    /* Step 2 */
    memset(&bc, 0, sizeof(bc));
    bc.path = cfg->path;
    bc.page_size = cfg->page_size;
    bc.frame_budget = s->frames;
    bc.window_budget = cfg->window < s->frames ? cfg->window : s->frames;
    bc.flags = AWC_CREATE | AWC_EXCL | cfg->awc_flags;
    rc = awc_bt_open(&bc, &s->bt);
    if (rc != AWC_OK) {
        s->bt = NULL;
        snprintf(err, errlen, "cannot create %s (frames %s): %s", cfg->path,
                 cli_fmt_size(s->frames, b1, sizeof(b1)), awc_strerror(rc));
        side_free(s);
        return -1;
    }
    snprintf(drop_path, drop_len, "%s", cfg->path);
    *state = s;
    return 0;
}

static int side_put(void *state, unsigned thread, const void *key, size_t key_len,
                    const void *value, size_t value_len, char *err, size_t errlen)
{
    struct side_state *s = state;

    (void)thread;
    return kv_awc_result(awc_bt_put(s->bt, key, key_len, value, value_len), "awc_bt_put", key,
                         key_len, err, errlen);
}

static int side_get(void *state, unsigned thread, const void *key, size_t key_len,
                    struct kv_check *c, char *err, size_t errlen)
{
    struct side_state *s = state;
    struct awc_bt_ref ref;
    int rc = awc_bt_get_ref(s->bt, key, key_len, &ref);

    (void)thread;
    if (rc == AWC_ENOTFOUND)
        return 0;
    if (rc == AWC_OK) {
        kv_check_piece(c, ref.value, ref.value_len);
        rc = awc_bt_release(s->bt, &ref);
    }
    return kv_awc_result(rc, "awc_bt_get_ref", key, key_len, err, errlen) == 0 ? 1 : -1;
}

/* A scan: the thread's cursor at the first key >= key, then next until n items were handed
 * over (each as the cursor's copy of it). */
static long side_scan(void *state, unsigned thread, const void *key, size_t key_len, unsigned n,
                      kv_visit_fn visit, void *ctx, char *err, size_t errlen)
{
    struct side_state *s = state;
    awc_bt_cursor_t *cur = s->cursors[thread];
    long got = 0;
    int rc = AWC_OK;

    if (cur == NULL) {
        rc = awc_bt_cursor_open(s->bt, &s->cursors[thread]);
        cur = s->cursors[thread];
    }
    if (rc == AWC_OK)
        rc = awc_bt_cursor_seek(cur, key, key_len);
    while (rc == AWC_OK && (unsigned long)got < n) {
        const void *k, *v;
        size_t kl, vl;

        rc = awc_bt_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != AWC_OK)
            break;
        got++;
        if (visit(ctx, k, kl, v, vl) != 0)
            break;
        if ((unsigned long)got < n)
            rc = awc_bt_cursor_next(cur);
    }
    if (rc == AWC_ENOTFOUND)
        rc = AWC_OK;
    return kv_awc_result(rc, "awc_bt cursor from", key, key_len, err, errlen) == 0 ? got : -1;
}

static int side_sync(void *state, char *err, size_t errlen)
{
    struct side_state *s = state;

    return kv_awc_result(awc_bt_flush(s->bt), "awc_bt_flush", NULL, 0, err, errlen);
}

/* After the load: the shape (one walk), then the counters start here. */
static int side_start(void *state, char *err, size_t errlen)
{
    struct side_state *s = state;
    struct awc_bt_stats st;
    int rc = awc_bt_get_stats(s->bt, &st);

    if (rc != AWC_OK)
        return kv_awc_result(rc, "awc_bt_get_stats", NULL, 0, err, errlen);
    s->inner_pages = st.pages - st.pages_by_level[0];
    s->leaf_fill_pct = st.leaf_fill_pct;
    rc = awc_bt_get_counters(s->bt, &st);
    if (rc == AWC_OK)
        s->base = st.cache;
    return kv_awc_result(rc, "awc_bt_get_counters", NULL, 0, err, errlen);
}

/* The counters since the last report (file comment), the sizes, the tree's shape. */
static void side_stats(void *state, struct kv_side_stats *out)
{
    struct side_state *s = state;
    struct awc_bt_stats st;
    char b1[32], b2[32];

    if (awc_bt_get_counters(s->bt, &st) != AWC_OK) {
        snprintf(out->note, sizeof(out->note), "the tree's statistics could not be read");
        return;
    }
    out->hits =
        st.cache.window_hits + st.cache.frame_hits - s->base.window_hits - s->base.frame_hits;
    out->misses = st.cache.misses - s->base.misses;
    s->base = st.cache;
    out->meta_bytes = s->inner_pages * s->cfg->page_size;
    out->mem_bytes = s->frames + st.cache.checksum_bytes;
    out->disk_bytes = st.file_pages * s->cfg->page_size;
    snprintf(out->note, sizeof(out->note),
             "frames %s + checksums %s; height %u, leaves %llu%% full after the load; hit ratio "
             "with the warm-up",
             cli_fmt_size(s->frames, b1, sizeof(b1)),
             cli_fmt_size(st.cache.checksum_bytes, b2, sizeof(b2)), (unsigned)st.height,
             (unsigned long long)s->leaf_fill_pct);
}

static int side_close(void *state, struct kv_side_stats *out, char *err, size_t errlen)
{
    if (out != NULL)
        side_stats(state, out);
    return kv_awc_result(side_free(state), "awc_bt_close", NULL, 0, err, errlen);
}

const struct kv_side bt_side_awecache = {
    .name = "awecache",
    .missing = NULL,
    .suffix = ".awc",
    .open = side_open,
    .put = side_put,
    .get = side_get,
    .sync = side_sync,
    .start = side_start,
    .begin = NULL,
    .scan = side_scan,
    .stats = side_stats,
    .close = side_close,
    .destroy = kv_awc_destroy,
};
