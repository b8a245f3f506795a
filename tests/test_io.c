/*
 * tests/test_io.c: the platform's file API (platform/plat_io.h).
 *
 * Every test runs twice: on a file in a temporary directory under the build tree (a real file
 * system, direct I/O where it can) and on one under /dev/shm (tmpfs: direct I/O falls back to
 * buffered, cleanly). Batches run on io_uring and on pread/pwrite (PLAT_FILE_NO_URING); where
 * the kernel refuses io_uring the io_uring cases say so and are skipped.
 *
 * - open: ENOENT, EEXIST, EISDIR, a FIFO, READONLY (writes and resizes are EACCES), permissions,
 *   flag checks, the mode of a created file;
 * - the write lock: a second writable open, in this process and in a fork()ed child, is EBUSY;
 *   read-only opens go on; closing releases it;
 * - resize, whole-length read and write, reads past the end (zeros, also inside a direct I/O
 *   block), misaligned direct I/O (EINVAL), offset limits;
 * - batches of 1..4096 random 4 KiB and 64 KiB entries with a pattern per page, written then read
 *   back in another order and checked byte for byte, in four modes (direct/buffered x io_uring/
 *   pread); mixed per-entry failures (bad offset, past the file system's limit, NULL buffer,
 *   misaligned); several threads doing batches on one file at once;
 * - batches into an AWE window (the page cache's use): O_DIRECT into frames of the AWE memfd;
 * - fault injection: every counted OS call of an open fails in turn (no fd leaks, no file left);
 *   read, write, resize, sync and info report injected errors; EINTR is retried; a batch on
 *   pread fails exactly the entry whose call failed; a batch on io_uring counts one call per
 *   submission round, and a failure fails the rounds from there on, the rest completing.
 */
#include "test_util.h"

#include "plat_io.h"
#include "plat_sync.h"
#include "plat_testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef AWECACHE_TEST_IO_DIR
#error "AWECACHE_TEST_IO_DIR (a directory under the build tree) must be defined"
#endif

#define PG    ((size_t)4096)
#define KB64  ((size_t)65536)
#define GARBL 0xa5

/* Where the files live. */
struct place {
    const char *name; /* for messages */
    char dir[PATH_MAX];
    bool tmpfs; /* /dev/shm */
};

static struct place places[2] = {{.name = "build tree"}, {.name = "/dev/shm", .tmpfs = true}};
static bool have_uring;

/* The ways a batch can be carried out. */
struct mode {
    unsigned flags;
    const char *name;
    bool uring;
};

static const struct mode modes[] = {
    {PLAT_FILE_DIRECT, "direct, io_uring", true},
    {PLAT_FILE_DIRECT | PLAT_FILE_NO_URING, "direct, pread", false},
    {0, "buffered, io_uring", true},
    {PLAT_FILE_NO_URING, "buffered, pread", false},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        int want_ = (want);                                                                        \
        if (rc_ != want_)                                                                          \
            fail_msg("%s returned %d (%s), expected %d (%s)", #call, rc_, plat_strerror(rc_),      \
                     want_, plat_strerror(want_));                                                 \
    } while (0)

/* ---- Helpers ------------------------------------------------------------------------------ */

static void path_of(const struct place *p, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", p->dir, name);

    assert_true(n > 0 && n < PATH_MAX);
}

/* Page-aligned memory of len bytes (rounded up to whole pages) plus one spare page. */
static char *abuf(size_t len)
{
    char *p = aligned_alloc(PG, (len + 2 * PG - 1) / PG * PG);

    assert_non_null(p);
    return p;
}

/* Page i of [buf, buf + len) gets the pattern of tag0 + i. */
static void fill_pages(char *buf, size_t len, uint64_t tag0)
{
    for (size_t i = 0; i * PG < len; i++)
        tu_fill(buf + i * PG, PG, tag0 + i);
}

static bool check_pages(const char *buf, size_t len, uint64_t tag0)
{
    for (size_t i = 0; i * PG < len; i++)
        if (!tu_check(buf + i * PG, PG, tag0 + i))
            return false;
    return true;
}

/* The tag of the page at file offset off in a run that used `base`. Never zero. */
static uint64_t tag_at(uint64_t base, uint64_t off)
{
    return base + off / PG + 1;
}

static struct plat_file *open_ok(const char *path, unsigned flags)
{
    struct plat_file *f = NULL;
    int rc = plat_file_open(path, flags, &f);

    if (rc != 0)
        fail_msg("plat_file_open(%s, %#x): %d (%s)", path, flags, rc, plat_strerror(rc));
    return f;
}

static struct plat_file_info info_of(struct plat_file *f)
{
    struct plat_file_info in;

    EXPECT(plat_file_get_info(f, &in), 0);
    return in;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* The place of the test, or NULL (printed, skipped) when it has no directory. */
static const struct place *place_of(void **state)
{
    const struct place *p = *state;

    if (p->dir[0] == '\0') {
        print_message("no directory under %s here; skipped\n", p->name);
        skip();
    }
    return p;
}

/* Checks what plat_file_get_info says about direct I/O on this place. */
static void check_direct_info(const struct place *p, const struct plat_file_info *in, bool asked)
{
    if (!asked || p->tmpfs) {
        assert_false(in->direct); /* tmpfs: the clean fallback to buffered I/O */
        assert_int_equal(in->align, 1);
        return;
    }
    if (!in->direct) {
        print_message("note: the file system of %s does not do direct I/O\n", p->name);
        assert_int_equal(in->align, 1);
        return;
    }
    assert_true(in->align >= 512 && (in->align & (in->align - 1)) == 0);
}

static bool mode_usable(const struct mode *m)
{
    if (m->uring && !have_uring) {
        print_message("io_uring unavailable here (no liburing in the build, or the kernel refused "
                      "it): mode \"%s\" skipped\n",
                      m->name);
        return false;
    }
    return true;
}

/* n distinct slot numbers below nslots, in random order. */
static uint64_t *pick_slots(size_t n, size_t nslots, uint64_t *rng)
{
    uint64_t *all = malloc(nslots * sizeof(*all));

    assert_non_null(all);
    assert_true(n <= nslots);
    for (size_t i = 0; i < nslots; i++)
        all[i] = i;
    for (size_t i = 0; i < n; i++) {
        size_t j = i + (size_t)(tu_rand(rng) % (nslots - i));
        uint64_t t = all[i];

        all[i] = all[j];
        all[j] = t;
    }
    return all;
}

/* ---- Open --------------------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
    const struct place *p = place_of(state);
    char a[PATH_MAX], x[PATH_MAX], fifo[PATH_MAX];
    struct plat_file *f = NULL;
    struct plat_io io[2];
    struct plat_file_info in;
    struct stat st;
    char *wb = abuf(2 * PG), *rb = abuf(2 * PG);
    mode_t um;

    path_of(p, "a", a);
    EXPECT(plat_file_open(a, 0, &f), PLAT_ENOENT);
    EXPECT(plat_file_open(a, PLAT_FILE_READONLY, &f), PLAT_ENOENT);
    EXPECT(plat_file_open(a, PLAT_FILE_DIRECT, &f), PLAT_ENOENT);

    /* A created file: empty, mode 0600 less the umask. */
    f = open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL);
    in = info_of(f);
    assert_int_equal(in.size, 0);
    assert_false(in.readonly);
    assert_false(in.block_device);
    um = umask(0);
    umask(um);
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600 & ~um);
    fill_pages(wb, 2 * PG, 11);
    EXPECT(plat_file_write(f, wb, 2 * PG, 0), 0);
    EXPECT(plat_file_close(f), 0);

    /* EXCL on an existing file, which stays as it was; CREATE alone opens it. */
    EXPECT(plat_file_open(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL, &f), PLAT_EEXIST);
    f = open_ok(a, PLAT_FILE_CREATE);
    assert_int_equal(info_of(f).size, 2 * PG);
    EXPECT(plat_file_close(f), 0);

    /* Flags and pointers. */
    EXPECT(plat_file_open(a, PLAT_FILE_EXCL, &f), PLAT_EINVAL);
    EXPECT(plat_file_open(a, PLAT_FILE_CREATE | PLAT_FILE_READONLY, &f), PLAT_EINVAL);
    EXPECT(plat_file_open(a, 0x100, &f), PLAT_EINVAL);
    EXPECT(plat_file_open(NULL, 0, &f), PLAT_EFAULT);
    EXPECT(plat_file_open(a, 0, NULL), PLAT_EFAULT);

    /* Directories, paths through a file, missing directories, FIFOs. */
    EXPECT(plat_file_open(p->dir, 0, &f), PLAT_EISDIR);
    EXPECT(plat_file_open(p->dir, PLAT_FILE_READONLY, &f), PLAT_EISDIR);
    EXPECT(plat_file_open(p->dir, PLAT_FILE_CREATE, &f), PLAT_EISDIR);
    path_of(p, "a/x", x);
    EXPECT(plat_file_open(x, PLAT_FILE_CREATE, &f), PLAT_ENOENT);
    path_of(p, "missing/x", x);
    EXPECT(plat_file_open(x, PLAT_FILE_CREATE, &f), PLAT_ENOENT);
    assert_false(exists(x));
    path_of(p, "fifo", fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    EXPECT(plat_file_open(fifo, PLAT_FILE_READONLY, &f), PLAT_EINVAL); /* and did not block */
    EXPECT(plat_file_open(fifo, 0, &f), PLAT_EINVAL);
    assert_int_equal(unlink(fifo), 0);

    /* A read-only handle reads, syncs, and refuses writes and resizes. */
    f = open_ok(a, PLAT_FILE_READONLY);
    in = info_of(f);
    assert_true(in.readonly);
    EXPECT(plat_file_write(f, wb, PG, 0), PLAT_EACCES);
    EXPECT(plat_file_resize(f, 0), PLAT_EACCES);
    io[0] = (struct plat_io){wb, PG, 0, 99};
    io[1] = (struct plat_io){wb, PG, PG, 99};
    EXPECT(plat_file_write_batch(f, io, 2), PLAT_EACCES);
    assert_int_equal(io[0].result, PLAT_EACCES);
    assert_int_equal(io[1].result, PLAT_EACCES);
    EXPECT(plat_file_read(f, rb, 2 * PG, 0), 0);
    assert_true(check_pages(rb, 2 * PG, 11));
    EXPECT(plat_file_sync(f), 0);
    EXPECT(plat_file_close(f), 0);

    /* Permissions (root passes any mode bits, so only a normal user sees EACCES). */
    assert_int_equal(chmod(a, 0400), 0);
    if (geteuid() != 0)
        EXPECT(plat_file_open(a, 0, &f), PLAT_EACCES);
    else
        print_message("note: running as root, so mode 0400 does not refuse a writable open\n");
    f = open_ok(a, PLAT_FILE_READONLY);
    EXPECT(plat_file_close(f), 0);
    assert_int_equal(chmod(a, 0600), 0);

    /* NULL handles and arrays. */
    EXPECT(plat_file_read(NULL, rb, PG, 0), PLAT_EFAULT);
    EXPECT(plat_file_write(NULL, rb, PG, 0), PLAT_EFAULT);
    EXPECT(plat_file_get_info(NULL, &in), PLAT_EFAULT);
    EXPECT(plat_file_resize(NULL, 0), PLAT_EFAULT);
    EXPECT(plat_file_sync(NULL), PLAT_EFAULT);
    EXPECT(plat_file_read_batch(NULL, io, 1), PLAT_EFAULT);
    EXPECT(plat_file_close(NULL), 0);
    f = open_ok(a, 0);
    EXPECT(plat_file_get_info(f, NULL), PLAT_EFAULT);
    EXPECT(plat_file_read_batch(f, NULL, 1), PLAT_EFAULT);
    EXPECT(plat_file_write_batch(f, NULL, 0), 0);
    EXPECT(plat_file_read_batch(f, io, 0), 0);
    EXPECT(plat_file_close(f), 0);

    assert_int_equal(unlink(a), 0);
    free(wb);
    free(rb);
}

/* ---- The write lock ----------------------------------------------------------------------- */

struct child_open {
    const char *path;
    int want; /* the code the child's writable open must give */
};

static int child_open(void *arg)
{
    const struct child_open *c = arg;
    struct plat_file *f = NULL;
    int rc = plat_file_open(c->path, 0, &f);

    if (rc == 0)
        plat_file_close(f);
    return rc == c->want ? 0 : 1;
}

static void test_lock(void **state)
{
    const struct place *p = place_of(state);
    char a[PATH_MAX];
    struct plat_file *f, *g = NULL;
    struct child_open busy = {a, PLAT_ELOCKED}, free_ok = {a, 0};

    path_of(p, "locked", a);
    f = open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | PLAT_FILE_DIRECT);
    /* In this process: another open file description. */
    EXPECT(plat_file_open(a, 0, &g), PLAT_ELOCKED);
    EXPECT(plat_file_open(a, PLAT_FILE_CREATE, &g), PLAT_ELOCKED);
    EXPECT(plat_file_open(a, PLAT_FILE_NO_URING | PLAT_FILE_DIRECT, &g), PLAT_ELOCKED);
    assert_true(exists(a)); /* a failed open removes only a file it created */
    g = open_ok(a, PLAT_FILE_READONLY);
    EXPECT(plat_file_close(g), 0);
    /* In another process. */
    assert_int_equal(tu_run_child(child_open, &busy), 0);
    /* Closing releases the lock. */
    EXPECT(plat_file_close(f), 0);
    assert_int_equal(tu_run_child(child_open, &free_ok), 0);
    f = open_ok(a, 0);
    EXPECT(plat_file_close(f), 0);
    assert_int_equal(unlink(a), 0);
}

/* ---- Resize, whole-length reads and writes ------------------------------------------------ */

static void test_resize_read_write(void **state)
{
    const struct place *p = place_of(state);
    const size_t big = 3 * 1024 * 1024;
    char a[PATH_MAX];
    char *wb = abuf(big), *rb = abuf(big), *ref = abuf(PG);

    path_of(p, "rw", a);
    for (int direct = 0; direct < 2; direct++) {
        struct plat_file *f =
            open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | (direct ? PLAT_FILE_DIRECT : 0));
        struct plat_file_info in = info_of(f);
        uint64_t size;

        check_direct_info(p, &in, direct);

        /* Growing reads as zeros. */
        EXPECT(plat_file_resize(f, 1 << 20), 0);
        assert_int_equal(info_of(f).size, 1 << 20);
        memset(rb, GARBL, KB64);
        EXPECT(plat_file_read(f, rb, KB64, 0), 0);
        assert_true(tu_is_zero(rb, KB64));

        /* A whole-length write and read of 3 MiB at one page in. */
        fill_pages(wb, big, tag_at(100, PG));
        EXPECT(plat_file_write(f, wb, big, PG), 0);
        size = info_of(f).size;
        assert_int_equal(size, PG + big);
        memset(rb, GARBL, big);
        EXPECT(plat_file_read(f, rb, big, PG), 0);
        assert_true(check_pages(rb, big, tag_at(100, PG)));

        /* Past the end: data, then zeros; the file does not grow. Wholly past: zeros. */
        memset(rb, GARBL, 4 * PG);
        EXPECT(plat_file_read(f, rb, 4 * PG, size - 2 * PG), 0);
        assert_true(check_pages(rb, 2 * PG, tag_at(100, size - 2 * PG)));
        assert_true(tu_is_zero(rb + 2 * PG, 2 * PG));
        memset(rb, GARBL, 4 * PG);
        EXPECT(plat_file_read(f, rb, 4 * PG, size + 10 * PG), 0);
        assert_true(tu_is_zero(rb, 4 * PG));
        /* Far beyond any file: still zeros, not an error. */
        memset(rb, GARBL, PG);
        EXPECT(plat_file_read(f, rb, PG, (uint64_t)INT64_MAX + 1 - 2 * PG), 0);
        assert_true(tu_is_zero(rb, PG));
        assert_int_equal(info_of(f).size, size);

        /* Shrinking drops the tail. */
        EXPECT(plat_file_resize(f, 3 * PG), 0);
        memset(rb, GARBL, 2 * PG);
        EXPECT(plat_file_read(f, rb, 2 * PG, 2 * PG), 0);
        assert_true(check_pages(rb, PG, tag_at(100, 2 * PG)));
        assert_true(tu_is_zero(rb + PG, PG));

        /* The end of the file inside a page (inside a direct I/O block): 100 bytes of data. */
        fill_pages(wb, PG, 77);
        EXPECT(plat_file_write(f, wb, PG, 3 * PG), 0);
        EXPECT(plat_file_resize(f, 3 * PG + 100), 0);
        memset(rb, GARBL, 2 * PG);
        EXPECT(plat_file_read(f, rb, 2 * PG, 3 * PG), 0);
        memcpy(ref, wb, 100);
        memset(ref + 100, 0, PG - 100);
        assert_memory_equal(rb, ref, PG);
        assert_true(tu_is_zero(rb + PG, PG));
        assert_int_equal(info_of(f).size, 3 * PG + 100);

        /* Alignment: refused before any I/O with direct I/O, fine without. */
        if (in.direct) {
            EXPECT(plat_file_read(f, rb + 1, PG, 0), PLAT_EINVAL);
            EXPECT(plat_file_read(f, rb, PG, 1), PLAT_EINVAL);
            EXPECT(plat_file_read(f, rb, 100, 0), PLAT_EINVAL);
            EXPECT(plat_file_write(f, wb + 1, PG, 0), PLAT_EINVAL);
            EXPECT(plat_file_write(f, wb, PG, in.align / 2), PLAT_EINVAL);
            EXPECT(plat_file_write(f, wb, in.align + 1, 0), PLAT_EINVAL);
            assert_int_equal(info_of(f).size, 3 * PG + 100); /* nothing was written */
        } else {
            fill_pages(ref, PG, tag_at(100, 2 * PG));
            memset(rb, GARBL, PG);
            EXPECT(plat_file_read(f, rb + 1, 50, 2 * PG + 3), 0);
            assert_memory_equal(rb + 1, ref + 3, 50);
            EXPECT(plat_file_write(f, wb + 1, 7, 5), 0);
            EXPECT(plat_file_read(f, rb + 3, 7, 5), 0);
            assert_memory_equal(rb + 3, wb + 1, 7);
        }

        /* Offsets, lengths and pointers. */
        EXPECT(plat_file_read(f, rb, PG, UINT64_MAX & ~(uint64_t)4095), PLAT_EINVAL);
        EXPECT(plat_file_read(f, rb, PG, (uint64_t)INT64_MAX + 1 - PG / 2), PLAT_EINVAL);
        EXPECT(plat_file_write(f, wb, PG, UINT64_MAX & ~(uint64_t)4095), PLAT_EINVAL);
        EXPECT(plat_file_resize(f, (uint64_t)INT64_MAX + 1), PLAT_EINVAL);
        EXPECT(plat_file_read(f, NULL, 0, 0), 0);
        EXPECT(plat_file_write(f, NULL, 0, 1u << 30), 0);
        EXPECT(plat_file_read(f, NULL, PG, 0), PLAT_EFAULT);
        EXPECT(plat_file_write(f, NULL, PG, 0), PLAT_EFAULT);
        assert_int_equal(info_of(f).size, 3 * PG + 100);

        EXPECT(plat_file_sync(f), 0);
        EXPECT(plat_file_sync(f), 0);
        EXPECT(plat_file_close(f), 0);
        assert_int_equal(unlink(a), 0);
    }
    free(wb);
    free(rb);
    free(ref);
}

/* ---- Batches ------------------------------------------------------------------------------ */

/* Writes n entries of len bytes at distinct random slots of a file of nslots * len bytes, reads
 * them back in reverse order, and checks every page. */
static void batch_round_trip(struct plat_file *f, size_t len, size_t n, size_t nslots,
                             uint64_t base, uint64_t *rng)
{
    uint64_t *slot = pick_slots(n, nslots, rng);
    char *wb = abuf(n * len), *rb = abuf(n * len);
    struct plat_io *io = malloc(n * sizeof(*io));

    assert_non_null(io);
    for (size_t i = 0; i < n; i++) {
        uint64_t off = slot[i] * len;

        fill_pages(wb + i * len, len, tag_at(base, off));
        io[i] = (struct plat_io){wb + i * len, len, off, 99};
    }
    EXPECT(plat_file_write_batch(f, io, n), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(io[i].result, 0);

    memset(rb, GARBL, n * len);
    for (size_t i = 0; i < n; i++) /* entry i reads what entry n-1-i wrote */
        io[i] = (struct plat_io){rb + i * len, len, slot[n - 1 - i] * len, 99};
    EXPECT(plat_file_read_batch(f, io, n), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(io[i].result, 0);
        if (!check_pages(rb + i * len, len, tag_at(base, io[i].off)))
            fail_msg("batch of %zu x %zu: entry %zu (offset %llu) reads wrong data", n, len, i,
                     (unsigned long long)io[i].off);
    }
    free(io);
    free(wb);
    free(rb);
    free(slot);
}

static void test_batches(void **state)
{
    const struct place *p = place_of(state);
    static const size_t n4k[] = {1, 2, 127, 128, 129, 1000, 4096};
    static const size_t n64k[] = {1, 33, 256};
    const size_t file_bytes = 32u << 20;
    char a[PATH_MAX];
    uint64_t rng = 0x1234567u;

    path_of(p, "batches", a);
    for (size_t m = 0; m < NMODES; m++) {
        struct plat_file *f, *g;
        struct plat_file_info in;
        char *rb = abuf(PG);
        uint64_t base = 1000000u * (m + 1);

        if (!mode_usable(&modes[m]))
            continue;
        f = open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | modes[m].flags);
        in = info_of(f);
        check_direct_info(p, &in, (modes[m].flags & PLAT_FILE_DIRECT) != 0);
        assert_int_equal(in.uring, modes[m].uring);
        if (in.uring)
            assert_true(in.queue_depth >= 32);
        else
            assert_int_equal(in.queue_depth, 1);
        EXPECT(plat_file_resize(f, file_bytes), 0);
        for (size_t i = 0; i < sizeof(n4k) / sizeof(n4k[0]); i++)
            batch_round_trip(f, PG, n4k[i], file_bytes / PG, base, &rng);
        base += 500000;
        for (size_t i = 0; i < sizeof(n64k) / sizeof(n64k[0]); i++)
            batch_round_trip(f, KB64, n64k[i], file_bytes / KB64, base, &rng);
        /* The last write of every page is on the file: spot-check through a buffered read-only
         * handle of its own (the page cache and direct I/O agree). */
        g = open_ok(a, PLAT_FILE_READONLY | PLAT_FILE_NO_URING);
        for (int k = 0; k < 64; k++) {
            uint64_t off = (tu_rand(&rng) % (file_bytes / PG)) * PG;
            char *fb = abuf(PG);

            EXPECT(plat_file_read(g, rb, PG, off), 0);
            EXPECT(plat_file_read(f, fb, PG, off), 0);
            assert_memory_equal(rb, fb, PG);
            free(fb);
        }
        EXPECT(plat_file_close(g), 0);
        EXPECT(plat_file_close(f), 0);
        assert_int_equal(unlink(a), 0);
        free(rb);
    }
}

/* Entries that follow one another in the file go as vectored transfers (platform/README.md,
 * files 3); what each entry moves is as without them: runs of 1 to 300 entries with gaps, the
 * buffers scattered in memory; a read run that crosses the end of the file (the entries past it
 * read zeros); a run broken by an entry that fails its checks (it fails alone). On io_uring,
 * 256 contiguous entries take one submission round. */
static void test_batch_runs(void **state)
{
    const struct place *p = place_of(state);
    enum { N = 1500, EOF_PAGES = 10 };
    char a[PATH_MAX];
    uint64_t rng = 0x7e57u;

    path_of(p, "runs", a);
    for (size_t m = 0; m < NMODES; m++) {
        struct plat_io *io = malloc(N * sizeof(*io));
        size_t *perm = malloc(N * sizeof(*perm));
        char *wb = abuf(N * PG), *rb = abuf(N * PG);
        uint64_t off = 0, calls;
        struct plat_file *f;

        if (!mode_usable(&modes[m]))
            continue;
        assert_non_null(io);
        assert_non_null(perm);
        /* Entry i's buffer is page perm[i] of wb: neighbours in the file are not in memory. */
        for (size_t i = 0; i < N; i++)
            perm[i] = i;
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = (size_t)(tu_rand(&rng) % (i + 1)), t = perm[i];

            perm[i] = perm[j];
            perm[j] = t;
        }
        f = open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | modes[m].flags);
        for (size_t i = 0; i < N; i++) {
            if (tu_rand(&rng) % 100 == 0)
                off += (1 + tu_rand(&rng) % 3) * PG; /* a gap ends a run */
            fill_pages(wb + perm[i] * PG, PG, 7000 + off / PG);
            io[i] = (struct plat_io){wb + perm[i] * PG, PG, off, 99};
            off += PG;
        }
        EXPECT(plat_file_write_batch(f, io, N), 0);
        memset(rb, GARBL, N * PG);
        for (size_t i = 0; i < N; i++)
            io[i].buf = rb + perm[i] * PG;
        EXPECT(plat_file_read_batch(f, io, N), 0);
        for (size_t i = 0; i < N; i++) {
            assert_int_equal(io[i].result, 0);
            if (!check_pages(rb + perm[i] * PG, PG, 7000 + io[i].off / PG))
                fail_msg("%s: entry %zu (offset %llu) reads wrong data", modes[m].name, i,
                         (unsigned long long)io[i].off);
        }
        /* 256 contiguous entries: one round on io_uring. */
        for (size_t i = 0; i < 256; i++)
            io[i] = (struct plat_io){rb + perm[i] * PG, PG, i * PG, 99};
        calls = plat_testing_os_calls();
        EXPECT(plat_file_read_batch(f, io, 256), 0);
        if (modes[m].uring)
            assert_int_equal(plat_testing_os_calls() - calls, 1);
        /* A run across the end of the file: pages 4 .. 19 of a file of 10. */
        EXPECT(plat_file_resize(f, EOF_PAGES * PG), 0);
        fill_pages(wb, EOF_PAGES * PG, 9000);
        EXPECT(plat_file_write(f, wb, EOF_PAGES * PG, 0), 0);
        memset(rb, GARBL, N * PG);
        for (size_t i = 0; i < 16; i++)
            io[i] = (struct plat_io){rb + i * PG, PG, (4 + i) * PG, 99};
        EXPECT(plat_file_read_batch(f, io, 16), 0);
        for (size_t i = 0; i < 16; i++) {
            assert_int_equal(io[i].result, 0);
            if (4 + i < EOF_PAGES)
                assert_true(check_pages(rb + i * PG, PG, 9000 + 4 + i));
            else
                for (size_t b = 0; b < PG; b++)
                    assert_int_equal(rb[i * PG + b], 0);
        }
        /* A run broken by a NULL buffer: that entry fails alone. */
        for (size_t i = 0; i < 8; i++)
            io[i] = (struct plat_io){i == 3 ? NULL : rb + i * PG, PG, i * PG, 99};
        EXPECT(plat_file_write_batch(f, io, 8), PLAT_EFAULT);
        for (size_t i = 0; i < 8; i++)
            EXPECT(io[i].result, i == 3 ? PLAT_EFAULT : 0);
        EXPECT(plat_file_close(f), 0);
        assert_int_equal(unlink(a), 0);
        free(io);
        free(perm);
        free(wb);
        free(rb);
    }
}

/* Entries fail on their own: a bad offset, one past what the file system allows, a NULL
 * buffer, a misaligned one (direct I/O); every other entry succeeds. */
static void test_batch_mixed_failures(void **state)
{
    const struct place *p = place_of(state);
    enum { N = 16, BAD_MISALIGNED = 3, BAD_OFFSET = 5, FS_LIMIT = 9, BAD_NULL = 12 };
    char a[PATH_MAX];

    path_of(p, "mixed", a);
    for (size_t m = 0; m < NMODES; m++) {
        struct plat_file *f;
        struct plat_file_info in;
        struct plat_io io[N];
        char *wb = abuf(N * PG), *rb = abuf(N * PG);
        int fs_limit_rc, first;

        if (!mode_usable(&modes[m])) {
            free(wb);
            free(rb);
            continue;
        }
        f = open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | modes[m].flags);
        in = info_of(f);
        EXPECT(plat_file_resize(f, N * PG), 0);
        fill_pages(wb, N * PG, 500);
        for (size_t i = 0; i < N; i++)
            io[i] = (struct plat_io){wb + i * PG, PG, i * PG, 99};
        io[BAD_OFFSET].off = UINT64_MAX & ~(uint64_t)4095;
        io[FS_LIMIT].off = (uint64_t)1 << 50; /* 1 PiB: beyond ext4's 16 TiB */
        io[BAD_NULL].buf = NULL;
        if (in.direct)
            io[BAD_MISALIGNED].buf = wb + BAD_MISALIGNED * PG + in.align / 2;
        first = plat_file_write_batch(f, io, N);
        fs_limit_rc = io[FS_LIMIT].result;
        for (size_t i = 0; i < N; i++) {
            int want = 0;

            if (i == BAD_OFFSET || (i == BAD_MISALIGNED && in.direct))
                want = PLAT_EINVAL;
            else if (i == BAD_NULL)
                want = PLAT_EFAULT;
            else if (i == FS_LIMIT)
                continue;
            EXPECT(io[i].result, want);
        }
        EXPECT(first, PLAT_EINVAL); /* the lowest-indexed failure */
        if (p->tmpfs) {
            EXPECT(fs_limit_rc, 0); /* tmpfs files may grow to 8 EiB (sparse) */
        } else if (fs_limit_rc == 0) {
            print_message("note: the file system of %s allows a write at 1 PiB\n", p->name);
        } else {
            EXPECT(fs_limit_rc, PLAT_EFBIG);
        }

        /* Read them back: past the end reads zeros, the bad ones fail alike. */
        memset(rb, GARBL, N * PG);
        for (size_t i = 0; i < N; i++)
            io[i].buf = io[i].buf == NULL ? NULL : rb + (size_t)((char *)io[i].buf - wb);
        EXPECT(plat_file_read_batch(f, io, N), PLAT_EINVAL);
        for (size_t i = 0; i < N; i++) {
            if (i == BAD_OFFSET || (i == BAD_MISALIGNED && in.direct)) {
                EXPECT(io[i].result, PLAT_EINVAL);
            } else if (i == BAD_NULL) {
                EXPECT(io[i].result, PLAT_EFAULT);
            } else if (i == FS_LIMIT) {
                EXPECT(io[i].result, 0);
                if (fs_limit_rc == 0)
                    assert_true(check_pages(io[i].buf, PG, 500 + i));
                else
                    assert_true(tu_is_zero(io[i].buf, PG));
            } else {
                EXPECT(io[i].result, 0);
                assert_true(check_pages(io[i].buf, PG, 500 + i));
            }
        }
        EXPECT(plat_file_close(f), 0);
        assert_int_equal(unlink(a), 0);
        free(wb);
        free(rb);
    }
}

/* ---- Threads ------------------------------------------------------------------------------ */

enum { THREADS = 4, REGION = 512, ITERS = 12, PER_BATCH = 96 };

struct worker {
    struct plat_file *f;
    unsigned id;
    atomic_int failures;
};

/* Writes batches at random pages of its own region and reads them back; counts bad entries. */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    char *wb = aligned_alloc(PG, PER_BATCH * PG), *rb = aligned_alloc(PG, PER_BATCH * PG);
    struct plat_io io[PER_BATCH];
    uint64_t rng = 0x9e3779b97f4a7c15ull * (w->id + 1);

    if (wb == NULL || rb == NULL) {
        atomic_fetch_add(&w->failures, 1);
        free(wb);
        free(rb);
        return NULL;
    }
    for (unsigned it = 0; it < ITERS; it++) {
        uint64_t base = ((uint64_t)w->id << 40) | ((uint64_t)it << 24);

        for (size_t i = 0; i < PER_BATCH; i++) {
            /* Distinct pages: stride through the region from a random start. */
            uint64_t page = (uint64_t)w->id * REGION + (i * 5 + tu_rand(&rng) % 5) % REGION;

            io[i] = (struct plat_io){wb + i * PG, PG, page * PG, 99};
            fill_pages(wb + i * PG, PG, tag_at(base, io[i].off));
        }
        if (plat_file_write_batch(w->f, io, PER_BATCH) != 0)
            atomic_fetch_add(&w->failures, 1);
        memset(rb, GARBL, PER_BATCH * PG);
        for (size_t i = 0; i < PER_BATCH; i++)
            io[i].buf = rb + i * PG;
        if (plat_file_read_batch(w->f, io, PER_BATCH) != 0)
            atomic_fetch_add(&w->failures, 1);
        for (size_t i = 0; i < PER_BATCH; i++)
            if (io[i].result != 0 || !check_pages(rb + i * PG, PG, tag_at(base, io[i].off)))
                atomic_fetch_add(&w->failures, 1);
    }
    free(wb);
    free(rb);
    return NULL;
}

static void test_threads(void **state)
{
    const struct place *p = place_of(state);
    char a[PATH_MAX];

    path_of(p, "threads", a);
    for (size_t m = 0; m < 2; m++) { /* direct, io_uring and direct, pread */
        struct worker w[THREADS];
        plat_thread_t t[THREADS];
        struct plat_file *f;

        if (!mode_usable(&modes[m]))
            continue;
        f = open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | modes[m].flags);
        EXPECT(plat_file_resize(f, (uint64_t)THREADS * REGION * PG), 0);
        for (unsigned i = 0; i < THREADS; i++) {
            w[i].f = f;
            w[i].id = i;
            atomic_init(&w[i].failures, 0);
            assert_int_equal(plat_thread_create(&t[i], worker_run, &w[i]), 0);
        }
        for (unsigned i = 0; i < THREADS; i++) {
            assert_int_equal(plat_thread_join(t[i], NULL), 0);
            if (atomic_load(&w[i].failures) != 0)
                fail_msg("%s: thread %u saw %d bad entries", modes[m].name, i,
                         atomic_load(&w[i].failures));
        }
        EXPECT(plat_file_close(f), 0);
        assert_int_equal(unlink(a), 0);
    }
}

/* ---- Batches into an AWE window ----------------------------------------------------------- */

static void test_awe_window(void **state)
{
    enum { NP = 32 };
    const struct place *p = place_of(state);
    char a[PATH_MAX];
    awe_frame_t fr[NP], rev[NP];
    size_t count = NP;
    void *win = NULL;
    char *w;
    struct plat_io io[NP];
    struct plat_file *f;
    struct plat_file_info in;

    path_of(p, "awe", a);
    EXPECT(awe_frames_alloc(&count, fr, 0, -1), 0);
    assert_int_equal(count, NP);
    EXPECT(awe_window_reserve(NULL, NP * PG, 0, &win), 0);
    w = win;
    EXPECT(awe_map(w, NP, fr), 0);
    f = open_ok(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | PLAT_FILE_DIRECT);
    in = info_of(f);
    check_direct_info(p, &in, true);

    /* Page i of the window goes to file page NP - 1 - i. */
    for (size_t i = 0; i < NP; i++) {
        io[i] = (struct plat_io){w + i * PG, PG, (NP - 1 - i) * PG, 99};
        fill_pages(w + i * PG, PG, 7000 + (NP - 1 - i));
    }
    EXPECT(plat_file_write_batch(f, io, NP), 0);

    /* Map the frames the other way round, wipe them, and read file page i into window page i. */
    for (size_t i = 0; i < NP; i++)
        rev[i] = fr[NP - 1 - i];
    EXPECT(awe_map(w, NP, NULL), 0);
    EXPECT(awe_map(w, NP, rev), 0);
    memset(w, GARBL, NP * PG);
    for (size_t i = 0; i < NP; i++)
        io[i] = (struct plat_io){w + i * PG, PG, i * PG, 99};
    EXPECT(plat_file_read_batch(f, io, NP), 0);
    for (size_t i = 0; i < NP; i++)
        assert_true(check_pages(w + i * PG, PG, 7000 + i));

    EXPECT(plat_file_close(f), 0);
    assert_int_equal(unlink(a), 0);
    EXPECT(awe_window_release(win), 0);
    EXPECT(awe_frames_free(&count, fr), 0);
}

/* ---- Fault injection ---------------------------------------------------------------------- */

static void arm(uint64_t k, int os_errno)
{
    plat_testing_fail_nth_os_call(k, os_errno);
}

static void disarm(void)
{
    plat_testing_fail_nth_os_call(0, 0);
}

static void test_fault_injection(void **state)
{
    const struct place *p = place_of(state);
    enum { N = 8, BIG = 300 };
    char a[PATH_MAX];
    struct plat_file *f = NULL;
    struct plat_io io[BIG];
    char *wb = abuf(BIG * PG), *rb = abuf(BIG * PG);
    uint64_t k, calls;
    int rc = -1, fds = count_fds();

    path_of(p, "fault", a);

    /* 1. Every counted call of a creating open, in turn: EIO, no descriptor left, no file. */
    for (k = 1; k < 64; k++) {
        arm(k, EIO);
        rc = plat_file_open(a, PLAT_FILE_CREATE | PLAT_FILE_EXCL | PLAT_FILE_DIRECT, &f);
        disarm();
        if (rc == 0)
            break;
        EXPECT(rc, PLAT_EIO);
        assert_int_equal(count_fds(), fds);
        assert_false(exists(a));
    }
    EXPECT(rc, 0);
    assert_true(k > 6); /* open, fstat, the lock's open, flock, fcntl, the directory */

    /* 2. Single reads and writes: the error is reported; EINTR is retried. */
    fill_pages(wb, 4 * PG, 900);
    arm(1, ENOSPC);
    EXPECT(plat_file_write(f, wb, 4 * PG, 0), PLAT_ENOSPC);
    arm(1, EINTR);
    EXPECT(plat_file_write(f, wb, 4 * PG, 0), 0);
    arm(1, EIO);
    EXPECT(plat_file_read(f, rb, 4 * PG, 0), PLAT_EIO);
    arm(1, EINTR);
    EXPECT(plat_file_read(f, rb, 4 * PG, 0), 0);
    assert_true(check_pages(rb, 4 * PG, 900));
    arm(1, EFBIG);
    EXPECT(plat_file_write(f, wb, PG, 0), PLAT_EFBIG);
    disarm();

    /* 3. Resize, info, and the first sync, which also syncs the new file's directory. */
    arm(1, EIO);
    EXPECT(plat_file_resize(f, BIG * PG), PLAT_EIO);
    arm(1, EIO);
    {
        struct plat_file_info in;

        EXPECT(plat_file_get_info(f, &in), PLAT_EIO);
    }
    EXPECT(plat_file_resize(f, BIG * PG), 0);
    arm(1, EIO);
    EXPECT(plat_file_sync(f), PLAT_EIO); /* fdatasync */
    arm(2, EIO);
    EXPECT(plat_file_sync(f), PLAT_EIO); /* the directory */
    calls = plat_testing_os_calls();
    EXPECT(plat_file_sync(f), 0);
    assert_int_equal(plat_testing_os_calls() - calls, 2); /* the directory was still due */
    calls = plat_testing_os_calls();
    EXPECT(plat_file_sync(f), 0);
    assert_int_equal(plat_testing_os_calls() - calls, 1); /* now only the file */
    EXPECT(plat_file_close(f), 0);
    assert_int_equal(count_fds(), fds);

    /* A file system that refuses O_DIRECT when it is set (fcntl, the 5th call of a writable open
     * that creates nothing, after open, fstat, the lock descriptor's open and flock: EINVAL)
     * gives a buffered file, not an error. */
    f = open_ok(a, PLAT_FILE_DIRECT);
    if (info_of(f).direct) {
        EXPECT(plat_file_close(f), 0);
        arm(5, EINVAL);
        f = open_ok(a, PLAT_FILE_DIRECT);
        disarm();
        assert_false(info_of(f).direct);
        assert_int_equal(info_of(f).align, 1);
        EXPECT(plat_file_read(f, rb + 1, 10, 3), 0);
    }
    EXPECT(plat_file_close(f), 0);

    /* 4. A batch on pread/pwrite fails exactly the entry whose call failed. */
    f = open_ok(a, PLAT_FILE_DIRECT | PLAT_FILE_NO_URING);
    fill_pages(wb, N * PG, 1200);
    for (size_t i = 0; i < N; i++)
        io[i] = (struct plat_io){wb + i * PG, PG, i * PG, 99};
    arm(3, EIO);
    EXPECT(plat_file_write_batch(f, io, N), PLAT_EIO);
    disarm();
    for (size_t i = 0; i < N; i++)
        EXPECT(io[i].result, i == 2 ? PLAT_EIO : 0);
    for (size_t i = 0; i < N; i++)
        io[i].buf = rb + i * PG;
    EXPECT(plat_file_read_batch(f, io, N), 0);
    for (size_t i = 0; i < N; i++)
        if (i != 2)
            assert_true(check_pages(rb + i * PG, PG, 1200 + i));
    EXPECT(plat_file_close(f), 0);

    /* 5. A batch on io_uring: one counted call per submission round. */
    if (!have_uring) {
        print_message("io_uring unavailable here: its fault-injection cases skipped\n");
    } else {
        f = open_ok(a, PLAT_FILE_DIRECT);
        assert_true(info_of(f).uring);
        assert_true(info_of(f).queue_depth < BIG);
        fill_pages(wb, BIG * PG, 3000);
        for (size_t i = 0; i < BIG; i++)
            io[i] = (struct plat_io){wb + i * PG, PG, i * PG, 99};
        EXPECT(plat_file_write_batch(f, io, BIG), 0);

        /* N <= queue depth: one round, one call. */
        for (size_t i = 0; i < N; i++)
            io[i] = (struct plat_io){rb + i * PG, PG, i * PG, 99};
        calls = plat_testing_os_calls();
        EXPECT(plat_file_read_batch(f, io, N), 0);
        assert_int_equal(plat_testing_os_calls() - calls, 1);
        arm(1, EIO);
        EXPECT(plat_file_read_batch(f, io, N), PLAT_EIO);
        for (size_t i = 0; i < N; i++)
            EXPECT(io[i].result, PLAT_EIO);
        arm(1, ENOSPC);
        for (size_t i = 0; i < N; i++)
            io[i] = (struct plat_io){wb + i * PG, PG, i * PG, 99};
        EXPECT(plat_file_write_batch(f, io, N), PLAT_ENOSPC);
        for (size_t i = 0; i < N; i++)
            EXPECT(io[i].result, PLAT_ENOSPC);
        arm(1, EINTR); /* an interrupted submission is made again */
        EXPECT(plat_file_write_batch(f, io, N), 0);
        disarm();

        /* BIG > queue depth: the second round fails; the first round's entries complete. The
         * offsets go down, so that no two entries make one vectored transfer. */
        memset(rb, GARBL, BIG * PG);
        for (size_t i = 0; i < BIG; i++)
            io[i] = (struct plat_io){rb + i * PG, PG, (BIG - 1 - i) * PG, 99};
        arm(2, EIO);
        EXPECT(plat_file_read_batch(f, io, BIG), PLAT_EIO);
        disarm();
        {
            size_t ok = 0, failed = 0, qd = info_of(f).queue_depth;

            for (size_t i = 0; i < BIG; i++) {
                if (io[i].result == 0) {
                    ok++;
                    assert_true(check_pages(rb + i * PG, PG, 3000 + (BIG - 1 - i)));
                } else {
                    EXPECT(io[i].result, PLAT_EIO);
                    failed++;
                }
                if (i < qd)
                    EXPECT(io[i].result, 0);
            }
            assert_true(ok >= qd && failed > 0);
        }
        /* The ring serves the next batch as before. */
        memset(rb, GARBL, BIG * PG);
        for (size_t i = 0; i < BIG; i++)
            io[i] = (struct plat_io){rb + i * PG, PG, i * PG, 99};
        EXPECT(plat_file_read_batch(f, io, BIG), 0);
        assert_true(check_pages(rb, BIG * PG, 3000));
        EXPECT(plat_file_close(f), 0);
    }
    assert_int_equal(count_fds(), fds);
    assert_int_equal(unlink(a), 0);
    free(wb);
    free(rb);
}

/* ---- Setup -------------------------------------------------------------------------------- */

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int group_setup(void **state)
{
    struct plat_file *f = NULL;
    char probe[PATH_MAX];

    (void)state;
    tu_init();
    if (mkdir(AWECACHE_TEST_IO_DIR, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot make %s: %s\n", AWECACHE_TEST_IO_DIR, strerror(errno));
        return -1;
    }
    snprintf(places[0].dir, PATH_MAX, "%s/io-XXXXXX", AWECACHE_TEST_IO_DIR);
    if (mkdtemp(places[0].dir) == NULL) {
        fprintf(stderr, "mkdtemp under %s: %s\n", AWECACHE_TEST_IO_DIR, strerror(errno));
        return -1;
    }
    snprintf(places[1].dir, PATH_MAX, "/dev/shm/awecache-io-XXXXXX");
    if (mkdtemp(places[1].dir) == NULL) {
        printf("no /dev/shm here (%s): the tmpfs cases are skipped\n", strerror(errno));
        places[1].dir[0] = '\0';
    }

    /* Does io_uring work here? */
    path_of(&places[0], "probe", probe);
    if (plat_file_open(probe, PLAT_FILE_CREATE, &f) != 0)
        return -1;
    have_uring = info_of(f).uring;
    plat_file_close(f);
    unlink(probe);
    if (!have_uring)
        printf("io_uring is unavailable (no liburing in this build, or the kernel refuses it): "
               "only the pread/pwrite path is tested\n");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++)
        if (places[i].dir[0] != '\0')
            remove_tree(places[i].dir);
    return 0;
}

#define BOTH(fn)                                                                                   \
    cmocka_unit_test_prestate(fn, &places[0]), cmocka_unit_test_prestate(fn, &places[1])

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_open_errors), BOTH(test_lock),       BOTH(test_resize_read_write),
        BOTH(test_batches),     BOTH(test_batch_runs), BOTH(test_batch_mixed_failures),
        BOTH(test_threads),     BOTH(test_awe_window), BOTH(test_fault_injection),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
