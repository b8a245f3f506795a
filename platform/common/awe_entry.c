/*
 * platform/common/awe_entry.c: the entry points of plat.h's AWE whose rules are the same on every
 * OS, written once (see awe_common.h for the split). Each checks its arguments in the contract's
 * order, takes the OS file's locks through its hooks, works on the tables of awe_table.c and
 * awe_plan.c, and leaves to the OS file only what talks to the OS (the hooks at the end of
 * awe_common.h). Compiled on every OS; it includes no OS header.
 *
 * Every failure of plat_frames_alloc, plat_frames_free, plat_map and plat_map_scatter is counted
 * once, here, in plat_core.failed_calls.
 */
#include "awe_common.h"

#include <stdlib.h>

struct awe_core plat_core;

/* ---- Locks and scratch -------------------------------------------------------------------- */

void lock_both(void)
{
    map_lock();
    alloc_lock();
}

void unlock_both(void)
{
    alloc_unlock();
    map_unlock();
}

#ifndef NDEBUG
static _Atomic uintptr_t lock_owner[LOCK_COUNT]; /* the holder's thread_tag(), 0: none */

/* A number that names the calling thread among the living ones: the address of its own copy of
 * a thread-local variable. */
static uintptr_t thread_tag(void)
{
    static _Thread_local char tag;

    return (uintptr_t)&tag;
}

void lock_note_taken(enum awe_lock l)
{
    atomic_store_explicit(&lock_owner[l], thread_tag(), memory_order_relaxed);
}

void lock_note_released(enum awe_lock l)
{
    assert(lock_held(l));
    atomic_store_explicit(&lock_owner[l], 0, memory_order_relaxed);
}

bool lock_held(enum awe_lock l)
{
    return atomic_load_explicit(&lock_owner[l], memory_order_relaxed) == thread_tag();
}
#endif

int plan_reserve(size_t n)
{
    assert_lock_held(LOCK_MAP);
    if (n > SIZE_MAX / sizeof(struct change))
        return PLAT_EINVAL;
    if (n > plat_core.plan_cap) {
        size_t cap = n < 64 ? 64 : n;
        struct change *c = realloc(plat_core.plan, cap * sizeof(*c));

        if (c == NULL)
            return PLAT_ENOMEM;
        plat_core.plan = c;
        if (plan_room(cap) != 0)
            return PLAT_ENOMEM;
        plat_core.plan_cap = cap;
    }
    return 0;
}

/* ---- Capabilities and limits -------------------------------------------------------------- */

int plat_get_caps(struct plat_caps *caps)
{
    int rc;

    if (caps == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    lock_both();
    *caps = plat_core.caps;
    unlock_both();
    caps->huge_frames_free = 0;
    caps_os_fill(caps);
    return 0;
}

int plat_set_frame_limit(uint64_t limit)
{
    int rc = ensure_init();

    if (rc != 0)
        return rc;
    if (limit > plat_core.frame_capacity)
        return PLAT_EINVAL;
    alloc_lock();
    plat_core.caps.frame_limit = limit;
    alloc_unlock();
    return 0;
}

/* ---- Frames ------------------------------------------------------------------------------- */

/* The checks of plat.h common to both OSes, in the contract's order: count NULL, or frames NULL
 * with *count > 0, is PLAT_EFAULT; then the platform starts (its error is returned); then unknown
 * flags and a node out of range are PLAT_EINVAL; *count == 0 succeeds. The OS file does the
 * rest. */
static int frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node)
{
    int rc;

    if (count == NULL || (frames == NULL && *count > 0))
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    if ((flags & ~(PLAT_FRAMES_HUGE | PLAT_FRAMES_POPULATE)) != 0 || numa_node < -1 ||
        numa_node > plat_core.max_numa_node)
        return PLAT_EINVAL;
    if (*count == 0)
        return 0;
    return do_frames_alloc(count, frames, flags, numa_node);
}

/* The checks common to both OSes: pointers (PLAT_EFAULT), the start, then *count == 0 or no frame
 * ever allocated (PLAT_EINVAL). The OS file does the rest. */
static int frames_free(size_t *count, const plat_frame_t *frames)
{
    int rc;

    if (count == NULL || frames == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    if (*count == 0 || !atomic_load(&plat_core.ever_allocated))
        return PLAT_EINVAL;
    return do_frames_free(count, frames);
}

/* ---- Mapping ------------------------------------------------------------------------------ */

/* Steps:
 * 1. Check the call: count 0, no frame ever allocated, or a range outside one window: EINVAL.
 * 2. Validate every entry in array order, marking its page and frame pending; the first bad
 *    entry decides the error and the marks are cleared.
 * 3. Clear the marks and carry the plan out all or nothing (the OS file's plan_apply). */
static int map_range(void *va, size_t count, const plat_frame_t *frames)
{
    struct window *w;
    uintptr_t a;
    size_t first, i;
    int rc;

    /* Step 1 */
    rc = ensure_init();
    if (rc != 0)
        return rc;
    if (count == 0 || !atomic_load(&plat_core.ever_allocated))
        return PLAT_EINVAL;
    map_lock();
    rc = wtab_range(&plat_core.wt, va, count, &w, &a, &first);
    if (rc == 0)
        rc = plan_reserve(count);
    if (rc != 0)
        goto out;

    /* Step 2 */
    for (i = 0; i < count; i++) {
        rc = plan_entry(&plat_core.plan[i], w, first + i, frames != NULL ? frames[i] : 0);
        if (rc != 0) {
            plan_unmark(plat_core.plan, i);
            goto out;
        }
    }

    /* Step 3 */
    plan_unmark(plat_core.plan, count);
    rc = plan_apply(count, (void *)a);
    if (rc == 0)
        plat_core.stats.map_calls++;
out:
    map_unlock();
    return rc;
}

/* Steps:
 * 1. count 0 succeeds; vas NULL is EFAULT; no frame ever allocated is EINVAL.
 * 2. Validate every entry in array order: its page must be in a window and listed once, its
 *    frame as for plat_map. The first bad entry decides the error; marks are cleared.
 * 3. Clear the marks and carry the plan out all or nothing (the OS file's plan_apply, which
 *    orders it as its OS needs). */
static int map_scatter(void *const *vas, size_t count, const plat_frame_t *frames)
{
    struct window *w = NULL;
    size_t i;
    int rc;

    /* Step 1 */
    rc = ensure_init();
    if (rc != 0)
        return rc;
    if (count == 0)
        return 0;
    if (vas == NULL)
        return PLAT_EFAULT;
    if (!atomic_load(&plat_core.ever_allocated))
        return PLAT_EINVAL;
    map_lock();
    rc = plan_reserve(count);
    if (rc != 0)
        goto out;

    /* Step 2 */
    for (i = 0; i < count; i++) {
        uintptr_t va = (uintptr_t)vas[i];

        if (w == NULL || va < w->base || va - w->base >= (w->pages << w->shift))
            w = wtab_find(&plat_core.wt, va);
        rc = w == NULL ? PLAT_EINVAL
                       : plan_entry(&plat_core.plan[i], w, (va - w->base) >> w->shift,
                                    frames != NULL ? frames[i] : 0);
        if (rc != 0) {
            plan_unmark(plat_core.plan, i);
            goto out;
        }
    }

    /* Step 3 */
    plan_unmark(plat_core.plan, count);
    rc = plan_apply(count, NULL);
    if (rc == 0)
        plat_core.stats.scatter_calls++;
out:
    map_unlock();
    return rc;
}

int plat_query(const void *va, plat_frame_t *frame)
{
    int rc = ensure_init();

    if (rc != 0)
        return rc;
    if (frame == NULL)
        return PLAT_EFAULT;
    map_lock();
    rc = wtab_query(&plat_core.wt, va, frame);
    map_unlock();
    return rc;
}

/* ---- Windows ------------------------------------------------------------------------------ */

/* Steps:
 * 1. Check the arguments; round the size up to whole pages of the window's kind (huge pages for
 *    a huge window, PLAT_ENOTSUP where the OS has none); a wanted address is rounded down to the
 *    allocation granularity (a huge page, if larger) and must lie in the application's range.
 * 2. Build the window's tables (slots all 0, nothing pending).
 * 3. Reserve the range at the wanted address or anywhere (the OS file's window_os_reserve):
 *    every touch faults until a frame is mapped.
 * 4. Insert the window into the sorted table. */
int plat_window_reserve(void *want, size_t size, unsigned flags, void **base)
{
    bool huge = (flags & PLAT_WINDOW_HUGE) != 0;
    size_t page, align, pages;
    struct window *w;
    uintptr_t want_a;
    int rc;

    /* Step 1 */
    if (base == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    if (size == 0 || (flags & ~(PLAT_WINDOW_HUGE | PLAT_WINDOW_POPULATE)) != 0)
        return PLAT_EINVAL;
    if (huge && plat_core.caps.huge_page_size == 0)
        return PLAT_ENOTSUP;
    page = huge ? plat_core.caps.huge_page_size : plat_core.caps.page_size;
    align =
        huge && page > plat_core.caps.alloc_granularity ? page : plat_core.caps.alloc_granularity;
    rc = wtab_reserve_args(&plat_core.caps, want, page, align, &size, &pages, &want_a);
    if (rc != 0)
        return rc;

    /* Step 2 */
    w = wtab_window_new(pages, log2_exact(page), flags, huge ? POOL_HUGE : POOL_SMALL);
    if (w == NULL)
        return PLAT_ENOMEM;

    /* Step 3 */
    map_lock();
    rc = wtab_grow(&plat_core.wt);
    if (rc == 0)
        rc = window_os_reserve(w, want_a, size, align);
    if (rc != 0) {
        map_unlock();
        wtab_window_free(w);
        return rc;
    }

    /* Step 4 */
    wtab_insert(&plat_core.wt, w);
    map_unlock();
    *base = (void *)w->base;
    return 0;
}

/* Steps:
 * 1. Find the window whose base is `base` exactly; anything else is EADDRNOTAVAIL.
 * 2. Return the range to the OS (window_os_release); on failure nothing has changed.
 * 3. Every frame that was mapped in it becomes unmapped (and keeps its contents); the window
 *    leaves the table. */
int plat_window_release(void *base)
{
    struct window *w;
    int rc = ensure_init();

    if (rc != 0)
        return rc;

    /* Step 1 */
    map_lock();
    w = wtab_find(&plat_core.wt, (uintptr_t)base);
    if (w == NULL || w->base != (uintptr_t)base) {
        map_unlock();
        return PLAT_EADDRNOTAVAIL;
    }

    /* Step 2 */
    rc = window_os_release(w);
    if (rc != 0) {
        map_unlock();
        return rc;
    }

    /* Step 3 */
    plat_core.stats.pages_unmapped += window_unmap_frames(w);
    wtab_remove(&plat_core.wt, w);
    map_unlock();
    wtab_window_free(w);
    return 0;
}

int plat_window_find(const void *va, void **base, size_t *size)
{
    int rc = ensure_init();

    if (rc != 0)
        return rc;
    if (base == NULL || size == NULL)
        return PLAT_EFAULT;
    map_lock();
    rc = wtab_extent(&plat_core.wt, va, base, size);
    map_unlock();
    return rc;
}

/* ---- Counters ----------------------------------------------------------------------------- */

int plat_get_stats(struct plat_stats *stats)
{
    int rc;

    if (stats == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    lock_both();
    *stats = plat_core.stats;
    stats->windows = plat_core.wt.n;
    stats->failed_calls = atomic_load(&plat_core.failed_calls);
    stats_os_fill(stats);
    unlock_both();
    return 0;
}

/* ---- Public entry points: every failure is counted here, once ----------------------------- */

static int counted(int rc)
{
    if (rc != 0)
        atomic_fetch_add_explicit(&plat_core.failed_calls, 1, memory_order_relaxed);
    return rc;
}

int plat_frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node)
{
    return counted(frames_alloc(count, frames, flags, numa_node));
}

int plat_frames_free(size_t *count, const plat_frame_t *frames)
{
    return counted(frames_free(count, frames));
}

int plat_map(void *va, size_t count, const plat_frame_t *frames)
{
    return counted(map_range(va, count, frames));
}

int plat_map_scatter(void *const *vas, size_t count, const plat_frame_t *frames)
{
    return counted(map_scatter(vas, count, frames));
}
