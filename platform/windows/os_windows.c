/*
 * platform/windows/os_windows.c: the OS-call gate of the Windows platform and the one table from
 * Win32 errors to the platform's codes.
 *
 * Every counted call asks the gate first, and the AWE wrappers ask whether the AWE emulation is
 * armed: two hooks the library never sets, one atomic load each. Fault injection and the
 * emulation (plat_testing.h) are test scaffolding, not part of libawecache: testing_windows.c and
 * emu_windows.c, built into the test-only library awecache_testing (platform/CMakeLists.txt), set
 * them.
 */
#include "os_windows.h"

#include "plat_io.h"

#include <assert.h>
#include <stdatomic.h>

#ifndef ERROR_DISK_QUOTA_EXCEEDED
#define ERROR_DISK_QUOTA_EXCEEDED 1295L /* the SDK's winerror.h has it; mingw-w64's does not */
#endif

_Atomic(os_gate_fn) os_gate_hook;
const struct os_emu *_Atomic os_emu;

/* ---- The error table ---------------------------------------------------------------------- */

/* plat.h's list gives each code's Win32 number and name: they must be Windows' own. */
#define PLAT_WIN32_IS_WINDOWS_(name, value, win32, win32_name, text)                               \
    static_assert((win32) == ERROR_##win32_name,                                                   \
                  "PLAT_" #name ": ERROR_" #win32_name " is not " #win32);
PLAT_ERROR_MAP(PLAT_WIN32_IS_WINDOWS_)
#undef PLAT_WIN32_IS_WINDOWS_

/* Every Win32 error the platform's calls are documented or known to give, and its code. Codes
 * not listed are PLAT_EIO ("the OS failed unexpectedly"). Read top to bottom; the first match
 * wins. The contract's promises that depend on context (a reservation Windows refuses for AWE
 * being PLAT_ENOTSUP, a read at the end of the file being zeros) are decided by the caller before
 * it asks this table, never by a second table. */
static const struct {
    DWORD win;
    int plat;
} error_table[] = {
    {ERROR_SUCCESS, 0},
    /* Arguments and addresses */
    {ERROR_INVALID_PARAMETER, PLAT_EINVAL},
    {ERROR_INVALID_FLAGS, PLAT_EINVAL},
    {ERROR_INVALID_NAME, PLAT_EINVAL}, /* a path Windows cannot name (Linux: ENAMETOOLONG) */
    {ERROR_BAD_PATHNAME, PLAT_EINVAL},
    {ERROR_FILENAME_EXCED_RANGE, PLAT_EINVAL},
    {ERROR_NO_UNICODE_TRANSLATION, PLAT_EINVAL},
    {ERROR_NEGATIVE_SEEK, PLAT_EINVAL},
    {ERROR_INVALID_HANDLE, PLAT_EINVAL},
    {ERROR_INVALID_ADDRESS, PLAT_EADDRNOTAVAIL}, /* taken, or not a region base: 487 */
    {ERROR_NOACCESS, PLAT_EFAULT},
    {ERROR_INVALID_USER_BUFFER, PLAT_EFAULT},
    /* AWE: the privilege, memory, features */
    {ERROR_PRIVILEGE_NOT_HELD, PLAT_EPERM},
    {ERROR_NOT_ALL_ASSIGNED, PLAT_EPERM},
    {ERROR_NOT_ENOUGH_MEMORY, PLAT_ENOMEM},
    {ERROR_OUTOFMEMORY, PLAT_ENOMEM},
    {ERROR_NO_SYSTEM_RESOURCES, PLAT_ENOMEM},
    {ERROR_COMMITMENT_LIMIT, PLAT_ENOMEM},
    {ERROR_WORKING_SET_QUOTA, PLAT_ENOMEM},
    {ERROR_PAGEFILE_QUOTA, PLAT_ENOMEM},
    {ERROR_NOT_ENOUGH_QUOTA, PLAT_ENOMEM},
    {ERROR_NOT_SUPPORTED, PLAT_ENOTSUP},
    {ERROR_CALL_NOT_IMPLEMENTED, PLAT_ENOTSUP}, /* what Wine's AWE stubs answer */
    {ERROR_INVALID_FUNCTION, PLAT_ENOTSUP},
    /* Files */
    {ERROR_FILE_NOT_FOUND, PLAT_ENOENT},
    {ERROR_PATH_NOT_FOUND, PLAT_ENOENT},
    {ERROR_INVALID_DRIVE, PLAT_ENOENT},
    {ERROR_BAD_NETPATH, PLAT_ENOENT},
    {ERROR_BAD_NET_NAME, PLAT_ENOENT},
    {ERROR_DIRECTORY, PLAT_ENOENT}, /* a path component is not a directory (ENOTDIR) */
    {ERROR_FILE_EXISTS, PLAT_EEXIST},
    {ERROR_ALREADY_EXISTS, PLAT_EEXIST},
    {ERROR_ACCESS_DENIED, PLAT_EACCES},
    {ERROR_WRITE_PROTECT, PLAT_EACCES},
    {ERROR_CANT_ACCESS_FILE, PLAT_EACCES},
    {ERROR_DELETE_PENDING, PLAT_EACCES},
    {ERROR_LOCK_VIOLATION, PLAT_ELOCKED},    /* LockFileEx: another handle holds the lock */
    {ERROR_SHARING_VIOLATION, PLAT_ELOCKED}, /* another open refused to share the file */
    {ERROR_USER_MAPPED_FILE, PLAT_ELOCKED},  /* resize while a view of the file is mapped */
    {ERROR_DISK_FULL, PLAT_ENOSPC},
    {ERROR_HANDLE_DISK_FULL, PLAT_ENOSPC},
    {ERROR_DISK_QUOTA_EXCEEDED, PLAT_ENOSPC},
    {ERROR_FILE_TOO_LARGE, PLAT_EFBIG},
    {ERROR_TOO_MANY_OPEN_FILES, PLAT_EMFILE},
    {ERROR_NO_MORE_SEARCH_HANDLES, PLAT_EMFILE},
};

int os_to_plat(DWORD err)
{
    for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
        if (error_table[i].win == err)
            return error_table[i].plat;
    return PLAT_EIO;
}

/* ---- The gate ----------------------------------------------------------------------------- */

DWORD os_gate(void)
{
    os_gate_fn hook = atomic_load_explicit(&os_gate_hook, memory_order_acquire);

    return hook == NULL ? 0 : hook();
}

/* The AWE emulation, when a test armed it; NULL: Windows' own AWE. */
static const struct os_emu *emu_armed(void)
{
    return atomic_load_explicit(&os_emu, memory_order_acquire);
}

/* ---- AWE and virtual memory --------------------------------------------------------------- */

DWORD os_alloc_frames(ULONG_PTR *count, ULONG_PTR *pfns, int node)
{
    const struct os_emu *emu = emu_armed();
    DWORD rc = os_gate();
    BOOL ok;

    if (rc != 0)
        return rc;
    if (emu != NULL)
        return emu->alloc_frames(count, pfns);
    ok = node < 0 ? AllocateUserPhysicalPages(GetCurrentProcess(), count, pfns)
                  : AllocateUserPhysicalPagesNuma(GetCurrentProcess(), count, pfns, (DWORD)node);
    return ok ? 0 : GetLastError();
}

DWORD os_free_frames(ULONG_PTR *count, ULONG_PTR *pfns)
{
    const struct os_emu *emu = emu_armed();
    DWORD rc = os_gate();

    if (rc != 0) {
        *count = 0;
        return rc;
    }
    if (emu != NULL)
        return emu->free_frames(count, pfns);
    return FreeUserPhysicalPages(GetCurrentProcess(), count, pfns) ? 0 : GetLastError();
}

DWORD os_map(void *va, ULONG_PTR count, ULONG_PTR *pfns)
{
    const struct os_emu *emu = emu_armed();
    DWORD rc = os_gate();

    if (rc != 0)
        return rc;
    if (emu != NULL)
        return emu->map(va, count, pfns);
    return MapUserPhysicalPages(va, count, pfns) ? 0 : GetLastError();
}

DWORD os_map_scatter(void **vas, ULONG_PTR count, ULONG_PTR *pfns)
{
    const struct os_emu *emu = emu_armed();
    DWORD rc = os_gate();

    if (rc != 0)
        return rc;
    if (emu != NULL)
        return emu->map_scatter(vas, count, pfns);
    return MapUserPhysicalPagesScatter(vas, count, pfns) ? 0 : GetLastError();
}

DWORD os_virtual_alloc(void *addr, size_t size, DWORD type, DWORD prot, void **out)
{
    const struct os_emu *emu = emu_armed();
    DWORD rc = os_gate();
    void *p;

    if (rc != 0)
        return rc;
    if ((type & MEM_PHYSICAL) != 0 && emu != NULL)
        return emu->reserve(addr, size, out);
    p = VirtualAlloc(addr, size, type, prot);
    if (p == NULL)
        return GetLastError();
    *out = p;
    return 0;
}

DWORD os_virtual_free(void *addr, size_t size, DWORD type)
{
    const struct os_emu *emu = emu_armed();
    DWORD rc = os_gate();

    if (rc != 0)
        return rc;
    if (type == MEM_RELEASE && emu != NULL && emu->release(addr, &rc))
        return rc;
    return VirtualFree(addr, size, type) ? 0 : GetLastError();
}

DWORD os_virtual_protect(void *addr, size_t size, DWORD prot)
{
    DWORD rc = os_gate(), old;

    if (rc != 0)
        return rc;
    return VirtualProtect(addr, size, prot, &old) ? 0 : GetLastError();
}

/* ---- Files -------------------------------------------------------------------------------- */

DWORD os_create_file(const wchar_t *path, DWORD access, DWORD share, DWORD disposition, DWORD flags,
                     HANDLE *out)
{
    DWORD rc = os_gate();
    HANDLE h;

    if (rc != 0)
        return rc;
    h = CreateFileW(path, access, share, NULL, disposition, flags, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return GetLastError();
    *out = h;
    return 0;
}

DWORD os_lock_file(HANDLE h, uint64_t off, uint64_t len)
{
    DWORD rc = os_gate(), moved;
    OVERLAPPED ov;

    if (rc != 0)
        return rc;
    ZeroMemory(&ov, sizeof(ov));
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)(off >> 32);
    /* The file is opened for overlapped I/O, but a lock that fails at once never pends; should
     * it pend all the same, its result is waited for. */
    if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, (DWORD)len,
                   (DWORD)(len >> 32), &ov))
        return 0;
    rc = GetLastError();
    if (rc == ERROR_IO_PENDING)
        rc = GetOverlappedResult(h, &ov, &moved, TRUE) ? 0 : GetLastError();
    return rc;
}

DWORD os_start_io(HANDLE h, void *buf, DWORD len, OVERLAPPED *ov, bool write)
{
    DWORD rc = os_gate();
    BOOL ok;

    if (rc != 0)
        return rc;
    ok = write ? WriteFile(h, buf, len, NULL, ov) : ReadFile(h, buf, len, NULL, ov);
    if (ok)
        return 0;
    rc = GetLastError();
    return rc == ERROR_IO_PENDING ? 0 : rc;
}

DWORD os_flush_file(HANDLE h)
{
    DWORD rc = os_gate();

    if (rc != 0)
        return rc;
    return FlushFileBuffers(h) ? 0 : GetLastError();
}

DWORD os_set_file_size(HANDLE h, uint64_t size)
{
    DWORD rc = os_gate();
    FILE_END_OF_FILE_INFO eof;

    if (rc != 0)
        return rc;
    eof.EndOfFile.QuadPart = (LONGLONG)size;
    return SetFileInformationByHandle(h, FileEndOfFileInfo, &eof, sizeof(eof)) ? 0 : GetLastError();
}

DWORD os_file_size(HANDLE h, uint64_t *size)
{
    DWORD rc = os_gate();
    LARGE_INTEGER li;

    if (rc != 0)
        return rc;
    if (!GetFileSizeEx(h, &li))
        return GetLastError();
    *size = (uint64_t)li.QuadPart;
    return 0;
}
