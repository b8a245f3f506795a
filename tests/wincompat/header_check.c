/*
 * tests/wincompat/header_check.c: compiled (not run) as C11, GNU C11, C++17, and each in ANSI and
 * UNICODE modes, with the project's warnings as errors. It includes the compat headers the way
 * Windows programs do and checks at compile time every type width, structure layout and constant
 * value that programs and the library rely on (values from Microsoft's documentation).
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>

#include <stddef.h>

#ifdef __cplusplus
#define CHECK(e) static_assert(e, #e)
#else
#define CHECK(e) _Static_assert(e, #e)
#endif

/* Widths: Windows is LLP64, whatever C's long is here. */
CHECK(sizeof(BYTE) == 1);
CHECK(sizeof(WORD) == 2);
CHECK(sizeof(DWORD) == 4);
CHECK(sizeof(LONG) == 4);
CHECK(sizeof(ULONG) == 4);
CHECK(sizeof(BOOL) == 4);
CHECK(sizeof(ULONG_PTR) == sizeof(void *));
CHECK(sizeof(SIZE_T) == sizeof(void *));
CHECK(sizeof(HANDLE) == sizeof(void *));

/* Layouts. */
CHECK(sizeof(LUID) == 8);
CHECK(sizeof(LUID_AND_ATTRIBUTES) == 12);
CHECK(sizeof(TOKEN_PRIVILEGES) == 16);
CHECK(offsetof(TOKEN_PRIVILEGES, Privileges) == 4);
CHECK(offsetof(SYSTEM_INFO, dwPageSize) == 4);
/* A 4-byte union and dwPageSize come first: the pointers start at 8 on 32- and on 64-bit. */
CHECK(offsetof(SYSTEM_INFO, lpMinimumApplicationAddress) == 8);
CHECK(offsetof(SYSTEM_INFO, lpMaximumApplicationAddress) == 8 + sizeof(void *));

/* Allocation types and protections. */
CHECK(MEM_COMMIT == 0x1000);
CHECK(MEM_RESERVE == 0x2000);
CHECK(MEM_DECOMMIT == 0x4000);
CHECK(MEM_RELEASE == 0x8000);
CHECK(MEM_RESET == 0x80000);
CHECK(MEM_TOP_DOWN == 0x100000);
CHECK(MEM_PHYSICAL == 0x400000);
CHECK(MEM_LARGE_PAGES == 0x20000000);
CHECK(PAGE_NOACCESS == 1);
CHECK(PAGE_READONLY == 2);
CHECK(PAGE_READWRITE == 4);
CHECK(PAGE_WRITECOPY == 8);
CHECK(PAGE_EXECUTE == 0x10);
CHECK(PAGE_EXECUTE_READ == 0x20);
CHECK(PAGE_EXECUTE_READWRITE == 0x40);
CHECK(PAGE_GUARD == 0x100);
CHECK(PAGE_NOCACHE == 0x200);

/* Tokens, privileges, heap. */
CHECK(TOKEN_ADJUST_PRIVILEGES == 0x20);
CHECK(TOKEN_QUERY == 0x8);
CHECK(SE_PRIVILEGE_ENABLED == 2);
CHECK(HEAP_ZERO_MEMORY == 8);

/* Error codes. */
CHECK(ERROR_SUCCESS == 0);
CHECK(ERROR_ACCESS_DENIED == 5);
CHECK(ERROR_INVALID_HANDLE == 6);
CHECK(ERROR_NOT_ENOUGH_MEMORY == 8);
CHECK(ERROR_NOT_SUPPORTED == 50);
CHECK(ERROR_INVALID_PARAMETER == 87);
CHECK(ERROR_INSUFFICIENT_BUFFER == 122);
CHECK(ERROR_INVALID_ADDRESS == 487);
CHECK(ERROR_NOACCESS == 998);
CHECK(ERROR_IO_DEVICE == 1117);
CHECK(ERROR_NOT_ALL_ASSIGNED == 1300);
CHECK(ERROR_NO_SUCH_PRIVILEGE == 1313);
CHECK(ERROR_PRIVILEGE_NOT_HELD == 1314);
CHECK(ERROR_NO_SYSTEM_RESOURCES == 1450);
CHECK(ERROR_COMMITMENT_LIMIT == 1455);

/* Character mode: TCHAR, TEXT() and _T() agree, and the A/W macro follows them. */
#if defined(UNICODE) || defined(_UNICODE)
CHECK(sizeof(TCHAR) == sizeof(wchar_t));
CHECK(sizeof(_TCHAR) == sizeof(wchar_t));
#else
CHECK(sizeof(TCHAR) == 1);
CHECK(sizeof(_TCHAR) == 1);
#endif
CHECK(sizeof(TEXT("ab")) == 3 * sizeof(TCHAR));
CHECK(sizeof(_T("ab")) == 3 * sizeof(TCHAR));
CHECK(sizeof(SE_LOCK_MEMORY_NAME) == sizeof("SeLockMemoryPrivilege") * sizeof(TCHAR));

#ifdef __cplusplus
extern "C" {
#endif
int awewin32_header_check(void);
#ifdef __cplusplus
}
#endif

/* Uses the declarations so that their types are checked too (never called). */
int awewin32_header_check(void)
{
    SYSTEM_INFO si;
    LUID luid;
    ULONG_PTR pfn = 0, count = 1;
    PVOID va = NULL;
    DWORD old = 0;
    LPCTSTR name = SE_LOCK_MEMORY_NAME;
    BOOL (*lookup)(LPCTSTR, LPCTSTR, PLUID) = LookupPrivilegeValue;

    GetSystemInfo(&si);
    si.dwOemId = 0;
    si.wProcessorArchitecture = PROCESSOR_ARCHITECTURE_AMD64;
    _fputts(name, stdout);
    _tprintf(_T(" %u\n"), (unsigned)si.dwPageSize);
    return lookup(NULL, name, &luid) &&
           AllocateUserPhysicalPages(GetCurrentProcess(), &count, &pfn) &&
           MapUserPhysicalPagesScatter(&va, 1, &pfn) &&
           VirtualProtect(va, 1, PAGE_READWRITE, &old) && GetLastError() == ERROR_SUCCESS;
}
