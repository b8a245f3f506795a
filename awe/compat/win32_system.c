/*
 * awe/compat/win32_system.c: GetSystemInfo and the process heap.
 */
#include "win32_internal.h"

#include <stdlib.h>
#include <string.h>

/* The processor architecture this library was compiled for, in SYSTEM_INFO's terms. */
#if defined(__x86_64__)
#define THIS_ARCHITECTURE   PROCESSOR_ARCHITECTURE_AMD64
#define THIS_PROCESSOR_TYPE PROCESSOR_AMD_X8664
#elif defined(__i386__)
#define THIS_ARCHITECTURE   PROCESSOR_ARCHITECTURE_INTEL
#define THIS_PROCESSOR_TYPE PROCESSOR_INTEL_PENTIUM
#elif defined(__aarch64__)
#define THIS_ARCHITECTURE   PROCESSOR_ARCHITECTURE_ARM64
#define THIS_PROCESSOR_TYPE 0
#elif defined(__arm__)
#define THIS_ARCHITECTURE   PROCESSOR_ARCHITECTURE_ARM
#define THIS_PROCESSOR_TYPE 0
#else
#define THIS_ARCHITECTURE   PROCESSOR_ARCHITECTURE_UNKNOWN
#define THIS_PROCESSOR_TYPE 0
#endif

/* GetSystemInfo cannot fail on Windows: if the platform cannot say (it could not start), the
 * usual x86-64 values stand in, and the AWE calls will report the failure themselves. */
AWEWIN32_API void WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo)
{
    struct awe_caps caps;
    unsigned cpus, i;

    if (lpSystemInfo == NULL)
        return;
    if (awe_get_caps(&caps) != 0) {
        memset(&caps, 0, sizeof(caps));
        caps.page_size = 4096;
        caps.alloc_granularity = 65536;
        caps.processor_count = 1;
        caps.min_app_address = 65536;
        caps.max_app_address = UINTPTR_MAX - 65536; /* never used: the platform always starts */
    }
    memset(lpSystemInfo, 0, sizeof(*lpSystemInfo));
    lpSystemInfo->wProcessorArchitecture = THIS_ARCHITECTURE;
    lpSystemInfo->dwPageSize = (DWORD)caps.page_size;
    lpSystemInfo->lpMinimumApplicationAddress = (LPVOID)caps.min_app_address;
    lpSystemInfo->lpMaximumApplicationAddress = (LPVOID)caps.max_app_address;
    cpus = caps.processor_count == 0 ? 1 : caps.processor_count;
    for (i = 0; i < cpus && i < 8 * sizeof(DWORD_PTR); i++)
        lpSystemInfo->dwActiveProcessorMask |= (DWORD_PTR)1 << i;
    lpSystemInfo->dwNumberOfProcessors = cpus;
    lpSystemInfo->dwProcessorType = THIS_PROCESSOR_TYPE;
    lpSystemInfo->dwAllocationGranularity = (DWORD)caps.alloc_granularity;
}

AWEWIN32_API void WINAPI GetNativeSystemInfo(LPSYSTEM_INFO lpSystemInfo)
{
    GetSystemInfo(lpSystemInfo);
}

/* ---- The process heap: malloc underneath -------------------------------------------------- */

/* The heap handle is the address of this object: unique and never NULL. */
static const int process_heap_tag;
#define PROCESS_HEAP ((HANDLE)&process_heap_tag)

AWEWIN32_API HANDLE WINAPI GetProcessHeap(void)
{
    return PROCESS_HEAP;
}

/* Windows' HeapAlloc does not set the last error when it fails; neither do we. A request for 0
 * bytes gets a valid, distinct block, as on Windows. */
AWEWIN32_API LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes)
{
    size_t n = dwBytes == 0 ? 1 : dwBytes;

    if (hHeap != PROCESS_HEAP)
        return NULL;
    if (dwFlags & HEAP_ZERO_MEMORY)
        return calloc(1, n);
    return malloc(n);
}

AWEWIN32_API BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem)
{
    (void)dwFlags;
    if (hHeap != PROCESS_HEAP)
        return awewin32_fail(ERROR_INVALID_HANDLE);
    free(lpMem);
    return TRUE;
}
