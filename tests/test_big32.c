/*
 * tests/test_big32.c: one process holds more frames than a 32-bit address space can address and
 * serves a backing file larger still through a small window (README: the 32-bit build).
 *
 * Built and run in every build; it is the point of the 32-bit one (cmake/i386.cmake), where the
 * process has 4 GiB of address space at most and size_t is 32 bits, so every frame offset in the
 * memfd, file offset and byte count past 4 GiB would wrap if anything squeezed it into 32 bits.
 *
 *   test_frames_past_4g  opens a cache of F bytes of frames (default 8 GiB in a 32-bit build,
 *                        1 GiB in a 64-bit one, where the 32-bit limits do not apply), a window
 *                        of 256 MiB and pages of 256 KiB, on a new backing file that the engine
 *                        creates; then
 *                        1. writes every page of a file of 1.25 F bytes (10 GiB for 8 GiB of
 *                           frames), each with a pattern derived from its page number, in batches
 *                           pinned exclusively (pages past the first F are written back as they
 *                           push older ones out of the frames);
 *                        2. reads every page back in reverse order, verifying it: the last F bytes
 *                           written are served from the frames (memfd offsets up to F), the rest
 *                           from the file;
 *                        3. reads every page back in file order, verifying it again: most are read
 *                           from the file now, at every offset up to 1.25 F;
 *                        4. checks the counters (frames held, hits, bytes read and written) and
 *                           closes (a flush: every page ends up durable).
 *   test_window_too_big  (32-bit builds) a window budget larger than the address space is a
 *                        clean AWC_ENOMEM at open, never a window of a truncated size.
 *
 * Sized to the machine: F is lowered to MemAvailable less 2 GiB (in 256 MiB steps) and the test
 * is skipped (exit 77, the reason printed) when that leaves less than min(F, 5 GiB), or when the
 * scratch file system has less than 1.25 F + 1 GiB free. Environment: AWC_BIG32_FRAMES_MIB (F in
 * MiB; the ctest `test_big32_soak` asks for 16 GiB), AWC_TEST_DIR (where the file goes).
 * Runtime on this project's 2-core machine: about a minute for F = 8 GiB (20 GiB of file I/O).
 */
#include "awe.h"
#include "engine_util.h"
#include "test_util.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <cmocka.h>

#define MIB        (UINT64_C(1) << 20)
#define GIB        (UINT64_C(1) << 30)
#define PAGE       ((size_t)256 * 1024) /* engine page: 64 AWE frames of 4 KiB */
#define WINDOW     (256 * MIB)          /* the window: 1024 pages, 1/32 of 8 GiB of frames */
#define BATCH      32u                  /* pages pinned at once (8 MiB) */
#define MARGIN     (2 * GIB)            /* MemAvailable left to the rest of the machine */
#define MIN_FRAMES (5 * GIB)            /* below this a 32-bit run would prove nothing: skip */

static uint64_t frame_bytes; /* F, sized to the machine in main() */
static uint64_t file_pages;  /* pages of the file: 1.25 F / PAGE */

/* The pattern: 64-bit word i of page p is pat(p, i); word 0 names the page, so that a page read
 * from the wrong frame or the wrong file offset is told apart from a torn one. */
static uint64_t page_seed(uint64_t p)
{
    uint64_t x = (p + 1) * UINT64_C(0x9e3779b97f4a7c15);

    x ^= x >> 31;
    return x * UINT64_C(0xbf58476d1ce4e5b9);
}

static void fill_page(uint64_t *w, uint64_t p)
{
    uint64_t seed = page_seed(p);

    w[0] = UINT64_C(0xb1632b1632b16320) ^ p;
    for (size_t i = 1; i < PAGE / 8; i++)
        w[i] = seed + i * UINT64_C(0x2545f4914f6cdd1d);
}

/* Returns the index of the first word of page p that is wrong, or PAGE / 8 when all are right. */
static size_t check_page(const uint64_t *w, uint64_t p)
{
    uint64_t seed = page_seed(p);

    if (w[0] != (UINT64_C(0xb1632b1632b16320) ^ p))
        return 0;
    for (size_t i = 1; i < PAGE / 8; i++)
        if (w[i] != seed + i * UINT64_C(0x2545f4914f6cdd1d))
            return i;
    return PAGE / 8;
}

static double seconds_since(uint64_t t0)
{
    return (double)(et_now_ns() - t0) / 1e9;
}

/* Pins pages [first, first + n) (in reverse order when `down`), writes or checks each, unpins. */
static void pass_batch(awc_t *c, uint64_t first, unsigned n, int write, int down)
{
    uint64_t pages[BATCH] = {0};
    void *ptr[BATCH] = {0};

    for (unsigned i = 0; i < n; i++)
        pages[i] = down ? first + n - 1 - i : first + i;
    ET_EXPECT(awc_pin_batch(c, pages, n, write ? AWC_EXCLUSIVE : AWC_SHARED, ptr), AWC_OK);
    for (unsigned i = 0; i < n; i++) {
        if (write) {
            fill_page(ptr[i], pages[i]);
        } else {
            size_t bad = check_page(ptr[i], pages[i]);

            if (bad != PAGE / 8)
                fail_msg("page %" PRIu64 " (file offset ~%" PRIu64 " MiB): word %zu is "
                         "0x%016" PRIx64 ", not the pattern",
                         pages[i], pages[i] * PAGE / MIB, bad, ((const uint64_t *)ptr[i])[bad]);
        }
    }
    for (unsigned i = 0; i < n; i++)
        ET_EXPECT(awc_unpin(c, pages[i], write), AWC_OK);
}

static void test_frames_past_4g(void **state)
{
    char path[1024];
    struct awc_config cfg = {
        .path = et_path(path, sizeof(path), "big32.awc"),
        .page_size = PAGE,
        .frame_budget = frame_bytes,
        .window_budget = WINDOW,
        .flags = AWC_CREATE | AWC_EXCL,
    };
    struct awc_stats st;
    struct awe_stats as;
    uint64_t t0, p;
    awc_t *c;

    (void)state;
    t0 = et_now_ns();
    c = et_open(&cfg);
    st = et_stats(c);
    /* In copy mode (engine/README.md 4.3) the window's slots take their frames out of the
     * budget: buffers + slots are the frames asked for. */
    assert_int_equal(st.frames + (st.copy_window ? st.slots : 0), frame_bytes / PAGE);
    assert_true(st.slots * PAGE <= WINDOW);
    assert_int_equal(awe_get_stats(&as), AWE_OK);
    /* Every frame is committed at open: the process holds F bytes of frames, more than its
     * address space in a 32-bit build, through a window of at most 256 MiB. */
    assert_true(as.frames_allocated * tu_page() >= frame_bytes);
    print_message("sizeof(void *) %zu: %" PRIu64 " MiB of frames (%" PRIu64 " AWE frames), "
                  "window %" PRIu64 " MiB, file %" PRIu64 " MiB; open %.1f s\n",
                  sizeof(void *), frame_bytes / MIB, as.frames_allocated, st.slots * PAGE / MIB,
                  file_pages * PAGE / MIB, seconds_since(t0));

    /* Step 1: write every page. */
    t0 = et_now_ns();
    for (p = 0; p < file_pages; p += BATCH)
        pass_batch(c, p, (unsigned)(file_pages - p < BATCH ? file_pages - p : BATCH), 1, 0);
    st = et_stats(c);
    print_message("write pass: %.1f s (%" PRIu64 " MiB written back so far)\n", seconds_since(t0),
                  st.bytes_written / MIB);
    assert_true(st.frame_evictions > 0); /* the file is larger than the frames */

    /* Step 2: read every page back, last first: the frames serve the most recent F bytes. */
    t0 = et_now_ns();
    for (p = file_pages; p > 0;) {
        unsigned n = (unsigned)(p < BATCH ? p : BATCH);

        p -= n;
        pass_batch(c, p, n, 0, 1);
    }
    st = et_stats(c);
    print_message(
        "reverse read pass: %.1f s (%" PRIu64 " MiB served from frames, %" PRIu64 " MiB read)\n",
        seconds_since(t0), (st.frame_hits + st.window_hits) * PAGE / MIB, st.bytes_read / MIB);
    /* Most of the frames' F bytes (more than 4 GiB in a 32-bit run of 8 GiB) were served from
     * memory, not the file. */
    assert_true((st.frame_hits + st.window_hits) * PAGE > frame_bytes / 2);

    /* Step 3: read every page back in file order: from the file, at every offset. */
    t0 = et_now_ns();
    for (p = 0; p < file_pages; p += BATCH)
        pass_batch(c, p, (unsigned)(file_pages - p < BATCH ? file_pages - p : BATCH), 0, 0);
    st = et_stats(c);
    print_message("forward read pass: %.1f s (%" PRIu64 " MiB read, %" PRIu64
                  " MiB written in all)\n",
                  seconds_since(t0), st.bytes_read / MIB, st.bytes_written / MIB);

    /* Step 4 */
    assert_int_equal(st.checksum_failures, 0);
    assert_int_equal(st.pages_in_file, file_pages);
    assert_true(st.bytes_read > frame_bytes / 4); /* pages came back from the file */
    t0 = et_now_ns();
    et_close(c);
    print_message("close (flush): %.1f s; file %" PRIu64 " MiB\n", seconds_since(t0),
                  et_file_size(path) / MIB);
    assert_true(et_file_size(path) >= file_pages * PAGE);
    et_unlink(path);
}

static void test_window_too_big(void **state)
{
    char path[1024];
    struct awc_config cfg = {
        .path = et_path(path, sizeof(path), "toobig.awc"),
        .page_size = 2 * MIB, /* few slots: the kernel mapping limit does not shrink it */
        .frame_budget = 8 * GIB,
        .window_budget = 6 * GIB, /* more than a 32-bit process can address */
        .flags = AWC_CREATE,
    };
    awc_t *c = NULL;

    (void)state;
    if (sizeof(size_t) > 4)
        skip(); /* a 6 GiB window is an ordinary request in a 64-bit process */
    ET_EXPECT(awc_open(&cfg, &c), AWC_ENOMEM);
    assert_null(c);
    et_unlink(path);
}

/* MemAvailable from /proc/meminfo, in bytes; 0 when it cannot be read. */
static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kib = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return (uint64_t)kib * 1024;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_past_4g),
        cmocka_unit_test(test_window_too_big),
    };
    uint64_t want, avail, floor;
    struct statvfs vfs;
    int rc;

    tu_init();
    want = et_env_u64("AWC_BIG32_FRAMES_MIB", sizeof(void *) == 4 ? 8192 : 1024) * MIB;
    floor = want < MIN_FRAMES ? want : MIN_FRAMES;
    avail = mem_available();
    frame_bytes = want;
    if (avail < frame_bytes + MARGIN)
        frame_bytes = avail > MARGIN ? (avail - MARGIN) / (256 * MIB) * (256 * MIB) : 0;
    if (frame_bytes < floor || frame_bytes < PAGE) {
        printf("test_big32: skipped: MemAvailable is %" PRIu64 " MiB; frames of at least %" PRIu64
               " MiB (wanted %" PRIu64 " MiB) need %" PRIu64 " MiB with the margin for the rest "
               "of the machine\n",
               avail / MIB, floor / MIB, want / MIB, (floor + MARGIN) / MIB);
        return 77;
    }
    file_pages = frame_bytes / PAGE + frame_bytes / PAGE / 4;
    et_init("test_big32");
    if (statvfs(et_dir(), &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < file_pages * PAGE + GIB) {
        printf("test_big32: skipped: %s has %" PRIu64 " MiB free; the %" PRIu64 " MiB backing "
               "file needs %" PRIu64 " MiB\n",
               et_dir(), (uint64_t)vfs.f_bavail * vfs.f_frsize / MIB, file_pages * PAGE / MIB,
               (file_pages * PAGE + GIB) / MIB);
        et_cleanup();
        return 77;
    }
    rc = cmocka_run_group_tests_name("big32", tests, NULL, NULL);
    et_cleanup();
    return rc;
}
