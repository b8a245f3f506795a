/*
 * platform/linux/proc_linux.c: plat_proc.h on Linux: the terminal, memory facts, sleeping, and
 * a memory limit through a memory cgroup.
 *
 * The memory limit. Linux charges the memory a process touches (anonymous memory and the file
 * pages it brings into the page cache) to the memory cgroup the process is in, and reclaims
 * within a cgroup that reaches its limit. plat_memlimit_enter makes a cgroup for the limit and
 * moves the whole process into it; plat_memlimit_leave moves it back and removes the cgroup.
 * Two hierarchies exist:
 *   - cgroup v1 with the memory controller mounted on its own (memory.limit_in_bytes,
 *     memory.max_usage_in_bytes): the new cgroup is a child of the process's own memory cgroup,
 *     so that every limit above still applies.
 *   - cgroup v2 (memory.max, memory.peak): a cgroup that has processes cannot have children with
 *     controllers ("no internal processes"), so the new cgroup is a sibling of the process's own,
 *     which works when the memory controller is enabled for the parent's children (it is, when
 *     the process's own cgroup.controllers lists "memory").
 * v1's memory controller is preferred when both are mounted, since only one hierarchy can hold
 * it and the mounted v1 one is then the one that counts.
 */
#include "plat_proc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

int plat_file_map_advise(void *addr, uint64_t len, int advice)
{
    int adv = advice == PLAT_MAP_RANDOM       ? MADV_RANDOM
              : advice == PLAT_MAP_SEQUENTIAL ? MADV_SEQUENTIAL
                                              : MADV_NORMAL;

    if (addr == NULL || len == 0 || len > SIZE_MAX ||
        (advice != PLAT_MAP_NORMAL && advice != PLAT_MAP_RANDOM && advice != PLAT_MAP_SEQUENTIAL))
        return PLAT_EINVAL;
    return madvise(addr, (size_t)len, adv) == 0 ? 0 : PLAT_EINVAL;
}

/* ---- Memory cgroups ------------------------------------------------------------------------ */

struct plat_memlimit {
    bool v2;          /* cgroup v2 (else v1's memory controller) */
    char home[2100];  /* the cgroup directory the process came from */
    char dir[2200];   /* the cgroup made for the limit */
    uint64_t peak_v2; /* v2 without memory.peak: 0 */
};

static void say(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* Writes a string to a cgroup control file; 0 or a negative errno. */
static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL)
        return -errno;
    if (fputs(text, f) < 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc == 0 ? 0 : (rc < 0 ? rc : -EIO);
}

/* Finds the mount point of the hierarchy: v1's memory controller (v2 false) or the unified one
 * (v2 true), from /proc/self/mountinfo. */
static bool find_mount(bool v2, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        /* "id parent major:minor root mountpoint options [optional...] - fstype source super" */
        char *sep = strstr(line, " - "), mnt[1024], fstype[64], super[1024];
        int k;

        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
            continue;
        k = sscanf(sep + 3, "%63s %*s %1023s", fstype, super);
        if (k < 1)
            continue;
        if (v2 && strcmp(fstype, "cgroup2") == 0)
            found = true;
        else if (!v2 && k == 2 && strcmp(fstype, "cgroup") == 0) {
            for (char *sv, *t = strtok_r(super, ",", &sv); t != NULL && !found;
                 t = strtok_r(NULL, ",", &sv))
                found = strcmp(t, "memory") == 0;
        }
        if (found)
            snprintf(out, n, "%s", mnt);
    }
    fclose(f);
    return found;
}

/* The process's cgroup path in the hierarchy (from /proc/self/cgroup): v1 memory or v2 "0::". */
static bool find_own(bool v2, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[4096];
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *c1 = strchr(line, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;

        if (c2 == NULL)
            continue;
        line[strcspn(line, "\n")] = '\0';
        *c2 = '\0';
        if (v2 ? strcmp(line, "0") == 0 && c1[1] == '\0' : false) {
            found = true;
        } else if (!v2) {
            for (char *sv, *t = strtok_r(c1 + 1, ",", &sv); t != NULL && !found;
                 t = strtok_r(NULL, ",", &sv))
                found = strcmp(t, "memory") == 0;
        }
        if (found)
            snprintf(out, n, "%s", c2 + 1);
    }
    fclose(f);
    return found;
}

/* True when the file's text contains the word. */
static bool file_has_word(const char *path, const char *word)
{
    FILE *f = fopen(path, "r");
    char buf[1024];
    bool has = false;

    if (f == NULL)
        return false;
    if (fgets(buf, sizeof(buf), f) != NULL)
        for (char *sv, *t = strtok_r(buf, " \n", &sv); t != NULL && !has;
             t = strtok_r(NULL, " \n", &sv))
            has = strcmp(t, word) == 0;
    fclose(f);
    return has;
}

/* Steps:
 * 1. Find the hierarchy: v1's memory controller, else v2 with memory available to the process's
 *    cgroup; none: PLAT_ENOTSUP with the reason.
 * 2. Make the new cgroup (v1: a child of the process's; v2: a sibling), named after the pid and a
 *    counter, and set its limit.
 * 3. Move the process in (cgroup.procs moves every thread). Any failure removes the cgroup. */
int plat_memlimit_enter(uint64_t bytes, struct plat_memlimit **out, char *why, size_t whylen)
{
    static _Atomic unsigned counter;
    struct plat_memlimit *m;
    char mnt[1024], own[1024], path[2300], num[32];
    int rc;

    if (out == NULL)
        return PLAT_EFAULT;
    if (bytes == 0)
        return PLAT_EINVAL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return PLAT_ENOMEM;

    /* Step 1 */
    if (find_mount(false, mnt, sizeof(mnt)) && find_own(false, own, sizeof(own))) {
        m->v2 = false;
    } else if (find_mount(true, mnt, sizeof(mnt)) && find_own(true, own, sizeof(own))) {
        m->v2 = true;
        snprintf(path, sizeof(path), "%s%s/cgroup.controllers", mnt, own);
        if (!file_has_word(path, "memory")) {
            say(why, whylen, "the memory controller is not enabled for this process's cgroup %s",
                own);
            free(m);
            return PLAT_ENOTSUP;
        }
        char *slash = strrchr(own, '/');
        if (slash == NULL || slash == own) {
            say(why, whylen, "this process is in the root cgroup v2: no sibling can be made");
            free(m);
            return PLAT_ENOTSUP;
        }
    } else {
        say(why, whylen, "no cgroup file system with a memory controller is mounted");
        free(m);
        return PLAT_ENOTSUP;
    }
    snprintf(m->home, sizeof(m->home), "%s%s", mnt, strcmp(own, "/") == 0 ? "" : own);

    /* Step 2 */
    if (m->v2) {
        char parent[2100];

        snprintf(parent, sizeof(parent), "%s", m->home);
        *strrchr(parent, '/') = '\0';
        snprintf(m->dir, sizeof(m->dir), "%s/awecache-%ld-%u", parent, (long)getpid(), counter++);
    } else {
        snprintf(m->dir, sizeof(m->dir), "%s/awecache-%ld-%u", m->home, (long)getpid(), counter++);
    }
    if (mkdir(m->dir, 0755) != 0) {
        rc = errno;
        say(why, whylen, "cannot make a cgroup in %s: %s", m->home, strerror(rc));
        free(m);
        return rc == ENOMEM ? PLAT_ENOMEM : PLAT_ENOTSUP;
    }
    snprintf(num, sizeof(num), "%llu", (unsigned long long)bytes);
    snprintf(path, sizeof(path), "%s/%s", m->dir, m->v2 ? "memory.max" : "memory.limit_in_bytes");
    rc = write_file(path, num);
    if (rc == 0 && m->v2) {
        snprintf(path, sizeof(path), "%s/memory.swap.max", m->dir);
        write_file(path, "0"); /* absent without swap accounting: no matter */
    }

    /* Step 3 */
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/cgroup.procs", m->dir);
        snprintf(num, sizeof(num), "%ld", (long)getpid());
        rc = write_file(path, num);
    }
    if (rc != 0) {
        say(why, whylen, "cannot set up the cgroup %s: %s", m->dir, strerror(-rc));
        rmdir(m->dir);
        free(m);
        return PLAT_ENOTSUP;
    }
    *out = m;
    return 0;
}

uint64_t plat_memlimit_peak(const struct plat_memlimit *m)
{
    char path[2300];
    uint64_t v = 0;

    if (m == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s/%s", m->dir,
             m->v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    return os_read_u64(path, &v) ? v : 0;
}

int plat_memlimit_leave(struct plat_memlimit *m)
{
    char path[2300], num[32];
    int rc;

    if (m == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s/cgroup.procs", m->home);
    snprintf(num, sizeof(num), "%ld", (long)getpid());
    rc = write_file(path, num);
    /* Empty now, the cgroup goes, handing its charges to the parent. Else the process stays
     * under the limit and so does the cgroup. */
    if (rc == 0)
        rmdir(m->dir);
    free(m);
    return rc == 0 ? 0 : PLAT_EIO;
}
