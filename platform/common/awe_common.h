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
 * build, the commit of a plan into the frame state words, the frames of a released window and
 * the valid prefix of plat_frames_free. What lives in common/awe_entry.c: the state both OSes
 * keep alike (`plat_core`, below) and every entry point of plat.h's AWE whose rules do not depend
 * on the OS: plat_get_caps, plat_set_frame_limit, the first checks of plat_frames_alloc and
 * plat_frames_free, plat_map, plat_map_scatter, plat_query, plat_window_reserve,
 * plat_window_release, plat_window_find, plat_get_stats and the count of failed calls (and, in
 * common/testing_common.c, which only the test-only library awecache_testing holds,
 * plat_testing_set_vma_budget). They reach the OS through the hooks at the end of this header,
 * which each OS file defines. What stays in each OS file: starting the platform, the locks, the
 * frames (memfd pages or Windows' PFNs), the reservations, the map engines, plat_frames_copy and
 * plat_awe_unavailable_reason. Every function here runs under the caller's map_mu where it
 * touches a table or a state word; none but awe_entry.c's entry points takes a lock, and none
 * includes an OS header.
 */
#ifndef AWECACHE_PLATFORM_COMMON_AWE_COMMON_H
#define AWECACHE_PLATFORM_COMMON_AWE_COMMON_H

#include "plat.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A frame state word: 0 when the frame is free; otherwise FRAME_OWNED, plus FRAME_PENDING while a
 * call being validated lists it, plus the page-aligned address it is mapped at (0: unmapped). */
#define FRAME_OWNED   ((uintptr_t)1)
#define FRAME_PENDING ((uintptr_t)2)
#define FRAME_VA_MASK (~(uintptr_t)4095)

/* Which frames a window takes (struct window's `pool`, frame_pool()). Windows has one pool. */
enum { POOL_SMALL = 0, POOL_HUGE = 1, POOL_COUNT = 2 };

/* A window. Invariant: slots[p] == f != 0 iff frame f's state says it is mapped at page p (and,
 * on Linux, it spans 1 + count_breaks(w, 0, pages - 1) kernel mappings). */
struct window {
    uintptr_t base;      /* first byte, a multiple of the allocation granularity (Linux: 2 MiB if
                          * huge) */
    size_t pages;        /* pages in the window */
    unsigned shift;      /* log2 of its page size */
    unsigned flags;      /* PLAT_WINDOW_* it was reserved with */
    int pool;            /* which frames it takes: POOL_SMALL, or POOL_HUGE (Linux only) */
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

/* What both OSes keep alike, defined in common/awe_entry.c. The OS file's start (ensure_init)
 * fills caps, frame_capacity, vma_budget_default and max_numa_node; Linux's fork handler resets
 * the rest in a child. */
struct awe_core {
    struct plat_caps caps;       /* frame_limit changes under alloc_mu, vma_budget under map_mu;
                                  * huge_frames_free is read at each plat_get_caps (caps_os_fill) */
    uint64_t frame_capacity;     /* the most small frames plat_set_frame_limit allows */
    uint64_t vma_budget_default; /* the budget plat_testing_set_vma_budget(0) restores (0: none) */
    int max_numa_node;           /* highest NUMA node number of the machine (0 without NUMA) */
    atomic_bool ever_allocated;  /* a frame was ever allocated (map and free need one) */
    atomic_uint_fast64_t failed_calls; /* map, scatter, alloc and free calls that failed */
    struct window_table wt;            /* under map_mu */
    struct change *plan;               /* under map_mu: scratch for one call, plan_cap entries */
    size_t plan_cap;
    struct plat_stats stats; /* counters under map_mu; the OS file keeps the frame counts */
};

extern struct awe_core plat_core;

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

/* ---- Entry points' helpers (common/awe_entry.c) ------------------------------------------ */

/* Makes room in plat_core.plan for a plan of n changes, and in the OS file's own scratch beside it
 * (plan_room). A count whose plan could not fit in the address space is PLAT_EINVAL (it cannot be
 * a valid call: it exceeds every window's pages); PLAT_ENOMEM when memory is short. Caller holds
 * map_mu. */
int plan_reserve(size_t n);

/* Take and release map_mu and alloc_mu together, in lock order (for consistent snapshots, and
 * around fork on Linux). */
void lock_both(void);
void unlock_both(void);

/* ---- Lock rules checked (debug builds) ---------------------------------------------------- */

/* The OS file's two locks (map_lock, alloc_lock below). */
enum awe_lock { LOCK_MAP, LOCK_ALLOC, LOCK_COUNT };

/* Debug builds (NDEBUG not defined) keep which thread holds each lock: the OS file's hooks call
 * lock_note_taken right after taking one and lock_note_released right before letting it go, and
 * a function whose contract says "caller holds map_mu" starts with assert_lock_held(LOCK_MAP).
 * map_lock asserts the order before it takes map_mu: alloc_mu is not held. Release builds keep
 * nothing and check nothing. */
#ifndef NDEBUG
void lock_note_taken(enum awe_lock l);
void lock_note_released(enum awe_lock l);
bool lock_held(enum awe_lock l);
#define assert_lock_held(l) assert(lock_held(l))
#else
#define lock_note_taken(l)    ((void)0)
#define lock_note_released(l) ((void)0)
#define assert_lock_held(l)   ((void)0)
#endif

/* ---- Hooks: defined by each OS file ------------------------------------------------------- */

/* Starts the platform once (later calls wait for the first and return its result): 0, or the
 * error that keeps it from starting (PLAT_EIO). Fills plat_core's capabilities. */
int ensure_init(void);

/* map_mu and alloc_mu (the OS file's locks; order: map_mu before alloc_mu). */
void map_lock(void);
void map_unlock(void);
void alloc_lock(void);
void alloc_unlock(void);

/* The state word of frame number f, or NULL when f cannot be one of ours (0, out of range, or in
 * a pool never set up). A word once returned stays valid for the life of the process. Linux: the
 * entry of the frame's pool's state table; Windows: the state of the frame table's entry. */
_Atomic uintptr_t *frame_state(plat_frame_t f);

/* The pool of frame number f (POOL_SMALL or POOL_HUGE); f is one of ours (frame_state gives
 * non-NULL). Windows: always POOL_SMALL. */
int frame_pool(plat_frame_t f);

/* What plat_get_caps adds to plat_core.caps, which *caps holds already (no lock held): the huge
 * frames the system could give now. */
void caps_os_fill(struct plat_caps *caps);

/* What plat_get_stats adds to plat_core's counters, which *stats holds already (caller holds both
 * locks): the kernel mappings in use, the frames held and their peak. */
void stats_os_fill(struct plat_stats *stats);

/* plat_frames_alloc once its arguments passed the checks of plat.h common to both OSes (pointers,
 * flags, node, *count > 0): the contract's rules from there (huge frames, the limit, the OS). */
int do_frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node);

/* plat_frames_free once its arguments passed the checks common to both OSes (pointers, *count > 0,
 * a frame was ever allocated): the valid prefix, the unmapping and the freeing. */
int do_frames_free(size_t *count, const plat_frame_t *frames);

/* Makes room for `cap` changes in whatever the OS file keeps per change beside plat_core.plan
 * (Linux: the runs; Windows: the addresses and PFNs of its one OS call): 0 or PLAT_ENOMEM. Caller
 * holds map_mu. */
int plan_room(size_t cap);

/* Carries out plat_core.plan[0..n), validated with plan_entry (marks cleared, old_frame filled in),
 * all or nothing, then commits it (slots, plan_commit, runs). `range` is the page-aligned address
 * of the call's first page when the entries are consecutive pages of one window in plan order
 * (plat_map), NULL when they may lie anywhere in any order (plat_map_scatter). Errors:
 * PLAT_ENOMEM (the kernel mapping budget, or memory), PLAT_EIO (the OS refused; nothing
 * changed). Caller holds map_mu. */
int plan_apply(size_t n, void *range);

/* Reserves the address range of window w (`size` bytes: at `want` exactly, or anywhere aligned
 * to `align` when want is 0), sets w->base and counts the range as the OS file counts windows
 * (Linux: one VMA, refused with PLAT_ENOMEM when the mapping budget has no room for it). Errors:
 * PLAT_EADDRNOTAVAIL, PLAT_ENOMEM, PLAT_ENOTSUP (Windows: no MEM_PHYSICAL), PLAT_EIO. Caller holds
 * map_mu; on error nothing changed. */
int window_os_reserve(struct window *w, uintptr_t want, size_t size, size_t align);

/* Returns the range of window w (in the table) to the OS, which unmaps its pages and frees no
 * frame, and forgets what the OS file counted for it. Errors: PLAT_ENOMEM, PLAT_EIO. Caller holds
 * map_mu; on error nothing changed. */
int window_os_release(struct window *w);

#endif /* AWECACHE_PLATFORM_COMMON_AWE_COMMON_H */
