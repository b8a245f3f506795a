/*
 * platform/windows/os_windows.h: the gate through which the Windows platform makes its OS calls,
 * and the one table that turns Windows errors into the platform's codes.
 *
 * Every call that changes state (the AWE calls, VirtualAlloc / VirtualFree, CreateFileW,
 * LockFileEx, ReadFile / WriteFile, FlushFileBuffers, SetFileInformationByHandle) and the size
 * query go through one of these wrappers. Each returns 0 (ERROR_SUCCESS) or the Win32 error code,
 * read with GetLastError() right at the failing call, so that no caller ever reads it itself.
 * Counted calls can be made to fail by tests (platform/plat_testing.h), as on Linux. Closing,
 * unlocking, deleting a file and capability queries are not counted.
 */
#ifndef AWECACHE_PLATFORM_OS_WINDOWS_H
#define AWECACHE_PLATFORM_OS_WINDOWS_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The one translation from a Win32 error code to a PLAT_E* code (plat.h, plat_io.h): 0 for
 * ERROR_SUCCESS, PLAT_EIO for any code the table does not name. */
int os_to_plat(DWORD err);

/* Asks the gate about one OS call (os_gate_hook below): 0 to go ahead, or the Win32 error an
 * armed test wants it to fail with. */
DWORD os_gate(void);

/* ---- AWE and virtual memory --------------------------------------------------------------- */

/* AllocateUserPhysicalPages(Numa) for the current process; node < 0: no preference. */
DWORD os_alloc_frames(ULONG_PTR *count, ULONG_PTR *pfns, int node);
/* FreeUserPhysicalPages: on failure *count says how many were freed. */
DWORD os_free_frames(ULONG_PTR *count, ULONG_PTR *pfns);
/* MapUserPhysicalPages (pfns NULL: unmap the range). */
DWORD os_map(void *va, ULONG_PTR count, ULONG_PTR *pfns);
/* MapUserPhysicalPagesScatter (pfns NULL: unmap every page listed). */
DWORD os_map_scatter(void **vas, ULONG_PTR count, ULONG_PTR *pfns);
/* VirtualAlloc: stores the address in *out. */
DWORD os_virtual_alloc(void *addr, size_t size, DWORD type, DWORD prot, void **out);
DWORD os_virtual_free(void *addr, size_t size, DWORD type);
DWORD os_virtual_protect(void *addr, size_t size, DWORD prot);

/* ---- Files (platform/plat_io.h) ------------------------------------------------------------ */

/* CreateFileW: stores the handle in *out. */
DWORD os_create_file(const wchar_t *path, DWORD access, DWORD share, DWORD disposition, DWORD flags,
                     HANDLE *out);
/* LockFileEx of `len` bytes at `off` (exclusive, fail at once if held). */
DWORD os_lock_file(HANDLE h, uint64_t off, uint64_t len);
/* Starts an overlapped ReadFile / WriteFile of len bytes at the offset in *ov: 0 when it completed
 * at once or is in flight (ERROR_IO_PENDING is not a failure), else the error. */
DWORD os_start_io(HANDLE h, void *buf, DWORD len, OVERLAPPED *ov, bool write);
DWORD os_flush_file(HANDLE h);
DWORD os_set_file_size(HANDLE h, uint64_t size);
DWORD os_file_size(HANDLE h, uint64_t *size);

/* ---- Test hooks (plat_testing.h) ---------------------------------------------------------
 * Both are NULL in the library: every call goes ahead, to Windows itself. Only the test-only
 * library awecache_testing (testing_windows.c, emu_windows.c; platform/CMakeLists.txt) sets
 * them. */

/* The gate's hook: asked once per counted call; 0 to go ahead, or the Win32 error the call fails
 * with. */
typedef DWORD (*os_gate_fn)(void);
extern _Atomic(os_gate_fn) os_gate_hook;

/* The AWE emulation (plat_testing_emulate_awe): while it is armed, the AWE wrappers above call
 * these instead of Windows (after the gate). */
struct os_emu {
    DWORD (*alloc_frames)(ULONG_PTR *count, ULONG_PTR *pfns);
    DWORD (*free_frames)(ULONG_PTR *count, ULONG_PTR *pfns);
    DWORD (*map)(void *va, ULONG_PTR count, ULONG_PTR *pfns);
    DWORD (*map_scatter)(void **vas, ULONG_PTR count, ULONG_PTR *pfns);
    /* A MEM_PHYSICAL reservation. */
    DWORD (*reserve)(void *addr, size_t size, void **out);
    /* MEM_RELEASE of an emulated window: true (and *err) when addr was one, false otherwise. */
    bool (*release)(void *addr, DWORD *err);
};
extern const struct os_emu *_Atomic os_emu;

#endif /* AWECACHE_PLATFORM_OS_WINDOWS_H */
