/*
 * platform/common/awe_common.h: the OS-independent half of plat.h's AWE, shared by
 * linux/awe_linux.c and windows/awe_windows.c (private to platform/; not installed).
 *
 * Both OSes keep the same tables beside the OS's own mappings, because the contract promises
 * more than either OS says (distinct codes, plat_query, plat_window_find, counters):
 *
 *   window table (sorted by base)        one window
 *   +------+------+------+               +------+------+------+------+
 *   | w0   | w1   | w2   | ...           | pg 0 | pg 1 | pg 2 | pg 3 |   base, pages << shift
 *   +------+------+------+               +------+------+------+------+
 *   binary search: wtab_find               slots[]:   3    4    0    1   (frame at each page)
 *                                          pending:   bits, for the call being validated
 *
 * What lives in common/awe_table.c: the window table (a sorted array of windows, found by binary
 * search, inserted into and removed from), making and freeing a window's tables, the argument
 * checks of plat_window_reserve that do not depend on the OS, and the lookups behind plat_map's
 * range, plat_query and plat_window_find. What lives in common/awe_plan.c: the checks of a map
 * call's entries (a page listed once, a frame owned, unmapped and listed once) and the plan they
 * build, the commit of a plan into the frame state words, the valid prefix of plat_frames_free,
 * the first checks of plat_frames_alloc and plat_get_stats' snapshot. It reaches a frame's state
 * word through frame_state(), the one hook each OS file defines (with frame_pool()). What stays
 * in each OS file: the frames (memfd pages or Windows' PFNs), the reservations, the map engines,
 * the locks. Every function here runs under the caller's map_mu where it touches a table or a
 * state word; none takes a lock or includes an OS header.
 */
#ifndef AWECACHE_PLATFORM_COMMON_AWE_COMMON_H
#define AWECACHE_PLATFORM_COMMON_AWE_COMMON_H

#include "plat.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A frame state word: 0 when the frame is free; otherwise FRAME_OWNED, plus FRAME_PENDING while a
 * call being validated lists it, plus the page-aligned address it is mapped at (0: unmapped). */
#define FRAME_OWNED   ((uintptr_t)1)
#define FRAME_PENDING ((uintptr_t)2)
#define FRAME_VA_MASK (~(uintptr_t)4095)

/* A window. Invariant: slots[p] == f != 0 iff frame f's state says it is mapped at page p (and,
 * on Linux, it spans 1 + count_breaks(w, 0, pages - 1) kernel mappings). */
struct window {
    uintptr_t base;      /* first byte, a multiple of the allocation granularity (Linux: 2 MiB if
                          * huge) */
    size_t pages;        /* pages in the window */
    unsigned shift;      /* log2 of its page size */
    unsigned flags;      /* PLAT_WINDOW_* it was reserved with */
    int pool;            /* which frames it takes (the OS file's numbering; Windows: always 0) */
    plat_frame_t *slots; /* pages entries: the frame mapped at each page, 0 = none */
    uint64_t *pending;   /* pages bits: listed by the call being validated */
};

/* One page change of a map call; an array of them is a plan. */
struct change {
    struct window *w;       /* the window of the page */
    size_t page;            /* page index in the window */
    plat_frame_t new_frame; /* frame to map there, 0 to unmap */
    plat_frame_t old_frame; /* frame there before the call, 0 if none */
};

/* The windows of the process. Invariant: v[0..n) sorted by base, ranges disjoint; n <= cap. */
struct window_table {
    struct window **v; /* cap entries, n in use */
    size_t n;          /* windows reserved now */
    size_t cap;        /* room in v */
};

/* log2 of v rounded up (v a power of two: exact). */
static inline unsigned log2_exact(uint64_t v)
{
    unsigned s = 0;

    while (((uint64_t)1 << s) < v)
        s++;
    return s;
}

static inline void pending_set(struct window *w, size_t page)
{
    w->pending[page / 64] |= (uint64_t)1 << (page % 64);
}

static inline bool pending_test(const struct window *w, size_t page)
{
    return (w->pending[page / 64] >> (page % 64)) & 1;
}

static inline void pending_clear(struct window *w, size_t page)
{
    w->pending[page / 64] &= ~((uint64_t)1 << (page % 64));
}

/* The address of page `page` of w. */
static inline uintptr_t page_va(const struct window *w, size_t page)
{
    return w->base + ((uintptr_t)page << w->shift);
}

/* ---- One window's tables ------------------------------------------------------------------ */

/* A new window of `pages` pages of 1 << shift bytes, with slots all 0 and nothing pending; base
 * is 0 until the caller reserved its range. NULL when out of memory. */
struct window *wtab_window_new(size_t pages, unsigned shift, unsigned flags, int pool);

/* Frees a window from wtab_window_new (not in the table). */
void wtab_window_free(struct window *w);

/* ---- The table (caller holds map_mu) ------------------------------------------------------ */

/* The window containing va, or NULL. */
struct window *wtab_find(const struct window_table *t, uintptr_t va);

/* Makes room for one more window, so that wtab_insert cannot fail: 0 or PLAT_ENOMEM (nothing
 * changed). */
int wtab_grow(struct window_table *t);

/* Inserts w (base set, disjoint from every window) in base order. Needs the room of wtab_grow. */
void wtab_insert(struct window_table *t, struct window *w);

/* Removes w, which is in the table (and does not free it). */
void wtab_remove(struct window_table *t, struct window *w);

/* ---- Arguments and lookups of the contract's calls ----------------------------------------- */

/* plat_window_reserve's checks once the OS chose the page size and the base alignment (powers of
 * two): rounds *size up to whole pages and stores the page count in *pages, and the wanted
 * address rounded down to `align` in *want_a (0 for want == NULL). Errors: PLAT_ENOMEM (the size
 * overflows), PLAT_EADDRNOTAVAIL (the wanted range leaves [min_app_address, max_app_address]). */
int wtab_reserve_args(const struct plat_caps *c, void *want, size_t page, size_t align,
                      size_t *size, size_t *pages, uintptr_t *want_a);

/* plat_map's range: the window w holding va, the page-aligned address a of va and its page
 * index `first`; PLAT_EINVAL when va is in no window or [first, first + count) leaves it. */
int wtab_range(const struct window_table *t, const void *va, size_t count, struct window **w,
               uintptr_t *a, size_t *first);

/* plat_query's answer: the frame at the page holding va (0: unmapped); PLAT_EINVAL when va is in
 * no window (*frame untouched). */
int wtab_query(const struct window_table *t, const void *va, plat_frame_t *frame);

/* plat_window_find's answer: base and size of the window holding va; PLAT_EADDRNOTAVAIL when
 * none (*base and *size untouched). */
int wtab_extent(const struct window_table *t, const void *va, void **base, size_t *size);

/* ---- Hooks: defined by each OS file ------------------------------------------------------- */

/* The state word of frame number f, or NULL when f cannot be one of ours (0, out of range, or in
 * a pool never set up). A word once returned stays valid for the life of the process. Linux: the
 * entry of the frame's pool's state table; Windows: the state of the frame table's entry. */
_Atomic uintptr_t *frame_state(plat_frame_t f);

/* The pool of frame number f, in struct window's `pool` numbering; f is one of ours (frame_state
 * gives non-NULL). Linux: POOL_SMALL or POOL_HUGE; Windows: always 0. */
int frame_pool(plat_frame_t f);

/* ---- Plans and frames (common/awe_plan.c; caller holds map_mu) ----------------------------- */

/* Validates entry *c of a map call: page `page` of w, not listed earlier in the call, receiving
 * frame f (0: unmap), which must be owned (else PLAT_ENXIO), of w's pool, unmapped and not listed
 * earlier (else PLAT_EINVAL: the rules of MapUserPhysicalPages per entry). On success marks the
 * page and the frame pending and fills *c (old_frame from the slot); on error changes nothing. */
int plan_entry(struct change *c, struct window *w, size_t page, plat_frame_t f);

/* Clears the pending marks of plan[0..n), each filled by a successful plan_entry. */
void plan_unmark(const struct change *plan, size_t n);

/* The frame state words after plan[0..n) was carried out (the slots already say so): old frames
 * become owned and unmapped, new frames owned and mapped at their page; counts the pages in
 * stats->pages_unmapped and stats->pages_mapped. */
void plan_commit(const struct change *plan, size_t n, struct plat_stats *stats);

/* The frames of window w (about to be released: the OS has unmapped them) become owned and
 * unmapped; returns how many there were (for pages_unmapped). The slots are left as they are. */
uint64_t window_unmap_frames(const struct window *w);

/* plat_frames_free's valid prefix: the length of the longest prefix of frames[0..n) whose
 * entries are owned frames, none listed twice (n, or the index of the first bad entry: the
 * caller's PLAT_ENXIO). *mapped (unless NULL) is the number of them mapped now. The pending marks
 * used to find repeats are cleared again before it returns. */
size_t frames_valid_prefix(const plat_frame_t *frames, size_t n, size_t *mapped);

/* ---- Arguments and snapshots (no lock needed) ---------------------------------------------- */

/* plat_frames_alloc's first checks, in the contract's order: count NULL, or frames NULL with
 * *count > 0, is PLAT_EFAULT; then init() runs (the OS file's one-time start) and its error is
 * returned; then flags beyond PLAT_FRAMES_HUGE | PLAT_FRAMES_POPULATE are PLAT_EINVAL. 0 lets
 * the call go on (*count may still be 0). */
int frames_alloc_args(const size_t *count, const plat_frame_t *frames, unsigned flags,
                      int (*init)(void));

/* plat_get_stats' snapshot of what both OSes keep alike (caller holds both locks): *out becomes
 * *counters, with the window count of t and failed_calls. The OS file fills in the rest (VMAs,
 * frames held). */
void stats_snapshot(struct plat_stats *out, const struct plat_stats *counters,
                    const struct window_table *t, uint64_t failed_calls);

#endif /* AWECACHE_PLATFORM_COMMON_AWE_COMMON_H */
