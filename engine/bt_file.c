/*
 * engine/bt_file.c: the B+-tree's life on its file (README 11.5): the meta pages, open (with the
 * walk that finds the free pages), flush, close, stats and check.
 *
 * A meta page (the first 64 bytes of page g % 2 for generation g):
 *
 *   u64 magic "AWCBTMET" | u32 version | u32 page_size | u32 node_bytes | u32 height |
 *   u64 generation | u64 root | u64 pages (the high-water mark) | u64 count | u64 XXH3 of the 56
 *   bytes before it
 */
#include "bt.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define META_MAGIC   UINT64_C(0x54454d5442435741) /* "AWCBTMET" */
#define META_VERSION 1u
#define META_BYTES   64u

struct meta {
    uint64_t magic;
    uint32_t version, page_size, node_bytes, height;
    uint64_t gen, root, pages, count, sum;
};

static struct awc_bt *_Atomic closed_bts;

static void meta_encode(const struct meta *m, uint8_t *p)
{
    memset(p, 0, META_BYTES);
    memcpy(p, &m->magic, 8);
    memcpy(p + 8, &m->version, 4);
    memcpy(p + 12, &m->page_size, 4);
    memcpy(p + 16, &m->node_bytes, 4);
    memcpy(p + 20, &m->height, 4);
    memcpy(p + 24, &m->gen, 8);
    memcpy(p + 32, &m->root, 8);
    memcpy(p + 40, &m->pages, 8);
    memcpy(p + 48, &m->count, 8);
    uint64_t sum = XXH3_64bits(p, 56);
    memcpy(p + 56, &sum, 8);
}

/* What a meta page holds. */
enum meta_state { META_NONE, META_VALID, META_FOREIGN, META_DAMAGED };

static enum meta_state meta_read(struct awc_bt *bt, uint64_t page, struct meta *m, int *err)
{
    static const uint8_t zeros[META_BYTES];
    uint8_t buf[META_BYTES];
    void *p;
    int rc = awc_pin(bt->cache, page, AWC_SHARED, &p);

    *err = rc;
    if (rc == AWC_ECHECKSUM)
        return META_DAMAGED;
    if (rc != AWC_OK)
        return META_DAMAGED;
    memcpy(buf, p, META_BYTES);
    awc_unpin(bt->cache, page, 0);
    if (memcmp(buf, zeros, META_BYTES) == 0)
        return META_NONE;
    memcpy(&m->magic, buf, 8);
    memcpy(&m->version, buf + 8, 4);
    memcpy(&m->page_size, buf + 12, 4);
    memcpy(&m->node_bytes, buf + 16, 4);
    memcpy(&m->height, buf + 20, 4);
    memcpy(&m->gen, buf + 24, 8);
    memcpy(&m->root, buf + 32, 8);
    memcpy(&m->pages, buf + 40, 8);
    memcpy(&m->count, buf + 48, 8);
    memcpy(&m->sum, buf + 56, 8);
    if (m->magic != META_MAGIC || m->version != META_VERSION || m->sum != XXH3_64bits(buf, 56))
        return META_FOREIGN;
    if (m->height == 0 || m->height > AWC_BT_MAX_HEIGHT || m->root < BT_META_PAGES ||
        m->root >= m->pages || m->node_bytes < BT_MIN_NODE || m->node_bytes > m->page_size)
        return META_FOREIGN;
    return META_VALID;
}

/* Writes the meta page of generation m->gen (page gen % 2) and leaves it dirty. */
static int meta_write(struct awc_bt *bt, const struct meta *m)
{
    void *p;
    int rc = awc_pin(bt->cache, m->gen % BT_META_PAGES, AWC_OVERWRITE, &p);

    if (rc != AWC_OK)
        return rc;
    meta_encode(m, p);
    return awc_unpin(bt->cache, m->gen % BT_META_PAGES, 1);
}

static struct meta meta_now(const struct awc_bt *bt, uint64_t gen)
{
    struct meta m = {
        .magic = META_MAGIC,
        .version = META_VERSION,
        .page_size = (uint32_t)bt->page_size,
        .node_bytes = bt->cap,
        .height = atomic_load_explicit(&bt->height, memory_order_relaxed),
        .gen = gen,
        .root = atomic_load_explicit(&bt->root, memory_order_relaxed),
        .pages = atomic_load_explicit(&bt->pages, memory_order_relaxed),
        .count = atomic_load_explicit(&bt->count, memory_order_relaxed),
    };
    return m;
}

/* ---- Flush (README 11.5.2) --------------------------------------------------------------- */

/* The flush itself; the caller holds fmu and the epoch lock exclusively. */
static int flush_locked(struct awc_bt *bt)
{
    uint64_t gen = atomic_load_explicit(&bt->epoch, memory_order_relaxed);
    struct meta m;
    int rc;

    plat_mutex_assert_held(&bt->fmu);
    if (!atomic_load_explicit(&bt->changed, memory_order_relaxed))
        return AWC_OK;
    /* Step 1: the epoch's nodes durable. */
    rc = awc_flush(bt->cache);
    if (rc != AWC_OK)
        return rc;
    /* Step 2: the meta page of the new generation, durable. */
    m = meta_now(bt, gen);
    rc = meta_write(bt, &m);
    if (rc != AWC_OK)
        return rc; /* the meta page was not written: nothing changed */
    rc = awc_flush(bt->cache);
    /* Step 3: a new epoch: every node now is the durable tree's (or may be, when the meta
     * page's flush failed: README 11.5.2), so the next change copies it. */
    atomic_store_explicit(&bt->epoch, gen + 1, memory_order_relaxed);
    atomic_store_explicit(&bt->changed, false, memory_order_relaxed);
    if (rc != AWC_OK)
        return rc; /* the pages freed stay pending: the older tree may still be the durable one */
    /* Step 4: the pages the last generations freed are free. */
    plat_mutex_lock(&bt->amu);
    rc = bt_reserve(&bt->free, &bt->free_cap, bt->nfree + bt->npending);
    if (rc == AWC_OK) {
        memcpy(bt->free + bt->nfree, bt->pending, bt->npending * sizeof(uint64_t));
        bt->nfree += bt->npending;
        bt->npending = 0;
    }
    plat_mutex_unlock(&bt->amu);
    return AWC_OK; /* (without memory for the free list, the pages wait for a later flush) */
}

AWC_API int awc_bt_flush(awc_bt_t *bt)
{
    int rc = bt_check_handle(bt);

    if (rc == AWC_OK)
        rc = bt_check_no_refs();
    if (rc != AWC_OK)
        return rc;
    if (bt->readonly)
        return AWC_EACCES; /* as the header says: nothing a read-only tree could make durable */
    plat_mutex_lock(&bt->fmu);
    bt_epoch_lock(bt);
    rc = flush_locked(bt);
    bt_epoch_unlock(bt);
    plat_mutex_unlock(&bt->fmu);
    return rc;
}

/* ---- Open (README 11.5.4) ---------------------------------------------------------------- */

/* Step 4 of open: the pages in use, from a walk of the inner nodes; every other page below the
 * high-water mark is free. */
static int find_free(struct awc_bt *bt)
{
    uint64_t pages = atomic_load_explicit(&bt->pages, memory_order_relaxed);
    uint64_t root = atomic_load_explicit(&bt->root, memory_order_relaxed);
    struct bt_walk w = {0};
    uint8_t *node;
    int rc;

    /* The walk reads inner nodes only, so a tree of height 1 has its root's level checked here:
     * a meta page another client wrote with height 1 over an inner root made every write wait
     * for the root to turn into a leaf, for ever (find_leaf takes a mismatch for a root moving
     * under it: found by fuzz/fuzz_bt_raw). A root that cannot be read is left to the calls that
     * meet it, as before (a taller tree's root is checked by the walk). */
    if (atomic_load_explicit(&bt->height, memory_order_relaxed) == 1 &&
        bt_pin_node(bt, root, AWC_SHARED, -1, &node) == AWC_OK) {
        bool leaf = bt_level(node) == 0;

        awc_unpin(bt->cache, root, 0);
        if (!leaf)
            return AWC_EBADFILE;
    }
    w.nbits = pages;
    w.seen = calloc((size_t)(pages / 8 + 1), 1);
    if (w.seen == NULL)
        return AWC_ENOMEM;
    rc = bt_walk(bt, &w);
    for (uint64_t p = BT_META_PAGES; rc == AWC_OK && p < pages; p++) {
        if ((w.seen[p / 8] >> (p % 8) & 1) != 0)
            continue;
        rc = bt_reserve(&bt->free, &bt->free_cap, bt->nfree + 1);
        if (rc == AWC_OK)
            bt->free[bt->nfree++] = p;
    }
    free(w.seen);
    return rc;
}

/* Step 3 of open for a file with no tree: an empty root leaf (page 2) and the meta page of
 * generation 1, each made durable in turn. */
static int create_tree(struct awc_bt *bt)
{
    struct meta m;
    void *p;
    int rc = awc_pin(bt->cache, BT_META_PAGES, AWC_OVERWRITE, &p);

    if (rc != AWC_OK)
        return rc;
    bt_node_init(p, bt->cap, BT_LEAF, 0, 1);
    awc_unpin(bt->cache, BT_META_PAGES, 1);
    atomic_store_explicit(&bt->root, BT_META_PAGES, memory_order_relaxed);
    atomic_store_explicit(&bt->height, 1, memory_order_relaxed);
    atomic_store_explicit(&bt->pages, BT_META_PAGES + 1, memory_order_relaxed);
    rc = awc_flush(bt->cache);
    if (rc != AWC_OK)
        return rc;
    m = meta_now(bt, 1);
    rc = meta_write(bt, &m);
    if (rc == AWC_OK)
        rc = awc_flush(bt->cache);
    atomic_store_explicit(&bt->epoch, 2, memory_order_relaxed);
    return rc;
}

/* Steps 2 and 3 of open: the newer valid meta page, or a new tree. */
static int load_meta(struct awc_bt *bt, const struct awc_bt_config *cfg)
{
    struct meta m[2] = {{0}}, *best = NULL;
    enum meta_state st[2];
    struct awc_stats cs;
    int err[2], rc;

    for (unsigned i = 0; i < 2; i++) {
        st[i] = meta_read(bt, i, &m[i], &err[i]);
        if (st[i] == META_DAMAGED && err[i] != AWC_ECHECKSUM)
            return err[i];
        if (st[i] == META_VALID && (best == NULL || m[i].gen > best->gen))
            best = &m[i];
    }
    rc = awc_get_stats(bt->cache, &cs);
    if (rc != AWC_OK)
        return rc;
    if (best == NULL) {
        /* No tree: a new one only where nothing else lies (at most what a crash while
         * creating one leaves: its root leaf). */
        if (st[0] == META_DAMAGED || st[1] == META_DAMAGED)
            return AWC_ECHECKSUM;
        if (st[0] != META_NONE || st[1] != META_NONE || (cfg->flags & AWC_CREATE) == 0 ||
            bt->readonly || cs.pages_in_file > BT_META_PAGES + 1)
            return AWC_EBADFILE;
        return create_tree(bt);
    }
    if (best->page_size != bt->page_size ||
        (cfg->node_bytes != 0 && cfg->node_bytes != best->node_bytes))
        return AWC_EINVAL;
    bt->cap = best->node_bytes;
    bt->max_item = AWC_BT_MAX_ITEM(bt->cap);
    atomic_store_explicit(&bt->root, best->root, memory_order_relaxed);
    atomic_store_explicit(&bt->height, best->height, memory_order_relaxed);
    /* The high-water mark is the meta page's, but no more than the file's logical size: every
     * node lies below both (the flush makes the nodes durable, and the file's size with them,
     * before the meta page: README 11.5.2), and a larger mark (a meta page another client
     * wrote, with its XXH3 right) would make step 4 take memory and time in proportion to it,
     * up to 2^64 pages. A root at or past the file's size fails step 4 (AWC_EBADFILE). */
    atomic_store_explicit(&bt->pages,
                          best->pages < cs.pages_in_file ? best->pages : cs.pages_in_file,
                          memory_order_relaxed);
    atomic_store_explicit(&bt->count, best->count, memory_order_relaxed);
    atomic_store_explicit(&bt->epoch, best->gen + 1, memory_order_relaxed);
    return AWC_OK;
}

/* Step 1 of open: the arguments and the page cache. */
static int open_cache(struct awc_bt *bt, const struct awc_bt_config *cfg)
{
    struct awc_config c = {0};
    const unsigned allowed = AWC_CREATE | AWC_EXCL | AWC_READONLY | AWC_NO_DIRECT | AWC_NO_URING;

    if (cfg->path == NULL || (cfg->flags & ~allowed) != 0)
        return AWC_EINVAL;
    bt->page_size = cfg->page_size != 0 ? cfg->page_size : 4096;
    if (cfg->node_bytes != 0 && (cfg->node_bytes < BT_MIN_NODE || cfg->node_bytes > bt->page_size ||
                                 cfg->node_bytes % 8 != 0))
        return AWC_EINVAL;
    bt->cap = (uint32_t)(cfg->node_bytes != 0 ? cfg->node_bytes : bt->page_size);
    if (bt->page_size > ((size_t)2 << 20))
        return AWC_EINVAL; /* awc_open says so too; cap must fit 32 bits */
    bt->max_item = AWC_BT_MAX_ITEM(bt->cap);
    bt->readonly = (cfg->flags & AWC_READONLY) != 0;
    c.path = cfg->path;
    c.page_size = bt->page_size;
    c.frame_budget = cfg->frame_budget;
    c.window_budget = cfg->window_budget; /* 0: the cache's default (README 1.1) */
    c.flags = cfg->flags;
    return awc_open(&c, &bt->cache);
}

AWC_API int awc_bt_open(const struct awc_bt_config *cfg, awc_bt_t **out)
{
    struct awc_bt *bt;
    int rc;

    if (out == NULL)
        return AWC_EINVAL;
    *out = NULL;
    if (cfg == NULL)
        return AWC_EINVAL;
    bt = calloc(1, sizeof(*bt));
    if (bt == NULL)
        return AWC_ENOMEM;
    if (plat_mutex_init(&bt->fmu) != 0) {
        free(bt);
        return AWC_ENOMEM;
    }
    if (plat_mutex_init(&bt->amu) != 0) {
        plat_mutex_destroy(&bt->fmu);
        free(bt);
        return AWC_ENOMEM;
    }
    if (plat_mutex_init(&bt->rmu) != 0) {
        plat_mutex_destroy(&bt->amu);
        plat_mutex_destroy(&bt->fmu);
        free(bt);
        return AWC_ENOMEM;
    }
    /* Step 1 (the handle's own tables first: README 11.2.4, 11.4.1) */
    bt->checked = calloc(BT_CHECKED_CHUNKS, sizeof(*bt->checked));
    bt->el_slots = plat_aligned_alloc(64, BT_EL_SLOTS * sizeof(*bt->el_slots)); /* a line each */
    if (bt->el_slots != NULL)
        memset(bt->el_slots, 0, BT_EL_SLOTS * sizeof(*bt->el_slots));
    rc = bt->checked != NULL && bt->el_slots != NULL ? open_cache(bt, cfg) : AWC_ENOMEM;
    /* Steps 2 and 3 */
    if (rc == AWC_OK)
        rc = load_meta(bt, cfg);
    /* Step 4 */
    if (rc == AWC_OK)
        rc = find_free(bt);
    if (rc != AWC_OK) {
        if (bt->cache != NULL)
            awc_close(bt->cache);
        bt_free_caches(bt);
        free(bt->free);
        plat_mutex_destroy(&bt->rmu);
        plat_mutex_destroy(&bt->amu);
        plat_mutex_destroy(&bt->fmu);
        free(bt);
        return rc;
    }
    bt->magic = BT_MAGIC;
    *out = bt;
    return AWC_OK;
}

AWC_API int awc_bt_close(awc_bt_t *bt)
{
    int rc = bt_check_handle(bt), rc2;

    if (rc == AWC_OK)
        rc = bt_check_no_refs();
    if (rc != AWC_OK)
        return rc;
    plat_mutex_lock(&bt->fmu);
    rc = bt_check_handle(bt);
    if (rc == AWC_OK &&
        (bt_refs_live(bt) != 0 || atomic_load_explicit(&bt->cursors, memory_order_acquire) != 0))
        rc = AWC_EBUSY;
    if (rc != AWC_OK) {
        plat_mutex_unlock(&bt->fmu);
        return rc;
    }
    bt_epoch_lock(bt);
    bt->magic = BT_DEAD;
    rc = bt->readonly ? AWC_OK : flush_locked(bt);
    bt_epoch_unlock(bt);
    plat_mutex_unlock(&bt->fmu);
    rc2 = awc_close(bt->cache);
    if (rc == AWC_OK)
        rc = rc2;
    bt->cache = NULL;
    bt_free_caches(bt);
    free(bt->free);
    free(bt->pending);
    free(bt->marks);
    bt->free = bt->pending = NULL;
    bt->marks = NULL;
    bt->next_closed = atomic_load_explicit(&closed_bts, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&closed_bts, &bt->next_closed, bt,
                                                  memory_order_release, memory_order_relaxed))
        ;
    return rc;
}

/* ---- Stats and check (README 11.7) ------------------------------------------------------- */

/* Step 3 of the check: the count, and no free or pending page reachable. */
static int check_totals(struct awc_bt *bt, struct bt_walk *w)
{
    bool reachable = false;

    if (w->keys != atomic_load_explicit(&bt->count, memory_order_relaxed)) {
        snprintf(w->msg, w->msg_len, "the leaves hold %llu keys, the count says %llu",
                 (unsigned long long)w->keys,
                 (unsigned long long)atomic_load_explicit(&bt->count, memory_order_relaxed));
        return AWC_EBADFILE;
    }
    plat_mutex_lock(&bt->amu);
    for (size_t i = 0; !reachable && i < bt->nfree + bt->npending; i++) {
        uint64_t p = i < bt->nfree ? bt->free[i] : bt->pending[i - bt->nfree];

        reachable = p < w->nbits && (w->seen[p / 8] >> (p % 8) & 1) != 0;
    }
    plat_mutex_unlock(&bt->amu);
    if (!reachable)
        return AWC_OK;
    snprintf(w->msg, w->msg_len, "a free page is reachable");
    return AWC_EBADFILE;
}

/* Walks the tree alone (the epoch lock held exclusively), then checks the totals when asked. */
static int walk_alone(struct awc_bt *bt, struct bt_walk *w)
{
    int rc = bt_check_no_refs();

    if (rc != AWC_OK)
        return rc;
    plat_mutex_lock(&bt->fmu);
    bt_epoch_lock(bt);
    rc = bt_walk(bt, w);
    if (rc == AWC_OK && w->check)
        rc = check_totals(bt, w);
    bt_epoch_unlock(bt);
    plat_mutex_unlock(&bt->fmu);
    return rc;
}

/* The fields that need no walk; caller checked the handle. */
static int counters(awc_bt_t *bt, struct awc_bt_stats *s)
{
    int rc;

    memset(s, 0, sizeof(*s));
    rc = awc_get_stats(bt->cache, &s->cache);
    if (rc != AWC_OK)
        return rc;
    s->count = atomic_load_explicit(&bt->count, memory_order_relaxed);
    s->height = atomic_load_explicit(&bt->height, memory_order_relaxed);
    plat_mutex_lock(&bt->amu);
    s->free_pages = bt->nfree;
    s->pending_pages = bt->npending;
    plat_mutex_unlock(&bt->amu);
    s->file_pages = atomic_load_explicit(&bt->pages, memory_order_relaxed);
    s->splits = atomic_load_explicit(&bt->splits, memory_order_relaxed);
    s->merges = atomic_load_explicit(&bt->merges, memory_order_relaxed);
    s->copies = atomic_load_explicit(&bt->copies, memory_order_relaxed);
    s->generation = atomic_load_explicit(&bt->epoch, memory_order_relaxed) - 1;
    s->node_bytes = bt->cap;
    s->max_item = bt->max_item;
    return AWC_OK;
}

AWC_API int awc_bt_get_counters(awc_bt_t *bt, struct awc_bt_stats *s)
{
    int rc = bt_check_handle(bt);

    if (rc != AWC_OK)
        return rc;
    if (s == NULL)
        return AWC_EINVAL;
    return counters(bt, s);
}

AWC_API int awc_bt_get_stats(awc_bt_t *bt, struct awc_bt_stats *s)
{
    struct bt_walk w = {.leaves = true};
    uint64_t leaves, inner;
    int rc = bt_check_handle(bt);

    if (rc != AWC_OK)
        return rc;
    if (s == NULL)
        return AWC_EINVAL;
    rc = walk_alone(bt, &w);
    if (rc == AWC_OK)
        rc = counters(bt, s);
    if (rc != AWC_OK)
        return rc;
    for (unsigned i = 0; i < AWC_BT_MAX_HEIGHT; i++) {
        s->pages_by_level[i] = w.by_level[i];
        s->pages += w.by_level[i];
    }
    leaves = w.by_level[0];
    inner = s->pages - leaves;
    s->leaf_fill_pct = leaves > 0 ? w.used_by_kind[BT_LEAF] * 100 / (leaves * bt->cap) : 0;
    s->inner_fill_pct = inner > 0 ? w.used_by_kind[BT_INNER] * 100 / (inner * bt->cap) : 0;
    return AWC_OK;
}

AWC_API int awc_bt_check(awc_bt_t *bt, char *msg, size_t msg_len)
{
    char none[1];
    struct bt_walk w = {.check = true, .leaves = true, .msg = msg, .msg_len = msg_len};
    int rc = bt_check_handle(bt);

    if (rc != AWC_OK)
        return rc;
    if (msg == NULL || msg_len == 0) {
        w.msg = none;
        w.msg_len = sizeof(none);
    }
    w.nbits = atomic_load_explicit(&bt->pages, memory_order_relaxed) + 4096;
    w.seen = calloc((size_t)(w.nbits / 8 + 1), 1);
    if (w.seen == NULL)
        return AWC_ENOMEM;
    rc = walk_alone(bt, &w);
    free(w.seen);
    return rc;
}
