/*
 * engine/bt_walk.c: the whole-tree walk (README 11.7): depth first from the root with shared
 * pins, one path pinned at a time. awc_bt_check uses it to check the structure, awc_bt_get_stats
 * to count, and open to find the pages in use (it then reads the inner nodes only).
 */
#include "bt.h"

#include <stdarg.h>
#include <stdio.h>

/* Describes the first fault in w->msg; returns AWC_EBADFILE. */
static int fault(struct bt_walk *w, const char *fmt, ...)
{
    va_list ap;

    if (w->msg != NULL && w->msg_len > 0 && w->msg[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(w->msg, w->msg_len, fmt, ap);
        va_end(ap);
    }
    return AWC_EBADFILE;
}

/* The key range a node must keep to: [lo, hi), either end open when NULL. */
struct range {
    const uint8_t *lo, *hi;
    size_t lo_len, hi_len;
};

/* Step 2 of a node: its keys strictly increasing and inside its range (README 11.7). */
static int check_keys(struct bt_walk *w, uint64_t page, const uint8_t *node, struct range r)
{
    uint32_t n = bt_n(node);
    const uint8_t *prev = NULL;
    size_t prev_len = 0;

    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *k = bt_key_at(node, i, &len);

        if (prev != NULL && bt_cmp(prev, prev_len, k, len) >= 0)
            return fault(w, "page %llu: key %u not above key %u", (unsigned long long)page, i,
                         i - 1);
        if (r.lo != NULL && bt_cmp(k, len, r.lo, r.lo_len) < 0)
            return fault(w, "page %llu: key %u below the parent's separator",
                         (unsigned long long)page, i);
        if (r.hi != NULL && bt_cmp(k, len, r.hi, r.hi_len) >= 0)
            return fault(w, "page %llu: key %u not below the parent's separator",
                         (unsigned long long)page, i);
        prev = k;
        prev_len = len;
    }
    return AWC_OK;
}

static int walk_node(struct awc_bt *bt, struct bt_walk *w, uint64_t page, int level, struct range r,
                     bool only_child)
{
    uint8_t *node;
    uint32_t n;
    int rc;

    /* Step 1: the page number, reached once. */
    if (page < BT_META_PAGES || page >= atomic_load_explicit(&bt->pages, memory_order_relaxed))
        return fault(w, "page %llu out of the tree's range", (unsigned long long)page);
    if (w->seen != NULL) {
        if (page >= w->nbits || (w->seen[page / 8] >> (page % 8) & 1) != 0)
            return fault(w, "page %llu reachable twice", (unsigned long long)page);
        w->seen[page / 8] |= (uint8_t)(1u << (page % 8));
    }
    if (level == 0 && !w->leaves)
        return AWC_OK;
    /* Step 2: the node. */
    rc = bt_pin_node(bt, page, AWC_SHARED, level, &node);
    if (rc == AWC_EBADFILE)
        return fault(w, "page %llu is not a well-formed node at level %d", (unsigned long long)page,
                     level);
    if (rc != AWC_OK)
        return rc;
    n = bt_n(node);
    w->by_level[level]++;
    w->used_by_kind[level == 0 ? BT_LEAF : BT_INNER] += bt_used(node);
    if (w->check) {
        rc = check_keys(w, page, node, r);
        /* Fill: a leaf holds a key unless it is the root or an only child (lazy deletion,
         * README 11.3.3); no node holds more than its bytes (bt_node_valid). */
        if (rc == AWC_OK && level == 0 && n == 0 && !only_child)
            rc = fault(w, "page %llu: an empty leaf beside siblings", (unsigned long long)page);
    }
    if (level == 0)
        w->keys += n;
    /* Step 3: the children, each within its separators. */
    for (uint32_t j = 0; rc == AWC_OK && level > 0 && j <= n; j++) {
        struct range cr = r;

        if (j > 0)
            cr.lo = bt_key_at(node, j - 1, &cr.lo_len);
        if (j < n)
            cr.hi = bt_key_at(node, j, &cr.hi_len);
        rc = walk_node(bt, w, bt_child(node, j), level - 1, cr, n == 0);
    }
    awc_unpin(bt->cache, page, 0);
    return rc;
}

int bt_walk(struct awc_bt *bt, struct bt_walk *w)
{
    uint64_t root = atomic_load_explicit(&bt->root, memory_order_acquire);
    uint32_t height = atomic_load_explicit(&bt->height, memory_order_acquire);
    struct range all = {0};

    if (w->msg != NULL && w->msg_len > 0)
        w->msg[0] = '\0';
    if (height == 0 || height > AWC_BT_MAX_HEIGHT)
        return fault(w, "height %u out of range", height);
    return walk_node(bt, w, root, (int)height - 1, all, true);
}
