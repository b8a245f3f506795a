/*
 * tests/test_full_disk.c: the page cache on a full disk (engine/README.md 4.2.6, 5.5).
 *
 * A real full file system: a 4 MiB tmpfs mounted in a mount namespace of this process's own (so
 * nothing is left mounted whatever happens), filled with a filler file until writes fail with
 * ENOSPC. On it: a flush that cannot write its new pages says AWC_ENOSPC and keeps them dirty;
 * pages already in frames stay readable, and so do flushed pages that must be read again (a miss
 * takes a clean frame while write-backs fail); once space is freed, a flush writes everything.
 * The key-value cache on it: flushed items stay readable; a checkpoint of its index that needs
 * more of the file fails with AWC_ENOSPC, and nothing half-written is trusted by the reopen.
 * Needs root (mount); skipped (77) with the reason otherwise.
 */
#include "engine_util.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define PS      ((size_t)4096)
#define FLUSHED 100u /* pages written and flushed before the disk fills */
#define FRAMES  32u
#define NEWP    16u /* pages never written before, dirtied while the disk is full */

static char mnt[900];     /* this test's tmpfs (a fresh one for each case) */
static char scratch[800]; /* where the cases' mounts go */
static unsigned ncase;

static void check_page(awc_t *c, uint64_t page, uint64_t version)
{
    uint64_t got = UINT64_MAX;
    void *p = NULL;

    ET_EXPECT(awc_pin(c, page, AWC_SHARED, &p), AWC_OK);
    if (et_check(p, PS, page, &got) != ET_GOOD || got != version)
        fail_msg("page %llu: version %llu, expected %llu", (unsigned long long)page,
                 (unsigned long long)got, (unsigned long long)version);
    ET_EXPECT(awc_unpin(c, page, 0), AWC_OK);
}

/* Writes a filler file until the file system is full; returns its path in buf. */
static void fill_disk(char *buf, size_t len)
{
    static char chunk[65536];
    int fd;

    snprintf(buf, len, "%s/filler", mnt);
    fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    memset(chunk, 0x5a, sizeof(chunk));
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof(chunk));

        if (n <= 0) {
            assert_int_equal(errno, ENOSPC);
            break;
        }
    }
    /* Page by page, what is left. */
    while (write(fd, chunk, 4096) > 0)
        ;
    close(fd);
}

/* Mounts a fresh 4 MiB tmpfs for one case: space freed by an earlier case (its files may be
 * released late: an io_uring ring lets go of its files asynchronously) cannot leak into this one.
 */
static void fresh_fs(void)
{
    snprintf(mnt, sizeof(mnt), "%s/fs%u", scratch, ncase++);
    assert_int_equal(mkdir(mnt, 0700), 0);
    assert_int_equal(mount("awecache-test", mnt, "tmpfs", 0, "size=4m"), 0);
}

static void test_full_disk(void **state)
{
    const unsigned mode = *(const unsigned *)*state; /* 0 or AWC_MAP_WINDOW */
    char path[1024], filler[1024];
    struct awc_config cfg;
    awc_t *c;
    void *p;
    uint64_t q;
    int rc;

    fresh_fs();
    snprintf(path, sizeof(path), "%s/cache.awc", mnt);
    cfg = et_cfg(path, PS, FRAMES, 8, AWC_CREATE | AWC_NO_DIRECT | mode);
    c = et_open(&cfg);
    for (q = 0; q < FLUSHED; q++) {
        ET_EXPECT(awc_pin(c, q, AWC_EXCLUSIVE, &p), AWC_OK);
        et_fill(p, PS, q, 1);
        ET_EXPECT(awc_unpin(c, q, 1), AWC_OK);
    }
    ET_EXPECT(awc_flush(c), AWC_OK);
    fill_disk(filler, sizeof(filler));

    /* New pages (holes in the file: writing them needs space) dirtied in frames. */
    for (q = FLUSHED; q < FLUSHED + NEWP; q++) {
        ET_EXPECT(awc_pin(c, q, AWC_OVERWRITE, &p), AWC_OK);
        et_fill(p, PS, q, 2);
        ET_EXPECT(awc_unpin(c, q, 1), AWC_OK);
    }
    /* The flush says why it failed, each time, and keeps them dirty. */
    ET_EXPECT(awc_flush(c), AWC_ENOSPC);
    ET_EXPECT(awc_flush(c), AWC_ENOSPC);

    /* Reads keep working: the dirty pages from frames, the flushed ones read again into the
     * frames left clean (twice over, so that every flushed page is a miss at least once). */
    for (int round = 0; round < 2; round++) {
        for (q = 0; q < FLUSHED; q++)
            check_page(c, q, 1);
        for (q = FLUSHED; q < FLUSHED + NEWP; q++)
            check_page(c, q, 2);
    }

    /* A writer that needs a frame when only dirty, unwritable ones can be had gets the write's
     * error, never AWC_EBUSY or a page it did not ask for. */
    for (q = 1000; q < 1000 + FRAMES; q++) {
        rc = awc_pin(c, q, AWC_OVERWRITE, &p);
        if (rc != AWC_OK)
            break;
        et_fill(p, PS, q, 3);
        ET_EXPECT(awc_unpin(c, q, 1), AWC_OK);
    }
    assert_int_equal(rc, AWC_ENOSPC);
    for (uint64_t r = FLUSHED; r < FLUSHED + NEWP; r++) /* still in frames: readable */
        check_page(c, r, 2);

    /* Space again: everything reaches the disk. */
    assert_int_equal(unlink(filler), 0);
    ET_EXPECT(awc_flush(c), AWC_OK);
    et_close(c);
    cfg.flags = AWC_NO_DIRECT | mode;
    c = et_open(&cfg);
    for (q = 0; q < FLUSHED; q++)
        check_page(c, q, 1);
    for (q = FLUSHED; q < FLUSHED + NEWP; q++)
        check_page(c, q, 2);
    et_close(c);
    assert_int_equal(unlink(path), 0);
}

/* The key-value cache on the full disk: flushed items stay readable (from frames, or read again
 * into clean frames) while puts fail for want of space; never a wrong value. */
static void test_kv_full_disk(void **state)
{
    char path[1024], filler[1024];
    struct awc_kv_config cfg;
    struct awc_kv_stats st;
    awc_kv_t *kv = NULL;
    uint8_t value[600], got[600];
    uint64_t version;
    size_t len;
    int rc, ok = 0, nospace = 0, puts_failed = 0;

    (void)state;
    fresh_fs();
    snprintf(path, sizeof(path), "%s/kv.awc", mnt);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.capacity = 256 * PS;
    cfg.frame_budget = 64 * PS;
    cfg.window_budget = 16 * PS;
    cfg.flags = AWC_CREATE | AWC_NO_DIRECT;
    ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
    for (uint64_t id = 0; id < 200; id++) {
        char key[32];

        snprintf(key, sizeof(key), "key-%llu", (unsigned long long)id);
        et_value_make(value, sizeof(value), id, 1);
        ET_EXPECT(awc_kv_put(kv, key, strlen(key), value, sizeof(value), 0), AWC_OK);
    }
    ET_EXPECT(awc_kv_flush(kv), AWC_OK);
    fill_disk(filler, sizeof(filler));
    for (uint64_t id = 1000; id < 2300; id++) { /* 190 new log pages: write-backs fail */
        char key[32];

        snprintf(key, sizeof(key), "key-%llu", (unsigned long long)id);
        et_value_make(value, sizeof(value), id, 1);
        rc = awc_kv_put(kv, key, strlen(key), value, sizeof(value), 0);
        if (rc != AWC_OK) {
            assert_int_equal(rc, AWC_ENOSPC);
            puts_failed++;
        }
    }
    for (uint64_t id = 0; id < 200; id++) {
        char key[32];

        snprintf(key, sizeof(key), "key-%llu", (unsigned long long)id);
        rc = awc_kv_get(kv, key, strlen(key), got, sizeof(got), &len);
        if (rc == AWC_ENOSPC) {
            nospace++;
            continue;
        }
        ET_EXPECT(rc, AWC_OK);
        assert_int_equal(len, sizeof(got));
        assert_true(et_value_ok(got, len, id, &version) && version == 1);
        ok++;
    }
    ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_OK);
    print_message("full disk: %d puts refused, %d of 200 flushed items read, %d AWC_ENOSPC\n",
                  puts_failed, ok, nospace);
    assert_true(puts_failed > 0);
    assert_int_equal(nospace, 0); /* the puts left clean frames: every read found one */
    assert_int_equal(unlink(filler), 0);
    ET_EXPECT(awc_kv_close(kv), AWC_OK);
    assert_int_equal(unlink(path), 0);
}

/* A key-value checkpoint (engine/README.md 9.7) that needs more of the file than the full disk
 * gives: the durable point that takes it fails with AWC_ENOSPC (the put or close that made it
 * says so), nothing names the half-written checkpoint, and once space is freed the reopen uses
 * the older one (or the scan): every put acknowledged is there, exactly, and no refused one. */
#define CKD_CAP  (128 * PS)
#define CKD_KEYS 3000u

static size_t ckd_key(char *b, unsigned id)
{
    return (size_t)snprintf(b, 32, "b%u", id);
}

static void test_kv_full_disk_checkpoint(void **state)
{
    char path[1024], filler[1024], key[32];
    static bool acked[CKD_KEYS];
    struct awc_kv_config cfg;
    struct awc_kv_stats st;
    awc_kv_t *kv = NULL;
    uint8_t value[600], got[600];
    unsigned refused = 0, found = 0;
    size_t len;
    int rc;

    (void)state;
    fresh_fs();
    snprintf(path, sizeof(path), "%s/kv-ck.awc", mnt);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.capacity = CKD_CAP;
    cfg.frame_budget = 64 * PS;
    cfg.window_budget = 16 * PS;
    cfg.flags = AWC_CREATE | AWC_NO_DIRECT;
    /* 1. The log written round more than once (every log page is in the file), few items: the
     *    checkpoints so far are small. */
    ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
    for (uint64_t i = 0; i < 1500; i++) {
        snprintf(key, sizeof(key), "a%llu", (unsigned long long)(i % 100));
        et_value_make(value, sizeof(value), i % 100, i / 100 + 1);
        ET_EXPECT(awc_kv_put(kv, key, strlen(key), value, sizeof(value), 0), AWC_OK);
    }
    ET_EXPECT(awc_kv_close(kv), AWC_OK);
    /* 2. The disk full; many small items: their checkpoint needs pages the file does not have. */
    cfg.flags = AWC_NO_DIRECT;
    ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
    fill_disk(filler, sizeof(filler));
    for (unsigned id = 0; id < CKD_KEYS; id++) {
        rc = awc_kv_put(kv, key, ckd_key(key, id), &id, sizeof(id), 0);
        if (rc != AWC_OK) {
            assert_int_equal(rc, AWC_ENOSPC);
            refused++;
        }
        acked[id] = rc == AWC_OK;
    }
    ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_OK);
    rc = awc_kv_close(kv);
    print_message("full disk, checkpoint: %u of %u puts refused, close %s, %llu checkpoints "
                  "written\n",
                  refused, CKD_KEYS, awc_err_name(rc), (unsigned long long)st.checkpoints);
    assert_true(refused > 0);
    assert_int_equal(rc, AWC_ENOSPC);
    /* 3. Space again: the reopen trusts nothing half-written. */
    assert_int_equal(unlink(filler), 0);
    ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
    ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_OK);
    assert_int_equal(st.open_checkpoint_rejected, 0);
    for (unsigned id = 0; id < CKD_KEYS; id++) {
        unsigned v = UINT32_MAX;

        rc = awc_kv_get(kv, key, ckd_key(key, id), &v, sizeof(v), &len);
        if (!acked[id]) {
            ET_EXPECT(rc, AWC_ENOTFOUND);
            continue;
        }
        ET_EXPECT(rc, AWC_OK);
        assert_true(len == sizeof(v) && v == id);
        found++;
    }
    for (uint64_t i = 0; i < 100; i++) { /* older items: evicted, or their latest value */
        uint64_t version = 0;

        snprintf(key, sizeof(key), "a%llu", (unsigned long long)i);
        rc = awc_kv_get(kv, key, strlen(key), got, sizeof(got), &len);
        if (rc == AWC_ENOTFOUND)
            continue;
        ET_EXPECT(rc, AWC_OK);
        assert_true(et_value_ok(got, len, i, &version) && version == 15);
    }
    print_message("full disk, checkpoint: the reopen %s; %u acknowledged puts found\n",
                  st.open_index == AWC_KV_INDEX_CHECKPOINT ? "loaded the older checkpoint"
                                                           : "scanned the log",
                  found);
    ET_EXPECT(awc_kv_close(kv), AWC_OK);
    assert_int_equal(unlink(path), 0);
}

/* A mount namespace of our own with a small tmpfs in the scratch directory; false (and why in
 * `why`) where that cannot be had. */
static bool mount_small_fs(char *why, size_t len)
{
    if (geteuid() != 0) {
        snprintf(why, len, "not root: mounting a small file system to fill needs it");
        return false;
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(why, len, "no mount namespace of our own: %s", strerror(errno));
        return false;
    }
    et_path(scratch, sizeof(scratch), "small-fs");
    snprintf(mnt, sizeof(mnt), "%s/probe", scratch);
    if (mkdir(scratch, 0700) != 0 || mkdir(mnt, 0700) != 0 ||
        mount("awecache-test", mnt, "tmpfs", 0, "size=4m") != 0) {
        snprintf(why, len, "cannot mount a tmpfs at %s: %s", mnt, strerror(errno));
        return false;
    }
    umount2(mnt, MNT_DETACH);
    return true;
}

int main(void)
{
    static const unsigned copy_mode = 0, map_mode = AWC_MAP_WINDOW;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_full_disk, (void *)&copy_mode),
        cmocka_unit_test_prestate(test_full_disk, (void *)&map_mode),
        cmocka_unit_test(test_kv_full_disk),
        cmocka_unit_test(test_kv_full_disk_checkpoint),
    };
    char why[1200];
    int rc;

    tu_init();
    et_init("test_full_disk");
    if (!mount_small_fs(why, sizeof(why))) {
        printf("skipped: %s\n", why);
        et_cleanup();
        return 77;
    }
    rc = cmocka_run_group_tests_name("full_disk", tests, NULL, NULL);
    for (unsigned i = 0; i < ncase; i++) { /* the namespace goes with the process anyway */
        snprintf(mnt, sizeof(mnt), "%s/fs%u", scratch, i);
        umount2(mnt, MNT_DETACH);
    }
    et_cleanup();
    return rc;
}
