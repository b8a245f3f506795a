/*
 * engine/kv.c: the key-value cache's API (awecache.h, "The key-value cache"): open with the scan
 * of the log, put, get, references, delete, flush, close, stats. README section 9 is the design;
 * its step numbers are quoted in the functions below.
 */
#include "kv.h"

#include <assert.h>
#include <stdio.h> /* remove(): a file this open created and could not finish */
#include <stdlib.h>
#include <string.h>

#define KV_MIN_PAGES 64u
#define KV_REGIONS   64u
#define KV_REF_MAGIC UINT64_C(0x4645524b56434157) /* "AWCVKREF" */

/* References this thread holds, per cache: a thread holding references into a cache may not
 * write to it (README 9.4). Caches past the table's few entries are counted together, and then
 * every cache counts as held. */
#define TLS_CACHES 8
static _Thread_local struct {
    const struct awc_kv *kv;
    uint64_t n;
} tls_refs[TLS_CACHES];
static _Thread_local uint64_t tls_overflow;

/* This thread, as a reference records it: the address of its own table (8-byte aligned, so bit
 * 0 is free for tls_take's overflow flag). */
static uint64_t tls_owner(void)
{
    return (uint64_t)(uintptr_t)tls_refs;
}

/* AWC_EDEADLK when this thread holds references into kv. */
static int check_no_refs(const struct awc_kv *kv)
{
    if (tls_overflow > 0)
        return AWC_EDEADLK;
    for (int i = 0; i < TLS_CACHES; i++)
        if (tls_refs[i].kv == kv && tls_refs[i].n > 0)
            return AWC_EDEADLK;
    return AWC_OK;
}

/* Counts a reference into kv for this thread; returns 1 when it went to the overflow count. */
static uint64_t tls_take(const struct awc_kv *kv)
{
    int free_at = -1;

    for (int i = 0; i < TLS_CACHES; i++) {
        if (tls_refs[i].kv == kv && tls_refs[i].n > 0) {
            tls_refs[i].n++;
            return 0;
        }
        if (tls_refs[i].n == 0 && free_at < 0)
            free_at = i;
    }
    if (free_at < 0) {
        tls_overflow++;
        return 1;
    }
    tls_refs[free_at].kv = kv;
    tls_refs[free_at].n = 1;
    return 0;
}

static void tls_give(const struct awc_kv *kv, uint64_t overflow)
{
    if (overflow) {
        if (tls_overflow > 0)
            tls_overflow--;
        return;
    }
    for (int i = 0; i < TLS_CACHES; i++)
        if (tls_refs[i].kv == kv && tls_refs[i].n > 0) {
            tls_refs[i].n--;
            return;
        }
}

static struct awc_kv *_Atomic closed_kvs;

static int check_kv(const struct awc_kv *kv)
{
    if (kv == NULL)
        return AWC_EINVAL;
    return kv->magic == KV_MAGIC ? AWC_OK : AWC_ECLOSED;
}

static int check_key(const void *key, size_t key_len)
{
    if (key == NULL || key_len == 0)
        return AWC_EINVAL;
    return key_len > AWC_KV_MAX_KEY ? AWC_E2BIG : AWC_OK;
}

/* The checks every call with a key starts with: the handle, then the key. */
static int check_call(const struct awc_kv *kv, const void *key, size_t key_len)
{
    int rc = check_kv(kv);

    return rc != AWC_OK ? rc : check_key(key, key_len);
}

static uint64_t now_ms(const struct awc_kv *kv)
{
    return kv->clock_ms != NULL ? kv->clock_ms(kv->clock_arg) : plat_realtime_ms();
}

static bool expired(const struct kv_hdr *h, uint64_t now)
{
    return h->expiry_ms != 0 && h->expiry_ms <= now;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t load_tail(const struct awc_kv *kv)
{
    return atomic_load_explicit(&kv->tail, memory_order_acquire);
}

/* ---- Region accounting (under imu) ------------------------------------------------------- */

static void account_add(struct awc_kv *kv, uint64_t pos, uint64_t bytes)
{
    struct kv_region *r = &kv->regions[kv_region_of(kv, pos)];

    r->items++;
    r->bytes += bytes;
    kv->items++;
    kv->bytes += bytes;
    kv->changes++;
}

static void account_drop(struct awc_kv *kv, uint64_t pos, uint64_t bytes)
{
    struct kv_region *r = &kv->regions[kv_region_of(kv, pos)];

    r->items--;
    r->bytes -= bytes;
    kv->items--;
    kv->bytes -= bytes;
    kv->changes++;
}

/* ---- Lookup ------------------------------------------------------------------------------ */

/* A found item: where its record is and its header. */
struct found {
    uint64_t pos;
    struct kv_hdr h;
};

/* Checks the candidate record at pos against the key: AWC_OK and *f when it is the key's item,
 * AWC_ENOTFOUND when it is another key's (or not an item), AWC_ECHECKSUM when the bytes at pos
 * are not the header of a record at pos (damaged, unless the tail has passed pos meanwhile: the
 * caller looks again) or a page read back damaged. When
 * `keep` is not NULL and the record's header and key lie in one page, that page stays pinned
 * (shared) and *keep points at the record's first byte: the caller unpins kv_page_of(pos). */
static int check_candidate(struct awc_kv *kv, uint64_t pos, const void *key, size_t key_len,
                           struct found *f, const uint8_t **keep)
{
    size_t off = (size_t)(pos % kv->ps);
    bool equal;
    int rc;

    plat_mutex_assert_not_held(&kv->imu); /* README 9.6 rule 1: imu is never held across a pin */
    if (kv->ps - off >= KV_HDR + key_len) {
        /* Header and key in one page: one pin. */
        uint64_t page = kv_page_of(kv, pos);
        const uint8_t *rec;
        void *p;

        rc = awc_pin(kv->cache, page, AWC_SHARED, &p);
        if (rc != AWC_OK)
            return rc;
        rec = (const uint8_t *)p + off;
        if (!kv_hdr_decode(rec, &f->h) || f->h.pos != pos) {
            awc_unpin(kv->cache, page, 0);
            return AWC_ECHECKSUM;
        }
        if (f->h.magic != KV_REC_ITEM || f->h.key_len != key_len ||
            memcmp(rec + KV_HDR, key, key_len) != 0) {
            awc_unpin(kv->cache, page, 0);
            return AWC_ENOTFOUND;
        }
        f->pos = pos;
        if (keep != NULL) {
            *keep = rec;
            return AWC_OK;
        }
        awc_unpin(kv->cache, page, 0);
        return AWC_OK;
    }
    rc = kv_read_hdr(kv, pos, &f->h);
    if (rc != AWC_OK)
        return rc == AWC_ENOTFOUND ? AWC_ECHECKSUM : rc;
    if (f->h.magic != KV_REC_ITEM)
        return AWC_ENOTFOUND;
    rc = kv_key_equal(kv, pos, &f->h, key, key_len, &equal);
    if (rc != AWC_OK)
        return rc;
    f->pos = pos;
    return equal ? AWC_OK : AWC_ENOTFOUND;
}

/* Drops the item at pos from the index (if it is still there): an expired item, or one whose
 * value failed its checksum (`bytes`: its key's and value's), or one whose header or key is on a
 * damaged page (its size unknown: `bytes` 0, and the bytes counter keeps it until its region is
 * reclaimed). */
static void drop_item(struct awc_kv *kv, uint64_t hash, uint64_t pos, uint64_t bytes)
{
    plat_mutex_lock(&kv->imu);
    if (pos >= load_tail(kv) && kv_index_remove(&kv->idx, hash, pos))
        account_drop(kv, pos, bytes);
    plat_mutex_unlock(&kv->imu);
}

/* Finds the key's live record (README 9.4): the index's candidates with the key's hash, each
 * checked on its page (check_candidate; `keep` as there). AWC_ENOTFOUND when none matches;
 * AWC_ECHECKSUM when none matches and a candidate was on a damaged page (it is dropped).
 * Takes imu for each batch of candidates only. */
static int lookup(struct awc_kv *kv, uint64_t hash, const void *key, size_t key_len,
                  struct found *f, const uint8_t **keep)
{
    uint64_t cursor = 0, cand[KV_CANDIDATES];
    bool damaged = false;

    if (keep != NULL)
        *keep = NULL;
    while (cursor != UINT64_MAX) {
        size_t n;

        plat_mutex_lock(&kv->imu);
        n = kv_index_find(&kv->idx, hash, &cursor, cand, KV_CANDIDATES);
        plat_mutex_unlock(&kv->imu);
        for (size_t i = 0; i < n; i++) {
            int rc;

            if (cand[i] < load_tail(kv))
                continue; /* reclaimed meanwhile */
            rc = check_candidate(kv, cand[i], key, key_len, f, keep);
            if (rc == AWC_ECHECKSUM && cand[i] < load_tail(kv))
                continue; /* reclaimed and rewritten under the read */
            if (rc == AWC_ECHECKSUM) {
                /* No record's header at its place, or its header or key on a damaged page:
                 * whichever key it was, it is gone (an index entry no get could ever use would
                 * otherwise stay counted until its region is reclaimed). */
                drop_item(kv, hash, cand[i], 0);
                damaged = true;
                continue;
            }
            if (rc != AWC_ENOTFOUND)
                return rc;
        }
    }
    return damaged ? AWC_ECHECKSUM : AWC_ENOTFOUND;
}

/* ---- The writer (README 9.3, 9.6) -------------------------------------------------------- */

/* Takes the writer lock, never under the index lock (README 9.6 rule 1: wmu before imu). */
static void wmu_lock(struct awc_kv *kv)
{
    plat_mutex_assert_not_held(&kv->imu);
    plat_mutex_lock(&kv->wmu);
}

/* Steps of a durable point (README 9.5, 9.7.3):
 * 1. awc_flush: every record so far reaches the disk.
 * 2. When a checkpoint is due (kv_ck_due; at close, unless the newest still describes the log),
 *    write one into the area the newest meta page does not name and flush it. Without memory
 *    for it, the durable point goes on without one; any other failure is the durable point's
 *    (the meta page is not written: the one on disk names the older checkpoint, untouched).
 * 3. The next meta page with the tail, the head, this open's generation and the checkpoint,
 *    then awc_flush again.
 * Caller holds wmu or is opening. */
static int durable_point(struct awc_kv *kv, bool closing)
{
    struct kv_meta m;
    struct kv_ck ck = kv->ck;
    int rc;

    kv_assert_wmu_held_or_opening(kv);
    /* Step 1 */
    rc = awc_flush(kv->cache);
    if (rc != AWC_OK)
        return rc;
    /* Step 2 */
    if (kv_ck_due(kv, closing)) {
        rc = kv_ck_write(kv, &ck);
        if (rc == AWC_OK)
            rc = awc_flush(kv->cache);
        if (rc == AWC_ENOMEM)
            ck = kv->ck;
        else if (rc != AWC_OK)
            return rc;
    }
    /* Step 3 */
    m.page_size = (uint32_t)kv->ps;
    m.capacity = kv->cap;
    m.region_pages = kv->region_pages;
    m.seq = kv->meta_seq + 1;
    m.tail = load_tail(kv);
    m.head = kv->head;
    m.gen = kv->gen;
    m.file_id = kv->file_id;
    m.ck = ck;
    rc = kv_meta_write(kv, &m);
    if (rc == AWC_OK)
        rc = awc_flush(kv->cache);
    if (rc != AWC_OK)
        return rc;
    kv->meta_seq = m.seq;
    kv->durable_tail = m.tail;
    if (ck.seq != kv->ck.seq) {
        atomic_fetch_add_explicit(&kv->checkpoints, 1, memory_order_relaxed);
        atomic_store_explicit(&kv->ck_bytes, ck.bytes, memory_order_relaxed);
    }
    kv->ck = ck;
    return AWC_OK;
}

/* The logical start and end of the region holding position x (in x's lap). */
static void region_span(const struct awc_kv *kv, uint64_t x, uint64_t *start, uint64_t *end)
{
    uint64_t page = x / kv->ps, phys = page % kv->log_pages, r = phys / kv->region_pages;
    uint64_t e = (r + 1) * kv->region_pages;

    if (e > kv->log_pages)
        e = kv->log_pages;
    *start = (page - phys + r * kv->region_pages) * kv->ps;
    *end = (page - phys + e) * kv->ps;
}

/* Notes that a record starts at pos (the first one of its region's lap, if it is). */
static void note_start(struct awc_kv *kv, uint64_t pos)
{
    struct kv_region *g = &kv->regions[kv_region_of(kv, pos)];
    uint64_t rs, re;

    region_span(kv, pos, &rs, &re);
    if (g->first < rs || g->first >= re)
        g->first = pos;
}

/* Empties region g's counters (its items have left the index); returns how many it held.
 * Caller holds imu, or is opening. */
static uint64_t region_empty(struct awc_kv *kv, struct kv_region *g)
{
    uint64_t n = g->items;

    kv->items -= g->items;
    kv->bytes -= g->bytes;
    g->items = 0;
    g->bytes = 0;
    return n;
}

/* Reclaims the region holding the tail (README 9.3 step 1). The tail moves to the first record
 * that starts after the region (a record running over the region's end goes with it: its first
 * pages are about to be overwritten), or, when no record starts between there and the head, to
 * the start of the region after the head's (the head goes there too); the items that start before
 * the new tail leave the index, and the regions the tail passed are emptied. Caller holds wmu, or
 * is opening (the scan, README 9.5 step 6). */
static void reclaim(struct awc_kv *kv)
{
    uint64_t tail = load_tail(kv), rs, e, qs, qe, new_tail, gone, dropped = 0;
    bool to_head = false;

    kv_assert_wmu_held_or_opening(kv);
    region_span(kv, tail, &rs, &e);
    for (;;) {
        if (e >= kv->head) {
            /* The log is empty: both go to the next region's start (nothing lives in the gap;
             * a record may then take the whole circle, see make_room). */
            region_span(kv, kv->head, &qs, &qe);
            new_tail = kv->head == qs ? qs : qe;
            kv->head = new_tail;
            to_head = true;
            break;
        }
        region_span(kv, e, &qs, &qe);
        {
            uint64_t f = kv->regions[kv_region_of(kv, e)].first;

            if (f >= qs && f < qe && f >= e) {
                new_tail = f;
                break;
            }
        }
        e = qe;
    }
    plat_mutex_lock(&kv->imu);
    atomic_store(&kv->tail, new_tail);
    gone = kv_index_sweep(&kv->idx, new_tail);
    /* Empty the regions the tail passed: its own, each one wholly behind the new tail, and the
     * new tail's own when the tail went to the head (nothing lives there either). */
    for (uint64_t x = rs; x < new_tail;) {
        struct kv_region *g = &kv->regions[kv_region_of(kv, x)];

        region_span(kv, x, &qs, &qe);
        if (x != rs && qe > new_tail && !to_head)
            break;
        dropped += region_empty(kv, g);
        x = qe;
    }
    plat_mutex_unlock(&kv->imu);
    assert(dropped == gone);
    (void)dropped;
    atomic_fetch_add_explicit(&kv->evictions, gone, memory_order_relaxed);
    count(&kv->reclaims);
}

/* ---- Write-behind (README 9.3 step 5, 9.6 rule 5) ---------------------------------------- */

/* Writes back the log's pages between logical positions from and to (page-aligned; the whole
 * circle at most), one awc_writeback_range per run of page numbers (two where the range wraps).
 * A failure leaves the pages dirty: an eviction or the next durable point writes them, and the
 * durable point reports an error that persists. The write-behind thread only. */
static void wb_range(struct awc_kv *kv, uint64_t from, uint64_t to)
{
    uint64_t n = (to - from) / kv->ps, p = from / kv->ps % kv->log_pages;

    if (n > kv->log_pages)
        n = kv->log_pages;
    while (n > 0) {
        uint64_t run = n < kv->log_pages - p ? n : kv->log_pages - p;

        (void)awc_writeback_range(kv->cache, KV_META_PAGES + p, run);
        n -= run;
        p = 0;
    }
}

/* The write-behind thread's steps (README 9.3 step 5):
 * 1. Note the kick word, then read the request wb_to.
 * 2. Past what is done: write that part of the log back (wb_range), publish wb_done, bump wb_ack
 *    and wake a writer held back for it; then from step 1.
 * 3. Nothing due and the stop set: end. Else sleep until the kick word moves, then step 1. */
static void *wb_main(void *arg)
{
    struct awc_kv *kv = arg;
    uint64_t done = atomic_load_explicit(&kv->wb_done, memory_order_acquire);

    for (;;) {
        /* Step 1 */
        uint32_t kick = atomic_load_explicit(&kv->wb_kick, memory_order_acquire);
        uint64_t to = atomic_load_explicit(&kv->wb_to, memory_order_acquire);

        /* Step 2 */
        if (to > done) {
            wb_range(kv, done, to);
            done = to;
            atomic_store_explicit(&kv->wb_done, done, memory_order_release);
            atomic_fetch_add_explicit(&kv->wb_ack, 1, memory_order_release);
            plat_wake(&kv->wb_ack, 1);
            continue;
        }
        /* Step 3 */
        if (atomic_load_explicit(&kv->wb_stop, memory_order_acquire))
            return NULL;
        plat_wait(&kv->wb_kick, kick);
    }
}

/* Wakes the write-behind thread after a change of wb_to or wb_stop. */
static void wb_kick(struct awc_kv *kv)
{
    atomic_fetch_add_explicit(&kv->wb_kick, 1, memory_order_release);
    plat_wake(&kv->wb_kick, 0);
}

/* Starts the write-behind thread with nothing due: the log before the head's page is clean (the
 * open's durable point wrote it). AWC_ENOMEM when the thread cannot be had. The opening thread,
 * as the last fallible step of the open (so no error path of the open has a thread to stop). */
static int wb_start(struct awc_kv *kv)
{
    uint64_t at = kv->head / kv->ps * kv->ps;

    atomic_store(&kv->wb_to, at);
    atomic_store(&kv->wb_done, at);
    atomic_store(&kv->wb_stop, false);
    if (plat_thread_create(&kv->wb_thread, wb_main, kv) != 0)
        return AWC_ENOMEM;
    kv->wb_started = true;
    return AWC_OK;
}

/* Stops the write-behind thread: it writes back what was posted, then ends, and is joined.
 * Caller holds wmu (so no request comes meanwhile; the thread never takes it). */
static void wb_stop(struct awc_kv *kv)
{
    plat_mutex_assert_held(&kv->wmu);
    if (!kv->wb_started)
        return;
    atomic_store_explicit(&kv->wb_stop, true, memory_order_release);
    wb_kick(kv);
    (void)plat_thread_join(kv->wb_thread, NULL);
    kv->wb_started = false;
}

/* Posts the request that the log before `to` (the start of the head's page: every page before it
 * is filled for good) be written back (README 9.3 step 5). The writer runs at most one request
 * ahead of the thread: it first waits until the previous request is done, so that no more than
 * two requests' worth of log is dirty besides the head's page, however slow the disk. Caller
 * holds wmu. */
static void wb_post(struct awc_kv *kv, uint64_t to)
{
    uint64_t prev = atomic_load_explicit(&kv->wb_to, memory_order_relaxed);

    plat_mutex_assert_held(&kv->wmu);
    plat_mutex_assert_not_held(&kv->imu);
    assert(kv->wb_started);
    for (;;) {
        uint32_t ack = atomic_load_explicit(&kv->wb_ack, memory_order_acquire);

        if (atomic_load_explicit(&kv->wb_done, memory_order_acquire) >= prev)
            break;
        plat_wait(&kv->wb_ack, ack);
    }
    if (to <= prev)
        return;
    atomic_store_explicit(&kv->wb_to, to, memory_order_release);
    wb_kick(kv);
}

/* Where a record of `len` bytes goes: at the head, or at the next page when it would straddle
 * a page it could fit in, or when the head's page has no room for a header. */
static uint64_t placement(const struct awc_kv *kv, uint64_t len)
{
    uint64_t off = kv->head % kv->ps;

    if (off != 0 && (kv->ps - off < KV_HDR || (len <= kv->ps && off + len > kv->ps)))
        return round_up(kv->head, kv->ps);
    return kv->head;
}

/* Steps of writing a record (README 9.3), split in two so that the caller can look the key up
 * between them (no reclaim happens after make_room):
 * 1. Room: reclaim oldest regions until the record fits in the circle without entering the
 *    tail's region.
 * 2. The pages the record overwrites must have left the durable log (the newest meta page on
 *    disk must not name them), else a crash could leave a meta page whose log starts in pages
 *    holding newer records: a durable point if they have not.
 * 3. (write_record) A pad record where the head's page is left unused, if a header fits there.
 * 4. (write_record) Header, key, value; then the head moves past them.
 * 5. (write_record) Every wb_every bytes of log (an eighth of the frames, 16 to 1,024 pages),
 *    ask the write-behind thread to write back the log's pages filled since its last request
 *    (those before the head's page: wb_post), so that the frames the log fills are clean when
 *    the frame CLOCK wants them back (one large write instead of one page written by each
 *    eviction), without the put waiting for the write: at most one request ahead of the thread.
 * Caller holds wmu. */
static int make_room(struct awc_kv *kv, uint64_t len, uint64_t *start)
{
    uint64_t end;
    int rc;

    plat_mutex_assert_held(&kv->wmu);
    /* Step 1 */
    if (len > kv->cap)
        return AWC_E2BIG;
    for (;;) {
        uint64_t ts, te;

        *start = placement(kv, len);
        end = *start + len;
        /* Measured from the start of the tail's region: a record never goes into the region
         * the tail is in (so that each region's counters hold one lap's items). */
        region_span(kv, load_tail(kv), &ts, &te);
        if (end - ts <= kv->cap)
            break;
        reclaim(kv);
    }
    /* Step 2 */
    if (end > kv->cap + kv->durable_tail) {
        rc = durable_point(kv, false);
        if (rc != AWC_OK)
            return rc;
    }
    return AWC_OK;
}

static int write_record(struct awc_kv *kv, uint64_t start, uint32_t magic, const void *key,
                        size_t key_len, const void *value, size_t value_len, uint64_t expiry)
{
    uint8_t hb[KV_HDR];
    struct kv_hdr h;
    int rc;

    /* Step 3 */
    if (start != kv->head && kv->ps - kv->head % kv->ps >= KV_HDR) {
        struct kv_hdr p = {KV_REC_PAD, 0, 0, kv->head, 0, kv->gen, 0};

        kv_hdr_encode(&p, hb);
        rc = kv_write(kv, kv->head, hb, KV_HDR);
        if (rc != AWC_OK)
            return rc;
    }
    /* Step 4 */
    note_start(kv, start);
    h.magic = magic;
    h.key_len = (uint32_t)key_len;
    h.value_len = (uint32_t)value_len;
    h.pos = start;
    h.expiry_ms = expiry;
    h.gen = kv->gen;
    h.sum = kv_sum(start, key, key_len, value, value_len);
    kv_hdr_encode(&h, hb);
    {
        /* Each page of the record pinned once, header, key and value copied straight in. */
        const struct kv_part parts[3] = {{hb, KV_HDR}, {key, key_len}, {value, value_len}};

        rc = kv_write_parts(kv, start, parts, 3);
    }
    if (rc != AWC_OK)
        return rc; /* the head stays: the next record overwrites these bytes */
    kv->head = start + kv_rec_len((uint32_t)key_len, value_len);
    /* Step 5 */
    if (kv->head >= kv->wb_next) {
        wb_post(kv, kv->head / kv->ps * kv->ps);
        kv->wb_next = kv->head + kv->wb_every;
    }
    return AWC_OK;
}

/* Steps of a put: check; under wmu make room, find the key's older record, write the new one,
 * then (under imu) point the index at it and account for both. */
AWC_API int awc_kv_put(awc_kv_t *kv, const void *key, size_t key_len, const void *value,
                       size_t value_len, uint64_t ttl_ms)
{
    int rc = check_call(kv, key, key_len);
    uint64_t hash, pos, expiry = 0;
    struct found old;
    bool had = false;

    if (rc != AWC_OK)
        return rc;
    if (value == NULL && value_len > 0)
        return AWC_EINVAL;
    if (value_len > AWC_KV_MAX_VALUE || kv_rec_len((uint32_t)key_len, value_len) > kv->cap)
        return AWC_E2BIG;
    if (ttl_ms > 0) {
        uint64_t now = now_ms(kv);

        expiry = ttl_ms > UINT64_MAX - now ? UINT64_MAX : now + ttl_ms;
    }
    rc = check_no_refs(kv);
    if (rc != AWC_OK)
        return rc;
    hash = kv_hash(kv, key, key_len);
    wmu_lock(kv);
    rc = check_kv(kv);
    if (rc == AWC_OK)
        rc = make_room(kv, kv_rec_len((uint32_t)key_len, value_len), &pos);
    if (rc == AWC_OK) {
        /* Only this thread changes the index's positions meanwhile (readers may only remove). */
        rc = lookup(kv, hash, key, key_len, &old, NULL);
        had = rc == AWC_OK;
        if (rc == AWC_ENOTFOUND || rc == AWC_ECHECKSUM)
            rc = AWC_OK; /* none, or a damaged one (dropped) */
    }
    if (rc == AWC_OK) {
        /* The index must be able to take the new key before its record enters the log: a record
         * the index could not take would come back at the next open although the put failed.
         * (Even with an older record: a reader may drop that one meanwhile.) */
        plat_mutex_lock(&kv->imu);
        rc = kv_index_reserve(&kv->idx);
        plat_mutex_unlock(&kv->imu);
    }
    if (rc == AWC_OK)
        rc = write_record(kv, pos, KV_REC_ITEM, key, key_len, value, value_len, expiry);
    if (rc != AWC_OK) {
        plat_mutex_unlock(&kv->wmu);
        return rc;
    }
    plat_mutex_lock(&kv->imu);
    if (had && kv_index_move(&kv->idx, hash, old.pos, pos))
        account_drop(kv, old.pos, (uint64_t)old.h.key_len + old.h.value_len);
    else
        rc = kv_index_add(&kv->idx, hash, pos);
    if (rc == AWC_OK)
        account_add(kv, pos, key_len + value_len);
    plat_mutex_unlock(&kv->imu);
    plat_mutex_unlock(&kv->wmu);
    if (rc == AWC_OK)
        count(&kv->puts);
    return rc;
}

AWC_API int awc_kv_delete(awc_kv_t *kv, const void *key, size_t key_len)
{
    int rc = check_call(kv, key, key_len);
    uint64_t hash, pos;
    struct found f;
    bool damaged = false;

    if (rc != AWC_OK)
        return rc;
    rc = check_no_refs(kv);
    if (rc != AWC_OK)
        return rc;
    hash = kv_hash(kv, key, key_len);
    wmu_lock(kv);
    rc = check_kv(kv);
    if (rc == AWC_OK)
        rc = make_room(kv, kv_rec_len((uint32_t)key_len, 0), &pos);
    if (rc == AWC_OK) {
        rc = lookup(kv, hash, key, key_len, &f, NULL);
        damaged = rc == AWC_ECHECKSUM;
        if (damaged)
            rc = AWC_OK; /* dropped already; the tombstone still shadows older records */
    }
    if (rc == AWC_OK)
        rc = write_record(kv, pos, KV_REC_TOMB, key, key_len, NULL, 0, 0);
    if (rc == AWC_OK) {
        /* The tombstone is in the log (a reopen's scan drops the key); the index follows. */
        plat_mutex_lock(&kv->imu);
        if (!damaged && kv_index_remove(&kv->idx, hash, f.pos))
            account_drop(kv, f.pos, (uint64_t)f.h.key_len + f.h.value_len);
        plat_mutex_unlock(&kv->imu);
        count(&kv->deletes);
    }
    plat_mutex_unlock(&kv->wmu);
    return rc;
}

AWC_API int awc_kv_flush(awc_kv_t *kv)
{
    int rc = check_kv(kv);

    if (rc != AWC_OK)
        return rc;
    rc = check_no_refs(kv);
    if (rc != AWC_OK)
        return rc;
    wmu_lock(kv);
    rc = check_kv(kv);
    if (rc == AWC_OK)
        rc = durable_point(kv, false);
    plat_mutex_unlock(&kv->wmu);
    return rc;
}

/* ---- Gets -------------------------------------------------------------------------------- */

/* A get's steps 2 and 3: lookup (`keep` as there), counting a miss; an expired item is dropped
 * (and its page unpinned), a miss counted as expired. */
static int find_live(struct awc_kv *kv, uint64_t hash, const void *key, size_t key_len,
                     struct found *f, const uint8_t **keep)
{
    int rc = lookup(kv, hash, key, key_len, f, keep);

    if (rc == AWC_ENOTFOUND)
        count(&kv->misses);
    if (rc != AWC_OK)
        return rc;
    if (expired(&f->h, now_ms(kv))) {
        if (keep != NULL && *keep != NULL)
            awc_unpin(kv->cache, kv_page_of(kv, f->pos), 0);
        drop_item(kv, hash, f->pos, (uint64_t)f->h.key_len + f->h.value_len);
        count(&kv->expired);
        count(&kv->misses);
        return AWC_ENOTFOUND;
    }
    return AWC_OK;
}

/* The log pages the record f touches. */
static uint64_t rec_pages(const struct awc_kv *kv, const struct found *f)
{
    return (f->pos + KV_HDR + f->h.key_len + f->h.value_len - 1) / kv->ps - f->pos / kv->ps + 1;
}

static void unpin_pages(struct awc_kv *kv, const uint64_t *pages, size_t n)
{
    for (size_t i = 0; i < n; i++)
        awc_unpin(kv->cache, pages[i], 0);
}

/* Pins the n pages of the record f once each (README 9.4): pages[i] and ptrs[i] become the
 * cache page and bytes of its i-th page. When `rec` is not NULL the lookup kept the first page
 * pinned (rec points into it) and one batch pins the others; else one batch pins them all and
 * the header is checked again at its place (AWC_ENOTFOUND: rewritten since the lookup). On
 * error nothing is pinned (the kept page is unpinned too). n <= the window's slots. */
static int pin_record(struct awc_kv *kv, const struct found *f, const uint8_t *rec, uint64_t *pages,
                      void **ptrs, size_t n)
{
    uint64_t first = f->pos / kv->ps;
    struct kv_hdr h2;
    int rc;

    for (size_t i = 0; i < n; i++)
        pages[i] = kv_page_of(kv, (first + i) * kv->ps);
    if (rec != NULL) {
        ptrs[0] = (void *)(uintptr_t)(rec - f->pos % kv->ps);
        rc = n > 1 ? awc_pin_batch(kv->cache, pages + 1, n - 1, AWC_SHARED, ptrs + 1) : AWC_OK;
        if (rc != AWC_OK)
            awc_unpin(kv->cache, pages[0], 0);
        return rc;
    }
    rc = awc_pin_batch(kv->cache, pages, n, AWC_SHARED, ptrs);
    if (rc != AWC_OK)
        return rc;
    if (!kv_hdr_decode((const uint8_t *)ptrs[0] + f->pos % kv->ps, &h2) || h2.pos != f->pos ||
        h2.sum != f->h.sum) {
        unpin_pages(kv, pages, n);
        return AWC_ENOTFOUND;
    }
    return AWC_OK;
}

/* A record's pages pinned by pin_record, for kv_verify_pinned. */
struct run {
    uint64_t first; /* the record's first logical page */
    void **ptrs;
};

static const uint8_t *run_page(void *arg, uint64_t lp)
{
    const struct run *r = arg;

    return r->ptrs[lp - r->first];
}

/* Step 4 of a get for a record on more than one page (or whose header the lookup did not keep
 * pinned, rec NULL): pins each page once (pin_record), then hashes and copies the value from
 * the pinned pages. A record with more pages than the window has slots, or whose batch cannot
 * be pinned, is read page by page (kv_read_verify), which reports a page's error as its own. */
static int get_pages(struct awc_kv *kv, const struct found *f, const uint8_t *rec, void *buf)
{
    uint64_t page_in[8], *pages = page_in, n = rec_pages(kv, f);
    void *ptr_in[8], **ptrs = ptr_in;
    int rc = AWC_EBUSY;

    if (n > 8 && n <= kv->slots) {
        pages = malloc((size_t)n * sizeof(*pages));
        ptrs = malloc((size_t)n * sizeof(*ptrs));
    }
    if (n <= kv->slots && pages != NULL && ptrs != NULL) {
        rc = pin_record(kv, f, rec, pages, ptrs, (size_t)n);
    } else if (rec != NULL) {
        awc_unpin(kv->cache, kv_page_of(kv, f->pos), 0);
    }
    if (rc == AWC_OK) {
        struct run r = {f->pos / kv->ps, ptrs};

        rc = kv_verify_pinned(kv, f->pos, &f->h, run_page, &r, buf);
        unpin_pages(kv, pages, (size_t)n);
    } else if (rc != AWC_ENOTFOUND) {
        rc = kv_read_verify(kv, f->pos, &f->h, buf);
    }
    if (pages != page_in)
        free(pages);
    if (ptrs != ptr_in)
        free(ptrs);
    return rc;
}

/* Steps of a get (README 9.4):
 * 1. Check the arguments; hash the key.
 * 2. Find the key's record (lookup). None: a miss.
 * 3. Expired: drop it from the index; a miss, counted as expired.
 * 4. Read key and value from the pages, checking the sum. A mismatch on a record the tail has
 *    passed meanwhile is a miss (the region was reclaimed and rewritten under the read); any
 *    other mismatch is a damaged item: dropped, AWC_ECHECKSUM. */
AWC_API int awc_kv_get(awc_kv_t *kv, const void *key, size_t key_len, void *buf, size_t buf_len,
                       size_t *value_len)
{
    int rc = check_call(kv, key, key_len);
    const uint8_t *rec;
    uint64_t hash;
    struct found f;

    /* Step 1 */
    if (rc != AWC_OK)
        return rc;
    if (value_len == NULL || (buf == NULL && buf_len > 0))
        return AWC_EINVAL;
    hash = kv_hash(kv, key, key_len);
    /* Steps 2, 3 */
    rc = find_live(kv, hash, key, key_len, &f, &rec);
    if (rc != AWC_OK)
        return rc;
    *value_len = f.h.value_len;
    if (buf_len < f.h.value_len) {
        if (rec != NULL)
            awc_unpin(kv->cache, kv_page_of(kv, f.pos), 0);
        count(&kv->hits);
        return AWC_ERANGE;
    }
    /* Step 4. The record in one page still pinned: nobody can have changed it since the
     * header was read, so a mismatch is damage. */
    if (rec != NULL && rec_pages(kv, &f) == 1) {
        const uint8_t *v = rec + KV_HDR + f.h.key_len;

        rc = kv_sum(f.pos, rec + KV_HDR, f.h.key_len, v, f.h.value_len) == f.h.sum ? AWC_OK
                                                                                   : AWC_ECHECKSUM;
        if (rc == AWC_OK && f.h.value_len > 0)
            memcpy(buf, v, f.h.value_len);
        awc_unpin(kv->cache, kv_page_of(kv, f.pos), 0);
    } else {
        rc = get_pages(kv, &f, rec, buf);
        if ((rc == AWC_ECHECKSUM && f.pos < load_tail(kv)) || rc == AWC_ENOTFOUND) {
            count(&kv->misses);
            return AWC_ENOTFOUND;
        }
    }
    if (rc == AWC_ECHECKSUM)
        drop_item(kv, hash, f.pos, (uint64_t)f.h.key_len + f.h.value_len);
    if (rc == AWC_OK)
        count(&kv->hits);
    return rc;
}

/* The private words of a reference. */
enum { REF_MAGIC, REF_KV, REF_FIRST, REF_PAGES, REF_HEAP, REF_TLS };

static void unpin_range(struct awc_kv *kv, uint64_t first, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        awc_unpin(kv->cache, kv_page_of(kv, (first + i) * kv->ps), 0);
}

/* Steps of a get_ref: 1-3 as awc_kv_get; then
 * 4. Pin every page of the record once (shared; the lookup's page kept and one batch for the
 *    rest: pin_record), check its sum in place on the pinned pages.
 * 5. Describe the value's pieces; count the reference (in all, for close, and per thread, for
 *    the holder's writes: README 9.4). */
AWC_API int awc_kv_get_ref(awc_kv_t *kv, const void *key, size_t key_len, struct awc_kv_ref *ref)
{
    int rc = check_call(kv, key, key_len);
    uint64_t hash, first, npages, *pages = NULL;
    const uint8_t *rec;
    void **ptrs = NULL;
    struct awc_kv_frag *frags = NULL;
    struct found f;

    if (rc != AWC_OK)
        return rc;
    if (ref == NULL)
        return AWC_EINVAL;
    memset(ref, 0, sizeof(*ref));
    frags = ref->inline_frags_;
    hash = kv_hash(kv, key, key_len);
    rc = find_live(kv, hash, key, key_len, &f, &rec);
    if (rc != AWC_OK)
        return rc;
    /* Step 4 */
    first = f.pos / kv->ps;
    npages = rec_pages(kv, &f);
    if (npages > kv->slots) {
        rc = AWC_E2BIG;
        goto unkeep;
    }
    pages = malloc((size_t)npages * sizeof(*pages));
    ptrs = malloc((size_t)npages * sizeof(*ptrs));
    if (npages > 2)
        frags = malloc((size_t)npages * sizeof(*frags));
    if (pages == NULL || ptrs == NULL || frags == NULL) {
        rc = AWC_ENOMEM;
        goto unkeep;
    }
    rc = pin_record(kv, &f, rec, pages, ptrs, (size_t)npages);
    if (rc == AWC_ENOTFOUND)
        count(&kv->misses); /* rewritten since the lookup */
    if (rc != AWC_OK)
        goto fail;
    /* The sum, on the pinned pages (nobody can change them now). */
    {
        struct run r = {first, ptrs};

        rc = kv_verify_pinned(kv, f.pos, &f.h, run_page, &r, NULL);
    }
    if (rc != AWC_OK) {
        unpin_range(kv, first, npages);
        if (rc == AWC_ECHECKSUM)
            drop_item(kv, hash, f.pos, (uint64_t)f.h.key_len + f.h.value_len);
        goto fail;
    }
    /* Step 5 */
    {
        uint64_t at = f.pos + KV_HDR + f.h.key_len, left = f.h.value_len;
        size_t n = 0;

        while (left > 0) {
            uint64_t off = at % kv->ps, len = kv->ps - off;

            if (len > left)
                len = left;
            frags[n].data = (const char *)ptrs[at / kv->ps - first] + off;
            frags[n].len = (size_t)len;
            n++;
            at += len;
            left -= len;
        }
        ref->nfrags = n;
    }
    ref->frags = frags;
    ref->value_len = f.h.value_len;
    ref->value = ref->nfrags == 1 ? frags[0].data : NULL;
    if (ref->nfrags == 0)
        ref->value = "";
    ref->priv_[REF_MAGIC] = KV_REF_MAGIC;
    ref->priv_[REF_KV] = (uint64_t)(uintptr_t)kv;
    ref->priv_[REF_FIRST] = first;
    ref->priv_[REF_PAGES] = npages;
    ref->priv_[REF_HEAP] = frags != ref->inline_frags_;
    atomic_fetch_add_explicit(&kv->refs, 1, memory_order_acq_rel);
    /* The taking thread (its count of references is thread-local) and the overflow flag. */
    ref->priv_[REF_TLS] = tls_owner() | tls_take(kv);
    count(&kv->hits);
    free(pages);
    free(ptrs);
    return AWC_OK;
unkeep:
    if (rec != NULL)
        awc_unpin(kv->cache, kv_page_of(kv, f.pos), 0);
fail:
    if (frags != ref->inline_frags_)
        free(frags);
    free(pages);
    free(ptrs);
    memset(ref, 0, sizeof(*ref));
    return rc;
}

AWC_API int awc_kv_release(awc_kv_t *kv, struct awc_kv_ref *ref)
{
    int rc = check_kv(kv);
    uint64_t first, npages, overflow;

    if (rc != AWC_OK)
        return rc;
    if (ref == NULL || ref->priv_[REF_MAGIC] != KV_REF_MAGIC ||
        ref->priv_[REF_KV] != (uint64_t)(uintptr_t)kv)
        return AWC_EINVAL;
    /* Only the thread that took it: the count of references that keeps this thread from writing
     * (README 9.4) is that thread's own, which another thread cannot lower. The reference stays
     * live, for its owner to release. */
    if ((ref->priv_[REF_TLS] & ~UINT64_C(1)) != tls_owner())
        return AWC_EINVAL;
    first = ref->priv_[REF_FIRST];
    npages = ref->priv_[REF_PAGES];
    overflow = ref->priv_[REF_TLS] & 1;
    unpin_range(kv, first, npages);
    if (ref->priv_[REF_HEAP])
        free((void *)(uintptr_t)ref->frags);
    memset(ref, 0, sizeof(*ref));
    atomic_fetch_sub_explicit(&kv->refs, 1, memory_order_acq_rel);
    tls_give(kv, overflow);
    return AWC_OK;
}

/* ---- Batched gets (README 9.4.1) -------------------------------------------------------- */

#define GB_ROUND 64u /* items looked up per round (fewer when the window is small) */

/* What a batched get knows of one item. */
enum gb_state { GB_ALONE, GB_MISS, GB_CAND, GB_MORE, GB_EXPIRED, GB_RANGE, GB_DONE };

struct gb_item {
    size_t i;            /* the item's index in the call */
    enum gb_state state; /* GB_ALONE: read as by awc_kv_get after the round */
    int rc;              /* GB_DONE: the sum's verdict (AWC_OK or AWC_ECHECKSUM) */
    uint64_t hash;
    struct found f;
};

/* The pages a round holds pinned: sorted, distinct cache page numbers with their bytes. */
struct gb_pins {
    const struct awc_kv *kv;
    uint64_t page[2][GB_ROUND * 2];
    void *ptr[2][GB_ROUND * 2];
    size_t n[2];
};

/* qsort's and bsearch's order of uint64_t. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Sorts page[0..n) and drops repeats and the pages `other` holds; returns how many remain. */
static size_t gb_distinct(uint64_t *page, size_t n, const uint64_t *other, size_t n_other)
{
    size_t m = 0;

    if (n > 1)
        qsort(page, n, sizeof(*page), cmp_u64);
    for (size_t i = 0; i < n; i++)
        if ((m == 0 || page[m - 1] != page[i]) &&
            (n_other == 0 || bsearch(&page[i], other, n_other, sizeof(*other), cmp_u64) == NULL))
            page[m++] = page[i];
    return m;
}

/* The bytes of log page lp, pinned in one of the round's two batches. */
static const uint8_t *gb_page(void *arg, uint64_t lp)
{
    const struct gb_pins *p = arg;
    uint64_t page = kv_page_of(p->kv, lp * p->kv->ps);

    for (int b = 0; b < 2; b++) {
        const uint64_t *at =
            p->n[b] > 0 ? bsearch(&page, p->page[b], p->n[b], sizeof(page), cmp_u64) : NULL;

        if (at != NULL)
            return p->ptr[b][at - p->page[b]];
    }
    assert(!"a batched get's page is not pinned");
    return NULL;
}

/* Step 1 of a round: each item's candidates, under imu once for the round. An item with no
 * candidate past the tail is a miss; one with more than one, or whose header and key do not lie
 * in one page, is left to awc_kv_get (GB_ALONE). */
static void gb_candidates(struct awc_kv *kv, struct gb_item *it, size_t n)
{
    uint64_t tail = load_tail(kv);

    plat_mutex_lock(&kv->imu);
    for (size_t j = 0; j < n; j++) {
        uint64_t cursor = 0, cand[2];
        size_t m = kv_index_find(&kv->idx, it[j].hash, &cursor, cand, 2);

        it[j].state = m == 0 ? GB_MISS : m == 1 && cursor == UINT64_MAX ? GB_CAND : GB_ALONE;
        if (it[j].state == GB_CAND && cand[0] < tail)
            it[j].state = GB_MISS;
        it[j].f.pos = cand[0];
    }
    plat_mutex_unlock(&kv->imu);
}

/* Step 3 for one item: its header and key checked on the pinned page; a record wholly in that
 * page is hashed and copied at once (GB_DONE), one that goes on is GB_MORE. */
static void gb_check(struct awc_kv *kv, struct gb_item *x, const uint8_t *rec, const void *key,
                     size_t key_len, void *buf, size_t buf_len, uint64_t now)
{
    struct kv_hdr *h = &x->f.h;

    if (!kv_hdr_decode(rec, h) || h->pos != x->f.pos) {
        x->state = GB_ALONE; /* damaged, or rewritten: awc_kv_get tells which */
    } else if (h->magic != KV_REC_ITEM || h->key_len != key_len ||
               memcmp(rec + KV_HDR, key, key_len) != 0) {
        x->state = GB_MISS;
    } else if (expired(h, now)) {
        x->state = GB_EXPIRED;
    } else if (buf_len < h->value_len) {
        x->state = GB_RANGE;
    } else if (rec_pages(kv, &x->f) > 1) {
        x->state = GB_MORE;
    } else {
        const uint8_t *v = rec + KV_HDR + key_len;

        x->state = GB_DONE;
        x->rc = kv_sum(x->f.pos, rec + KV_HDR, key_len, v, h->value_len) == h->sum ? AWC_OK
                                                                                   : AWC_ECHECKSUM;
        if (x->rc == AWC_OK && h->value_len > 0)
            memcpy(buf, v, h->value_len);
    }
}

/* Step 4: the later pages of the GB_MORE records in one more batch (records whose pages would
 * not fit the window go alone, as do all of them when the batch fails), each record then hashed
 * and copied from the pinned pages. */
static void gb_more(struct awc_kv *kv, struct gb_item *it, size_t n, struct gb_pins *p,
                    void *const *bufs)
{
    size_t m = 0;
    bool ok;

    for (size_t j = 0; j < n; j++) {
        uint64_t first = it[j].f.pos / kv->ps, pages = rec_pages(kv, &it[j].f);

        if (it[j].state != GB_MORE)
            continue;
        if (pages - 1 > GB_ROUND * 2 - m || p->n[0] + m + pages - 1 > kv->slots) {
            it[j].state = GB_ALONE;
            continue;
        }
        for (uint64_t k = 1; k < pages; k++)
            p->page[1][m++] = kv_page_of(kv, (first + k) * kv->ps);
    }
    m = gb_distinct(p->page[1], m, p->page[0], p->n[0]);
    ok = m == 0 || awc_pin_batch(kv->cache, p->page[1], m, AWC_SHARED, p->ptr[1]) == AWC_OK;
    p->n[1] = ok ? m : 0;
    for (size_t j = 0; j < n; j++) {
        if (it[j].state != GB_MORE)
            continue;
        it[j].state = ok ? GB_DONE : GB_ALONE;
        if (ok)
            it[j].rc = kv_verify_pinned(kv, it[j].f.pos, &it[j].f.h, gb_page, p, bufs[it[j].i]);
    }
}

/* Step 6 for one item: its result and counters, as awc_kv_get would give them. */
static int gb_finish(struct awc_kv *kv, const struct gb_item *x, const void *key, size_t key_len,
                     void *buf, size_t buf_len, size_t *value_len)
{
    switch (x->state) {
    case GB_ALONE:
        return awc_kv_get(kv, key, key_len, buf, buf_len, value_len);
    case GB_EXPIRED:
        drop_item(kv, x->hash, x->f.pos, (uint64_t)x->f.h.key_len + x->f.h.value_len);
        count(&kv->expired);
        count(&kv->misses);
        return AWC_ENOTFOUND;
    case GB_RANGE:
        *value_len = x->f.h.value_len;
        count(&kv->hits);
        return AWC_ERANGE;
    case GB_DONE:
        if (x->rc == AWC_OK) {
            *value_len = x->f.h.value_len;
            count(&kv->hits);
            return AWC_OK;
        }
        if (x->f.pos >= load_tail(kv)) {
            drop_item(kv, x->hash, x->f.pos, (uint64_t)x->f.h.key_len + x->f.h.value_len);
            return AWC_ECHECKSUM;
        }
        break; /* reclaimed and rewritten under the read: a miss */
    default:
        break;
    }
    count(&kv->misses);
    return AWC_ENOTFOUND;
}

/* One round of a batched get over it[0..n) (README 9.4.1):
 * 1. Each item's candidate, under imu once (gb_candidates).
 * 2. The pages where the candidates' records start, distinct, pinned in one batch (one map call
 *    and one read for those not in frames). If it fails, every item goes alone.
 * 3. Each record's header and key checked on its page; one within its page is done at once
 *    (gb_check).
 * 4. The later pages of the others in one more batch (gb_more).
 * 5. Every page unpinned.
 * 6. Each item's result (gb_finish); the items left alone are read as by awc_kv_get. */
static void gb_round(struct awc_kv *kv, struct gb_item *it, size_t n, const void *const *keys,
                     const size_t *key_lens, void *const *bufs, const size_t *buf_lens,
                     size_t *value_lens, int *results)
{
    struct gb_pins p = {.kv = kv};
    uint64_t now = now_ms(kv);
    size_t m = 0;

    /* Step 1 */
    gb_candidates(kv, it, n);
    /* Step 2 */
    for (size_t j = 0; j < n; j++) {
        size_t off = (size_t)(it[j].f.pos % kv->ps);

        if (it[j].state == GB_CAND && kv->ps - off < KV_HDR + key_lens[it[j].i])
            it[j].state = GB_ALONE;
        if (it[j].state == GB_CAND)
            p.page[0][m++] = kv_page_of(kv, it[j].f.pos);
    }
    m = gb_distinct(p.page[0], m, NULL, 0);
    if (m > 0 && awc_pin_batch(kv->cache, p.page[0], m, AWC_SHARED, p.ptr[0]) != AWC_OK) {
        for (size_t j = 0; j < n; j++)
            if (it[j].state == GB_CAND)
                it[j].state = GB_ALONE;
        m = 0;
    }
    p.n[0] = m;
    /* Step 3 */
    for (size_t j = 0; j < n; j++) {
        size_t i = it[j].i;

        if (it[j].state == GB_CAND)
            gb_check(kv, &it[j], gb_page(&p, it[j].f.pos / kv->ps) + it[j].f.pos % kv->ps, keys[i],
                     key_lens[i], bufs[i], buf_lens[i], now);
    }
    /* Steps 4, 5 */
    gb_more(kv, it, n, &p, bufs);
    unpin_pages(kv, p.page[1], p.n[1]);
    unpin_pages(kv, p.page[0], p.n[0]);
    /* Step 6 */
    for (size_t j = 0; j < n; j++) {
        size_t i = it[j].i;

        results[i] =
            gb_finish(kv, &it[j], keys[i], key_lens[i], bufs[i], buf_lens[i], &value_lens[i]);
    }
}

AWC_API int awc_kv_get_batch(awc_kv_t *kv, size_t n, const void *const *keys,
                             const size_t *key_lens, void *const *bufs, const size_t *buf_lens,
                             size_t *value_lens, int *results)
{
    struct gb_item it[GB_ROUND];
    size_t round, at = 0;
    int rc = check_kv(kv);

    if (rc != AWC_OK)
        return rc;
    if (n > 0 && (keys == NULL || key_lens == NULL || bufs == NULL || buf_lens == NULL ||
                  value_lens == NULL || results == NULL))
        return AWC_EINVAL;
    round = kv->slots / 2 < GB_ROUND ? (size_t)(kv->slots / 2) : GB_ROUND;
    while (at < n) {
        size_t m = 0;

        while (at < n && (m < round || round == 0)) {
            size_t i = at++;

            value_lens[i] = 0;
            results[i] = check_key(keys[i], key_lens[i]);
            if (results[i] == AWC_OK && bufs[i] == NULL && buf_lens[i] > 0)
                results[i] = AWC_EINVAL;
            if (results[i] != AWC_OK)
                continue;
            if (round == 0) {
                results[i] =
                    awc_kv_get(kv, keys[i], key_lens[i], bufs[i], buf_lens[i], &value_lens[i]);
                continue;
            }
            it[m].i = i;
            it[m].hash = kv_hash(kv, keys[i], key_lens[i]);
            m++;
        }
        gb_round(kv, it, m, keys, key_lens, bufs, buf_lens, value_lens, results);
    }
    return AWC_OK;
}

/* ---- Open: the scan of the log (README 9.5) ---------------------------------------------- */

/* Before the scan applies a record ending at `end` (README 9.5 step 6): where the log it has
 * read reaches into the tail's region a lap later, the regions the tail is in are reclaimed, as
 * make_room does before a put, so that each region's counters hold one lap's items. Only after a
 * damaged meta page: the open then starts from an older meta page's tail, and the records the
 * scan finds past its head were written after the newer one had moved the tail on. */
static void scan_make_room(struct awc_kv *kv, uint64_t pos, uint64_t end)
{
    uint64_t ts, te;

    region_span(kv, load_tail(kv), &ts, &te);
    if (end - ts <= kv->cap)
        return;
    note_start(kv, pos); /* the first record past the regions reclaimed, at the latest */
    kv->head = pos;
    do {
        reclaim(kv);
        region_span(kv, load_tail(kv), &ts, &te);
    } while (end - ts > kv->cap);
}

/* Applies one record found by the scan to the index. */
static int scan_apply(struct awc_kv *kv, uint64_t pos, const struct kv_hdr *h, uint64_t now)
{
    uint8_t key[AWC_KV_MAX_KEY];
    struct found old;
    uint64_t hash;
    int rc = kv_read(kv, pos + KV_HDR, key, h->key_len);

    if (rc != AWC_OK)
        return rc; /* AWC_ECHECKSUM: the caller skips the record */
    note_start(kv, pos);
    hash = kv_hash(kv, key, h->key_len);
    rc = lookup(kv, hash, key, h->key_len, &old, NULL);
    if (rc != AWC_OK && rc != AWC_ENOTFOUND && rc != AWC_ECHECKSUM)
        return rc;
    if (rc == AWC_OK) {
        kv_index_remove(&kv->idx, hash, old.pos);
        account_drop(kv, old.pos, (uint64_t)old.h.key_len + old.h.value_len);
    }
    if (h->magic == KV_REC_ITEM && !expired(h, now)) {
        rc = kv_index_add(&kv->idx, hash, pos);
        if (rc != AWC_OK)
            return rc;
        account_add(kv, pos, (uint64_t)h->key_len + h->value_len);
    }
    return AWC_OK;
}

/* Drops every item the scan has indexed so far: the log after them is damaged before the
 * durable head, and a record lost in the damage may have replaced or deleted any of them
 * (README 9.5 step 5). They are counted in dropped_damaged. */
static void scan_drop_all(struct awc_kv *kv)
{
    uint64_t gone;

    plat_mutex_lock(&kv->imu);
    gone = kv_index_sweep(&kv->idx, UINT64_MAX);
    assert(gone == kv->items);
    for (uint64_t r = 0; r < kv->nregions; r++) {
        kv->regions[r].items = 0;
        kv->regions[r].bytes = 0;
    }
    kv->items = 0;
    kv->bytes = 0;
    kv->changes++;
    plat_mutex_unlock(&kv->imu);
    atomic_fetch_add_explicit(&kv->dropped_damaged, gone, memory_order_relaxed);
}

/* After a broken record or damaged page at pos: the first whole header at its own position in
 * the pages after it and below `limit`, or UINT64_MAX. A header names its own logical position
 * and carries a check, so a record of another lap or the middle of a value is never taken for
 * one. */
static uint64_t resync(struct awc_kv *kv, uint64_t pos, uint64_t limit)
{
    for (uint64_t p = round_up(pos + 1, kv->ps); p < limit; p += kv->ps) {
        uint64_t page = kv_page_of(kv, p), found = UINT64_MAX;
        void *pg;

        if (awc_pin(kv->cache, page, AWC_SHARED, &pg) != AWC_OK)
            continue; /* damaged too */
        for (size_t off = 0; off + KV_HDR <= kv->ps && p + off < limit; off += KV_ALIGN) {
            struct kv_hdr h;

            if (kv_hdr_decode((const uint8_t *)pg + off, &h) && h.pos == p + off) {
                found = p + off;
                break;
            }
        }
        awc_unpin(kv->cache, page, 0);
        if (found != UINT64_MAX)
            return found;
    }
    return UINT64_MAX;
}

/* Whether the header h, whole at its own position pos, continues the log (README 9.5 step 2):
 * a generation neither older than the record before it (last_gen) nor newer than the meta
 * page's, a known kind with lengths in range, within the circle, and, starting before the
 * durable head, ending by it (every record there was written whole before a durable point).
 * *len gets the bytes it takes (a pad: the rest of its page). */
static bool scan_fits(const struct awc_kv *kv, const struct kv_hdr *h, uint64_t pos, uint64_t tail,
                      uint64_t durable_head, uint64_t last_gen, uint64_t meta_gen, uint64_t *len)
{
    if (h->gen < last_gen || h->gen > meta_gen)
        return false;
    if (h->magic == KV_REC_PAD) {
        *len = round_up(pos + 1, kv->ps) - pos;
        return true;
    }
    if ((h->magic != KV_REC_ITEM && h->magic != KV_REC_TOMB) || h->key_len == 0 ||
        h->key_len > AWC_KV_MAX_KEY || h->value_len > AWC_KV_MAX_VALUE ||
        (h->magic == KV_REC_TOMB && h->value_len != 0))
        return false;
    *len = kv_rec_len(h->key_len, h->value_len);
    if (pos + *len - tail > kv->cap)
        return false;
    return pos >= durable_head || pos + *len <= durable_head;
}

/* The log ends at pos, past the durable head, where the page reads back damaged (README 9.5
 * step 4): returns where the head goes. At a page's start, there: the next record overwrites the
 * page whole (AWC_OVERWRITE). Inside it, the page is written anew, zeros with a pad at pos, and the
 * head goes to the next page: so the log stays one chain of records, and the next open's scan does
 * not meet this damage before its durable head (which would drop every item before it). The
 * bytes before pos on the page (the end of a record's value: a record whose bytes past its key
 * were not read) read back damaged either way. Best effort: should the write fail, the next
 * open drops the items before the page (never a wrong value). */
static uint64_t seal_damaged_page(struct awc_kv *kv, uint64_t pos)
{
    uint64_t page = kv_page_of(kv, pos);
    struct kv_hdr pad = {KV_REC_PAD, 0, 0, pos, 0, kv->gen, 0};
    void *p;

    if (pos % kv->ps == 0)
        return pos;
    if (awc_pin(kv->cache, page, AWC_OVERWRITE, &p) == AWC_OK) {
        memset(p, 0, kv->ps); /* (not in frames: it failed its read) */
        kv_hdr_encode(&pad, (uint8_t *)p + pos % kv->ps);
        (void)awc_unpin(kv->cache, page, 1);
    }
    return round_up(pos, kv->ps);
}

/* After a checkpoint, the records the scan applies mostly replace items the checkpoint gave,
 * whose records lie anywhere in the log and are read (their keys compared) one by one: a random
 * read each. This reads them ahead, many at once (README 9.7.5): it walks the whole records from
 * pos (up to `pages` pages on), finds the candidates the index holds for each key, and pins their
 * pages in batches (one batched read for the misses), unpinning them at once so that they wait in
 * frames. Only a hint: it stops at the first record it cannot read whole in one page, and errors
 * are ignored. Returns where it stopped. The opening thread only. */
#define AHEAD_PAGES 256u  /* pages of log read ahead at once */
#define AHEAD_MAX   1024u /* candidate pages at most per call (and per batch) */

static uint64_t read_ahead(struct awc_kv *kv, uint64_t pos, uint64_t end)
{
    uint64_t want[AHEAD_MAX], cand[KV_CANDIDATES];
    size_t n = 0, batch = kv->slots / 4 < AHEAD_MAX ? (size_t)(kv->slots / 4) : AHEAD_MAX;
    void *ptrs[AHEAD_MAX];

    while (pos < end && n + KV_CANDIDATES <= AHEAD_MAX) {
        uint64_t page = kv_page_of(kv, pos), cursor = 0, hash;
        size_t off = (size_t)(pos % kv->ps), got;
        struct kv_hdr h;
        void *p;

        if (kv->ps - off < KV_HDR) {
            pos = round_up(pos, kv->ps);
            continue;
        }
        if (awc_pin(kv->cache, page, AWC_SHARED, &p) != AWC_OK)
            break;
        if (!kv_hdr_decode((const uint8_t *)p + off, &h) || h.pos != pos ||
            (h.magic != KV_REC_PAD && off + KV_HDR + h.key_len > kv->ps)) {
            awc_unpin(kv->cache, page, 0);
            break;
        }
        if (h.magic == KV_REC_PAD) {
            awc_unpin(kv->cache, page, 0);
            pos = round_up(pos + 1, kv->ps);
            continue;
        }
        hash = kv_hash(kv, (const uint8_t *)p + off + KV_HDR, h.key_len);
        awc_unpin(kv->cache, page, 0);
        plat_mutex_lock(&kv->imu);
        got = kv_index_find(&kv->idx, hash, &cursor, cand, KV_CANDIDATES);
        plat_mutex_unlock(&kv->imu);
        for (size_t i = 0; i < got; i++)
            want[n++] = kv_page_of(kv, cand[i]);
        pos += kv_rec_len(h.key_len, h.value_len);
    }
    qsort(want, n, sizeof(want[0]), cmp_u64);
    for (size_t i = 0, m = 0; i <= n && batch > 0; i++) {
        if (i < n && (m == 0 || want[m - 1] != want[i]))
            want[m++] = want[i]; /* distinct, in order */
        if (m == batch || (i == n && m > 0)) {
            if (awc_pin_batch(kv->cache, want, m, AWC_SHARED, ptrs) == AWC_OK)
                for (size_t j = 0; j < m; j++)
                    awc_unpin(kv->cache, want[j], 0);
            m = 0;
        }
    }
    return pos;
}

/* Where the scan starts (README 9.5, 9.7.5): at the meta page's tail, or at the head of the
 * checkpoint loaded (the records before it are in the index already). */
struct scan_from {
    uint64_t pos;  /* the first record to read */
    uint64_t tail; /* the log's tail (the circle is measured from it) */
    uint64_t gen;  /* the generation of the record before pos (0: none) */
};

/* Steps of the scan (README 9.5):
 * 1. From `from` (the meta page's tail, or the checkpoint's head), read record after record; skip
 * to the next page where a page has no room for a header.
 * 2. A record continues the log when its header is whole and at its own position on a page that
 *    reads back undamaged, and fits (scan_fits: generation, kind, lengths, circle, durable
 *    head).
 * 3. Its sum is checked past the meta page's durable head, and before it when its key runs onto
 *    a page after the header's (should a page ever read back as zeros without a checksum
 *    failure, it must not stand in for part of a key: the record would shadow or delete the
 *    wrong key). A record whose sum fails, or whose key is on a damaged page, does not continue
 *    the log.
 * 4. A record that does not continue the log, past the durable head: the log ends there (crash
 *    leftovers; on a damaged page, seal_damaged_page). But when a meta page was damaged (the
 *    durable head read may be an older one), a record on a damaged page or failing its sum
 *    there is taken for damage as in step 5, resynchronising up to the whole circle; where
 *    nothing whole follows, the log ends at the next page and the damaged page stays as it is,
 *    so that the next open meets it before its durable head (step 5) and drops again whatever
 *    came before it.
 * 5. Before the durable head, it can only be damage (every record there was covered by a
 *    completed durable point): every item indexed so far is dropped (scan_drop_all: a record
 *    lost in the damage may have replaced or deleted any of them), and the scan goes on from
 *    the next whole header at its own position in the pages after (resync), or from the
 *    durable head when there is none before it.
 * 6. Apply the record (a pad: go to the next page), once the tail's region is reclaimed if the
 *    record reaches into it a lap later (scan_make_room); the head is where the log ended. */
static int scan(struct awc_kv *kv, const struct scan_from *from, uint64_t durable_head,
                uint64_t meta_gen, bool meta_damaged)
{
    uint64_t pos = from->pos, tail = from->tail, last_gen = from->gen, now = now_ms(kv);
    uint64_t ahead = pos; /* read_ahead has been as far as this (after a checkpoint) */
    int rc;

    while (pos - tail < kv->cap) {
        struct kv_hdr h;
        uint64_t len = 0, next;
        bool hdr_damaged, ok;

        /* Step 1 */
        if (pos % kv->ps != 0 && kv->ps - pos % kv->ps < KV_HDR) {
            pos = round_up(pos, kv->ps);
            continue;
        }
        if (pos % kv->ps == 0 && pos / kv->ps % 256 == 0)
            (void)awc_prefetch(kv->cache, kv_page_of(kv, pos),
                               kv->log_pages - (pos / kv->ps % kv->log_pages) < 256
                                   ? kv->log_pages - (pos / kv->ps % kv->log_pages)
                                   : 256);
        if (from->gen != 0 && pos >= ahead)
            ahead = read_ahead(kv, pos, pos + AHEAD_PAGES * kv->ps);
        rc = kv_read_hdr(kv, pos, &h);
        if (rc != AWC_OK && rc != AWC_ENOTFOUND && rc != AWC_ECHECKSUM)
            return rc;
        hdr_damaged = rc == AWC_ECHECKSUM;
        /* Step 2 */
        ok = rc == AWC_OK && scan_fits(kv, &h, pos, tail, durable_head, last_gen, meta_gen, &len);
        /* Step 3 */
        if (ok && h.magic != KV_REC_PAD &&
            (pos >= durable_head || pos % kv->ps + KV_HDR + h.key_len > kv->ps)) {
            rc = kv_read_verify(kv, pos, &h, NULL);
            if (rc != AWC_OK && rc != AWC_ECHECKSUM)
                return rc;
            ok = rc == AWC_OK;
        }
        /* Step 6 */
        if (ok && h.magic != KV_REC_PAD) {
            scan_make_room(kv, pos, pos + len);
            rc = scan_apply(kv, pos, &h, now);
            if (rc != AWC_OK && rc != AWC_ECHECKSUM)
                return rc;
            ok = rc == AWC_OK; /* AWC_ECHECKSUM: its key is on a damaged page */
        }
        if (ok) {
            last_gen = h.gen;
            pos += len;
            continue;
        }
        /* Step 4 */
        if (pos >= durable_head && !(meta_damaged && (hdr_damaged || rc == AWC_ECHECKSUM))) {
            if (hdr_damaged)
                pos = seal_damaged_page(kv, pos);
            break;
        }
        if (pos >= durable_head) {
            /* A meta page was damaged, so the durable head may lie further on: damage here may
             * hide flushed records. Drop what came before and go on after it, if anything
             * whole follows; else the log ends here. */
            scan_drop_all(kv);
            next = resync(kv, pos, tail + kv->cap);
            if (next == UINT64_MAX) {
                /* The log ends; the damaged page is left as it is (not sealed: the next open,
                 * its durable head past it, must meet the damage again, step 5) and the head
                 * goes to the next page. */
                pos = round_up(pos + 1, kv->ps);
                break;
            }
            pos = next;
            continue;
        }
        /* Step 5 */
        scan_drop_all(kv);
        next = resync(kv, pos, durable_head);
        pos = next != UINT64_MAX ? next : durable_head;
    }
    kv->head = pos;
    kv->open_scanned = pos - from->pos;
    atomic_store_explicit(&kv->recovered, kv->items, memory_order_relaxed);
    return AWC_OK;
}

static void kv_release_all(struct awc_kv *kv)
{
    kv_index_free(&kv->idx);
    kv_free(kv->regions);
    kv->regions = NULL;
    plat_mutex_destroy(&kv->wmu);
    plat_mutex_destroy(&kv->imu);
}

/* Opens the page cache underneath: an existing file, or a new one with AWC_CREATE. *created
 * says which. */
static int open_cache(const struct awc_kv_config *cfg, struct awc_kv *kv, bool *created)
{
    struct awc_config c = {0};
    int rc;

    c.path = cfg->path;
    c.page_size = kv->ps;
    c.frame_budget = cfg->frame_budget;
    c.window_budget = cfg->window_budget; /* 0: the cache's default (README 9.1, 1.1) */
    c.flags = cfg->flags & (AWC_NO_DIRECT | AWC_NO_URING);
    *created = false;
    if ((cfg->flags & AWC_EXCL) == 0 || (cfg->flags & AWC_CREATE) == 0) {
        rc = awc_open(&c, &kv->cache);
        if (rc != AWC_ENOENT || (cfg->flags & AWC_CREATE) == 0)
            return rc;
    }
    c.flags |= AWC_CREATE | AWC_EXCL;
    rc = awc_open(&c, &kv->cache);
    *created = rc == AWC_OK;
    return rc;
}

/* Whether the existing file at path holds no key-value cache, as its header says without
 * opening it (so that nothing in it changes): no valid superblock (a file of no bytes, say), or
 * no page written (a page-cache file made by awc_open and awc_close, or by an awc_kv_open that
 * created the file and crashed before its first durable point). False for a missing file and
 * any error: awc_open reports those. */
static bool holds_no_kv(const char *path)
{
    struct awc_file_info fi;
    int rc = awc_get_file_info(path, &fi);

    return rc == AWC_EBADFILE || (rc == AWC_OK && fi.pages == 0);
}

/* A new file's id (README 9.7.2): nonzero, and different for each file made (the clocks, this
 * handle's address and a count, hashed). */
static uint64_t new_file_id(const struct awc_kv *kv)
{
    static _Atomic uint64_t made;
    uint64_t w[4] = {plat_clock_ns(), plat_realtime_ms(), (uint64_t)(uintptr_t)kv,
                     atomic_fetch_add(&made, 1)};
    uint64_t id = kv_sum(w[0], w, sizeof(w), NULL, 0);

    return id != 0 ? id : 1;
}

/* After a checkpoint taken at tail `from` is loaded, the meta page's tail may be further on
 * (regions reclaimed since): the items before it leave the index and the regions wholly behind
 * it are emptied (README 9.7.5; the tail is always the first record of its region, or a
 * region's start, so no region is cut in two). False when the counters do not agree with the
 * index (not a checkpoint this code wrote). The opening thread only. */
static bool ck_trim(struct awc_kv *kv, uint64_t from, uint64_t tail)
{
    uint64_t gone, dropped = 0, qs, qe;

    if (tail == from)
        return true; /* nothing before it: every item is at or past `from` (kv_ck_load) */
    gone = kv_index_sweep(&kv->idx, tail);

    region_span(kv, from, &qs, &qe);
    for (uint64_t x = qs; x < tail; x = qe) {
        struct kv_region *g = &kv->regions[kv_region_of(kv, x)];

        region_span(kv, x, &qs, &qe);
        if (qe > tail)
            break;
        dropped += region_empty(kv, g);
    }
    return dropped == gone;
}

/* Step 4 of awc_kv_open: the index from the checkpoint the meta page names and the log after it,
 * or, when there is none or it cannot be used (README 9.7.4), from the whole log. */
static int build_index(struct awc_kv *kv, const struct kv_meta *m, bool found, bool meta_damaged)
{
    struct scan_from from = {m->tail, m->tail, 0};
    uint64_t ck_gen = 0;

    kv->open_index = found ? AWC_KV_INDEX_SCAN : AWC_KV_INDEX_NEW;
    if (found && m->ck.seq != 0) {
        /* A damaged meta page: the durable head read may be an older one's; the whole log is
         * scanned under 9.5's rules for it. */
        bool ok = !meta_damaged && kv_ck_load(kv, m, &ck_gen);

        if (ok && !ck_trim(kv, m->ck.tail, m->tail)) {
            kv_index_free(&kv->idx);
            ok = false;
            if (kv_index_init(&kv->idx) != AWC_OK)
                return AWC_ENOMEM;
            for (uint64_t r = 0; r < kv->nregions; r++)
                kv->regions[r] = (struct kv_region){0, 0, UINT64_MAX};
            kv->items = kv->bytes = 0;
        }
        if (ok) {
            kv->open_index = AWC_KV_INDEX_CHECKPOINT;
            kv->open_loaded = kv->items;
            kv->ck.changes = kv->changes;
            from.pos = m->ck.head;
            from.gen = ck_gen;
        } else {
            kv->ck_rejected = 1;
            kv->ck = (struct kv_ck){0}; /* the next durable point that takes one starts anew */
        }
    }
    return scan(kv, &from, m->head, m->gen, meta_damaged);
}

/* Steps of awc_kv_open:
 * 1. Check the configuration. An existing file that holds no key-value cache (holds_no_kv) is
 *    AWC_EBADFILE, untouched, unless AWC_CREATE and a capacity make a new cache of it (an
 *    interrupted creation looks just like it). Open (or create) the page cache.
 * 2. Read the meta pages. None valid: a new file (created now, or with AWC_CREATE and a
 *    capacity, one holding no page: created by an open that crashed before its first durable
 *    point) is given an empty log; any other file is not ours (AWC_EBADFILE).
 * 3. Check the file's geometry against the configuration.
 * 4. Load the checkpoint the meta page names and scan the log after it, or scan the whole log
 *    (build_index, README 9.7.4); then a durable point with this open's generation, so that
 *    every record this open writes is younger than anything a crash left behind. A file of
 *    version 1 (before checkpoints: no file id) is given an id here and scanned.
 * 5. Start the write-behind thread (README 9.3 step 5), last: no later step can fail. */
AWC_API int awc_kv_open(const struct awc_kv_config *cfg, awc_kv_t **out)
{
    struct awc_kv *kv;
    struct kv_meta m = {0};
    struct awc_stats st;
    bool created, found, meta_damaged = false;
    int rc;

    /* Step 1 */
    if (out == NULL)
        return AWC_EINVAL;
    *out = NULL;
    if (cfg == NULL || cfg->path == NULL)
        return AWC_EINVAL;
    if ((cfg->flags & ~(AWC_CREATE | AWC_EXCL | AWC_NO_DIRECT | AWC_NO_URING | AWC_KV_WEAK_HASH)) !=
        0)
        return AWC_EINVAL;
    kv = calloc(1, sizeof(*kv));
    if (kv == NULL)
        return AWC_ENOMEM;
    kv->ps = cfg->page_size != 0 ? cfg->page_size : 4096;
    kv->flags = cfg->flags;
    kv->clock_ms = cfg->clock_ms;
    kv->clock_arg = cfg->clock_arg;
    if (cfg->capacity != 0 &&
        (cfg->capacity / kv->ps < KV_MIN_PAGES || cfg->capacity > KV_INDEX_SPAN)) {
        free(kv);
        return AWC_EINVAL;
    }
    /* (with AWC_CREATE and AWC_EXCL any existing file is AWC_EEXIST) */
    if (((cfg->flags & AWC_CREATE) == 0 || (cfg->capacity == 0 && (cfg->flags & AWC_EXCL) == 0)) &&
        holds_no_kv(cfg->path)) {
        free(kv);
        return AWC_EBADFILE;
    }
    if (plat_mutex_init(&kv->wmu) != 0) {
        free(kv);
        return AWC_ENOMEM;
    }
    if (plat_mutex_init(&kv->imu) != 0) {
        plat_mutex_destroy(&kv->wmu);
        free(kv);
        return AWC_ENOMEM;
    }
    rc = kv_index_init(&kv->idx);
    if (rc == AWC_OK)
        rc = open_cache(cfg, kv, &created);
    if (rc != AWC_OK)
        goto fail_nocache;
    rc = awc_get_stats(kv->cache, &st);
    if (rc != AWC_OK)
        goto fail;
    kv->slots = st.slots;
    kv->wb_every = st.frames / 8;
    if (kv->wb_every < 16)
        kv->wb_every = 16;
    if (kv->wb_every > 1024)
        kv->wb_every = 1024;
    kv->wb_every *= kv->ps;

    /* Step 2 */
    rc = kv_meta_read(kv, &m, &found, &meta_damaged);
    if (rc != AWC_OK)
        goto fail;
    if (!found) {
        if (!created &&
            (st.pages_in_file != 0 || (cfg->flags & AWC_CREATE) == 0 || cfg->capacity == 0)) {
            rc = AWC_EBADFILE;
            goto fail;
        }
        if (cfg->capacity == 0) {
            rc = AWC_EINVAL; /* a new cache needs its capacity */
            goto fail;
        }
        m.page_size = (uint32_t)kv->ps;
        m.capacity = cfg->capacity / kv->ps * kv->ps;
        m.region_pages = m.capacity / kv->ps / KV_REGIONS;
        if (m.region_pages == 0)
            m.region_pages = 1;
        m.seq = 0;
        m.tail = m.head = m.gen = 0;
    }
    /* Step 3 */
    if (m.page_size != kv->ps || m.capacity % kv->ps != 0 || m.capacity / kv->ps < KV_MIN_PAGES ||
        m.region_pages == 0 || m.region_pages > m.capacity / kv->ps || m.tail > m.head ||
        m.head - m.tail > m.capacity || m.capacity > KV_INDEX_SPAN) {
        rc = found ? AWC_EBADFILE : AWC_EINVAL;
        goto fail;
    }
    if (cfg->capacity != 0 && cfg->capacity / kv->ps * kv->ps != m.capacity) {
        rc = AWC_EINVAL;
        goto fail;
    }
    kv->cap = m.capacity;
    kv->log_pages = m.capacity / kv->ps;
    kv->region_pages = m.region_pages;
    kv->nregions = (kv->log_pages + kv->region_pages - 1) / kv->region_pages;
    kv->regions = kv_alloc((size_t)kv->nregions * sizeof(*kv->regions));
    if (kv->regions == NULL) {
        rc = AWC_ENOMEM;
        goto fail;
    }
    for (uint64_t r = 0; r < kv->nregions; r++)
        kv->regions[r].first = UINT64_MAX;
    atomic_store(&kv->tail, m.tail);
    kv->durable_tail = m.tail;
    kv->meta_seq = m.seq;
    kv->file_id = m.file_id != 0 ? m.file_id : new_file_id(kv);
    kv->ck = m.file_id != 0 ? m.ck : (struct kv_ck){0};

    /* Step 4 */
    kv->gen = m.gen + 1;
    rc = build_index(kv, &m, found, meta_damaged);
    if (rc != AWC_OK)
        goto fail;
    kv->wb_next = kv->head + kv->wb_every;
    rc = durable_point(kv, false);
    /* Step 5 */
    if (rc == AWC_OK)
        rc = wb_start(kv);
    if (rc != AWC_OK)
        goto fail;
    kv->magic = KV_MAGIC;
    *out = kv;
    return AWC_OK;
fail:
    /* A file this call created is removed while its lock is still held: removed after the close,
     * another process could have opened it in between and would lose it. Where an open file
     * cannot be removed (Windows), it stays, holding no item: the next open with AWC_CREATE and
     * a capacity takes it for a new cache (step 2). */
    if (created)
        (void)remove(cfg->path);
    (void)awc_close(kv->cache);
fail_nocache:
    kv_release_all(kv);
    free(kv);
    return rc;
}

AWC_API int awc_kv_close(awc_kv_t *kv)
{
    int rc = check_kv(kv), rc2;

    if (rc != AWC_OK)
        return rc;
    if (atomic_load_explicit(&kv->refs, memory_order_acquire) != 0)
        return AWC_EBUSY; /* without waiting for the writer lock: this thread may hold them */
    wmu_lock(kv);
    rc = check_kv(kv);
    if (rc == AWC_OK && atomic_load_explicit(&kv->refs, memory_order_acquire) != 0)
        rc = AWC_EBUSY;
    if (rc != AWC_OK) {
        plat_mutex_unlock(&kv->wmu);
        return rc;
    }
    kv->magic = KV_DEAD;
    wb_stop(kv); /* README 9.3 step 5: what was posted is written back, then the flush the rest */
    rc = durable_point(kv, true);
    plat_mutex_unlock(&kv->wmu);
    rc2 = awc_close(kv->cache);
    if (rc == AWC_OK)
        rc = rc2;
    kv_release_all(kv);
    kv->cache = NULL;
    kv->next_closed = atomic_load_explicit(&closed_kvs, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&closed_kvs, &kv->next_closed, kv,
                                                  memory_order_release, memory_order_relaxed))
        ;
    return rc;
}

AWC_API int awc_kv_get_stats(awc_kv_t *kv, struct awc_kv_stats *s)
{
    int rc = check_kv(kv);

    if (rc != AWC_OK)
        return rc;
    if (s == NULL)
        return AWC_EINVAL;
    memset(s, 0, sizeof(*s));
    rc = awc_get_stats(kv->cache, &s->cache);
    if (rc != AWC_OK)
        return rc;
    plat_mutex_lock(&kv->imu);
    s->items = kv->items;
    s->bytes = kv->bytes;
    s->index_bytes = kv->idx.bytes + kv->nregions * sizeof(struct kv_region);
    s->index_slots = kv->idx.mask + 1;
    plat_mutex_unlock(&kv->imu);
    s->log_used = kv->head - load_tail(kv);
    s->capacity = kv->cap;
    s->region_bytes = kv->region_pages * kv->ps;
    s->hits = atomic_load_explicit(&kv->hits, memory_order_relaxed);
    s->misses = atomic_load_explicit(&kv->misses, memory_order_relaxed);
    s->puts = atomic_load_explicit(&kv->puts, memory_order_relaxed);
    s->deletes = atomic_load_explicit(&kv->deletes, memory_order_relaxed);
    s->evictions = atomic_load_explicit(&kv->evictions, memory_order_relaxed);
    s->expired = atomic_load_explicit(&kv->expired, memory_order_relaxed);
    s->reclaims = atomic_load_explicit(&kv->reclaims, memory_order_relaxed);
    s->recovered = atomic_load_explicit(&kv->recovered, memory_order_relaxed);
    s->dropped_damaged = atomic_load_explicit(&kv->dropped_damaged, memory_order_relaxed);
    s->open_index = kv->open_index;
    s->open_checkpoint_rejected = kv->ck_rejected;
    s->open_loaded = kv->open_loaded;
    s->open_scanned = kv->open_scanned;
    s->checkpoints = atomic_load_explicit(&kv->checkpoints, memory_order_relaxed);
    s->checkpoint_bytes = atomic_load_explicit(&kv->ck_bytes, memory_order_relaxed);
    return AWC_OK;
}
