/*
 * fuzz/fuzz_page_file.c: the page cache's oracle harness (README.md).
 *
 * Once per process a valid page-cache file is made (4 KiB pages, 600 pages over 3 segments:
 * most written with a pattern of their number, some never written, some written as zeros, some
 * written twice so that their checksum record holds an older version; flushed, closed) and its
 * bytes kept. Each input is a list of damage operations (fuzz_util.h) applied to a copy; then:
 *
 * 1. Open it read-only and pin every page up to the file's size plus a few: each pin returns
 *    AWC_OK with exactly the bytes written (the pattern, or zeros for a page never written), or
 *    AWC_ECHECKSUM; the open itself may fail only with AWC_EBADFILE or AWC_EINVAL. One
 *    exception, where nothing in the file is left to tell: a page beyond the logical size the
 *    surviving header records, whose checksum block is cut off too, may read as zeros (lost()).
 * 2. The same read-write, pinning in batches (awc_pin_batch, then one page at a time where a
 *    batch fails), then close (which flushes the records the open repaired): AWC_OK.
 * 3. Reopen read-only: every page that read back AWC_OK in 1 or 2 reads back AWC_OK again, with
 *    the same bytes: opening never destroys an intact page.
 * Anything else (AWC_OK with other bytes, a code awc_pin does not document for this) aborts.
 */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE        4096u
#define PAGES       600u  /* pages [0, PAGES) are the file's content */
#define FRAMES      64u   /* the opens' frame budget, in pages */
#define SLOTS       16u   /* their window, in pages */
#define BATCH       8u    /* pages per awc_pin_batch in the read-write pass */
#define MAX_CHECKED 4096u /* pages pinned at most per pass */

static uint8_t *valid;   /* the valid file's bytes */
static size_t valid_len; /* its length */
static struct awc_file_info layout;
static const char *work_path; /* the damaged copy */
/* The damaged copy's header (when it has a valid one) and length: see lost(). */
static struct awc_file_info damaged;
static bool damaged_ok;
static size_t damaged_len;

/* ---- The valid file ---------------------------------------------------------------------- */

static bool written(uint64_t p)
{
    return p < PAGES && p % 7 != 3;
}

static bool written_as_zeros(uint64_t p)
{
    return p % 11 == 5;
}

static bool written_twice(uint64_t p)
{
    return p % 5 == 0;
}

static void pattern(uint64_t p, unsigned version, uint8_t *b)
{
    for (size_t i = 0; i < PAGE / 8; i++) {
        uint64_t w = fuzz_mix64(p << 20 ^ (uint64_t)version << 16 ^ i);

        memcpy(b + i * 8, &w, 8);
    }
}

/* The bytes page p must read back as. */
static void expected(uint64_t p, uint8_t *b)
{
    if (written(p) && !written_as_zeros(p))
        pattern(p, 2, b);
    else
        memset(b, 0, PAGE);
}

static void write_page(awc_t *c, uint64_t p, unsigned version)
{
    void *ptr;
    int rc = awc_pin(c, p, AWC_EXCLUSIVE, &ptr);

    if (rc != AWC_OK)
        fuzz_fail("making the valid file: pin of page %llu: %s", (unsigned long long)p,
                  awc_strerror(rc));
    if (version == 2 && written_as_zeros(p))
        memset(ptr, 0, PAGE);
    else
        pattern(p, version, ptr);
    rc = awc_unpin(c, p, 1);
    if (rc != AWC_OK)
        fuzz_fail("making the valid file: unpin: %s", awc_strerror(rc));
}

static struct awc_config config(const char *path, unsigned flags)
{
    return (struct awc_config){.path = path,
                               .page_size = PAGE,
                               .frame_budget = FRAMES * PAGE,
                               .window_budget = SLOTS * PAGE,
                               .flags = AWC_NO_DIRECT | flags};
}

/* Steps: 1. pages written twice get version 1, flush; 2. every written page gets its final
 * version (2, or zeros), close (flushes); 3. keep the bytes and the layout. */
static void make_valid(void)
{
    const char *path = fuzz_path("valid.awc");
    struct awc_config cfg = config(path, AWC_CREATE | AWC_EXCL);
    awc_t *c;
    int rc = awc_open(&cfg, &c);

    if (rc != AWC_OK)
        fuzz_fail("making the valid file: open: %s", awc_strerror(rc));
    /* Step 1 */
    for (uint64_t p = 0; p < PAGES; p++)
        if (written(p) && written_twice(p))
            write_page(c, p, 1);
    if ((rc = awc_flush(c)) != AWC_OK)
        fuzz_fail("making the valid file: flush: %s", awc_strerror(rc));
    /* Step 2 */
    for (uint64_t p = 0; p < PAGES; p++)
        if (written(p))
            write_page(c, p, 2);
    if ((rc = awc_close(c)) != AWC_OK)
        fuzz_fail("making the valid file: close: %s", awc_strerror(rc));
    /* Step 3 */
    valid = fuzz_read_file(path, &valid_len);
    if ((rc = awc_get_file_info(path, &layout)) != AWC_OK)
        fuzz_fail("making the valid file: awc_get_file_info: %s", awc_strerror(rc));
    if (layout.page_size != PAGE || layout.pages != PAGES)
        fuzz_fail("the valid file's header says %zu-byte pages, %llu pages", layout.page_size,
                  (unsigned long long)layout.pages);
    work_path = fuzz_path("work.awc");
}

/* True when nothing left in the damaged file says page p was ever written, so that it may read
 * back as zeros: it lies beyond the logical size the surviving header records (a torn newest
 * header leaves the one before, of a smaller file) and its segment's checksum block is cut
 * off the file too. With either left, the page's loss must be seen (AWC_ECHECKSUM). */
static bool lost(uint64_t p)
{
    uint64_t seg_start;

    if (!damaged_ok || p < damaged.pages)
        return false;
    seg_start = damaged.data_base + p / damaged.segment_pages * damaged.segment_bytes;
    return seg_start + damaged.segment_header > damaged_len;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* ---- The passes -------------------------------------------------------------------------- */

static const char *pass_name[] = {"read-only open", "read-write open",
                                  "read-only reopen after the read-write close"};

/* Checks one pin's answer: rc and, when AWC_OK, the bytes at ptr. */
static void check_pin(int pass, uint64_t p, int rc, const void *ptr, uint8_t *ok,
                      const uint8_t *must_ok)
{
    static uint8_t want[PAGE];

    if (rc == AWC_OK) {
        expected(p, want);
        if (memcmp(ptr, want, PAGE) != 0 && !(lost(p) && all_zero(ptr, PAGE))) {
            size_t i = 0;

            while (((const uint8_t *)ptr)[i] == want[i])
                i++;
            fuzz_fail("%s: page %llu read back AWC_OK with other bytes than were written "
                      "(%s expected; first difference at byte %zu: %#x, not %#x)",
                      pass_name[pass], (unsigned long long)p,
                      written(p) && !written_as_zeros(p) ? "its pattern" : "zeros", i,
                      ((const uint8_t *)ptr)[i], want[i]);
        }
        ok[p] = 1;
        return;
    }
    if (rc != AWC_ECHECKSUM)
        fuzz_fail("%s: pin of page %llu: %d (%s): not AWC_OK or AWC_ECHECKSUM", pass_name[pass],
                  (unsigned long long)p, rc, awc_strerror(rc));
    if (must_ok != NULL && must_ok[p])
        fuzz_fail("%s: page %llu read back intact before and %s now: opening destroyed it",
                  pass_name[pass], (unsigned long long)p, awc_strerror(rc));
}

static void pin_one(awc_t *c, int pass, uint64_t p, uint8_t *ok, const uint8_t *must_ok)
{
    void *ptr = NULL;
    int rc = awc_pin(c, p, AWC_SHARED, &ptr);

    check_pin(pass, p, rc, ptr, ok, must_ok);
    if (rc == AWC_OK && (rc = awc_unpin(c, p, 0)) != AWC_OK)
        fuzz_fail("%s: unpin of page %llu: %s", pass_name[pass], (unsigned long long)p,
                  awc_strerror(rc));
}

/* Opens the work file (pass 0 and 2 read-only, 1 read-write) and checks every page; ok[p] is set
 * for the pages that read back AWC_OK. Returns the open's code. */
static int run_pass(int pass, uint8_t *ok, const uint8_t *must_ok)
{
    struct awc_config cfg = config(work_path, pass == 1 ? 0 : AWC_READONLY);
    struct awc_stats st;
    uint64_t pages, n;
    awc_t *c;
    int rc = awc_open(&cfg, &c);

    if (rc != AWC_OK) {
        if (!FUZZ_CODE_IN(rc, AWC_EBADFILE, AWC_EINVAL))
            fuzz_fail("%s: %d (%s): not AWC_OK, AWC_EBADFILE or AWC_EINVAL", pass_name[pass], rc,
                      awc_strerror(rc));
        if (must_ok != NULL)
            for (uint64_t p = 0; p < MAX_CHECKED; p++)
                if (must_ok[p])
                    fuzz_fail("%s: %s, but page %llu read back intact before", pass_name[pass],
                              awc_strerror(rc), (unsigned long long)p);
        return rc;
    }
    if ((rc = awc_get_stats(c, &st)) != AWC_OK)
        fuzz_fail("%s: awc_get_stats: %s", pass_name[pass], awc_strerror(rc));
    pages = st.pages_in_file > PAGES ? st.pages_in_file : PAGES;
    n = pages + 4 < MAX_CHECKED ? pages + 4 : MAX_CHECKED;
    for (uint64_t p = 0; p < n;) {
        uint64_t list[BATCH];
        void *ptrs[BATCH];
        size_t k = n - p < BATCH ? (size_t)(n - p) : BATCH;

        if (pass != 1) {
            pin_one(c, pass, p++, ok, must_ok);
            continue;
        }
        for (size_t i = 0; i < k; i++)
            list[i] = p + i;
        rc = awc_pin_batch(c, list, k, AWC_SHARED, ptrs);
        if (rc == AWC_OK) {
            for (size_t i = 0; i < k; i++) {
                check_pin(pass, list[i], AWC_OK, ptrs[i], ok, must_ok);
                if ((rc = awc_unpin(c, list[i], 0)) != AWC_OK)
                    fuzz_fail("%s: unpin: %s", pass_name[pass], awc_strerror(rc));
            }
        } else if (rc == AWC_ECHECKSUM) { /* all or nothing: find which, one at a time */
            for (size_t i = 0; i < k; i++)
                pin_one(c, pass, list[i], ok, must_ok);
        } else {
            fuzz_fail("%s: pin batch of pages %llu..%llu: %d (%s)", pass_name[pass],
                      (unsigned long long)p, (unsigned long long)(p + k - 1), rc, awc_strerror(rc));
        }
        p += k;
    }
    if ((rc = awc_close(c)) != AWC_OK)
        fuzz_fail("%s: close: %d (%s)", pass_name[pass], rc, awc_strerror(rc));
    return AWC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ok_ro[MAX_CHECKED], ok_rw[MAX_CHECKED], ok_any[MAX_CHECKED],
        ok_last[MAX_CHECKED];
    struct fuzz_in in = {.p = data, .len = size};
    struct fuzz_image img;

    if (valid == NULL) {
        fuzz_name = "fuzz_page_file";
        make_valid();
    }
    fuzz_log_reset();
    fuzz_image_init(&img, valid, valid_len, &layout);
    fuzz_damage(&img, &in, NULL, NULL);
    fuzz_write_file(work_path, img.b, img.len);
    damaged_ok = awc_get_file_info(work_path, &damaged) == AWC_OK;
    damaged_len = img.len;
    memset(ok_ro, 0, sizeof(ok_ro));
    memset(ok_rw, 0, sizeof(ok_rw));
    memset(ok_last, 0, sizeof(ok_last));
    run_pass(0, ok_ro, NULL);
    /* An empty file opened for writing is a new cache (engine/README.md 5.6 and file.c's open):
     * the engine cannot tell it from one being created, so there is nothing more to check. */
    if (img.len > 0) {
        run_pass(1, ok_rw, NULL);
        for (size_t p = 0; p < MAX_CHECKED; p++)
            ok_any[p] = ok_ro[p] | ok_rw[p];
        run_pass(2, ok_last, ok_any);
    }
    fuzz_image_free(&img);
    return 0;
}
