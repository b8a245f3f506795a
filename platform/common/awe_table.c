/*
 * platform/common/awe_table.c: the window table and the other OS-independent tables of AWE (see
 * awe_common.h for the split and the picture). Compiled on every OS; it includes no OS header
 * and takes no lock: the callers hold their map_mu wherever a table is read or changed.
 */
#include "awe_common.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- One window's tables ------------------------------------------------------------------ */

struct window *wtab_window_new(size_t pages, unsigned shift, unsigned flags, int pool)
{
    struct window *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->pages = pages;
    w->shift = shift;
    w->flags = flags;
    w->pool = pool;
    w->slots = calloc(pages, sizeof(*w->slots));
    w->pending = calloc((pages + 63) / 64, sizeof(*w->pending));
    if (w->slots == NULL || w->pending == NULL) {
        wtab_window_free(w);
        return NULL;
    }
    return w;
}

void wtab_window_free(struct window *w)
{
    free(w->slots);
    free(w->pending);
    free(w);
}

/* ---- The table ---------------------------------------------------------------------------- */

struct window *wtab_find(const struct window_table *t, uintptr_t va)
{
    size_t lo = 0, hi = t->n;

    assert_lock_held(LOCK_MAP);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct window *w = t->v[mid];

        if (va < w->base)
            hi = mid;
        else if (va - w->base >= (w->pages << w->shift))
            lo = mid + 1;
        else
            return w;
    }
    return NULL;
}

int wtab_grow(struct window_table *t)
{
    assert_lock_held(LOCK_MAP);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct window **nv = realloc(t->v, cap * sizeof(*nv));

        if (nv == NULL)
            return PLAT_ENOMEM;
        t->v = nv;
        t->cap = cap;
    }
    return 0;
}

void wtab_insert(struct window_table *t, struct window *w)
{
    size_t lo = 0, hi = t->n;

    assert_lock_held(LOCK_MAP);
    assert(t->n < t->cap);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->v[mid]->base < w->base)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&t->v[lo + 1], &t->v[lo], (t->n - lo) * sizeof(*t->v));
    t->v[lo] = w;
    t->n++;
}

void wtab_remove(struct window_table *t, struct window *w)
{
    size_t at;

    assert_lock_held(LOCK_MAP);
    for (at = 0; t->v[at] != w; at++)
        assert(at + 1 < t->n);
    memmove(&t->v[at], &t->v[at + 1], (t->n - at - 1) * sizeof(*t->v));
    t->n--;
}

/* ---- Arguments and lookups ---------------------------------------------------------------- */

int wtab_reserve_args(const struct plat_caps *c, void *want, size_t page, size_t align,
                      size_t *size, size_t *pages, uintptr_t *want_a)
{
    size_t sz = *size;
    uintptr_t a;

    if (sz > SIZE_MAX - page)
        return PLAT_ENOMEM;
    sz = (sz + page - 1) & ~(page - 1);
    /* More than the whole application address space can never be reserved: refused before its
     * tables (a slot per page) are allocated. */
    if (sz - 1 > c->max_app_address - c->min_app_address)
        return PLAT_ENOMEM;
    a = (uintptr_t)want & ~(uintptr_t)(align - 1);
    if (want != NULL &&
        (a < c->min_app_address || a > c->max_app_address || sz - 1 > c->max_app_address - a))
        return PLAT_EADDRNOTAVAIL;
    *size = sz;
    *pages = sz / page;
    *want_a = a;
    return 0;
}

int wtab_range(const struct window_table *t, const void *va, size_t count, struct window **w,
               uintptr_t *a, size_t *first)
{
    struct window *found = wtab_find(t, (uintptr_t)va);
    uintptr_t at;
    size_t f;

    if (found == NULL)
        return PLAT_EINVAL;
    at = (uintptr_t)va & ~(((uintptr_t)1 << found->shift) - 1);
    f = (at - found->base) >> found->shift;
    if (count > found->pages - f)
        return PLAT_EINVAL;
    *w = found;
    *a = at;
    *first = f;
    return 0;
}

int wtab_query(const struct window_table *t, const void *va, plat_frame_t *frame)
{
    struct window *w = wtab_find(t, (uintptr_t)va);

    if (w == NULL)
        return PLAT_EINVAL;
    *frame = w->slots[((uintptr_t)va - w->base) >> w->shift];
    return 0;
}

int wtab_extent(const struct window_table *t, const void *va, void **base, size_t *size)
{
    struct window *w = wtab_find(t, (uintptr_t)va);

    if (w == NULL)
        return PLAT_EADDRNOTAVAIL;
    *base = (void *)w->base;
    *size = w->pages << w->shift;
    return 0;
}
