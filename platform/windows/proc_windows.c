/*
 * platform/windows/proc_windows.c: plat_proc.h on Windows: the terminal, the temporary folder,
 * sleeping, memory facts and the process's usage. The file mapping is filemap_windows.c's, the
 * memory limit, which Windows cannot give here, memlimit_windows.c's. Like them, built into
 * awecache_platform_tool, not libawecache (platform/CMakeLists.txt).
 */
#include "plat_proc.h"

#include "os_windows.h"

#include <psapi.h> /* K32GetProcessMemoryInfo: in kernel32 itself since Windows 7 */

#include <io.h>
#include <string.h>

bool plat_is_terminal(int fd)
{
    HANDLE h;
    DWORD mode;

    if (fd != 1 && fd != 2)
        return false;
    /* _isatty is true for any character device (NUL included): a console must also answer
     * GetConsoleMode. */
    h = GetStdHandle(fd == 1 ? STD_OUTPUT_HANDLE : STD_ERROR_HANDLE);
    return _isatty(fd) != 0 && h != NULL && h != INVALID_HANDLE_VALUE && GetConsoleMode(h, &mode);
}

/* GetTempPathA gives the user's temporary folder with a trailing backslash. */
int plat_temp_dir(char *buf, size_t len)
{
    char tmp[MAX_PATH + 1];
    DWORD n;

    if (buf == NULL)
        return PLAT_EFAULT;
    n = GetTempPathA(sizeof(tmp), tmp);
    if (n == 0 || n >= sizeof(tmp))
        return PLAT_EINVAL;
    while (n > 3 && (tmp[n - 1] == '\\' || tmp[n - 1] == '/'))
        n--;
    if ((size_t)n + 1 > len)
        return PLAT_EINVAL;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return 0;
}

void plat_sleep_ns(uint64_t ns)
{
    uint64_t ms = (ns + 999999u) / 1000000u; /* at least as long as asked */

    while (ms > 0) {
        DWORD step = ms > 0x7fffffffu ? 0x7fffffffu : (DWORD)ms;

        Sleep(step);
        ms -= step;
    }
}

/* total and available: GlobalMemoryStatusEx. lock_limit: AWE frames are limited by nothing but
 * the privilege and physical memory, so with the privilege enabled it is UINT64_MAX (no limit);
 * without it, what VirtualLock may pin: the process's minimum working set. */
int plat_mem_info(uint64_t *total, uint64_t *available, uint64_t *lock_limit)
{
    MEMORYSTATUSEX ms;

    ms.dwLength = sizeof(ms);
    if ((total != NULL || available != NULL) && !GlobalMemoryStatusEx(&ms))
        return PLAT_EIO;
    if (total != NULL)
        *total = ms.ullTotalPhys;
    if (available != NULL)
        *available = ms.ullAvailPhys;
    if (lock_limit != NULL) {
        SIZE_T lo, hi;
        DWORD flags;

        if (plat_awe_unavailable_reason() == NULL)
            *lock_limit = UINT64_MAX;
        else if (GetProcessWorkingSetSizeEx(GetCurrentProcess(), &lo, &hi, &flags))
            *lock_limit = lo;
        else
            return PLAT_EIO;
    }
    return 0;
}

int plat_proc_usage(uint64_t *rss, uint64_t *major_faults)
{
    if (rss != NULL) {
        PROCESS_MEMORY_COUNTERS pmc;

        if (!K32GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof(pmc)))
            return PLAT_EIO;
        *rss = pmc.WorkingSetSize;
    }
    if (major_faults != NULL)
        *major_faults = UINT64_MAX; /* PageFaultCount mixes soft and hard faults */
    return 0;
}
