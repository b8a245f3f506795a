/*
 * awe/compat/win32_awe.c: the AWE frame and mapping calls. Each checks what only the Windows API
 * has (the process handle, the privilege, pointer arguments) and hands the rest to awe_*, whose
 * rules are Windows' own (docs/awe-semantics.md); the error code comes back through the one table
 * in win32_error.c. Huge frames are never asked for: they exist in the native API only.
 */
#include "win32_internal.h"

#include <assert.h>

static_assert(sizeof(ULONG_PTR) == sizeof(awe_frame_t), "a PFN must be as wide as a frame");
static_assert(sizeof(ULONG_PTR) == sizeof(size_t), "counts pass through size_t");

/*
 * Allocation, in steps:
 *   1. NumberOfPages must point somewhere (ERROR_NOACCESS); the process must be this one
 *      (ERROR_INVALID_HANDLE); SeLockMemoryPrivilege must be enabled (ERROR_PRIVILEGE_NOT_HELD).
 *      Failing any of these leaves *NumberOfPages alone.
 *   2. A count of 0 succeeds at once. Otherwise PageArray must point somewhere.
 *   3. awe_frames_alloc fills PageArray and may lower the count; on error it allocated nothing.
 *      The memory is committed now (AWE_FRAMES_POPULATE), as Windows hands out real pages: a
 *      shortage shows as a lower count or ERROR_NO_SYSTEM_RESOURCES here, not later.
 */
static BOOL allocate_frames(HANDLE process, PULONG_PTR count, PULONG_PTR pfns, int node)
{
    size_t n;
    int rc;

    /* Step 1 */
    if (count == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    if (!awewin32_is_current_process(process))
        return awewin32_fail(ERROR_INVALID_HANDLE);
    if (!awewin32_lock_memory_enabled())
        return awewin32_fail(ERROR_PRIVILEGE_NOT_HELD);
    /* Step 2 */
    if (*count == 0)
        return TRUE;
    if (pfns == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    /* Step 3 */
    n = (size_t)*count;
    rc = awe_frames_alloc(&n, (awe_frame_t *)pfns, AWE_FRAMES_POPULATE, node);
    if (rc != AWE_OK)
        return awewin32_fail_awe(rc);
    *count = (ULONG_PTR)n;
    return TRUE;
}

AWEWIN32_API BOOL WINAPI AllocateUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                                   PULONG_PTR PageArray)
{
    return allocate_frames(hProcess, NumberOfPages, PageArray, -1);
}

AWEWIN32_API BOOL WINAPI AllocateUserPhysicalPagesNuma(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                                       PULONG_PTR PageArray, DWORD nndPreferred)
{
    int node;

    if (nndPreferred == NUMA_NO_PREFERRED_NODE)
        node = -1;
    else if (nndPreferred > 0x7fffffffu)
        return awewin32_fail(ERROR_INVALID_PARAMETER);
    else
        node = (int)nndPreferred;
    return allocate_frames(hProcess, NumberOfPages, PageArray, node);
}

/* Frees in array order and stops at the first frame that is not ours: *NumberOfPages then says
 * how many were freed (awe_frames_free updates it; on success it is unchanged). */
AWEWIN32_API BOOL WINAPI FreeUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                               PULONG_PTR PageArray)
{
    size_t n;
    int rc;

    if (NumberOfPages == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    if (!awewin32_is_current_process(hProcess))
        return awewin32_fail(ERROR_INVALID_HANDLE);
    if (*NumberOfPages == 0)
        return awewin32_fail(ERROR_INVALID_PARAMETER);
    if (PageArray == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    n = (size_t)*NumberOfPages;
    rc = awe_frames_free(&n, (const awe_frame_t *)PageArray);
    *NumberOfPages = (ULONG_PTR)n;
    if (rc != AWE_OK)
        return awewin32_fail_awe(rc);
    return TRUE;
}

AWEWIN32_API BOOL WINAPI MapUserPhysicalPages(PVOID VirtualAddress, ULONG_PTR NumberOfPages,
                                              PULONG_PTR PageArray)
{
    int rc = awe_map(VirtualAddress, (size_t)NumberOfPages, (const awe_frame_t *)PageArray);

    if (rc != AWE_OK)
        return awewin32_fail_awe(rc);
    return TRUE;
}

AWEWIN32_API BOOL WINAPI MapUserPhysicalPagesScatter(PVOID *VirtualAddresses,
                                                     ULONG_PTR NumberOfPages, PULONG_PTR PageArray)
{
    int rc;

    if (NumberOfPages == 0)
        return TRUE;
    if (VirtualAddresses == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    rc = awe_map_scatter((void *const *)VirtualAddresses, (size_t)NumberOfPages,
                         (const awe_frame_t *)PageArray);
    if (rc != AWE_OK)
        return awewin32_fail_awe(rc);
    return TRUE;
}
