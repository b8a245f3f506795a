/*
 * tests/test_engine_crash.c: a process killed at a random moment leaves a file that reopens,
 * with every flushed change intact and nothing else but versions the page really had.
 *
 * test_kill_rounds: for AWC_CRASH_ROUNDS rounds (default 8), a fork()ed child opens the cache
 * (1024 pages of 4 KiB, 64 frames, 16 slots: write-backs happen by eviction as well as by
 * flush) and writes pages as fast as it can, one at a time or in exclusive batches, each page
 * holding (page, version) with a checksum of its body; at random points it flushes. Before it
 * changes a page it records the new version in written[p]; after awc_flush returns it records,
 * for every page, the version the flush covered in covered[p]. Both arrays live in a
 * MAP_SHARED | MAP_ANONYMOUS mapping, so they survive the child. The parent kills the child
 * with SIGKILL after a random 5 to 300 ms, reopens the file (which must never fail) and checks
 * every page:
 *   - a page whose last change was covered by a completed flush (written == covered) reads back
 *     exactly at that version;
 *   - any other page reads back as a version it had, covered <= v <= written (never older than
 *     the last flush, never a mix), or fails with AWC_ECHECKSUM (a torn write no flush covered:
 *     counted and printed, and left alone afterwards).
 * The next round starts from what the parent read back. The reopen comes right after waitpid:
 * the dead child holds nothing, so AWC_ELOCKED there is a failure (reported at the end, after
 * retrying so that the contents are still checked).
 *
 * test_interrupted_create: a crash while awc_open creates a file can leave it empty, with one
 * superblock, or with both and no segment: each of those must open (as an empty cache).
 *
 * test_interrupted_writeback: the state a crash between a write-back's checksum records and its
 * data leaves (made byte for byte): the page reads back as its previous version, including the
 * never-written zero page when it was the page's first write-back.
 */
#include "engine_util.h"
#include "test_util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define PS      ((size_t)4096)
#define NP      1024u
#define NFRAMES 64u
#define NSLOTS  16u

/* Shared between the parent and the child: survives the child's death. */
struct shm {
    _Atomic uint64_t written[NP]; /* the newest version the child started writing */
    _Atomic uint64_t covered[NP]; /* the version the last completed flush covered */
    _Atomic uint8_t dead[NP];     /* torn by a crash: unreadable, left alone */
    _Atomic uint64_t ops;         /* pages the child changed */
    _Atomic uint64_t flushes;     /* flushes the child completed */
    _Atomic int opened;           /* the child's awc_open returned */
};

static struct shm *shm;
static char path[1024];
static unsigned lingering; /* reopens refused with AWC_ELOCKED although the child was reaped */
static double lingering_ms;

/* ---- The child --------------------------------------------------------------------------- */

/* Exit codes of a child that stopped by itself (it should only ever be killed). */
enum { CHILD_OPEN = 3, CHILD_PIN = 4, CHILD_CONTENT = 5, CHILD_FLUSH = 6, CHILD_UNPIN = 7 };

static uint64_t child_pick(uint64_t *rng)
{
    uint64_t p;

    do {
        /* Half uniform, half on a hot quarter of the file, so some pages change often. */
        p = et_rand(rng) & 1 ? et_rand_below(rng, NP) : et_rand_below(rng, NP / 4);
    } while (atomic_load(&shm->dead[p]));
    return p;
}

/* Checks the page the child is about to change: it must hold written[p]. */
static void child_check(const void *ptr, uint64_t page)
{
    uint64_t v = UINT64_MAX, want = atomic_load(&shm->written[page]);
    enum et_verdict d = et_check(ptr, PS, page, &v);

    if (d != ET_GOOD || v != want) {
        fprintf(stderr, "child: page %llu: %s, version %llu, expected %llu\n",
                (unsigned long long)page, et_check_str(d), (unsigned long long)v,
                (unsigned long long)want);
        _exit(CHILD_CONTENT);
    }
}

static void child_bump(void *ptr, uint64_t page)
{
    uint64_t v = atomic_load(&shm->written[page]) + 1;

    atomic_store(&shm->written[page], v); /* recorded before the change exists anywhere */
    et_fill(ptr, PS, page, v);
    atomic_fetch_add(&shm->ops, 1);
}

static int child_main(uint64_t seed)
{
    struct awc_config cfg = et_cfg(path, PS, NFRAMES, NSLOTS, 0);
    static uint64_t pending[NP];
    uint64_t rng = seed | 1, pages[4];
    void *ptr, *out[4];
    awc_t *c;
    int rc;

    rc = awc_open(&cfg, &c);
    atomic_store(&shm->opened, 1);
    if (rc != AWC_OK) {
        fprintf(stderr, "child: awc_open returned %d (%s)\n", rc, awc_strerror(rc));
        return CHILD_OPEN;
    }
    for (;;) {
        uint64_t dice = et_rand_below(&rng, 1000);

        if (dice < 15) {
            /* Flush: whatever was written before the call is covered once it returns. */
            for (uint64_t p = 0; p < NP; p++)
                pending[p] = atomic_load(&shm->written[p]);
            rc = awc_flush(c);
            if (rc != AWC_OK) {
                fprintf(stderr, "child: awc_flush returned %d (%s)\n", rc, awc_strerror(rc));
                return CHILD_FLUSH;
            }
            for (uint64_t p = 0; p < NP; p++)
                atomic_store(&shm->covered[p], pending[p]);
            atomic_fetch_add(&shm->flushes, 1);
        } else if (dice < 150) {
            size_t n = 2 + et_rand_below(&rng, 3);

            for (size_t i = 0; i < n; i++) {
                bool dup;

                do {
                    pages[i] = child_pick(&rng);
                    dup = false;
                    for (size_t j = 0; j < i; j++)
                        dup = dup || pages[j] == pages[i];
                } while (dup);
            }
            rc = awc_pin_batch(c, pages, n, AWC_EXCLUSIVE, out);
            if (rc != AWC_OK) {
                fprintf(stderr, "child: awc_pin_batch returned %d (%s)\n", rc, awc_strerror(rc));
                return CHILD_PIN;
            }
            for (size_t i = 0; i < n; i++) {
                child_check(out[i], pages[i]);
                child_bump(out[i], pages[i]);
            }
            for (size_t i = 0; i < n; i++)
                if (awc_unpin(c, pages[i], 1) != AWC_OK)
                    return CHILD_UNPIN;
        } else {
            uint64_t p = child_pick(&rng);

            rc = awc_pin(c, p, AWC_EXCLUSIVE, &ptr);
            if (rc != AWC_OK) {
                fprintf(stderr, "child: awc_pin(%llu) returned %d (%s)\n", (unsigned long long)p,
                        rc, awc_strerror(rc));
                return CHILD_PIN;
            }
            child_check(ptr, p);
            child_bump(ptr, p);
            if (awc_unpin(c, p, 1) != AWC_OK)
                return CHILD_UNPIN;
        }
    }
}

/* ---- The parent -------------------------------------------------------------------------- */

struct round_result {
    uint64_t exact;  /* pages with written == covered, read back exactly */
    uint64_t newer;  /* pages read back newer than their last flush */
    uint64_t at_old; /* pages not covered that read back at their covered version */
    uint64_t torn;   /* AWC_ECHECKSUM: torn, not covered */
};

/* Reopens the file and checks every page; then written = covered = what was read. */
static struct round_result verify_file(int round)
{
    struct awc_config cfg = et_cfg(path, PS, NFRAMES, NSLOTS, 0);
    struct round_result r = {0};
    awc_t *c = NULL;
    void *ptr;
    uint64_t t0 = et_now_ns();
    int rc = awc_open(&cfg, &c);

    /* The child is dead and reaped: nobody has the file open, so AWC_ELOCKED is wrong. It is
     * recorded (the test fails at the end) and the open retried, so that the rest of the
     * checks still run. */
    if (rc == AWC_ELOCKED) {
        double ms;

        while (rc == AWC_ELOCKED && et_now_ns() - t0 < UINT64_C(5000000000)) {
            et_sleep_ms(1);
            rc = awc_open(&cfg, &c);
        }
        ms = (double)(et_now_ns() - t0) / 1e6;
        print_message("round %d: AWC_ELOCKED right after the killed child was reaped; it opened "
                      "%.1f ms later\n",
                      round, ms);
        lingering++;
        if (ms > lingering_ms)
            lingering_ms = ms;
    }
    if (rc != AWC_OK)
        fail_msg("round %d: reopening after the kill failed: %d (%s)", round, rc, awc_strerror(rc));
    et_keep(c);
    for (uint64_t p = 0; p < NP; p++) {
        uint64_t w = atomic_load(&shm->written[p]), cv = atomic_load(&shm->covered[p]), v = 0;

        if (atomic_load(&shm->dead[p]))
            continue;
        rc = awc_pin(c, p, AWC_SHARED, &ptr);
        if (rc == AWC_ECHECKSUM && w > cv) {
            print_message("round %d: page %llu torn (covered version %llu, written up to "
                          "%llu): AWC_ECHECKSUM\n",
                          round, (unsigned long long)p, (unsigned long long)cv,
                          (unsigned long long)w);
            r.torn++;
            atomic_store(&shm->dead[p], 1);
            continue;
        }
        if (rc != AWC_OK)
            fail_msg("round %d: page %llu (covered %llu, written %llu): awc_pin returned %d (%s)",
                     round, (unsigned long long)p, (unsigned long long)cv, (unsigned long long)w,
                     rc, awc_strerror(rc));
        enum et_verdict d = et_check(ptr, PS, p, &v);
        ET_EXPECT(awc_unpin(c, p, 0), AWC_OK);
        if (d != ET_GOOD)
            fail_msg("round %d: page %llu (covered %llu, written %llu) reads back as %s", round,
                     (unsigned long long)p, (unsigned long long)cv, (unsigned long long)w,
                     et_check_str(d));
        if (w == cv && v != cv)
            fail_msg("round %d: page %llu: its last change (version %llu) was flushed, but it "
                     "reads back as version %llu",
                     round, (unsigned long long)p, (unsigned long long)cv, (unsigned long long)v);
        if (v < cv || v > w)
            fail_msg("round %d: page %llu reads back as version %llu, outside [%llu (flushed), "
                     "%llu (written)]",
                     round, (unsigned long long)p, (unsigned long long)v, (unsigned long long)cv,
                     (unsigned long long)w);
        if (w == cv)
            r.exact++;
        else if (v > cv)
            r.newer++;
        else
            r.at_old++;
        atomic_store(&shm->written[p], v);
        atomic_store(&shm->covered[p], v);
    }
    assert_int_equal(et_stats(c).checksum_failures, r.torn);
    et_close(c);
    return r;
}

static void test_kill_rounds(void **state)
{
    uint64_t rounds = et_env_u64("AWC_CRASH_ROUNDS", 8);
    uint64_t seed = et_env_u64("AWC_CRASH_SEED", et_now_ns() | 1), rng = seed;
    struct awc_config cfg;
    struct round_result total = {0};
    uint64_t kills_before_open = 0;

    (void)state;
    print_message("%llu rounds, seed %llu (AWC_CRASH_SEED to repeat)\n", (unsigned long long)rounds,
                  (unsigned long long)seed);
    et_unlink(path);
    cfg = et_cfg(path, PS, NFRAMES, NSLOTS, AWC_CREATE | AWC_EXCL);
    et_close(et_open(&cfg));

    for (uint64_t round = 0; round < rounds; round++) {
        unsigned delay = 5 + (unsigned)et_rand_below(&rng, 296);
        uint64_t child_seed = et_rand(&rng);
        uint64_t ops0 = atomic_load(&shm->ops), fl0 = atomic_load(&shm->flushes);
        uint64_t ahead = 0;
        struct round_result r;
        int status;
        pid_t pid;

        atomic_store(&shm->opened, 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

            for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                signal(sigs[i], SIG_DFL);
            _exit(child_main(child_seed));
        }
        et_sleep_ms(delay);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
            ;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("round %llu: the child stopped by itself (exit status %d): see its message",
                     (unsigned long long)round, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        kills_before_open += atomic_load(&shm->opened) == 0;
        for (uint64_t p = 0; p < NP; p++)
            ahead += atomic_load(&shm->written[p]) != atomic_load(&shm->covered[p]);

        r = verify_file((int)round);
        print_message(
            "round %llu: killed after %u ms, %llu changes, %llu flushes; %llu pages "
            "ahead of the last flush: %llu read back newer, %llu at the flushed "
            "version, %llu torn; %llu exact\n",
            (unsigned long long)round, delay, (unsigned long long)(atomic_load(&shm->ops) - ops0),
            (unsigned long long)(atomic_load(&shm->flushes) - fl0), (unsigned long long)ahead,
            (unsigned long long)r.newer, (unsigned long long)r.at_old, (unsigned long long)r.torn,
            (unsigned long long)r.exact);
        total.exact += r.exact;
        total.newer += r.newer;
        total.at_old += r.at_old;
        total.torn += r.torn;
    }
    print_message("total: %llu changes, %llu flushes, %llu kills before the child's open "
                  "returned; %llu torn pages (AWC_ECHECKSUM, not covered by a flush)\n",
                  (unsigned long long)atomic_load(&shm->ops),
                  (unsigned long long)atomic_load(&shm->flushes),
                  (unsigned long long)kills_before_open, (unsigned long long)total.torn);
    assert_true(atomic_load(&shm->ops) > 0);
    et_unlink(path);
    if (lingering > 0)
        fail_msg("in %u of %llu rounds the reopen right after the killed child was reaped "
                 "returned AWC_ELOCKED (no process had the file open); it opened up to %.1f ms "
                 "later",
                 lingering, (unsigned long long)rounds, lingering_ms);
}

/* ---- Interrupted creation ---------------------------------------------------------------- */

static void test_interrupted_create(void **state)
{
    const uint64_t sizes[] = {0, ET_SB_SIZE, 2 * ET_SB_SIZE};
    struct awc_config cfg;
    awc_t *c;
    void *ptr;

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int rc;

        et_unlink(path);
        cfg = et_cfg(path, PS, NFRAMES, NSLOTS, AWC_CREATE | AWC_EXCL);
        et_close(et_open(&cfg));
        et_truncate(path, sizes[i]); /* what a crash during the creation may leave */
        cfg.flags = 0;
        c = NULL;
        rc = awc_open(&cfg, &c);
        if (rc != AWC_OK)
            fail_msg("a file cut to %llu bytes (creation interrupted) does not open: %d (%s)",
                     (unsigned long long)sizes[i], rc, awc_strerror(rc));
        et_keep(c);
        ET_EXPECT(awc_pin(c, 0, AWC_EXCLUSIVE, &ptr), AWC_OK);
        assert_true(et_is_zero(ptr, PS));
        et_fill(ptr, PS, 0, 1);
        ET_EXPECT(awc_unpin(c, 0, 1), AWC_OK);
        et_close(c);
        c = et_open(&cfg);
        ET_EXPECT(awc_pin(c, 0, AWC_SHARED, &ptr), AWC_OK);
        uint64_t v = 0;
        assert_int_equal(et_check(ptr, PS, 0, &v), ET_GOOD);
        assert_int_equal(v, 1);
        ET_EXPECT(awc_unpin(c, 0, 0), AWC_OK);
        et_close(c);
    }
    et_unlink(path);
}

/* ---- Interrupted write-backs ------------------------------------------------------------- */

/* A write-back writes the checksum records first, then the data (README 5.4); a crash between
 * the two leaves the new record over the old data. This makes that state byte for byte: a
 * fork()ed child writes the page through the cache (after a flush of the pages around it, and of
 * page 5's older version when there is one), writes it back with awc_writeback (records and data,
 * no flush) and dies without closing; then the page's data on disk is put back to what it was
 * before (zeros for a page never written before, else the previous version). The page must read
 * back as that old version (the file opens as of its last completed flush plus the writes that
 * completed whole), and be writable again. The same old data under a record that a completed
 * flush covered is damage, not a crash: AWC_ECHECKSUM (the last part). */
static uint64_t interrupted_old;

static int interrupted_child(void *arg)
{
    struct awc_config cfg = et_cfg(path, PS, NFRAMES, NSLOTS, AWC_CREATE | AWC_EXCL);
    awc_t *c = NULL;
    void *ptr;

    (void)arg;
    if (awc_open(&cfg, &c) != AWC_OK)
        return 1;
    for (uint64_t p = 4; p < 7; p++) { /* pages 4 and 6 around it, so the segment exists */
        if (p == 5 && interrupted_old == 0)
            continue;
        if (awc_pin(c, p, AWC_EXCLUSIVE, &ptr) != AWC_OK)
            return 2;
        et_fill(ptr, PS, p, p == 5 ? interrupted_old : 1);
        awc_unpin(c, p, 1);
    }
    if (awc_flush(c) != AWC_OK || awc_pin(c, 5, AWC_EXCLUSIVE, &ptr) != AWC_OK)
        return 3;
    et_fill(ptr, PS, 5, interrupted_old + 1);
    awc_unpin(c, 5, 1);
    if (awc_writeback(c) != AWC_OK)
        return 4;
    return 0; /* no close: the process ends as if killed */
}

static void interrupted_case(uint64_t old_version)
{
    struct awc_config cfg = et_cfg(path, PS, NFRAMES, NSLOTS, 0);
    char *img = aligned_alloc(4096, PS);
    uint64_t v = UINT64_MAX;
    awc_t *c;
    void *ptr;
    int rc;

    assert_non_null(img);
    et_unlink(path);
    interrupted_old = old_version;
    assert_int_equal(tu_run_child(interrupted_child, NULL), 0);
    /* The data of the last write-back of page 5 did not land. */
    if (old_version == 0)
        memset(img, 0, PS);
    else
        et_fill(img, PS, 5, old_version);
    et_pwrite(path, img, PS, et_page_offset(PS, 5));

    c = et_open(&cfg);
    rc = awc_pin(c, 5, AWC_SHARED, &ptr);
    if (rc != AWC_OK) {
        et_close(c);
        free(img);
        fail_msg("page 5, whose %s write-back was cut between its checksum record and its data, "
                 "does not read back as version %llu: awc_pin returned %d (%s)%s",
                 old_version == 0 ? "first" : "second", (unsigned long long)old_version, rc,
                 awc_strerror(rc),
                 old_version == 0 ? " (the record is {XXH3(version 1), 0} over a zero page)" : "");
    }
    assert_int_equal(et_check(ptr, PS, 5, &v), ET_GOOD);
    assert_int_equal(v, old_version);
    ET_EXPECT(awc_unpin(c, 5, 0), AWC_OK);
    ET_EXPECT(awc_pin(c, 5, AWC_EXCLUSIVE, &ptr), AWC_OK);
    et_fill(ptr, PS, 5, 9);
    ET_EXPECT(awc_unpin(c, 5, 1), AWC_OK);
    et_close(c);
    c = et_open(&cfg);
    for (uint64_t p = 4; p < 7; p++) {
        ET_EXPECT(awc_pin(c, p, AWC_SHARED, &ptr), AWC_OK);
        assert_int_equal(et_check(ptr, PS, p, &v), ET_GOOD);
        assert_int_equal(v, p == 5 ? 9 : 1);
        ET_EXPECT(awc_unpin(c, p, 0), AWC_OK);
    }
    et_close(c);

    /* Version 9 is covered by the close's flush: the old data under its record is damage. */
    et_pwrite(path, img, PS, et_page_offset(PS, 5));
    c = et_open(&cfg);
    ET_EXPECT(awc_pin(c, 5, AWC_SHARED, &ptr), AWC_ECHECKSUM);
    assert_int_equal(et_stats(c).checksum_failures, 1);
    et_close(c);
    et_unlink(path);
    free(img);
}

static void test_interrupted_writeback(void **state)
{
    (void)state;
    interrupted_case(1); /* a page's second write-back: the old data is version 1 */
    interrupted_case(0); /* its first: the old data is the never-written zero page */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_rounds),
        cmocka_unit_test(test_interrupted_create),
        cmocka_unit_test(test_interrupted_writeback),
    };
    int rc;

    tu_init();
    et_init("test_engine_crash");
    et_path(path, sizeof(path), "crash");
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    rc = cmocka_run_group_tests_name("engine_crash", tests, NULL, NULL);
    munmap(shm, sizeof(*shm));
    et_cleanup();
    return rc;
}
