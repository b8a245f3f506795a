/*
 * engine/kv_index.c: the key-value cache's index in RAM (README 9.4): an open-addressing table
 * with linear probing and backward-shift deletion (no tombstones), 16 bytes per slot.
 *
 * Sizing: the table doubles when an add would make it more than 3/4 full, and halves when a
 * removal leaves it less than 3/16 full (never below KV_INDEX_MIN slots). After a doubling it is
 * 3/8 full, after a halving 3/8 full: between 3/16 and 3/4 full at all times, so an item costs
 * 16 / (3/4) = 21.3 to 16 / (3/16) = 85.3 bytes of table.
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

/* The slot a hash's probe starts at. The hash's low bits are spread by XXH3 already; the weak
 * hash of the tests keeps its 6 bits there on purpose (long probes, many collisions). */
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

static uint64_t home(const struct kv_index *x, uint64_t hash)
{
    return hash & x->mask;
}

static int table_make(struct kv_index *x, uint64_t slots)
{
    size_t size;
    struct kv_slot *t;

    if (slots > SIZE_MAX / sizeof(*t))
        return AWC_ENOMEM;
    size = (size_t)slots * sizeof(*t);
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

static void put_slot(struct kv_index *x, uint64_t hash, uint64_t pos)
{
    uint64_t i = home(x, hash);

    while (x->t[i].hash != 0)
        i = (i + 1) & x->mask;
    x->t[i].hash = hash;
    x->t[i].pos = pos;
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
        if (old.t[i].hash != 0)
            put_slot(x, old.t[i].hash, old.t[i].pos);
    kv_free(old.t);
    return AWC_OK;
}

size_t kv_index_find(const struct kv_index *x, uint64_t hash, uint64_t *cursor, uint64_t *pos,
                     size_t max)
{
    uint64_t i = *cursor == 0 ? home(x, hash) : *cursor - 1, walked = 0;
    size_t n = 0;

    assert_imu_held(x);
    while (x->t[i].hash != 0 && walked <= x->mask) {
        if (x->t[i].hash == hash) {
            if (n == max) {
                *cursor = i + 1;
                return n;
            }
            pos[n++] = x->t[i].pos;
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
    if ((x->used + 1) * 4 > slots * 3 && slots <= UINT64_MAX / 2) {
        if (resize(x, slots * 2) != AWC_OK && (x->used + 1) * 8 > slots * 7)
            return AWC_ENOMEM;
    }
    return AWC_OK;
}

int kv_index_add(struct kv_index *x, uint64_t hash, uint64_t pos)
{
    int rc = kv_index_reserve(x);

    if (rc == AWC_OK)
        put_slot(x, hash, pos);
    return rc;
}

static uint64_t find_slot(const struct kv_index *x, uint64_t hash, uint64_t pos)
{
    uint64_t i = home(x, hash);

    for (uint64_t walked = 0; x->t[i].hash != 0 && walked <= x->mask; walked++) {
        if (x->t[i].hash == hash && x->t[i].pos == pos)
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
    x->t[i].pos = new_pos;
    return true;
}

/* Backward-shift deletion of slot i: each later slot of the cluster whose home is not between
 * the hole and itself (cyclically) moves into the hole, until an empty slot ends the cluster. */
static void delete_at(struct kv_index *x, uint64_t i)
{
    uint64_t j = i;

    for (;;) {
        j = (j + 1) & x->mask;
        if (x->t[j].hash == 0)
            break;
        uint64_t h = home(x, x->t[j].hash);
        /* The slot at j may fill the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            x->t[i] = x->t[j];
            i = j;
        }
    }
    x->t[i].hash = 0;
    x->t[i].pos = 0;
    x->used--;
}

static void maybe_shrink(struct kv_index *x)
{
    uint64_t slots = x->mask + 1;

    if (slots > KV_INDEX_MIN && x->used * 16 < slots * 3)
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
        if (x->t[i].hash != 0 && x->t[i].pos < tail) {
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
    kv_free(old.t);
    return AWC_OK;
}

bool kv_index_load(struct kv_index *x, uint64_t hash, uint64_t pos)
{
    uint64_t i = home(x, hash);

    if ((x->used + 1) * 8 > (x->mask + 1) * 7)
        return false;
    for (; x->t[i].hash != 0; i = (i + 1) & x->mask)
        if (x->t[i].hash == hash && x->t[i].pos == pos)
            return false; /* the same slot twice: not a checkpoint this code wrote */
    x->t[i].hash = hash;
    x->t[i].pos = pos;
    x->used++;
    return true;
}
