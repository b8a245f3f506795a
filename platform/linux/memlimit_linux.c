/*
 * platform/linux/memlimit_linux.c: plat_proc.h's memory limit on Linux, through a memory cgroup.
 * Benchmark code (the mmap and LMDB sides of awecache-bench hold to their RAM budget with it;
 * `awecache info` tries it): built into awecache_platform_tool, never into libawecache
 * (platform/CMakeLists.txt). It uses the C library alone, none of the library's os_* helpers.
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
#include "os_linux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct plat_memlimit {
    bool v2;          /* cgroup v2 (else v1's memory controller) */
    char home[2100];  /* the cgroup directory the process came from */
    char dir[2200];   /* the cgroup made for the limit */
    uint64_t peak_v2; /* v2 without memory.peak: 0 */
};

/* Reads the first line of a cgroup or /proc file into buf; false if it cannot. */
static bool read_first_line(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    bool ok;

    if (f == NULL)
        return false;
    ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    return ok;
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

/* True when the first line of the file holds the word. */
static bool file_has_word(const char *path, const char *word)
{
    char buf[1024];
    bool has = false;

    if (!read_first_line(path, buf, sizeof(buf)))
        return false;
    for (char *sv, *t = strtok_r(buf, " \n", &sv); t != NULL && !has;
         t = strtok_r(NULL, " \n", &sv))
        has = strcmp(t, word) == 0;
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
            os_say(why, whylen, "the memory controller is not enabled for this process's cgroup %s",
                   own);
            free(m);
            return PLAT_ENOTSUP;
        }
        char *slash = strrchr(own, '/');
        if (slash == NULL || slash == own) {
            os_say(why, whylen, "this process is in the root cgroup v2: no sibling can be made");
            free(m);
            return PLAT_ENOTSUP;
        }
    } else {
        os_say(why, whylen, "no cgroup file system with a memory controller is mounted");
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
        os_say(why, whylen, "cannot make a cgroup in %s: %s", m->home, strerror(rc));
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
        os_say(why, whylen, "cannot set up the cgroup %s: %s", m->dir, strerror(-rc));
        rmdir(m->dir);
        free(m);
        return PLAT_ENOTSUP;
    }
    *out = m;
    return 0;
}

uint64_t plat_memlimit_peak(const struct plat_memlimit *m)
{
    char path[2300], num[64], *end;
    unsigned long long v;

    if (m == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s/%s", m->dir,
             m->v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    if (!read_first_line(path, num, sizeof(num)))
        return 0;
    v = strtoull(num, &end, 10);
    return end != num ? (uint64_t)v : 0;
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
