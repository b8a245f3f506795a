/*
 * bench/awecache-bench/bench_kv_awecache.c: the awecache side of `awecache-bench --kv`
 * (bench_kv.h): the engine's key-value cache (awc_kv_*, engine/awecache.h).
 *
 * The budget: the RAM budget holds the index and the page cache's checksum table as well as the
 * frames, as RocksDB's block cache holds its index and filter blocks and LMDB's memory cgroup
 * its branch pages:
 *     frames = budget - index - checksum table,
 * the index computed from the item count by the header's rule (16-byte slots, doubling at 3/4
 * full, at least 1,024, plus 24 bytes per region), the checksum table for the whole capacity
 * (it grows with the file; the run may use less of it, never more).
 * The window (address space, not RAM: it maps frames) is --window, else the engine's default
 * (engine/README.md 1.1: the frames up to 64 MiB of them, else a quarter, at most 64 MiB).
 *
 * The capacity: twice the items' bytes with their 48-byte headers, plus 64 MiB, so that the
 * log does not wrap during the load or a run of ordinary length (puts append a new version and
 * leave the old one dead until its region is reclaimed). Should it wrap, the oldest regions'
 * items are evicted: gets then miss ("found" below 100 %) and the note counts the evictions.
 *
 * A get takes a reference (awc_kv_get_ref: the value's bytes in place, in one piece per page it
 * touches), checks the pieces and releases it; where the window cannot pin the value
 * (AWC_E2BIG, AWC_EBUSY) it copies it with awc_kv_get instead.
 *
 * Counters of the measured part: "RAM hit" is the page cache's pins served without a file read
 * ((window hits + frame hits) / all pins, gets' and puts' pins both), from the difference of the
 * statistics between begin and close; "meta" is the index (index_bytes at close); "RAM used" is
 * frames + index + checksum table.
 */
#include "bench_kv.h"
#include "cli.h"

#include "awecache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024ull * 1024ull)

struct side_state {
    awc_kv_t *kv;
    const struct kv_config *cfg;
    uint8_t **bufs;           /* [threads + 1]: a value's copy when it cannot be pinned */
    uint8_t **batch_bufs;     /* [threads + 1]: KV_BATCH_MAX values' room, made at first use */
    uint64_t frames;          /* the frame budget it opened with */
    struct awc_kv_stats base; /* statistics at begin */
    char why_smaller[96];     /* a note on the window, if it had to shrink */
};

/* The index's bytes for n items by the header's rule. */
static uint64_t index_estimate(uint64_t n)
{
    uint64_t slots = 1024;

    while (n > slots / 8 * 7)
        slots *= 2;
    return slots * 10 + 64 * 24;
}

/* The page cache's checksum table once the log has filled a file of `capacity` bytes: the
 * engine keeps 17 bytes per page of the file (a record of two XXH3 sums and a flag, awc_stats'
 * checksum_bytes), in segments of 256 pages. */
uint64_t kv_awc_checksum_estimate(uint64_t capacity, uint64_t page)
{
    uint64_t pages = capacity / page + capacity / page / 200 + 256; /* the file is ~0.4 % more */

    return (pages + 255) / 256 * 256 * 17;
}

uint64_t kv_awc_capacity(uint64_t data_bytes, uint64_t items, uint64_t page)
{
    uint64_t capacity = 2 * (data_bytes + items * 48) + 64 * MIB;

    capacity = (capacity + page - 1) / page * page;
    return capacity < 64 * page ? 64 * page : capacity;
}

static void side_free(struct side_state *s)
{
    if (s->bufs != NULL) {
        for (unsigned t = 0; t <= s->cfg->threads; t++)
            free(s->bufs[t]);
        free(s->bufs);
    }
    if (s->batch_bufs != NULL) {
        for (unsigned t = 0; t <= s->cfg->threads; t++)
            free(s->batch_bufs[t]);
        free(s->batch_bufs);
    }
    free(s);
}

/* Steps: 1. the capacity; 2. the frames: the budget less the index and the checksum table (for
 * the whole capacity); 3. create the file (a window larger than the frames shrinks to them). */
static int side_open(void **state, const struct kv_config *cfg, char *drop_path, size_t drop_len,
                     char *err, size_t errlen)
{
    struct side_state *s = calloc(1, sizeof(*s));
    struct awc_kv_config kc;
    uint64_t index, checksums, page = cfg->page_size, frames;
    char b1[32], b2[32], b3[32];
    int rc;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->bufs = calloc((size_t)cfg->threads + 1, sizeof(*s->bufs));
    s->batch_bufs = calloc((size_t)cfg->threads + 1, sizeof(*s->batch_bufs));
    for (unsigned t = 0; s->bufs != NULL && t <= cfg->threads; t++) {
        if ((s->bufs[t] = malloc(cfg->items->value_max)) == NULL)
            break;
    }
    if (s->bufs == NULL || s->bufs[cfg->threads] == NULL || s->batch_bufs == NULL) {
        snprintf(err, errlen, "out of memory");
        side_free(s);
        return -1;
    }
    /* Step 1 */
    memset(&kc, 0, sizeof(kc));
    kc.path = cfg->path;
    kc.page_size = cfg->page_size;
    kc.capacity = kv_awc_capacity(cfg->data_bytes, cfg->items->n, page);
    /* Step 2 */
    index = index_estimate(cfg->items->n);
    checksums = kv_awc_checksum_estimate(kc.capacity, page);
    frames = cfg->ram_budget > index + checksums
                 ? (cfg->ram_budget - index - checksums) / page * page
                 : 0;
    if (frames < 4 * page) {
        snprintf(err, errlen,
                 "the RAM budget %s holds no frames beside the index (%s for %llu items) and "
                 "the checksum table (%s)",
                 cli_fmt_size(cfg->ram_budget, b1, sizeof(b1)), cli_fmt_size(index, b2, sizeof(b2)),
                 (unsigned long long)cfg->items->n, cli_fmt_size(checksums, b3, sizeof(b3)));
        side_free(s);
        return -1;
    }
    /* Step 3 */
    kc.frame_budget = frames;
    kc.window_budget = cfg->window;
    if (kc.window_budget > frames) {
        kc.window_budget = frames;
        snprintf(s->why_smaller, sizeof(s->why_smaller), "; window cut to the frames");
    }
    kc.flags = AWC_CREATE | AWC_EXCL | cfg->awc_flags;
    rc = awc_kv_open(&kc, &s->kv);
    if (rc != AWC_OK) {
        snprintf(err, errlen, "cannot create %s (capacity %s, frames %s): %s", cfg->path,
                 cli_fmt_size(kc.capacity, b1, sizeof(b1)), cli_fmt_size(frames, b2, sizeof(b2)),
                 awc_strerror(rc));
        side_free(s);
        return -1;
    }
    s->frames = frames;
    snprintf(drop_path, drop_len, "%s", cfg->path);
    *state = s;
    return 0;
}

int kv_awc_result(int rc, const char *call, const void *key, size_t key_len, char *err,
                  size_t errlen)
{
    if (rc == AWC_OK)
        return 0;
    if (key != NULL)
        snprintf(err, errlen, "%s %.*s: %s", call, (int)key_len, (const char *)key,
                 awc_strerror(rc));
    else
        snprintf(err, errlen, "%s: %s", call, awc_strerror(rc));
    return -1;
}

static int side_put(void *state, unsigned thread, const void *key, size_t key_len,
                    const void *value, size_t value_len, char *err, size_t errlen)
{
    struct side_state *s = state;

    (void)thread;
    return kv_awc_result(awc_kv_put(s->kv, key, key_len, value, value_len, s->cfg->ttl_ms),
                         "awc_kv_put", key, key_len, err, errlen);
}

static int side_get(void *state, unsigned thread, const void *key, size_t key_len,
                    struct kv_check *c, char *err, size_t errlen)
{
    struct side_state *s = state;
    struct awc_kv_ref ref;
    size_t len = 0;
    int rc = awc_kv_get_ref(s->kv, key, key_len, &ref);

    if (rc == AWC_OK) {
        for (size_t i = 0; i < ref.nfrags; i++)
            kv_check_piece(c, ref.frags[i].data, ref.frags[i].len);
        rc = awc_kv_release(s->kv, &ref);
        return kv_awc_result(rc, "awc_kv_release", key, key_len, err, errlen) == 0 ? 1 : -1;
    }
    if (rc == AWC_ENOTFOUND)
        return 0;
    if (rc == AWC_E2BIG || rc == AWC_EBUSY) {
        rc = awc_kv_get(s->kv, key, key_len, s->bufs[thread], s->cfg->items->value_max, &len);
        if (rc == AWC_OK) {
            kv_check_piece(c, s->bufs[thread], len);
            return 1;
        }
        if (rc == AWC_ENOTFOUND)
            return 0;
    }
    return kv_awc_result(rc, "awc_kv_get", key, key_len, err, errlen);
}

/* awc_kv_get_batch into the thread's batch buffers (one value's room each). */
static int side_get_batch(void *state, unsigned thread, size_t n, const char *const *keys,
                          size_t key_len, struct kv_check *c, int *found, char *err, size_t errlen)
{
    struct side_state *s = state;
    size_t vmax = s->cfg->items->value_max, klens[KV_BATCH_MAX], caps[KV_BATCH_MAX];
    size_t lens[KV_BATCH_MAX];
    void *bufs[KV_BATCH_MAX];
    int results[KV_BATCH_MAX], rc;

    if (s->batch_bufs[thread] == NULL &&
        (s->batch_bufs[thread] = malloc(KV_BATCH_MAX * vmax)) == NULL) {
        snprintf(err, errlen, "out of memory for %u values", KV_BATCH_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        klens[i] = key_len;
        caps[i] = vmax;
        bufs[i] = s->batch_bufs[thread] + i * vmax;
    }
    rc = awc_kv_get_batch(s->kv, n, (const void *const *)keys, klens, bufs, caps, lens, results);
    if (rc != AWC_OK) {
        snprintf(err, errlen, "awc_kv_get_batch of %zu keys: %s", n, awc_strerror(rc));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        found[i] = results[i] == AWC_OK;
        if (found[i])
            kv_check_piece(&c[i], bufs[i], lens[i]);
        else if (results[i] != AWC_ENOTFOUND) {
            snprintf(err, errlen, "awc_kv_get_batch %.*s: %s", (int)key_len, keys[i],
                     awc_strerror(results[i]));
            return -1;
        }
    }
    return 0;
}

static int side_sync(void *state, char *err, size_t errlen)
{
    struct side_state *s = state;

    return kv_awc_result(awc_kv_flush(s->kv), "awc_kv_flush", NULL, 0, err, errlen);
}

static void side_begin(void *state)
{
    struct side_state *s = state;

    if (awc_kv_get_stats(s->kv, &s->base) != AWC_OK)
        memset(&s->base, 0, sizeof(s->base));
}

/* Steps: 1. the statistics (before the close's flush, so that they cover the run); 2. close
 * (which flushes). */
static int side_close(void *state, struct kv_side_stats *out, char *err, size_t errlen)
{
    struct side_state *s = state;
    struct awc_kv_stats st;
    char b1[32], b2[32], b3[32];
    int rc;

    /* Step 1 */
    rc = awc_kv_get_stats(s->kv, &st);
    if (rc == AWC_OK && out != NULL) {
        const struct awc_stats *a = &st.cache, *b = &s->base.cache;
        uint64_t evicted = st.evictions - s->base.evictions;

        out->hits = (a->window_hits - b->window_hits) + (a->frame_hits - b->frame_hits);
        out->misses = a->misses - b->misses;
        out->meta_bytes = st.index_bytes;
        out->mem_bytes = s->frames + st.index_bytes + st.cache.checksum_bytes;
        out->disk_bytes = st.log_used;
        snprintf(out->note, sizeof(out->note), "frames %s + index %s + checksums %s%s%s",
                 cli_fmt_size(s->frames, b1, sizeof(b1)),
                 cli_fmt_size(st.index_bytes, b2, sizeof(b2)),
                 cli_fmt_size(st.cache.checksum_bytes, b3, sizeof(b3)), s->why_smaller,
                 st.cache.direct_io ? "" : "; buffered I/O");
        if (evicted != 0) {
            size_t len = strlen(out->note);

            snprintf(out->note + len, sizeof(out->note) - len, "; %llu items evicted",
                     (unsigned long long)evicted);
        }
    }
    /* Step 2 */
    if (rc == AWC_OK)
        rc = awc_kv_close(s->kv);
    else
        awc_kv_close(s->kv);
    side_free(s);
    return kv_awc_result(rc, "awc_kv_close", NULL, 0, err, errlen);
}

void kv_awc_destroy(const char *path)
{
    remove(path);
}

const struct kv_side kv_side_awecache = {
    .name = "awecache",
    .missing = NULL,
    .suffix = ".awc",
    .open = side_open,
    .put = side_put,
    .get = side_get,
    .get_batch = side_get_batch,
    .sync = side_sync,
    .start = NULL,
    .begin = side_begin,
    .close = side_close,
    .destroy = kv_awc_destroy,
};
