/*
 * engine/kv_index.c: the key-value cache's index in RAM (README 9.4): an open-addressing table
 * with linear probing and backward-shift deletion (no tombstones), 10 bytes per slot.
 *
 * A slot holds a 40-bit tag of the key's hash (its low 40 bits with bit 39 set, so that a used
 * slot is never 0) and 40 bits of the item's position / KV_ALIGN; the position's higher bits
 * come from `top`, the highest position the index ever held: every position in it lies within
 * KV_INDEX_SPAN (4 TiB) below top (the log's capacity is at most that, and the swept slots go
 * when the tail passes them), and 2^40 * KV_ALIGN = 8 TiB is more than that span.
 *
 * Sizing: the table doubles when an add would make it more than 7/8 full, and halves when a
 * removal leaves it less than 7/32 full (never below KV_INDEX_MIN slots). After a doubling or a
 * halving it is 7/16 full: an item costs 10 / (7/8) = 11.4 to 10 / (7/16) = 22.9 bytes of table
 * as the items grow, up to 45.7 after removals.
 */
#include "kv.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#ifdef AWECACHE_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

void *kv_alloc(size_t size)
{
#ifdef AWECACHE_HAVE_JEMALLOC
    return mallocx(size, MALLOCX_ZERO);
#else
    return calloc(1, size);
#endif
}

void kv_free(void *p)
{
#ifdef AWECACHE_HAVE_JEMALLOC
    if (p != NULL)
        dallocx(p, 0);
#else
    free(p);
#endif
}

/* The bytes the allocator gave for an allocation of `size` bytes at p. */
static uint64_t alloc_bytes(void *p, size_t size)
{
#ifdef AWECACHE_HAVE_JEMALLOC
    (void)size;
    return p != NULL ? (uint64_t)sallocx(p, 0) : 0;
#else
    (void)p;
    return size;
#endif
}

uint64_t kv_hash(const struct awc_kv *kv, const void *key, size_t key_len)
{
    uint64_t h = XXH3_64bits(key, key_len);

    if ((kv->flags & AWC_KV_WEAK_HASH) != 0)
        h &= 63;
    return h | KV_HASH_SET;
}

/* The rule of the functions below that say "caller holds imu" (README 9.6), asserted in debug
 * builds: every index is the `idx` of a struct awc_kv, whose imu the caller holds, unless the
 * cache is still being opened (awc_kv_open's scan fills the index before it returns the cache, so
 * no other thread can reach it; its magic is set last). */
static void assert_imu_held(const struct kv_index *x)
{
#ifndef NDEBUG
    const struct awc_kv *kv =
        (const struct awc_kv *)(const void *)((const char *)x - offsetof(struct awc_kv, idx));

    if (kv->magic == KV_MAGIC)
        plat_mutex_assert_held(&kv->imu);
#else
    (void)x;
#endif
}

#define TAG_BITS 40u
#define TAG_MASK ((UINT64_C(1) << TAG_BITS) - 1)
#define TAG_SET  (UINT64_C(1) << (TAG_BITS - 1))

static uint64_t get40(const uint8_t *p)
{
    uint32_t lo;

    memcpy(&lo, p, 4);
    return lo | (uint64_t)p[4] << 32;
}

static void put40(uint8_t *p, uint64_t v)
{
    uint32_t lo = (uint32_t)v;

    memcpy(p, &lo, 4);
    p[4] = (uint8_t)(v >> 32);
}

/* The tag of a hash: its low 40 bits, bit 39 set (the home slot comes from the low bits). */
static uint64_t tag_of(uint64_t hash)
{
    return (hash & TAG_MASK) | TAG_SET;
}

static uint8_t *slot(const struct kv_index *x, uint64_t i)
{
    return x->t + i * KV_SLOT_BYTES;
}

static uint64_t tag_at(const struct kv_index *x, uint64_t i)
{
    return get40(slot(x, i));
}

/* The position stored in slot i, whole again: the one value below or at top with those low
 * bits. */
static uint64_t pos_at(const struct kv_index *x, uint64_t i)
{
    uint64_t q = get40(slot(x, i) + 5), top = x->top / KV_ALIGN;

    return (top - ((top - q) & TAG_MASK)) * KV_ALIGN;
}

static void set_slot(struct kv_index *x, uint64_t i, uint64_t tag, uint64_t pos)
{
    put40(slot(x, i), tag);
    put40(slot(x, i) + 5, (pos / KV_ALIGN) & TAG_MASK);
}

static void note_top(struct kv_index *x, uint64_t pos)
{
    assert(pos % KV_ALIGN == 0 && pos + KV_INDEX_SPAN > x->top);
    if (pos > x->top)
        x->top = pos;
}

/* The slot a tag's probe starts at. The hash's low bits are spread by XXH3 already; the weak
 * hash of the tests keeps its 6 bits there on purpose (long probes, many collisions). */
static uint64_t home(const struct kv_index *x, uint64_t tag)
{
    return tag & x->mask;
}

static int table_make(struct kv_index *x, uint64_t slots)
{
    size_t size;
    uint8_t *t;

    if (slots > SIZE_MAX / KV_SLOT_BYTES)
        return AWC_ENOMEM;
    size = (size_t)slots * KV_SLOT_BYTES;
    t = kv_alloc(size);
    if (t == NULL)
        return AWC_ENOMEM;
    x->t = t;
    x->mask = slots - 1;
    x->used = 0;
    x->bytes = alloc_bytes(t, size);
    return AWC_OK;
}

int kv_index_init(struct kv_index *x)
{
    memset(x, 0, sizeof(*x));
    return table_make(x, KV_INDEX_MIN);
}

void kv_index_free(struct kv_index *x)
{
    kv_free(x->t);
    memset(x, 0, sizeof(*x));
}

/* Puts {tag, pos} in the first empty slot of its probe. */
static void put_slot(struct kv_index *x, uint64_t tag, uint64_t pos)
{
    uint64_t i = home(x, tag);

    while (tag_at(x, i) != 0)
        i = (i + 1) & x->mask;
    set_slot(x, i, tag, pos);
    x->used++;
}

/* Moves every slot into a new table of `slots` slots; on AWC_ENOMEM the old one stays. */
static int resize(struct kv_index *x, uint64_t slots)
{
    struct kv_index old = *x;
    int rc = table_make(x, slots);

    if (rc != AWC_OK) {
        *x = old;
        return rc;
    }
    for (uint64_t i = 0; i <= old.mask; i++)
        if (tag_at(&old, i) != 0)
            put_slot(x, tag_at(&old, i), pos_at(&old, i));
    kv_free(old.t);
    return AWC_OK;
}

size_t kv_index_find(const struct kv_index *x, uint64_t hash, uint64_t *cursor, uint64_t *pos,
                     size_t max)
{
    uint64_t tag = tag_of(hash), i = *cursor == 0 ? home(x, tag) : *cursor - 1, walked = 0, t;
    size_t n = 0;

    assert_imu_held(x);
    while ((t = tag_at(x, i)) != 0 && walked <= x->mask) {
        if (t == tag) {
            if (n == max) {
                *cursor = i + 1;
                return n;
            }
            pos[n++] = pos_at(x, i);
        }
        i = (i + 1) & x->mask;
        walked++;
    }
    *cursor = UINT64_MAX;
    return n;
}

int kv_index_reserve(struct kv_index *x)
{
    uint64_t slots = x->mask + 1;

    assert_imu_held(x);
    if ((x->used + 1) * 8 > slots * 7 && slots <= UINT64_MAX / 2 / KV_SLOT_BYTES) {
        if (resize(x, slots * 2) != AWC_OK && (x->used + 1) * 32 > slots * 31)
            return AWC_ENOMEM;
    }
    return AWC_OK;
}

int kv_index_add(struct kv_index *x, uint64_t hash, uint64_t pos)
{
    int rc = kv_index_reserve(x);

    if (rc == AWC_OK) {
        note_top(x, pos);
        put_slot(x, tag_of(hash), pos);
    }
    return rc;
}

static uint64_t find_slot(const struct kv_index *x, uint64_t hash, uint64_t pos)
{
    uint64_t tag = tag_of(hash), i = home(x, tag), t;

    for (uint64_t walked = 0; (t = tag_at(x, i)) != 0 && walked <= x->mask; walked++) {
        if (t == tag && pos_at(x, i) == pos)
            return i;
        i = (i + 1) & x->mask;
    }
    return UINT64_MAX;
}

bool kv_index_move(struct kv_index *x, uint64_t hash, uint64_t old_pos, uint64_t new_pos)
{
    uint64_t i;

    assert_imu_held(x);
    i = find_slot(x, hash, old_pos);
    if (i == UINT64_MAX)
        return false;
    note_top(x, new_pos);
    set_slot(x, i, tag_at(x, i), new_pos);
    return true;
}

/* Backward-shift deletion of slot i: each later slot of the cluster whose home is not between
 * the hole and itself (cyclically) moves into the hole, until an empty slot ends the cluster. */
static void delete_at(struct kv_index *x, uint64_t i)
{
    uint64_t j = i, t;

    for (;;) {
        j = (j + 1) & x->mask;
        if ((t = tag_at(x, j)) == 0)
            break;
        uint64_t h = home(x, t);
        /* The slot at j may fill the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            memcpy(slot(x, i), slot(x, j), KV_SLOT_BYTES);
            i = j;
        }
    }
    memset(slot(x, i), 0, KV_SLOT_BYTES);
    x->used--;
}

static void maybe_shrink(struct kv_index *x)
{
    uint64_t slots = x->mask + 1;

    if (slots > KV_INDEX_MIN && x->used * 32 < slots * 7)
        (void)resize(x, slots / 2); /* no memory to shrink: the table stays as it is */
}

bool kv_index_remove(struct kv_index *x, uint64_t hash, uint64_t pos)
{
    uint64_t i;

    assert_imu_held(x);
    i = find_slot(x, hash, pos);
    if (i == UINT64_MAX)
        return false;
    delete_at(x, i);
    maybe_shrink(x);
    return true;
}

uint64_t kv_index_sweep(struct kv_index *x, uint64_t tail)
{
    uint64_t removed = 0;

    assert_imu_held(x);
    /* A deletion shifts later slots of the cluster back into slot i, so i is looked at again
     * before moving on. Slots that wrap around to the start of the table only ever move
     * entries already kept. */
    for (uint64_t i = 0; i <= x->mask;) {
        if (tag_at(x, i) != 0 && pos_at(x, i) < tail) {
            delete_at(x, i);
            removed++;
        } else {
            i++;
        }
    }
    maybe_shrink(x);
    return removed;
}

int kv_index_make(struct kv_index *x, uint64_t slots)
{
    struct kv_index old = *x;
    int rc;

    if (slots < KV_INDEX_MIN || (slots & (slots - 1)) != 0)
        return AWC_EINVAL;
    rc = table_make(x, slots);
    if (rc != AWC_OK) {
        *x = old;
        return rc;
    }
    x->top = 0;
    kv_free(old.t);
    return AWC_OK;
}

bool kv_index_load(struct kv_index *x, uint64_t hash, uint64_t pos)
{
    uint64_t tag = tag_of(hash), i = home(x, tag), t;

    if ((x->used + 1) * 32 > (x->mask + 1) * 31 || pos % KV_ALIGN != 0 ||
        (x->used > 0 && (pos + KV_INDEX_SPAN <= x->top || x->top + KV_INDEX_SPAN <= pos)))
        return false;
    for (; (t = tag_at(x, i)) != 0; i = (i + 1) & x->mask)
        if (t == tag && pos_at(x, i) == pos)
            return false; /* the same slot twice: not a checkpoint this code wrote */
    if (pos > x->top || x->used == 0)
        x->top = pos;
    set_slot(x, i, tag, pos);
    x->used++;
    return true;
}

bool kv_index_slot(const struct kv_index *x, uint64_t i, uint64_t *hash, uint64_t *pos)
{
    uint64_t tag = tag_at(x, i);

    if (tag == 0)
        return false;
    *hash = tag | KV_HASH_SET;
    *pos = pos_at(x, i);
    return true;
}
