/*
 * engine/file.c: the backing file (README 5, 6): superblocks, segments, checksum records,
 * verified reads and ordered write-backs.
 *
 * File layout (all numbers little-endian):
 *
 *   0      superblock copy 0 (4 KiB)
 *   4096   superblock copy 1 (4 KiB)
 *   8192   segment 0: checksum block (4 KiB: 256 records of {cur, prev}) + pages 0..255
 *          segment 1: checksum block + pages 256..511
 *          ...
 *
 * Superblock: "AWECACHE" | u32 version | u32 page size | u8[16] file id | u64 pages |
 *             u64 generation | u64 XXH3 of the 48 bytes before it.
 */
#include "internal.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

#define SB_BYTES   4096u
#define DATA_BASE  8192u
#define SEG_PAGES  256u
#define CK_BLOCK   4096u
#define FORMAT_VER 1u
#define SB_HASHED  48u
#define READ_CHUNK 64u /* checksum blocks read per batch at open */

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
        return awc_err(rc);
    atomic_fetch_add_explicit(&c->bytes_written, SB_BYTES, memory_order_relaxed);
    return AWC_OK;
}

/* ---- Checksum records -------------------------------------------------------------------- */

/* Makes room for records of segments [0, nseg) (caller holds ck_mu or is opening). */
static int ck_grow(struct awc *c, uint64_t nseg)
{
    uint64_t old = c->nseg * SEG_PAGES, want = nseg * SEG_PAGES;
    struct ckrec *ck;
    uint8_t *trust, *dirty;
    size_t ck_bytes;

    if (nseg <= c->nseg)
        return AWC_OK;
    /* The records of a file whose table does not fit the address space (a 32-bit build with a
     * file of terabytes): out of memory, never a truncated size. */
    if (!awc_size_mul(want, sizeof(*ck), &ck_bytes))
        return AWC_ENOMEM;
    ck = realloc(c->ck, ck_bytes);
    if (ck == NULL)
        return AWC_ENOMEM;
    c->ck = ck;
    trust = realloc(c->ck_trust_prev, want);
    if (trust == NULL)
        return AWC_ENOMEM;
    c->ck_trust_prev = trust;
    dirty = realloc(c->seg_dirty, nseg);
    if (dirty == NULL)
        return AWC_ENOMEM;
    c->seg_dirty = dirty;
    memset(c->ck + old, 0, (want - old) * sizeof(*ck));
    memset(c->ck_trust_prev + old, 0, want - old);
    memset(c->seg_dirty + c->nseg, 0, nseg - c->nseg);
    c->nseg = nseg;
    return AWC_OK;
}

static void ck_block_encode(const struct awc *c, uint64_t seg, uint8_t *b)
{
    for (uint64_t i = 0; i < SEG_PAGES; i++) {
        put_le64(b + i * 16, c->ck[seg * SEG_PAGES + i].cur);
        put_le64(b + i * 16 + 8, c->ck[seg * SEG_PAGES + i].prev);
    }
}

/* Writes every checksum block marked dirty, one batch. Caller holds ck_mu. */
static int ck_write_dirty(struct awc *c)
{
    uint64_t n = 0, seg;
    struct plat_io *io;
    uint8_t *bufs;
    size_t io_bytes, buf_bytes;
    int rc = AWC_OK;

    for (seg = 0; seg < c->nseg; seg++)
        n += c->seg_dirty[seg];
    if (n == 0)
        return AWC_OK;
    if (!awc_size_mul(n, sizeof(*io), &io_bytes) || !awc_size_mul(n, CK_BLOCK, &buf_bytes))
        return AWC_ENOMEM;
    io = malloc(io_bytes);
    bufs = plat_aligned_alloc(CK_BLOCK, buf_bytes);
    if (io == NULL || bufs == NULL) {
        free(io);
        plat_aligned_free(bufs);
        return AWC_ENOMEM;
    }
    n = 0;
    for (seg = 0; seg < c->nseg; seg++) {
        if (!c->seg_dirty[seg])
            continue;
        ck_block_encode(c, seg, bufs + n * CK_BLOCK);
        io[n].buf = bufs + n * CK_BLOCK;
        io[n].len = CK_BLOCK;
        io[n].off = seg_offset(c, seg);
        io[n].result = 0;
        n++;
    }
    rc = plat_file_write_batch(c->file, io, (size_t)n);
    if (rc == 0) {
        for (seg = 0; seg < c->nseg; seg++)
            c->seg_dirty[seg] = 0;
        atomic_fetch_add_explicit(&c->bytes_written, n * CK_BLOCK, memory_order_relaxed);
    }
    free(io);
    plat_aligned_free(bufs);
    return rc == 0 ? AWC_OK : awc_err(rc);
}

/* ---- Open and close ---------------------------------------------------------------------- */

static int load_checksums(struct awc *c, uint64_t nseg)
{
    struct plat_io io[READ_CHUNK];
    uint8_t *bufs = plat_aligned_alloc(CK_BLOCK, READ_CHUNK * CK_BLOCK);
    uint64_t seg = 0, last = 0;
    int rc;

    if (bufs == NULL)
        return AWC_ENOMEM;
    rc = ck_grow(c, nseg);
    while (rc == AWC_OK && seg < nseg) {
        uint64_t n = nseg - seg < READ_CHUNK ? nseg - seg : READ_CHUNK;

        for (uint64_t i = 0; i < n; i++) {
            io[i].buf = bufs + i * CK_BLOCK;
            io[i].len = CK_BLOCK;
            io[i].off = seg_offset(c, seg + i);
            io[i].result = 0;
        }
        rc = plat_file_read_batch(c->file, io, (size_t)n);
        if (rc != 0) {
            rc = awc_err(rc);
            break;
        }
        for (uint64_t i = 0; i < n; i++) {
            for (uint64_t r = 0; r < SEG_PAGES; r++) {
                struct ckrec *k = &c->ck[(seg + i) * SEG_PAGES + r];

                k->cur = get_le64(bufs + i * CK_BLOCK + r * 16);
                k->prev = get_le64(bufs + i * CK_BLOCK + r * 16 + 8);
                if (k->cur != 0 || k->prev != 0)
                    last = (seg + i) * SEG_PAGES + r + 1;
            }
        }
        atomic_fetch_add_explicit(&c->bytes_read, n * CK_BLOCK, memory_order_relaxed);
        seg += n;
    }
    plat_aligned_free(bufs);
    /* Pages read from disk may hold the version before an interrupted write-back. */
    if (rc == AWC_OK && c->nseg > 0) {
        memset(c->ck_trust_prev, 1, c->nseg * SEG_PAGES);
        if (last > c->pages)
            c->pages = last;
    }
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

/* Steps:
 * 1. Open the file (O_DIRECT where possible, io_uring where possible, locked for writing).
 * 2. An empty file that we may write becomes a new awecache file: two superblocks, synced.
 * 3. Otherwise read both superblock copies and keep the valid one of the higher generation: none
 *    valid is AWC_EBADFILE; another page size is AWC_EINVAL.
 * 4. Drop a partial segment at the end (only a foreign or damaged file has one), then read every
 *    checksum block into RAM. */
int file_open(struct awc *c, const struct awc_config *cfg)
{
    unsigned pf = 0;
    struct plat_file_info info;
    uint64_t size, nseg;
    int rc;

    c->seg_bytes = CK_BLOCK + (uint64_t)SEG_PAGES * c->page_size;
    c->max_page = ((uint64_t)INT64_MAX - DATA_BASE) / c->seg_bytes * SEG_PAGES - 1;
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
    if (rc != 0)
        return awc_err(rc);
    rc = plat_file_get_info(c->file, &info);
    if (rc != 0)
        return awc_err(rc);
    c->direct_io = info.direct ? 1 : 0;
    c->io_uring = info.uring ? 1 : 0;
    size = info.size;

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
            rc = awc_err(plat_file_sync(c->file));
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
            return awc_err(rc);
        for (int i = 0; i < 2; i++)
            ok[i] = sb_decode(b + i * SB_BYTES, &ps[i], id[i], &pages[i], &gen[i]);
        if (!ok[0] && !ok[1])
            return AWC_EBADFILE;
        int w = !ok[0] ? 1 : (!ok[1] ? 0 : (gen[1] > gen[0] ? 1 : 0));

        if (ps[w] != c->page_size)
            return AWC_EINVAL;
        memcpy(c->file_id, id[w], 16);
        c->pages = pages[w];
        c->generation = gen[w];
    }

    /* Step 4 */
    if (size < DATA_BASE) {
        if (cfg->flags & AWC_READONLY)
            return AWC_OK; /* no segment yet: every page reads as zeros */
        rc = plat_file_resize(c->file, DATA_BASE);
        return rc != 0 ? awc_err(rc) : sb_write(c, c->generation + 1);
    }
    nseg = (size - DATA_BASE) / c->seg_bytes;
    if ((size - DATA_BASE) % c->seg_bytes != 0 && !(cfg->flags & AWC_READONLY)) {
        rc = plat_file_resize(c->file, DATA_BASE + nseg * c->seg_bytes);
        if (rc != 0)
            return awc_err(rc);
    }
    return load_checksums(c, nseg);
}

void file_close(struct awc *c)
{
    if (c->file != NULL)
        plat_file_close(c->file);
    c->file = NULL;
    free(c->ck);
    free(c->ck_trust_prev);
    free(c->seg_dirty);
    plat_aligned_free(c->iobuf);
    c->ck = NULL;
    c->ck_trust_prev = NULL;
    c->seg_dirty = NULL;
    c->iobuf = NULL;
}

/* ---- Reads (README 5.3) ------------------------------------------------------------------ */

static bool all_zero(const void *p, size_t n)
{
    const uint64_t *w = p;

    for (size_t i = 0; i < n / 8; i++)
        if (w[i] != 0)
            return false;
    return true;
}

int file_read_pages(struct awc *c, const uint64_t *pages, void *const *addrs, size_t n, int *rc)
{
    struct plat_io *io = malloc(n * sizeof(*io));
    struct ckrec *rec = malloc(n * sizeof(*rec));
    size_t *which = malloc(n * sizeof(*which)), nio = 0, i;
    int first = AWC_OK;

    if (io == NULL || rec == NULL || which == NULL) {
        free(io);
        free(rec);
        free(which);
        for (i = 0; i < n; i++)
            rc[i] = AWC_ENOMEM;
        return AWC_ENOMEM;
    }
    /* Pages never written read as zeros with no I/O. */
    plat_mutex_lock(&c->ck_mu);
    for (i = 0; i < n; i++) {
        rec[i] = pages[i] < c->nseg * SEG_PAGES ? c->ck[pages[i]] : (struct ckrec){0, 0};
        rc[i] = AWC_OK;
        if (rec[i].cur == 0 && rec[i].prev == 0) {
            memset(addrs[i], 0, c->page_size);
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
            rc[at] = awc_err(io[j].result);
            continue;
        }
        h = XXH3_64bits(addrs[at], c->page_size);
        if (h == rec[at].cur)
            continue;
        plat_mutex_lock(&c->ck_mu);
        if (c->ck_trust_prev[pages[at]] &&
            (h == rec[at].prev || (rec[at].prev == 0 && all_zero(addrs[at], c->page_size)))) {
            /* A write-back was interrupted before its data landed: the older version stands
             * (prev == 0: the page had never been written, so the older version is zeros). */
            c->ck[pages[at]].cur = rec[at].prev;
            c->seg_dirty[pages[at] / SEG_PAGES] = 1;
        } else if (!(rec[at].cur == 0 && all_zero(addrs[at], c->page_size))) {
            rc[at] = AWC_ECHECKSUM;
            atomic_fetch_add_explicit(&c->checksum_failures, 1, memory_order_relaxed);
        }
        plat_mutex_unlock(&c->ck_mu);
    }
    for (i = 0; i < n; i++)
        if (rc[i] != AWC_OK && first == AWC_OK)
            first = rc[i];
    free(io);
    free(rec);
    free(which);
    return first;
}

/* ---- Writes (README 5.4) ----------------------------------------------------------------- */

/* Steps:
 * 1. Hash every page (no lock).
 * 2. Under ck_mu: grow the file to whole segments covering the pages; prev := cur, cur := hash
 *    for each; write the changed checksum blocks (one batch) and keep ck_mu held, so that two
 *    write-backs cannot write older and newer copies of one block in the wrong order.
 * 3. Write the pages (one batch). If that fails, the records in RAM go back to what they were
 *    (the disk's records hold the old hash as `prev`, which a reopen accepts).
 */
int file_write_pages(struct awc *c, const uint64_t *pages, void *const *addrs, size_t n)
{
    struct plat_io *io = malloc(n * sizeof(*io));
    struct ckrec *saved = malloc(n * sizeof(*saved));
    uint64_t *h = malloc(n * sizeof(*h)), need = 0;
    int rc = AWC_OK;
    size_t i, changed = 0;

    if (io == NULL || saved == NULL || h == NULL) {
        rc = AWC_ENOMEM;
        goto out;
    }
    /* Step 1 */
    for (i = 0; i < n; i++) {
        h[i] = XXH3_64bits(addrs[i], c->page_size);
        if (pages[i] / SEG_PAGES + 1 > need)
            need = pages[i] / SEG_PAGES + 1;
    }

    /* Step 2 */
    plat_mutex_lock(&c->ck_mu);
    if (need > c->nseg) {
        rc = plat_file_resize(c->file, DATA_BASE + need * c->seg_bytes);
        rc = rc != 0 ? awc_err(rc) : ck_grow(c, need);
    }
    for (i = 0; rc == AWC_OK && i < n; i++) {
        struct ckrec *k = &c->ck[pages[i]];

        saved[i] = *k;
        k->prev = k->cur;
        k->cur = h[i];
        c->ck_trust_prev[pages[i]] = 0;
        c->seg_dirty[pages[i] / SEG_PAGES] = 1;
        changed++;
    }
    if (rc == AWC_OK)
        rc = ck_write_dirty(c);

    /* Step 3 */
    if (rc == AWC_OK) {
        for (i = 0; i < n; i++) {
            io[i].buf = addrs[i];
            io[i].len = c->page_size;
            io[i].off = file_page_offset(c, pages[i]);
            io[i].result = 0;
        }
        rc = plat_file_write_batch(c->file, io, (size_t)n);
        rc = rc != 0 ? awc_err(rc) : AWC_OK;
        if (rc == AWC_OK) {
            atomic_fetch_add_explicit(&c->bytes_written, (uint64_t)n * c->page_size,
                                      memory_order_relaxed);
            for (i = 0; i < n; i++)
                if (pages[i] + 1 > c->pages)
                    c->pages = pages[i] + 1;
        }
    }
    for (i = changed; rc != AWC_OK && i-- > 0;) { /* newest first: a page listed twice ends old */
        c->ck[pages[i]] = saved[i];
        c->seg_dirty[pages[i] / SEG_PAGES] = 1;
    }
    plat_mutex_unlock(&c->ck_mu);
out:
    free(io);
    free(saved);
    free(h);
    return rc;
}

/* The durability point (README 5.5): checksum repairs, data sync, superblock, sync. */
int file_sync(struct awc *c)
{
    int rc;

    plat_mutex_lock(&c->ck_mu);
    rc = ck_write_dirty(c);
    if (rc == AWC_OK)
        rc = awc_err(plat_file_sync(c->file));
    if (rc == AWC_OK) {
        rc = sb_write(c, c->generation + 1);
        if (rc == AWC_OK)
            rc = awc_err(plat_file_sync(c->file));
        if (rc == AWC_OK)
            c->generation++;
    }
    plat_mutex_unlock(&c->ck_mu);
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
    if (rc != 0)
        return awc_err(rc);
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
        return awc_err(rc);
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
