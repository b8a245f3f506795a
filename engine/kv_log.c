/*
 * engine/kv_log.c: the key-value cache's records and meta pages on the page cache (README 9.2,
 * 9.5). Everything here reaches the pages through awc_pin/awc_unpin, one page at a time.
 *
 * A record header on the page (48 bytes, little-endian):
 *
 *   0 magic u32 | 4 key_len u16 | 6 reserved u16 (0) | 8 value_len u32 | 12 check u32
 *   16 pos u64 | 24 expiry_ms u64 | 32 gen u64 | 40 sum u64
 *
 * `check` is the low half of the XXH3 of the other 44 bytes: a header is trusted (its lengths
 * used) only when it holds. `sum` covers the key and the value.
 */
#include "kv.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define META_MAGIC   UINT64_C(0x314154454d564b41) /* "AKVMETA1" */
#define META_VERSION 2u                           /* 1: before checkpoints (README 9.7.7) */

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The header check: XXH3 of the header with its check field taken as zero. */
static uint32_t hdr_check(const uint8_t *b)
{
    uint8_t t[KV_HDR];

    memcpy(t, b, KV_HDR);
    memset(t + 12, 0, 4);
    return (uint32_t)XXH3_64bits(t, KV_HDR);
}

void kv_hdr_encode(const struct kv_hdr *h, uint8_t *b)
{
    put32(b, h->magic);
    put16(b + 4, h->key_len);
    put16(b + 6, 0);
    put32(b + 8, h->value_len);
    put32(b + 12, 0);
    kv_put64(b + 16, h->pos);
    kv_put64(b + 24, h->expiry_ms);
    kv_put64(b + 32, h->gen);
    kv_put64(b + 40, h->sum);
    put32(b + 12, hdr_check(b));
}

bool kv_hdr_decode(const uint8_t *b, struct kv_hdr *h)
{
    if (get32(b + 12) != hdr_check(b) || get16(b + 6) != 0)
        return false;
    h->magic = get32(b);
    h->key_len = get16(b + 4);
    h->value_len = get32(b + 8);
    h->pos = kv_get64(b + 16);
    h->expiry_ms = kv_get64(b + 24);
    h->gen = kv_get64(b + 32);
    h->sum = kv_get64(b + 40);
    return true;
}

/* Calls fn on each page piece of [pos, pos + len): the page pinned in `mode`, the piece's
 * offset in the page and length, and its offset in the range. Stops at the first error. */
typedef void (*piece_fn)(void *page_bytes, size_t len, size_t done, void *arg);

static int each_piece(struct awc_kv *kv, uint64_t pos, size_t len, int mode, piece_fn fn, void *arg)
{
    size_t done = 0;

    plat_mutex_assert_not_held(&kv->imu); /* README 9.6 rule 1: imu is never held across a pin */
    while (done < len) {
        uint64_t at = pos + done;
        size_t off = (size_t)(at % kv->ps), n = kv->ps - off;
        void *p;
        int rc;

        if (n > len - done)
            n = len - done;
        int m = mode;

        /* A write from the start of a page whose older lap lies wholly behind the tail keeps
         * nothing of the page: it need not be read (and may be damaged). */
        if (mode == AWC_EXCLUSIVE && off == 0 &&
            (at / kv->ps + 1) * kv->ps <= atomic_load(&kv->tail) + kv->cap)
            m = AWC_OVERWRITE;
        rc = awc_pin(kv->cache, kv_page_of(kv, at), m, &p);
        if (rc != AWC_OK)
            return rc;
        fn((char *)p + off, n, done, arg);
        rc = awc_unpin(kv->cache, kv_page_of(kv, at), mode == AWC_EXCLUSIVE);
        if (rc != AWC_OK)
            return rc;
        done += n;
    }
    return AWC_OK;
}

static void copy_out(void *page_bytes, size_t len, size_t done, void *arg)
{
    memcpy((char *)arg + done, page_bytes, len);
}

int kv_read(struct awc_kv *kv, uint64_t pos, void *buf, size_t len)
{
    return each_piece(kv, pos, len, AWC_SHARED, copy_out, buf);
}

/* Where kv_write_parts stands: the part it copies next, and how much of it is copied. */
struct parts_at {
    const struct kv_part *part;
    size_t off;
};

static void copy_parts(void *page_bytes, size_t len, size_t done, void *arg)
{
    struct parts_at *a = arg;
    char *to = page_bytes;

    (void)done; /* the pieces come in order: the cursor knows where they are */
    while (len > 0) {
        size_t n = a->part->len - a->off;

        if (n > len)
            n = len;
        if (n > 0)
            memcpy(to, (const char *)a->part->p + a->off, n);
        to += n;
        len -= n;
        a->off += n;
        if (a->off == a->part->len) {
            a->part++;
            a->off = 0;
        }
    }
}

int kv_write_parts(struct awc_kv *kv, uint64_t pos, const struct kv_part *parts, size_t n)
{
    struct parts_at a = {parts, 0};
    size_t len = 0;

    for (size_t i = 0; i < n; i++)
        len += parts[i].len;
    return each_piece(kv, pos, len, AWC_EXCLUSIVE, copy_parts, &a);
}

int kv_write(struct awc_kv *kv, uint64_t pos, const void *buf, size_t len)
{
    const struct kv_part one = {buf, len};

    return kv_write_parts(kv, pos, &one, 1);
}

int kv_read_hdr(struct awc_kv *kv, uint64_t pos, struct kv_hdr *h)
{
    uint8_t b[KV_HDR];
    int rc;

    if (kv->ps - pos % kv->ps < KV_HDR)
        return AWC_ENOTFOUND; /* no header starts in a page's last 47 bytes */
    rc = kv_read(kv, pos, b, KV_HDR);
    if (rc != AWC_OK)
        return rc;
    if (!kv_hdr_decode(b, h) || h->pos != pos)
        return AWC_ENOTFOUND;
    return AWC_OK;
}

/* Comparing a key on its pages, piece by piece. */
struct cmp_arg {
    const uint8_t *key;
    bool equal;
};

static void cmp_piece(void *page_bytes, size_t len, size_t done, void *arg)
{
    struct cmp_arg *a = arg;

    if (a->equal && memcmp(page_bytes, a->key + done, len) != 0)
        a->equal = false;
}

int kv_key_equal(struct awc_kv *kv, uint64_t pos, const struct kv_hdr *h, const void *key,
                 size_t key_len, bool *equal)
{
    struct cmp_arg a = {key, true};
    int rc;

    *equal = false;
    if (h->key_len != key_len)
        return AWC_OK;
    rc = each_piece(kv, pos + KV_HDR, key_len, AWC_SHARED, cmp_piece, &a);
    if (rc == AWC_OK)
        *equal = a.equal;
    return rc;
}

uint64_t kv_sum(uint64_t pos, const void *key, size_t key_len, const void *value, size_t value_len)
{
    XXH3_state_t st;

    XXH3_INITSTATE(&st);
    XXH3_64bits_reset_withSeed(&st, pos);
    XXH3_64bits_update(&st, key, key_len);
    if (value_len > 0)
        XXH3_64bits_update(&st, value, value_len);
    return XXH3_64bits_digest(&st);
}

/* Hashing (and copying out) a record's key and value, piece by piece. */
struct sum_arg {
    XXH3_state_t st;
    char *value; /* where the value goes, or NULL */
    size_t key_len;
};

static void sum_piece(void *page_bytes, size_t len, size_t done, void *arg)
{
    struct sum_arg *a = arg;

    XXH3_64bits_update(&a->st, page_bytes, len);
    if (a->value != NULL && done + len > a->key_len) {
        size_t skip = done < a->key_len ? a->key_len - done : 0;

        memcpy(a->value + (done + skip - a->key_len), (char *)page_bytes + skip, len - skip);
    }
}

int kv_read_verify(struct awc_kv *kv, uint64_t pos, const struct kv_hdr *h, void *value)
{
    struct sum_arg a;
    int rc;

    XXH3_INITSTATE(&a.st);
    XXH3_64bits_reset_withSeed(&a.st, pos);
    a.value = value;
    a.key_len = h->key_len;
    rc = each_piece(kv, pos + KV_HDR, (size_t)h->key_len + h->value_len, AWC_SHARED, sum_piece, &a);
    if (rc != AWC_OK)
        return rc;
    return XXH3_64bits_digest(&a.st) == h->sum ? AWC_OK : AWC_ECHECKSUM;
}

/* As kv_read_verify, over pages the caller holds pinned: page_at(arg, lp) gives the bytes of
 * the log's logical page lp (README 9.4). */
int kv_verify_pinned(const struct awc_kv *kv, uint64_t pos, const struct kv_hdr *h,
                     const uint8_t *(*page_at)(void *arg, uint64_t lp), void *arg, void *value)
{
    uint64_t at = pos + KV_HDR;
    size_t len = (size_t)h->key_len + h->value_len, done = 0;
    struct sum_arg a;

    XXH3_INITSTATE(&a.st);
    XXH3_64bits_reset_withSeed(&a.st, pos);
    a.value = value;
    a.key_len = h->key_len;
    while (done < len) {
        size_t off = (size_t)(at % kv->ps), n = kv->ps - off;

        if (n > len - done)
            n = len - done;
        sum_piece((void *)(uintptr_t)(page_at(arg, at / kv->ps) + off), n, done, &a);
        at += n;
        done += n;
    }
    return XXH3_64bits_digest(&a.st) == h->sum ? AWC_OK : AWC_ECHECKSUM;
}

/* ---- Meta pages (README 9.5, 9.7.2) ----------------------------------------------------- */

/* Meta page layout, version 2 (version 1, before checkpoints, ends at `gen` with its check at
 * 64 and is still read: README 9.7.7):
 *
 *   0 magic u64 | 8 version u32 | 12 page_size u32 | 16 capacity u64 | 24 region_pages u64
 *   32 seq u64 | 40 tail u64 | 48 head u64 | 56 gen u64 | 64 file_id u64
 *   72 ck_seq u64 | 80 ck_head u64 | 88 ck_tail u64 | 96 ck_bytes u64 | 104 ck_sum u64
 *   112 check u64 (XXH3 of the 112 bytes before it)
 */
#define META_BYTES 120u

/* Decodes a meta page's first META_BYTES bytes: false when it is not a valid one. */
static bool meta_decode(const uint8_t *b, struct kv_meta *m)
{
    uint32_t version = get32(b + 8);

    if (kv_get64(b) != META_MAGIC)
        return false;
    if (version == 1) {
        if (kv_get64(b + 64) != XXH3_64bits(b, 64))
            return false;
        m->file_id = 0;
        memset(&m->ck, 0, sizeof(m->ck));
    } else if (version == META_VERSION) {
        if (kv_get64(b + 112) != XXH3_64bits(b, 112))
            return false;
        m->file_id = kv_get64(b + 64);
        m->ck.seq = kv_get64(b + 72);
        m->ck.head = kv_get64(b + 80);
        m->ck.tail = kv_get64(b + 88);
        m->ck.bytes = kv_get64(b + 96);
        m->ck.sum = kv_get64(b + 104);
    } else {
        return false;
    }
    m->page_size = get32(b + 12);
    m->capacity = kv_get64(b + 16);
    m->region_pages = kv_get64(b + 24);
    m->seq = kv_get64(b + 32);
    m->tail = kv_get64(b + 40);
    m->head = kv_get64(b + 48);
    m->gen = kv_get64(b + 56);
    return true;
}

int kv_meta_read(struct awc_kv *kv, struct kv_meta *m, bool *found, bool *damaged)
{
    *found = false;
    *damaged = false;
    for (uint64_t page = 0; page < KV_META_PAGES; page++) {
        uint8_t b[META_BYTES];
        struct kv_meta t;
        void *p;
        int rc = awc_pin(kv->cache, page, AWC_SHARED, &p);

        if (rc == AWC_ECHECKSUM) {
            *damaged = true; /* damaged on disk (the page cache never tears a page) */
            continue;        /* the other one stands */
        }
        if (rc != AWC_OK)
            return rc;
        memcpy(b, p, META_BYTES);
        awc_unpin(kv->cache, page, 0);
        if (!meta_decode(b, &t) || (*found && t.seq <= m->seq))
            continue;
        *found = true;
        *m = t;
    }
    return AWC_OK;
}

int kv_meta_write(struct awc_kv *kv, const struct kv_meta *m)
{
    uint8_t b[META_BYTES];
    uint64_t page = m->seq % KV_META_PAGES;
    void *p;
    int rc;

    kv_put64(b, META_MAGIC);
    put32(b + 8, META_VERSION);
    put32(b + 12, m->page_size);
    kv_put64(b + 16, m->capacity);
    kv_put64(b + 24, m->region_pages);
    kv_put64(b + 32, m->seq);
    kv_put64(b + 40, m->tail);
    kv_put64(b + 48, m->head);
    kv_put64(b + 56, m->gen);
    kv_put64(b + 64, m->file_id);
    kv_put64(b + 72, m->ck.seq);
    kv_put64(b + 80, m->ck.head);
    kv_put64(b + 88, m->ck.tail);
    kv_put64(b + 96, m->ck.bytes);
    kv_put64(b + 104, m->ck.sum);
    kv_put64(b + 112, XXH3_64bits(b, 112));
    /* Written whole: a damaged copy is simply replaced. */
    rc = awc_pin(kv->cache, page, AWC_OVERWRITE, &p);
    if (rc != AWC_OK)
        return rc;
    memset(p, 0, kv->ps);
    memcpy(p, b, META_BYTES);
    return awc_unpin(kv->cache, page, 1);
}
