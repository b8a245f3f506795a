/*
 * awe/compat/win32_virtual.c: VirtualAlloc, VirtualFree and VirtualProtect.
 *
 * Two kinds of region come out of VirtualAlloc:
 *
 *   AWE window   MEM_RESERVE | MEM_PHYSICAL    awe_window_reserve; the native layer knows it
 *                                              (awe_query, awe_window_find), we keep no record
 *   plain        MEM_RESERVE and/or MEM_COMMIT awe_vm_reserve / _commit / _protect / _decommit
 *                                              / _release, recorded in the registry below
 *
 * The registry: a list of plain reservations, each with its size and one byte per page that
 * says whether the page is committed and with which protection (0: reserved only). It is what
 * lets VirtualFree(MEM_RELEASE) find the size awe_vm_release needs, VirtualProtect report the
 * old protection, and both refuse pages that are not committed. Guarded by the compat lock,
 * held across the awe_vm_* calls so that a region and its record change together.
 *
 *   region:  base                                              base + size
 *            |  page 0  |  page 1  |  page 2  |  ...  | page n-1 |
 *   pages[]:    0x03       0x03       0          ...     0x02
 *               RW         RW         reserved           READONLY
 *
 * Page protection codes: the low 3 bits index the basic protection (prot_table), bit 4 is
 * PAGE_NOCACHE and bit 5 PAGE_WRITECOMBINE; 0 means "not committed".
 */
#include "win32_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct region {
    uintptr_t base;      /* first byte; a multiple of the allocation granularity */
    size_t size;         /* bytes reserved (whole pages) */
    unsigned char *page; /* per page: its protection code, 0 when not committed */
    struct region *next; /* next plain region */
};

/* Plain reservations. Guarded by the compat lock. */
static struct region *regions;

/* The basic protections, in code order (code = index + 1), and what they become. */
static const struct {
    DWORD win32;  /* PAGE_* */
    unsigned awe; /* AWE_PROT_* */
} prot_table[] = {
    {PAGE_NOACCESS, AWE_PROT_NONE},
    {PAGE_READONLY, AWE_PROT_READ},
    {PAGE_READWRITE, AWE_PROT_READ | AWE_PROT_WRITE},
    {PAGE_EXECUTE, AWE_PROT_READ | AWE_PROT_EXEC}, /* execute implies read on our CPUs */
    {PAGE_EXECUTE_READ, AWE_PROT_READ | AWE_PROT_EXEC},
    {PAGE_EXECUTE_READWRITE, AWE_PROT_READ | AWE_PROT_WRITE | AWE_PROT_EXEC},
};
#define PROT_CODE_NOCACHE      0x10u
#define PROT_CODE_WRITECOMBINE 0x20u
#define PROT_CODE_BASIC        0x07u

/* Reads flProtect: stores the page code and the platform protection, or returns the Win32 error.
 * PAGE_NOCACHE and PAGE_WRITECOMBINE are accepted and recorded but change nothing (the OS gives
 * user memory no such control); PAGE_GUARD cannot be emulated. PAGE_WRITECOPY and
 * PAGE_EXECUTE_WRITECOPY are for mapped views of files, which VirtualAlloc does not make: they
 * are invalid here as on Windows. */
static DWORD parse_protection(DWORD prot, unsigned char *code, unsigned *awe)
{
    DWORD basic = prot & 0xffu;
    DWORD extra = prot & ~(DWORD)0xffu;
    size_t i;

    if (extra & PAGE_GUARD)
        return ERROR_NOT_SUPPORTED;
    if ((extra & ~(DWORD)(PAGE_NOCACHE | PAGE_WRITECOMBINE)) != 0 ||
        extra == (PAGE_NOCACHE | PAGE_WRITECOMBINE) || (extra != 0 && basic == PAGE_NOACCESS))
        return ERROR_INVALID_PARAMETER;
    for (i = 0; i < sizeof(prot_table) / sizeof(prot_table[0]); i++) {
        if (prot_table[i].win32 == basic) {
            *code = (unsigned char)(i + 1);
            if (extra & PAGE_NOCACHE)
                *code |= PROT_CODE_NOCACHE;
            if (extra & PAGE_WRITECOMBINE)
                *code |= PROT_CODE_WRITECOMBINE;
            *awe = prot_table[i].awe;
            return ERROR_SUCCESS;
        }
    }
    return ERROR_INVALID_PARAMETER;
}

/* The PAGE_* value of a nonzero page code. */
static DWORD protection_of(unsigned char code)
{
    DWORD prot = prot_table[(code & PROT_CODE_BASIC) - 1].win32;

    if (code & PROT_CODE_NOCACHE)
        prot |= PAGE_NOCACHE;
    if (code & PROT_CODE_WRITECOMBINE)
        prot |= PAGE_WRITECOMBINE;
    return prot;
}

static unsigned prot_of(unsigned char code)
{
    return prot_table[(code & PROT_CODE_BASIC) - 1].awe;
}

/* Page size and allocation granularity (the platform fills its caps once). */
static void geometry(size_t *page, size_t *granularity)
{
    struct awe_caps caps;

    if (awe_get_caps(&caps) == AWE_OK) {
        *page = caps.page_size;
        *granularity = caps.alloc_granularity;
    } else {
        *page = 4096;
        *granularity = 65536;
    }
}

/* The pages holding [addr, addr + size): [*lo, *hi). FALSE if the range wraps around. */
static BOOL page_range(uintptr_t addr, size_t size, size_t page, uintptr_t *lo, uintptr_t *hi)
{
    if (size > UINTPTR_MAX - addr || addr + size > UINTPTR_MAX - (page - 1))
        return FALSE;
    *lo = addr & ~(uintptr_t)(page - 1);
    *hi = (addr + size + page - 1) & ~(uintptr_t)(page - 1);
    return TRUE;
}

/* The plain region holding address p, or NULL. Needs the compat lock. */
static struct region *region_find(uintptr_t p)
{
    struct region *r;

    for (r = regions; r != NULL; r = r->next) {
        if (p >= r->base && p - r->base < r->size)
            return r;
    }
    return NULL;
}

/* True when [lo, hi) lies inside r. */
static BOOL region_holds(const struct region *r, uintptr_t lo, uintptr_t hi)
{
    return lo >= r->base && hi > lo && hi - r->base <= r->size;
}

/* ---- VirtualAlloc ------------------------------------------------------------------------- */

/* An AWE window: exactly MEM_RESERVE | MEM_PHYSICAL (MEM_TOP_DOWN is accepted and ignored) and
 * PAGE_READWRITE; the pages holding [want, want + size), from want rounded down to the
 * allocation granularity. No privilege is needed to reserve. */
static LPVOID reserve_window(uintptr_t want, size_t size, DWORD type, DWORD prot)
{
    size_t page, gran, len = size;
    uintptr_t lo, hi, base_want = 0;
    void *base = NULL;
    int rc;

    if ((type & ~(DWORD)MEM_TOP_DOWN) != (MEM_RESERVE | MEM_PHYSICAL) || prot != PAGE_READWRITE ||
        size == 0) {
        awewin32_fail(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    if (want != 0) {
        geometry(&page, &gran);
        if (!page_range(want, size, page, &lo, &hi)) {
            awewin32_fail(ERROR_INVALID_PARAMETER);
            return NULL;
        }
        base_want = want & ~(uintptr_t)(gran - 1);
        len = hi - base_want;
    }
    rc = awe_window_reserve((void *)base_want, len, 0, &base);
    if (rc != AWE_OK) {
        awewin32_fail_awe(rc);
        return NULL;
    }
    return base;
}

/* A plain reservation, committed too when `commit_code` is nonzero. Needs the compat lock. */
static LPVOID reserve_plain(uintptr_t want, size_t size, unsigned char commit_code)
{
    size_t page, gran, len;
    uintptr_t lo, hi, base_want = 0;
    struct region *r;
    void *base = NULL;
    int rc;

    geometry(&page, &gran);
    if (!page_range(want, size, page, &lo, &hi)) {
        awewin32_fail(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    if (want != 0)
        base_want = want & ~(uintptr_t)(gran - 1);
    len = hi - (want != 0 ? base_want : lo);
    r = calloc(1, sizeof(*r));
    if (r != NULL)
        r->page = calloc(len / page, 1);
    if (r == NULL || r->page == NULL) {
        free(r);
        awewin32_fail(ERROR_NOT_ENOUGH_MEMORY);
        return NULL;
    }
    rc = awe_vm_reserve((void *)base_want, len, &base);
    if (rc == 0 && commit_code != 0) {
        rc = awe_vm_commit(base, len, prot_of(commit_code));
        if (rc != 0)
            awe_vm_release(base, len);
    }
    if (rc != 0) {
        free(r->page);
        free(r);
        awewin32_fail_awe(rc);
        return NULL;
    }
    r->base = (uintptr_t)base;
    r->size = len;
    if (commit_code != 0)
        memset(r->page, commit_code, len / page);
    r->next = regions;
    regions = r;
    return base;
}

/*
 * Committing [lo, hi) inside region r, in steps (needs the compat lock):
 *   1. Commit each run of pages that are not committed yet; if one fails, decommit the runs
 *      this call committed and fail (nothing changed).
 *   2. Give pages that were already committed the new protection (their contents stay). This
 *      step can fail only when the OS runs out of mappings; the pages it did not reach keep
 *      their old protection and record, and the call fails.
 *   3. Record the new code of every page that now has it.
 */
static BOOL commit_range(struct region *r, uintptr_t lo, uintptr_t hi, size_t page,
                         unsigned char code)
{
    size_t first = (lo - r->base) / page, end = (hi - r->base) / page, i, j, k, m;
    int rc, failed = 0;

    /* Step 1 */
    for (i = first; i < end; i = j) {
        BOOL committed = r->page[i] != 0;

        for (j = i + 1; j < end && (r->page[j] != 0) == committed; j++)
            ;
        if (committed)
            continue;
        rc = awe_vm_commit((void *)(r->base + i * page), (j - i) * page, prot_of(code));
        if (rc != 0) {
            for (k = first; k < i; k = m) {
                for (m = k + 1; m < i && (r->page[m] != 0) == (r->page[k] != 0); m++)
                    ;
                if (r->page[k] == 0)
                    awe_vm_decommit((void *)(r->base + k * page), (m - k) * page);
            }
            return awewin32_fail_awe(rc);
        }
    }
    /* Steps 2 and 3, one run of equal codes at a time */
    for (i = first; i < end; i = j) {
        unsigned char old = r->page[i];

        for (j = i + 1; j < end && r->page[j] == old; j++)
            ;
        if (old != 0 && failed == 0 && prot_of(old) != prot_of(code))
            failed = awe_vm_protect((void *)(r->base + i * page), (j - i) * page, prot_of(code));
        if (old == 0 || failed == 0)
            memset(r->page + i, code, j - i);
    }
    if (failed != 0)
        return awewin32_fail_awe(failed);
    return TRUE;
}

/*
 * VirtualAlloc, in steps:
 *   1. MEM_PHYSICAL: an AWE window (reserve_window has its rules).
 *   2. Check the allocation type: known flags only; MEM_RESET / MEM_RESET_UNDO alone; some of
 *      MEM_RESERVE / MEM_COMMIT otherwise. MEM_LARGE_PAGES and MEM_WRITE_WATCH are refused with
 *      ERROR_NOT_SUPPORTED (large pages exist in the native API only).
 *   3. MEM_RESET / MEM_RESET_UNDO: the range must be committed; the contents are kept (allowed:
 *      MEM_RESET only says the data is no longer of interest).
 *   4. Check size and protection.
 *   5. MEM_RESERVE, or MEM_COMMIT at no address: a new plain region (committed if asked).
 *   6. MEM_COMMIT in an existing reservation: commit_range.
 */
AWEWIN32_API LPVOID WINAPI VirtualAlloc(LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType,
                                        DWORD flProtect)
{
    const DWORD known = MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_RESET_UNDO | MEM_TOP_DOWN |
                        MEM_WRITE_WATCH | MEM_PHYSICAL | MEM_LARGE_PAGES;
    uintptr_t want = (uintptr_t)lpAddress, lo, hi;
    DWORD type = flAllocationType, err;
    size_t page, gran, i;
    struct region *r;
    unsigned char code = 0;
    unsigned awe_prot;
    LPVOID result = NULL;

    /* Step 1 */
    if (type & MEM_PHYSICAL)
        return reserve_window(want, dwSize, type, flProtect);
    /* Step 2 */
    if ((type & ~known) != 0) {
        awewin32_fail(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    geometry(&page, &gran);
    if (type & (MEM_RESET | MEM_RESET_UNDO)) {
        /* Step 3 */
        if ((type != MEM_RESET && type != MEM_RESET_UNDO) || dwSize == 0 ||
            !page_range(want, dwSize, page, &lo, &hi)) {
            awewin32_fail(ERROR_INVALID_PARAMETER);
            return NULL;
        }
        awewin32_lock();
        r = region_find(lo);
        if (r != NULL && region_holds(r, lo, hi)) {
            result = (LPVOID)lo;
            for (i = (lo - r->base) / page; i < (hi - r->base) / page; i++) {
                if (r->page[i] == 0)
                    result = NULL;
            }
        }
        awewin32_unlock();
        if (result == NULL)
            awewin32_fail(ERROR_INVALID_ADDRESS);
        return result;
    }
    if ((type & (MEM_RESERVE | MEM_COMMIT)) == 0) {
        awewin32_fail(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    if (type & (MEM_LARGE_PAGES | MEM_WRITE_WATCH)) {
        awewin32_fail(ERROR_NOT_SUPPORTED);
        return NULL;
    }
    /* Step 4 */
    if (dwSize == 0) {
        awewin32_fail(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    err = parse_protection(flProtect, &code, &awe_prot);
    if (err != ERROR_SUCCESS) {
        awewin32_fail(err);
        return NULL;
    }
    /* Step 5 */
    awewin32_lock();
    if ((type & MEM_RESERVE) || want == 0) {
        result = reserve_plain(want, dwSize, (type & MEM_COMMIT) ? code : 0);
        awewin32_unlock();
        return result;
    }
    /* Step 6 */
    if (!page_range(want, dwSize, page, &lo, &hi)) {
        awewin32_unlock();
        awewin32_fail(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    r = region_find(lo);
    if (r == NULL || !region_holds(r, lo, hi)) {
        awewin32_unlock();
        awewin32_fail(ERROR_INVALID_ADDRESS);
        return NULL;
    }
    if (commit_range(r, lo, hi, page, code))
        result = (LPVOID)lo;
    awewin32_unlock();
    return result;
}

/* ---- VirtualFree -------------------------------------------------------------------------- */

/* VirtualFree on a plain region. Needs the compat lock. */
static BOOL free_plain(struct region *r, uintptr_t addr, size_t size, DWORD type, size_t page)
{
    struct region **link;
    uintptr_t lo, hi;
    int rc;

    if (type == MEM_RELEASE) {
        if (size != 0)
            return awewin32_fail(ERROR_INVALID_PARAMETER);
        if (addr != r->base)
            return awewin32_fail(ERROR_INVALID_ADDRESS);
        rc = awe_vm_release((void *)r->base, r->size);
        if (rc != 0)
            return awewin32_fail_awe(rc);
        for (link = &regions; *link != r; link = &(*link)->next)
            ;
        *link = r->next;
        free(r->page);
        free(r);
        return TRUE;
    }
    /* MEM_DECOMMIT: size 0 means the whole region, from its base only. */
    if (size == 0) {
        if (addr != r->base)
            return awewin32_fail(ERROR_INVALID_ADDRESS);
        lo = r->base;
        hi = r->base + r->size;
    } else if (!page_range(addr, size, page, &lo, &hi) || !region_holds(r, lo, hi)) {
        return awewin32_fail(ERROR_INVALID_ADDRESS);
    }
    rc = awe_vm_decommit((void *)lo, hi - lo);
    if (rc != 0)
        return awewin32_fail_awe(rc);
    memset(r->page + (lo - r->base) / page, 0, (hi - lo) / page);
    return TRUE;
}

/*
 * VirtualFree, in steps:
 *   1. The free type is MEM_RELEASE or MEM_DECOMMIT, one of them (ERROR_INVALID_PARAMETER).
 *   2. A plain region holding lpAddress: free_plain.
 *   3. An AWE window holding lpAddress: only (base, 0, MEM_RELEASE) releases it (its frames stay
 *      allocated with their contents); anything else is ERROR_INVALID_ADDRESS, window untouched.
 *   4. Anything else: ERROR_INVALID_ADDRESS.
 */
AWEWIN32_API BOOL WINAPI VirtualFree(LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType)
{
    uintptr_t addr = (uintptr_t)lpAddress;
    size_t page, gran;
    struct region *r;
    awe_frame_t frame;
    BOOL ok;
    int rc;

    /* Step 1 */
    if (dwFreeType != MEM_RELEASE && dwFreeType != MEM_DECOMMIT)
        return awewin32_fail(ERROR_INVALID_PARAMETER);
    if (lpAddress == NULL)
        return awewin32_fail(ERROR_INVALID_ADDRESS);
    /* Step 2 */
    geometry(&page, &gran);
    awewin32_lock();
    r = region_find(addr);
    if (r != NULL) {
        ok = free_plain(r, addr, dwSize, dwFreeType, page);
        awewin32_unlock();
        return ok;
    }
    awewin32_unlock();
    /* Step 3 */
    if (awe_query(lpAddress, &frame) == AWE_OK) {
        if (dwFreeType != MEM_RELEASE || dwSize != 0)
            return awewin32_fail(ERROR_INVALID_ADDRESS);
        rc = awe_window_release(lpAddress);
        if (rc != AWE_OK)
            return awewin32_fail_awe(rc);
        return TRUE;
    }
    /* Step 4 */
    return awewin32_fail(ERROR_INVALID_ADDRESS);
}

/* ---- VirtualProtect ----------------------------------------------------------------------- */

/*
 * VirtualProtect, in steps:
 *   1. lpflOldProtect must point somewhere (ERROR_NOACCESS); the size must not be 0.
 *   2. A plain region: every page of the range committed (else ERROR_INVALID_ADDRESS), the new
 *      protection valid; the old protection reported is the first page's.
 *   3. An AWE window: the range inside it and PAGE_READWRITE only (its pages are always
 *      read/write); anything else ERROR_INVALID_ADDRESS.
 */
AWEWIN32_API BOOL WINAPI VirtualProtect(LPVOID lpAddress, SIZE_T dwSize, DWORD flNewProtect,
                                        PDWORD lpflOldProtect)
{
    uintptr_t addr = (uintptr_t)lpAddress, lo, hi;
    size_t page, gran, i, first, end;
    struct region *r;
    unsigned char code = 0;
    unsigned awe_prot;
    void *wbase = NULL;
    size_t wsize = 0;
    DWORD err, old;
    int rc;

    /* Step 1 */
    if (lpflOldProtect == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    geometry(&page, &gran);
    if (dwSize == 0 || !page_range(addr, dwSize, page, &lo, &hi))
        return awewin32_fail(ERROR_INVALID_PARAMETER);
    /* Step 2 */
    awewin32_lock();
    r = region_find(lo);
    if (r != NULL) {
        if (!region_holds(r, lo, hi)) {
            awewin32_unlock();
            return awewin32_fail(ERROR_INVALID_ADDRESS);
        }
        first = (lo - r->base) / page;
        end = (hi - r->base) / page;
        for (i = first; i < end; i++) {
            if (r->page[i] == 0) {
                awewin32_unlock();
                return awewin32_fail(ERROR_INVALID_ADDRESS);
            }
        }
        err = parse_protection(flNewProtect, &code, &awe_prot);
        if (err != ERROR_SUCCESS) {
            awewin32_unlock();
            return awewin32_fail(err);
        }
        old = protection_of(r->page[first]);
        rc = awe_vm_protect((void *)lo, hi - lo, awe_prot);
        if (rc != 0) {
            awewin32_unlock();
            return awewin32_fail_awe(rc);
        }
        memset(r->page + first, code, end - first);
        awewin32_unlock();
        *lpflOldProtect = old;
        return TRUE;
    }
    awewin32_unlock();
    /* Step 3 */
    if (awe_window_find((void *)lo, &wbase, &wsize) == 0) {
        if (hi - (uintptr_t)wbase > wsize || flNewProtect != PAGE_READWRITE)
            return awewin32_fail(ERROR_INVALID_ADDRESS);
        *lpflOldProtect = PAGE_READWRITE;
        return TRUE;
    }
    return awewin32_fail(ERROR_INVALID_ADDRESS);
}
