/*
 * fuzz/fuzz_kv_raw.c: any bytes as a key-value file (README.md).
 *
 * The input's first byte chooses: bit 0 set, the file is a valid key-value file made in this
 * process (60 puts and deletes over 16 keys) damaged by the rest of the input: fuzz_util.h's
 * operations, including writes through the page cache (op 7), which leave the pages' checksums
 * valid and so reach the record parser and the reopen scan; clear, the rest of the input is the
 * whole file. Bit 1 set: a checkpoint of the index (engine/README.md 9.7; its areas follow the
 * log's 64 pages, at pages 66 and 322) is loaded even when its digest fails
 * (kv_ck_fuzz_skip_digest), so that damaged checkpoint bytes reach the checks of every entry:
 * the open must not crash or break the index whatever they hold, though such a checkpoint may
 * name an older record of a key (only its digest keeps that out), so step 3's exact checks are
 * then left out. Then:
 *
 * 1. awc_kv_open returns AWC_OK or a code it documents; no crash, no sanitizer report.
 * 2. Gets and a reference of every key: AWC_OK with a value that some put of that key made (any
 *    version: the damage may be anything), or AWC_ENOTFOUND / AWC_ECHECKSUM / AWC_EIO; a key
 *    never put is never found.
 * 3. Three puts and a delete, then close: documented codes. When they all succeeded, the file
 *    reopens and reads back exactly what they left.
 */
#include "fuzz_kv_value.h"

#include <stdlib.h>

#define PAGE      4096u
#define LOG_PAGES 64u
#define KEYS      16u
#define OPS       60u

/* engine/kv.h (the engine's private header): load checkpoints whose digest fails. */
extern int kv_ck_fuzz_skip_digest;

static uint32_t max_version[KEYS]; /* the latest version of each key the valid file's puts made */
static uint8_t *valid;
static size_t valid_len;
static struct awc_file_info layout;
static const char *work_path;
static uint8_t buf[64 * 1024];

static struct awc_kv_config config(const char *path, uint64_t capacity, unsigned flags)
{
    return (struct awc_kv_config){.path = path,
                                  .capacity = capacity,
                                  .page_size = PAGE,
                                  .frame_budget = 16 * PAGE,
                                  .flags = AWC_NO_DIRECT | flags};
}

static void make_valid(void)
{
    const char *path = fuzz_path("valid.kv");
    struct awc_kv_config cfg = config(path, LOG_PAGES * PAGE, AWC_CREATE | AWC_EXCL);
    awc_kv_t *kv;
    char key[16];
    int rc = awc_kv_open(&cfg, &kv);

    for (uint32_t i = 0; rc == AWC_OK && i < OPS; i++) {
        uint64_t r = fuzz_mix64(i + 7);
        uint32_t id = (uint32_t)(r >> 8) % KEYS;
        size_t klen = fuzz_kv_key(id, key), len = FUZZ_KV_VHDR + (r >> 20) % 3000;

        if (r % 4 == 0) {
            rc = awc_kv_delete(kv, key, klen);
            if (rc == AWC_ENOTFOUND)
                rc = AWC_OK;
        } else {
            fuzz_kv_value(id, ++max_version[id], len, buf);
            rc = awc_kv_put(kv, key, klen, buf, len, 0);
        }
        if (rc == AWC_OK && i % 10 == 9)
            rc = awc_kv_flush(kv);
    }
    if (rc == AWC_OK)
        rc = awc_kv_close(kv);
    if (rc == AWC_OK)
        rc = awc_get_file_info(path, &layout);
    if (rc != AWC_OK)
        fuzz_fail("making the valid file: %s", awc_strerror(rc));
    valid = fuzz_read_file(path, &valid_len);
    work_path = fuzz_path("work.kv");
}

/* Applies op 7's writes through the page cache (a file that does not open is left as it is). */
static void apply_logical(const struct fuzz_logical *l, size_t n)
{
    struct awc_config cfg = {.path = work_path,
                             .page_size = PAGE,
                             .frame_budget = 16 * PAGE,
                             .window_budget = 8 * PAGE,
                             .flags = AWC_NO_DIRECT};
    awc_t *c;
    void *ptr;

    if (n == 0 || awc_open(&cfg, &c) != AWC_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        if (awc_pin(c, l[i].page, AWC_EXCLUSIVE, &ptr) != AWC_OK)
            continue;
        memcpy((uint8_t *)ptr + l[i].off, l[i].bytes, l[i].n);
        awc_unpin(c, l[i].page, 1);
    }
    awc_close(c);
}

/* Step 2: one key's get; `newest` is the version this process last put (0: none, or deleted
 * when `exact`); `exact`: the put or delete was made durable by a successful close. */
static void check_get(awc_kv_t *kv, uint32_t id, uint32_t newest, bool exact)
{
    char key[16];
    size_t klen = fuzz_kv_key(id, key), len = 0;
    uint32_t v;
    int rc = awc_kv_get(kv, key, klen, buf, sizeof(buf), &len);

    if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_ENOTFOUND, AWC_ECHECKSUM, AWC_EIO))
        fuzz_fail("get of key %u: %d (%s)", (unsigned)id, rc, awc_strerror(rc));
    if (exact && newest != 0 && rc != AWC_OK)
        fuzz_fail("key %u, put before a successful close: %s after reopening", (unsigned)id,
                  awc_strerror(rc));
    if (rc != AWC_OK)
        return;
    if (newest == 0)
        fuzz_fail("key %u, %s, was found", (unsigned)id, exact ? "deleted" : "never put");
    if (!fuzz_kv_value_ok(buf, len, id, &v) || v > newest)
        fuzz_fail("key %u: a value that no put of it made (%zu bytes)", (unsigned)id, len);
    if (exact && v != newest)
        fuzz_fail("key %u reads back version %u, not %u, put before the close", (unsigned)id,
                  (unsigned)v, (unsigned)newest);
}

static void check_ref(awc_kv_t *kv, uint32_t id)
{
    struct awc_kv_ref ref;
    char key[16];
    size_t klen = fuzz_kv_key(id, key);
    int rc = awc_kv_get_ref(kv, key, klen, &ref);

    if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_ENOTFOUND, AWC_ECHECKSUM, AWC_EIO, AWC_EBUSY, AWC_E2BIG,
                      AWC_ENOMEM))
        fuzz_fail("get_ref of key %u: %d (%s)", (unsigned)id, rc, awc_strerror(rc));
    if (rc == AWC_OK && (rc = awc_kv_release(kv, &ref)) != AWC_OK)
        fuzz_fail("release: %s", awc_strerror(rc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .len = size};
    uint8_t mode = fuzz_u8(&in);
    struct fuzz_logical logical[FUZZ_MAX_LOGICAL];
    size_t nlogical = 0;
    uint32_t newest[KEYS];
    struct awc_kv_config cfg = config(NULL, 0, 0);
    awc_kv_t *kv;
    char key[16];
    bool all_ok = true;
    int rc;

    if (valid == NULL) {
        fuzz_name = "fuzz_kv_raw";
        make_valid();
    }
    fuzz_log_reset();
    kv_ck_fuzz_skip_digest = (mode & 2) != 0;
    if (kv_ck_fuzz_skip_digest)
        fuzz_log("  checkpoints loaded whatever their digest");
    if (mode & 1) {
        struct fuzz_image img;

        fuzz_image_init(&img, valid, valid_len, &layout);
        fuzz_damage(&img, &in, logical, &nlogical);
        fuzz_write_file(work_path, img.b, img.len);
        fuzz_image_free(&img);
        apply_logical(logical, nlogical);
        memcpy(newest, max_version, sizeof(newest));
    } else {
        fuzz_log("  the file is the input's %zu bytes", size > 0 ? size - 1 : 0);
        fuzz_write_file(work_path, data + (size > 0), size > 0 ? size - 1 : 0);
        memset(newest, 0, sizeof(newest));
    }

    /* Step 1 */
    cfg.path = work_path;
    rc = awc_kv_open(&cfg, &kv);
    if (rc != AWC_OK) {
        if (!FUZZ_CODE_IN(rc, AWC_EINVAL, AWC_EBADFILE, AWC_ENOMEM, AWC_EIO))
            fuzz_fail("open: %d (%s): not a code awc_kv_open documents for a damaged file", rc,
                      awc_strerror(rc));
        return 0;
    }
    /* Step 2 */
    for (uint32_t id = 0; id < KEYS; id++) {
        check_get(kv, id, newest[id], false);
        if (id % 4 == 0)
            check_ref(kv, id);
    }
    check_get(kv, FUZZ_KV_NEVER, 0, false);
    /* Step 3 */
    for (uint32_t id = 0; id < 4; id++) {
        size_t klen = fuzz_kv_key(id, key), len = FUZZ_KV_VHDR + id * 1500;

        if (id == 3) {
            rc = awc_kv_delete(kv, key, klen);
            if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_ENOTFOUND, AWC_EIO, AWC_ENOSPC, AWC_ECHECKSUM))
                fuzz_fail("delete: %d (%s)", rc, awc_strerror(rc));
            newest[id] = 0;
        } else {
            newest[id] = max_version[id] + 1;
            fuzz_kv_value(id, newest[id], len, buf);
            rc = awc_kv_put(kv, key, klen, buf, len, 0);
            if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_EIO, AWC_ENOSPC, AWC_ECHECKSUM))
                fuzz_fail("put: %d (%s)", rc, awc_strerror(rc));
        }
        all_ok = all_ok && (rc == AWC_OK || rc == AWC_ENOTFOUND);
    }
    rc = awc_kv_close(kv);
    if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_EIO, AWC_ENOSPC))
        fuzz_fail("close: %d (%s)", rc, awc_strerror(rc));
    if (!all_ok || rc != AWC_OK || kv_ck_fuzz_skip_digest)
        return 0;
    if ((rc = awc_kv_open(&cfg, &kv)) != AWC_OK)
        fuzz_fail("reopen after a successful close: %d (%s)", rc, awc_strerror(rc));
    for (uint32_t id = 0; id < 4; id++)
        check_get(kv, id, newest[id], true);
    if ((rc = awc_kv_close(kv)) != AWC_OK)
        fuzz_fail("close after reopening: %d (%s)", rc, awc_strerror(rc));
    return 0;
}
