/*
 * platform/linux/proc_linux.c: plat_proc.h on Linux: the terminal, the temporary directory,
 * memory facts, sleeping and the process's usage. The file mapping is filemap_linux.c's, the
 * memory limit (memory cgroups) memlimit_linux.c's. Like them, built into awecache_platform_tool,
 * not libawecache (platform/CMakeLists.txt): only the tools and awecache-bench call plat_proc.h.
 */
#include "plat_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "os_linux.h"

bool plat_is_terminal(int fd)
{
    return (fd == 1 || fd == 2) && isatty(fd) == 1;
}

int plat_temp_dir(char *buf, size_t len)
{
    const char *dir = getenv("TMPDIR");
    size_t n;

    if (buf == NULL)
        return PLAT_EFAULT;
    if (dir == NULL || dir[0] == '\0')
        dir = "/var/tmp";
    n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n + 1 > len)
        return PLAT_EINVAL;
    memcpy(buf, dir, n);
    buf[n] = '\0';
    return 0;
}

void plat_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

    nanosleep(&ts, NULL);
}

int plat_mem_info(uint64_t *total, uint64_t *available, uint64_t *lock_limit)
{
    uint64_t kib;
    struct rlimit rl;

    if (total != NULL) {
        if (!os_read_keyed_u64("/proc/meminfo", "MemTotal", &kib))
            return PLAT_EIO;
        *total = kib * 1024;
    }
    if (available != NULL) {
        if (!os_read_keyed_u64("/proc/meminfo", "MemAvailable", &kib))
            return PLAT_EIO;
        *available = kib * 1024;
    }
    if (lock_limit != NULL) {
        if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
            return PLAT_EIO;
        *lock_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    }
    return 0;
}

int plat_proc_usage(uint64_t *rss, uint64_t *major_faults)
{
    if (rss != NULL) {
        /* /proc/self/statm: size resident shared ... in pages. */
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long long size, resident;
        int n;

        if (f == NULL)
            return PLAT_EIO;
        n = fscanf(f, "%llu %llu", &size, &resident);
        fclose(f);
        if (n != 2)
            return PLAT_EIO;
        *rss = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    }
    if (major_faults != NULL) {
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) != 0)
            return PLAT_EIO;
        *major_faults = (uint64_t)ru.ru_majflt;
    }
    return 0;
}
