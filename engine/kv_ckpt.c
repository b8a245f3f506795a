/*
 * engine/kv_ckpt.c: checkpoints of the key-value cache's index (README 9.7): taken at durable
 * points into one of two areas past the log, loaded by an open instead of scanning the log.
 *
 * A checkpoint is one byte stream over its area's pages (kv.h draws where they are):
 *
 *   0 magic u64 "AKVCKPT1" | 8 version u32 | 12 page_size u32 | 16 file_id u64 | 24 seq u64
 *   32 tail u64 | 40 head u64 | 48 gen u64 | 56 capacity u64 | 64 region_pages u64
 *   72 nregions u64 | 80 slots u64 | 88 items u64 | 96 hash u64 (AWC_KV_WEAK_HASH or 0: the
 *   index's hashes are of this kind) | 104 .. 128 zero
 *   128: nregions entries {bytes u64, first u64}   (README 9.3's region counters)
 *   then items entries {hash u64, pos u64}          (the index's slots, in table order: each
 *                                                    hash is its slot's tag | bit 63)
 *
 * Every entry is 16 bytes and a page a multiple of 16, so none straddles two pages. The meta page
 * names the checkpoint with its digest: XXH3 of the stream, seeded with the file's id and the
 * checkpoint version (kv_ck_seed), so that a checkpoint of another file, of another version or an
 * older one in the same area fails it.
 */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define CK_MAGIC   UINT64_C(0x3154504b43564b41) /* "AKVCKPT1" */
#define CK_VERSION 2u /* 2: hashes are the index's 40-bit tags (README 9.7.7) */

int kv_ck_fuzz_skip_digest;

/* The digest's seed: the file's id and the checkpoint version (README 9.7.2). */
static uint64_t kv_ck_seed(uint64_t file_id)
{
    return XXH3_64bits_withSeed(&file_id, sizeof(file_id), CK_VERSION);
}

uint64_t kv_ck_bytes(const struct awc_kv *kv, uint64_t items)
{
    return KV_CK_HDR + (kv->nregions + items) * KV_CK_ENTRY;
}

uint64_t kv_ck_area_max(const struct awc_kv *kv)
{
    /* Items in the log: at most one per smallest record (a 1-byte key, no value). */
    return kv_ck_bytes(kv, kv->cap / kv_rec_len(1, 0) + 1);
}

uint64_t kv_ck_page(const struct awc_kv *kv, unsigned area, uint64_t i)
{
    return KV_META_PAGES + kv->log_pages + (2 * (i / KV_CK_CHUNK) + area) * KV_CK_CHUNK +
           i % KV_CK_CHUNK;
}

bool kv_ck_due(struct awc_kv *kv, bool closing)
{
    uint64_t head = kv->head, tail = atomic_load(&kv->tail), items, changes, from;

    plat_mutex_lock(&kv->imu);
    items = kv->items;
    changes = kv->changes;
    plat_mutex_unlock(&kv->imu);
    if (closing)
        return kv->ck.seq == 0 || kv->ck.head != head || kv->ck.tail != tail ||
               kv->ck.changes != changes;
    /* What a reopen after a crash would scan: from the checkpoint, or from the tail. */
    from = kv->ck.seq != 0 && kv->ck.head >= tail ? kv->ck.head : tail;
    return head > from && head - from >= KV_CK_FACTOR * kv_ck_bytes(kv, items);
}

/* Copies the header, the region counters and the index into b (kv_ck_bytes(kv, items) bytes or
 * more); returns the stream's length. Caller holds imu. */
static uint64_t snapshot(struct awc_kv *kv, uint64_t seq, uint8_t *b)
{
    const struct kv_index *x = &kv->idx;
    uint8_t *e = b + KV_CK_HDR;

    plat_mutex_assert_held(&kv->imu);
    memset(b, 0, KV_CK_HDR);
    kv_put64(b, CK_MAGIC);
    kv_put64(b + 8, CK_VERSION | (uint64_t)kv->ps << 32);
    kv_put64(b + 16, kv->file_id);
    kv_put64(b + 24, seq);
    kv_put64(b + 32, atomic_load(&kv->tail));
    kv_put64(b + 40, kv->head);
    kv_put64(b + 48, kv->gen);
    kv_put64(b + 56, kv->cap);
    kv_put64(b + 64, kv->region_pages);
    kv_put64(b + 72, kv->nregions);
    kv_put64(b + 80, x->mask + 1);
    kv_put64(b + 88, x->used);
    kv_put64(b + 96, kv->flags & AWC_KV_WEAK_HASH);
    for (uint64_t r = 0; r < kv->nregions; r++, e += KV_CK_ENTRY) {
        kv_put64(e, kv->regions[r].bytes);
        kv_put64(e + 8, kv->regions[r].first);
    }
    for (uint64_t i = 0, left = x->used, hash, pos; i <= x->mask && left > 0; i++) {
        if (!kv_index_slot(x, i, &hash, &pos))
            continue;
        kv_put64(e, hash);
        kv_put64(e + 8, pos);
        e += KV_CK_ENTRY;
        left--;
    }
    return (uint64_t)(e - b);
}

/* Steps of taking a checkpoint (README 9.7.3):
 * 1. Copy the index and the region counters out under imu (the writer, holding wmu, is the only
 *    one that adds to them; readers may only drop items meanwhile).
 * 2. Its digest.
 * 3. Write the stream into area (seq + 1) % 2, the one the newest meta page does not name, page
 *    by page (AWC_OVERWRITE: nothing of the area's earlier contents is kept), writing back the
 *    dirty pages every wb_every bytes as the log does (9.3 step 5), but in this thread
 *    (awc_writeback): the durable point that takes the checkpoint flushes it at once anyway.
 * The caller makes it durable and names it in the meta page. */
int kv_ck_write(struct awc_kv *kv, struct kv_ck *ck)
{
    uint64_t n, len, seq = kv->ck.seq + 1, since_wb = 0;
    unsigned area = (unsigned)(seq % 2);
    uint8_t *buf;
    int rc = AWC_OK;

    kv_assert_wmu_held_or_opening(kv);
    /* Step 1 */
    plat_mutex_lock(&kv->imu);
    n = kv->idx.used;
    plat_mutex_unlock(&kv->imu);
    len = kv_ck_bytes(kv, n);
    if (len > kv_ck_area_max(kv) || len > SIZE_MAX)
        return AWC_ENOMEM;
    buf = malloc((size_t)len);
    if (buf == NULL)
        return AWC_ENOMEM;
    plat_mutex_lock(&kv->imu);
    len = snapshot(kv, seq, buf); /* (no more items than n: only the caller adds) */
    ck->changes = kv->changes;
    plat_mutex_unlock(&kv->imu);
    /* Step 2 */
    ck->seq = seq;
    ck->tail = kv_get64(buf + 32);
    ck->head = kv_get64(buf + 40);
    ck->bytes = len;
    ck->sum = XXH3_64bits_withSeed(buf, (size_t)len, kv_ck_seed(kv->file_id));
    /* Step 3 */
    for (uint64_t i = 0, done = 0; done < len && rc == AWC_OK; i++) {
        uint64_t page = kv_ck_page(kv, area, i), piece = len - done < kv->ps ? len - done : kv->ps;
        void *p;

        rc = awc_pin(kv->cache, page, AWC_OVERWRITE, &p);
        if (rc != AWC_OK)
            break;
        memcpy(p, buf + done, (size_t)piece);
        memset((uint8_t *)p + piece, 0, kv->ps - (size_t)piece);
        rc = awc_unpin(kv->cache, page, 1);
        done += piece;
        since_wb += kv->ps;
        if (since_wb >= kv->wb_every) {
            (void)awc_writeback(kv->cache); /* a failure leaves them dirty for the flush */
            since_wb = 0;
        }
    }
    free(buf);
    return rc;
}

/* The header's checks against the meta page that names the checkpoint and the open cache's
 * geometry (README 9.7.4 step 2). */
static bool header_fits(const struct awc_kv *kv, const struct kv_meta *m, const uint8_t *b,
                        uint64_t *slots, uint64_t *items, uint64_t *gen)
{
    *slots = kv_get64(b + 80);
    *items = kv_get64(b + 88);
    *gen = kv_get64(b + 48);
    return kv_get64(b) == CK_MAGIC && kv_get64(b + 8) == (CK_VERSION | (uint64_t)kv->ps << 32) &&
           kv_get64(b + 16) == m->file_id && kv_get64(b + 24) == m->ck.seq &&
           kv_get64(b + 32) == m->ck.tail && kv_get64(b + 40) == m->ck.head && *gen <= m->gen &&
           kv_get64(b + 56) == kv->cap && kv_get64(b + 64) == kv->region_pages &&
           kv_get64(b + 72) == kv->nregions && kv_get64(b + 96) == (kv->flags & AWC_KV_WEAK_HASH) &&
           *slots >= KV_INDEX_MIN && (*slots & (*slots - 1)) == 0 && *items <= *slots / 8 * 7 &&
           m->ck.bytes == kv_ck_bytes(kv, *items);
}

/* Loading the stream: where it is, what it has read. */
struct ck_load {
    uint64_t at;     /* the stream's bytes consumed */
    uint64_t region; /* the next region entry */
    uint64_t tail, head;
    unsigned shift;    /* log2 of the page size */
    uint64_t lap_page; /* the first page of the tail's lap (logical page number) */
};

/* kv_region_of for a position in [ld->tail, ld->tail + cap): one 32-bit division, not three
 * 64-bit ones (it runs once per item). */
static uint64_t load_region_of(const struct awc_kv *kv, const struct ck_load *ld, uint64_t pos)
{
    uint64_t phys = (pos >> ld->shift) - ld->lap_page;

    if (phys >= kv->log_pages)
        phys -= kv->log_pages;
    return (uint32_t)phys / (uint32_t)kv->region_pages;
}

/* Takes one 16-byte entry at stream offset ld->at (past the header): a region's counters, then
 * an item's slot. False when it cannot be one this code wrote. */
static bool take_entry(struct awc_kv *kv, struct ck_load *ld, const uint8_t *e)
{
    uint64_t a = kv_get64(e), b = kv_get64(e + 8);

    if (ld->region < kv->nregions) {
        struct kv_region *g = &kv->regions[ld->region++];

        if (b != UINT64_MAX && (b > ld->head || b % KV_ALIGN != 0))
            return false;
        g->bytes = a;
        g->first = b;
        return true;
    }
    /* An item: a hash with its top bit, a record's start in the checkpoint's log. */
    if ((a & KV_HASH_SET) == 0 || b < ld->tail || b >= ld->head || b % KV_ALIGN != 0 ||
        kv->ps - (b & (kv->ps - 1)) < KV_HDR || !kv_index_load(&kv->idx, a, b))
        return false;
    assert(load_region_of(kv, ld, b) == kv_region_of(kv, b));
    kv->regions[load_region_of(kv, ld, b)].items++;
    return true;
}

/* Empties the index and the region counters (a checkpoint that could not be used). */
static void load_undo(struct awc_kv *kv)
{
    struct kv_index *x = &kv->idx;

    if (kv_index_make(x, KV_INDEX_MIN) != AWC_OK) { /* no memory: the table as it is, emptied */
        memset(x->t, 0, (size_t)(x->mask + 1) * KV_SLOT_BYTES);
        x->used = 0;
    }
    for (uint64_t r = 0; r < kv->nregions; r++) {
        kv->regions[r].items = 0;
        kv->regions[r].bytes = 0;
        kv->regions[r].first = UINT64_MAX;
    }
    kv->items = 0;
    kv->bytes = 0;
}

/* The region counters' sums; false when a region's bytes cannot belong to its items (each item
 * holds 1 to AWC_KV_MAX_KEY + AWC_KV_MAX_VALUE bytes of key and value). */
static bool sum_regions(struct awc_kv *kv)
{
    kv->items = 0;
    kv->bytes = 0;
    for (uint64_t r = 0; r < kv->nregions; r++) {
        const struct kv_region *g = &kv->regions[r];

        if (g->bytes < g->items ||
            g->bytes / ((uint64_t)AWC_KV_MAX_KEY + AWC_KV_MAX_VALUE) > g->items)
            return false;
        kv->items += g->items;
        kv->bytes += g->bytes;
    }
    return kv->items == kv->idx.used;
}

/* Steps of loading (README 9.7.4):
 * 1. The meta page must name a checkpoint that can still describe its log: of this file (an id),
 *    taken at or before its durable head, no older than its tail, no longer than an area.
 * 2. The header (on the area's first page) must match the meta page and the cache's geometry.
 * 3. A table of the checkpoint's size; each entry checked and added (take_entry), the pages read
 *    ahead a chunk at a time, the digest computed on the way.
 * 4. The digest must be the one the meta page names; the region counters must fit their items.
 * Any failure: an empty index again, and false (the caller scans the whole log). */
bool kv_ck_load(struct awc_kv *kv, const struct kv_meta *m, uint64_t *ck_gen)
{
    unsigned area = (unsigned)(m->ck.seq % 2);
    struct ck_load ld = {0, 0, m->ck.tail, m->ck.head, 0, 0};
    uint64_t slots, items, pages;
    XXH3_state_t st;
    bool ok = true;

    /* Step 1 */
    if (m->ck.seq == 0 || m->file_id == 0 || m->ck.tail > m->ck.head || m->ck.head > m->head ||
        m->ck.tail > m->tail || m->ck.head < m->tail || m->ck.bytes < kv_ck_bytes(kv, 0) ||
        m->ck.bytes > kv_ck_area_max(kv))
        return false;
    pages = (m->ck.bytes + kv->ps - 1) / kv->ps;
    while (((size_t)1 << ld.shift) < kv->ps)
        ld.shift++;
    ld.lap_page = (m->ck.tail >> ld.shift) / kv->log_pages * kv->log_pages;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset_withSeed(&st, kv_ck_seed(m->file_id));
    for (uint64_t i = 0; i < pages && ok; i++) {
        uint64_t page = kv_ck_page(kv, area, i), piece;
        const uint8_t *p;
        void *v;

        if (i % KV_CK_CHUNK == 0)
            (void)awc_prefetch(kv->cache, page, pages - i < KV_CK_CHUNK ? pages - i : KV_CK_CHUNK);
        if (awc_pin(kv->cache, page, AWC_SHARED, &v) != AWC_OK) {
            ok = false; /* damaged, cut off, unreadable */
            break;
        }
        p = v;
        piece = m->ck.bytes - ld.at < kv->ps ? m->ck.bytes - ld.at : kv->ps;
        XXH3_64bits_update(&st, p, (size_t)piece);
        if (i == 0) {
            /* Step 2 */
            ok = header_fits(kv, m, p, &slots, &items, ck_gen) &&
                 kv_index_make(&kv->idx, slots) == AWC_OK;
            ld.at = KV_CK_HDR;
            p += KV_CK_HDR;
            piece -= KV_CK_HDR;
        }
        /* Step 3 */
        for (uint64_t off = 0; ok && off < piece; off += KV_CK_ENTRY)
            ok = take_entry(kv, &ld, p + off);
        ld.at += piece;
        (void)awc_unpin(kv->cache, page, 0);
    }
    /* Step 4 */
    ok = ok && (kv_ck_fuzz_skip_digest || XXH3_64bits_digest(&st) == m->ck.sum) && sum_regions(kv);
    if (!ok)
        load_undo(kv);
    return ok;
}
