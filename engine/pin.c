/*
 * engine/pin.c: pinning and unpinning (README 3), the two CLOCKs (README 4), prefetch.
 *
 * A pin is served by the first of these that works:
 *   hit          the page is in the window: lock-free (try_hit, README 3.2);
 *   window miss  the page is in frames only: map its buffer into a slot (README 3.3);
 *   frame miss   the page is in no frame: take a buffer, map it, read the page (README 3.4).
 * Every pin, single or batched, that is not a hit goes through batch_pin, whose steps are
 * numbered in its comment. It holds the cache lock only to decide (phases A, then D and F), never
 * across a map call or I/O; buffers in flight carry BUSY, and anyone who needs one waits on it.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- Small helpers ------------------------------------------------------------------------ */

static uint64_t st_load(struct buf *b)
{
    return atomic_load_explicit(&b->state, memory_order_acquire);
}

static void st_unpin(struct buf *b)
{
    atomic_fetch_sub_explicit(&b->state, 1, memory_order_release);
}

static char *slot_addr(const struct awc *c, uint64_t slot)
{
    return c->window + (slot << c->page_shift);
}

static void count_hit(struct awc *c)
{
    atomic_fetch_add_explicit(&c->stripe[eng_thread_id() % STRIPES].hits, 1, memory_order_relaxed);
}

/* State s with its usage count one higher, up to c->usage_max (README 4.2). */
static uint64_t usage_up(const struct awc *c, uint64_t s)
{
    return (s & ST_USAGE_MASK) < c->usage_max ? s + ST_USAGE_ONE : s;
}

/* Publishes an occupant that has lost its slot: unmapped, BUSY off, its data in its own frames
 * (copy mode: given back already, so SLOTNEW off too). */
static void buf_unshow(struct buf *o)
{
    buf_publish(o,
                st_load(o) & ~(ST_MAPPED | ST_SLOTNEW | ((uint64_t)UINT32_MAX << ST_SLOT_SHIFT)));
}

/* ---- The hit path (README 3.2) ---------------------------------------------------------- */

/* Pins `page` if it is in the window; returns its buffer or NO_BUF. Sets USAGE (a hit). */
static uint32_t try_hit(struct awc *c, uint64_t page)
{
    uint32_t bi = table_lookup(c, page);
    struct buf *b;
    uint64_t s;

    if (bi == NO_BUF)
        return NO_BUF;
    b = &c->bufs[bi];
    s = atomic_load_explicit(&b->state, memory_order_relaxed);
    do {
        if ((s & (ST_VALID | ST_MAPPED | ST_BUSY)) != (ST_VALID | ST_MAPPED) ||
            (s & ST_REF_MASK) == ST_REF_MASK)
            return NO_BUF;
    } while (!atomic_compare_exchange_weak_explicit(&b->state, &s, usage_up(c, s + 1),
                                                    memory_order_acquire, memory_order_relaxed));
    if (atomic_load_explicit(&b->page, memory_order_relaxed) != page) {
        st_unpin(b); /* the entry was stale: the buffer holds another page now */
        return NO_BUF;
    }
    /* Set only when clear: a hot page's hits from many threads would otherwise all write the
     * slot's line (README 3.2). */
    if (atomic_load_explicit(&c->slots[ST_SLOT(s)].ref, memory_order_relaxed) == 0)
        atomic_store_explicit(&c->slots[ST_SLOT(s)].ref, 1, memory_order_relaxed);
    return bi;
}

/* ---- The slow path ----------------------------------------------------------------------- */

enum kind { K_WMISS, K_MISS };

/* Small batches (single pins above all) keep their work arrays on the stack. */
#define SMALL 8

/* One entry of a batch in flight. */
struct ent {
    size_t at; /* its index in the batch */
    uint64_t page;
    uint32_t buf; /* target buffer */
    enum kind kind;
    uint64_t slot;      /* its slot */
    bool need_map;      /* the slot must be made to show the buffer's frames */
    bool filled;        /* it was (phase B): mapped, or in copy mode its data copied in */
    uint32_t occupant;  /* the slot's previous buffer (BUSY), or NO_BUF */
    uint64_t old_page;  /* K_MISS: the victim's page, NO_PAGE if none */
    uint64_t old_state; /* K_MISS: the victim's state when taken */
};

/* Undoes the reservations of phase A, or a phase B that failed (caller holds c->mu): BUSY off,
 * new entries out. */
static void undo_reservations(struct awc *c, struct ent *e, size_t m)
{
    plat_mutex_assert_held(&c->mu);
    for (size_t i = 0; i < m; i++) {
        struct buf *b = &c->bufs[e[i].buf];

        if (e[i].slot != NO_SLOT) {
            struct buf *o = e[i].occupant != NO_BUF ? &c->bufs[e[i].occupant] : NULL;

            c->slots[e[i].slot].reserved_by = 0;
            if (o != NULL && e[i].filled && c->copy) {
                /* Copy mode, phase B failed after this slot was filled: the occupant (given
                 * its data back first) no longer shows there. */
                buf_unshow(o);
                c->slots[e[i].slot].buf = NO_BUF;
            } else if (o != NULL) {
                buf_publish(o, st_load(o));
            }
        }
        if (e[i].kind == K_MISS)
            table_remove(c, e[i].page);
        buf_publish(b, e[i].kind == K_MISS ? e[i].old_state : st_load(b));
    }
    wake_word_bump(&c->progress);
}

/* Releases the pins of bi[0..n) taken by this call. */
static void unpin_all(struct awc *c, uint32_t *bi, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bi[i] != NO_BUF)
            st_unpin(&c->bufs[bi[i]]);
        bi[i] = NO_BUF;
    }
}

/* Copy mode (README 4.3): each slot that changes hands first gives its occupant's newer data back
 * to the occupant's frames, then gets a copy of its new buffer's data, except for a clean victim
 * of a frame miss (the read overwrites the slot). No mapping changes. */
static int copy_entries(struct awc *c, struct ent *e, size_t m)
{
    uint64_t copies = 0;
    int rc = AWE_OK;

    for (size_t i = 0; i < m && rc == AWE_OK; i++) {
        char *at = slot_addr(c, e[i].slot);

        if (!e[i].need_map)
            continue;
        if (e[i].occupant != NO_BUF && (st_load(&c->bufs[e[i].occupant]) & ST_SLOTNEW) != 0) {
            rc = awe_frames_write(&c->frames[(size_t)e[i].occupant * c->k], c->k, at);
            if (rc != AWE_OK)
                break;
            atomic_fetch_and_explicit(&c->bufs[e[i].occupant].state, ~ST_SLOTNEW,
                                      memory_order_acq_rel);
            copies++;
        }
        if (e[i].kind == K_WMISS || (e[i].old_page != NO_PAGE && (e[i].old_state & ST_DIRTY))) {
            rc = awe_frames_read(&c->frames[(size_t)e[i].buf * c->k], c->k, at);
            if (rc != AWE_OK)
                break;
            copies++;
            e[i].filled = true;
        }
    }
    atomic_fetch_add_explicit(&c->window_copies, copies, memory_order_relaxed);
    return rc == AWE_OK ? AWC_OK : eng_err(rc);
}

/* Makes each entry that needs it show its buffer in its slot: copies in copy mode, else one
 * scatter call mapping the buffers' frames. */
static int map_entries(struct awc *c, struct ent *e, size_t m)
{
    void *vas_small[SMALL];
    awe_frame_t fr_small[SMALL];
    size_t total = 0, j = 0;
    void **vas;
    awe_frame_t *fr;
    int rc;

    if (c->copy)
        return copy_entries(c, e, m);
    for (size_t i = 0; i < m; i++) {
        total += e[i].need_map ? c->k : 0;
        e[i].filled = e[i].need_map;
    }
    if (total == 0)
        return AWC_OK;
    vas = total <= SMALL ? vas_small : malloc(total * sizeof(*vas));
    fr = total <= SMALL ? fr_small : malloc(total * sizeof(*fr));
    if (vas == NULL || fr == NULL) {
        if (total > SMALL) {
            free(vas);
            free(fr);
        }
        return AWC_ENOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        if (!e[i].need_map)
            continue;
        for (size_t f = 0; f < c->k; f++) {
            vas[j] = slot_addr(c, e[i].slot) + f * c->awe_page;
            fr[j++] = c->frames[(size_t)e[i].buf * c->k + f];
        }
    }
    rc = awe_map_scatter(vas, total, fr);
    if (total > SMALL) {
        free(vas);
        free(fr);
    }
    if (rc != AWE_OK)
        return eng_err(rc);
    atomic_fetch_add_explicit(&c->map_calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->pages_mapped, total / c->k, memory_order_relaxed);
    return AWC_OK;
}

/* Phase C failed: every victim keeps its old page, now shown at the entry's slot; window-miss
 * buffers become mapped, unpinned; occupants lose the slot. In copy mode a clean victim's data
 * was not copied in: it stays unmapped and the slot is left empty. Caller holds c->mu. */
static void abort_after_map(struct awc *c, struct ent *e, size_t m)
{
    plat_mutex_assert_held(&c->mu);
    for (size_t i = 0; i < m; i++) {
        struct buf *b = &c->bufs[e[i].buf];
        uint64_t keep = e[i].kind == K_MISS ? e[i].old_state : st_load(b);

        if (e[i].kind == K_MISS)
            table_remove(c, e[i].page);
        if (e[i].occupant != NO_BUF) {
            struct buf *o = &c->bufs[e[i].occupant];

            buf_unshow(o);
        }
        c->slots[e[i].slot].reserved_by = 0;
        if (e[i].need_map && !e[i].filled) {
            c->slots[e[i].slot].buf = NO_BUF; /* copy mode: the slot holds nothing of it */
            buf_publish(b, keep);
            continue;
        }
        c->slots[e[i].slot].buf = e[i].buf;
        keep &= ~((uint64_t)UINT32_MAX << ST_SLOT_SHIFT);
        buf_publish(b, keep | ST_MAPPED | (e[i].slot << ST_SLOT_SHIFT));
    }
    wake_word_bump(&c->progress);
}

/* A pin batch in flight (batch_pin): its pages, their buffers, the entries that need more than
 * a hit, and scratch arrays for the write-backs and reads. */
struct batch {
    struct awc *c;
    const uint64_t *pages; /* the batch's pages, n of them, distinct */
    size_t n;
    uint32_t *bi;  /* their buffers once pinned (NO_BUF: not yet) */
    bool no_read;  /* AWC_OVERWRITE: frame misses start as zeros */
    bool reader;   /* a shared pin (or prefetch): takes clean victims while write-backs fail */
    struct ent *e; /* entries of this round, m of them */
    size_t m;
    uint64_t *rpages;         /* scratch: pages to write back or read (n + CLEAN_AHEAD) */
    void **raddrs;            /* scratch: their addresses */
    int *rrc;                 /* scratch: each read's or write's result */
    uint32_t xb[CLEAN_AHEAD]; /* buffers cleaned ahead this round (README 4.2.7), BUSY */
    size_t nx;
};

/* Phase A for page i (caller holds c->mu): pass 0 takes the pages in the table (hits, window
 * misses; a BUSY one sets *wait_buf), pass 1 takes victims for the others. Returns AWC_OK, or
 * the error that undoes the round. */
static int phase_a_entry(struct batch *t, size_t i, int pass, int wb_error, uint32_t *wait_buf,
                         uint32_t *seen, bool *transient, bool *skipped)
{
    struct awc *c = t->c;
    struct ent *x = &t->e[t->m];
    uint32_t b = table_lookup(c, t->pages[i]);
    uint64_t s;
    int rc;

    plat_mutex_assert_held(&c->mu);
    if ((pass == 0) != (b != NO_BUF))
        return AWC_OK;
    x->at = i;
    x->page = t->pages[i];
    x->slot = NO_SLOT;
    x->occupant = NO_BUF;
    x->need_map = false;
    x->filled = false;
    x->old_page = NO_PAGE;
    if (pass == 0) {
        s = st_load(&c->bufs[b]);
        if ((s & ST_BUSY) != 0) {
            *seen = atomic_load_explicit(&c->bufs[b].wake, memory_order_acquire);
            if ((st_load(&c->bufs[b]) & ST_BUSY) != 0) {
                *wait_buf = b;
                return AWC_OK;
            }
            return phase_a_entry(t, i, pass, wb_error, wait_buf, seen, transient, skipped);
        }
        if ((s & ST_MAPPED) != 0) {
            /* In the window (the table is exact under the lock): only a full pin count can
             * refuse the pin. */
            t->bi[i] = try_hit(c, t->pages[i]);
            if (t->bi[i] == NO_BUF)
                return AWC_EBUSY;
            count_hit(c);
            return AWC_OK;
        }
        /* In frames only: a window miss. Unpinned, since pins need MAPPED. */
        while (!atomic_compare_exchange_weak_explicit(&c->bufs[b].state, &s,
                                                      usage_up(c, s | ST_BUSY),
                                                      memory_order_acq_rel, memory_order_relaxed))
            ;
        c->bufs[b].busy_by = eng_thread_id();
        x->kind = K_WMISS;
        x->need_map = true;
    } else {
        b = clock_take_buffer(c, transient,
                              wb_error == AWC_OK ? PICK_ANY
                              : t->reader        ? PICK_CLEAN
                                                 : PICK_DIRTY,
                              skipped);
        if (b == NO_BUF && wb_error != AWC_OK && !t->reader) /* no dirty one: any */
            b = clock_take_buffer(c, transient, PICK_ANY, skipped);
        if (b == NO_BUF) /* every candidate pinned, or (a read while write-backs fail) dirty */
            return *skipped && t->reader ? wb_error : AWC_EBUSY;
        s = st_load(&c->bufs[b]);
        x->kind = K_MISS;
        x->old_state = s & ~ST_BUSY;
        x->old_page = (s & ST_VALID) != 0
                          ? atomic_load_explicit(&c->bufs[b].page, memory_order_relaxed)
                          : NO_PAGE;
        if ((s & ST_MAPPED) != 0) {
            x->slot = ST_SLOT(s); /* its frames are shown there already */
            c->slots[x->slot].reserved_by = eng_thread_id();
        } else {
            x->need_map = true;
        }
        rc = table_insert(c, t->pages[i], b);
        if (rc != AWC_OK) {
            buf_publish(&c->bufs[b], x->old_state);
            if (x->slot != NO_SLOT)
                c->slots[x->slot].reserved_by = 0;
            return rc;
        }
    }
    x->buf = b;
    t->m++;
    return AWC_OK;
}

/* Phase A (caller holds c->mu): every page not pinned yet gets its entry, first the pages in the
 * table, then victims for the rest (so a victim never holds a page of this batch); then every
 * entry that needs a slot takes one, after the previous entry's slot when their buffers are
 * consecutive (README 4.1.4). */
static int phase_a(struct batch *t, int wb_error, uint32_t *wait_buf, uint32_t *seen,
                   bool *transient)
{
    struct awc *c = t->c;
    bool skipped = false;
    int rc = AWC_OK;

    plat_mutex_assert_held(&c->mu);
    t->m = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < t->n && rc == AWC_OK && *wait_buf == NO_BUF; i++)
            if (t->bi[i] == NO_BUF)
                rc = phase_a_entry(t, i, pass, wb_error, wait_buf, seen, transient, &skipped);
    for (size_t i = 0; i < t->m && rc == AWC_OK && *wait_buf == NO_BUF; i++) {
        struct ent *x = &t->e[i];
        uint64_t hint =
            i > 0 && x[-1].buf + 1 == x->buf && x[-1].slot != NO_SLOT ? x[-1].slot + 1 : NO_SLOT;

        if (x->slot != NO_SLOT)
            continue;
        x->slot = clock_take_slot(c, hint, &x->occupant, transient);
        if (x->slot == NO_SLOT)
            rc = AWC_EBUSY;
    }
    /* With a dirty victim, buffers to clean ahead (README 4.2.7): taken last, so that they never
     * stand in the way of this batch's own victims and slots. */
    for (size_t i = 0; i < t->m && rc == AWC_OK && *wait_buf == NO_BUF && wb_error == AWC_OK; i++) {
        if (t->e[i].kind == K_MISS && (t->e[i].old_state & ST_DIRTY) != 0 &&
            t->e[i].old_page != NO_PAGE) {
            t->nx = clock_take_dirty(c, t->xb, CLEAN_AHEAD);
            break;
        }
    }
    return rc;
}

/* Gives back the buffers cleaned ahead (README 4.2.7): BUSY off; one whose write did not succeed
 * (rc[i] not AWC_OK, or rc NULL: not written) is dirty again. */
static void clean_ahead_end(struct batch *t, const int *rc)
{
    for (size_t i = 0; i < t->nx; i++) {
        struct buf *b = &t->c->bufs[t->xb[i]];

        buf_publish(b, st_load(b) | (rc != NULL && rc[i] == AWC_OK ? 0 : ST_DIRTY));
    }
    t->nx = 0;
}

/* README 4.3 item 4: where buffer bi's data is written from. A buffer shown in a slot: the slot,
 * in *at (bounce unused). A buffer in no slot (copy mode only): its frames copied into `bounce`
 * (one page, no mapping changed; counted in window_copies), in *at; AWC_ENOMEM when bounce is
 * NULL, else the copy's error (the page then cannot be written this time). The caller holds the
 * buffer BUSY or pinned, so that it neither enters nor leaves a slot meanwhile, and no cache lock
 * (the copy is a memcpy or a pread). Cleaning ahead (phase C) and the flush (write_listed) both
 * take their pages' addresses here. */
int eng_write_source(struct awc *c, uint32_t bi, char *bounce, void **at)
{
    uint64_t s = st_load(&c->bufs[bi]);
    int rc;

    plat_mutex_assert_not_held(&c->mu); /* README 7: I/O with no cache lock held */
    if ((s & ST_MAPPED) != 0) {
        *at = slot_addr(c, ST_SLOT(s));
        return AWC_OK;
    }
    assert(c->copy); /* the remapping window writes only shown buffers from here */
    if (bounce == NULL)
        return AWC_ENOMEM;
    rc = awe_frames_read(&c->frames[(size_t)bi * c->k], c->k, bounce);
    if (rc != AWE_OK)
        return eng_err(rc);
    atomic_fetch_add_explicit(&c->window_copies, 1, memory_order_relaxed);
    *at = bounce;
    return AWC_OK;
}

/* Phase C: the dirty victims' old pages are written back from the slots that show them, with the
 * buffers cleaned ahead whose data has an address, one batched write. Returns the first
 * victim's error (the buffers cleaned ahead only stay dirty when theirs fail, or when they were
 * not written). */
static int phase_c(struct batch *t)
{
    struct awc *c = t->c;
    size_t nr = 0, nv, unshown = 0, at[CLEAN_AHEAD];
    uint64_t written = 0, ahead = 0;
    char *bounce = NULL, *next;
    int xrc[CLEAN_AHEAD];
    int rc = AWC_OK;

    for (size_t i = 0; i < t->m; i++) {
        if (t->e[i].kind == K_MISS && t->e[i].old_page != NO_PAGE &&
            (t->e[i].old_state & ST_DIRTY) != 0) {
            t->rpages[nr] = t->e[i].old_page;
            t->raddrs[nr++] = slot_addr(c, t->e[i].slot);
        }
    }
    nv = nr;
    for (size_t i = 0; i < t->nx; i++)
        unshown += (st_load(&c->bufs[t->xb[i]]) & ST_MAPPED) == 0;
    if (unshown > 0)
        bounce = plat_aligned_alloc(c->page_size, unshown * c->page_size);
    next = bounce;
    for (size_t i = 0; i < t->nx; i++) {
        bool shown = (st_load(&c->bufs[t->xb[i]]) & ST_MAPPED) != 0;
        void *from = NULL;

        if (eng_write_source(c, t->xb[i], shown ? NULL : next, &from) != AWC_OK)
            from = NULL; /* not written: stays dirty */

        if (!shown && next != NULL)
            next += c->page_size;
        at[i] = from != NULL ? nr : SIZE_MAX; /* its place in the batch, or none */
        if (from != NULL) {
            t->rpages[nr] = atomic_load_explicit(&c->bufs[t->xb[i]].page, memory_order_relaxed);
            t->raddrs[nr++] = from;
        }
    }
    if (nr > 0)
        file_write_pages(c, t->rpages, t->raddrs, nr, t->rrc);
    for (size_t i = 0; i < nv; i++) {
        if (t->rrc[i] != AWC_OK && rc == AWC_OK)
            rc = t->rrc[i];
        written += t->rrc[i] == AWC_OK;
    }
    for (size_t i = 0; i < t->nx; i++) {
        xrc[i] = at[i] != SIZE_MAX ? t->rrc[at[i]] : AWC_EIO; /* not written: stays dirty */
        ahead += xrc[i] == AWC_OK;
    }
    atomic_fetch_add_explicit(&c->writebacks, written + ahead, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->writebacks_ahead, ahead, memory_order_relaxed);
    clean_ahead_end(t, xrc);
    plat_aligned_free(bounce);
    return rc;
}

/* Phase D (caller holds c->mu): the victims' old pages leave the table; occupants lose their slot
 * (their data is in their frames); slots record their new buffers. */
static void phase_d(struct batch *t)
{
    struct awc *c = t->c;

    plat_mutex_assert_held(&c->mu);
    for (size_t i = 0; i < t->m; i++) {
        struct ent *x = &t->e[i];

        if (x->kind == K_MISS && x->old_page != NO_PAGE) {
            table_remove(c, x->old_page);
            atomic_fetch_add_explicit(&c->frame_evictions, 1, memory_order_relaxed);
        }
        if (x->kind == K_MISS)
            atomic_store_explicit(&c->bufs[x->buf].page, x->page, memory_order_relaxed);
        if (x->occupant != NO_BUF) {
            struct buf *o = &c->bufs[x->occupant];

            buf_unshow(o);
            atomic_fetch_add_explicit(&c->window_evictions, 1, memory_order_relaxed);
        }
        c->slots[x->slot].buf = x->buf;
        c->slots[x->slot].reserved_by = 0;
        atomic_store_explicit(&c->slots[x->slot].ref, 0, memory_order_relaxed);
    }
}

/* Phase E: one batched read of every frame miss into its slot, each verified (AWC_OVERWRITE:
 * zeros, nothing read). Results in t->rrc, in entry order. */
static void phase_e(struct batch *t)
{
    struct awc *c = t->c;
    size_t nr = 0;

    for (size_t i = 0; i < t->m; i++) {
        if (t->e[i].kind == K_MISS) {
            t->rpages[nr] = t->e[i].page;
            t->raddrs[nr++] = slot_addr(c, t->e[i].slot);
        }
    }
    if (nr > 0 && t->no_read) {
        for (size_t i = 0; i < nr; i++) {
            memset(t->raddrs[i], 0, c->page_size);
            t->rrc[i] = AWC_OK;
        }
    } else if (nr > 0) {
        file_read_pages(c, t->rpages, t->raddrs, nr, t->rrc);
        atomic_fetch_add_explicit(&c->misses, nr, memory_order_relaxed);
    }
}

/* Phase F (caller holds c->mu): each entry's buffer is published VALID, MAPPED and pinned; a page
 * that failed to read leaves the table and its buffer is free. Returns the first read error. */
static int phase_f(struct batch *t)
{
    struct awc *c = t->c;
    size_t nr = 0;
    int rc = AWC_OK;

    plat_mutex_assert_held(&c->mu);
    for (size_t i = 0; i < t->m; i++) {
        struct ent *x = &t->e[i];
        struct buf *b = &c->bufs[x->buf];
        uint64_t where = ST_MAPPED | (x->slot << ST_SLOT_SHIFT);

        if (x->kind == K_MISS && t->rrc[nr++] != AWC_OK) {
            if (rc == AWC_OK)
                rc = t->rrc[nr - 1];
            table_remove(c, x->page);
            atomic_store_explicit(&b->page, NO_PAGE, memory_order_relaxed);
            buf_publish(b, where); /* free, shown at its slot: a victim next time */
            continue;
        }
        if (x->kind == K_WMISS) {
            atomic_fetch_add_explicit(&c->frame_hits, 1, memory_order_relaxed);
            buf_publish(b, (st_load(b) & (ST_VALID | ST_DIRTY | ST_USAGE_MASK)) | where | 1);
        } else {
            /* Copy mode: the page was read into the slot; its frames hold another. */
            buf_publish(b, ST_VALID | where | 1 | (c->copy ? ST_SLOTNEW : 0));
        }
        t->bi[x->at] = x->buf;
    }
    return rc;
}

/* Phases D and F in one hold of the cache lock, after the read (README 3.4): the old pages and
 * the occupants stay BUSY through the read, and a miss takes the lock twice, not three times. */
static int phase_df(struct batch *t)
{
    struct awc *c = t->c;
    int rc;

    plat_mutex_lock(&c->mu);
    phase_d(t);
    rc = phase_f(t);
    wake_word_bump(&c->progress);
    plat_mutex_unlock(&c->mu);
    return rc;
}

/*
 * Pins pages[i] into bi[i] for every i with bi[i] == NO_BUF. Pages are distinct. On error no pin
 * taken by this call is left (entries pinned on entry are the caller's and stay). Steps:
 *  1. Try every page on the hit path.
 *  2. Phase A, under the lock (phase_a): look each remaining page up. A page in the window is
 *     pinned; a page in frames only becomes a window miss (BUSY); a page in no frame takes a
 *     victim buffer (BUSY) and is entered in the table at once, so that others wait for it
 *     rather than read it twice; the victim's old page stays in the table until its write-back
 *     is done. Every entry that needs a slot takes one (its occupant becomes BUSY). A BUSY page
 *     met on the way undoes the pass and waits for that page; no victim or slot to be had undoes
 *     it: AWC_EBUSY (or, when only other operations' reservations stood in the way, a wait).
 *  3. Phase B, unlocked (map_entries): every slot change of the batch, one awe_map_scatter, or
 *     copies in copy mode.
 *  4. Phase C, unlocked (phase_c): the dirty victims' old pages are written back, one batched
 *     write, from their slots, with the buffers phase A took to clean ahead (README 4.2.7). On
 *     failure every victim keeps its old page; a read tries the batch once more, with clean
 *     victims only.
 *  5. Phase E, unlocked (phase_e): one batched read of every frame miss, each verified.
 *  6. Phases D and F, in one hold of the lock (phase_df): the victims' old pages leave the table;
 *     occupants lose their slot (they keep their data in frames); slots record their new
 *     buffers (phase_d); each entry's buffer is published VALID, MAPPED and pinned, and a page
 *     that failed to read leaves the table and its buffer is free (phase_f).
 */
static int batch_pin(struct awc *c, const uint64_t *pages, size_t n, uint32_t *bi, bool no_read,
                     bool reader)
{
    struct ent e_small[SMALL];
    uint64_t rpages_small[SMALL + CLEAN_AHEAD];
    void *raddrs_small[SMALL + CLEAN_AHEAD];
    int rrc_small[SMALL + CLEAN_AHEAD];
    bool small = n <= SMALL, retried = false;
    struct batch t = {c,
                      pages,
                      n,
                      bi,
                      no_read,
                      reader,
                      small ? e_small : malloc(n * sizeof(struct ent)),
                      0,
                      small ? rpages_small : malloc((n + CLEAN_AHEAD) * sizeof(uint64_t)),
                      small ? raddrs_small : malloc((n + CLEAN_AHEAD) * sizeof(void *)),
                      small ? rrc_small : malloc((n + CLEAN_AHEAD) * sizeof(int)),
                      {0},
                      0};
    int rc = AWC_OK;

    if (t.e == NULL || t.rpages == NULL || t.raddrs == NULL || t.rrc == NULL) {
        rc = AWC_ENOMEM;
        goto out;
    }
    for (;;) {
        uint32_t wait_buf = NO_BUF, seen = 0, progress;
        bool transient = false;

        /* Step 1 */
        for (size_t i = 0; i < n; i++)
            if (bi[i] == NO_BUF && (bi[i] = try_hit(c, pages[i])) != NO_BUF)
                count_hit(c);

        /* Step 2 */
        plat_mutex_lock(&c->mu);
        rc = phase_a(&t, atomic_load_explicit(&c->wb_error, memory_order_relaxed), &wait_buf, &seen,
                     &transient);
        if (rc != AWC_OK || wait_buf != NO_BUF) {
            clean_ahead_end(&t, NULL);
            undo_reservations(c, t.e, t.m);
            progress = atomic_load_explicit(&c->progress, memory_order_acquire);
            plat_mutex_unlock(&c->mu);
            if (rc == AWC_EBUSY && transient) {
                /* Only other operations' reservations stood in the way: wait for one of them
                 * to end, then try again (README 3.8). */
                rc = AWC_OK;
                wake_word_wait(&c->progress, progress);
                continue;
            }
            if (rc != AWC_OK)
                goto out;
            buf_wait_unbusy(&c->bufs[wait_buf], seen);
            continue;
        }
        plat_mutex_unlock(&c->mu);
        if (t.m == 0)
            break;

        /* Step 3 */
        rc = map_entries(c, t.e, t.m);
        if (rc != AWC_OK) {
            clean_ahead_end(&t, NULL);
            plat_mutex_lock(&c->mu);
            undo_reservations(c, t.e, t.m);
            plat_mutex_unlock(&c->mu);
            goto out;
        }

        /* Step 4 */
        rc = phase_c(&t);
        if (rc != AWC_OK) {
            plat_mutex_lock(&c->mu);
            abort_after_map(c, t.e, t.m);
            plat_mutex_unlock(&c->mu);
            if (reader && !retried) {
                /* The disk refuses write-backs (full, say): a read tries again with clean
                 * victims only (README 4.2.6). */
                retried = true;
                rc = AWC_OK;
                continue;
            }
            goto out;
        }

        /* Steps 5 and 6 */
        phase_e(&t);
        rc = phase_df(&t);
        if (rc != AWC_OK)
            goto out;
    }
out:
    if (rc != AWC_OK)
        unpin_all(c, bi, n);
    if (!small) {
        free(t.e);
        free(t.rpages);
        free(t.raddrs);
        free(t.rrc);
    }
    return rc;
}

/* ---- Public entry points ----------------------------------------------------------------- */

static int check_mode(const awc_t *c, int mode)
{
    if (mode != AWC_SHARED && mode != AWC_EXCLUSIVE && mode != AWC_OVERWRITE)
        return AWC_EINVAL;
    if (mode != AWC_SHARED && (c->flags & AWC_READONLY) != 0)
        return AWC_EACCES;
    return AWC_OK;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Takes the content latches of bi[0..n) in page order (so two batches cannot deadlock each
 * other), then fills out[]. On error releases what it took and every pin. */
static int latch_all(struct awc *c, const uint64_t *pages, uint32_t *bi, size_t n, int mode,
                     void **out)
{
    size_t order_small[SMALL];
    size_t *order = n <= SMALL ? order_small : malloc(n * sizeof(*order)), i, j;
    int rc = AWC_OK;

    if (order == NULL) {
        unpin_all(c, bi, n);
        return AWC_ENOMEM;
    }
    for (i = 0; i < n; i++)
        order[i] = i;
    for (i = 1; i < n; i++) /* insertion sort: batches are small next to a pin's cost */
        for (j = i; j > 0 && pages[order[j - 1]] > pages[order[j]]; j--) {
            size_t t = order[j];

            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (i = 0; i < n && rc == AWC_OK; i++)
        rc = latch_acquire(&c->bufs[bi[order[i]]], mode);
    if (rc != AWC_OK) {
        for (j = 0; j + 1 < i; j++)
            latch_release(&c->bufs[bi[order[j]]]);
        unpin_all(c, bi, n);
    } else {
        for (i = 0; i < n; i++)
            out[i] = slot_addr(c, ST_SLOT(st_load(&c->bufs[bi[i]])));
    }
    if (order != order_small)
        free(order);
    return rc;
}

AWC_API int awc_pin(awc_t *c, uint64_t page, int mode, void **ptr)
{
    uint32_t bi;
    int rc = eng_check(c);

    if (rc != AWC_OK)
        return rc;
    if (ptr == NULL || page > c->max_page)
        return AWC_EINVAL;
    if (page > c->fs_max_page)
        return AWC_EFBIG;
    rc = check_mode(c, mode);
    if (rc != AWC_OK)
        return rc;
    bi = try_hit(c, page);
    if (bi != NO_BUF) {
        count_hit(c);
        rc = latch_acquire(&c->bufs[bi], mode == AWC_OVERWRITE ? AWC_EXCLUSIVE : mode);
        if (rc != AWC_OK) {
            st_unpin(&c->bufs[bi]);
            return rc;
        }
        *ptr = slot_addr(c, ST_SLOT(st_load(&c->bufs[bi])));
        return AWC_OK;
    }
    rc = batch_pin(c, &page, 1, &bi, mode == AWC_OVERWRITE, mode == AWC_SHARED);
    if (rc != AWC_OK)
        return rc;
    return latch_all(c, &page, &bi, 1, mode == AWC_OVERWRITE ? AWC_EXCLUSIVE : mode, ptr);
}

AWC_API int awc_pin_batch(awc_t *c, const uint64_t *pages, size_t n, int mode, void **out)
{
    uint64_t *sorted;
    uint32_t *bi;
    int rc = eng_check(c);
    size_t i;

    if (rc != AWC_OK)
        return rc;
    if (pages == NULL || out == NULL || n == 0 || n > c->nslot)
        return AWC_EINVAL;
    rc = check_mode(c, mode);
    if (rc != AWC_OK)
        return rc;
    sorted = malloc(n * sizeof(*sorted));
    bi = malloc(n * sizeof(*bi));
    if (sorted == NULL || bi == NULL) {
        free(sorted);
        free(bi);
        return AWC_ENOMEM;
    }
    memcpy(sorted, pages, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), u64_cmp);
    for (i = 0; i < n; i++) {
        bi[i] = NO_BUF;
        if (sorted[i] > c->max_page || (i > 0 && sorted[i] == sorted[i - 1]))
            rc = AWC_EINVAL; /* a duplicate page, or one no file offset can reach */
    }
    if (rc == AWC_OK && sorted[n - 1] > c->fs_max_page)
        rc = AWC_EFBIG; /* past what the file system lets the file hold */
    free(sorted);
    if (rc == AWC_OK)
        rc = batch_pin(c, pages, n, bi, mode == AWC_OVERWRITE, mode == AWC_SHARED);
    if (rc == AWC_OK)
        rc = latch_all(c, pages, bi, n, mode == AWC_OVERWRITE ? AWC_EXCLUSIVE : mode, out);
    free(bi);
    return rc;
}

AWC_API int awc_unpin(awc_t *c, uint64_t page, int dirty)
{
    uint32_t bi;
    struct buf *b;
    uint32_t latch;
    bool exclusive;
    int rc = eng_check(c);

    if (rc != AWC_OK)
        return rc;
    /* A pinned page cannot leave the table, but a lock-free lookup can miss it while the table
     * is being compacted: then ask again under the lock, where the table is exact. */
    bi = table_lookup(c, page);
    if (bi == NO_BUF || atomic_load_explicit(&c->bufs[bi].page, memory_order_relaxed) != page) {
        plat_mutex_lock(&c->mu);
        bi = table_lookup(c, page);
        plat_mutex_unlock(&c->mu);
    }
    if (bi == NO_BUF)
        return AWC_ENOTPINNED;
    b = &c->bufs[bi];
    if ((st_load(b) & ST_REF_MASK) == 0 ||
        atomic_load_explicit(&b->page, memory_order_relaxed) != page)
        return AWC_ENOTPINNED;
    latch = atomic_load_explicit(&b->latch, memory_order_relaxed);
    exclusive = (latch & LATCH_WRITER) != 0 &&
                atomic_load_explicit(&b->xowner, memory_order_relaxed) == eng_thread_id();
    if (!exclusive && (latch & LATCH_READERS) == 0)
        return AWC_ENOTPINNED;
    if (dirty && !exclusive)
        return AWC_EINVAL;
    if (dirty) /* copy mode: the slot's version is newer than the frames' (README 4.3) */
        atomic_fetch_or_explicit(&b->state, ST_DIRTY | (c->copy ? ST_SLOTNEW : 0),
                                 memory_order_release);
    latch_release(b);
    st_unpin(b);
    return AWC_OK;
}

AWC_API int awc_prefetch(awc_t *c, uint64_t first, uint64_t count)
{
    uint64_t chunk, *pages;
    uint32_t *bi;
    int rc = eng_check(c);

    if (rc != AWC_OK)
        return rc;
    if (count == 0)
        return AWC_OK;
    if (first > c->max_page || count - 1 > c->max_page - first)
        return AWC_EINVAL;
    if (first + (count - 1) > c->fs_max_page)
        return AWC_EFBIG;
    chunk = c->nslot / 2 > 0 ? c->nslot / 2 : 1;
    if (chunk > 256)
        chunk = 256;
    pages = malloc(chunk * sizeof(*pages));
    bi = malloc(chunk * sizeof(*bi));
    if (pages == NULL || bi == NULL) {
        free(pages);
        free(bi);
        return AWC_ENOMEM;
    }
    /* Each chunk of pages not cached yet is pinned as a batch (one map call, one read) and
     * unpinned at once: the pages stay in frames. */
    for (uint64_t p = first; p - first < count && rc == AWC_OK;) {
        size_t n = 0;

        while (n < chunk && p - first < count) {
            if (table_lookup(c, p) == NO_BUF) {
                pages[n] = p;
                bi[n++] = NO_BUF;
            }
            p++;
        }
        if (n == 0)
            continue;
        rc = batch_pin(c, pages, n, bi, false, true);
        if (rc == AWC_OK)
            unpin_all(c, bi, n);
        /* Pins held elsewhere may leave fewer free slots than a chunk: one page at a time then;
         * AWC_EBUSY only if not even one slot is free. */
        if (rc == AWC_EBUSY && n > 1) {
            rc = AWC_OK;
            for (size_t i = 0; rc == AWC_OK && i < n; i++) {
                bi[0] = NO_BUF;
                rc = batch_pin(c, &pages[i], 1, bi, false, true);
                if (rc == AWC_OK)
                    unpin_all(c, bi, 1);
            }
        }
    }
    free(pages);
    free(bi);
    return rc;
}
