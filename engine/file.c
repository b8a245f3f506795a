/*
 * engine/file.c: the backing file (README 5, 6): superblocks, segments, checksum records,
 * verified reads and ordered write-backs.
 *
 * File layout (all numbers little-endian; format version 2):
 *
 *   0      superblock copy 0 (4 KiB)
 *   4096   superblock copy 1 (4 KiB)
 *   8192   segment 0: checksum block (4 KiB) + pages 0..254
 *          segment 1: checksum block + pages 255..509
 *          ...
 *
 * Superblock: "AWECACHE" | u32 version | u32 page size | u8[16] file id | u64 pages |
 *             u64 generation | u64 XXH3 of the 48 bytes before it.
 * Checksum block: 255 records {u64 cur, u64 prev} | u64 generation it was written in |
 *             u64 XXH3 (seeded with the file id and the segment number) of the 4088 bytes
 *             before it. With 4 KiB pages a segment is exactly 1 MiB.
 */
#include "internal.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

#define SB_BYTES   4096u
#define DATA_BASE  8192u
#define SEG_PAGES  255u
#define CK_BLOCK   4096u
#define CK_GEN_AT  (SEG_PAGES * 16u) /* the block's generation */
#define CK_SUM_AT  (CK_GEN_AT + 8u)  /* the block's own checksum */
#define FORMAT_VER 2u
#define SB_HASHED  48u
#define READ_CHUNK 64u /* checksum blocks read per batch at open */

_Static_assert(CK_SUM_AT + 8u == CK_BLOCK, "a checksum block is 255 records and two words");

/* Per-page flags (c->ck_flags). */
#define CKF_TRUST_PREV 1u /* `prev` (and zeros for prev 0) may be read back (README 5.3) */

/* Per-segment flags (c->seg_flags). */
#define SEGF_DIRTY     1u /* records changed since its block was last taken: listed in dirty_segs */
#define SEGF_BUSY      2u /* its block is being written by one caller (README 5.4) */
#define SEGF_UNSETTLED 4u /* records written since the last completed flush */

#define CKW_SMALL 4u /* checksum blocks one write-back takes without allocating its arrays */
#define IO_SMALL  8u /* pages one read or write-back handles without allocating its arrays */

/* On a little-endian host one unaligned copy (a checksum block encodes 510 words per write-back:
 * byte by byte that was 4 % of a single-thread run); elsewhere byte by byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static void put_le64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}
#else
static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
#endif

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t file_page_offset(const struct awc *c, uint64_t page)
{
    return DATA_BASE + page / SEG_PAGES * c->seg_bytes + CK_BLOCK +
           (page % SEG_PAGES) * c->page_size;
}

static uint64_t seg_offset(const struct awc *c, uint64_t seg)
{
    return DATA_BASE + seg * c->seg_bytes;
}

/* A page's checksum (README 5.2): XXH3-64, moved off the two values records reserve (0: never
 * written, CK_LOST: unknown). */
static uint64_t page_sum(const void *p, size_t n)
{
#ifdef AWECACHE_AVX2_HASH
    uint64_t h = __builtin_cpu_supports("avx2") ? eng_xxh3_avx2(p, n) : XXH3_64bits(p, n);
#else
    uint64_t h = XXH3_64bits(p, n);
#endif

    return h == 0 || h == CK_LOST ? h ^ 1 : h;
}

/* ---- Superblocks ------------------------------------------------------------------------- */

static void sb_encode(const struct awc *c, uint8_t *b, uint64_t generation)
{
    memset(b, 0, SB_BYTES);
    memcpy(b, "AWECACHE", 8);
    put_le32(b + 8, FORMAT_VER);
    put_le32(b + 12, (uint32_t)c->page_size);
    memcpy(b + 16, c->file_id, 16);
    put_le64(b + 32, c->pages);
    put_le64(b + 40, generation);
    put_le64(b + SB_HASHED, XXH3_64bits(b, SB_HASHED));
}

/* Decodes a superblock copy; false if it is not a valid one. */
static bool sb_decode(const uint8_t *b, uint32_t *page_size, uint8_t *id, uint64_t *pages,
                      uint64_t *generation)
{
    if (memcmp(b, "AWECACHE", 8) != 0 || get_le64(b + SB_HASHED) != XXH3_64bits(b, SB_HASHED) ||
        get_le32(b + 8) != FORMAT_VER)
        return false;
    *page_size = get_le32(b + 12);
    memcpy(id, b + 16, 16);
    *pages = get_le64(b + 32);
    *generation = get_le64(b + 40);
    return true;
}

/* Writes the superblock of `generation` into copy generation % 2. */
static int sb_write(struct awc *c, uint64_t generation)
{
    int rc;

    sb_encode(c, c->iobuf, generation);
    rc = plat_file_write(c->file, c->iobuf, SB_BYTES, (generation % 2) * SB_BYTES);
    if (rc != 0)
        return eng_err(rc);
    atomic_fetch_add_explicit(&c->bytes_written, SB_BYTES, memory_order_relaxed);
    return AWC_OK;
}

/* ---- Checksum records -------------------------------------------------------------------- */

/* Takes ck_mu, never under the cache lock (README 7: a flush holds ck_mu across file writes, and
 * no I/O happens under the cache lock). */
static void ck_lock(struct awc *c)
{
    plat_mutex_assert_not_held(&c->mu);
    plat_mutex_lock(&c->ck_mu);
}

/* The rule of ck_grow, seg_mark_dirty and verify, "caller holds ck_mu", which awc_open keeps
 * without the lock: it builds the records before any other thread can reach the cache (its
 * magic is set last). Asserted in debug builds. */
static void ck_assert_held_or_opening(const struct awc *c)
{
    if (c->magic == AWC_MAGIC)
        plat_mutex_assert_held(&c->ck_mu);
}

/* Makes room for records of segments [0, nseg): new ones are {0, 0}, or lost below
 * c->lost_below (caller holds ck_mu or is opening). */
static int ck_grow(struct awc *c, uint64_t nseg)
{
    uint64_t old = c->nseg * SEG_PAGES, want = nseg * SEG_PAGES;
    struct ckrec *ck;
    uint8_t *flags, *segf;
    uint64_t *list;
    size_t ck_bytes;

    ck_assert_held_or_opening(c);
    if (nseg <= c->nseg)
        return AWC_OK;
    /* The records of a file whose table does not fit the address space (a 32-bit build with a
     * file of terabytes): out of memory, never a truncated size. */
    if (!eng_size_mul(want, sizeof(*ck), &ck_bytes))
        return AWC_ENOMEM;
    ck = realloc(c->ck, ck_bytes);
    if (ck == NULL)
        return AWC_ENOMEM;
    c->ck = ck;
    flags = realloc(c->ck_flags, want);
    if (flags == NULL)
        return AWC_ENOMEM;
    c->ck_flags = flags;
    segf = realloc(c->seg_flags, nseg);
    if (segf == NULL)
        return AWC_ENOMEM;
    c->seg_flags = segf;
    list = realloc(c->dirty_segs, nseg * sizeof(*list));
    if (list == NULL)
        return AWC_ENOMEM;
    c->dirty_segs = list;
    memset(c->ck + old, 0, (want - old) * sizeof(*ck));
    for (uint64_t p = old; p < want && p < c->lost_below; p++)
        c->ck[p] = (struct ckrec){CK_LOST, CK_LOST}; /* a truncated file's missing pages */
    memset(c->ck_flags + old, 0, want - old);
    memset(c->seg_flags + c->nseg, 0, nseg - c->nseg);
    c->nseg = nseg;
    return AWC_OK;
}

/* The seed of segment `seg`'s block checksum: a block of another file or another segment (a
 * misdirected write, a copied block) fails it. */
static uint64_t ck_seed(const struct awc *c, uint64_t seg)
{
    return get_le64(c->file_id) ^ get_le64(c->file_id + 8) ^ (seg * UINT64_C(0x9e3779b97f4a7c15));
}

static void ck_block_encode(const struct awc *c, uint64_t seg, uint8_t *b)
{
    for (uint64_t i = 0; i < SEG_PAGES; i++) {
        put_le64(b + i * 16, c->ck[seg * SEG_PAGES + i].cur);
        put_le64(b + i * 16 + 8, c->ck[seg * SEG_PAGES + i].prev);
    }
    put_le64(b + CK_GEN_AT, c->generation);
    put_le64(b + CK_SUM_AT, XXH3_64bits_withSeed(b, CK_SUM_AT, ck_seed(c, seg)));
}

/* Marks segment seg's checksum block to be written (listed once). Caller holds ck_mu or is
 * opening. */
static void seg_mark_dirty(struct awc *c, uint64_t seg)
{
    ck_assert_held_or_opening(c);
    if ((c->seg_flags[seg] & SEGF_DIRTY) != 0)
        return;
    c->seg_flags[seg] |= SEGF_DIRTY;
    c->dirty_segs[c->ndirty++] = seg;
}

/* A block buffer for a checksum block write: from the free list, else a new one. Caller holds
 * ck_mu. */
static uint8_t *ck_block_get(struct awc *c)
{
    void *b = c->ck_free;

    plat_mutex_assert_held(&c->ck_mu);
    if (b == NULL)
        return plat_aligned_alloc(CK_BLOCK, CK_BLOCK);
    memcpy(&c->ck_free, b, sizeof(void *));
    return b;
}

/* Gives a block buffer back to the free list. Caller holds ck_mu. */
static void ck_block_put(struct awc *c, void *b)
{
    plat_mutex_assert_held(&c->ck_mu);
    memcpy(b, &c->ck_free, sizeof(void *));
    c->ck_free = b;
}

/* Checksum blocks taken for writing by one caller (ck_take, ck_write, ck_done). */
struct ckw {
    size_t n;
    uint64_t *segs;     /* their segments */
    struct plat_io *io; /* one write each, from a block buffer of ck_block_get */
    bool heap;          /* segs and io were allocated (more than CKW_SMALL blocks) */
    uint64_t segs_small[CKW_SMALL];
    struct plat_io io_small[CKW_SMALL];
};

/* Takes every dirty segment no other caller is writing (README 5.4): encodes its block as the
 * records stand, marks it BUSY and takes it off the dirty list (BUSY ones stay listed). On
 * AWC_ENOMEM nothing has changed. Caller holds ck_mu. */
static int ck_take(struct awc *c, struct ckw *w)
{
    size_t want = 0, kept = 0;

    plat_mutex_assert_held(&c->ck_mu);
    w->n = 0;
    w->heap = false;
    w->segs = w->segs_small;
    w->io = w->io_small;
    for (uint64_t i = 0; i < c->ndirty; i++)
        want += (c->seg_flags[c->dirty_segs[i]] & SEGF_BUSY) == 0;
    if (want > CKW_SMALL) {
        w->heap = true;
        w->segs = malloc(want * sizeof(*w->segs));
        w->io = malloc(want * sizeof(*w->io));
        if (w->segs == NULL || w->io == NULL) {
            free(w->segs);
            free(w->io);
            return AWC_ENOMEM;
        }
    }
    for (; w->n < want; w->n++) {
        w->io[w->n].buf = ck_block_get(c);
        if (w->io[w->n].buf == NULL) {
            while (w->n > 0)
                ck_block_put(c, w->io[--w->n].buf);
            if (w->heap) {
                free(w->segs);
                free(w->io);
            }
            return AWC_ENOMEM;
        }
    }
    w->n = 0;
    for (uint64_t i = 0; i < c->ndirty; i++) {
        uint64_t seg = c->dirty_segs[i];

        if ((c->seg_flags[seg] & SEGF_BUSY) != 0) {
            c->dirty_segs[kept++] = seg;
            continue;
        }
        c->seg_flags[seg] = (uint8_t)((c->seg_flags[seg] & ~SEGF_DIRTY) | SEGF_BUSY);
        ck_block_encode(c, seg, w->io[w->n].buf);
        w->io[w->n].len = CK_BLOCK;
        w->io[w->n].off = seg_offset(c, seg);
        w->io[w->n].result = 0;
        w->segs[w->n++] = seg;
    }
    c->ndirty = kept;
    return AWC_OK;
}

/* Writes the blocks ck_take took, one batch (no lock needed: they are BUSY). */
static int ck_write(struct awc *c, struct ckw *w)
{
    int rc = w->n > 0 ? plat_file_write_batch(c->file, w->io, w->n) : 0;

    if (rc == 0)
        atomic_fetch_add_explicit(&c->bytes_written, (uint64_t)w->n * CK_BLOCK,
                                  memory_order_relaxed);
    return rc == 0 ? AWC_OK : eng_err(rc);
}

/* Ends a ck_take: BUSY off; a segment whose write failed is dirty again; buffers back; whoever
 * waits for a segment is woken (after the caller lets ck_mu go). Caller holds ck_mu. */
static void ck_done(struct awc *c, struct ckw *w, bool written)
{
    plat_mutex_assert_held(&c->ck_mu);
    for (size_t i = 0; i < w->n; i++) {
        c->seg_flags[w->segs[i]] &= (uint8_t)~SEGF_BUSY;
        if (!written)
            seg_mark_dirty(c, w->segs[i]);
        ck_block_put(c, w->io[i].buf);
    }
    if (w->heap) {
        free(w->segs);
        free(w->io);
    }
    w->n = 0;
}

/* Writes every dirty checksum block now, holding ck_mu throughout (open, and the flush once no
 * write-back is in flight: then no block is BUSY). Caller holds ck_mu. */
static int ck_write_dirty(struct awc *c)
{
    struct ckw w;
    int rc;

    plat_mutex_assert_held(&c->ck_mu);
    rc = ck_take(c, &w);
    if (rc != AWC_OK)
        return rc;
    rc = ck_write(c, &w);
    ck_done(c, &w, rc == AWC_OK);
    return rc;
}

/* Grows the file to whole segments [0, nseg) (README 5.1) if it is shorter. Every segment whose
 * checksum block the growth brings into the file is marked dirty, so that its block is written
 * before any flush can complete: a checksum block of zeros is thus never a valid one below the
 * superblock's size (README 5.6). Caller holds ck_mu. */
static int file_grow(struct awc *c, uint64_t nseg)
{
    uint64_t want = DATA_BASE + nseg * c->seg_bytes;
    int rc;

    plat_mutex_assert_held(&c->ck_mu);
    if (want <= c->file_bytes)
        return AWC_OK;
    rc = ck_grow(c, nseg);
    if (rc != AWC_OK)
        return rc;
    rc = eng_err(plat_file_resize(c->file, want));
    if (rc != AWC_OK)
        return rc;
    for (uint64_t seg = 0; seg < nseg; seg++)
        if (seg_offset(c, seg) + CK_BLOCK > c->file_bytes)
            seg_mark_dirty(c, seg);
    c->file_bytes = want;
    return AWC_OK;
}

/* ---- Verification (README 5.3) ------------------------------------------------------------ */

static bool all_zero(const void *p, size_t n)
{
    const uint64_t *w = p;

    for (size_t i = 0; i < n / 8; i++)
        if (w[i] != 0)
            return false;
    return true;
}

static void count_failure(struct awc *c)
{
    atomic_fetch_add_explicit(&c->checksum_failures, 1, memory_order_relaxed);
}

/* Judges page p read back with sum h against its record as it was when the read began (README
 * 5.3). Caller holds ck_mu or is opening. */
static int verify(struct awc *c, uint64_t p, struct ckrec rec, uint64_t h, const void *data)
{
    ck_assert_held_or_opening(c);
    if (h == rec.cur)
        return AWC_OK;
    if ((c->ck_flags[p] & CKF_TRUST_PREV) != 0 &&
        (h == rec.prev || (rec.prev == 0 && all_zero(data, c->page_size)))) {
        /* A write-back after the last completed flush was interrupted before its data landed:
         * the older version stands (prev 0: the page had never been written, so the older
         * version is zeros). The record becomes that version's, settled. */
        c->ck[p].cur = rec.prev;
        c->ck_flags[p] = 0;
        seg_mark_dirty(c, p / SEG_PAGES);
        return AWC_OK;
    }
    return AWC_ECHECKSUM;
}

/* ---- Open and close ---------------------------------------------------------------------- */

/* Marks page p's record unknown: the page cannot be verified and fails every read until it is
 * written anew (README 5.3). */
static void ck_lose(struct awc *c, uint64_t p)
{
    c->ck[p].cur = CK_LOST;
    c->ck[p].prev = CK_LOST;
    c->ck_flags[p] = 0;
}

/* Takes in segment seg's checksum block b (README 5.6). A valid block gives its records, with
 * `prev` trusted when the block was written after the last completed flush. A damaged block is
 * read record by record below the superblock's size: a record naming a checksum keeps it,
 * settled (its page is accepted only if it matches exactly: a damaged record fails that, almost
 * surely), and a record of zeros or garbage is lost (a zeroed record cannot be told from a page
 * never written). At or past the superblock's size no flush ever covered a page, so a damaged
 * block there (zeros: a crash while growing; garbage) means pages never written, and is marked
 * to be written anew, so that a later flush cannot take it inside the logical size (README 5.1). */
static void ck_block_load(struct awc *c, uint64_t seg, const uint8_t *b, uint64_t sb_pages)
{
    uint64_t first = seg * SEG_PAGES;
    bool valid = get_le64(b + CK_SUM_AT) == XXH3_64bits_withSeed(b, CK_SUM_AT, ck_seed(c, seg));
    uint8_t trust = valid && get_le64(b + CK_GEN_AT) >= c->generation ? CKF_TRUST_PREV : 0;

    if (!valid)
        seg_mark_dirty(c, seg);
    for (uint64_t r = 0; r < SEG_PAGES; r++) {
        struct ckrec *k = &c->ck[first + r];

        if (!valid && first + r >= sb_pages)
            break; /* never written: {0, 0} as ck_grow made it */
        k->cur = get_le64(b + r * 16);
        k->prev = get_le64(b + r * 16 + 8);
        c->ck_flags[first + r] = trust;
        if (valid)
            continue;
        if (k->cur == 0 || k->cur == CK_LOST)
            ck_lose(c, first + r);
        else
            k->prev = k->cur;
    }
}

/* Steps:
 * 1. Make records for every segment the file holds a whole checksum block of.
 * 2. Read those blocks, a batch at a time, and take each in (ck_block_load).
 * 3. Pages the file is too short for: those below the superblock's size are lost (a truncated
 *    file: c->lost_below), and so is a page whose bytes the file does not hold whole and whose
 *    record says it was written. Nothing is cut or repaired here: opening never destroys what
 *    is on disk.
 * 4. The logical size: the superblock's, or past the last page any record names. */
static int load_checksums(struct awc *c, uint64_t size, uint64_t sb_pages)
{
    struct plat_io io[READ_CHUNK];
    uint8_t *bufs = plat_aligned_alloc(CK_BLOCK, READ_CHUNK * CK_BLOCK);
    uint64_t have =
        size >= DATA_BASE + CK_BLOCK ? (size - DATA_BASE - CK_BLOCK) / c->seg_bytes + 1 : 0;
    uint64_t seg = 0;
    int rc;

    if (bufs == NULL)
        return AWC_ENOMEM;
    /* Step 1 */
    rc = ck_grow(c, have);

    /* Step 2 */
    while (rc == AWC_OK && seg < have) {
        uint64_t n = have - seg < READ_CHUNK ? have - seg : READ_CHUNK;

        for (uint64_t i = 0; i < n; i++) {
            io[i].buf = bufs + i * CK_BLOCK;
            io[i].len = CK_BLOCK;
            io[i].off = seg_offset(c, seg + i);
            io[i].result = 0;
        }
        rc = plat_file_read_batch(c->file, io, (size_t)n);
        if (rc != 0) {
            rc = eng_err(rc);
            break;
        }
        for (uint64_t i = 0; i < n; i++)
            ck_block_load(c, seg + i, bufs + i * CK_BLOCK, sb_pages);
        atomic_fetch_add_explicit(&c->bytes_read, n * CK_BLOCK, memory_order_relaxed);
        seg += n;
    }
    plat_aligned_free(bufs);
    if (rc != AWC_OK)
        return rc;

    /* Step 3 */
    c->lost_below = sb_pages;
    for (uint64_t p = have > 0 ? (have - 1) * SEG_PAGES : 0; p < have * SEG_PAGES; p++)
        if (file_page_offset(c, p) + c->page_size > size && (c->ck[p].cur | c->ck[p].prev) != 0)
            ck_lose(c, p);

    /* Step 4 */
    c->pages = sb_pages;
    for (uint64_t p = c->nseg * SEG_PAGES; p-- > c->pages;) {
        if ((c->ck[p].cur != 0 || c->ck[p].prev != 0) && c->ck[p].cur != CK_LOST) {
            c->pages = p + 1;
            break;
        }
    }
    return AWC_OK;
}

/* Settles, in a read-write open, every record the open found with `prev` trusted (its block was
 * written after the last completed flush, README 5.6): each such page is read and its record
 * becomes the version the disk holds ({cur, cur} or {prev, prev}; a page that is neither keeps
 * its record and fails its reads). Without this, the next flush would make those blocks look
 * settled while the disk may still hold the older version. A page that cannot be read stays
 * trusted. Called before any frame exists, with a buffer of its own. */
static int settle_trusted(struct awc *c)
{
    size_t chunk = c->page_size >= ((size_t)1 << 20) ? 1 : ((size_t)1 << 20) / c->page_size;
    struct plat_io *io = malloc(chunk * sizeof(*io));
    uint64_t *which = malloc(chunk * sizeof(*which));
    char *buf = plat_aligned_alloc(c->page_size, chunk * c->page_size);
    uint64_t p = 0, total = c->nseg * SEG_PAGES;
    int rc = AWC_OK;

    if (io == NULL || which == NULL || buf == NULL)
        rc = AWC_ENOMEM;
    while (rc == AWC_OK && p < total) {
        size_t n = 0;

        for (; p < total && n < chunk; p++) {
            if ((c->ck_flags[p] & CKF_TRUST_PREV) == 0)
                continue;
            io[n].buf = buf + n * c->page_size;
            io[n].len = c->page_size;
            io[n].off = file_page_offset(c, p);
            io[n].result = 0;
            which[n++] = p;
        }
        if (n == 0)
            break;
        plat_file_read_batch(c->file, io, n);
        atomic_fetch_add_explicit(&c->bytes_read, (uint64_t)n * c->page_size, memory_order_relaxed);
        for (size_t i = 0; i < n; i++) {
            uint64_t q = which[i];

            if (io[i].result != 0)
                continue;
            if (verify(c, q, c->ck[q], page_sum(io[i].buf, c->page_size), io[i].buf) == AWC_OK) {
                c->ck[q].prev = c->ck[q].cur;
                c->ck_flags[q] = 0;
                seg_mark_dirty(c, q / SEG_PAGES);
            }
        }
    }
    free(io);
    free(which);
    plat_aligned_free(buf);
    return rc;
}

/* A file id that differs between files: a hash of the time and of addresses of this process. */
static void make_file_id(struct awc *c)
{
    uint64_t seed[3] = {plat_clock_ns(), (uint64_t)(uintptr_t)c, (uint64_t)(uintptr_t)&seed};
    XXH128_hash_t h = XXH3_128bits(seed, sizeof(seed));

    memcpy(c->file_id, &h.high64, 8);
    memcpy(c->file_id + 8, &h.low64, 8);
}

/* The highest page a file of at most max_size bytes can hold with its whole segment (the file
 * grows a segment at a time; README 5.7). Below one segment: 0 (its write-backs then fail with
 * the file system's error, and flushes say so). */
static uint64_t last_page_within(const struct awc *c, uint64_t max_size)
{
    if (max_size < DATA_BASE + c->seg_bytes)
        return 0;
    return (max_size - DATA_BASE) / c->seg_bytes * SEG_PAGES - 1;
}

/* Steps:
 * 1. Open the file (O_DIRECT where possible, io_uring where possible, locked for writing).
 * 2. An empty file that we may write becomes a new awecache file: two superblocks, synced.
 * 3. Otherwise read both superblock copies and keep the valid one of the higher generation: none
 *    valid is AWC_EBADFILE; another page size is AWC_EINVAL.
 * 4. Read every checksum block into RAM (load_checksums); nothing in the file is changed. A
 *    read-write open then settles the records written after the last completed flush
 *    (settle_trusted). */
int file_open(struct awc *c, const struct awc_config *cfg)
{
    unsigned pf = 0;
    struct plat_file_info info;
    uint64_t size, sb_pages = 0, limit;
    int rc;

    c->seg_bytes = CK_BLOCK + (uint64_t)SEG_PAGES * c->page_size;
    c->max_page = last_page_within(c, (uint64_t)INT64_MAX);
    c->iobuf = plat_aligned_alloc(SB_BYTES, 2 * SB_BYTES);
    if (c->iobuf == NULL)
        return AWC_ENOMEM;

    /* Step 1 */
    if (cfg->flags & AWC_CREATE)
        pf |= PLAT_FILE_CREATE;
    if (cfg->flags & AWC_EXCL)
        pf |= PLAT_FILE_EXCL;
    if (cfg->flags & AWC_READONLY)
        pf |= PLAT_FILE_READONLY;
    if (!(cfg->flags & AWC_NO_DIRECT))
        pf |= PLAT_FILE_DIRECT;
    if (cfg->flags & AWC_NO_URING)
        pf |= PLAT_FILE_NO_URING;
    rc = plat_file_open(cfg->path, pf, &c->file);
    if (rc == PLAT_EINVAL || rc == PLAT_EISDIR)
        return AWC_EBADFILE; /* a directory, a character device, a FIFO: never a cache file */
    if (rc != 0)
        return eng_err(rc);
    rc = plat_file_get_info(c->file, &info);
    if (rc != 0)
        return eng_err(rc);
    c->direct_io = info.direct ? 1 : 0;
    c->io_uring = info.uring ? 1 : 0;
    size = info.size;
    c->file_bytes = size;
    limit = last_page_within(c, info.max_size);
    c->fs_max_page = limit < c->max_page ? limit : c->max_page;

    /* Step 2 */
    if (size == 0) {
        if (cfg->flags & AWC_READONLY)
            return AWC_EBADFILE;
        make_file_id(c);
        c->pages = 0;
        c->generation = 1;
        rc = sb_write(c, 0);
        if (rc == AWC_OK)
            rc = sb_write(c, 1);
        if (rc == AWC_OK)
            rc = eng_err(plat_file_sync(c->file));
        c->file_bytes = 2 * SB_BYTES;
        return rc;
    }

    /* Step 3 */
    {
        uint8_t *b = c->iobuf, id[2][16];
        uint32_t ps[2];
        uint64_t pages[2], gen[2];
        bool ok[2];

        /* A file shorter than both superblocks was cut while being created: copy 0, if valid,
         * is enough (a read past the end gives zeros, which no valid copy 1 is). */
        if (size < SB_BYTES)
            return AWC_EBADFILE;
        rc = plat_file_read(c->file, b, 2 * SB_BYTES, 0);
        if (rc != 0)
            return eng_err(rc);
        for (int i = 0; i < 2; i++)
            ok[i] = sb_decode(b + i * SB_BYTES, &ps[i], id[i], &pages[i], &gen[i]);
        if (!ok[0] && !ok[1])
            return AWC_EBADFILE;
        int w = !ok[0] ? 1 : (!ok[1] ? 0 : (gen[1] > gen[0] ? 1 : 0));

        if (ps[w] != c->page_size)
            return AWC_EINVAL;
        memcpy(c->file_id, id[w], 16);
        sb_pages = pages[w];
        c->generation = gen[w];
        if (sb_pages > c->max_page + 1)
            return AWC_EBADFILE; /* a size no file can have */
    }

    /* Step 4 */
    rc = load_checksums(c, size, sb_pages);
    if (rc == AWC_OK && !(cfg->flags & AWC_READONLY))
        rc = settle_trusted(c);
    return rc;
}

void file_close(struct awc *c)
{
    if (c->file != NULL)
        plat_file_close(c->file);
    c->file = NULL;
    free(c->ck);
    free(c->ck_flags);
    free(c->seg_flags);
    free(c->dirty_segs);
    while (c->ck_free != NULL) {
        void *b = c->ck_free;

        memcpy(&c->ck_free, b, sizeof(void *));
        plat_aligned_free(b);
    }
    c->dirty_segs = NULL;
    c->ndirty = 0;
    plat_aligned_free(c->iobuf);
    c->ck = NULL;
    c->ck_flags = NULL;
    c->seg_flags = NULL;
    c->iobuf = NULL;
}

/* ---- Reads (README 5.3) ------------------------------------------------------------------ */

int file_read_pages(struct awc *c, const uint64_t *pages, void *const *addrs, size_t n, int *rc)
{
    struct plat_io io_small[IO_SMALL];
    struct ckrec rec_small[IO_SMALL];
    size_t which_small[IO_SMALL];
    bool small = n <= IO_SMALL;
    struct plat_io *io = small ? io_small : malloc(n * sizeof(*io));
    struct ckrec *rec = small ? rec_small : malloc(n * sizeof(*rec));
    size_t *which = small ? which_small : malloc(n * sizeof(*which)), nio = 0, i;
    int first = AWC_OK;

    if (io == NULL || rec == NULL || which == NULL) {
        free(io);
        free(rec);
        free(which);
        for (i = 0; i < n; i++)
            rc[i] = AWC_ENOMEM;
        return AWC_ENOMEM;
    }
    /* Pages never written read as zeros with no I/O; pages whose record is lost fail with
     * none. */
    ck_lock(c);
    for (i = 0; i < n; i++) {
        rec[i] = pages[i] < c->nseg * SEG_PAGES ? c->ck[pages[i]]
                 : pages[i] < c->lost_below     ? (struct ckrec){CK_LOST, CK_LOST}
                                                : (struct ckrec){0, 0};
        rc[i] = AWC_OK;
        if (rec[i].cur == 0 && rec[i].prev == 0) {
            memset(addrs[i], 0, c->page_size);
        } else if (rec[i].cur == CK_LOST) {
            rc[i] = AWC_ECHECKSUM;
            count_failure(c);
        } else {
            io[nio].buf = addrs[i];
            io[nio].len = c->page_size;
            io[nio].off = file_page_offset(c, pages[i]);
            io[nio].result = 0;
            which[nio++] = i;
        }
    }
    plat_mutex_unlock(&c->ck_mu);
    if (nio > 0) {
        plat_file_read_batch(c->file, io, nio);
        atomic_fetch_add_explicit(&c->bytes_read, (uint64_t)nio * c->page_size,
                                  memory_order_relaxed);
    }
    for (size_t j = 0; j < nio; j++) {
        size_t at = which[j];
        uint64_t h;

        if (io[j].result != 0) {
            rc[at] = eng_err(io[j].result);
            continue;
        }
        h = page_sum(addrs[at], c->page_size);
        if (h == rec[at].cur)
            continue;
        ck_lock(c);
        rc[at] = verify(c, pages[at], rec[at], h, addrs[at]);
        plat_mutex_unlock(&c->ck_mu);
        if (rc[at] != AWC_OK)
            count_failure(c);
    }
    for (i = 0; i < n; i++)
        if (rc[i] != AWC_OK && first == AWC_OK)
            first = rc[i];
    if (!small) {
        free(io);
        free(rec);
        free(which);
    }
    return first;
}

/* ---- Writes (README 5.4) ----------------------------------------------------------------- */

/* Lets ck_mu go until the next write-back or flush ends (ck_wake), then takes it again: the
 * caller then looks again at what it waits for. Caller holds ck_mu. */
static void ck_wait(struct awc *c)
{
    uint32_t seen = atomic_load_explicit(&c->ck_wake, memory_order_acquire);

    plat_mutex_unlock(&c->ck_mu);
    wake_word_wait(&c->ck_wake, seen);
    ck_lock(c);
}

/* Waits, holding ck_mu on return, until no flush is settling and no page of pages[] (those with
 * res[i] == AWC_OK) lies in a segment whose block another write-back is writing (README 5.4).
 * Caller holds ck_mu. */
static void ck_wait_turn(struct awc *c, const uint64_t *pages, const int *res, size_t n)
{
    plat_mutex_assert_held(&c->ck_mu);
    for (;;) {
        bool clear = !c->ck_syncing;

        for (size_t i = 0; clear && i < n; i++)
            clear = res[i] != AWC_OK || pages[i] / SEG_PAGES >= c->nseg ||
                    (c->seg_flags[pages[i] / SEG_PAGES] & SEGF_BUSY) == 0;
        if (clear)
            return;
        ck_wait(c);
    }
}

/* Steps:
 * 1. Hash every page (no lock).
 * 2. Under ck_mu, once no other write-back is writing one of the pages' checksum blocks and no
 *    flush is settling (ck_wait_turn): grow the file to whole segments covering the pages (if
 *    that fails, the pages that needed the growth fail with its error and the others go on);
 *    for each page, prev := cur, cur := hash (a page whose record was lost gets {hash, hash}: no
 *    older version of it is known); take the dirty checksum blocks (ck_take: they are BUSY now,
 *    so no other write-back writes an older or newer copy of one of them meanwhile).
 * 3. Without ck_mu: write the blocks (one batch), then, if they were written, the pages (one
 *    batch).
 * 4. Under ck_mu: the blocks are given back (ck_done), and each page's result recorded. A page
 *    whose write failed keeps its new record, with `prev` trusted (as after a crash): the disk's
 *    block says the same, and either version may be what the device holds.
 * prc[i] (if not NULL) gets each page's result; the return value is the first error. */
/* A page of a write-back and its place in the caller's arrays, for the order by page. */
struct wpage {
    uint64_t page;
    size_t i;
};

static int wpage_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct wpage *)a)->page, y = ((const struct wpage *)b)->page;

    return (x > y) - (x < y);
}

/* Fills ord[0..n) with the pages in increasing order (README 5.4: a run of pages that follow
 * one another in the file goes as one transfer). */
static void order_pages(const uint64_t *pages, size_t n, struct wpage *ord)
{
    bool sorted = true;

    for (size_t i = 0; i < n; i++) {
        ord[i].page = pages[i];
        ord[i].i = i;
        sorted = sorted && (i == 0 || pages[i - 1] < pages[i]);
    }
    if (!sorted)
        qsort(ord, n, sizeof(*ord), wpage_cmp);
}

int file_write_pages(struct awc *c, const uint64_t *pages, void *const *addrs, size_t n, int *prc)
{
    struct plat_io io_small[IO_SMALL];
    uint64_t h_small[IO_SMALL];
    int res_small[IO_SMALL];
    struct wpage ord_small[IO_SMALL];
    bool small = n <= IO_SMALL;
    struct plat_io *io = small ? io_small : malloc(n * sizeof(*io));
    uint64_t *h = small ? h_small : malloc(n * sizeof(*h)), need = 0, whole;
    int *res = small ? res_small : malloc(n * sizeof(*res));
    struct wpage *ord = small ? ord_small : malloc(n * sizeof(*ord));
    int rc = AWC_OK, grow_rc;
    size_t i, k, nio = 0;
    bool taken = false;
    struct ckw w;

    if (io == NULL || h == NULL || res == NULL || ord == NULL) {
        for (i = 0; prc != NULL && i < n; i++)
            prc[i] = AWC_ENOMEM;
        if (!small) {
            free(io);
            free(h);
            free(res);
            free(ord);
        }
        return AWC_ENOMEM;
    }
    /* Step 1 */
    for (i = 0; i < n; i++) {
        h[i] = page_sum(addrs[i], c->page_size);
        if (pages[i] / SEG_PAGES + 1 > need)
            need = pages[i] / SEG_PAGES + 1;
        res[i] = pages[i] > c->fs_max_page ? AWC_EFBIG : AWC_OK;
    }
    order_pages(pages, n, ord);

    /* Step 2 */
    ck_lock(c);
    ck_wait_turn(c, pages, res, n);
    whole = c->file_bytes >= DATA_BASE ? (c->file_bytes - DATA_BASE) / c->seg_bytes : 0;
    grow_rc = need > whole ? file_grow(c, need) : AWC_OK;
    for (k = 0; k < n; k++) {
        struct ckrec *r;

        i = ord[k].i;
        if (res[i] == AWC_OK && grow_rc != AWC_OK && pages[i] / SEG_PAGES >= whole)
            res[i] = grow_rc;
        if (res[i] != AWC_OK)
            continue;
        r = &c->ck[pages[i]];
        r->prev = r->cur == CK_LOST ? h[i] : r->cur;
        r->cur = h[i];
        c->ck_flags[pages[i]] = 0;
        seg_mark_dirty(c, pages[i] / SEG_PAGES);
        c->seg_flags[pages[i] / SEG_PAGES] |= SEGF_UNSETTLED;
        io[nio].buf = addrs[i];
        io[nio].len = c->page_size;
        io[nio].off = file_page_offset(c, pages[i]);
        io[nio].result = 0;
        nio++;
    }
    if (nio > 0) {
        rc = ck_take(c, &w);
        taken = rc == AWC_OK;
        c->ck_writers += taken;
    }
    plat_mutex_unlock(&c->ck_mu);

    /* Step 3 */
    if (taken) {
        rc = ck_write(c, &w);
        if (rc == AWC_OK)
            plat_file_write_batch(c->file, io, nio);
    }

    /* Step 4 */
    ck_lock(c);
    if (taken) {
        ck_done(c, &w, rc == AWC_OK);
        c->ck_writers--;
    }
    nio = 0;
    for (k = 0; k < n; k++) {
        i = ord[k].i;
        if (res[i] != AWC_OK)
            continue;
        res[i] = rc != AWC_OK ? rc : eng_err(io[nio].result);
        nio++;
        if (res[i] == AWC_OK) {
            atomic_fetch_add_explicit(&c->bytes_written, c->page_size, memory_order_relaxed);
            if (pages[i] + 1 > c->pages)
                c->pages = pages[i] + 1;
        } else {
            c->ck_flags[pages[i]] = CKF_TRUST_PREV; /* either version may be there */
        }
    }
    rc = AWC_OK;
    for (i = 0; i < n; i++) {
        if (res[i] != AWC_OK && rc == AWC_OK)
            rc = res[i];
        if (prc != NULL)
            prc[i] = res[i];
    }
    atomic_store_explicit(&c->wb_error, rc, memory_order_relaxed);
    plat_mutex_unlock(&c->ck_mu);
    wake_word_bump(&c->ck_wake);
    if (!small) {
        free(io);
        free(h);
        free(res);
        free(ord);
    }
    return rc;
}

uint64_t file_checksum_bytes(struct awc *c)
{
    uint64_t bytes;

    ck_lock(c);
    bytes = c->nseg * SEG_PAGES * (sizeof(struct ckrec) + 1) + c->nseg * 2;
    plat_mutex_unlock(&c->ck_mu);
    return bytes;
}

/* The durability point (README 5.5): once no write-back is in flight (new ones wait while
 * ck_syncing is set), checksum repairs, data sync, superblock, sync; then every record written
 * before it is settled (prev := cur): the versions before are gone for good. */
int file_sync(struct awc *c)
{
    int rc;

    ck_lock(c);
    c->ck_syncing = true;
    while (c->ck_writers > 0)
        ck_wait(c);
    rc = ck_write_dirty(c);
    if (rc == AWC_OK)
        rc = eng_err(plat_file_sync(c->file));
    if (rc == AWC_OK) {
        rc = sb_write(c, c->generation + 1);
        if (rc == AWC_OK)
            rc = eng_err(plat_file_sync(c->file));
        if (rc == AWC_OK)
            c->generation++;
    }
    for (uint64_t seg = 0; rc == AWC_OK && seg < c->nseg; seg++) {
        if ((c->seg_flags[seg] & SEGF_UNSETTLED) == 0)
            continue;
        for (uint64_t p = seg * SEG_PAGES; p < (seg + 1) * SEG_PAGES; p++)
            if ((c->ck_flags[p] & CKF_TRUST_PREV) == 0 && c->ck[p].cur != CK_LOST)
                c->ck[p].prev = c->ck[p].cur; /* a failed write's page stays open to both */
        c->seg_flags[seg] &= (uint8_t)~SEGF_UNSETTLED;
    }
    c->ck_syncing = false;
    plat_mutex_unlock(&c->ck_mu);
    wake_word_bump(&c->ck_wake);
    return rc;
}

/* ---- The header, read on its own --------------------------------------------------------- */

/* Steps: 1. open read-only, buffered (no lock); 2. read both superblock copies and keep the
 * valid one of the higher generation (file_open's step 3); 3. describe the layout. */
AWC_API int awc_get_file_info(const char *path, struct awc_file_info *info)
{
    struct plat_file *f = NULL;
    struct plat_file_info fi;
    uint8_t *b = NULL, id[16];
    uint32_t ps = 0, ps_i;
    uint64_t pages = 0, gen = 0, pages_i, gen_i;
    bool found = false;
    int rc;

    if (path == NULL || info == NULL)
        return AWC_EINVAL;
    /* Step 1 */
    rc = plat_file_open(path, PLAT_FILE_READONLY, &f);
    if (rc == PLAT_EINVAL || rc == PLAT_EISDIR)
        return AWC_EBADFILE; /* a directory, a character device, a FIFO: never a cache file */
    if (rc != 0)
        return eng_err(rc);
    rc = plat_file_get_info(f, &fi);
    if (rc == 0 && (b = malloc(2 * SB_BYTES)) == NULL)
        rc = PLAT_ENOMEM;
    /* Step 2 */
    if (rc == 0 && fi.size >= SB_BYTES)
        rc = plat_file_read(f, b, 2 * SB_BYTES, 0);
    for (int i = 0; rc == 0 && fi.size >= SB_BYTES && i < 2; i++) {
        if (sb_decode(b + i * SB_BYTES, &ps_i, id, &pages_i, &gen_i) && (!found || gen_i > gen)) {
            found = true;
            ps = ps_i;
            pages = pages_i;
            gen = gen_i;
        }
    }
    free(b);
    plat_file_close(f);
    if (rc != 0)
        return eng_err(rc);
    if (!found || ps < 4096 || ps > (2u << 20) || (ps & (ps - 1)) != 0)
        return AWC_EBADFILE;
    /* Step 3 */
    info->page_size = ps;
    info->pages = pages;
    info->file_bytes = fi.size;
    info->data_base = DATA_BASE;
    info->segment_pages = SEG_PAGES;
    info->segment_header = CK_BLOCK;
    info->segment_bytes = CK_BLOCK + (uint64_t)SEG_PAGES * ps;
    info->version = FORMAT_VER;
    return AWC_OK;
}
