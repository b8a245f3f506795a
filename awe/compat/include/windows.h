/*
 * awe/compat/include/windows.h: the part of the Win32 API that Address Windowing Extensions (AWE)
 * programs use, for non-Windows systems, implemented by libawewin32 over awecache's native AWE
 * API (awe/awe.h). An unmodified Windows AWE program includes <windows.h>, <stdio.h> and
 * <tchar.h>, is compiled with tools/awecc, and runs with Windows' rules and error codes.
 *
 * What is here: the Win32 base types with their Windows widths (DWORD and LONG are 32 bits, as
 * on Windows, even where C's long is 64 bits); the AWE calls (AllocateUserPhysicalPages[Numa],
 * FreeUserPhysicalPages, MapUserPhysicalPages[Scatter]); VirtualAlloc / VirtualFree /
 * VirtualProtect (AWE windows and plain reservations); the SeLockMemoryPrivilege dance
 * (OpenProcessToken, LookupPrivilegeValue, AdjustTokenPrivileges, CloseHandle); GetSystemInfo;
 * the process heap; GetLastError / SetLastError. Constant values are Microsoft's documented ones.
 * The semantics are written down in awe/compat/README.md.
 *
 * Character mode: ANSI (char) by default; wide (wchar_t, L"...") when UNICODE or _UNICODE is
 * defined before the first include. This header and <tchar.h> follow the same switch.
 *
 * This file is our own; nothing in it comes from the Windows SDK or any other implementation.
 */
#ifndef AWECACHE_COMPAT_WINDOWS_H
#define AWECACHE_COMPAT_WINDOWS_H

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AWEWIN32_API __attribute__((visibility("default")))
#else
#define AWEWIN32_API
#endif

/* One switch for the character width of this header and of <tchar.h>. */
#if defined(UNICODE) || defined(_UNICODE)
#define AWEWIN32_WIDE 1
#endif

/* ---- Calling conventions: meaningless here ------------------------------------------------ */
#define WINAPI
#define APIENTRY
#define CALLBACK
#define WINAPIV
#ifndef _cdecl
#define _cdecl
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef __stdcall
#define __stdcall
#endif
#define VOID void
#ifndef CONST
#define CONST const
#endif
#ifndef IN
#define IN
#endif
#ifndef OUT
#define OUT
#endif
#ifndef OPTIONAL
#define OPTIONAL
#endif

/* ---- Base types (Windows widths: LLP64) --------------------------------------------------- */
typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef unsigned char BYTE;
typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG;
typedef uint64_t DWORD64;
typedef uint64_t ULONG64;
typedef int INT;
typedef unsigned int UINT;
typedef short SHORT;
typedef unsigned short USHORT;
typedef char CHAR;
typedef unsigned char UCHAR;
typedef wchar_t WCHAR;
typedef intptr_t INT_PTR;
typedef uintptr_t UINT_PTR;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef size_t SIZE_T;
typedef intptr_t SSIZE_T;

typedef BOOL *PBOOL, *LPBOOL;
typedef BYTE *PBYTE, *LPBYTE;
typedef WORD *PWORD, *LPWORD;
typedef DWORD *PDWORD, *LPDWORD;
typedef LONG *PLONG, *LPLONG;
typedef ULONG *PULONG;
typedef INT *PINT, *LPINT;
typedef UINT *PUINT;
typedef ULONG_PTR *PULONG_PTR;
typedef DWORD_PTR *PDWORD_PTR;
typedef SIZE_T *PSIZE_T;
typedef void *PVOID, *LPVOID;
typedef const void *LPCVOID;

typedef CHAR *PSTR, *LPSTR;
typedef const CHAR *PCSTR, *LPCSTR;
typedef WCHAR *PWSTR, *LPWSTR;
typedef const WCHAR *PCWSTR, *LPCWSTR;

#ifdef AWEWIN32_WIDE
#ifndef AWEWIN32_TCHAR_DEFINED
#define AWEWIN32_TCHAR_DEFINED
typedef WCHAR TCHAR;
#endif
#define AWEWIN32_TEXT_(s) L##s
#else
#ifndef AWEWIN32_TCHAR_DEFINED
#define AWEWIN32_TCHAR_DEFINED
typedef char TCHAR;
#endif
#define AWEWIN32_TEXT_(s) s
#endif
typedef TCHAR *PTSTR, *LPTSTR;
typedef const TCHAR *PCTSTR, *LPCTSTR;
#define TEXT(s) AWEWIN32_TEXT_(s)

typedef void *HANDLE;
typedef HANDLE *PHANDLE, *LPHANDLE;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)
#define ANYSIZE_ARRAY        1
#define MAX_PATH             260

#define ZeroMemory(p, n)       memset((p), 0, (n))
#define FillMemory(p, n, b)    memset((p), (b), (n))
#define CopyMemory(d, s, n)    memcpy((d), (s), (n))
#define MoveMemory(d, s, n)    memmove((d), (s), (n))
#define RtlZeroMemory(p, n)    memset((p), 0, (n))
#define SecureZeroMemory(p, n) memset((p), 0, (n))

/* ---- Error codes (GetLastError values) ---------------------------------------------------- */
#define ERROR_SUCCESS             0
#define NO_ERROR                  0
#define ERROR_INVALID_FUNCTION    1
#define ERROR_ACCESS_DENIED       5
#define ERROR_INVALID_HANDLE      6
#define ERROR_NOT_ENOUGH_MEMORY   8
#define ERROR_OUTOFMEMORY         14
#define ERROR_NOT_SUPPORTED       50
#define ERROR_INVALID_PARAMETER   87
#define ERROR_INSUFFICIENT_BUFFER 122
#define ERROR_INVALID_ADDRESS     487
#define ERROR_NOACCESS            998
#define ERROR_IO_DEVICE           1117
#define ERROR_NOT_ALL_ASSIGNED    1300
#define ERROR_NO_SUCH_PRIVILEGE   1313
#define ERROR_PRIVILEGE_NOT_HELD  1314
#define ERROR_NO_SYSTEM_RESOURCES 1450
#define ERROR_COMMITMENT_LIMIT    1455

/* ---- Memory: allocation types and protections --------------------------------------------- */
#define MEM_COMMIT      0x00001000
#define MEM_RESERVE     0x00002000
#define MEM_DECOMMIT    0x00004000
#define MEM_RELEASE     0x00008000
#define MEM_RESET       0x00080000
#define MEM_TOP_DOWN    0x00100000
#define MEM_WRITE_WATCH 0x00200000
#define MEM_PHYSICAL    0x00400000
#define MEM_RESET_UNDO  0x01000000
#define MEM_LARGE_PAGES 0x20000000

#define PAGE_NOACCESS          0x01
#define PAGE_READONLY          0x02
#define PAGE_READWRITE         0x04
#define PAGE_WRITECOPY         0x08
#define PAGE_EXECUTE           0x10
#define PAGE_EXECUTE_READ      0x20
#define PAGE_EXECUTE_READWRITE 0x40
#define PAGE_EXECUTE_WRITECOPY 0x80
#define PAGE_GUARD             0x100
#define PAGE_NOCACHE           0x200
#define PAGE_WRITECOMBINE      0x400

#define NUMA_NO_PREFERRED_NODE ((DWORD)-1)

/* The process heap. */
#define HEAP_NO_SERIALIZE        0x00000001
#define HEAP_GENERATE_EXCEPTIONS 0x00000004
#define HEAP_ZERO_MEMORY         0x00000008

/* ---- Security: tokens and privileges ------------------------------------------------------ */
#define TOKEN_ASSIGN_PRIMARY    0x0001
#define TOKEN_DUPLICATE         0x0002
#define TOKEN_IMPERSONATE       0x0004
#define TOKEN_QUERY             0x0008
#define TOKEN_QUERY_SOURCE      0x0010
#define TOKEN_ADJUST_PRIVILEGES 0x0020
#define TOKEN_ADJUST_GROUPS     0x0040
#define TOKEN_ADJUST_DEFAULT    0x0080
#define TOKEN_ADJUST_SESSIONID  0x0100
#define TOKEN_ALL_ACCESS        0x000F01FF

#define SE_PRIVILEGE_ENABLED_BY_DEFAULT 0x00000001
#define SE_PRIVILEGE_ENABLED            0x00000002
#define SE_PRIVILEGE_REMOVED            0x00000004
#define SE_PRIVILEGE_USED_FOR_ACCESS    0x80000000

#define SE_LOCK_MEMORY_NAME TEXT("SeLockMemoryPrivilege")

/* A locally unique identifier: how a privilege is named inside a token. */
typedef struct _LUID {
    DWORD LowPart;
    LONG HighPart;
} LUID, *PLUID;

typedef struct _LUID_AND_ATTRIBUTES {
    LUID Luid;
    DWORD Attributes; /* SE_PRIVILEGE_* */
} LUID_AND_ATTRIBUTES, *PLUID_AND_ATTRIBUTES;

typedef struct _TOKEN_PRIVILEGES {
    DWORD PrivilegeCount;
    LUID_AND_ATTRIBUTES Privileges[ANYSIZE_ARRAY];
} TOKEN_PRIVILEGES, *PTOKEN_PRIVILEGES;

/* ---- System information ------------------------------------------------------------------- */
#define PROCESSOR_ARCHITECTURE_INTEL   0
#define PROCESSOR_ARCHITECTURE_ARM     5
#define PROCESSOR_ARCHITECTURE_IA64    6
#define PROCESSOR_ARCHITECTURE_AMD64   9
#define PROCESSOR_ARCHITECTURE_ARM64   12
#define PROCESSOR_ARCHITECTURE_UNKNOWN 0xffff

#define PROCESSOR_INTEL_386     386
#define PROCESSOR_INTEL_486     486
#define PROCESSOR_INTEL_PENTIUM 586
#define PROCESSOR_AMD_X8664     8664

typedef struct _SYSTEM_INFO {
    union {
        DWORD dwOemId; /* obsolete */
        struct {
            WORD wProcessorArchitecture; /* PROCESSOR_ARCHITECTURE_* */
            WORD wReserved;
        };
    };
    DWORD dwPageSize;                   /* bytes of a page (and of an AWE frame) */
    LPVOID lpMinimumApplicationAddress; /* lowest address a reservation may have */
    LPVOID lpMaximumApplicationAddress; /* highest address a reservation may reach */
    DWORD_PTR dwActiveProcessorMask;    /* bit i: processor i */
    DWORD dwNumberOfProcessors;         /* online processors */
    DWORD dwProcessorType;              /* PROCESSOR_INTEL_* / PROCESSOR_AMD_X8664 */
    DWORD dwAllocationGranularity;      /* reservation bases are multiples of this (65536) */
    WORD wProcessorLevel;
    WORD wProcessorRevision;
} SYSTEM_INFO, *LPSYSTEM_INFO;

/* ---- Functions ---------------------------------------------------------------------------- */

/* Errors: the calling thread's last error. */
AWEWIN32_API DWORD WINAPI GetLastError(void);
AWEWIN32_API void WINAPI SetLastError(DWORD dwErrCode);

/* The process: GetCurrentProcess() is the pseudo handle (HANDLE)-1, valid only in this process. */
AWEWIN32_API HANDLE WINAPI GetCurrentProcess(void);
AWEWIN32_API void WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo);
AWEWIN32_API void WINAPI GetNativeSystemInfo(LPSYSTEM_INFO lpSystemInfo);

/* Tokens and privileges. Only SeLockMemoryPrivilege exists; it is a process-wide flag, disabled
 * at start, that AdjustTokenPrivileges turns on and off (see README.md). */
AWEWIN32_API BOOL WINAPI OpenProcessToken(HANDLE ProcessHandle, DWORD DesiredAccess,
                                          PHANDLE TokenHandle);
AWEWIN32_API BOOL WINAPI LookupPrivilegeValueA(LPCSTR lpSystemName, LPCSTR lpName, PLUID lpLuid);
AWEWIN32_API BOOL WINAPI LookupPrivilegeValueW(LPCWSTR lpSystemName, LPCWSTR lpName, PLUID lpLuid);
AWEWIN32_API BOOL WINAPI AdjustTokenPrivileges(HANDLE TokenHandle, BOOL DisableAllPrivileges,
                                               PTOKEN_PRIVILEGES NewState, DWORD BufferLength,
                                               PTOKEN_PRIVILEGES PreviousState,
                                               PDWORD ReturnLength);
AWEWIN32_API BOOL WINAPI CloseHandle(HANDLE hObject);
#ifdef AWEWIN32_WIDE
#define LookupPrivilegeValue LookupPrivilegeValueW
#else
#define LookupPrivilegeValue LookupPrivilegeValueA
#endif

/* The process heap (malloc underneath). */
AWEWIN32_API HANDLE WINAPI GetProcessHeap(void);
AWEWIN32_API LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes);
AWEWIN32_API BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem);

/* Address Windowing Extensions. */
AWEWIN32_API BOOL WINAPI AllocateUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                                   PULONG_PTR PageArray);
AWEWIN32_API BOOL WINAPI AllocateUserPhysicalPagesNuma(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                                       PULONG_PTR PageArray, DWORD nndPreferred);
AWEWIN32_API BOOL WINAPI FreeUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                               PULONG_PTR PageArray);
AWEWIN32_API BOOL WINAPI MapUserPhysicalPages(PVOID VirtualAddress, ULONG_PTR NumberOfPages,
                                              PULONG_PTR PageArray);
AWEWIN32_API BOOL WINAPI MapUserPhysicalPagesScatter(PVOID *VirtualAddresses,
                                                     ULONG_PTR NumberOfPages, PULONG_PTR PageArray);

/* Virtual memory: AWE windows (MEM_RESERVE | MEM_PHYSICAL) and plain reservations. */
AWEWIN32_API LPVOID WINAPI VirtualAlloc(LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType,
                                        DWORD flProtect);
AWEWIN32_API BOOL WINAPI VirtualFree(LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType);
AWEWIN32_API BOOL WINAPI VirtualProtect(LPVOID lpAddress, SIZE_T dwSize, DWORD flNewProtect,
                                        PDWORD lpflOldProtect);

#ifdef __cplusplus
}
#endif

/* The memory macros above expand to <string.h> functions. */
#include <string.h>

#endif /* AWECACHE_COMPAT_WINDOWS_H */
