/*
 * engine/table.c: the page table (README 2.5): page number -> buffer, open addressing over atomic
 * entries. Lookups take no lock; inserts and removals hold the cache lock. A lookup racing with a
 * removal may return a buffer that no longer holds the page: the caller pins it and checks the
 * buffer's page (README 3.2), so a stale answer costs a retry, never a wrong page. A lookup that
 * misses goes to the locked slow path, which is authoritative.
 */
#include "internal.h"

#include <stdlib.h>

#define KEY_EMPTY   UINT64_C(0)
#define KEY_DELETED UINT64_C(1)
#define KEY(page)   ((page) + 2)

static uint64_t slot_of(const struct awc *c, uint64_t page)
{
    return (page * UINT64_C(0x9E3779B97F4A7C15)) >> 17 & c->tmask;
}

int table_init(struct awc *c)
{
    uint64_t size = 64;
    size_t key_bytes;

    while (size < 4 * c->nbuf)
        size <<= 1;
    if (!eng_size_mul(size, sizeof(*c->keys), &key_bytes))
        return AWC_ENOMEM; /* more than a 32-bit address space */
    c->keys = calloc((size_t)size, sizeof(*c->keys));
    c->vals = calloc((size_t)size, sizeof(*c->vals));
    if (c->keys == NULL || c->vals == NULL)
        return AWC_ENOMEM;
    c->tmask = size - 1;
    c->tused = 0;
    return AWC_OK;
}

void table_free(struct awc *c)
{
    free((void *)c->keys);
    free((void *)c->vals);
    c->keys = NULL;
    c->vals = NULL;
}

uint32_t table_lookup(const struct awc *c, uint64_t page)
{
    uint64_t i = slot_of(c, page), key = KEY(page);

    for (uint64_t n = 0; n <= c->tmask; n++, i = (i + 1) & c->tmask) {
        uint64_t k = atomic_load_explicit(&c->keys[i], memory_order_acquire);

        if (k == key)
            return atomic_load_explicit(&c->vals[i], memory_order_relaxed);
        if (k == KEY_EMPTY)
            break;
    }
    return NO_BUF;
}

/* Rebuilds the table without deleted entries. Lookups running meanwhile may miss and take the
 * slow path, which waits for the cache lock we hold: correct, only slower. */
static void table_compact(struct awc *c)
{
    uint64_t size = c->tmask + 1, i;
    uint64_t *k = malloc(size * sizeof(*k));
    uint32_t *v = malloc(size * sizeof(*v));
    uint64_t n = 0;

    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return; /* stays correct, only slower */
    }
    for (i = 0; i < size; i++) {
        uint64_t key = atomic_load_explicit(&c->keys[i], memory_order_relaxed);

        if (key > KEY_DELETED) {
            k[n] = key;
            v[n++] = atomic_load_explicit(&c->vals[i], memory_order_relaxed);
        }
        atomic_store_explicit(&c->keys[i], KEY_EMPTY, memory_order_release);
    }
    c->tused = 0;
    for (i = 0; i < n; i++)
        table_insert(c, k[i] - 2, v[i]);
    free(k);
    free(v);
}

int table_insert(struct awc *c, uint64_t page, uint32_t buf)
{
    uint64_t i = slot_of(c, page), key = KEY(page), reuse = UINT64_MAX;

    plat_mutex_assert_held(&c->mu);
    if (c->tused >= (c->tmask + 1) / 4 * 3)
        table_compact(c);
    for (uint64_t n = 0; n <= c->tmask; n++, i = (i + 1) & c->tmask) {
        uint64_t k = atomic_load_explicit(&c->keys[i], memory_order_relaxed);

        if (k == KEY_DELETED && reuse == UINT64_MAX)
            reuse = i;
        if (k == KEY_EMPTY) {
            if (reuse == UINT64_MAX) {
                reuse = i;
                c->tused++;
            }
            atomic_store_explicit(&c->vals[reuse], buf, memory_order_relaxed);
            atomic_store_explicit(&c->keys[reuse], key, memory_order_release);
            return AWC_OK;
        }
    }
    return AWC_ENOMEM; /* cannot happen: the table has 4 entries per buffer */
}

void table_remove(struct awc *c, uint64_t page)
{
    uint64_t i = slot_of(c, page), key = KEY(page);

    plat_mutex_assert_held(&c->mu);
    for (uint64_t n = 0; n <= c->tmask; n++, i = (i + 1) & c->tmask) {
        uint64_t k = atomic_load_explicit(&c->keys[i], memory_order_relaxed);

        if (k == key) {
            atomic_store_explicit(&c->keys[i], KEY_DELETED, memory_order_release);
            return;
        }
        if (k == KEY_EMPTY)
            return;
    }
}
