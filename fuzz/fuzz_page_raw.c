/*
 * fuzz/fuzz_page_raw.c: any bytes as a page-cache file (README.md).
 *
 * The input's first byte chooses: bit 0 set, the file is a valid one made in this process (a
 * segment with 40 pages written) damaged by the rest of the input (fuzz_util.h's operations);
 * clear, the rest of the input is the whole file. Bit 1: open read-only. Bits 2-3: the page size
 * the open asks for (4 KiB << k; the valid file's is 4 KiB). Then:
 *
 * 1. awc_open returns AWC_OK or one of its documented codes; no crash, no sanitizer report.
 * 2. Every page up to the file's size plus a few is pinned shared: AWC_OK or a code awc_pin
 *    documents.
 * 3. Read-write: three pages are written (AWC_OVERWRITE: their old contents may be damaged),
 *    flushed and the cache closed (AWC_OK, or AWC_EIO/AWC_ENOSPC); then the file reopens
 *    read-only and those pages read back exactly: what a flush made durable is there, whatever
 *    damage the file had before.
 */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE        4096u
#define VALID_PAGES 40u
#define MAX_CHECKED 1024u
#define MAX_PAGE    (2u << 20) /* the largest page size the harness asks for */

static uint8_t *valid;
static size_t valid_len;
static struct awc_file_info layout;
static const char *work_path;

static void pattern(uint64_t p, unsigned salt, uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len / 8; i++) {
        uint64_t w = fuzz_mix64(p << 24 ^ (uint64_t)salt << 20 ^ i);

        memcpy(b + i * 8, &w, 8);
    }
}

static struct awc_config config(const char *path, size_t page_size, unsigned flags)
{
    return (struct awc_config){.path = path,
                               .page_size = page_size,
                               .frame_budget = 16 * (uint64_t)page_size,
                               .window_budget = 8 * (uint64_t)page_size,
                               .flags = AWC_NO_DIRECT | flags};
}

static void make_valid(void)
{
    const char *path = fuzz_path("valid.awc");
    struct awc_config cfg = config(path, PAGE, AWC_CREATE | AWC_EXCL);
    awc_t *c;
    void *ptr;
    int rc = awc_open(&cfg, &c);

    for (uint64_t p = 0; rc == AWC_OK && p < VALID_PAGES; p++) {
        if (p % 9 == 4)
            continue; /* never written */
        rc = awc_pin(c, p, AWC_EXCLUSIVE, &ptr);
        if (rc == AWC_OK) {
            pattern(p, 1, ptr, PAGE);
            rc = awc_unpin(c, p, 1);
        }
    }
    if (rc == AWC_OK)
        rc = awc_close(c);
    if (rc == AWC_OK)
        rc = awc_get_file_info(path, &layout);
    if (rc != AWC_OK)
        fuzz_fail("making the valid file: %s", awc_strerror(rc));
    valid = fuzz_read_file(path, &valid_len);
    work_path = fuzz_path("work.awc");
}

static bool pin_code_ok(int rc)
{
    return FUZZ_CODE_IN(rc, AWC_OK, AWC_EINVAL, AWC_EFBIG, AWC_EACCES, AWC_EBUSY, AWC_EDEADLK,
                        AWC_ECHECKSUM, AWC_EIO, AWC_ENOSPC, AWC_ECLOSED);
}

/* Step 3: writes pages[0..3) with their patterns, flushes and closes c; reopens and reads them. */
static void write_and_check(awc_t *c, size_t page_size, uint64_t pages_in_file)
{
    const uint64_t pages[3] = {0, 7, pages_in_file + 2};
    static uint8_t want[MAX_PAGE];
    struct awc_config cfg = config(work_path, page_size, AWC_READONLY);
    void *ptr;
    int rc;

    for (int i = 0; i < 3; i++) {
        rc = awc_pin(c, pages[i], AWC_OVERWRITE, &ptr);
        if (rc != AWC_OK)
            fuzz_fail("AWC_OVERWRITE pin of page %llu: %s", (unsigned long long)pages[i],
                      awc_strerror(rc));
        pattern(pages[i], 2, ptr, page_size);
        if ((rc = awc_unpin(c, pages[i], 1)) != AWC_OK)
            fuzz_fail("unpin: %s", awc_strerror(rc));
    }
    rc = awc_flush(c);
    if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_EIO, AWC_ENOSPC, AWC_EFBIG, AWC_ENOMEM))
        fuzz_fail("flush: %d (%s)", rc, awc_strerror(rc));
    int closed = awc_close(c);
    if (!FUZZ_CODE_IN(closed, AWC_OK, AWC_EIO, AWC_ENOSPC, AWC_EFBIG, AWC_ENOMEM))
        fuzz_fail("close: %d (%s)", closed, awc_strerror(closed));
    if (rc != AWC_OK || closed != AWC_OK)
        return;
    if ((rc = awc_open(&cfg, &c)) != AWC_OK)
        fuzz_fail("reopen after a successful flush and close: %s", awc_strerror(rc));
    for (int i = 0; i < 3; i++) {
        rc = awc_pin(c, pages[i], AWC_SHARED, &ptr);
        if (rc != AWC_OK)
            fuzz_fail("page %llu, written and flushed: %s on reopening",
                      (unsigned long long)pages[i], awc_strerror(rc));
        pattern(pages[i], 2, want, page_size);
        if (memcmp(ptr, want, page_size) != 0)
            fuzz_fail("page %llu, written and flushed, reads back other bytes",
                      (unsigned long long)pages[i]);
        awc_unpin(c, pages[i], 0);
    }
    if ((rc = awc_close(c)) != AWC_OK)
        fuzz_fail("read-only close: %s", awc_strerror(rc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .len = size};
    uint8_t mode = fuzz_u8(&in);
    bool readonly = (mode & 2) != 0;
    size_t page_size = (size_t)PAGE << (mode >> 2 & 3);
    struct awc_config cfg;
    struct awc_stats st;
    awc_t *c;
    int rc;

    if (valid == NULL) {
        fuzz_name = "fuzz_page_raw";
        make_valid();
    }
    fuzz_log_reset();
    if (mode & 1) {
        struct fuzz_image img;

        fuzz_image_init(&img, valid, valid_len, &layout);
        fuzz_damage(&img, &in, NULL, NULL);
        fuzz_write_file(work_path, img.b, img.len);
        fuzz_image_free(&img);
    } else {
        fuzz_log("  the file is the input's %zu bytes", size > 0 ? size - 1 : 0);
        fuzz_write_file(work_path, data + (size > 0), size > 0 ? size - 1 : 0);
    }
    fuzz_log("  opened %s with %zu-byte pages", readonly ? "read-only" : "read-write", page_size);

    /* Step 1 */
    cfg = config(work_path, page_size, readonly ? AWC_READONLY : 0);
    rc = awc_open(&cfg, &c);
    if (rc != AWC_OK) {
        if (!FUZZ_CODE_IN(rc, AWC_EINVAL, AWC_EBADFILE, AWC_ENOMEM, AWC_EIO))
            fuzz_fail("open: %d (%s): not a code awc_open documents for a damaged file", rc,
                      awc_strerror(rc));
        return 0;
    }
    /* Step 2 */
    if ((rc = awc_get_stats(c, &st)) != AWC_OK)
        fuzz_fail("awc_get_stats: %s", awc_strerror(rc));
    for (uint64_t p = 0; p < st.pages_in_file + 4 && p < MAX_CHECKED; p++) {
        void *ptr;

        rc = awc_pin(c, p, AWC_SHARED, &ptr);
        if (!pin_code_ok(rc))
            fuzz_fail("pin of page %llu: %d (%s): not a code awc_pin documents",
                      (unsigned long long)p, rc, awc_strerror(rc));
        if (rc == AWC_OK && (rc = awc_unpin(c, p, 0)) != AWC_OK)
            fuzz_fail("unpin of page %llu: %s", (unsigned long long)p, awc_strerror(rc));
    }
    /* Step 3 */
    if (!readonly) {
        write_and_check(c, page_size, st.pages_in_file < MAX_CHECKED ? st.pages_in_file : 0);
    } else if ((rc = awc_close(c)) != AWC_OK) {
        fuzz_fail("read-only close: %d (%s)", rc, awc_strerror(rc));
    }
    return 0;
}
