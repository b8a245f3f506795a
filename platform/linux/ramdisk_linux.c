/*
 * platform/linux/ramdisk_linux.c: plat_ramdisk.h on Linux: ext4 on a loop device over a memfd,
 * in a mount namespace of the process's own, reached through a descriptor only.
 *
 * What holds what, once made:
 *
 *     process --fd--> ext4 root (mounted, detached from every directory)
 *                      `--> superblock --> /dev/loopN (LO_FLAGS_AUTOCLEAR) --> memfd's pages
 *
 * Every arrow is a kernel reference, and nothing else refers to any of them: no directory holds
 * the mount, no name holds the memfd, the loop device clears itself at its last close. So when
 * the process ends, however it ends, its descriptors close, the mount and its superblock go, the
 * loop device's last user is gone and it unbinds, and the memfd's pages are freed. The mount
 * namespace covers the few instructions between mount and detach: were the process killed there,
 * the mount would go with the namespace. Nothing needs cleaning up after a kill -9.
 *
 * Why a memfd and not a file in /dev/shm: it is the same memory (shmem), but has no name at any
 * moment, so there is no window in which a killed process leaves a file behind.
 */
#include "plat_ramdisk.h"
#include "os_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RD_NAME                                                                                    \
    "awecache-ramdisk"            /* the memfd's name, + "-<pid>": losetup -a shows                \
                                   * /memfd:awecache-ramdisk-<pid> (deleted) */
#define RD_TRIES    8             /* loop devices taken by others before we give up */
#define RD_WAIT_NS  2000000000ull /* plat_ramdisk_destroy's wait for the loop to unbind */
#define RD_POLL_NS  10000000ull
#define RD_MKFS_ERR 512 /* bytes of mkfs.ext4's stderr kept for the reason */

struct plat_ramdisk {
    int dir_fd;     /* O_PATH descriptor of the file system's root: the only thing holding it */
    int loop;       /* the loop device's number */
    uint64_t bytes; /* its size */
    char dir[48];   /* "/proc/self/fd/<dir_fd>" */
    char name[48];  /* the memfd's name: RD_NAME-<pid> */
    char desc[96];  /* "ext4 on /dev/loopN, S of RAM" */
};

static int err_code(int e)
{
    switch (e) {
    case EPERM:
    case EACCES:
        return PLAT_EPERM;
    case ENOMEM:
    case ENOSPC:
        return PLAT_ENOMEM;
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ENOSYS:
    case EOPNOTSUPP:
        return PLAT_ENOTSUP;
    default:
        return PLAT_EIO;
    }
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* Finds mkfs.ext4 on PATH, then in /usr/sbin and /sbin (not always on a user's PATH). */
static bool find_mkfs(char *out, size_t n)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    char *save = NULL;

    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path != NULL ? path : "");
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        if (d[0] == '\0')
            continue;
        if ((size_t)snprintf(out, n, "%s/mkfs.ext4", d) < n && access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* Runs mkfs.ext4 on dev: stdout to /dev/null, stderr kept for the reason. 0, or an error code
 * with the reason in why. */
static int run_mkfs(const char *mkfs, const char *dev, char *why, size_t whylen)
{
    /* lazy_*_init=0: everything is written now, so that no kernel thread initialises inode
     * tables while a benchmark runs; -N: a few files are all it will hold; -m 0: no blocks kept
     * back for root. */
    char *const argv[] = {(char *)"mkfs.ext4",
                          (char *)"-q",
                          (char *)"-F",
                          (char *)"-m",
                          (char *)"0",
                          (char *)"-N",
                          (char *)"1024",
                          (char *)"-L",
                          (char *)"awecache-ram",
                          (char *)"-E",
                          (char *)"lazy_itable_init=0,lazy_journal_init=0",
                          (char *)dev,
                          NULL};
    posix_spawn_file_actions_t fa;
    char err[RD_MKFS_ERR] = "";
    size_t got = 0;
    int pipefd[2], status = 0, rc;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        os_say(why, whylen, "cannot run mkfs.ext4: %s", strerror(errno));
        return err_code(errno);
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    rc = posix_spawn(&pid, mkfs, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        os_say(why, whylen, "cannot run %s: %s", mkfs, strerror(rc));
        return err_code(rc);
    }
    for (;;) {
        ssize_t n = read(pipefd[0], err + got, sizeof(err) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof(err) - 1) { /* keep the end: drop the first half */
            memmove(err, err + got / 2, got - got / 2);
            got -= got / 2;
        }
    }
    err[got] = '\0';
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            os_say(why, whylen, "mkfs.ext4 %s: cannot wait for it: %s", dev, strerror(errno));
            return PLAT_EIO;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *line = err, *nl;
        /* The last line that says something. */
        while (got > 0 && (err[got - 1] == '\n' || err[got - 1] == ' '))
            err[--got] = '\0';
        nl = strrchr(err, '\n');
        if (nl != NULL)
            line = nl + 1;
        os_say(why, whylen, "mkfs.ext4 %s failed (%s %d)%s%s", dev,
               WIFEXITED(status) ? "exit" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), line[0] ? ": " : "",
               line);
        return PLAT_EIO;
    }
    return 0;
}

/* Binds a free loop device to backing_fd with auto-clear. Returns its descriptor (O_RDWR) and
 * number, or an error code with the reason. */
static int bind_loop(int ctl, int backing_fd, const char *name, int *loop_fd, int *loop_no,
                     char *why, size_t whylen)
{
    for (int tries = 0; tries < RD_TRIES; tries++) {
        struct loop_config lc;
        char dev[32];
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        int fd, rc;

        if (n < 0) {
            os_say(why, whylen, "no free loop device (/dev/loop-control: %s)", strerror(errno));
            return err_code(errno);
        }
        snprintf(dev, sizeof(dev), "/dev/loop%d", n);
        fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            os_say(why, whylen, "cannot open %s: %s", dev, strerror(errno));
            return err_code(errno);
        }
        memset(&lc, 0, sizeof(lc));
        lc.fd = (unsigned)backing_fd;
        lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        snprintf((char *)lc.info.lo_file_name, sizeof(lc.info.lo_file_name), "%s", name);
        rc = ioctl(fd, LOOP_CONFIGURE, &lc);
        if (rc != 0 && (errno == EINVAL || errno == ENOTTY)) {
            /* Before Linux 5.8: bind, then set the flags. Auto-clear applies at the last close,
             * so a failure between the two leaves nothing bound once fd closes. */
            rc = ioctl(fd, LOOP_SET_FD, backing_fd);
            if (rc == 0) {
                struct loop_info64 li;
                memset(&li, 0, sizeof(li));
                li.lo_flags = LO_FLAGS_AUTOCLEAR;
                snprintf((char *)li.lo_file_name, sizeof(li.lo_file_name), "%s", name);
                if (ioctl(fd, LOOP_SET_STATUS64, &li) != 0) {
                    int e = errno;
                    ioctl(fd, LOOP_CLR_FD, 0);
                    close(fd);
                    os_say(why, whylen, "cannot set up %s: %s", dev, strerror(e));
                    return err_code(e);
                }
            }
        }
        if (rc == 0) {
            *loop_fd = fd;
            *loop_no = n;
            return 0;
        }
        if (errno == EBUSY) { /* another process took it first: ask again */
            close(fd);
            continue;
        }
        os_say(why, whylen, "cannot bind %s to memory: %s", dev, strerror(errno));
        rc = err_code(errno);
        close(fd);
        return rc;
    }
    os_say(why, whylen, "no free loop device after %d tries (others kept taking them)", RD_TRIES);
    return PLAT_EIO;
}

/* The MemAvailable line of /proc/meminfo, bytes; 0 if unknown. */
static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kib = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
            break;
    }
    fclose(f);
    return (uint64_t)kib * 1024;
}

/*
 * Steps:
 *  1. Checks that change nothing: root, the memory, /dev/loop-control, mkfs.ext4.
 *  2. A mount namespace of the process's own, every mount in it private (unshare, MS_PRIVATE):
 *     what is mounted from here on is seen by no other process and goes with the process.
 *  3. The blocks: a memfd of `bytes`, sparse.
 *  4. A free loop device bound to it with LO_FLAGS_AUTOCLEAR; the memfd's descriptor closed (the
 *     loop device holds the file now).
 *  5. mkfs.ext4 on the loop device.
 *  6. Mount it over an existing directory (the namespace is private and the process has one
 *     thread, so nothing sees it there), open its root O_PATH, and detach it (MNT_DETACH): from
 *     now on only that descriptor reaches it.
 *  7. Close the loop device's descriptor: the mount holds the device, and the device's last
 *     close (the mount's end) unbinds it.
 */
int plat_ramdisk_create(uint64_t bytes, struct plat_ramdisk **out, char *why, size_t whylen)
{
    static const char *const over[] = {"/tmp", "/mnt", "/var/tmp", "/"};
    char mkfs[4096], dev[32];
    struct plat_ramdisk *rd;
    uint64_t avail;
    int ctl = -1, mfd = -1, lfd = -1, dfd = -1, loop_no = -1, rc = 0;
    const char *at = NULL;

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (out == NULL)
        return PLAT_EFAULT;
    if (bytes == 0)
        return PLAT_EINVAL;
    bytes = (bytes + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);

    /* Step 1 */
    if (geteuid() != 0) {
        os_say(why, whylen, "not root (a loop device and a mount need root)");
        return PLAT_EPERM;
    }
    avail = mem_available();
    if (avail != 0 && bytes > avail) {
        os_say(why, whylen, "%llu MiB of RAM disk is more than the %llu MiB of RAM available",
               (unsigned long long)(bytes >> 20), (unsigned long long)(avail >> 20));
        return PLAT_ENOMEM;
    }
    ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) {
        os_say(why, whylen, "no loop devices (/dev/loop-control: %s)", strerror(errno));
        return err_code(errno) == PLAT_EIO ? PLAT_ENOTSUP : err_code(errno);
    }
    if (!find_mkfs(mkfs, sizeof(mkfs))) {
        close(ctl);
        os_say(why, whylen, "mkfs.ext4 not found (package e2fsprogs)");
        return PLAT_ENOTSUP;
    }
    rd = calloc(1, sizeof(*rd));
    if (rd == NULL) {
        close(ctl);
        return PLAT_ENOMEM;
    }

    /* Step 2 */
    if (unshare(CLONE_NEWNS) != 0) {
        os_say(why, whylen, "cannot make a private mount namespace: %s", strerror(errno));
        rc = err_code(errno);
        goto fail;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        os_say(why, whylen, "cannot make the mounts private: %s", strerror(errno));
        rc = err_code(errno);
        goto fail;
    }

    /* Step 3 */
    snprintf(rd->name, sizeof(rd->name), "%s-%d", RD_NAME, (int)getpid());
    mfd = memfd_create(rd->name, MFD_CLOEXEC);
    if (mfd < 0 || ftruncate(mfd, (off_t)bytes) != 0) {
        os_say(why, whylen, "cannot make %llu MiB of memory into a file: %s",
               (unsigned long long)(bytes >> 20), strerror(errno));
        rc = err_code(errno);
        goto fail;
    }

    /* Step 4 */
    rc = bind_loop(ctl, mfd, rd->name, &lfd, &loop_no, why, whylen);
    if (rc != 0)
        goto fail;
    close(mfd);
    mfd = -1;
    snprintf(dev, sizeof(dev), "/dev/loop%d", loop_no);

    /* Step 5 */
    rc = run_mkfs(mkfs, dev, why, whylen);
    if (rc != 0)
        goto fail;

    /* Step 6 */
    for (size_t i = 0; i < sizeof(over) / sizeof(over[0]) && at == NULL; i++) {
        struct stat st;
        if (stat(over[i], &st) == 0 && S_ISDIR(st.st_mode))
            at = over[i];
    }
    if (mount(dev, at, "ext4", 0, NULL) != 0) {
        os_say(why, whylen, "cannot mount the ext4 of %s: %s", dev, strerror(errno));
        rc = err_code(errno);
        goto fail;
    }
    dfd = open(at, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || umount2(at, MNT_DETACH) != 0) {
        int e = errno;
        umount2(at, MNT_DETACH);
        os_say(why, whylen, "cannot detach the ext4 of %s from %s: %s", dev, at, strerror(e));
        rc = err_code(e);
        goto fail;
    }

    /* Step 7 */
    close(lfd);
    close(ctl);
    rd->dir_fd = dfd;
    rd->loop = loop_no;
    rd->bytes = bytes;
    snprintf(rd->dir, sizeof(rd->dir), "/proc/self/fd/%d", dfd);
    if (bytes >= (10ull << 30))
        snprintf(rd->desc, sizeof(rd->desc), "ext4 on %s, %.1f GiB of RAM", dev,
                 (double)bytes / (double)(1ull << 30));
    else if (bytes >= (1ull << 30))
        snprintf(rd->desc, sizeof(rd->desc), "ext4 on %s, %.2f GiB of RAM", dev,
                 (double)bytes / (double)(1ull << 30));
    else
        snprintf(rd->desc, sizeof(rd->desc), "ext4 on %s, %llu MiB of RAM", dev,
                 (unsigned long long)(bytes >> 20));
    *out = rd;
    return 0;

fail:
    /* The namespace stays (a private copy of the mounts, harmless); everything else goes. The
     * loop device, bound with auto-clear, unbinds at its descriptor's close. */
    if (dfd >= 0)
        close(dfd);
    if (lfd >= 0)
        close(lfd);
    if (mfd >= 0)
        close(mfd);
    close(ctl);
    free(rd);
    return rc != 0 ? rc : PLAT_EIO;
}

const char *plat_ramdisk_dir(const struct plat_ramdisk *rd)
{
    return rd->dir;
}

const char *plat_ramdisk_describe(const struct plat_ramdisk *rd)
{
    return rd->desc;
}

uint64_t plat_ramdisk_size(const struct plat_ramdisk *rd)
{
    return rd->bytes;
}

/* True while loop device n is bound to our memfd (its backing_file names it). */
static bool loop_ours_bound(int n, const char *name)
{
    char path[96], line[256] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", n);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, " \n")] = '\0'; /* "/memfd:NAME (deleted)\n" */
    return strlen(line) > strlen(name) && strcmp(line + strlen(line) - strlen(name), name) == 0;
}

/* Closing the root's descriptor ends the detached mount (no file on it is open any more: the
 * caller closed them), which closes the loop device, which unbinds itself (auto-clear) and drops
 * the memfd. The wait covers what the kernel finishes after close() returns (an io_uring ring's
 * files are released by a kernel worker). */
int plat_ramdisk_destroy(struct plat_ramdisk *rd)
{
    uint64_t waited = 0;

    if (rd == NULL)
        return 0;
    close(rd->dir_fd);
    while (loop_ours_bound(rd->loop, rd->name)) {
        if (waited >= RD_WAIT_NS) {
            free(rd);
            return PLAT_EIO;
        }
        sleep_ns(RD_POLL_NS);
        waited += RD_POLL_NS;
    }
    free(rd);
    return 0;
}
