/*
 * platform/windows/awe_windows.c: Address Windowing Extensions on Windows: the operating
 * system's own AWE calls behind the contract of plat.h, with the tables the contract needs.
 *
 * Memory layout
 * -------------
 *
 *   frame table (reserved for every page of RAM,           window (VirtualAlloc
 *   committed a chunk at a time as it fills)               MEM_RESERVE | MEM_PHYSICAL)
 *   index:   0        1        2        3     ...          +------+------+------+------+
 *   pfn:     0x9a21   0x13f0   (next)   0x77c4             | pg 0 | pg 1 | pg 2 | pg 3 |
 *   state:   own|va   own      0 free   own|va             +------+------+------+------+
 *   frame number = index + 1                                slots[]: 4    0    1    0
 *
 * Windows hands out physical page numbers (PFNs): large, sparse, meaningful to the kernel alone.
 * The contract's frame numbers are our own, index + 1 into a frame table whose entries hold the
 * PFN and a state word (owner bit, pending bit, the page-aligned address the frame is mapped at:
 * the state word of the Linux side). Free entries are a list threaded through their pfn field.
 * A window is a MEM_PHYSICAL reservation with a slot table (page -> frame number).
 *
 * Why tables, when Windows checks every AWE call itself: the contract promises more than Windows
 * says. (a) Distinct codes: "not owned" is PLAT_ENXIO, "mapped elsewhere or listed twice" is
 * PLAT_EINVAL, where Windows answers ERROR_INVALID_PARAMETER for several of them. (b) The rules
 * the project pins where Windows versions disagree (docs/awe-semantics.md): a frame still
 * mapped is refused even at its own target, a page listed twice in one scatter call is refused,
 * a 0 entry of a range map unmaps its page. (c) plat_query and plat_window_find, for which
 * Windows has no call. (d) The counters. So every map call is validated against the tables
 * first, in array order, exactly as on Linux, and then made as ONE OS call, which Windows carries
 * out all or nothing (Microsoft's documentation of MapUserPhysicalPages and
 * MapUserPhysicalPagesScatter: "no mapping is done, partial or otherwise"); the tables change only
 * after it succeeded. There is nothing to roll back.
 *
 * What Windows does not have, and what stands in:
 *   - a kernel mapping budget: AWE mappings are not VMAs. caps.vma_budget and max_map_count are
 *     0 ("no such limit"), the stats' vmas_in_use and vmas_peak stay 0, and the test override of
 *     the budget (plat_testing.h) is recorded in the caps but enforces nothing;
 *   - huge frames through the AWE calls: caps.huge_page_size is 0, PLAT_FRAMES_HUGE and
 *     PLAT_WINDOW_HUGE are PLAT_ENOTSUP;
 *   - first-touch faults: AWE frames are locked physical pages, always committed, so
 *     PLAT_FRAMES_POPULATE and PLAT_WINDOW_POPULATE change nothing;
 *   - fork: Windows has none, so nothing is inherited.
 *
 * The privilege. AllocateUserPhysicalPages needs SeLockMemoryPrivilege ("Lock pages in memory")
 * held by the account and enabled in the process token. The first use enables it: OpenProcessToken,
 * LookupPrivilegeValueW, AdjustTokenPrivileges, and then GetLastError() must be ERROR_SUCCESS:
 * AdjustTokenPrivileges returns TRUE with ERROR_NOT_ALL_ASSIGNED when the account does not hold
 * the privilege. A frame allocation that Windows refuses for the privilege, or that finds the AWE
 * calls to be stubs (ERROR_CALL_NOT_IMPLEMENTED, as under Wine), answers PLAT_EPERM and leaves a
 * sentence for plat_awe_unavailable_reason() saying what to do.
 *
 * Locks
 * -----
 * map_mu (an SRW lock) serializes everything that changes mappings or the windows' tables: map,
 * scatter, free, window reserve and release. alloc_mu serializes frame allocation, which maps
 * nothing and so runs beside map calls. Lock order: map_mu before alloc_mu. Frame state words are
 * atomics written under either lock; an allocation writes an entry's pfn and then publishes its
 * state with release ordering, and validation loads the state with acquire ordering before it
 * reads the pfn. The table's high-water mark `top` is published with release ordering after the
 * memory below it was committed.
 */
#include "plat.h"

#include "common/awe_common.h"
#include "os_windows.h"
#include "plat_testing.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOC_GRANULARITY ((size_t)65536)   /* when the system does not say */
#define TABLE_CHUNK       ((uint64_t)65536) /* frame table entries committed at a time */
/* The frame state word (FRAME_OWNED, FRAME_PENDING, FRAME_VA_MASK), struct window, struct change
 * and the window table are common/awe_common.h's. Every window has shift == g.shift and pool 0. */

/* One entry of the frame table. */
struct frame {
    _Atomic uintptr_t state; /* see above */
    ULONG_PTR pfn;           /* owned: the Windows page number; free: next free index + 1 */
};

static struct {
    INIT_ONCE once;
    int init_rc;           /* 0, or why the platform could not start */
    struct plat_caps caps; /* capabilities; frame_limit and vma_budget change at runtime */
    unsigned shift;        /* log2 of the page size */
    ULONG max_numa_node;   /* highest NUMA node number (0 without NUMA) */

    SRWLOCK map_mu; /* see "Locks" above */
    SRWLOCK alloc_mu;

    struct frame *table;        /* capacity entries reserved; [0, committed) committed */
    uint64_t capacity;          /* entries the table may hold: the machine's pages */
    uint64_t committed;         /* under alloc_mu */
    _Atomic uint64_t top;       /* entries ever handed out: frame numbers 1..top can be ours */
    uint64_t free_head;         /* under alloc_mu: first free index + 1 (0: none below top) */
    uint64_t held;              /* under alloc_mu: frames owned now */
    uint64_t peak;              /* under alloc_mu: most frames ever owned at once */
    atomic_bool ever_allocated; /* a frame was ever allocated (Map and Free need one) */
    atomic_uint_fast64_t failed_calls;

    struct window_table wt; /* under map_mu */

    struct change *plan; /* under map_mu: scratch for one call */
    void **os_vas;       /* under map_mu: the call's addresses and PFNs, for Windows */
    ULONG_PTR *os_pfns;
    size_t plan_cap;

    _Atomic(const char *) unavailable; /* plat_awe_unavailable_reason() */
    char privilege_reason[256];        /* written once, by the init */

    struct plat_stats stats; /* counters under map_mu; frame counters under alloc_mu */
} g = {.once = INIT_ONCE_STATIC_INIT, .map_mu = SRWLOCK_INIT, .alloc_mu = SRWLOCK_INIT};

static const char stub_reason[] =
    "this system implements Address Windowing Extensions only as stubs "
    "(AllocateUserPhysicalPages answers ERROR_CALL_NOT_IMPLEMENTED, as under Wine): no AWE "
    "frames can be had here; on Windows itself, grant the account \"Lock pages in memory\"";
static const char privilege_reason[] =
    "the \"Lock pages in memory\" privilege (SeLockMemoryPrivilege) is not held: grant it with "
    "secpol.msc > Local Policies > User Rights Assignment > Lock pages in memory (add the "
    "account), then log off and on again";
static const char physical_reason[] =
    "this system refuses MEM_PHYSICAL reservations (VirtualAlloc answers "
    "ERROR_INVALID_PARAMETER to valid arguments, as under Wine): no AWE windows can be had here";

/* ---- Initialisation and the privilege ---------------------------------------------------- */

/* Steps:
 * 1. Open the process token for adjusting privileges.
 * 2. Look up the locally unique id of SeLockMemoryPrivilege.
 * 3. Enable it. AdjustTokenPrivileges returns TRUE even when it enabled nothing: the last error
 *    is then ERROR_NOT_ALL_ASSIGNED, so success is TRUE *and* ERROR_SUCCESS.
 * Returns 0, or the Win32 error that stopped it. */
static DWORD enable_lock_privilege(void)
{
    TOKEN_PRIVILEGES tp;
    HANDLE token;
    DWORD err = 0;

    /* Step 1 */
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token))
        return GetLastError();
    /* Step 2 */
    tp.PrivilegeCount = 1;
    tp.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    if (!LookupPrivilegeValueW(NULL, L"SeLockMemoryPrivilege", &tp.Privileges[0].Luid))
        err = GetLastError();
    /* Step 3 */
    if (err == 0) {
        SetLastError(ERROR_SUCCESS);
        if (!AdjustTokenPrivileges(token, FALSE, &tp, 0, NULL, NULL))
            err = GetLastError();
        else
            err = GetLastError(); /* ERROR_SUCCESS, or ERROR_NOT_ALL_ASSIGNED */
    }
    CloseHandle(token);
    return err;
}

/* Reads what the machine offers and enables the privilege (nothing is allocated yet). */
static BOOL CALLBACK platform_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    struct plat_caps *c = &g.caps;
    MEMORYSTATUSEX ms;
    SYSTEM_INFO si;
    DWORD err;

    (void)once;
    (void)param;
    (void)ctx;
    GetSystemInfo(&si);
    ms.dwLength = sizeof(ms);
    if (si.dwPageSize == 0 || si.dwPageSize > 65536 || (si.dwPageSize & (si.dwPageSize - 1)) ||
        !GlobalMemoryStatusEx(&ms)) {
        g.init_rc = PLAT_EIO;
        return TRUE;
    }
    c->page_size = si.dwPageSize;
    c->alloc_granularity =
        si.dwAllocationGranularity != 0 ? si.dwAllocationGranularity : ALLOC_GRANULARITY;
    c->processor_count = si.dwNumberOfProcessors > 0 ? si.dwNumberOfProcessors : 1;
    c->min_app_address = (uintptr_t)si.lpMinimumApplicationAddress;
    c->max_app_address = (uintptr_t)si.lpMaximumApplicationAddress;
    c->huge_page_size = 0; /* no huge frames through the AWE calls */
    c->vma_budget = 0;     /* AWE mappings are not counted against any per-process limit */
    c->max_map_count = 0;
    g.shift = log2_exact(si.dwPageSize);
    if (!GetNumaHighestNodeNumber(&g.max_numa_node))
        g.max_numa_node = 0;

    /* The table is sized to the machine's pages, as the Linux memfd is, but never more than an
     * eighth of the address space (a 32-bit process on a machine with more than 4 GiB). */
    g.capacity = ms.ullTotalPhys >> g.shift;
    if (g.capacity > (SIZE_MAX / 8) / sizeof(struct frame))
        g.capacity = (SIZE_MAX / 8) / sizeof(struct frame);
    c->frame_limit = g.capacity;

    err = enable_lock_privilege();
    if (err != 0) {
        snprintf(g.privilege_reason, sizeof(g.privilege_reason), "%s (%s: Windows error %lu)",
                 privilege_reason,
                 err == ERROR_NOT_ALL_ASSIGNED ? "AdjustTokenPrivileges could not enable it"
                                               : "enabling it failed",
                 (unsigned long)err);
        atomic_store(&g.unavailable, (const char *)g.privilege_reason);
    }
    return TRUE;
}

static int ensure_init(void)
{
    InitOnceExecuteOnce(&g.once, platform_init, NULL, NULL);
    return g.init_rc;
}

const char *plat_awe_unavailable_reason(void)
{
    if (ensure_init() != 0)
        return NULL;
    return atomic_load(&g.unavailable);
}

static void lock_both(void)
{
    AcquireSRWLockExclusive(&g.map_mu);
    AcquireSRWLockExclusive(&g.alloc_mu);
}

static void unlock_both(void)
{
    ReleaseSRWLockExclusive(&g.alloc_mu);
    ReleaseSRWLockExclusive(&g.map_mu);
}

int plat_get_caps(struct plat_caps *caps)
{
    int rc;

    if (caps == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    lock_both();
    *caps = g.caps;
    unlock_both();
    caps->huge_frames_free = 0;
    return 0;
}

int plat_set_frame_limit(uint64_t limit)
{
    int rc = ensure_init();

    if (rc != 0)
        return rc;
    if (limit > g.capacity)
        return PLAT_EINVAL;
    AcquireSRWLockExclusive(&g.alloc_mu);
    g.caps.frame_limit = limit;
    ReleaseSRWLockExclusive(&g.alloc_mu);
    return 0;
}

/* Windows has no mapping budget: the override is shown in the caps and enforces nothing. */
void plat_testing_set_vma_budget(uint64_t budget)
{
    if (ensure_init() != 0)
        return;
    AcquireSRWLockExclusive(&g.map_mu);
    g.caps.vma_budget = budget;
    ReleaseSRWLockExclusive(&g.map_mu);
}

/* ---- Frame numbers ----------------------------------------------------------------------- */

/* The table entry of frame number f, or NULL when f cannot be one of ours. Entries below `top`
 * are committed memory, so a stray number never touches an uncommitted page. */
static struct frame *frame_entry(plat_frame_t f)
{
    uint64_t top = atomic_load_explicit(&g.top, memory_order_acquire);

    if (f == 0 || (uint64_t)f > top)
        return NULL;
    return &g.table[f - 1];
}

/* The hooks of common/awe_common.h. */
_Atomic uintptr_t *frame_state(plat_frame_t f)
{
    struct frame *e = frame_entry(f);

    return e != NULL ? &e->state : NULL;
}

int frame_pool(plat_frame_t f)
{
    (void)f;
    return 0; /* one pool: no huge frames through the AWE calls */
}

/* ---- Frame allocation -------------------------------------------------------------------- */

/* Reserves the table on first use. Caller holds alloc_mu. */
static int table_setup(void)
{
    void *p = NULL;
    DWORD err;

    if (g.table != NULL)
        return 0;
    err = os_virtual_alloc(NULL, (size_t)g.capacity * sizeof(struct frame), MEM_RESERVE,
                           PAGE_READWRITE, &p);
    if (err != 0)
        return os_to_plat(err) == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    g.table = p;
    return 0;
}

/* Takes an index for a new frame: a free one, or the next one above `top` (committing table
 * memory a chunk at a time). Returns false when the table can hold no more. Caller holds
 * alloc_mu. */
static bool index_take(uint64_t *index)
{
    uint64_t top = atomic_load_explicit(&g.top, memory_order_relaxed);

    if (g.free_head != 0) {
        *index = g.free_head - 1;
        g.free_head = g.table[*index].pfn;
        return true;
    }
    if (top == g.capacity)
        return false;
    if (top == g.committed) {
        uint64_t n = g.capacity - top < TABLE_CHUNK ? g.capacity - top : TABLE_CHUNK;
        void *p;

        if (os_virtual_alloc(&g.table[top], (size_t)n * sizeof(struct frame), MEM_COMMIT,
                             PAGE_READWRITE, &p) != 0)
            return false;
        g.committed += n;
    }
    *index = top;
    atomic_store_explicit(&g.top, top + 1, memory_order_release);
    return true;
}

/* Puts a free index back on the free list. Caller holds alloc_mu; the entry's state is 0. */
static void index_put(uint64_t index)
{
    g.table[index].pfn = (ULONG_PTR)g.free_head;
    g.free_head = index + 1;
}

/* Steps:
 * 1. Check the arguments; *count == 0 succeeds at once; huge frames are PLAT_ENOTSUP.
 * 2. Under alloc_mu, set up the table on first use and check the limit: none left is EDQUOT.
 * 3. Ask Windows for the PFNs (AllocateUserPhysicalPages, or ...Numa with a preferred node). It
 *    may give fewer. A refusal for the privilege, or stubs (ERROR_CALL_NOT_IMPLEMENTED), is
 *    PLAT_EPERM with the reason kept; no frame at all is PLAT_ENOMEM.
 * 4. Give each PFN a table entry. Should the table not grow (no memory to commit it), the PFNs
 *    without an entry go back to Windows and the call returns what it has.
 * 5. Publish the frames as owned (pfn first, then the state with release ordering). */
static int do_frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node)
{
    ULONG_PTR *pfns = NULL, n_os;
    uint64_t limit;
    size_t n, got = 0, i;
    DWORD err;
    int rc;

    /* Step 1 */
    rc = frames_alloc_args(count, frames, flags, ensure_init);
    if (rc != 0)
        return rc;
    if (numa_node < -1 || numa_node > (int)g.max_numa_node)
        return PLAT_EINVAL;
    if (*count == 0)
        return 0;
    if ((flags & PLAT_FRAMES_HUGE) != 0)
        return PLAT_ENOTSUP;

    /* Step 2 */
    AcquireSRWLockExclusive(&g.alloc_mu);
    rc = table_setup();
    if (rc != 0)
        goto out;
    limit = g.caps.frame_limit;
    if (g.held >= limit) {
        rc = PLAT_EDQUOT;
        goto out;
    }
    n = *count;
    if (n > limit - g.held)
        n = (size_t)(limit - g.held);
    pfns = malloc(n * sizeof(*pfns));
    if (pfns == NULL) {
        rc = PLAT_ENOMEM;
        goto out;
    }

    /* Step 3 */
    n_os = n;
    err = os_alloc_frames(&n_os, pfns, numa_node);
    if (err != 0) {
        rc = os_to_plat(err);
        if (err == ERROR_CALL_NOT_IMPLEMENTED) {
            atomic_store(&g.unavailable, stub_reason);
            rc = PLAT_EPERM;
        } else if (rc == PLAT_EPERM) {
            const char *expected = NULL;

            /* Keep the init's more precise sentence if it has one. */
            atomic_compare_exchange_strong(&g.unavailable, &expected, privilege_reason);
        } else if (rc != PLAT_ENOMEM && rc != PLAT_EINVAL) {
            rc = PLAT_EIO;
        }
        goto out;
    }
    if (n_os == 0) {
        rc = PLAT_ENOMEM;
        goto out;
    }

    /* Step 4 */
    for (got = 0; got < n_os; got++) {
        uint64_t index;

        if (!index_take(&index))
            break;
        g.table[index].pfn = pfns[got];
        frames[got] = (plat_frame_t)(index + 1);
    }
    if (got < n_os) {
        ULONG_PTR back = n_os - got;

        (void)os_free_frames(&back, pfns + got); /* nothing else can be done with them */
    }
    if (got == 0) {
        rc = PLAT_ENOMEM;
        goto out;
    }

    /* Step 5 */
    for (i = 0; i < got; i++)
        atomic_store_explicit(&g.table[frames[i] - 1].state, FRAME_OWNED, memory_order_release);
    g.held += got;
    if (g.held > g.peak)
        g.peak = g.held;
    atomic_store(&g.ever_allocated, true);
    *count = got;
out:
    ReleaseSRWLockExclusive(&g.alloc_mu);
    free(pfns);
    return rc;
}

/* ---- The plan: validate, then one OS call ------------------------------------------------ */

/* Makes room for a plan of n changes. A count whose plan would not fit in the address space is
 * PLAT_EINVAL (it cannot be a valid call: it exceeds every window's pages). */
static int plan_reserve(size_t n)
{
    if (n > SIZE_MAX / sizeof(struct change))
        return PLAT_EINVAL;
    if (n > g.plan_cap) {
        size_t cap = n < 64 ? 64 : n;
        struct change *c = realloc(g.plan, cap * sizeof(*c));
        void **v;
        ULONG_PTR *p;

        if (c == NULL)
            return PLAT_ENOMEM;
        g.plan = c;
        v = realloc(g.os_vas, cap * sizeof(*v));
        if (v == NULL)
            return PLAT_ENOMEM;
        g.os_vas = v;
        p = realloc(g.os_pfns, cap * sizeof(*p));
        if (p == NULL)
            return PLAT_ENOMEM;
        g.os_pfns = p;
        g.plan_cap = cap;
    }
    return 0;
}

/* Steps (caller holds map_mu; plan[0..n) is validated, old_frame filled in; `range` is the base
 * of the call's pages when they are consecutive pages of one window in plan order, else NULL):
 * 1. Choose the call. A range whose entries all map frames, or all unmap, is one
 *    MapUserPhysicalPages (PFNs, or NULL). Anything else is one MapUserPhysicalPagesScatter over
 *    the entries that change something (an unmap of a page already unmapped changes nothing);
 *    when none do, no call is made.
 * 2. Make it. Windows does all of it or none of it: on failure nothing has changed.
 * 3. Commit: slots, frame state words, counters. */
static int plan_apply(size_t n, void *range)
{
    size_t i, m = 0, nmaps = 0;
    DWORD err = 0;
    bool call = true;

    /* Step 1 */
    for (i = 0; i < n; i++)
        nmaps += g.plan[i].new_frame != 0;
    if (range != NULL && (nmaps == n || nmaps == 0)) {
        for (i = 0; i < n && nmaps == n; i++)
            g.os_pfns[i] = g.table[g.plan[i].new_frame - 1].pfn;
        m = n;
    } else {
        range = NULL;
        for (i = 0; i < n; i++) {
            const struct change *c = &g.plan[i];

            if (c->new_frame == 0 && c->old_frame == 0)
                continue;
            g.os_vas[m] = (void *)page_va(c->w, c->page);
            g.os_pfns[m] = c->new_frame != 0 ? g.table[c->new_frame - 1].pfn : 0;
            m++;
        }
        call = m > 0;
    }

    /* Step 2 */
    if (call)
        err = range != NULL ? os_map(range, (ULONG_PTR)m, nmaps == 0 ? NULL : g.os_pfns)
                            : os_map_scatter(g.os_vas, (ULONG_PTR)m, g.os_pfns);
    if (err != 0) {
        int rc = os_to_plat(err);

        /* The tables said the call was valid: a refusal is the OS's, not the caller's. */
        return rc == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    }

    /* Step 3 */
    for (i = 0; i < n; i++)
        g.plan[i].w->slots[g.plan[i].page] = g.plan[i].new_frame;
    plan_commit(g.plan, n, &g.stats);
    g.stats.runs += call;
    return 0;
}

/* Steps:
 * 1. Check the call: count 0, no frame ever allocated, or a range outside one window: EINVAL.
 * 2. Validate every entry in array order, marking its page and frame pending; the first bad
 *    entry decides the error and the marks are cleared.
 * 3. Apply the plan: one OS call, all or nothing (plan_apply). */
static int do_map(void *va, size_t count, const plat_frame_t *frames)
{
    struct window *w;
    uintptr_t a;
    size_t first, i;
    int rc;

    /* Step 1 */
    rc = ensure_init();
    if (rc != 0)
        return rc;
    if (count == 0 || !atomic_load(&g.ever_allocated))
        return PLAT_EINVAL;
    AcquireSRWLockExclusive(&g.map_mu);
    rc = wtab_range(&g.wt, va, count, &w, &a, &first);
    if (rc != 0)
        goto out;
    rc = plan_reserve(count);
    if (rc != 0)
        goto out;

    /* Step 2 */
    for (i = 0; i < count; i++) {
        rc = plan_entry(&g.plan[i], w, first + i, frames != NULL ? frames[i] : 0);
        if (rc != 0) {
            plan_unmark(g.plan, i);
            goto out;
        }
    }
    plan_unmark(g.plan, count);

    /* Step 3 */
    rc = plan_apply(count, (void *)a);
    if (rc == 0)
        g.stats.map_calls++;
out:
    ReleaseSRWLockExclusive(&g.map_mu);
    return rc;
}

/* Steps:
 * 1. count 0 succeeds; no frame ever allocated is EINVAL.
 * 2. Validate every entry in array order: its page must be in a window and listed once, its
 *    frame as for plat_map. The first bad entry decides the error; marks are cleared.
 * 3. Apply the plan: one OS call, all or nothing (plan_apply). */
static int do_map_scatter(void *const *vas, size_t count, const plat_frame_t *frames)
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
    if (!atomic_load(&g.ever_allocated))
        return PLAT_EINVAL;
    AcquireSRWLockExclusive(&g.map_mu);
    rc = plan_reserve(count);
    if (rc != 0)
        goto out;

    /* Step 2 */
    for (i = 0; i < count; i++) {
        uintptr_t va = (uintptr_t)vas[i];

        if (w == NULL || va < w->base || va - w->base >= (w->pages << g.shift))
            w = wtab_find(&g.wt, va);
        rc = w == NULL ? PLAT_EINVAL
                       : plan_entry(&g.plan[i], w, (va - w->base) >> g.shift,
                                    frames != NULL ? frames[i] : 0);
        if (rc != 0) {
            plan_unmark(g.plan, i);
            goto out;
        }
    }
    plan_unmark(g.plan, count);

    /* Step 3 */
    rc = plan_apply(count, NULL);
    if (rc == 0)
        g.stats.scatter_calls++;
out:
    ReleaseSRWLockExclusive(&g.map_mu);
    return rc;
}

int plat_frames_copy(const plat_frame_t *frames, size_t count, void *buf, int to_frames)
{
    (void)count;
    (void)to_frames;
    if (frames == NULL || buf == NULL)
        return PLAT_EFAULT;
    return PLAT_ENOTSUP; /* Windows' AWE moves frame contents only through mappings */
}

int plat_query(const void *va, plat_frame_t *frame)
{
    int rc = ensure_init();

    if (rc != 0)
        return rc;
    if (frame == NULL)
        return PLAT_EFAULT;
    AcquireSRWLockExclusive(&g.map_mu);
    rc = wtab_query(&g.wt, va, frame);
    ReleaseSRWLockExclusive(&g.map_mu);
    return rc;
}

/* ---- Freeing frames ---------------------------------------------------------------------- */

/* Steps:
 * 1. Check the call: pointers, *count == 0 and "never allocated" are EINVAL.
 * 2. Under map_mu, find the valid prefix: entries in array order that are owned frames not seen
 *    earlier in the array. It ends at the first bad entry (ENXIO), or at the end.
 * 3. Free the prefix's PFNs with one FreeUserPhysicalPages, still under map_mu: Windows unmaps
 *    the mapped ones first, so the slot tables must change in the same critical section. Should
 *    Windows stop early (it says how many it freed), only those count as freed.
 * 4. The freed frames: their pages become unmapped in the slot tables, their state 0.
 * 5. Under alloc_mu (after map_mu: the lock order), their entries go back on the free list. */
static int do_frames_free(size_t *count, const plat_frame_t *frames)
{
    size_t n, valid, freed, i;
    ULONG_PTR *pfns = NULL, n_os;
    DWORD err = 0;
    int rc, stop_rc = 0;

    /* Step 1 */
    if (count == NULL || frames == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    n = *count;
    if (n == 0 || !atomic_load(&g.ever_allocated))
        return PLAT_EINVAL;
    if (n > SIZE_MAX / sizeof(*pfns))
        return PLAT_EINVAL;

    /* Step 2 */
    AcquireSRWLockExclusive(&g.map_mu);
    valid = frames_valid_prefix(frames, n, NULL);
    if (valid < n)
        stop_rc = PLAT_ENXIO;

    /* Step 3 */
    freed = 0;
    if (valid > 0) {
        pfns = malloc(valid * sizeof(*pfns));
        if (pfns == NULL) {
            stop_rc = PLAT_ENOMEM; /* nothing freed; *count says so */
        } else {
            for (i = 0; i < valid; i++)
                pfns[i] = g.table[frames[i] - 1].pfn;
            n_os = valid;
            err = os_free_frames(&n_os, pfns);
            freed = err == 0 ? valid : (n_os < valid ? (size_t)n_os : 0);
            if (err != 0)
                stop_rc = os_to_plat(err) == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
        }
    }

    /* Step 4 */
    for (i = 0; i < freed; i++) {
        struct frame *e = frame_entry(frames[i]);
        uintptr_t va = atomic_load_explicit(&e->state, memory_order_relaxed) & FRAME_VA_MASK;

        if (va != 0) {
            struct window *w = wtab_find(&g.wt, va);

            assert(w != NULL);
            w->slots[(va - w->base) >> g.shift] = 0;
            g.stats.pages_unmapped++;
        }
        atomic_store_explicit(&e->state, 0, memory_order_relaxed);
    }

    /* Step 5 */
    AcquireSRWLockExclusive(&g.alloc_mu);
    for (i = 0; i < freed; i++)
        index_put(frames[i] - 1);
    g.held -= freed;
    ReleaseSRWLockExclusive(&g.alloc_mu);
    ReleaseSRWLockExclusive(&g.map_mu);
    free(pfns);
    if (stop_rc != 0)
        *count = freed;
    return stop_rc;
}

/* ---- Windows ----------------------------------------------------------------------------- */

/* Steps:
 * 1. Check the arguments; round the size up to whole pages; a wanted address is rounded down to
 *    the allocation granularity and must lie in the application's range.
 * 2. Build the window's tables (slots all 0, nothing pending).
 * 3. Reserve the range: VirtualAlloc(MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE). Our arguments
 *    are valid here, so ERROR_INVALID_PARAMETER means the system does not do MEM_PHYSICAL (Wine):
 *    PLAT_ENOTSUP, with the reason kept.
 * 4. Insert the window into the sorted registry. */
int plat_window_reserve(void *want, size_t size, unsigned flags, void **base)
{
    size_t pages;
    struct window *w = NULL;
    uintptr_t want_a;
    void *at = NULL;
    DWORD err;
    int rc;

    /* Step 1 */
    if (base == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    if (size == 0 || (flags & ~(PLAT_WINDOW_HUGE | PLAT_WINDOW_POPULATE)) != 0)
        return PLAT_EINVAL;
    if ((flags & PLAT_WINDOW_HUGE) != 0)
        return PLAT_ENOTSUP;
    rc = wtab_reserve_args(&g.caps, want, g.caps.page_size, g.caps.alloc_granularity, &size, &pages,
                           &want_a);
    if (rc != 0)
        return rc;

    /* Step 2 */
    w = wtab_window_new(pages, g.shift, flags, 0);
    if (w == NULL)
        return PLAT_ENOMEM;

    AcquireSRWLockExclusive(&g.map_mu);
    rc = wtab_grow(&g.wt);
    if (rc != 0)
        goto fail;

    /* Step 3 */
    err = os_virtual_alloc((void *)want_a, size, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE, &at);
    if (err != 0) {
        rc = os_to_plat(err);
        if (rc == PLAT_EINVAL) {
            atomic_store(&g.unavailable, physical_reason);
            rc = PLAT_ENOTSUP;
        } else if (rc != PLAT_EADDRNOTAVAIL && rc != PLAT_ENOMEM) {
            rc = PLAT_EIO;
        }
        goto fail;
    }
    w->base = (uintptr_t)at;

    /* Step 4 */
    wtab_insert(&g.wt, w);
    ReleaseSRWLockExclusive(&g.map_mu);
    *base = at;
    return 0;
fail:
    ReleaseSRWLockExclusive(&g.map_mu);
    wtab_window_free(w);
    return rc;
}

/* Steps:
 * 1. Find the window whose base is `base` exactly; anything else is EADDRNOTAVAIL.
 * 2. Release the range (VirtualFree MEM_RELEASE): Windows unmaps its frames and frees none. On
 *    failure nothing has changed.
 * 3. Every frame that was mapped in it becomes unmapped (and keeps its contents). */
int plat_window_release(void *base)
{
    struct window *w;
    DWORD err;
    int rc = ensure_init();

    if (rc != 0)
        return rc;

    /* Step 1 */
    AcquireSRWLockExclusive(&g.map_mu);
    w = wtab_find(&g.wt, (uintptr_t)base);
    if (w == NULL || w->base != (uintptr_t)base) {
        ReleaseSRWLockExclusive(&g.map_mu);
        return PLAT_EADDRNOTAVAIL;
    }

    /* Step 2 */
    err = os_virtual_free(base, 0, MEM_RELEASE);
    if (err != 0) {
        ReleaseSRWLockExclusive(&g.map_mu);
        return os_to_plat(err) == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    }

    /* Step 3 */
    g.stats.pages_unmapped += window_unmap_frames(w);
    wtab_remove(&g.wt, w);
    ReleaseSRWLockExclusive(&g.map_mu);
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
    AcquireSRWLockExclusive(&g.map_mu);
    rc = wtab_extent(&g.wt, va, base, size);
    ReleaseSRWLockExclusive(&g.map_mu);
    return rc;
}

int plat_get_stats(struct plat_stats *stats)
{
    int rc;

    if (stats == NULL)
        return PLAT_EFAULT;
    rc = ensure_init();
    if (rc != 0)
        return rc;
    lock_both();
    stats_snapshot(stats, &g.stats, &g.wt, atomic_load(&g.failed_calls));
    stats->vmas_in_use = 0; /* Windows has no mapping budget to count against */
    stats->vmas_peak = 0;
    stats->frames_allocated = g.held;
    stats->huge_frames_allocated = 0;
    stats->frames_peak = g.peak;
    unlock_both();
    return 0;
}

/* ---- Public entry points: every failure is counted here, once ---------------------------- */

static int counted(int rc)
{
    if (rc != 0)
        atomic_fetch_add_explicit(&g.failed_calls, 1, memory_order_relaxed);
    return rc;
}

int plat_frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node)
{
    return counted(do_frames_alloc(count, frames, flags, numa_node));
}

int plat_frames_free(size_t *count, const plat_frame_t *frames)
{
    return counted(do_frames_free(count, frames));
}

int plat_map(void *va, size_t count, const plat_frame_t *frames)
{
    return counted(do_map(va, count, frames));
}

int plat_map_scatter(void *const *vas, size_t count, const plat_frame_t *frames)
{
    return counted(do_map_scatter(vas, count, frames));
}
