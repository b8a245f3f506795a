/*
 * platform/linux/awe_linux.c: Address Windowing Extensions on Linux, with the Windows rules.
 *
 * Memory layout
 * -------------
 *
 *   frame pool (one memfd, sized sparse to the machine's RAM)      window (PROT_NONE reservation)
 *   +-------+-------+-------+-------+-------+----                 +------+------+------+------+
 *   | f=1   | f=2   | f=3   | f=4   | f=5   | ...                 | pg 0 | pg 1 | pg 2 | pg 3 |
 *   +-------+-------+-------+-------+-------+----                 +------+------+------+------+
 *     offset (f-1) * page                                           slots[]: 3    4    0    1
 *
 * A frame is one page of a memfd: frame number = page index + 1 (0 is "no frame"); huge frames
 * live in a second memfd (MFD_HUGETLB) and carry FRAME_HUGE_BIT. A window is an anonymous
 * PROT_NONE reservation; mapping frame f at page p is mmap(MAP_SHARED | MAP_FIXED) of the memfd
 * at offset (f - 1) * page, and unmapping restores the PROT_NONE reservation there. The kernel
 * allows any aliasing, so the one-page-per-frame rule is ours: every frame has a state word
 * holding its owner bit and the address it is mapped at, and every window has a slot table
 * (page -> frame). The tables are the truth the kernel's page tables are kept equal to.
 *
 * Runs and kernel mappings (VMAs)
 * -------------------------------
 * Pages p, p+1 holding frames f, f+1 are one VMA (the kernel merges a shared file mapping with a
 * neighbour at the consecutive offset) and can be mapped by one mmap call; so can any stretch of
 * unmapped pages. Each window therefore holds 1 + breaks(window) VMAs, where a break is a page
 * boundary whose two sides cannot join (see joinable()). The count is kept exact per window and
 * checked against the budget (vm.max_map_count less a margin for the rest of the process) before
 * any kernel call, so the kernel never fails a call half way for want of VMAs.
 *
 * Locks
 * -----
 * map_mu serializes everything that changes mappings (map, scatter, free, window reserve and
 * release): every such call takes the kernel's mmap lock for writing anyway, so this serializes
 * no more than the kernel does. alloc_mu serializes frame allocation, which makes no mapping and
 * so runs beside map calls. Lock order: map_mu before alloc_mu. Frame state words are atomics:
 * they are written under either lock and read under map_mu.
 */
#include "plat.h"

#include "common/awe_common.h"
#include "os_linux.h"

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALLOC_GRANULARITY ((size_t)65536) /* window bases, as Windows' allocation granularity */
#define FRAME_HUGE_BIT    ((uintptr_t)1 << (sizeof(uintptr_t) * CHAR_BIT - 1))
/* The frame state word (FRAME_OWNED, FRAME_PENDING, FRAME_VA_MASK), struct window, struct change,
 * the pools' numbers (POOL_SMALL, POOL_HUGE), the window table, the plan and the counters are
 * common/awe_common.h's (`plat_core`); so are the entry points whose rules do not depend on the OS
 * (common/awe_entry.c), which call the hooks defined here. */

/* One memfd of frames of one size. Invariant: held == number of FRAME_OWNED states. */
struct pool {
    int fd;                           /* memfd; -1 until the first allocation */
    unsigned shift;                   /* log2 of the frame size */
    uint64_t capacity;                /* frames the memfd and tables are sized for */
    _Atomic uintptr_t *_Atomic state; /* capacity state words (sparse mmap); published last */
    uint64_t *used;                   /* capacity bits: 1 = not available for allocation */
    uint64_t hint;                    /* word of `used` where the next search starts */
    uint64_t held;                    /* frames owned now */
    char *view;    /* 64-bit builds: the whole memfd mapped once, private to the platform, for
                    * plat_frames_copy (a memcpy instead of a pread); NULL: pread/pwrite */
    uint64_t peak; /* most frames ever owned at once */
};

/* A run: changes [first, first + n) over consecutive pages of one window, done by one OS call. */
struct run {
    size_t first; /* index of its first change */
    size_t n;     /* number of changes (= pages) */
};

/* What Linux keeps beside `plat_core` (common/awe_common.h). */
static struct {
    pthread_once_t once;
    int init_rc; /* 0, or why the platform could not start */

    pthread_mutex_t map_mu; /* see "Locks" above */
    pthread_mutex_t alloc_mu;

    struct pool pools[POOL_COUNT]; /* under alloc_mu (state words: atomics, see above) */

    uint64_t vmas_in_use; /* under map_mu: sum of windows' vmas */
    struct run *runs;     /* under map_mu: scratch for one call, plat_core.plan_cap entries */
} g = {.once = PTHREAD_ONCE_INIT,
       .map_mu = PTHREAD_MUTEX_INITIALIZER,
       .alloc_mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- Initialisation and fork ------------------------------------------------------------- */

/* The lock hooks of common/awe_common.h (lock_both and unlock_both, which fork takes too, are
 * common/awe_entry.c's). */
void map_lock(void)
{
    assert(!lock_held(LOCK_ALLOC)); /* lock order: map_mu before alloc_mu */
    pthread_mutex_lock(&g.map_mu);
    lock_note_taken(LOCK_MAP);
}

void map_unlock(void)
{
    lock_note_released(LOCK_MAP);
    pthread_mutex_unlock(&g.map_mu);
}

void alloc_lock(void)
{
    pthread_mutex_lock(&g.alloc_mu);
    lock_note_taken(LOCK_ALLOC);
}

void alloc_unlock(void)
{
    lock_note_released(LOCK_ALLOC);
    pthread_mutex_unlock(&g.alloc_mu);
}

/* In a child, AWE state is not inherited (as on Windows, where a new process has none): the
 * windows' ranges are unmapped, the memfds closed, and the tables forgotten (the child's copies
 * of them are released). The child starts as a process that never allocated frames. */
static void fork_child(void)
{
    size_t i;

    for (i = 0; i < plat_core.wt.n; i++)
        munmap((void *)plat_core.wt.v[i]->base,
               plat_core.wt.v[i]->pages << plat_core.wt.v[i]->shift);
    for (i = 0; i < POOL_COUNT; i++) {
        struct pool *p = &g.pools[i];

        if (p->fd >= 0)
            close(p->fd);
        p->fd = -1;
        p->view = NULL; /* MADV_DONTFORK: the child has no such mapping */
        p->held = 0;
        p->hint = 0;
        if (p->used != NULL)
            munmap(p->used, ((p->capacity + 63) / 64) * sizeof(uint64_t));
        if (p->state != NULL)
            munmap((void *)p->state, p->capacity * sizeof(uintptr_t));
        p->state = NULL;
        p->used = NULL;
    }
    /* The tables' copies leak in the child: freeing is not fork-safe. */
    memset(&plat_core.wt, 0, sizeof(plat_core.wt));
    g.vmas_in_use = 0;
    plat_core.plan = NULL;
    plat_core.plan_cap = 0;
    g.runs = NULL;
    atomic_store(&plat_core.ever_allocated, false);
    atomic_store(&plat_core.failed_calls, 0);
    memset(&plat_core.stats, 0, sizeof(plat_core.stats));
    unlock_both();
}

/* Reads what the machine offers and sizes the frame pools (nothing is allocated yet). */
/* The most frames one pool may have: frame numbers (index + 1) stay below FRAME_HUGE_BIT, and the
 * state table (one uintptr_t per frame) takes at most a quarter of the address space. */
static uint64_t pool_capacity_max(void)
{
    uint64_t by_number = (uint64_t)(FRAME_HUGE_BIT - 1);
    uint64_t by_table = (uint64_t)(SIZE_MAX / 4 / sizeof(uintptr_t));

    return by_number < by_table ? by_number : by_table;
}

static void platform_init(void)
{
    struct plat_caps *c = &plat_core.caps;
    long page = sysconf(_SC_PAGESIZE);
    long phys = sysconf(_SC_PHYS_PAGES);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t v, max_map = 0, margin;
    int i;

    if (page <= 0 || page > 65536 || (page & (page - 1)) != 0 || phys <= 0) {
        g.init_rc = PLAT_EIO;
        return;
    }
    c->page_size = (size_t)page;
    c->alloc_granularity = ALLOC_GRANULARITY;
    c->processor_count = cpus > 0 ? (unsigned)cpus : 1;
    c->min_app_address = ALLOC_GRANULARITY;
    if (os_read_u64("/proc/sys/vm/mmap_min_addr", &v) && v > c->min_app_address)
        c->min_app_address = (uintptr_t)((v + ALLOC_GRANULARITY - 1) & ~(ALLOC_GRANULARITY - 1));
    c->max_app_address = sizeof(void *) == 8
                             ? (uintptr_t)((((uint64_t)1) << 47) - ALLOC_GRANULARITY - 1)
                             : (uintptr_t)UINT32_MAX - ALLOC_GRANULARITY;

    /* The kernel mapping budget: vm.max_map_count, less a margin for the rest of the process
     * (its libraries, heaps, thread stacks) and for the transient splits of one mmap call. */
    if (os_read_u64("/proc/sys/vm/max_map_count", &max_map) && max_map > 0) {
        margin = max_map / 16 > 1024 ? max_map / 16 : 1024;
        if (margin > max_map / 2)
            margin = max_map / 2;
        c->max_map_count = max_map;
        plat_core.vma_budget_default = max_map - margin;
    }
    c->vma_budget = plat_core.vma_budget_default;

    /* Huge frames: the hugetlb page size (whether a pool is configured is read at allocation,
     * since an administrator may configure one while the process runs). */
    if (os_read_keyed_u64("/proc/meminfo", "Hugepagesize", &v) && v > 0 && (v & (v - 1)) == 0)
        c->huge_page_size = (size_t)(v * 1024);

    /* NUMA nodes: "0", "0-3" or "0,2-3"; the last number is the highest node. */
    plat_core.max_numa_node =
        os_read_last_u64("/sys/devices/system/node/possible", &v) && v < 4096 ? (int)v : 0;

    for (i = 0; i < POOL_COUNT; i++)
        g.pools[i].fd = -1;
    g.pools[POOL_SMALL].shift = log2_exact((uint64_t)page);
    /* A frame number is index + 1 below FRAME_HUGE_BIT: in a 32-bit build that bounds a pool at
     * 2^31 - 1 frames (8 TiB of 4 KiB frames), and its state table must fit the address space. */
    g.pools[POOL_SMALL].capacity = (uint64_t)phys;
    if (g.pools[POOL_SMALL].capacity > pool_capacity_max())
        g.pools[POOL_SMALL].capacity = pool_capacity_max();
    if (c->huge_page_size != 0) {
        g.pools[POOL_HUGE].shift = log2_exact(c->huge_page_size);
        g.pools[POOL_HUGE].capacity = ((uint64_t)phys * (uint64_t)page) >> g.pools[POOL_HUGE].shift;
    }
    c->frame_limit = g.pools[POOL_SMALL].capacity;
    plat_core.frame_capacity = g.pools[POOL_SMALL].capacity;
    if (pthread_atfork(lock_both, unlock_both, fork_child) != 0)
        g.init_rc = PLAT_EIO;
}

int ensure_init(void)
{
    pthread_once(&g.once, platform_init);
    return g.init_rc;
}

/* Whether a huge page pool is configured is read at each call: an administrator may change it
 * while the process runs. */
void caps_os_fill(struct plat_caps *caps)
{
    uint64_t v;

    if (caps->huge_page_size != 0 && os_read_keyed_u64("/proc/meminfo", "HugePages_Free", &v))
        caps->huge_frames_free = v;
}

/* ---- Frame numbers ----------------------------------------------------------------------- */

/* Decodes frame number f into its pool and index; false if it cannot be one of ours. */
static bool frame_decode(plat_frame_t f, int *pool, uint64_t *index)
{
    int p = (f & FRAME_HUGE_BIT) != 0 ? POOL_HUGE : POOL_SMALL;
    uint64_t n = (uint64_t)(f & ~FRAME_HUGE_BIT);

    if (n == 0 || n > g.pools[p].capacity ||
        atomic_load_explicit(&g.pools[p].state, memory_order_acquire) == NULL)
        return false;
    *pool = p;
    *index = n - 1;
    return true;
}

static plat_frame_t frame_encode(int pool, uint64_t index)
{
    return (plat_frame_t)(index + 1) | (pool == POOL_HUGE ? FRAME_HUGE_BIT : 0);
}

/* The hooks of common/awe_common.h. */
_Atomic uintptr_t *frame_state(plat_frame_t f)
{
    int pool;
    uint64_t index;

    if (!frame_decode(f, &pool, &index))
        return NULL;
    return &g.pools[pool].state[index];
}

int frame_pool(plat_frame_t f)
{
    return (f & FRAME_HUGE_BIT) != 0 ? POOL_HUGE : POOL_SMALL;
}

/* ---- Frame allocation -------------------------------------------------------------------- */

static int errno_to_plat(int neg_errno)
{
    switch (neg_errno) {
    case -ENOMEM:
    case -ENOSPC:
    case -EAGAIN:
        return PLAT_ENOMEM;
    default:
        return PLAT_EIO;
    }
}

/* In a 64-bit process, maps the whole memfd once where nobody else looks (not a window: no frame
 * is "mapped" by it in AWE's sense), so that plat_frames_copy is a memcpy. Not inherited by a
 * child (MADV_DONTFORK), as no AWE state is. An optimisation: where it cannot be had, copies go
 * through pread/pwrite; not counted by the fault-injection gate, since nothing fails with it. */
static void pool_view(struct pool *p)
{
    size_t len = (size_t)(p->capacity << p->shift);
    void *v = NULL;

    if (sizeof(void *) < 8 || os_mmap_uncounted(NULL, len, PROT_READ | PROT_WRITE,
                                                MAP_SHARED | MAP_NORESERVE, p->fd, 0, &v) != 0)
        return;
    if (madvise(v, len, MADV_DONTFORK) != 0) {
        munmap(v, len);
        return;
    }
    p->view = v;
}

/* Creates the pool's memfd and tables on first use. Caller holds alloc_mu. */
static int pool_setup(int which)
{
    struct pool *p = &g.pools[which];
    size_t state_bytes = (size_t)p->capacity * sizeof(uintptr_t);
    size_t used_bytes = (size_t)((p->capacity + 63) / 64) * sizeof(uint64_t);
    unsigned mflags = MFD_CLOEXEC | (which == POOL_HUGE ? MFD_HUGETLB : 0);
    void *state = NULL, *used = NULL;
    int fd = -1, rc;

    assert_lock_held(LOCK_ALLOC);
    if (p->fd >= 0)
        return 0;
    rc = os_memfd_create(which == POOL_HUGE ? "awecache-huge-frames" : "awecache-frames", mflags,
                         &fd);
    if (rc == 0)
        rc = os_ftruncate(fd, (off_t)(p->capacity << p->shift));
    if (rc == 0)
        rc = os_mmap(NULL, state_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0, &state);
    if (rc == 0)
        rc = os_mmap(NULL, used_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0, &used);
    if (rc != 0) {
        if (state != NULL)
            munmap(state, state_bytes);
        if (fd >= 0)
            close(fd);
        return rc == -EINVAL && which == POOL_HUGE ? PLAT_ENOTSUP : errno_to_plat(rc);
    }
    p->fd = fd;
    p->used = used;
    pool_view(p);
    /* Publish: a thread that sees the table (acquire, in frame_decode) also sees fd and used. */
    atomic_store_explicit(&p->state, (_Atomic uintptr_t *)state, memory_order_release);
    return 0;
}

/* Finds up to n free frame indexes, lowest first from the hint, marks them used and returns how
 * many it found: n, unless frames were retired (see frame_release). Caller holds alloc_mu. */
static size_t pool_take(struct pool *p, uint64_t *idx, size_t n)
{
    uint64_t words = (p->capacity + 63) / 64, w = p->hint, scanned = 0;
    size_t got = 0;

    assert_lock_held(LOCK_ALLOC);
    while (got < n && scanned <= words) {
        uint64_t free_bits = ~p->used[w];

        if (w == words - 1 && (p->capacity & 63) != 0)
            free_bits &= ((uint64_t)1 << (p->capacity & 63)) - 1;
        while (free_bits != 0 && got < n) {
            unsigned b = (unsigned)__builtin_ctzll(free_bits);

            free_bits &= free_bits - 1;
            p->used[w] |= (uint64_t)1 << b;
            idx[got++] = w * 64 + b;
        }
        if (got < n) {
            w = w + 1 == words ? 0 : w + 1;
            scanned++;
        }
    }
    p->hint = w;
    return got;
}

static void pool_untake(struct pool *p, uint64_t index)
{
    p->used[index / 64] &= ~((uint64_t)1 << (index % 64));
    if (index / 64 < p->hint)
        p->hint = index / 64;
}

/* Commits memory for frames idx[0..n), a run of consecutive indexes per call; returns how many
 * of them, from the start, now have memory (a run the system cannot give whole is retried frame
 * by frame, so a nearly exhausted pool still gives what it has). Caller holds alloc_mu. */
static size_t pool_commit(struct pool *p, const uint64_t *idx, size_t n)
{
    size_t i = 0;

    assert_lock_held(LOCK_ALLOC);
    while (i < n) {
        size_t j = i + 1;

        while (j < n && idx[j] == idx[j - 1] + 1)
            j++;
        if (os_fallocate(p->fd, 0, (off_t)(idx[i] << p->shift),
                         (off_t)((uint64_t)(j - i) << p->shift)) != 0) {
            /* A failed fallocate may have committed part of its range: give it back, then take
             * frames one at a time until the system says no. */
            fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)(idx[i] << p->shift), (off_t)((uint64_t)(j - i) << p->shift));
            for (; i < j; i++) {
                if (os_fallocate(p->fd, 0, (off_t)(idx[i] << p->shift), (off_t)1 << p->shift) !=
                    0) {
                    fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              (off_t)(idx[i] << p->shift), (off_t)1 << p->shift);
                    return i;
                }
            }
        }
        i = j;
    }
    return n;
}

/* The hook of common/awe_common.h; common/awe_entry.c checked the pointers, flags, node and
 * *count > 0. The node is a preference that the kernel's default policy answers (awe.h).
 * Steps:
 * 1. Huge frames without a huge page size or pool: ENOTSUP.
 * 2. Under alloc_mu, set up the pool on first use and check the limit: none left is EDQUOT.
 * 3. Take the lowest free indexes (consecutive where possible, which keeps later mappings
 *    coalesced) and, for huge frames or PLAT_FRAMES_POPULATE, commit their memory now: huge
 *    frames must exist before they are mapped (a hugetlb fault without a page is SIGBUS).
 * 4. Publish the frames as owned and return how many were had. */
int do_frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node)
{
    int which = (flags & PLAT_FRAMES_HUGE) != 0 ? POOL_HUGE : POOL_SMALL;
    struct pool *p = &g.pools[which];
    uint64_t *idx = NULL, limit;
    size_t n, got, i;
    int rc;

    /* Step 1 */
    (void)numa_node;
    if (which == POOL_HUGE && (plat_core.caps.huge_page_size == 0 || p->capacity == 0))
        return PLAT_ENOTSUP;

    /* Step 2 */
    alloc_lock();
    if (which == POOL_HUGE) {
        uint64_t total = 0;

        if (!os_read_keyed_u64("/proc/meminfo", "HugePages_Total", &total) || total == 0) {
            rc = PLAT_ENOTSUP;
            goto out;
        }
    }
    rc = pool_setup(which);
    if (rc != 0)
        goto out;
    limit = which == POOL_HUGE ? p->capacity : plat_core.caps.frame_limit;
    if (p->held >= limit) {
        rc = PLAT_EDQUOT;
        goto out;
    }
    n = *count;
    if (n > limit - p->held)
        n = (size_t)(limit - p->held);
    if (n > SIZE_MAX / sizeof(*idx))
        n = SIZE_MAX / sizeof(*idx); /* a 32-bit build: fewer than asked, as the contract allows */
    idx = malloc(n * sizeof(*idx));
    if (idx == NULL) {
        rc = PLAT_ENOMEM;
        goto out;
    }

    /* Step 3 */
    n = pool_take(p, idx, n);
    got = n;
    if (which == POOL_HUGE || (flags & PLAT_FRAMES_POPULATE) != 0)
        got = pool_commit(p, idx, n);
    for (i = got; i < n; i++)
        pool_untake(p, idx[i]);
    if (got == 0) {
        rc = PLAT_ENOMEM;
        goto out;
    }

    /* Step 4 */
    for (i = 0; i < got; i++) {
        atomic_store_explicit(&p->state[idx[i]], FRAME_OWNED, memory_order_relaxed);
        frames[i] = frame_encode(which, idx[i]);
    }
    p->held += got;
    if (p->held > p->peak)
        p->peak = p->held;
    atomic_store(&plat_core.ever_allocated, true);
    *count = got;
out:
    alloc_unlock();
    free(idx);
    return rc;
}

/* ---- VMA accounting ---------------------------------------------------------------------- */

/* Whether pages holding a and b (b right after a) are one kernel mapping. */
static bool joinable(plat_frame_t a, plat_frame_t b)
{
    return a == 0 ? b == 0 : b == a + 1;
}

/* Breaks at the boundaries (j, j+1) for j in [lo, hi). */
static uint64_t count_breaks(const struct window *w, size_t lo, size_t hi)
{
    uint64_t n = 0;
    size_t j;

    for (j = lo; j < hi; j++)
        n += !joinable(w->slots[j], w->slots[j + 1]);
    return n;
}

/* The boundaries a change of pages [s, e) can affect: [lo, hi) for count_breaks. */
static void affected(const struct window *w, size_t s, size_t e, size_t *lo, size_t *hi)
{
    *lo = s > 0 ? s - 1 : 0;
    *hi = e < w->pages ? e : w->pages - 1;
}

/* ---- The plan: validate, then apply all or nothing --------------------------------------- */

/* The hook of common/awe_common.h: a plan of `cap` changes has at most `cap` runs (struct run is
 * smaller than struct change, so plan_reserve's overflow check covers it). */
static_assert(sizeof(struct run) <= sizeof(struct change), "runs must fit where changes do");
int plan_room(size_t cap)
{
    struct run *r;

    assert_lock_held(LOCK_MAP);
    r = realloc(g.runs, cap * sizeof(*r));
    if (r == NULL)
        return PLAT_ENOMEM;
    g.runs = r;
    return 0;
}

static int change_cmp(const void *a, const void *b)
{
    const struct change *x = a, *y = b;

    if (x->w->base != y->w->base)
        return x->w->base < y->w->base ? -1 : 1;
    return x->page < y->page ? -1 : (x->page > y->page ? 1 : 0);
}

/* Splits the sorted plan into runs: consecutive pages of one window that all unmap, or that
 * receive consecutive frames. A run of unmaps over pages that are all unmapped already needs no
 * call and is dropped. Returns the number of runs. */
static size_t plan_runs(size_t n)
{
    size_t nruns = 0, i = 0;

    while (i < n) {
        const struct change *c = &plat_core.plan[i];
        bool any_old = c->old_frame != 0;
        size_t j = i + 1;

        while (j < n && plat_core.plan[j].w == c->w &&
               plat_core.plan[j].page == plat_core.plan[j - 1].page + 1 &&
               (c->new_frame == 0
                    ? plat_core.plan[j].new_frame == 0
                    : plat_core.plan[j].new_frame == plat_core.plan[j - 1].new_frame + 1)) {
            any_old |= plat_core.plan[j].old_frame != 0;
            j++;
        }
        if (c->new_frame != 0 || any_old) {
            g.runs[nruns].first = i;
            g.runs[nruns].n = j - i;
            nruns++;
        }
        i = j;
    }
    return nruns;
}

/* How os_set_run places a mapping: as a counted forward call, as an uncounted rollback call over
 * what is there, or as an uncounted refill of a hole (never replacing anything). */
enum set_mode { SET_FORWARD, SET_ROLLBACK, SET_REFILL };

/* Makes the kernel's mapping of pages [page, page + n) of w show frames f, f+1, ... (f == 0:
 * the PROT_NONE reservation). */
static int os_set_run(const struct window *w, size_t page, size_t n, plat_frame_t f,
                      enum set_mode mode)
{
    void *addr = (void *)(w->base + (page << w->shift)), *out;
    size_t len = n << w->shift;
    int fixed = mode == SET_REFILL ? MAP_FIXED_NOREPLACE : MAP_FIXED;
    int pool, prot, flags, fd = -1;
    uint64_t index;
    off_t off = 0;

    if (f == 0) {
        prot = PROT_NONE;
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | fixed;
    } else {
        if (!frame_decode(f, &pool, &index))
            return -EINVAL;
        prot = PROT_READ | PROT_WRITE;
        flags = MAP_SHARED | fixed | ((w->flags & PLAT_WINDOW_POPULATE) ? MAP_POPULATE : 0);
        fd = g.pools[pool].fd;
        off = (off_t)(index << g.pools[pool].shift);
    }
    return mode == SET_FORWARD ? os_mmap(addr, len, prot, flags, fd, off, &out)
                               : os_mmap_uncounted(addr, len, prot, flags, fd, off, &out);
}

/* Maps the frames the plan says run r's pages held before, one call per old run. */
static int restore_layout(const struct run *r, enum set_mode mode)
{
    size_t i = r->first, end = r->first + r->n;

    while (i < end) {
        size_t j = i + 1;

        while (j < end && joinable(plat_core.plan[j - 1].old_frame, plat_core.plan[j].old_frame))
            j++;
        if (os_set_run(plat_core.plan[i].w, plat_core.plan[i].page, j - i,
                       plat_core.plan[i].old_frame, mode) != 0)
            return PLAT_EIO;
        i = j;
    }
    return 0;
}

/* Puts the kernel's mapping of run r back as it was before the call. Mapping over the run needs
 * the kernel to split VMAs, which it refuses once the process is at vm.max_map_count (another
 * part of the process may have taken the margin). Then the run's range is unmapped instead, which
 * never needs more VMAs, and the old layout is mapped into the hole without replacing anything
 * (should another thread have taken the hole meanwhile, that fails rather than clobber it). */
static int restore_run(const struct run *r)
{
    const struct change *c = &plat_core.plan[r->first];

    if (restore_layout(r, SET_ROLLBACK) == 0)
        return 0;
    if (munmap((void *)(c->w->base + (c->page << c->w->shift)), r->n << c->w->shift) != 0)
        return PLAT_EIO;
    return restore_layout(r, SET_REFILL);
}

/* Steps (caller holds map_mu; plan[0..n) is validated and sorted, old_frame filled in):
 * 1. Form the runs (plan_runs).
 * 2. Write the new frames into the slot tables run by run, keeping each window's VMA count and
 *    the peak over the whole call (mmap calls happen in run order, so every intermediate state
 *    is one of these); if the peak, plus the two transient splits of one mmap, would pass the
 *    budget, put the slots back and fail with PLAT_ENOMEM. Nothing has been done.
 * 3. Make one OS call per run. If call k fails, put runs k..0 back in the kernel, newest first
 *    (uncounted calls; restore_run says how this works even at the kernel's mapping limit), put
 *    the slots back, and fail.
 * 4. Commit: frame state words follow the slots; counters. */
static int runs_apply(size_t n)
{
    size_t nruns, k, i;
    uint64_t vmas = g.vmas_in_use, peak = g.vmas_in_use;
    int rc = 0;

    assert_lock_held(LOCK_MAP);
    /* Step 1 */
    nruns = plan_runs(n);

    /* Step 2 */
    for (k = 0; k < nruns; k++) {
        const struct run *r = &g.runs[k];
        struct window *w = plat_core.plan[r->first].w;
        size_t s = plat_core.plan[r->first].page, e = s + r->n, lo, hi;
        uint64_t before;

        affected(w, s, e, &lo, &hi);
        before = count_breaks(w, lo, hi);
        for (i = r->first; i < r->first + r->n; i++)
            w->slots[plat_core.plan[i].page] = plat_core.plan[i].new_frame;
        vmas = vmas - before + count_breaks(w, lo, hi);
        if (vmas > peak)
            peak = vmas;
    }
    if (plat_core.caps.vma_budget != 0 && peak + 2 > plat_core.caps.vma_budget) {
        rc = PLAT_ENOMEM;
        goto undo_slots;
    }

    /* Step 3 */
    for (k = 0; k < nruns; k++) {
        const struct change *c = &plat_core.plan[g.runs[k].first];

        rc = os_set_run(c->w, c->page, g.runs[k].n, c->new_frame, SET_FORWARD);
        if (rc != 0)
            break;
    }
    if (rc != 0) {
        int rb = 0;

        /* Undo in reverse order, so each step returns to a layout the kernel already held. Run k
         * itself failed: a refused mmap leaves the old mapping, but put it back in case the kernel
         * had begun; if even that is refused, the refusal came before any change. */
        (void)restore_layout(&g.runs[k], SET_ROLLBACK);
        while (k-- > 0)
            rb |= restore_run(&g.runs[k]);
        rc = rb != 0 ? PLAT_EIO : errno_to_plat(rc);
        goto undo_slots;
    }

    /* Step 4 */
    plan_commit(plat_core.plan, n, &plat_core.stats);
    plat_core.stats.runs += nruns;
    g.vmas_in_use = vmas;
    if (vmas > plat_core.stats.vmas_peak)
        plat_core.stats.vmas_peak = vmas;
    return 0;

undo_slots:
    for (i = 0; i < n; i++)
        plat_core.plan[i].w->slots[plat_core.plan[i].page] = plat_core.plan[i].old_frame;
    return rc;
}

/* The hook of common/awe_common.h. A scatter call's plan is sorted by address first (unless it
 * already is), so that runs form whatever the order of the array; a range call's plan is in
 * address order already. */
int plan_apply(size_t n, void *range)
{
    size_t i;

    assert_lock_held(LOCK_MAP);
    for (i = 1; range == NULL && i < n; i++) {
        if (change_cmp(&plat_core.plan[i - 1], &plat_core.plan[i]) > 0) {
            qsort(plat_core.plan, n, sizeof(*plat_core.plan), change_cmp);
            break;
        }
    }
    return runs_apply(n);
}

/* Steps: 1. check every frame (owned, one pool); 2. per run of consecutive frames, one memcpy
 * from or to the pool's view (64-bit), else one pread or pwrite of the memfd at the run's offset
 * (the memfd is the frames' memory: no window mapping is made either way). */
int plat_frames_copy(const plat_frame_t *frames, size_t count, void *buf, int to_frames)
{
    int pool = -1, p;
    uint64_t index;
    char *at = buf;
    size_t i = 0;

    if (frames == NULL || buf == NULL)
        return PLAT_EFAULT;
    if (count == 0 || ensure_init() != 0)
        return PLAT_EINVAL;
    /* Step 1 */
    for (size_t j = 0; j < count; j++) {
        _Atomic uintptr_t *st;

        if (!frame_decode(frames[j], &p, &index) || (pool >= 0 && p != pool))
            return PLAT_EINVAL;
        pool = p;
        st = frame_state(frames[j]);
        if ((atomic_load_explicit(st, memory_order_acquire) & FRAME_OWNED) == 0)
            return PLAT_ENXIO;
    }
    /* Step 2 */
    while (i < count) {
        size_t n = 1, shift = g.pools[pool].shift, len;
        int64_t got;

        while (i + n < count && frames[i + n] == frames[i] + n)
            n++;
        frame_decode(frames[i], &p, &index);
        len = n << shift;
        if (g.pools[pool].view != NULL &&
            !atomic_load_explicit(&os_copy_by_call, memory_order_relaxed)) {
            char *f = g.pools[pool].view + (index << shift);

            memcpy(to_frames ? f : at, to_frames ? at : f, len);
            at += len;
            i += n;
            continue;
        }
        got = to_frames ? os_pwrite(g.pools[pool].fd, at, len, index << shift)
                        : os_pread(g.pools[pool].fd, at, len, index << shift);
        if (got != (int64_t)len)
            return got < 0 && got == -ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
        at += len;
        i += n;
    }
    return 0;
}

/* ---- Freeing frames ---------------------------------------------------------------------- */

/* Gives the memory of frames idx[0..n) of pool p back to the system, so that each reads as zeros
 * when handed out again, and makes them available. Consecutive indexes go back in one call.
 * Should the kernel refuse a frame, its index is retired (never handed out again) rather than
 * reused with stale contents. Caller holds alloc_mu; the frames are no longer owned. */
static void pool_release(struct pool *p, const uint64_t *idx, size_t n)
{
    const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    size_t i = 0, j, k;

    assert_lock_held(LOCK_ALLOC);
    while (i < n) {
        for (j = i + 1; j < n && idx[j] == idx[j - 1] + 1; j++)
            ;
        if (os_fallocate(p->fd, punch, (off_t)(idx[i] << p->shift),
                         (off_t)((uint64_t)(j - i) << p->shift)) == 0) {
            for (k = i; k < j; k++)
                pool_untake(p, idx[k]);
        } else {
            for (k = i; k < j; k++)
                if (os_fallocate(p->fd, punch, (off_t)(idx[k] << p->shift), (off_t)1 << p->shift) ==
                    0)
                    pool_untake(p, idx[k]);
        }
        i = j;
    }
    p->held -= n;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Releases frames[0..n) (owned, unmapped, distinct): sorted per pool so that runs of consecutive
 * frames go back in one call. Caller holds alloc_mu. */
static void frames_release(const plat_frame_t *frames, size_t n)
{
    uint64_t one, *idx = malloc(n * sizeof(*idx));
    int which, pool = 0;
    size_t i, m;

    assert_lock_held(LOCK_ALLOC);
    for (which = 0; which < POOL_COUNT; which++) {
        m = 0;
        for (i = 0; i < n; i++) {
            uint64_t index = 0;
            bool ok = frame_decode(frames[i], &pool, &index);

            assert(ok);
            (void)ok;
            if (pool != which)
                continue;
            if (idx == NULL) { /* no memory for the batch: one frame at a time */
                one = index;
                pool_release(&g.pools[which], &one, 1);
                continue;
            }
            idx[m++] = index;
        }
        if (idx != NULL && m > 0) {
            for (i = 1; i < m && idx[i - 1] < idx[i]; i++)
                ;
            if (i < m)
                qsort(idx, m, sizeof(*idx), u64_cmp);
            pool_release(&g.pools[which], idx, m);
        }
    }
    free(idx);
}

/* The hook of common/awe_common.h; common/awe_entry.c checked the pointers, *count > 0 and that a
 * frame was ever allocated.
 * Steps:
 * 1. Under map_mu, find the valid prefix: entries in array order that are owned frames not seen
 *    earlier in the array. It ends at the first bad entry (ENXIO), or at the end.
 * 2. Unmap the prefix's mapped frames with one all-or-nothing plan. Should that need more kernel
 *    mappings than the budget allows, unmap them one at a time in array order and end the
 *    prefix before the first that cannot be unmapped.
 * 3. Still under map_mu, the prefix's frames stop being owned: from here no call can map them.
 * 4. Under alloc_mu alone (map calls go on meanwhile), give their memory back, a run of
 *    consecutive frames per call, and make them available; *count = prefix length if cut. */
int do_frames_free(size_t *count, const plat_frame_t *frames)
{
    size_t n = *count, valid, nplan, i;
    int rc, stop_rc = 0;

    /* Step 1 */
    map_lock();
    valid = frames_valid_prefix(frames, n, &nplan);
    if (valid < n)
        stop_rc = PLAT_ENXIO;

    /* Step 2 */
    if (nplan > 0) {
        rc = plan_reserve(nplan);
        if (rc == 0) {
            size_t k = 0;

            for (i = 0; i < valid; i++) {
                uintptr_t va = atomic_load_explicit(frame_state(frames[i]), memory_order_relaxed) &
                               FRAME_VA_MASK;
                struct window *w = va != 0 ? wtab_find(&plat_core.wt, va) : NULL;

                if (w != NULL) {
                    plat_core.plan[k].w = w;
                    plat_core.plan[k].page = (va - w->base) >> w->shift;
                    plat_core.plan[k].new_frame = 0;
                    plat_core.plan[k].old_frame = frames[i];
                    k++;
                }
            }
            assert(k == nplan);
            qsort(plat_core.plan, nplan, sizeof(*plat_core.plan), change_cmp);
            rc = runs_apply(nplan);
        }
        for (i = 0; rc != 0 && i < valid; i++) {
            uintptr_t va =
                atomic_load_explicit(frame_state(frames[i]), memory_order_relaxed) & FRAME_VA_MASK;
            struct window *w = va != 0 ? wtab_find(&plat_core.wt, va) : NULL;

            if (w == NULL)
                continue;
            plat_core.plan[0].w = w;
            plat_core.plan[0].page = (va - w->base) >> w->shift;
            plat_core.plan[0].new_frame = 0;
            plat_core.plan[0].old_frame = frames[i];
            if (runs_apply(1) != 0) {
                valid = i; /* frames before i are unmapped; free those */
                stop_rc = PLAT_ENOMEM;
                break;
            }
        }
    }

    /* Step 3 */
    for (i = 0; i < valid; i++)
        atomic_store_explicit(frame_state(frames[i]), 0, memory_order_relaxed);
    map_unlock();

    /* Step 4 */
    alloc_lock();
    frames_release(frames, valid);
    alloc_unlock();
    if (stop_rc != 0)
        *count = valid;
    return stop_rc;
}

/* ---- Windows ----------------------------------------------------------------------------- */

/* Reserves [want, want + size) exactly, or anywhere aligned to `align`. */
static int reserve_range(uintptr_t want, size_t size, size_t align, uintptr_t *base)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    void *p;
    uintptr_t a, end;
    int rc;

    if (want != 0) {
        rc = os_mmap((void *)want, size, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0, &p);
        if (rc == -EEXIST || rc == -EINVAL || rc == -EPERM)
            return PLAT_EADDRNOTAVAIL;
        if (rc != 0)
            return errno_to_plat(rc);
        if ((uintptr_t)p != want) { /* a kernel without MAP_FIXED_NOREPLACE treats it as a hint */
            munmap(p, size);
            return PLAT_EADDRNOTAVAIL;
        }
        *base = want;
        return 0;
    }
    if (size > SIZE_MAX - align)
        return PLAT_ENOMEM;
    rc = os_mmap(NULL, size + align, PROT_NONE, flags, -1, 0, &p);
    if (rc != 0)
        return errno_to_plat(rc);
    /* Trim the slack so the base is aligned; the trims cannot fail but for injection. */
    a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    end = (uintptr_t)p + size + align;
    if (a > (uintptr_t)p)
        rc = os_munmap(p, a - (uintptr_t)p);
    if (rc == 0 && end > a + size)
        rc = os_munmap((void *)(a + size), end - (a + size));
    if (rc != 0) {
        munmap(p, size + align);
        return errno_to_plat(rc);
    }
    *base = a;
    return 0;
}

/* The hook of common/awe_common.h: a PROT_NONE reservation (every touch faults), one VMA, which
 * the budget must have room for beside the transient splits of one later mmap. */
int window_os_reserve(struct window *w, uintptr_t want, size_t size, size_t align)
{
    uintptr_t at = 0;
    int rc;

    assert_lock_held(LOCK_MAP);
    if (plat_core.caps.vma_budget != 0 && g.vmas_in_use + 3 > plat_core.caps.vma_budget)
        return PLAT_ENOMEM;
    rc = reserve_range(want, size, align, &at);
    if (rc != 0)
        return rc;
    w->base = at;
    g.vmas_in_use += 1;
    if (g.vmas_in_use > plat_core.stats.vmas_peak)
        plat_core.stats.vmas_peak = g.vmas_in_use;
    return 0;
}

/* The hook of common/awe_common.h: one munmap; the window's VMAs are no longer counted. */
int window_os_release(struct window *w)
{
    uint64_t vmas = 1 + (w->pages > 1 ? count_breaks(w, 0, w->pages - 1) : 0);
    int rc;

    assert_lock_held(LOCK_MAP);
    rc = os_munmap((void *)w->base, w->pages << w->shift);
    if (rc != 0)
        return errno_to_plat(rc);
    g.vmas_in_use -= vmas;
    return 0;
}

/* The hook of common/awe_common.h. */
void stats_os_fill(struct plat_stats *stats)
{
    assert_lock_held(LOCK_MAP);
    assert_lock_held(LOCK_ALLOC);
    stats->vmas_in_use = g.vmas_in_use;
    stats->frames_allocated = g.pools[POOL_SMALL].held;
    stats->huge_frames_allocated = g.pools[POOL_HUGE].held;
    stats->frames_peak = g.pools[POOL_SMALL].peak;
}

const char *plat_awe_unavailable_reason(void)
{
    return NULL; /* a memfd needs no privilege: AWE is there wherever the platform starts */
}
