/*
 * engine/bt.c: the B+-tree's API (awecache_bt.h): the epoch lock, the page allocator, the
 * descents (shared for reads, optimistic and pessimistic for writes), put, delete, gets,
 * references and cursors. bt_file.c holds open, flush, close and the meta pages; bt_node.c the
 * node layout; bt_walk.c the whole-tree walk. README section 11 is the design; its step numbers
 * are quoted in the functions below.
 */
#include "bt.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* References this thread holds, in any tree (README 11.4.5): a thread holding one may not write
 * nor flush, and takes the epoch lock shared even while a flush waits (it holds it already). */
static _Thread_local uint64_t tls_bt_refs;

#define REF_MAGIC UINT64_C(0x4645525f54424341) /* "ACBT_REF" */

/* ---- Checks ------------------------------------------------------------------------------ */

int bt_check_handle(const struct awc_bt *bt)
{
    if (bt == NULL)
        return AWC_EINVAL;
    return bt->magic == BT_MAGIC ? AWC_OK : AWC_ECLOSED;
}

static int check_key(const void *key, size_t key_len)
{
    if (key == NULL || key_len == 0)
        return AWC_EINVAL;
    return key_len > AWC_BT_MAX_KEY ? AWC_E2BIG : AWC_OK;
}

/* The checks every call with a key starts with: the handle, then the key. */
static int check_call(const struct awc_bt *bt, const void *key, size_t key_len)
{
    int rc = bt_check_handle(bt);

    return rc == AWC_OK ? check_key(key, key_len) : rc;
}

/* The checks of put and delete: those, a read-only tree, this thread's references. */
static int check_write(const struct awc_bt *bt, const void *key, size_t key_len)
{
    int rc = check_call(bt, key, key_len);

    if (rc == AWC_OK && bt->readonly)
        rc = AWC_EACCES;
    if (rc == AWC_OK && tls_bt_refs > 0)
        rc = AWC_EDEADLK;
    return rc;
}

int bt_check_no_refs(void)
{
    return tls_bt_refs > 0 ? AWC_EDEADLK : AWC_OK;
}

/* ---- The epoch lock (README 11.4.1) ------------------------------------------------------ */

/* The slot of bt->el_slots this thread counts itself in, given out round robin. */
static _Atomic uint32_t el_next_slot;
static _Thread_local uint32_t tls_el_slot = UINT32_MAX;

static struct bt_el_slot *my_slot(struct awc_bt *bt)
{
    if (tls_el_slot == UINT32_MAX)
        tls_el_slot =
            atomic_fetch_add_explicit(&el_next_slot, 1, memory_order_relaxed) % BT_EL_SLOTS;
    return &bt->el_slots[tls_el_slot];
}

static _Atomic uint32_t *el_slot(struct awc_bt *bt)
{
    return &my_slot(bt)->readers;
}

/* The readers inside: the slots' sum (modulo 2^32, as each slot may wrap). */
static uint32_t el_readers(struct awc_bt *bt)
{
    uint32_t sum = 0;

    for (uint32_t i = 0; i < BT_EL_SLOTS; i++)
        sum += atomic_load_explicit(&bt->el_slots[i].readers, memory_order_seq_cst);
    return sum;
}

/* A reader leaves: uncounted, then, if a writer waits, the word changed and the writer woken
 * (it sleeps on the word it saw before it summed the slots, so it cannot miss this). */
static void el_leave(struct awc_bt *bt, _Atomic uint32_t *slot)
{
    uint32_t v;

    atomic_fetch_sub_explicit(slot, 1, memory_order_seq_cst);
    v = atomic_load_explicit(&bt->epoch_lock, memory_order_seq_cst);
    if ((v & BT_EL_WAIT) == 0)
        return;
    while (!atomic_compare_exchange_weak_explicit(&bt->epoch_lock, &v,
                                                  (v & ~BT_EL_COUNT) | ((v + 1) & BT_EL_COUNT),
                                                  memory_order_seq_cst, memory_order_relaxed))
        ;
    plat_wake(&bt->epoch_lock, 1);
}

/* README 11.4.1: count in, then look at the word (both sequentially consistent, as the writer
 * sets its bits, then sums the slots: one of the two sees the other). */
void bt_epoch_enter(struct awc_bt *bt)
{
    _Atomic uint32_t *slot = el_slot(bt);

    for (;;) {
        uint32_t v;
        bool blocked;

        atomic_fetch_add_explicit(slot, 1, memory_order_seq_cst);
        v = atomic_load_explicit(&bt->epoch_lock, memory_order_seq_cst);
        /* A thread holding references holds the lock already: no flush can be running, and it
         * must not wait behind one that waits for it. */
        blocked = (v & BT_EL_WRITER) != 0 || ((v & BT_EL_WAIT) != 0 && tls_bt_refs == 0);
        if (!blocked)
            return;
        el_leave(bt, slot);
        plat_wait(&bt->epoch_lock, v);
    }
}

void bt_epoch_exit(struct awc_bt *bt)
{
    el_leave(bt, el_slot(bt));
}

void bt_epoch_lock(struct awc_bt *bt)
{
    plat_mutex_assert_held(&bt->fmu); /* one writer at a time: the flush lock orders them */
    atomic_fetch_or_explicit(&bt->epoch_lock, BT_EL_WAIT, memory_order_seq_cst);
    for (;;) {
        uint32_t v = atomic_load_explicit(&bt->epoch_lock, memory_order_seq_cst);

        if (el_readers(bt) != 0) {
            plat_wait(&bt->epoch_lock, v);
            continue;
        }
        /* WRITER, then the slots again: a thread holding references of another tree passes
         * WAIT (bt_epoch_enter counts references of every tree) and may have come in after the
         * sum; one that comes after WRITER sees it and leaves. */
        atomic_fetch_or_explicit(&bt->epoch_lock, BT_EL_WRITER, memory_order_seq_cst);
        if (el_readers(bt) == 0)
            return;
        atomic_fetch_and_explicit(&bt->epoch_lock, ~BT_EL_WRITER, memory_order_seq_cst);
        plat_wake(&bt->epoch_lock, 1); /* readers that saw WRITER */
    }
}

void bt_epoch_unlock(struct awc_bt *bt)
{
    plat_mutex_assert_held(&bt->fmu);
    atomic_fetch_and_explicit(&bt->epoch_lock, BT_EL_COUNT, memory_order_release);
    plat_wake(&bt->epoch_lock, 1);
}

/* ---- Pages (README 11.5.3) --------------------------------------------------------------- */

/* Whether the cells of `page` were checked since the open (README 11.2.4). */
static bool was_checked(struct awc_bt *bt, uint64_t page)
{
    uint64_t c = page >> BT_CHECKED_SHIFT, bit = page & ((UINT64_C(1) << BT_CHECKED_SHIFT) - 1);
    bt_word_t *words;

    if (c >= BT_CHECKED_CHUNKS)
        return false;
    words = atomic_load_explicit(&bt->checked[c], memory_order_acquire);
    return words != NULL &&
           (atomic_load_explicit(&words[bit / 64], memory_order_relaxed) >> (bit % 64) & 1) != 0;
}

/* Records that the cells of `page` passed the check; the chunk made on first use (none when
 * memory is short: then the page is checked again next time). */
static void set_checked(struct awc_bt *bt, uint64_t page)
{
    uint64_t c = page >> BT_CHECKED_SHIFT, bit = page & ((UINT64_C(1) << BT_CHECKED_SHIFT) - 1);
    bt_word_t *words, *none = NULL;

    if (c >= BT_CHECKED_CHUNKS)
        return;
    words = atomic_load_explicit(&bt->checked[c], memory_order_acquire);
    if (words == NULL) {
        words = calloc((UINT64_C(1) << BT_CHECKED_SHIFT) / 64, sizeof(*words));
        if (words == NULL)
            return;
        if (!atomic_compare_exchange_strong_explicit(&bt->checked[c], &none, words,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            free(words);
            words = none; /* another thread's */
        }
    }
    atomic_fetch_or_explicit(&words[bit / 64], UINT64_C(1) << (bit % 64), memory_order_relaxed);
}

void bt_free_caches(struct awc_bt *bt)
{
    for (uint32_t c = 0; bt->checked != NULL && c < BT_CHECKED_CHUNKS; c++)
        free(atomic_load_explicit(&bt->checked[c], memory_order_relaxed));
    for (uint32_t i = 0; bt->el_slots != NULL && i < BT_EL_SLOTS; i++) {
        struct bt_inner_copies *ic = bt->el_slots[i].inner;

        free(bt->el_slots[i].copy);
        if (ic != NULL)
            free(ic->node);
        free(ic);
    }
    free((void *)bt->checked);
    plat_aligned_free(bt->el_slots);
    bt->checked = NULL;
    bt->el_slots = NULL;
}

int bt_pin_node(struct awc_bt *bt, uint64_t page, int mode, int level, uint8_t **node)
{
    void *p;
    bool checked;
    int rc;

    if (page < BT_META_PAGES || page >= atomic_load_explicit(&bt->pages, memory_order_relaxed))
        return AWC_EBADFILE;
    rc = awc_pin(bt->cache, page, mode, &p);
    if (rc != AWC_OK)
        return rc;
    /* README 11.2.4: the whole node the first time, the header after that. */
    checked = was_checked(bt, page);
    rc = checked ? bt_node_header_valid(p, bt->cap, level) : bt_node_valid(p, bt->cap, level);
    if (rc != AWC_OK) {
        awc_unpin(bt->cache, page, 0);
        return rc;
    }
    if (!checked)
        set_checked(bt, page);
    *node = p;
    return AWC_OK;
}

/* Grows list *v (of *cap entries) to hold n. */
int bt_reserve(uint64_t **v, size_t *cap, size_t n)
{
    size_t c = *cap < 64 ? 64 : *cap;
    uint64_t *nv;

    if (n <= *cap)
        return AWC_OK;
    while (c < n)
        c *= 2;
    nv = realloc(*v, c * sizeof(**v));
    if (nv == NULL)
        return AWC_ENOMEM;
    *v = nv;
    *cap = c;
    return AWC_OK;
}

/* Makes room in the pending list for every page a pessimistic change may free, so that freeing
 * never fails halfway through one. */
static int reserve_pending(struct awc_bt *bt)
{
    int rc;

    plat_mutex_lock(&bt->amu);
    rc = bt_reserve(&bt->pending, &bt->pending_cap, bt->npending + 2 * AWC_BT_MAX_HEIGHT + 4);
    plat_mutex_unlock(&bt->amu);
    return rc;
}

/* A page leaves the tree, or a leaf's key range changes: cursors' cached leaves are stale
 * (README 11.6.2). Called before the page is unpinned. */
static void shape_changed(struct awc_bt *bt)
{
    atomic_fetch_add_explicit(&bt->shape, 1, memory_order_seq_cst);
}

/* A page freed in this epoch: free after the next flush (README 11.5.3). The caller still holds
 * its pin. */
static void free_later(struct awc_bt *bt, uint64_t page)
{
    shape_changed(bt);
    plat_mutex_lock(&bt->amu);
    assert(bt->npending < bt->pending_cap);
    bt->pending[bt->npending++] = page;
    plat_mutex_unlock(&bt->amu);
}

/* A page this call took and never linked into the tree: free again at once. */
static void free_unused(struct awc_bt *bt, uint64_t page)
{
    plat_mutex_lock(&bt->amu);
    if (bt_reserve(&bt->free, &bt->free_cap, bt->nfree + 1) == AWC_OK)
        bt->free[bt->nfree++] = page; /* else the page is lost until the next open */
    plat_mutex_unlock(&bt->amu);
}

/* Takes a free page and pins it exclusively as a new node of the epoch (contents to be written
 * by the caller). */
static int alloc_node(struct awc_bt *bt, uint64_t *page, uint8_t **node)
{
    void *p;
    int rc;

    plat_mutex_lock(&bt->amu);
    if (bt->nfree > 0)
        *page = bt->free[--bt->nfree];
    else
        *page = atomic_fetch_add_explicit(&bt->pages, 1, memory_order_relaxed);
    plat_mutex_unlock(&bt->amu);
    rc = awc_pin(bt->cache, *page, AWC_OVERWRITE, &p);
    if (rc != AWC_OK) {
        free_unused(bt, *page);
        return rc;
    }
    *node = p;
    return AWC_OK;
}

/* ---- Marks (README 11.4.5) --------------------------------------------------------------- */

/* What a descent marks on its leaf (README 11.4.5): nothing (gets, cursors), a writer's mark
 * (the optimistic writes: a leaf pinned exclusively from its parent) or a reference's. */
enum mark { MARK_NONE, MARK_WRITER, MARK_REF };

static void mark_put(struct awc_bt *bt, uint64_t page, enum mark kind);

/* The entry for `page`, or bt->nmarks. The caller holds rmu. */
static size_t mark_find(const struct awc_bt *bt, uint64_t page)
{
    size_t i = 0;

    while (i < bt->nmarks && bt->marks[i].page != page)
        i++;
    return i;
}

/* The entry for `page`, added if missing. The caller holds rmu. Errors: AWC_ENOMEM. */
static int mark_get(struct awc_bt *bt, uint64_t page, size_t *i)
{
    *i = mark_find(bt, page);
    if (*i < bt->nmarks)
        return AWC_OK;
    if (bt->nmarks == bt->marks_cap) {
        size_t cap = bt->marks_cap < 16 ? 16 : 2 * bt->marks_cap;
        struct bt_mark *nm = realloc(bt->marks, cap * sizeof(*nm));

        if (nm == NULL)
            return AWC_ENOMEM;
        bt->marks = nm;
        bt->marks_cap = cap;
    }
    bt->marks[*i] = (struct bt_mark){.page = page};
    bt->nmarks++;
    return AWC_OK;
}

/* Removes entry i once nothing holds it. The caller holds rmu. */
static void mark_drop(struct awc_bt *bt, size_t i)
{
    if (bt->marks[i].refs == 0 && bt->marks[i].writers == 0)
        bt->marks[i] = bt->marks[--bt->nmarks];
}

/* README 11.4.5: a place in this thread's reader slot for a reference to leaf `page` (never
 * 0, a meta page); false when the slot's places are all taken. */
static bool slot_ref_add(struct awc_bt *bt, uint64_t page)
{
    struct bt_el_slot *s = my_slot(bt);

    for (uint32_t i = 0; i < BT_SLOT_REFS; i++) {
        uint64_t none = 0;

        if (atomic_load_explicit(&s->ref_page[i], memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(&s->ref_page[i], &none, page,
                                                    memory_order_seq_cst, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Gives up a place of this thread's slot holding `page`; false when none does. */
static bool slot_ref_drop(struct awc_bt *bt, uint64_t page)
{
    struct bt_el_slot *s = my_slot(bt);

    for (uint32_t i = 0; i < BT_SLOT_REFS; i++) {
        uint64_t p = page;

        if (atomic_load_explicit(&s->ref_page[i], memory_order_relaxed) == page &&
            atomic_compare_exchange_strong_explicit(&s->ref_page[i], &p, 0, memory_order_release,
                                                    memory_order_relaxed))
            return true;
    }
    return false;
}

/* Whether any reader slot's places name `page` (sequentially consistent: README 11.4.5). */
static bool slot_referenced(struct awc_bt *bt, uint64_t page)
{
    for (uint32_t s = 0; s < BT_EL_SLOTS; s++)
        for (uint32_t i = 0; i < BT_SLOT_REFS; i++)
            if (atomic_load_explicit(&bt->el_slots[s].ref_page[i], memory_order_seq_cst) == page)
                return true;
    return false;
}

uint32_t bt_refs_live(struct awc_bt *bt)
{
    uint32_t sum = 0;

    for (uint32_t i = 0; i < BT_EL_SLOTS; i++)
        sum += atomic_load_explicit(&bt->el_slots[i].refs, memory_order_acquire);
    return sum;
}

/* A reference's mark (README 11.4.5 step 1): in this thread's slot, else in the list. The place
 * is taken first, then the writers' count read (both sequentially consistent; a writer adds
 * its mark, then looks at the slots: one of the two sees the other). Only when writers' marks
 * exist is the list asked whether one is this page's. */
static int ref_mark_take(struct awc_bt *bt, uint64_t page, bool *blocked, uint32_t *seq)
{
    bool placed = slot_ref_add(bt, page);
    size_t i;
    int rc = AWC_OK;

    *blocked = false;
    if (placed && atomic_load_explicit(&bt->writer_marks, memory_order_seq_cst) == 0)
        return AWC_OK;
    plat_mutex_lock(&bt->rmu);
    i = mark_find(bt, page);
    *blocked = i < bt->nmarks && bt->marks[i].writers > 0;
    if (*blocked) {
        bt->mark_waiters++;
        *seq = atomic_load_explicit(&bt->mark_seq, memory_order_relaxed);
    } else if (!placed) {
        rc = mark_get(bt, page, &i);
        if (rc == AWC_OK)
            bt->marks[i].refs++;
    }
    plat_mutex_unlock(&bt->rmu);
    if (placed && (*blocked || rc != AWC_OK))
        (void)slot_ref_drop(bt, page);
    return rc;
}

/* Marks leaf `page` for a reference (get_ref, before pinning it shared, under its parent's pin)
 * or an optimistic writer (before pinning it exclusively from its parent held shared); never
 * both at once (README 11.4.5). *blocked, and nothing marked, when the other kind holds it: the
 * writer goes pessimistic (which copies the leaf); the reference lets go of the parent and
 * waits with ref_wait(*seq). A writer adds its mark and counts it, then looks for references
 * in the slots; it finds one, it takes its mark back. Errors: AWC_ENOMEM. */
static int mark_take(struct awc_bt *bt, uint64_t page, enum mark kind, bool *blocked, uint32_t *seq)
{
    size_t i;
    int rc = AWC_OK;

    assert(kind != MARK_NONE);
    if (kind == MARK_REF)
        return ref_mark_take(bt, page, blocked, seq);
    plat_mutex_lock(&bt->rmu);
    i = mark_find(bt, page);
    *blocked = i < bt->nmarks && bt->marks[i].refs > 0;
    if (!*blocked) {
        rc = mark_get(bt, page, &i);
        if (rc == AWC_OK) {
            bt->marks[i].writers++;
            atomic_fetch_add_explicit(&bt->writer_marks, 1, memory_order_seq_cst);
        }
    }
    plat_mutex_unlock(&bt->rmu);
    if (rc == AWC_OK && !*blocked && slot_referenced(bt, page)) {
        mark_put(bt, page, MARK_WRITER); /* wakes a reference that saw the mark meanwhile */
        *blocked = true;
    }
    return rc;
}

/* Drops a mark once its pin is gone; a writer's wakes the references waiting (all: each looks
 * again). */
static void mark_put(struct awc_bt *bt, uint64_t page, enum mark kind)
{
    size_t i;
    bool wake;

    if (kind == MARK_REF && slot_ref_drop(bt, page))
        return;
    plat_mutex_lock(&bt->rmu);
    i = mark_find(bt, page);
    assert(i < bt->nmarks && (kind == MARK_REF ? bt->marks[i].refs : bt->marks[i].writers) > 0);
    if (kind == MARK_REF) {
        bt->marks[i].refs--;
    } else {
        bt->marks[i].writers--;
        atomic_fetch_sub_explicit(&bt->writer_marks, 1, memory_order_release);
    }
    mark_drop(bt, i);
    wake = kind == MARK_WRITER && bt->mark_waiters > 0;
    if (wake)
        atomic_fetch_add_explicit(&bt->mark_seq, 1, memory_order_release);
    plat_mutex_unlock(&bt->rmu);
    if (wake)
        plat_wake(&bt->mark_seq, 1);
}

/* Waits until a writer's mark goes (any: the caller looks again). */
static void ref_wait(struct awc_bt *bt, uint32_t seq)
{
    plat_wait(&bt->mark_seq, seq);
    plat_mutex_lock(&bt->rmu);
    bt->mark_waiters--;
    plat_mutex_unlock(&bt->rmu);
}

/* ---- Held paths (README 11.4.3) ---------------------------------------------------------- */

struct held {
    uint64_t page;
    uint8_t *p;   /* the node, pinned (exclusively in a pessimistic descent) */
    uint32_t idx; /* the child taken from this node */
    bool dirty;   /* changed: unpin dirty */
    bool marked;  /* a leaf carrying this writer's mark (README 11.4.5 step 3) */
};

struct path {
    uint32_t top, n;  /* entries [top, n) are pinned; e[0] is the root */
    bool last, first; /* every node so far routed to its last child (first child): the path runs
                         along the tree's right (left) edge, README 11.3.2 */
    struct held e[AWC_BT_MAX_HEIGHT + 1];
};

/* Unpins e, then drops its writer's mark. */
static void held_unpin(struct awc_bt *bt, struct held *e)
{
    awc_unpin(bt->cache, e->page, e->dirty);
    if (e->marked)
        mark_put(bt, e->page, MARK_WRITER);
    e->marked = false;
}

static void release_to(struct awc_bt *bt, struct path *pa, uint32_t k)
{
    for (; pa->top < k; pa->top++)
        held_unpin(bt, &pa->e[pa->top]);
}

/* Pins the root in `mode`: the page the root pointer names, checked again once pinned (the root
 * moves only under its exclusive pin, README 11.4.2). */
static int pin_root(struct awc_bt *bt, int mode, uint64_t *page, uint8_t **node)
{
    for (;;) {
        uint64_t r = atomic_load_explicit(&bt->root, memory_order_acquire);
        int rc = bt_pin_node(bt, r, mode, -1, node);

        if (rc != AWC_OK)
            return rc;
        if (atomic_load_explicit(&bt->root, memory_order_acquire) == r) {
            *page = r;
            return AWC_OK;
        }
        awc_unpin(bt->cache, r, 0);
    }
}

/* Copies pa->e[k] (pinned in either mode, unchanged) to a new page of this epoch, points its
 * parent (held) or the root at the copy, and frees the old page later (README 11.5.1). */
static int copy_node(struct awc_bt *bt, struct path *pa, uint32_t k)
{
    struct held *e = &pa->e[k];
    uint64_t epoch = atomic_load_explicit(&bt->epoch, memory_order_relaxed), q;
    uint8_t *qp;
    int rc;

    assert(!e->dirty);
    rc = alloc_node(bt, &q, &qp);
    if (rc != AWC_OK)
        return rc;
    memcpy(qp, e->p, bt->cap);
    bt_set_gen(qp, epoch);
    if (k > 0) {
        assert(pa->top < k);
        bt_set_child(pa->e[k - 1].p, pa->e[k - 1].idx, q);
        pa->e[k - 1].dirty = true;
    } else {
        atomic_store_explicit(&bt->root, q, memory_order_release);
    }
    free_later(bt, e->page);
    held_unpin(bt, e); /* not dirty (asserted above) */
    e->page = q;
    e->p = qp;
    e->dirty = true;
    atomic_fetch_add_explicit(&bt->copies, 1, memory_order_relaxed);
    return AWC_OK;
}

/* The pessimistic descent's step 2: makes pa->e[k] a node of this epoch, copying it if it is
 * not (README 11.5.1). */
static int make_fresh(struct awc_bt *bt, struct path *pa, uint32_t k)
{
    if (bt_gen(pa->e[k].p) == atomic_load_explicit(&bt->epoch, memory_order_relaxed))
        return AWC_OK;
    return copy_node(bt, pa, k);
}

/* The largest separator an inner node may have to take. */
static size_t max_sep(const struct awc_bt *bt)
{
    return bt->max_item < AWC_BT_MAX_KEY ? bt->max_item : AWC_BT_MAX_KEY;
}

/* The change a pessimistic descent makes, and whether a node can take it without its parent
 * (README 11.4.3). */
enum change { PUT, DEL };

static bool safe(const struct awc_bt *bt, const uint8_t *node, enum change ch, uint32_t put_size)
{
    uint32_t used = bt_used(node), most;

    if (ch == PUT)
        return used + (bt_level(node) == 0 ? put_size : bt_inner_size(max_sep(bt))) <= bt->cap;
    most = bt_level(node) == 0 ? bt_leaf_size(0, bt->max_item) : bt_inner_size(max_sep(bt));
    return used >= most + bt->cap / 4;
}

/* Pessimistic descent (README 11.4.3): exclusive pins from the root down, every node made fresh,
 * the ancestors released as soon as a node is safe for the change. Returns with the leaf last
 * in *pa. */
static int descend_excl(struct awc_bt *bt, const uint8_t *key, size_t len, enum change ch,
                        uint32_t put_size, struct path *pa)
{
    int rc;

    /* Step 1: the root. */
    pa->top = pa->n = 0;
    rc = pin_root(bt, AWC_EXCLUSIVE, &pa->e[0].page, &pa->e[0].p);
    if (rc != AWC_OK)
        return rc;
    pa->e[0].dirty = pa->e[0].marked = false;
    pa->n = 1;
    pa->last = pa->first = true;
    /* Step 2: each level: fresh, then release above when safe, then the child. */
    for (;;) {
        struct held *e = &pa->e[pa->n - 1], *c;
        uint32_t level = bt_level(e->p);

        rc = make_fresh(bt, pa, pa->n - 1);
        if (rc != AWC_OK)
            return rc;
        if (safe(bt, e->p, ch, put_size))
            release_to(bt, pa, pa->n - 1);
        if (level == 0)
            return AWC_OK;
        e->idx = bt_route(e->p, key, len);
        pa->last = pa->last && e->idx == bt_n(e->p);
        pa->first = pa->first && e->idx == 0;
        c = &pa->e[pa->n];
        c->page = bt_child(e->p, e->idx);
        c->dirty = c->marked = false;
        if (level == 1) {
            /* README 11.4.5 step 3: the writer's mark, unless references hold the leaf. */
            bool referenced;
            uint32_t seq;

            rc = mark_take(bt, c->page, MARK_WRITER, &referenced, &seq);
            if (rc != AWC_OK)
                return rc;
            c->marked = !referenced;
        }
        if (level == 1 && !c->marked) {
            /* A leaf that references hold is copied from a shared pin, never waited
             * for (README 11.4.5); the copy is fresh, and the old page freed later. */
            rc = bt_pin_node(bt, c->page, AWC_SHARED, 0, &c->p);
            if (rc != AWC_OK)
                return rc;
            pa->n++;
            rc = copy_node(bt, pa, pa->n - 1);
            if (rc != AWC_OK)
                return rc;
            continue;
        }
        rc = bt_pin_node(bt, c->page, AWC_EXCLUSIVE, (int)level - 1, &c->p);
        if (rc != AWC_OK) {
            if (c->marked)
                mark_put(bt, c->page, MARK_WRITER);
            c->marked = false;
            return rc;
        }
        pa->n++;
    }
}

/* ---- Reads (README 11.4.2) --------------------------------------------------------------- */

/* The bound a descent records for a cursor: the separator past the leaf's range on the side it
 * moves to (above for next, below for prev), copied into buf (AWC_BT_MAX_KEY bytes). */
struct bounds {
    uint8_t *buf;
    size_t len;
    bool below; /* record the separator below the leaf (else the one above) */
    bool has;   /* recorded */
    /* README 11.6.4: NULL, or the child index the descent took at each level (1 ..), which
     * `hinted` (a ROUTE_LE search from the bound above the leaf the last descent reached) tries
     * first, and the next one. */
    uint32_t *took;
    bool hinted;
};

/* How a descent picks the child: LE the one whose range holds the key; LT the one holding the
 * keys just below it (the last key < key is there or further left); key NULL with LT: the
 * rightmost. */
enum route { ROUTE_LE, ROUTE_LT };

/* find_leaf's answer when an optimistic writer's leaf is held by references: go pessimistic. */
#define BT_REFERENCED 1

/* README 11.4.6 and 11.6.3: the largest node copied out of its page (the root per reader slot,
 * a cursor's leaf), so that a copy stays cheap beside the work it saves. */
#define BT_COPY_MAX 65536u

/* README 11.6.4: the child bt_route gives for a cursor's bound above the leaf its last descent
 * reached through child `took` at this level: most often the next child one level above the
 * leaves (where the bound came from), the same child higher up; each guess checked with two
 * compares, a search when neither holds. */
static uint32_t route_hinted(const uint8_t *p, const uint8_t *key, size_t len, uint32_t took)
{
    uint32_t first = bt_level(p) == 1 ? took + 1 : took;
    uint32_t second = bt_level(p) == 1 ? took : took + 1;

    if (bt_routes_to(p, key, len, first))
        return first;
    if (bt_routes_to(p, key, len, second))
        return second;
    return bt_route(p, key, len);
}

/* The child a descent takes from inner node p (README 11.4.2), recording the cursor's bound and
 * the child taken. */
static uint32_t pick_child(const uint8_t *p, const uint8_t *key, size_t len, enum route how,
                           struct bounds *b)
{
    uint32_t n, level, j;
    bool found;

    if (b == NULL && how == ROUTE_LE)
        return bt_route(p, key, len); /* a lookup's */
    n = bt_n(p);
    level = bt_level(p);
    if (how == ROUTE_LE && b != NULL && b->hinted)
        j = route_hinted(p, key, len, b->took[level]);
    else if (how == ROUTE_LE)
        j = bt_route(p, key, len);
    else
        j = key == NULL ? n : bt_lower_bound(p, key, len, &found);
    if (b != NULL && b->took != NULL)
        b->took[level] = j;
    if (b != NULL && (b->below ? j > 0 : j < n)) {
        const uint8_t *k = bt_key_at(p, b->below ? j - 1 : j, &b->len);

        memcpy(b->buf, k, b->len);
        b->has = true;
    }
    return j;
}

/* README 11.4.6: the copies of nodes one level above the leaves a reader slot keeps: at most
 * BT_INNER_COPY_BYTES of them (and BT_INNER_COPY_MAX); made only after BT_INNER_STABLE
 * descents in a row found the tree's shape unchanged, so that a tree being written does not
 * copy nodes that the next write makes stale. */
#define BT_INNER_COPY_BYTES (512u * 1024u)
#define BT_INNER_COPY_MAX   128u
#define BT_INNER_STABLE     64u

/* Where a copy of `page` as of `shape` is among the places it may take (BT_INNER_WAYS from
 * page modulo n; found: the one holding it), or where it may go (!found: the first holding no
 * copy, or none of that shape); n if none. A place that never held a copy has page 0 (no node's
 * page) and shape 0, which is also the shape of a tree reopened and not yet written: it is free
 * by its page, not its shape. */
#define BT_INNER_WAYS 4u
static uint32_t inner_place(const struct bt_inner_copies *ic, uint64_t page, uint64_t shape,
                            bool found)
{
    for (uint32_t w = 0; w < BT_INNER_WAYS && w < ic->n; w++) {
        uint32_t i = (uint32_t)(page + w) & (ic->n - 1);

        if (found ? ic->page[i] == page && ic->shape[i] == shape
                  : ic->page[i] == 0 || ic->shape[i] != shape)
            return i;
    }
    return ic->n;
}

/* The slot's copies record, made on first use (NULL if memory is short). The caller holds the
 * slot's copy_busy. */
static struct bt_inner_copies *inner_copies(struct awc_bt *bt, struct bt_el_slot *s)
{
    struct bt_inner_copies *ic = s->inner;
    uint32_t n = BT_INNER_COPY_BYTES / bt->cap;

    if (ic != NULL || bt->cap > BT_COPY_MAX)
        return ic;
    n = n == 0 ? 1 : n > BT_INNER_COPY_MAX ? BT_INNER_COPY_MAX : n;
    while ((n & (n - 1)) != 0) /* a power of two: places by a mask */
        n &= n - 1;
    ic = calloc(1, sizeof(*ic) + 2 * (size_t)n * sizeof(uint64_t));
    if (ic == NULL)
        return NULL;
    ic->n = n;
    ic->page = (uint64_t *)(ic + 1);
    ic->shape = ic->page + n;
    s->inner = ic;
    return ic;
}

/* README 11.4.6: the root's child for the key, from this thread's slot's copy of the root, when
 * the copy is as of the tree's shape now (*shape) and the root is at least two levels above the
 * leaves; with `inner`, and the root's child one level above the leaves and copied as of that
 * shape too, the leaf, from that copy (*level 0). False when it cannot serve. */
static bool route_root_copy(struct awc_bt *bt, const uint8_t *key, size_t len, enum route how,
                            struct bounds *b, bool inner, uint64_t *shape, uint64_t *child,
                            int *level)
{
    struct bt_el_slot *s = my_slot(bt);
    bool ok;

    if (atomic_exchange_explicit(&s->copy_busy, 1, memory_order_acquire) != 0)
        return false;
    *shape = atomic_load_explicit(&bt->shape, memory_order_seq_cst);
    ok = s->copy_valid && s->copy_shape == *shape &&
         s->copy_page == atomic_load_explicit(&bt->root, memory_order_acquire);
    if (ok) {
        if (b != NULL)
            b->has = false;
        *child = bt_child(s->copy, pick_child(s->copy, key, len, how, b));
        *level = (int)bt_level(s->copy) - 1;
    }
    if (ok && inner && *level == 1) {
        struct bt_inner_copies *ic = inner_copies(bt, s);

        if (ic != NULL && ic->last_shape == *shape) {
            uint32_t i = inner_place(ic, *child, *shape, true);

            ic->stable += ic->stable < BT_INNER_STABLE;
            if (i < ic->n) {
                const uint8_t *node = ic->node + (size_t)i * bt->cap;

                *child = bt_child(node, pick_child(node, key, len, how, b));
                *level = 0;
            }
        } else if (ic != NULL) {
            ic->last_shape = *shape;
            ic->stable = 0;
        }
    }
    atomic_store_explicit(&s->copy_busy, 0, memory_order_release);
    return ok;
}

/* Copies node `page` (one level above the leaves, pinned shared; `shape` read before the
 * descent) into its place among this thread's slot's copies, when the shape has stayed so long
 * enough and the place holds no copy of that shape (README 11.4.6). */
static void refresh_inner_copy(struct awc_bt *bt, uint64_t page, const uint8_t *node,
                               uint64_t shape)
{
    struct bt_el_slot *s = my_slot(bt);
    struct bt_inner_copies *ic;

    if (atomic_exchange_explicit(&s->copy_busy, 1, memory_order_acquire) != 0)
        return;
    ic = s->inner;
    if (ic != NULL && ic->stable >= BT_INNER_STABLE && ic->last_shape == shape &&
        inner_place(ic, page, shape, true) == ic->n) {
        uint32_t i = inner_place(ic, page, shape, false);

        if (ic->node == NULL)
            ic->node = malloc((size_t)ic->n * bt->cap);
        if (ic->node != NULL && i < ic->n) {
            bt_copy_node(ic->node + (size_t)i * bt->cap, node, bt->cap);
            ic->page[i] = page;
            ic->shape[i] = shape;
        }
    }
    atomic_store_explicit(&s->copy_busy, 0, memory_order_release);
}

/* Copies the root (pinned shared; `shape` read before its pin) into this thread's slot when the
 * slot's copy is stale and the root is at least two levels above the leaves (README 11.4.6). */
static void refresh_root_copy(struct awc_bt *bt, uint64_t page, const uint8_t *node, uint64_t shape)
{
    struct bt_el_slot *s = my_slot(bt);

    if (bt->cap > BT_COPY_MAX || bt_level(node) < 2 ||
        atomic_exchange_explicit(&s->copy_busy, 1, memory_order_acquire) != 0)
        return;
    if (!s->copy_valid || s->copy_shape != shape || s->copy_page != page) {
        if (s->copy == NULL)
            s->copy = malloc(bt->cap);
        s->copy_valid = s->copy != NULL;
        if (s->copy_valid) {
            bt_copy_node(s->copy, node, bt->cap);
            s->copy_shape = shape;
            s->copy_page = page;
        }
    }
    atomic_store_explicit(&s->copy_busy, 0, memory_order_release);
}

/* Shared descent with latch coupling: the child is pinned before the parent is released. The
 * leaf is pinned in `leaf_mode` (exclusive for the optimistic write, README 11.4.3) and marked
 * as `mark` says; *marked says whether it was (a root leaf gets no writer's mark: its writer
 * holds nothing while it waits). */
static int find_leaf_at(struct awc_bt *bt, uint64_t from, int from_level, const uint8_t *key,
                        size_t len, enum route how, int leaf_mode, enum mark mark, struct bounds *b,
                        const uint64_t *inner_shape, uint64_t *page, uint8_t **leaf, bool *marked)
{
    uint64_t cur;
    uint8_t *p;
    uint32_t seq;
    bool busy;
    int rc;

    *marked = false;
    if (from != 0) {
        /* README 11.4.6: from the root's child the root's copy chose (the bounds recorded) */
        rc = bt_pin_node(bt, from, AWC_SHARED, from_level, &p);
        if (rc != AWC_OK)
            return rc;
        if (inner_shape != NULL && from_level == 1)
            refresh_inner_copy(bt, from, p, *inner_shape);
        cur = from;
        goto down;
    }
restart:
    /* Step 1: the root, in leaf_mode when it is the leaf; a reference marks it first. The root
     * pointer is read again once pinned (README 11.4.2). */
    for (;;) {
        uint64_t r = atomic_load_explicit(&bt->root, memory_order_acquire);
        bool one = atomic_load_explicit(&bt->height, memory_order_acquire) == 1;
        uint64_t shape = atomic_load_explicit(&bt->shape, memory_order_seq_cst);

        *marked = one && mark == MARK_REF;
        if (*marked) {
            rc = mark_take(bt, r, MARK_REF, &busy, &seq);
            if (rc != AWC_OK)
                return rc;
            if (busy) {
                ref_wait(bt, seq);
                continue;
            }
        }
        rc = bt_pin_node(bt, r, one ? leaf_mode : AWC_SHARED, -1, &p);
        if (rc != AWC_OK) {
            if (*marked)
                mark_put(bt, r, MARK_REF);
            return rc;
        }
        if (atomic_load_explicit(&bt->root, memory_order_acquire) == r &&
            ((bt_level(p) == 0) == one || (leaf_mode == AWC_SHARED && mark == MARK_NONE))) {
            cur = r;
            if (!one)
                refresh_root_copy(bt, r, p, shape);
            break;
        }
        awc_unpin(bt->cache, r, 0); /* the root or the height changed meanwhile */
        if (*marked)
            mark_put(bt, r, MARK_REF);
    }
    if (b != NULL)
        b->has = false;
down:
    /* Step 2: down, coupling; the leaf marked before it is pinned, under its parent's pin. */
    while (bt_level(p) > 0) {
        uint32_t level = bt_level(p);
        uint64_t child = bt_child(p, pick_child(p, key, len, how, b));
        uint8_t *cp;

        *marked = level == 1 && mark != MARK_NONE;
        if (*marked) {
            rc = mark_take(bt, child, mark, &busy, &seq);
            if (rc == AWC_OK && busy && mark == MARK_REF) {
                awc_unpin(bt->cache, cur, 0);
                ref_wait(bt, seq);
                goto restart;
            }
            if (rc == AWC_OK && busy)
                rc = BT_REFERENCED;
            if (rc != AWC_OK) {
                awc_unpin(bt->cache, cur, 0);
                *marked = false;
                return rc;
            }
        }
        rc = bt_pin_node(bt, child, level == 1 ? leaf_mode : AWC_SHARED, (int)level - 1, &cp);
        awc_unpin(bt->cache, cur, 0);
        if (rc != AWC_OK) {
            if (*marked)
                mark_put(bt, child, mark);
            *marked = false;
            return rc;
        }
        cur = child;
        p = cp;
    }
    *page = cur;
    *leaf = p;
    return AWC_OK;
}

/* Unpins a leaf find_leaf (or find_leaf_at) gave, and drops its mark. */
static void leaf_done(struct awc_bt *bt, uint64_t page, int dirty, enum mark mark, bool marked)
{
    awc_unpin(bt->cache, page, dirty);
    if (marked)
        mark_put(bt, page, mark);
}

/* README 11.4.6: the leaf a slot's copies named, pinned shared with no parent pinned, marked
 * first for a reference (README 11.4.5). BT_WAITED when a writer's mark held it: the caller
 * descends again from the root. */
#define BT_WAITED 2
static int pin_leaf_direct(struct awc_bt *bt, uint64_t page, enum mark mark, uint8_t **leaf,
                           bool *marked)
{
    uint32_t seq;
    bool busy;
    int rc;

    *marked = false;
    if (mark == MARK_REF) {
        rc = mark_take(bt, page, MARK_REF, &busy, &seq);
        if (rc != AWC_OK)
            return rc;
        if (busy) {
            ref_wait(bt, seq);
            return BT_WAITED;
        }
        *marked = true;
    }
    rc = bt_pin_node(bt, page, AWC_SHARED, 0, leaf);
    if (rc != AWC_OK && *marked) {
        mark_put(bt, page, MARK_REF);
        *marked = false;
    }
    return rc;
}

/* find_leaf_at from the root, or first from the slot's copies (README 11.4.6: the root's, and for
 * shared descents one level above the leaves): their answer stands when the tree's shape is
 * still the copies' once the leaf is pinned; else the leaf is let go and the descent starts
 * again from the root. */
static int find_leaf(struct awc_bt *bt, const uint8_t *key, size_t len, enum route how,
                     int leaf_mode, enum mark mark, struct bounds *b, uint64_t *page,
                     uint8_t **leaf, bool *marked)
{
    bool inner = leaf_mode == AWC_SHARED && mark != MARK_WRITER;
    uint64_t shape, child;
    int level, rc;

    if (route_root_copy(bt, key, len, how, b, inner, &shape, &child, &level)) {
        if (level == 0) {
            *page = child;
            rc = pin_leaf_direct(bt, child, mark, leaf, marked);
        } else {
            rc = find_leaf_at(bt, child, level, key, len, how, leaf_mode, mark, b,
                              inner ? &shape : NULL, page, leaf, marked);
        }
        if (rc != BT_WAITED && atomic_load_explicit(&bt->shape, memory_order_seq_cst) == shape)
            return rc;
        if (rc == AWC_OK)
            leaf_done(bt, *page, 0, mark, *marked);
        *marked = false;
    }
    return find_leaf_at(bt, 0, -1, key, len, how, leaf_mode, mark, b, NULL, page, leaf, marked);
}

/* The common part of get and get_ref (mark MARK_REF): the leaf pinned shared (and marked) and
 * the value found in it. */
static int lookup(struct awc_bt *bt, const void *key, size_t key_len, enum mark mark,
                  uint64_t *page, const uint8_t **value, size_t *value_len)
{
    uint8_t *leaf;
    bool found, marked;
    uint32_t i;
    int rc = find_leaf(bt, key, key_len, ROUTE_LE, AWC_SHARED, mark, NULL, page, &leaf, &marked);

    if (rc != AWC_OK)
        return rc;
    assert(marked == (mark == MARK_REF));
    i = bt_lower_bound(leaf, key, key_len, &found);
    if (!found) {
        leaf_done(bt, *page, 0, mark, marked);
        return AWC_ENOTFOUND;
    }
    *value = bt_value_at(leaf, i, value_len);
    return AWC_OK;
}

/* get and get_ref up to the value: the checks (args_ok: the call's own arguments), the epoch
 * lock entered (left again on error), the lookup. */
static int lookup_call(struct awc_bt *bt, const void *key, size_t key_len, bool args_ok,
                       enum mark mark, uint64_t *page, const uint8_t **value, size_t *value_len)
{
    int rc = check_call(bt, key, key_len);

    if (rc == AWC_OK && !args_ok)
        rc = AWC_EINVAL;
    if (rc != AWC_OK)
        return rc;
    bt_epoch_enter(bt);
    rc = lookup(bt, key, key_len, mark, page, value, value_len);
    if (rc != AWC_OK)
        bt_epoch_exit(bt);
    return rc;
}

AWC_API int awc_bt_get(awc_bt_t *bt, const void *key, size_t key_len, void *buf, size_t buf_len,
                       size_t *value_len)
{
    const uint8_t *v;
    uint64_t page;
    size_t len;
    int rc = lookup_call(bt, key, key_len, value_len != NULL && (buf != NULL || buf_len == 0),
                         MARK_NONE, &page, &v, &len);

    if (rc != AWC_OK)
        return rc;
    *value_len = len;
    if (len > buf_len)
        rc = AWC_ERANGE;
    else if (len > 0)
        memcpy(buf, v, len);
    awc_unpin(bt->cache, page, 0);
    bt_epoch_exit(bt);
    return rc;
}

/* ---- References (README 11.4.5) ---------------------------------------------------------- */

AWC_API int awc_bt_get_ref(awc_bt_t *bt, const void *key, size_t key_len, struct awc_bt_ref *ref)
{
    const uint8_t *v;
    uint64_t page;
    size_t len;
    /* The epoch lock stays taken until the release: no page the reference reads is reused. */
    int rc = lookup_call(bt, key, key_len, ref != NULL, MARK_REF, &page, &v, &len);

    if (rc != AWC_OK)
        return rc;
    ref->value = v;
    ref->value_len = len;
    ref->priv_[0] = REF_MAGIC ^ (uint64_t)(uintptr_t)bt;
    ref->priv_[1] = page;
    ref->priv_[2] = (uint64_t)(uintptr_t)&tls_bt_refs;
    tls_bt_refs++;
    atomic_fetch_add_explicit(&my_slot(bt)->refs, 1, memory_order_relaxed);
    return AWC_OK;
}

AWC_API int awc_bt_release(awc_bt_t *bt, struct awc_bt_ref *ref)
{
    int rc = bt_check_handle(bt);

    if (rc != AWC_OK)
        return rc;
    if (ref == NULL || ref->priv_[0] != (REF_MAGIC ^ (uint64_t)(uintptr_t)bt) ||
        ref->priv_[2] != (uint64_t)(uintptr_t)&tls_bt_refs)
        return AWC_EINVAL;
    rc = awc_unpin(bt->cache, ref->priv_[1], 0);
    assert(rc == AWC_OK);
    mark_put(bt, ref->priv_[1],
             MARK_REF); /* after the unpin: a writer that sees no mark never waits */
    ref->priv_[0] = 0;
    ref->value = NULL;
    tls_bt_refs--;
    atomic_fetch_sub_explicit(&my_slot(bt)->refs, 1, memory_order_relaxed);
    bt_epoch_exit(bt);
    return rc;
}

/* ---- Put (README 11.3) ------------------------------------------------------------------- */

/* Puts the entry into a leaf it fits (scratch: cap bytes, for compaction). */
static void leaf_put(struct awc_bt *bt, uint8_t *leaf, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len, uint8_t *scratch)
{
    bool found;
    uint32_t i = bt_lower_bound(leaf, key, key_len, &found);
    uint32_t need = bt_leaf_size(key_len, value_len);

    if (found)
        bt_remove(leaf, i);
    else
        atomic_fetch_add_explicit(&bt->count, 1, memory_order_relaxed);
    if (bt_gap(leaf) < need)
        bt_compact(leaf, bt->cap, scratch);
    bt_leaf_insert(leaf, bt->cap, i, key, key_len, value, value_len);
}

/* The bytes the leaf holds once the entry is put. */
static uint32_t used_after_put(const uint8_t *leaf, const uint8_t *key, size_t key_len,
                               size_t value_len)
{
    bool found;
    uint32_t i = bt_lower_bound(leaf, key, key_len, &found);

    return bt_used(leaf) + bt_leaf_size(key_len, value_len) - (found ? bt_entry_size(leaf, i) : 0);
}

/* The optimistic writes' descent: shared, the leaf exclusive and marked (README 11.4.3, 11.4.5).
 * With *skip the leaf was not pinned (references hold it): the write goes pessimistic. */
static int leaf_for_write(struct awc_bt *bt, const uint8_t *key, size_t key_len, uint64_t *page,
                          uint8_t **leaf, bool *marked, bool *skip)
{
    int rc =
        find_leaf(bt, key, key_len, ROUTE_LE, AWC_EXCLUSIVE, MARK_WRITER, NULL, page, leaf, marked);

    *skip = rc == BT_REFERENCED;
    return *skip ? AWC_OK : rc;
}

/* Step 1: optimistic: shared descent, the leaf exclusive; done when the leaf is fresh and the
 * entry fits. *done false: go pessimistic. */
static int put_optimistic(struct awc_bt *bt, const uint8_t *key, size_t key_len,
                          const uint8_t *value, size_t value_len, uint8_t *scratch, bool *done)
{
    uint64_t page;
    uint8_t *leaf;
    bool marked, skip;
    int rc = leaf_for_write(bt, key, key_len, &page, &leaf, &marked, &skip);

    *done = false;
    if (rc != AWC_OK || skip)
        return rc;
    if (bt_gen(leaf) == atomic_load_explicit(&bt->epoch, memory_order_relaxed) &&
        used_after_put(leaf, key, key_len, value_len) <= bt->cap) {
        leaf_put(bt, leaf, key, key_len, value, value_len, scratch);
        *done = true;
    }
    leaf_done(bt, page, *done, MARK_WRITER, marked);
    return AWC_OK;
}

/* Builds in `full` (2 * cap bytes) node `src` with an inner entry (key, child) inserted at i. */
static void build_inner(const struct awc_bt *bt, uint8_t *full, const uint8_t *src, uint32_t i,
                        const uint8_t *key, size_t key_len, uint64_t child)
{
    uint32_t n = bt_n(src);

    bt_node_init(full, 2 * bt->cap, BT_INNER, bt_level(src), bt_gen(src));
    bt_set_child(full, 0, bt_child(src, 0));
    bt_append(full, 2 * bt->cap, src, 0, i);
    bt_inner_insert(full, 2 * bt->cap, i, key, key_len, child);
    bt_append(full, 2 * bt->cap, src, i, n);
}

/* Where a full node on path pa (a leaf, or an inner node taking a separator) splits when a new
 * entry goes to index i of its n + 1 (README 11.3.2): at the entry itself when it is the last of
 * the tree's last node at its level or the first of its first (keys put in order leave full
 * nodes behind), else in the middle (BT_SPLIT_MIDDLE; also for a replaced value, found). */
static uint32_t edge_split(const struct path *pa, bool found, uint32_t i, uint32_t n)
{
    if (found)
        return BT_SPLIT_MIDDLE;
    return (pa->last && i == n) || (pa->first && i == 0) ? i : BT_SPLIT_MIDDLE;
}

/* Step 3: the leaf (last in *pa) is full: split it and the held ancestors that cannot take the
 * separator, up to a new root if the root splits (README 11.3.2). New pages are taken first, so
 * that a failure changes nothing. */
static int split_up(struct awc_bt *bt, struct path *pa, const uint8_t *key, size_t key_len,
                    const uint8_t *value, size_t value_len, uint8_t *scratch)
{
    uint64_t epoch = atomic_load_explicit(&bt->epoch, memory_order_relaxed);
    uint32_t held = pa->n - pa->top, used = 0, k = pa->n - 1;
    uint64_t pages[AWC_BT_MAX_HEIGHT + 2];
    uint8_t *nodes[AWC_BT_MAX_HEIGHT + 2], sep[AWC_BT_MAX_KEY];
    size_t sep_len;
    struct held *e = &pa->e[k];
    bool found;
    uint32_t i = bt_lower_bound(e->p, key, key_len, &found), n = bt_n(e->p);
    int rc = AWC_OK;

    /* Step 3.0: the leaf's keys in order. A pin checks a node's layout, not its order (README
     * 11.2.4), and bt_split needs key m - 1 < key m for the separator (keys out of order, or
     * twice, in a node another client wrote: an assertion, or a separator one byte past the
     * key; found by fuzz/fuzz_bt_raw). In order, bt_lower_bound put the new key between its
     * neighbours. One pass over the leaf per split, before anything changes. */
    if (!bt_keys_ascending(e->p))
        return AWC_EBADFILE;
    /* Step 3.1: a new page for each held node and one for a new root. */
    for (uint32_t j = 0; j <= held; j++) {
        rc = alloc_node(bt, &pages[j], &nodes[j]);
        if (rc != AWC_OK) {
            while (j-- > 0) {
                awc_unpin(bt->cache, pages[j], 0);
                free_unused(bt, pages[j]);
            }
            return rc;
        }
    }
    if (!found)
        atomic_fetch_add_explicit(&bt->count, 1, memory_order_relaxed);
    /* Step 3.2: the leaf with the entry, split. */
    bt_node_init(scratch, 2 * bt->cap, BT_LEAF, 0, epoch);
    bt_append(scratch, 2 * bt->cap, e->p, 0, i);
    bt_leaf_insert(scratch, 2 * bt->cap, i, key, key_len, value, value_len);
    bt_append(scratch, 2 * bt->cap, e->p, found ? i + 1 : i, n);
    bt_split(scratch, e->p, nodes[used], bt->cap, epoch, edge_split(pa, found, i, n), sep,
             &sep_len);
    shape_changed(bt); /* the leaf keeps the left half of its range */
    e->dirty = true;
    atomic_fetch_add_explicit(&bt->splits, 1, memory_order_relaxed);
    /* Step 3.3: the separator into the parent, splitting it in turn when it is full. */
    for (;;) {
        uint64_t right = pages[used++];

        if (k == pa->top) {
            /* The top held node split: it is the root (a safe node never splits). */
            uint8_t *r = nodes[used];

            assert(k == 0);
            bt_node_init(r, bt->cap, BT_INNER, bt_level(e->p) + 1, epoch);
            bt_set_child(r, 0, e->page);
            bt_inner_insert(r, bt->cap, 0, sep, sep_len, right);
            atomic_fetch_add_explicit(&bt->height, 1, memory_order_relaxed);
            atomic_store_explicit(&bt->root, pages[used], memory_order_release);
            awc_unpin(bt->cache, pages[used++], 1);
            break;
        }
        e = &pa->e[--k];
        e->dirty = true;
        if (bt_used(e->p) + bt_inner_size(sep_len) <= bt->cap) {
            if (bt_gap(e->p) < bt_inner_size(sep_len))
                bt_compact(e->p, bt->cap, scratch);
            bt_inner_insert(e->p, bt->cap, e->idx, sep, sep_len, right);
            break;
        }
        build_inner(bt, scratch, e->p, e->idx, sep, sep_len, right);
        bt_split(scratch, e->p, nodes[used], bt->cap, epoch,
                 edge_split(pa, false, e->idx, bt_n(e->p)), sep, &sep_len);
        atomic_fetch_add_explicit(&bt->splits, 1, memory_order_relaxed);
    }
    /* Step 3.4: the new pages used are unpinned dirty, the others freed again. */
    for (uint32_t j = 0; j <= held; j++) {
        awc_unpin(bt->cache, pages[j], j < used);
        if (j >= used)
            free_unused(bt, pages[j]);
    }
    return AWC_OK;
}

/* A put or a delete, as write_call carries it out. */
struct write {
    enum change ch;
    const uint8_t *key, *value; /* value: puts only */
    size_t key_len, value_len;
};

static int write_call(struct awc_bt *bt, const struct write *w);

/* Step 2 of a put, on the leaf the pessimistic descent left last in *pa: in place, or split. */
static int put_pessimistic(struct awc_bt *bt, struct path *pa, const struct write *w,
                           uint8_t *scratch)
{
    struct held *leaf = &pa->e[pa->n - 1];

    if (used_after_put(leaf->p, w->key, w->key_len, w->value_len) > bt->cap)
        return split_up(bt, pa, w->key, w->key_len, w->value, w->value_len, scratch);
    leaf_put(bt, leaf->p, w->key, w->key_len, w->value, w->value_len, scratch);
    leaf->dirty = true;
    return AWC_OK;
}

AWC_API int awc_bt_put(awc_bt_t *bt, const void *key, size_t key_len, const void *value,
                       size_t value_len)
{
    struct write w = {PUT, key, value, key_len, value_len};
    int rc = check_write(bt, key, key_len);

    if (rc != AWC_OK)
        return rc;
    if (value == NULL && value_len > 0)
        return AWC_EINVAL;
    if (key_len + value_len > bt->max_item)
        return AWC_E2BIG;
    return write_call(bt, &w);
}

/* ---- Delete (README 11.3.3) -------------------------------------------------------------- */

/* Step 1: optimistic: the leaf fresh and not falling under a quarter (or the root). */
static int delete_optimistic(struct awc_bt *bt, const uint8_t *key, size_t key_len, bool *done)
{
    uint64_t page;
    uint8_t *leaf;
    bool found, marked, skip;
    uint32_t i;
    int rc = leaf_for_write(bt, key, key_len, &page, &leaf, &marked, &skip);

    *done = false;
    if (rc != AWC_OK || skip)
        return rc;
    i = bt_lower_bound(leaf, key, key_len, &found);
    if (!found) {
        rc = AWC_ENOTFOUND;
    } else if (bt_gen(leaf) == atomic_load_explicit(&bt->epoch, memory_order_relaxed) &&
               (page == atomic_load_explicit(&bt->root, memory_order_relaxed) ||
                bt_used(leaf) - bt_entry_size(leaf, i) >= bt->cap / 4)) {
        bt_remove(leaf, i);
        atomic_fetch_sub_explicit(&bt->count, 1, memory_order_relaxed);
        *done = true;
    }
    leaf_done(bt, page, *done, MARK_WRITER, marked);
    return rc;
}

/* Merges pa->e[k] (under a quarter full) with a sibling when the two fit in one node: the
 * entries go into e[k] (fresh), the sibling's page is freed, the separator leaves the parent.
 * Returns false when no merge was made (README 11.3.3). */
static int merge(struct awc_bt *bt, struct path *pa, uint32_t k, uint8_t *scratch, bool *merged)
{
    struct held *e = &pa->e[k], *par = &pa->e[k - 1];
    uint32_t j = par->idx, np = bt_n(par->p), s, sep_i, level = bt_level(e->p);
    const uint8_t *left, *right, *sep;
    uint64_t sib;
    uint8_t *sp;
    size_t sep_len;
    uint32_t bytes;
    int rc;

    *merged = false;
    if (np == 0)
        return AWC_OK; /* an only child: nothing to merge with */
    s = j < np ? j + 1 : j - 1;
    sep_i = j < s ? j : s;
    sib = bt_child(par->p, s);
    rc = bt_pin_node(bt, sib, AWC_SHARED, (int)level, &sp);
    if (rc != AWC_OK)
        return rc;
    left = j < s ? e->p : sp;
    right = j < s ? sp : e->p;
    sep = bt_key_at(par->p, sep_i, &sep_len);
    bytes = bt_used(left) + bt_used(right) - BT_HDR + (level > 0 ? bt_inner_size(sep_len) : 0);
    if (bytes > bt->cap) {
        awc_unpin(bt->cache, sib, 0);
        return AWC_OK;
    }
    /* Step 1: left, (inner: the separator over right's first child), right, in scratch. */
    bt_node_init(scratch, 2 * bt->cap, level > 0 ? BT_INNER : BT_LEAF, level, bt_gen(e->p));
    if (level > 0)
        bt_set_child(scratch, 0, bt_child(left, 0));
    bt_append(scratch, 2 * bt->cap, left, 0, bt_n(left));
    if (level > 0)
        bt_inner_insert(scratch, 2 * bt->cap, bt_n(left), sep, sep_len, bt_child(right, 0));
    bt_append(scratch, 2 * bt->cap, right, 0, bt_n(right));
    /* Step 2: into e[k]'s page; the parent points at it and loses the separator. */
    bt_node_init(e->p, bt->cap, level > 0 ? BT_INNER : BT_LEAF, level, bt_gen(scratch));
    if (level > 0)
        bt_set_child(e->p, 0, bt_child(scratch, 0));
    bt_append(e->p, bt->cap, scratch, 0, bt_n(scratch));
    bt_set_child(par->p, sep_i, e->page);
    bt_remove(par->p, sep_i);
    e->dirty = par->dirty = true;
    free_later(bt, sib);
    awc_unpin(bt->cache, sib, 0);
    atomic_fetch_add_explicit(&bt->merges, 1, memory_order_relaxed);
    *merged = true;
    return AWC_OK;
}

/* Steps 3 and 4: merges up the held path while nodes fall under a quarter, then a root of one
 * child gives way to that child. */
static int rebalance(struct awc_bt *bt, struct path *pa, uint8_t *scratch)
{
    uint32_t k = pa->n - 1;
    struct held *r;
    int rc;

    while (k > pa->top && bt_used(pa->e[k].p) < bt->cap / 4) {
        bool merged;

        rc = merge(bt, pa, k, scratch, &merged);
        if (rc != AWC_OK || !merged)
            return rc;
        k--;
    }
    r = &pa->e[0];
    if (pa->top == 0 && bt_level(r->p) > 0 && bt_n(r->p) == 0) {
        atomic_store_explicit(&bt->root, bt_child(r->p, 0), memory_order_release);
        atomic_fetch_sub_explicit(&bt->height, 1, memory_order_relaxed);
        free_later(bt, r->page);
    }
    return AWC_OK;
}

/* Step 2 of a delete, on the leaf the pessimistic descent left last in *pa: remove, then merge
 * up the held path. */
static int delete_pessimistic(struct awc_bt *bt, struct path *pa, const struct write *w,
                              uint8_t *scratch)
{
    struct held *leaf = &pa->e[pa->n - 1];
    bool found;
    uint32_t i = bt_lower_bound(leaf->p, w->key, w->key_len, &found);

    if (!found)
        return AWC_ENOTFOUND; /* deleted meanwhile */
    bt_remove(leaf->p, i);
    leaf->dirty = true;
    atomic_fetch_sub_explicit(&bt->count, 1, memory_order_relaxed);
    return rebalance(bt, pa, scratch);
}

/* A put or delete after its checks (README 11.4.3): step 1 optimistic; step 2, when that could
 * not do it, the pessimistic descent and the change on the held path. */
static int write_call(struct awc_bt *bt, const struct write *w)
{
    struct path pa;
    uint8_t *scratch = malloc(2 * (size_t)bt->cap);
    bool done;
    int rc;

    if (scratch == NULL)
        return AWC_ENOMEM;
    atomic_fetch_add_explicit(&bt->writes_begun, 1, memory_order_seq_cst); /* README 11.6.3 */
    bt_epoch_enter(bt);
    /* Step 1 */
    if (w->ch == PUT)
        rc = put_optimistic(bt, w->key, w->key_len, w->value, w->value_len, scratch, &done);
    else
        rc = delete_optimistic(bt, w->key, w->key_len, &done);
    if (rc == AWC_OK && !done)
        rc = reserve_pending(bt);
    if (rc == AWC_OK && !done) {
        /* Step 2 */
        rc = descend_excl(bt, w->key, w->key_len, w->ch,
                          w->ch == PUT ? bt_leaf_size(w->key_len, w->value_len) : 0, &pa);
        if (rc == AWC_OK)
            rc = w->ch == PUT ? put_pessimistic(bt, &pa, w, scratch)
                              : delete_pessimistic(bt, &pa, w, scratch);
        release_to(bt, &pa, pa.n);
    }
    if (rc == AWC_OK)
        atomic_store_explicit(&bt->changed, true, memory_order_relaxed);
    bt_epoch_exit(bt);
    atomic_fetch_add_explicit(&bt->writes_done, 1, memory_order_seq_cst);
    free(scratch);
    return rc;
}

AWC_API int awc_bt_delete(awc_bt_t *bt, const void *key, size_t key_len)
{
    struct write w = {DEL, key, NULL, key_len, 0};
    int rc = check_write(bt, key, key_len);

    return rc != AWC_OK ? rc : write_call(bt, &w);
}

AWC_API int awc_bt_count(awc_bt_t *bt, uint64_t *count)
{
    int rc = bt_check_handle(bt);

    if (rc != AWC_OK)
        return rc;
    if (count == NULL)
        return AWC_EINVAL;
    *count = atomic_load_explicit(&bt->count, memory_order_relaxed);
    return AWC_OK;
}

/* ---- Cursors (README 11.6) --------------------------------------------------------------- */

struct awc_bt_cursor {
    struct awc_bt *bt;
    bool valid;                  /* positioned */
    uint8_t key[AWC_BT_MAX_KEY]; /* the key it is on, copied from a pinned leaf */
    size_t key_len;
    uint8_t *value; /* its value, copied so */
    size_t value_len, value_cap;
    /* The key and value it is on: key and value above, or the entry in `copy` (README 11.6.3) */
    const uint8_t *kp, *vp;
    uint8_t bound[2][AWC_BT_MAX_KEY]; /* separators a descent records, and the next search key */
    /* The leaf the last move took its entry from (README 11.6.2): its page, the tree's shape then,
     * the entry's index, and what lies beyond the leaf on the side that move recorded. */
    uint64_t leaf, shape;
    uint32_t slot;
    /* README 11.6.3: a copy of that leaf (cap bytes, NULL if none could be had), exact while no
     * put or delete has begun since writes_begun was `begun` (copied: copy_ok) */
    uint8_t *copy;
    uint64_t begun;
    bool copy_ok;
    bool on_copy;         /* copy_ok, and entry `slot` of the copy is the one the cursor is on */
    bool beyond_bound;    /* a separator bounds the leaf on that side (else it is the last) */
    bool beyond_below;    /* the side recorded: below the leaf (prev), else above (next) */
    uint32_t beyond_turn; /* beyond_bound: the separator is bound[beyond_turn] */
    size_t beyond_len;
    uint32_t took[AWC_BT_MAX_HEIGHT]; /* the child index each level's descent took (11.6.4) */
};

AWC_API int awc_bt_cursor_open(awc_bt_t *bt, awc_bt_cursor_t **cursor)
{
    struct awc_bt_cursor *c;
    int rc = bt_check_handle(bt);

    if (rc != AWC_OK)
        return rc;
    if (cursor == NULL)
        return AWC_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return AWC_ENOMEM;
    c->bt = bt;
    atomic_fetch_add_explicit(&bt->cursors, 1, memory_order_relaxed);
    *cursor = c;
    return AWC_OK;
}

AWC_API int awc_bt_cursor_close(awc_bt_cursor_t *c)
{
    if (c == NULL)
        return AWC_EINVAL;
    atomic_fetch_sub_explicit(&c->bt->cursors, 1, memory_order_relaxed);
    free(c->value);
    free(c->copy);
    free(c);
    return AWC_OK;
}

/* Copies entry i of the leaf into the cursor. */
static int take_entry(struct awc_bt_cursor *c, const uint8_t *leaf, uint32_t i)
{
    size_t klen, vlen;
    const uint8_t *k = bt_key_at(leaf, i, &klen), *v = bt_value_at(leaf, i, &vlen);

    if (vlen > c->value_cap) {
        uint8_t *nv = realloc(c->value, vlen);

        if (nv == NULL)
            return AWC_ENOMEM;
        c->value = nv;
        c->value_cap = vlen;
    }
    memcpy(c->key, k, klen);
    c->key_len = klen;
    if (vlen > 0)
        memcpy(c->value, v, vlen);
    c->value_len = vlen;
    c->kp = c->key;
    c->vp = c->value;
    c->valid = true;
    return AWC_OK;
}

/* Puts the cursor on entry i of its copy (README 11.6.3): its key and value point into the
 * copy, nothing is copied out. */
static void take_copy_entry(struct awc_bt_cursor *c, uint32_t i)
{
    bt_leaf_entry(c->copy, i, &c->kp, &c->key_len, &c->vp, &c->value_len);
    c->valid = true;
}

/* Copies the leaf the cursor is on (pinned shared) as of this moment: exact if no put or delete
 * ran while done0 (writes_done, read before the pin) was read and the copy made. */
static void copy_leaf(struct awc_bt_cursor *c, const uint8_t *leaf, uint64_t done0)
{
    struct awc_bt *bt = c->bt;

    c->copy_ok = false;
    if (bt->cap > BT_COPY_MAX)
        return;
    if (c->copy == NULL)
        c->copy = malloc(bt->cap);
    if (c->copy == NULL)
        return;
    bt_copy_node(c->copy, leaf, bt->cap);
    c->begun = atomic_load_explicit(&bt->writes_begun, memory_order_seq_cst);
    c->copy_ok = c->begun == done0;
}

/* What a move looks for: the first key >= (GE) or > (GT) the search key, or the last key < it
 * (LT; a NULL key: the last key). */
enum move { GE, GT, LT };

/* True when key i of the leaf is what move mv looks for from key[0..len) (NULL: any). Always so
 * in a sound tree; a leaf with keys out of order or twice (README 11.2.4: checked only at a
 * page's first pin in a handle) could give the key the cursor is on, or one behind it, and a cursor
 * that never ends (found by fuzz/fuzz_bt_raw). */
static bool beyond(const uint8_t *leaf, uint32_t i, enum move mv, const uint8_t *key, size_t len)
{
    size_t klen;
    const uint8_t *k = bt_key_at(leaf, i, &klen);
    int c = key == NULL ? (mv == LT ? -1 : 1) : bt_cmp(k, klen, key, len);

    return mv == GE ? c >= 0 : mv == GT ? c > 0 : c < 0;
}

/* The first index of the leaf (of n keys) whose key is >= key[0..len). A move from a bound
 * (README 11.6.1) expects its answer at the leaf's near end (the first key for GE, past the last
 * for LT) and compares that key first; a search otherwise. */
static uint32_t leaf_index(const uint8_t *leaf, uint32_t n, enum move mv, const uint8_t *key,
                           size_t len, bool at_bound, bool *found)
{
    if (at_bound && n > 0) {
        size_t klen;
        const uint8_t *k = bt_leaf_key_at(leaf, mv == LT ? n - 1 : 0, &klen);
        int c = bt_cmp(k, klen, key, len);

        *found = c == 0;
        if (mv == LT ? c < 0 : c >= 0)
            return mv == LT ? n : 0;
    }
    return bt_lower_bound(leaf, key, len, found);
}

/* One move (README 11.6.1): find the leaf for the search key, take the entry there; when the leaf
 * has none, search again from the separator beyond it, until a key or the end. at_bound: the key
 * is a separator a move recorded (leaf_index). */
static int cursor_move(struct awc_bt_cursor *c, enum move mv, const uint8_t *key, size_t len,
                       bool at_bound)
{
    struct awc_bt *bt = c->bt;
    int rc = bt_check_handle(bt), turn = 0;

    if (rc != AWC_OK)
        return rc;
    c->valid = false;
    for (;;) {
        struct bounds b = {.buf = c->bound[turn],
                           .below = mv == LT,
                           .took = c->took,
                           .hinted = at_bound && mv != LT};
        uint64_t page, shape, done0;
        uint8_t *leaf;
        uint32_t n, i;
        bool found, marked;

        bt_epoch_enter(bt);
        shape = atomic_load_explicit(&bt->shape, memory_order_seq_cst);
        done0 = atomic_load_explicit(&bt->writes_done, memory_order_seq_cst);
        rc = find_leaf(bt, key, len, mv == LT ? ROUTE_LT : ROUTE_LE, AWC_SHARED, MARK_NONE, &b,
                       &page, &leaf, &marked);
        if (rc != AWC_OK) {
            bt_epoch_exit(bt);
            return rc;
        }
        n = bt_n(leaf);
        i = key == NULL ? n : leaf_index(leaf, n, mv, key, len, at_bound, &found);
        if (mv == GT && key != NULL && found)
            i++;
        if (mv == LT)
            i = i == 0 ? n : i - 1; /* n: none */
        if (i < n && !beyond(leaf, i, mv, key, len)) {
            rc = AWC_EBADFILE;
        } else if (i < n) {
            /* README 11.6.3: the copy first; the entry from it when it is exact */
            copy_leaf(c, leaf, done0);
            if (c->copy_ok)
                take_copy_entry(c, i);
            else
                rc = take_entry(c, leaf, i);
        }
        awc_unpin(bt->cache, page, 0);
        bt_epoch_exit(bt);
        if (i < n && rc == AWC_OK) {
            c->leaf = page;
            c->shape = shape;
            c->slot = i;
            c->on_copy = c->copy_ok;
            c->beyond_bound = b.has;
            c->beyond_below = b.below;
            c->beyond_turn = (uint32_t)turn;
            c->beyond_len = b.len;
        }
        if (i < n || rc != AWC_OK)
            return rc;
        /* Nothing here: beyond the leaf's bound, if there is one. */
        if (!b.has)
            return AWC_ENOTFOUND;
        /* The bound must lie beyond the search key, so that every turn of this loop, and every
         * move of the cursor, gets further (above for GE and GT, below for LT). In a sound tree
         * it always does; separators out of order (a node another client wrote, README 11.2.4)
         * would send the search back to the same leaf for ever: found by fuzz/fuzz_bt_raw. */
        if (key != NULL && bt_cmp(c->bound[turn], b.len, key, len) * (mv == LT ? -1 : 1) <= 0)
            return AWC_EBADFILE;
        key = c->bound[turn];
        len = b.len;
        mv = mv == LT ? LT : GE;
        at_bound = true;
        turn ^= 1;
    }
}

AWC_API int awc_bt_cursor_seek(awc_bt_cursor_t *c, const void *key, size_t key_len)
{
    if (c == NULL || (key == NULL && key_len > 0))
        return AWC_EINVAL;
    if (key_len > AWC_BT_MAX_KEY)
        return AWC_E2BIG;
    return cursor_move(c, GE, key_len == 0 ? (const uint8_t *)"" : key, key_len, false);
}

AWC_API int awc_bt_cursor_last(awc_bt_cursor_t *c)
{
    if (c == NULL)
        return AWC_EINVAL;
    return cursor_move(c, LT, NULL, 0, false);
}

/* cursor_step's answer when the cached leaf cannot serve the move: descend. */
#define BT_DESCEND 1

/* The index of the entry a step from the cursor's key (mv GT or LT) takes in `leaf`, n for none:
 * the cached slot when it still holds the key, else a search. */
static uint32_t step_index(const struct awc_bt_cursor *c, const uint8_t *leaf, enum move mv)
{
    uint32_t n = bt_n(leaf), i = c->slot;
    size_t len;
    bool found;

    if (i < n) {
        const uint8_t *k = bt_key_at(leaf, i, &len);

        found = bt_cmp(k, len, c->kp, c->key_len) == 0;
    } else {
        found = false;
    }
    if (!found)
        i = bt_lower_bound(leaf, c->kp, c->key_len, &found);
    if (mv == GT)
        return found ? i + 1 : i;
    return i == 0 ? n : i - 1;
}

/* The entry a step takes in the cached leaf (or its copy): its index into *i (n: none, then
 * BT_DESCEND). A key not beyond the cursor's, which a leaf out of order could give (README
 * 11.2.4), is AWC_EBADFILE, as in cursor_move. */
static int step_take(struct awc_bt_cursor *c, const uint8_t *leaf, enum move mv, uint32_t *i)
{
    *i = step_index(c, leaf, mv);
    if (*i >= bt_n(leaf))
        return BT_DESCEND;
    if (!beyond(leaf, *i, mv, c->kp, c->key_len))
        return AWC_EBADFILE;
    return take_entry(c, leaf, *i);
}

/* A step within the cached leaf (README 11.6.2): pinned directly when the tree's shape has not
 * changed since the move that found it (then it is still the leaf of its key range, and its
 * recorded bound still bounds it), before and after the pin. At the leaf's end, the search goes
 * on from the bound recorded on that side. BT_DESCEND when the cache cannot answer. */
static int step_cached(struct awc_bt_cursor *c, enum move mv, uint8_t *key, size_t *len)
{
    struct awc_bt *bt = c->bt;
    uint8_t *leaf;
    uint32_t i, n;
    int rc;

    /* README 11.6.3: from the copy while no put or delete has begun since it was made; on the
     * copy's entry, step_copy found it at the copy's end on that side. */
    if (c->copy_ok && atomic_load_explicit(&bt->writes_begun, memory_order_seq_cst) == c->begun) {
        leaf = c->copy;
        n = bt_n(leaf);
        i = n;
        rc = c->on_copy ? BT_DESCEND : step_take(c, leaf, mv, &i);
    } else {
        uint64_t done0;

        bt_epoch_enter(bt);
        done0 = atomic_load_explicit(&bt->writes_done, memory_order_seq_cst);
        if (atomic_load_explicit(&bt->shape, memory_order_seq_cst) != c->shape ||
            bt_pin_node(bt, c->leaf, AWC_SHARED, 0, &leaf) != AWC_OK) {
            bt_epoch_exit(bt);
            return BT_DESCEND;
        }
        if (atomic_load_explicit(&bt->shape, memory_order_seq_cst) != c->shape) {
            awc_unpin(bt->cache, c->leaf, 0);
            bt_epoch_exit(bt);
            return BT_DESCEND;
        }
        n = bt_n(leaf);
        rc = step_take(c, leaf, mv, &i);
        if (rc == AWC_OK)
            copy_leaf(c, leaf, done0);
        awc_unpin(bt->cache, c->leaf, 0);
        bt_epoch_exit(bt);
    }
    if (i < n) {
        c->slot = i;
        c->on_copy = c->copy_ok;
        c->valid = rc == AWC_OK;
        return rc;
    }
    if (c->beyond_below != (mv == LT))
        return BT_DESCEND;
    if (!c->beyond_bound) {
        c->valid = false;
        return AWC_ENOTFOUND;
    }
    *len = c->beyond_len;
    memcpy(key, c->bound[c->beyond_turn], *len);
    /* The bound must lie beyond the cursor's key, as in cursor_move: above it for next; for
     * prev at or below it (the leaf's first key may equal its lower separator, and the search
     * from it takes keys below). Separators out of order could send the cursor back. */
    rc = bt_cmp(key, *len, c->kp, c->key_len);
    if (mv == LT ? rc > 0 : rc <= 0) {
        c->valid = false;
        return AWC_EBADFILE;
    }
    return cursor_move(c, mv == LT ? LT : GE, key, *len, true);
}

/* README 11.6.3: a step to the neighbouring entry of the copy the cursor is on, while no put or
 * delete has begun since the copy was made; the cursor then points into the copy (nothing is
 * copied out). False at the copy's ends, or when the copy is stale. */
static inline bool step_copy(struct awc_bt_cursor *c, enum move mv)
{
    if (!c->on_copy || (mv == GT ? c->slot + 1 >= bt_n(c->copy) : c->slot == 0) ||
        atomic_load_explicit(&c->bt->writes_begun, memory_order_seq_cst) != c->begun)
        return false;
    /* The neighbour lies beyond: a node's keys ascend, checked at its first pin (README 11.2.4)
     * and kept so by every write. */
    c->slot = mv == GT ? c->slot + 1 : c->slot - 1;
    bt_leaf_entry(c->copy, c->slot, &c->kp, &c->key_len, &c->vp, &c->value_len);
    return true;
}

/* next and prev past step_copy: from the key the cursor is on (copied: the move overwrites
 * it). Apart from the step in the copy, so that the step does not set up this frame. */
static int cursor_step(struct awc_bt_cursor *c, enum move mv)
{
    uint8_t key[AWC_BT_MAX_KEY];
    size_t len;
    int rc = step_cached(c, mv, key, &len);

    if (rc != BT_DESCEND)
        return rc;
    len = c->key_len;
    memcpy(key, c->kp, len);
    return cursor_move(c, mv, key, len, false);
}

/* README 11.6.3: the step within the copy first (a bounds check and the neighbour's slot). */
static inline int step(struct awc_bt_cursor *c, enum move mv)
{
    int rc;

    if (c == NULL || !c->valid)
        return AWC_EINVAL;
    rc = bt_check_handle(c->bt);
    if (rc != AWC_OK)
        return rc;
    return step_copy(c, mv) ? AWC_OK : cursor_step(c, mv);
}

AWC_API int awc_bt_cursor_next(awc_bt_cursor_t *c)
{
    return step(c, GT);
}

AWC_API int awc_bt_cursor_prev(awc_bt_cursor_t *c)
{
    return step(c, LT);
}

AWC_API int awc_bt_cursor_get(awc_bt_cursor_t *c, const void **key, size_t *key_len,
                              const void **value, size_t *value_len)
{
    if (c == NULL || !c->valid)
        return AWC_EINVAL;
    if (key != NULL && key_len != NULL && value != NULL && value_len != NULL) {
        *key = c->kp; /* the usual call first: both pairs */
        *key_len = c->key_len;
        *value = c->vp;
        *value_len = c->value_len;
        return AWC_OK;
    }
    if ((key == NULL) != (key_len == NULL) || (value == NULL) != (value_len == NULL))
        return AWC_EINVAL;
    if (key != NULL) {
        *key = c->kp;
        *key_len = c->key_len;
    }
    if (value != NULL) {
        *value = c->vp;
        *value_len = c->value_len;
    }
    return AWC_OK;
}
