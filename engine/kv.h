/*
 * engine/kv.h: the key-value cache's structures, shared by kv.c (the API), kv_log.c (records on
 * the log's pages) and kv_index.c (the index in RAM). engine/README.md section 9 is the design;
 * section numbers below point into it.
 *
 * The backing file is a page cache (awc_t) whose pages are used as follows:
 *
 *   page 0, page 1      two meta pages, written alternately by each durable point (9.5)
 *   pages 2 .. 2+N-1    the log: N = capacity / page_size pages, used as a circle. A byte at
 *                       logical position x (x grows for ever) lives on page 2 + (x / P) % N.
 *
 *        tail                                      head
 *   ......|=========== items, pads, tombstones ======|..................  (logical positions)
 *         |<----------------- at most N * P ---------------->|
 *
 * The log is cut into regions of R pages (R = max(1, N / 64)); when a put needs room, the region
 * that holds `tail` is reclaimed whole and `tail` moves to its end (9.3).
 *
 * Past the log, two checkpoint areas A and B (9.7) of the index, interleaved in chunks of
 * C = KV_CK_CHUNK pages so that each grows from the log's end without a hole:
 *
 *   pages 2+N ..        A0 (C pages) | B0 (C pages) | A1 | B1 | ...   area a's page i is page
 *                       2 + N + (2 * (i / C) + a) * C + i % C
 *
 * A checkpoint is one byte stream over its area's pages: a 128-byte header (9.7.1), then one
 * 16-byte entry per region {bytes, first}, then one per item {hash, pos} in table order. The
 * meta page names the newest checkpoint (its sequence number, length and XXH3 digest, seeded
 * with the file's id and the checkpoint version); checkpoint k is in area k % 2.
 *
 * The index (9.4): an open-addressing table of 16-byte slots {hash, pos}: hash is the key's XXH3
 * with the top bit set (0 marks an empty slot), pos the item's logical position. Keys are not in
 * RAM: a lookup compares the key stored in the record on the page.
 */
#ifndef AWECACHE_ENGINE_KV_H
#define AWECACHE_ENGINE_KV_H

#include "awecache.h"
#include "plat_sync.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Records on the log (README 9.2) ----------------------------------------------------- */

#define KV_META_PAGES 2u
#define KV_HDR        48u         /* bytes of a record header */
#define KV_ALIGN      8u          /* records start at multiples of this */
#define KV_REC_ITEM   0x4d54494bu /* "KITM" */
#define KV_REC_TOMB   0x424d544bu /* "KTMB": a delete */
#define KV_REC_PAD    0x4441504bu /* "KPAD": the rest of this page is unused */

/* A record header, decoded (on the page it is little-endian, see kv_hdr_encode). */
struct kv_hdr {
    uint32_t magic;     /* KV_REC_* */
    uint32_t key_len;   /* 1..AWC_KV_MAX_KEY (0 for a pad) */
    uint32_t value_len; /* 0..AWC_KV_MAX_VALUE (0 for a tombstone or pad) */
    uint64_t pos;       /* the record's own logical position (detects a record of another lap) */
    uint64_t expiry_ms; /* 0: never */
    uint64_t gen;       /* the open that wrote it (detects a record left from before a crash) */
    uint64_t sum;       /* XXH3 of key and value, seeded with pos */
};

/* The bytes a record with these lengths takes in the log (header, key, value, padding to 8). */
static inline uint64_t kv_rec_len(uint32_t key_len, uint64_t value_len)
{
    return (KV_HDR + key_len + value_len + KV_ALIGN - 1) / KV_ALIGN * KV_ALIGN;
}

/* ---- The index (README 9.4) -------------------------------------------------------------- */

/* A slot is KV_SLOT_BYTES bytes, unaligned (README 9.4): the key's tag (the hash's low 40 bits
 * with bit 39 set; 0: empty) and the item's position / KV_ALIGN modulo 2^40 (the rest comes from
 * `top`, which no position in the index is more than KV_INDEX_SPAN below). */
#define KV_SLOT_BYTES 10u
#define KV_INDEX_SPAN (UINT64_C(1) << 42) /* bytes: a log of up to this capacity can be indexed */

#define KV_HASH_SET   (UINT64_C(1) << 63)
#define KV_INDEX_MIN  1024u /* slots: the table never shrinks below this */
#define KV_CANDIDATES 16u   /* candidates a lookup returns at once (more: it is called again) */

struct kv_index {
    uint8_t *t;     /* 2^k slots of KV_SLOT_BYTES */
    uint64_t mask;  /* slots - 1 */
    uint64_t used;  /* slots holding an item */
    uint64_t bytes; /* the table's allocation (as the allocator reports it) */
    uint64_t top;   /* the highest position ever put in (positions decode relative to it) */
};

/* Per region counters (README 9.3). */
struct kv_region {
    uint64_t items; /* live items whose record starts in the region (under imu) */
    uint64_t bytes; /* their keys' and values' bytes (under imu) */
    uint64_t first; /* the first record that starts in the region in its newest lap (logical;
                     * stale when below the region's start in the lap after it; under wmu) */
};

/* ---- The cache --------------------------------------------------------------------------- */

/* ---- Checkpoints (README 9.7) ------------------------------------------------------------- */

#define KV_CK_CHUNK 256u /* pages: the areas alternate in chunks of this many */
#define KV_CK_HDR   128u /* bytes of a checkpoint's header */
#define KV_CK_ENTRY 16u  /* bytes of a region's or an item's entry */
#define KV_CK_FACTOR                                                                               \
    2u /* a checkpoint at a durable point once the log written since the last                      \
        * one is this many times the checkpoint's size (9.7.3) */

/* The checkpoint the newest meta page names (README 9.7): seq 0 is none. */
struct kv_ck {
    uint64_t seq;  /* its sequence number (area seq % 2) */
    uint64_t head; /* the log's head and tail when it was taken */
    uint64_t tail;
    uint64_t bytes;   /* the length of its byte stream */
    uint64_t sum;     /* its digest (kv_ck_seed) */
    uint64_t changes; /* (RAM only) kv->changes when it was taken or loaded */
};

#define KV_MAGIC 0x4b564f50u /* "KVOP" while open */
#define KV_DEAD  0x4b56434cu /* "KVCL" once closed */

struct awc_kv {
    uint32_t magic;             /* KV_MAGIC or KV_DEAD */
    struct awc_kv *next_closed; /* the list of closed handles (never freed, like awc_t's) */
    awc_t *cache;               /* the pages */
    size_t ps;                  /* page size */
    uint64_t log_pages;         /* N */
    uint64_t cap;               /* N * P: bytes of log */
    uint64_t region_pages;      /* R */
    uint64_t nregions;          /* ceil(N / R) */
    unsigned flags;             /* the config's */
    uint64_t (*clock_ms)(void *arg);
    void *clock_arg;
    uint64_t slots; /* the window's slots (a reference may pin at most this many) */

    /* Under wmu (the writer lock: puts, deletes, flushes, reclaims; README 9.6). */
    plat_mutex_t wmu;
    _Atomic uint64_t head; /* where the next record goes (read without wmu by the stats) */
    uint64_t durable_tail; /* the tail the newest meta page on disk says */
    uint64_t meta_seq;     /* the newest meta page's sequence number */
    uint64_t gen;          /* this open's generation (README 9.5) */
    uint64_t file_id;      /* the file's id (its meta pages; seeds the checkpoints' digest) */
    struct kv_ck ck;       /* the checkpoint the newest meta page names (README 9.7) */
    uint64_t wb_every;     /* bytes of log between write-backs (README 9.3 step 5) */
    uint64_t wb_next;      /* the head position of the next write-back request */

    /* The write-behind thread (README 9.3 step 5, 9.6 rule 5): it writes back the log's pages
     * that the writer has filled while puts go on. The writer (under wmu) posts wb_to; the
     * thread alone calls awc_writeback_range for the log, and publishes wb_done. Positions are
     * logical and page-aligned, and only grow; wb_done <= wb_to. */
    plat_thread_t wb_thread;
    bool wb_started;          /* the thread runs (set by the open, cleared by close's join) */
    _Atomic uint64_t wb_to;   /* the log before this is due to be written back */
    _Atomic uint64_t wb_done; /* the thread's write-backs have covered the log before this */
    _Atomic uint32_t
        wb_kick;             /* bumped after each request and at the stop: the thread waits on it */
    _Atomic uint32_t wb_ack; /* bumped after each write-back: a writer held back waits on it */
    _Atomic bool wb_stop;    /* close: the thread writes back what is due, then ends */

    /* Under imu (the index lock): the index, the region counters and tail. Readers take it
     * for a lookup only, never across a page pin. */
    plat_mutex_t imu;
    struct kv_index idx;
    struct kv_region *regions; /* [nregions] */
    _Atomic uint64_t tail;     /* oldest logical position still in the log (written under both
                                * locks; read under either, or atomically without) */
    uint64_t items, bytes;     /* sums over regions */
    uint64_t changes;          /* items added or dropped (a checkpoint at close is due when the
                                * newest does not hold them all: README 9.7.3) */

    _Atomic uint64_t refs; /* references (awc_kv_get_ref) held */

    /* Counters (relaxed atomics). */
    _Atomic uint64_t hits, misses, puts, deletes, evictions, expired, reclaims, recovered;
    _Atomic uint64_t dropped_damaged; /* items the scan dropped for damage after them (9.5) */
    _Atomic uint64_t checkpoints;     /* checkpoints made durable and named (9.7) */
    _Atomic uint64_t ck_bytes;        /* the last one's bytes */

    /* How the last open built its index (awc_kv_stats; written once, by the open). */
    unsigned open_index;   /* AWC_KV_INDEX_* */
    unsigned ck_rejected;  /* 1: a checkpoint was named but not usable (9.7.4) */
    uint64_t open_loaded;  /* items the checkpoint gave */
    uint64_t open_scanned; /* bytes of log the scan read */
};

/* The rule of the functions that say "caller holds wmu or is opening", asserted in debug builds:
 * awc_kv_open keeps it without the lock, since no other thread can reach the cache before it
 * returns (the magic is set last). */
static inline void kv_assert_wmu_held_or_opening(const struct awc_kv *kv)
{
    if (kv->magic == KV_MAGIC)
        plat_mutex_assert_held(&kv->wmu);
}

/* ---- kv_index.c -------------------------------------------------------------------------- */

/* The key's hash (top bit set; with AWC_KV_WEAK_HASH only 6 bits of it kept). */
uint64_t kv_hash(const struct awc_kv *kv, const void *key, size_t key_len);

/* Makes an empty table of KV_INDEX_MIN slots. AWC_ENOMEM if it cannot. */
int kv_index_init(struct kv_index *x);
void kv_index_free(struct kv_index *x);

/* Stores into pos[0..max) the positions of the slots whose hash equals `hash`, starting the
 * probe at *cursor (0 the first time) and leaving there where to go on; returns how many it
 * stored. *cursor becomes UINT64_MAX when the probe is over. Caller holds imu. */
size_t kv_index_find(const struct kv_index *x, uint64_t hash, uint64_t *cursor, uint64_t *pos,
                     size_t max);

/* Makes sure that the next kv_index_add succeeds (growing the table now if it is 7/8 full):
 * AWC_ENOMEM if it would not. Removals meanwhile keep it so (a table halves only below 7/32
 * full). Caller holds imu. */
int kv_index_reserve(struct kv_index *x);

/* Adds {hash, pos} (growing the table at 7/8 full; if growing fails the slot is added all the
 * same, the table being never more than 31/32 full: AWC_ENOMEM past that). pos must be at most
 * KV_INDEX_SPAN below every position the index held. Caller holds imu. */
int kv_index_add(struct kv_index *x, uint64_t hash, uint64_t pos);

/* Changes the slot {hash, old_pos} to {hash, new_pos}; false if there is no such slot. Caller
 * holds imu. */
bool kv_index_move(struct kv_index *x, uint64_t hash, uint64_t old_pos, uint64_t new_pos);

/* Removes the slot {hash, pos}; false if there is none. May halve the table below 7/32 full.
 * Caller holds imu. */
bool kv_index_remove(struct kv_index *x, uint64_t hash, uint64_t pos);

/* Removes every slot whose pos is below `tail` (a region was reclaimed); returns how many.
 * Caller holds imu. */
uint64_t kv_index_sweep(struct kv_index *x, uint64_t tail);

/* Replaces the table with an empty one of `slots` slots (a power of two, at least KV_INDEX_MIN),
 * for a checkpoint's entries (README 9.7.4). AWC_ENOMEM (the old table stays), AWC_EINVAL for a
 * bad count. The opening thread only. */
int kv_index_make(struct kv_index *x, uint64_t slots);

/* Adds {hash, pos} from a checkpoint: false (nothing added) when the table would be more than
 * 31/32 full or already holds that very slot. The opening thread only. */
bool kv_index_load(struct kv_index *x, uint64_t hash, uint64_t pos);

/* Slot i of the table: false when it is empty, else its hash (the tag with KV_HASH_SET: what
 * kv_index_load takes back) and position. Caller holds imu. */
bool kv_index_slot(const struct kv_index *x, uint64_t i, uint64_t *hash, uint64_t *pos);

/* Memory from the library's allocator for the index (jemalloc where built with it). */
void *kv_alloc(size_t size);
void kv_free(void *p);

/* ---- kv_log.c ---------------------------------------------------------------------------- */

/* The page cache's page number of logical position `pos`. */
static inline uint64_t kv_page_of(const struct awc_kv *kv, uint64_t pos)
{
    return KV_META_PAGES + pos / kv->ps % kv->log_pages;
}

/* The region of logical position `pos`. */
static inline uint64_t kv_region_of(const struct awc_kv *kv, uint64_t pos)
{
    return pos / kv->ps % kv->log_pages / kv->region_pages;
}

void kv_hdr_encode(const struct kv_hdr *h, uint8_t *b);
/* Decodes b[0..KV_HDR); false when its check fails. */
bool kv_hdr_decode(const uint8_t *b, struct kv_hdr *h);

/* Copies len bytes at logical position pos into buf (pinning each page shared in turn). */
int kv_read(struct awc_kv *kv, uint64_t pos, void *buf, size_t len);

/* Copies buf[0..len) to logical position pos (pinning each page exclusively in turn). */
int kv_write(struct awc_kv *kv, uint64_t pos, const void *buf, size_t len);

/* One piece of what kv_write_parts writes: len bytes at p (p may be NULL when len is 0). */
struct kv_part {
    const void *p;
    size_t len;
};

/* Copies parts[0..n), one after another, to logical position pos: each page pinned exclusively
 * once, in turn, the parts copied straight into it (no staging copy: a record within a page is
 * one pin and one copy of each part). AWC_OK, or the first pin's or unpin's error (pages before
 * it hold their bytes, the rest are unchanged). */
int kv_write_parts(struct awc_kv *kv, uint64_t pos, const struct kv_part *parts, size_t n);

/* Reads and checks the header of the record at pos: AWC_OK and *h, or AWC_ENOTFOUND when the
 * bytes there are not a whole header of a record at pos (another lap's, a pad, garbage). */
int kv_read_hdr(struct awc_kv *kv, uint64_t pos, struct kv_hdr *h);

/* Compares key[0..key_len) with the key of the record at pos (header h), read from its pages:
 * *equal becomes true when they match. AWC_OK, or the error of reading a page (*equal false). */
int kv_key_equal(struct awc_kv *kv, uint64_t pos, const struct kv_hdr *h, const void *key,
                 size_t key_len, bool *equal);

/* The XXH3 checksum of key and value as a record at pos carries it. */
uint64_t kv_sum(uint64_t pos, const void *key, size_t key_len, const void *value, size_t value_len);

/* Reads the record's key and value from the pages and checks them against h->sum; copies the
 * value into value[0..h->value_len) when value is not NULL. AWC_ECHECKSUM on a mismatch. */
int kv_read_verify(struct awc_kv *kv, uint64_t pos, const struct kv_hdr *h, void *value);

/* As kv_read_verify, over the record's pages that the caller holds pinned: page_at(arg, lp)
 * returns the bytes of the log's logical page lp (positions lp * page size onwards). */
int kv_verify_pinned(const struct awc_kv *kv, uint64_t pos, const struct kv_hdr *h,
                     const uint8_t *(*page_at)(void *arg, uint64_t lp), void *arg, void *value);

/* The meta page (README 9.5, 9.7.2). A version 1 page (before checkpoints) reads back with
 * file_id 0 and no checkpoint. */
struct kv_meta {
    uint64_t capacity, region_pages, seq, tail, head, gen, file_id;
    struct kv_ck ck;
    uint32_t page_size;
};
int kv_meta_read(struct awc_kv *kv, struct kv_meta *m, bool *found, bool *damaged);
int kv_meta_write(struct awc_kv *kv, const struct kv_meta *m);

/* Little-endian fields on the pages (written out so that compilers make one load or store of
 * each: a checkpoint decodes two per item). */
static inline void kv_put64(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    p[4] = (uint8_t)(v >> 32);
    p[5] = (uint8_t)(v >> 40);
    p[6] = (uint8_t)(v >> 48);
    p[7] = (uint8_t)(v >> 56);
}
static inline uint64_t kv_get64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* ---- kv_ckpt.c (README 9.7) -------------------------------------------------------------- */

/* The bytes a checkpoint of `items` items takes, and the most an area may hold. */
uint64_t kv_ck_bytes(const struct awc_kv *kv, uint64_t items);
uint64_t kv_ck_area_max(const struct awc_kv *kv);

/* Page i of area a (README 9.7.1). */
uint64_t kv_ck_page(const struct awc_kv *kv, unsigned area, uint64_t i);

/* Whether a durable point should take a checkpoint now (README 9.7.3; `closing`: at close, one
 * is taken unless the newest still describes the log). Caller holds wmu or is opening. */
bool kv_ck_due(struct awc_kv *kv, bool closing);

/* Writes checkpoint kv->ck.seq + 1 of the index into its area and stores what names it in *ck
 * (not yet durable: the caller flushes, then writes the meta page). Caller holds wmu or is
 * opening. AWC_ENOMEM, or the page cache's error (AWC_ENOSPC...): nothing names it then. */
int kv_ck_write(struct awc_kv *kv, struct kv_ck *ck);

/* Loads the checkpoint the meta page m names into the (empty) index and region counters
 * (README 9.7.4): true when it was whole and fits the log; false (index and counters empty
 * again) when there is none or it cannot be used. The opening thread only. */
bool kv_ck_load(struct awc_kv *kv, const struct kv_meta *m, uint64_t *ck_gen);

/* For the fuzzers (fuzz_kv_raw): nonzero makes kv_ck_load take a checkpoint whose digest does
 * not match, so that damaged bytes reach the checks after it. Never set in the library. */
extern int kv_ck_fuzz_skip_digest;

#endif /* AWECACHE_ENGINE_KV_H */
