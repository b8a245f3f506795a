/*
 * engine/table.c: the page table (README 2.5): page number -> buffer, open addressing with linear
 * probing over 16-byte entries (key and buffer on one cache line). Lookups take no lock; inserts
 * and removals hold the cache lock. A removal closes its gap by moving later entries of the probe
 * run back (no deleted markers, so runs stay as short as the load allows). A lookup racing with a
 * removal may miss an entry being moved, or return a buffer that no longer holds the page: the
 * caller pins it and checks the buffer's page (README 3.2), so a stale answer costs a retry, never
 * a wrong page, and a lookup that misses goes to the locked slow path, which is authoritative.
 */
#include "internal.h"

#include <stdlib.h>

#define KEY_EMPTY UINT64_C(0)
#define KEY(page) ((page) + 1)

struct tent {
    _Atomic uint64_t key; /* page + 1, or KEY_EMPTY */
    _Atomic uint32_t val; /* the buffer */
    uint32_t pad;
};

_Static_assert(sizeof(struct tent) == 16, "four entries per cache line");

static uint64_t slot_of(const struct awc *c, uint64_t page)
{
    return (page * UINT64_C(0x9E3779B97F4A7C15)) >> 17 & c->tmask;
}

int table_init(struct awc *c)
{
    uint64_t size = 64;
    size_t bytes;

    while (size < 4 * c->nbuf)
        size <<= 1;
    if (!eng_size_mul(size, sizeof(struct tent), &bytes))
        return AWC_ENOMEM; /* more than a 32-bit address space */
    c->table = calloc((size_t)size, sizeof(struct tent));
    if (c->table == NULL)
        return AWC_ENOMEM;
    c->tmask = size - 1;
    return AWC_OK;
}

void table_free(struct awc *c)
{
    free(c->table);
    c->table = NULL;
}

uint32_t table_lookup(const struct awc *c, uint64_t page)
{
    const struct tent *t = c->table;
    uint64_t i = slot_of(c, page), key = KEY(page);

    for (uint64_t n = 0; n <= c->tmask; n++, i = (i + 1) & c->tmask) {
        uint64_t k = atomic_load_explicit(&t[i].key, memory_order_acquire);

        if (k == key)
            return atomic_load_explicit(&t[i].val, memory_order_relaxed);
        if (k == KEY_EMPTY)
            break;
    }
    return NO_BUF;
}

int table_insert(struct awc *c, uint64_t page, uint32_t buf)
{
    struct tent *t = c->table;
    uint64_t i = slot_of(c, page);

    plat_mutex_assert_held(&c->mu);
    for (uint64_t n = 0; n <= c->tmask; n++, i = (i + 1) & c->tmask) {
        if (atomic_load_explicit(&t[i].key, memory_order_relaxed) == KEY_EMPTY) {
            atomic_store_explicit(&t[i].val, buf, memory_order_relaxed);
            atomic_store_explicit(&t[i].key, KEY(page), memory_order_release);
            return AWC_OK;
        }
    }
    return AWC_ENOMEM; /* cannot happen: the table has 4 entries per buffer */
}

/* Removes page's entry, then closes the gap (README 2.5): each later entry of the run whose home
 * lies at or before the gap moves into it (buffer first, then key, so that a lookup that finds
 * the key there finds its buffer), and its old place becomes the gap; the last gap is emptied. */
void table_remove(struct awc *c, uint64_t page)
{
    struct tent *t = c->table;
    uint64_t i = slot_of(c, page), key = KEY(page), n, gap;

    plat_mutex_assert_held(&c->mu);
    for (n = 0; n <= c->tmask; n++, i = (i + 1) & c->tmask) {
        uint64_t k = atomic_load_explicit(&t[i].key, memory_order_relaxed);

        if (k == key)
            break;
        if (k == KEY_EMPTY)
            return;
    }
    if (n > c->tmask)
        return;
    gap = i;
    for (uint64_t j = (i + 1) & c->tmask; j != gap; j = (j + 1) & c->tmask) {
        uint64_t k = atomic_load_explicit(&t[j].key, memory_order_relaxed), home;

        if (k == KEY_EMPTY)
            break;
        home = slot_of(c, k - 1);
        if (((j - home) & c->tmask) < ((j - gap) & c->tmask))
            continue; /* its home lies after the gap: it stays */
        atomic_store_explicit(&t[gap].val, atomic_load_explicit(&t[j].val, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&t[gap].key, k, memory_order_release);
        gap = j;
    }
    atomic_store_explicit(&t[gap].key, KEY_EMPTY, memory_order_release);
}
