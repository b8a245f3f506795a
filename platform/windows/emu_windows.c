/*
 * platform/windows/emu_windows.c: an emulation of the operating system's AWE calls, for tests
 * only (plat_testing_emulate_awe in plat_testing.h).
 *
 * Wine implements AWE as stubs, so under Wine the platform's own AWE code (the frame table, the
 * validation, the plans, the windows' tables) and the page cache above it could not run at all.
 * Armed, this file stands in for Windows behind the same wrappers (os_windows.c), so that all of
 * that code runs, unchanged, against an OS that behaves like Windows' AWE:
 *
 *   - a frame is a heap page holding its contents; its "PFN" is EMU_PFN_BASE + its slot;
 *   - a MEM_PHYSICAL reservation is a plain MEM_RESERVE one, recorded as an emulated region;
 *   - mapping frame f at page va commits va and copies f's contents in; unmapping (or replacing,
 *     or releasing the region, or freeing f) copies the page back into f and decommits it.
 *
 * Since a frame is mapped at one page at most (the AWE rule, which the platform enforces), the
 * copy at the page *is* the frame while it is mapped: the emulation is exact for code that
 * touches a page from one thread at a time, and is nothing like AWE in speed (a copy per map
 * and unmap) or in cross-thread coherence. Every call validates all of its entries before it
 * changes anything, as Windows does. It is armed and disarmed only while the process holds no
 * frame and no window (an OS cannot change under its frames).
 *
 * Not part of libawecache: built into awecache_testing, the test-only library that the tests
 * link (platform/CMakeLists.txt). Arming it points os_windows.c's hook (os_emu) at the calls
 * below.
 */
#include "os_windows.h"

#include "plat_testing.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define EMU_PFN_BASE ((ULONG_PTR)0x1000) /* emulated PFNs: EMU_PFN_BASE + slot, never 0 */

static struct {
    SRWLOCK mu;            /* guards everything below */
    size_t page;           /* the system's page size */
    unsigned char **store; /* per slot: the frame's contents while unmapped; NULL: free */
    uintptr_t *at;         /* per slot: the page it is mapped at, 0 when none */
    size_t cap;            /* slots */
    struct emu_region {
        uintptr_t base;
        size_t size;
    } * regions; /* emulated MEM_PHYSICAL reservations */
    size_t nregions, regions_cap;
} emu = {.mu = SRWLOCK_INIT};

/* The slot of an emulated PFN that holds a frame, or SIZE_MAX. */
static size_t slot_of(ULONG_PTR pfn)
{
    size_t k = (size_t)(pfn - EMU_PFN_BASE);

    return pfn >= EMU_PFN_BASE && k < emu.cap && emu.store[k] != NULL ? k : SIZE_MAX;
}

static bool in_region(uintptr_t va)
{
    for (size_t i = 0; i < emu.nregions; i++)
        if (va - emu.regions[i].base < emu.regions[i].size)
            return true;
    return false;
}

/* Copies the frame mapped at page va (if any) back into its store and decommits the page. */
static void unmap_page(uintptr_t va)
{
    for (size_t k = 0; k < emu.cap; k++) {
        if (emu.at[k] == va) {
            memcpy(emu.store[k], (void *)va, emu.page);
            emu.at[k] = 0;
            VirtualFree((void *)va, emu.page, MEM_DECOMMIT);
            return;
        }
    }
}

/* Maps slot k at page va (which holds nothing now); false when the page cannot be committed. */
static bool map_page(uintptr_t va, size_t k)
{
    if (VirtualAlloc((void *)va, emu.page, MEM_COMMIT, PAGE_READWRITE) == NULL)
        return false;
    memcpy((void *)va, emu.store[k], emu.page);
    emu.at[k] = va;
    return true;
}

static DWORD emu_alloc_frames(ULONG_PTR *count, ULONG_PTR *pfns)
{
    ULONG_PTR got = 0;

    AcquireSRWLockExclusive(&emu.mu);
    for (size_t k = 0; got < *count; k++) {
        if (k == emu.cap) {
            size_t cap = emu.cap ? emu.cap * 2 : 256;
            unsigned char **s = realloc(emu.store, cap * sizeof(*s));
            uintptr_t *a;

            if (s == NULL)
                break;
            emu.store = s;
            a = realloc(emu.at, cap * sizeof(*a));
            if (a == NULL)
                break;
            emu.at = a;
            memset(emu.store + emu.cap, 0, (cap - emu.cap) * sizeof(*s));
            memset(emu.at + emu.cap, 0, (cap - emu.cap) * sizeof(*a));
            emu.cap = cap;
        }
        if (emu.store[k] != NULL)
            continue;
        emu.store[k] = calloc(1, emu.page); /* new frames read as zeros */
        if (emu.store[k] == NULL)
            break;
        pfns[got++] = EMU_PFN_BASE + k;
    }
    ReleaseSRWLockExclusive(&emu.mu);
    if (got == 0)
        return ERROR_NO_SYSTEM_RESOURCES;
    *count = got;
    return 0;
}

static DWORD emu_free_frames(ULONG_PTR *count, ULONG_PTR *pfns)
{
    ULONG_PTR i;
    DWORD err = 0;

    AcquireSRWLockExclusive(&emu.mu);
    for (i = 0; i < *count; i++) {
        size_t k = slot_of(pfns[i]);

        if (k == SIZE_MAX) {
            err = ERROR_INVALID_PARAMETER;
            break;
        }
        if (emu.at[k] != 0)
            VirtualFree((void *)emu.at[k], emu.page, MEM_DECOMMIT);
        emu.at[k] = 0;
        free(emu.store[k]);
        emu.store[k] = NULL;
    }
    ReleaseSRWLockExclusive(&emu.mu);
    *count = i;
    return err;
}

/* Maps or unmaps count pages: page i is vas[i] (or va + i * page when vas is NULL) and receives
 * pfns[i] (pfns NULL, or an entry 0: unmapped). Every entry is checked first. */
static DWORD map_pages(uintptr_t va, void **vas, ULONG_PTR count, const ULONG_PTR *pfns)
{
    DWORD err = 0;
    ULONG_PTR i;

    AcquireSRWLockExclusive(&emu.mu);
    for (i = 0; i < count && err == 0; i++) {
        uintptr_t p = vas != NULL ? (uintptr_t)vas[i] : va + i * emu.page;
        size_t k = pfns != NULL && pfns[i] != 0 ? slot_of(pfns[i]) : 0;

        if (!in_region(p) || k == SIZE_MAX || (pfns != NULL && pfns[i] != 0 && emu.at[k] != 0))
            err = ERROR_INVALID_PARAMETER;
    }
    for (i = 0; i < count && err == 0; i++) {
        uintptr_t p = (vas != NULL ? (uintptr_t)vas[i] : va + i * emu.page) & ~(emu.page - 1);

        unmap_page(p);
        if (pfns != NULL && pfns[i] != 0 && !map_page(p, slot_of(pfns[i])))
            err = ERROR_NOT_ENOUGH_MEMORY; /* not all or nothing here: a test would notice */
    }
    ReleaseSRWLockExclusive(&emu.mu);
    return err;
}

static DWORD emu_map(void *va, ULONG_PTR count, ULONG_PTR *pfns)
{
    return map_pages((uintptr_t)va & ~(emu.page - 1), NULL, count, pfns);
}

static DWORD emu_map_scatter(void **vas, ULONG_PTR count, ULONG_PTR *pfns)
{
    return map_pages(0, vas, count, pfns);
}

static DWORD emu_reserve(void *addr, size_t size, void **out)
{
    void *p = VirtualAlloc(addr, size, MEM_RESERVE, PAGE_NOACCESS);
    DWORD err = 0;

    if (p == NULL)
        return GetLastError();
    AcquireSRWLockExclusive(&emu.mu);
    if (emu.nregions == emu.regions_cap) {
        size_t cap = emu.regions_cap ? emu.regions_cap * 2 : 16;
        struct emu_region *r = realloc(emu.regions, cap * sizeof(*r));

        if (r == NULL) {
            err = ERROR_NOT_ENOUGH_MEMORY;
        } else {
            emu.regions = r;
            emu.regions_cap = cap;
        }
    }
    if (err == 0) {
        emu.regions[emu.nregions].base = (uintptr_t)p;
        emu.regions[emu.nregions].size = (size + emu.page - 1) & ~(emu.page - 1);
        emu.nregions++;
    }
    ReleaseSRWLockExclusive(&emu.mu);
    if (err != 0) {
        VirtualFree(p, 0, MEM_RELEASE);
        return err;
    }
    *out = p;
    return 0;
}

static bool emu_release(void *addr, DWORD *err)
{
    uintptr_t base = (uintptr_t)addr;
    size_t i;

    AcquireSRWLockExclusive(&emu.mu);
    for (i = 0; i < emu.nregions && emu.regions[i].base != base; i++)
        ;
    if (i == emu.nregions) {
        ReleaseSRWLockExclusive(&emu.mu);
        return false; /* not an emulated window: the real call */
    }
    /* Windows unmaps the frames of a released window and frees none: copy them back. */
    for (size_t k = 0; k < emu.cap; k++)
        if (emu.at[k] != 0 && emu.at[k] - base < emu.regions[i].size)
            unmap_page(emu.at[k]);
    *err = VirtualFree(addr, 0, MEM_RELEASE) ? 0 : GetLastError();
    if (*err == 0)
        emu.regions[i] = emu.regions[--emu.nregions];
    ReleaseSRWLockExclusive(&emu.mu);
    return true;
}

static const struct os_emu emu_ops = {
    .alloc_frames = emu_alloc_frames,
    .free_frames = emu_free_frames,
    .map = emu_map,
    .map_scatter = emu_map_scatter,
    .reserve = emu_reserve,
    .release = emu_release,
};

void plat_testing_emulate_awe(int on)
{
    SYSTEM_INFO si;

    AcquireSRWLockExclusive(&emu.mu);
    GetSystemInfo(&si);
    emu.page = si.dwPageSize;
    atomic_store_explicit(&os_emu, on != 0 ? &emu_ops : NULL, memory_order_release);
    ReleaseSRWLockExclusive(&emu.mu);
}
