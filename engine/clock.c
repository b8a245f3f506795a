/*
 * engine/clock.c: the two CLOCKs (README 4): the frame CLOCK that picks victim buffers and the
 * slot CLOCK that picks window slots, kept apart from the pin path (pin.c) that uses them, as
 * PostgreSQL keeps freelist.c apart from bufmgr.c. Both run under the cache lock.
 */
#include "internal.h"

static uint64_t st_load(struct buf *b)
{
    return atomic_load_explicit(&b->state, memory_order_acquire);
}

/* ---- The frame CLOCK (README 4.2) -------------------------------------------------------- */

/* Takes a buffer for a new page and sets BUSY on it; NO_BUF if every buffer is pinned or busy.
 * Never-used buffers come first, in order, with the hand at 0; then the hand sweeps, clearing
 * USAGE, and takes the first unpinned buffer without it, moving one past it (libCacheSim's
 * Clock). *transient is set when a buffer was passed over only because another operation has
 * it BUSY (so waiting, not AWC_EBUSY, is the answer). With PICK_CLEAN or PICK_DIRTY, buffers of
 * the other kind are passed over, and *skipped says one was. Caller holds c->mu. */
uint32_t clock_take_buffer(struct awc *c, bool *transient, enum pick pick, bool *skipped)
{
    plat_mutex_assert_held(&c->mu);
    if (c->fill < c->nbuf) {
        uint32_t bi = (uint32_t)c->fill++;

        atomic_fetch_or_explicit(&c->bufs[bi].state, ST_BUSY, memory_order_acq_rel);
        c->bufs[bi].busy_by = eng_thread_id();
        return bi;
    }
    /* Each sweep lowers every count by one: after usage_max + 1 sweeps an unpinned buffer has
     * been found, if there is one. */
    for (uint64_t n = 0, end = (c->usage_max / ST_USAGE_ONE + 1) * c->nbuf + 1; n < end; n++) {
        uint32_t bi = (uint32_t)c->frame_hand;
        struct buf *b = &c->bufs[bi];
        uint64_t s = st_load(b);

        c->frame_hand = c->frame_hand + 1 == c->nbuf ? 0 : c->frame_hand + 1;
        if ((s & ST_REF_MASK) == 0 && (s & ST_BUSY) != 0 && b->busy_by != eng_thread_id())
            *transient = true; /* another operation has it: it will be free again */
        if ((s & ST_REF_MASK) != 0 || (s & ST_BUSY) != 0)
            continue;
        if ((pick == PICK_CLEAN && (s & ST_DIRTY) != 0) ||
            (pick == PICK_DIRTY && (s & ST_DIRTY) == 0)) {
            *skipped = true;
            continue;
        }
        if ((s & ST_USAGE_MASK) != 0) {
            atomic_compare_exchange_strong_explicit(&b->state, &s, s - ST_USAGE_ONE,
                                                    memory_order_relaxed, memory_order_relaxed);
            continue;
        }
        if (atomic_compare_exchange_strong_explicit(&b->state, &s, s | ST_BUSY,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            b->busy_by = eng_thread_id();
            return bi;
        }
    }
    return NO_BUF;
}

/* Takes, to be written back with a victim (README 4.2.7), up to `max` of the next CLEAN_SCAN
 * buffers from the hand that its coming sweeps would have to write back one at a time: dirty,
 * holding a page, unpinned, not BUSY, usage count 0, and with their data at an address (shown in
 * a slot; in copy mode any: an unshown one is copied out of its frames). Each is taken BUSY with
 * DIRTY cleared, as a flush lists its pages; clean_ahead_end gives them back. Caller holds c->mu.
 */
size_t clock_take_dirty(struct awc *c, uint32_t *out, size_t max)
{
    const uint64_t want = ST_DIRTY | ST_VALID;
    const uint64_t look = want | ST_BUSY | ST_REF_MASK | ST_USAGE_MASK;
    uint64_t h = c->frame_hand;
    size_t n = 0;

    plat_mutex_assert_held(&c->mu);
    for (uint64_t i = 0; i < CLEAN_SCAN && i < c->nbuf && n < max; i++) {
        struct buf *b = &c->bufs[h];
        uint64_t s = st_load(b);

        if ((s & look) == want && (c->copy || (s & ST_MAPPED) != 0) &&
            atomic_compare_exchange_strong_explicit(&b->state, &s, (s | ST_BUSY) & ~ST_DIRTY,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            b->busy_by = eng_thread_id();
            out[n++] = (uint32_t)h;
        }
        h = h + 1 == c->nbuf ? 0 : h + 1;
    }
    return n;
}

/* ---- The slot CLOCK (README 4.1) --------------------------------------------------------- */

/* Reserves slot s if its occupant (if any) is unpinned: sets BUSY on the occupant. */
static bool slot_try_reserve(struct awc *c, uint64_t s, uint32_t *occupant, bool *transient)
{
    struct slot *sl = &c->slots[s];
    struct buf *b;
    uint64_t st;

    if (sl->reserved_by != 0) {
        *transient |= sl->reserved_by != eng_thread_id(); /* ours: this batch took it */
        return false;
    }
    *occupant = sl->buf;
    if (sl->buf != NO_BUF) {
        b = &c->bufs[sl->buf];
        st = st_load(b);
        if ((st & ST_REF_MASK) == 0 && (st & ST_BUSY) != 0 && b->busy_by != eng_thread_id())
            *transient = true;
        if ((st & ST_REF_MASK) != 0 || (st & ST_BUSY) != 0 || (st & ST_MAPPED) == 0 ||
            ST_SLOT(st) != s)
            return false;
        if (!atomic_compare_exchange_strong_explicit(&b->state, &st, st | ST_BUSY,
                                                     memory_order_acq_rel, memory_order_relaxed))
            return false;
        b->busy_by = eng_thread_id();
    }
    sl->reserved_by = eng_thread_id();
    return true;
}

/* Takes a slot: a never-used slot, else `hint` (the slot after the one the batch's previous
 * page took, when this page's buffer follows that page's buffer: their frames are consecutive,
 * so adjacent slots make one mapping run, README 4.1.4) if it is unreferenced, else the hand's
 * victim. The hand also yields adjacent slots while their bits are clear. Its occupant, BUSY
 * now, goes to *occupant. Caller holds c->mu. */
uint64_t clock_take_slot(struct awc *c, uint64_t hint, uint32_t *occupant, bool *transient)
{
    plat_mutex_assert_held(&c->mu);
    if (c->slot_fill < c->nslot) {
        uint64_t s = c->slot_fill++;

        c->slots[s].reserved_by = eng_thread_id();
        *occupant = NO_BUF;
        return s;
    }
    if (hint < c->nslot && atomic_load_explicit(&c->slots[hint].ref, memory_order_relaxed) == 0 &&
        slot_try_reserve(c, hint, occupant, transient))
        return hint;
    for (uint64_t n = 0; n < 2 * c->nslot + 1; n++) {
        uint64_t s = c->slot_hand;

        c->slot_hand = c->slot_hand + 1 == c->nslot ? 0 : c->slot_hand + 1;
        if (c->slots[s].reserved_by != 0) {
            *transient |= c->slots[s].reserved_by != eng_thread_id();
            continue;
        }
        if (atomic_load_explicit(&c->slots[s].ref, memory_order_relaxed) != 0) {
            atomic_store_explicit(&c->slots[s].ref, 0, memory_order_relaxed);
            continue;
        }
        if (slot_try_reserve(c, s, occupant, transient))
            return s;
    }
    return NO_SLOT;
}
