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
/* The frame state word (FRAME_OWNED, FRAME_PENDING, FRAME_VA_MASK), struct window, struct change,
 * the window table, the plan and the counters are common/awe_common.h's (`plat_core`); so are the
 * entry points whose rules do not depend on the OS (common/awe_entry.c), which call the hooks
 * defined here. Every window has shift == g.shift and pool POOL_SMALL. */

/* One entry of the frame table. */
struct frame {
    _Atomic uintptr_t state; /* see above */
    ULONG_PTR pfn;           /* owned: the Windows page number; free: next free index + 1 */
};

/* What Windows keeps beside `plat_core` (common/awe_common.h). */
static struct {
    INIT_ONCE once;
    int init_rc;    /* 0, or why the platform could not start */
    unsigned shift; /* log2 of the page size */

    SRWLOCK map_mu; /* see "Locks" above */
    SRWLOCK alloc_mu;

    struct frame *table;  /* capacity entries reserved; [0, committed) committed */
    uint64_t capacity;    /* entries the table may hold: the machine's pages */
    uint64_t committed;   /* under alloc_mu */
    _Atomic uint64_t top; /* entries ever handed out: frame numbers 1..top can be ours */
    uint64_t free_head;   /* under alloc_mu: first free index + 1 (0: none below top) */
    uint64_t held;        /* under alloc_mu: frames owned now */
    uint64_t peak;        /* under alloc_mu: most frames ever owned at once */

    void *
        *os_vas; /* under map_mu: the call's addresses and PFNs, for Windows (plat_core.plan_cap) */
    ULONG_PTR *os_pfns;

    _Atomic(const char *) unavailable; /* plat_awe_unavailable_reason() */
    char privilege_reason[256];        /* written once, by the init */
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
    struct plat_caps *c = &plat_core.caps;
    MEMORYSTATUSEX ms;
    SYSTEM_INFO si;
    ULONG node;
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
    plat_core.max_numa_node = GetNumaHighestNodeNumber(&node) && node < 4096 ? (int)node : 0;

    /* The table is sized to the machine's pages, as the Linux memfd is, but never more than an
     * eighth of the address space (a 32-bit process on a machine with more than 4 GiB). */
    g.capacity = ms.ullTotalPhys >> g.shift;
    if (g.capacity > (SIZE_MAX / 8) / sizeof(struct frame))
        g.capacity = (SIZE_MAX / 8) / sizeof(struct frame);
    c->frame_limit = g.capacity;
    plat_core.frame_capacity = g.capacity;

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

int ensure_init(void)
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

/* The lock hooks of common/awe_common.h. */
void map_lock(void)
{
    assert(!lock_held(LOCK_ALLOC)); /* lock order: map_mu before alloc_mu */
    AcquireSRWLockExclusive(&g.map_mu);
    lock_note_taken(LOCK_MAP);
}

void map_unlock(void)
{
    lock_note_released(LOCK_MAP);
    ReleaseSRWLockExclusive(&g.map_mu);
}

void alloc_lock(void)
{
    AcquireSRWLockExclusive(&g.alloc_mu);
    lock_note_taken(LOCK_ALLOC);
}

void alloc_unlock(void)
{
    lock_note_released(LOCK_ALLOC);
    ReleaseSRWLockExclusive(&g.alloc_mu);
}

/* The hook of common/awe_common.h: no huge frames through the AWE calls. */
void caps_os_fill(struct plat_caps *caps)
{
    (void)caps;
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

    assert_lock_held(LOCK_ALLOC);
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

    assert_lock_held(LOCK_ALLOC);
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
    assert_lock_held(LOCK_ALLOC);
    g.table[index].pfn = (ULONG_PTR)g.free_head;
    g.free_head = index + 1;
}

/* The hook of common/awe_common.h; common/awe_entry.c checked the pointers, flags, node and
 * *count > 0.
 * Steps:
 * 1. Huge frames are PLAT_ENOTSUP.
 * 2. Under alloc_mu, set up the table on first use and check the limit: none left is EDQUOT.
 * 3. Ask Windows for the PFNs (AllocateUserPhysicalPages, or ...Numa with a preferred node). It
 *    may give fewer. A refusal for the privilege, or stubs (ERROR_CALL_NOT_IMPLEMENTED), is
 *    PLAT_EPERM with the reason kept; no frame at all is PLAT_ENOMEM.
 * 4. Give each PFN a table entry. Should the table not grow (no memory to commit it), the PFNs
 *    without an entry go back to Windows and the call returns what it has.
 * 5. Publish the frames as owned (pfn first, then the state with release ordering). */
int do_frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node)
{
    ULONG_PTR *pfns = NULL, n_os;
    uint64_t limit;
    size_t n, got = 0, i;
    DWORD err;
    int rc;

    /* Step 1 */
    if ((flags & PLAT_FRAMES_HUGE) != 0)
        return PLAT_ENOTSUP;

    /* Step 2 */
    alloc_lock();
    rc = table_setup();
    if (rc != 0)
        goto out;
    limit = plat_core.caps.frame_limit;
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
    atomic_store(&plat_core.ever_allocated, true);
    *count = got;
out:
    alloc_unlock();
    free(pfns);
    return rc;
}

/* ---- The plan: validate, then one OS call ------------------------------------------------ */

/* The hook of common/awe_common.h: the addresses and PFNs of the one OS call (void * and
 * ULONG_PTR are no larger than struct change, so plan_reserve's overflow check covers them). */
static_assert(sizeof(void *) <= sizeof(struct change) && sizeof(ULONG_PTR) <= sizeof(struct change),
              "the OS call's arrays must fit where changes do");
int plan_room(size_t cap)
{
    void **v;
    ULONG_PTR *p;

    assert_lock_held(LOCK_MAP);
    v = realloc(g.os_vas, cap * sizeof(*v));
    if (v == NULL)
        return PLAT_ENOMEM;
    g.os_vas = v;
    p = realloc(g.os_pfns, cap * sizeof(*p));
    if (p == NULL)
        return PLAT_ENOMEM;
    g.os_pfns = p;
    return 0;
}

/* The hook of common/awe_common.h. Steps (caller holds map_mu; plan[0..n) is validated,
 * old_frame filled in; `range` is the base of the call's pages when they are consecutive pages of
 * one window in plan order, else NULL):
 * 1. Choose the call. A range whose entries all map frames, or all unmap, is one
 *    MapUserPhysicalPages (PFNs, or NULL). Anything else is one MapUserPhysicalPagesScatter over
 *    the entries that change something (an unmap of a page already unmapped changes nothing);
 *    when none do, no call is made.
 * 2. Make it. Windows does all of it or none of it: on failure nothing has changed.
 * 3. Commit: slots, frame state words, counters. */
int plan_apply(size_t n, void *range)
{
    size_t i, m = 0, nmaps = 0;
    DWORD err = 0;
    bool call = true;

    assert_lock_held(LOCK_MAP);
    /* Step 1 */
    for (i = 0; i < n; i++)
        nmaps += plat_core.plan[i].new_frame != 0;
    if (range != NULL && (nmaps == n || nmaps == 0)) {
        for (i = 0; i < n && nmaps == n; i++)
            g.os_pfns[i] = g.table[plat_core.plan[i].new_frame - 1].pfn;
        m = n;
    } else {
        range = NULL;
        for (i = 0; i < n; i++) {
            const struct change *c = &plat_core.plan[i];

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
        plat_core.plan[i].w->slots[plat_core.plan[i].page] = plat_core.plan[i].new_frame;
    plan_commit(plat_core.plan, n, &plat_core.stats);
    plat_core.stats.runs += call;
    return 0;
}

int plat_frames_copy(const plat_frame_t *frames, size_t count, void *buf, int to_frames)
{
    (void)count;
    (void)to_frames;
    if (frames == NULL || buf == NULL)
        return PLAT_EFAULT;
    return PLAT_ENOTSUP; /* Windows' AWE moves frame contents only through mappings */
}

/* ---- Freeing frames ---------------------------------------------------------------------- */

/* The hook of common/awe_common.h; common/awe_entry.c checked the pointers, *count > 0 and that a
 * frame was ever allocated.
 * Steps:
 * 1. A count whose PFNs could not fit in the address space is EINVAL.
 * 2. Under map_mu, find the valid prefix: entries in array order that are owned frames not seen
 *    earlier in the array. It ends at the first bad entry (ENXIO), or at the end.
 * 3. Free the prefix's PFNs with one FreeUserPhysicalPages, still under map_mu: Windows unmaps
 *    the mapped ones first, so the slot tables must change in the same critical section. Should
 *    Windows stop early (it says how many it freed), only those count as freed.
 * 4. The freed frames: their pages become unmapped in the slot tables, their state 0.
 * 5. Under alloc_mu (after map_mu: the lock order), their entries go back on the free list. */
int do_frames_free(size_t *count, const plat_frame_t *frames)
{
    size_t n = *count, valid, freed, i;
    ULONG_PTR *pfns = NULL, n_os;
    DWORD err = 0;
    int stop_rc = 0;

    /* Step 1 */
    if (n > SIZE_MAX / sizeof(*pfns))
        return PLAT_EINVAL;

    /* Step 2 */
    map_lock();
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
            struct window *w = wtab_find(&plat_core.wt, va);

            assert(w != NULL);
            w->slots[(va - w->base) >> g.shift] = 0;
            plat_core.stats.pages_unmapped++;
        }
        atomic_store_explicit(&e->state, 0, memory_order_relaxed);
    }

    /* Step 5 */
    alloc_lock();
    for (i = 0; i < freed; i++)
        index_put(frames[i] - 1);
    g.held -= freed;
    alloc_unlock();
    map_unlock();
    free(pfns);
    if (stop_rc != 0)
        *count = freed;
    return stop_rc;
}

/* ---- Windows ----------------------------------------------------------------------------- */

/* The hook of common/awe_common.h: VirtualAlloc(MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE) at
 * `want` or anywhere (Windows aligns to its allocation granularity, which is `align`). The
 * arguments are valid here, so ERROR_INVALID_PARAMETER means the system does not do MEM_PHYSICAL
 * (Wine): PLAT_ENOTSUP, with the reason kept. */
int window_os_reserve(struct window *w, uintptr_t want, size_t size, size_t align)
{
    void *at = NULL;
    DWORD err;
    int rc;

    assert_lock_held(LOCK_MAP);
    (void)align;
    err = os_virtual_alloc((void *)want, size, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE, &at);
    if (err != 0) {
        rc = os_to_plat(err);
        if (rc == PLAT_EINVAL) {
            atomic_store(&g.unavailable, physical_reason);
            rc = PLAT_ENOTSUP;
        } else if (rc != PLAT_EADDRNOTAVAIL && rc != PLAT_ENOMEM) {
            rc = PLAT_EIO;
        }
        return rc;
    }
    w->base = (uintptr_t)at;
    return 0;
}

/* The hook of common/awe_common.h: VirtualFree(MEM_RELEASE), which unmaps the window's frames and
 * frees none. */
int window_os_release(struct window *w)
{
    DWORD err;

    assert_lock_held(LOCK_MAP);
    err = os_virtual_free((void *)w->base, 0, MEM_RELEASE);
    if (err != 0)
        return os_to_plat(err) == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    return 0;
}

/* The hook of common/awe_common.h: Windows has no mapping budget to count against. */
void stats_os_fill(struct plat_stats *stats)
{
    assert_lock_held(LOCK_MAP);
    assert_lock_held(LOCK_ALLOC);
    stats->vmas_in_use = 0;
    stats->vmas_peak = 0;
    stats->frames_allocated = g.held;
    stats->huge_frames_allocated = 0;
    stats->frames_peak = g.peak;
}
