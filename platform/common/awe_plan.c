/*
 * platform/common/awe_plan.c: the OS-independent steps of AWE's map and free calls (see
 * awe_common.h for the split). Compiled on every OS; it includes no OS header and takes no lock.
 * It reaches a frame's state word only through the OS file's frame_state() hook.
 *
 * State word orderings: a state is loaded with acquire ordering wherever a call decides from it
 * (on Windows an allocation publishes an entry's pfn before its state with release ordering);
 * every store here is relaxed, since the caller's map_mu orders them for the next call.
 */
#include "awe_common.h"

/* ---- Plans ---------------------------------------------------------------------------------- */

/* Validates one change's frame (the rules of MapUserPhysicalPages per entry) and marks it
 * pending. */
static int check_frame(const struct window *w, plat_frame_t f)
{
    _Atomic uintptr_t *st;
    uintptr_t s;

    if (f == 0)
        return 0;
    st = frame_state(f);
    if (st == NULL)
        return PLAT_ENXIO;
    s = atomic_load_explicit(st, memory_order_acquire);
    if ((s & FRAME_OWNED) == 0)
        return PLAT_ENXIO;
    if (frame_pool(f) != w->pool || (s & FRAME_VA_MASK) != 0 || (s & FRAME_PENDING) != 0)
        return PLAT_EINVAL; /* wrong size, mapped somewhere now, or listed twice */
    atomic_store_explicit(st, s | FRAME_PENDING, memory_order_relaxed);
    return 0;
}

int plan_entry(struct change *c, struct window *w, size_t page, plat_frame_t f)
{
    int rc;

    assert_lock_held(LOCK_MAP);
    if (pending_test(w, page))
        return PLAT_EINVAL; /* the page is listed twice */
    rc = check_frame(w, f);
    if (rc != 0)
        return rc;
    pending_set(w, page);
    c->w = w;
    c->page = page;
    c->new_frame = f;
    c->old_frame = w->slots[page];
    return 0;
}

void plan_unmark(const struct change *plan, size_t n)
{
    size_t i;

    assert_lock_held(LOCK_MAP);
    for (i = 0; i < n; i++) {
        const struct change *c = &plan[i];

        pending_clear(c->w, c->page);
        if (c->new_frame != 0)
            atomic_fetch_and_explicit(frame_state(c->new_frame), ~FRAME_PENDING,
                                      memory_order_relaxed);
    }
}

void plan_commit(const struct change *plan, size_t n, struct plat_stats *stats)
{
    size_t i;

    assert_lock_held(LOCK_MAP);
    for (i = 0; i < n; i++) {
        const struct change *c = &plan[i];

        if (c->old_frame != 0) {
            atomic_store_explicit(frame_state(c->old_frame), FRAME_OWNED, memory_order_relaxed);
            stats->pages_unmapped++;
        }
        if (c->new_frame != 0) {
            atomic_store_explicit(frame_state(c->new_frame), FRAME_OWNED | page_va(c->w, c->page),
                                  memory_order_relaxed);
            stats->pages_mapped++;
        }
    }
}

uint64_t window_unmap_frames(const struct window *w)
{
    uint64_t n = 0;
    size_t i;

    assert_lock_held(LOCK_MAP);
    for (i = 0; i < w->pages; i++) {
        if (w->slots[i] != 0) {
            atomic_store_explicit(frame_state(w->slots[i]), FRAME_OWNED, memory_order_relaxed);
            n++;
        }
    }
    return n;
}

/* ---- Frames --------------------------------------------------------------------------------- */

/* Steps:
 * 1. Walk the array in order: an entry that is not an owned frame, or is pending (listed
 *    earlier), ends the prefix; each good one is marked pending and counted if mapped.
 * 2. Clear the marks of the prefix. */
size_t frames_valid_prefix(const plat_frame_t *frames, size_t n, size_t *mapped)
{
    size_t valid, nmapped = 0, i;

    assert_lock_held(LOCK_MAP);
    /* Step 1 */
    for (valid = 0; valid < n; valid++) {
        _Atomic uintptr_t *st = frame_state(frames[valid]);
        uintptr_t s = st != NULL ? atomic_load_explicit(st, memory_order_acquire) : 0;

        if ((s & FRAME_OWNED) == 0 || (s & FRAME_PENDING) != 0)
            break;
        atomic_store_explicit(st, s | FRAME_PENDING, memory_order_relaxed);
        if ((s & FRAME_VA_MASK) != 0)
            nmapped++;
    }

    /* Step 2 */
    for (i = 0; i < valid; i++)
        atomic_fetch_and_explicit(frame_state(frames[i]), ~FRAME_PENDING, memory_order_relaxed);
    if (mapped != NULL)
        *mapped = nmapped;
    return valid;
}
