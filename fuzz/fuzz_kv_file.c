/*
 * fuzz/fuzz_kv_file.c: the key-value cache's oracle harness (README.md).
 *
 * Once per process a key-value file is made (64 pages of log, 4 KiB pages): a fixed sequence of
 * puts, overwrites and deletes over 40 keys, some values spanning pages, with a flush every 30
 * operations, enough to go round the log (regions are reclaimed); then closed. The harness keeps
 * the model of every key as of the close: its latest value, or deleted, or never put. Each input
 * is a list of damage operations (fuzz_util.h) applied to a copy of the file; then:
 *
 * 1. awc_kv_open returns AWC_OK, or AWC_EBADFILE / AWC_EINVAL / AWC_EIO / AWC_ENOMEM.
 * 2. For every key of the model, awc_kv_get returns exactly the model's latest value, or
 *    AWC_ENOTFOUND, or AWC_ECHECKSUM: never another value (an older version, the old value of
 *    a deleted key, another key's). A key never put is AWC_ENOTFOUND.
 * 3. A new key is put and the cache closed (AWC_OK); the file reopens (AWC_OK), the new key reads
 *    back exactly, and 2 holds again.
 * The close left a checkpoint of the index past the log (engine/README.md 9.7, pages 66 and 322):
 * damage to it must make the open scan the log instead, with the same answers.
 */
#include "fuzz_kv_value.h"

#include <stdlib.h>

#define PAGE      4096u
#define LOG_PAGES 64u
#define KEYS      40u
#define OPS       500u
#define FLUSH     30u

/* The model: the state of each key at the close. */
struct key_state {
    uint32_t version; /* the latest version put (0: never) */
    size_t len;       /* its length */
    bool deleted;     /* the latest operation was a delete */
};

static struct key_state model[KEYS];
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
                                  .frame_budget = 32 * PAGE,
                                  .flags = AWC_NO_DIRECT | flags};
}

/* The sequence: operation i draws from fuzz_mix64(i). */
static void make_valid(void)
{
    const char *path = fuzz_path("valid.kv");
    struct awc_kv_config cfg = config(path, LOG_PAGES * PAGE, AWC_CREATE | AWC_EXCL);
    uint32_t last = 0;
    awc_kv_t *kv;
    char key[16];
    int rc = awc_kv_open(&cfg, &kv);

    if (rc != AWC_OK)
        fuzz_fail("making the valid file: open: %s", awc_strerror(rc));
    for (uint32_t i = 0; i < OPS; i++) {
        uint64_t r = fuzz_mix64(i + 1);
        uint32_t id = (uint32_t)(r >> 8) % KEYS, kind = (uint32_t)r % 100;
        size_t klen;

        if (kind >= 85)
            id = last; /* an overwrite of the key just put */
        klen = fuzz_kv_key(id, key);
        if (kind < 70 || kind >= 85) {
            struct key_state *k = &model[id];
            size_t len = r >> 40 & 7 ? FUZZ_KV_VHDR + (r >> 20) % 400 : 2000 + (r >> 20) % 7000;

            fuzz_kv_value(id, k->version + 1, len, buf);
            if ((rc = awc_kv_put(kv, key, klen, buf, len, 0)) != AWC_OK)
                fuzz_fail("making the valid file: put: %s", awc_strerror(rc));
            k->version++;
            k->len = len;
            k->deleted = false;
            last = id;
        } else {
            bool there = model[id].version != 0 && !model[id].deleted;

            rc = awc_kv_delete(kv, key, klen);
            if (rc != AWC_OK && rc != AWC_ENOTFOUND)
                fuzz_fail("making the valid file: delete: %s", awc_strerror(rc));
            if (rc == AWC_OK && !there)
                fuzz_fail("making the valid file: a delete found key %u, never put or deleted",
                          (unsigned)id);
            if (model[id].version != 0)
                model[id].deleted = true;
        }
        if (i % FLUSH == FLUSH - 1 && (rc = awc_kv_flush(kv)) != AWC_OK)
            fuzz_fail("making the valid file: flush: %s", awc_strerror(rc));
    }
    if ((rc = awc_kv_close(kv)) != AWC_OK)
        fuzz_fail("making the valid file: close: %s", awc_strerror(rc));
    if ((rc = awc_get_file_info(path, &layout)) != AWC_OK)
        fuzz_fail("making the valid file: awc_get_file_info: %s", awc_strerror(rc));
    valid = fuzz_read_file(path, &valid_len);
    work_path = fuzz_path("work.kv");
}

/* Step 2: every key's answer against the model. */
static void check_keys(awc_kv_t *kv, const char *when)
{
    char key[16];

    for (uint32_t id = 0; id < KEYS + 8; id++) {
        uint32_t kid = id < KEYS ? id : FUZZ_KV_NEVER + id;
        const struct key_state *k = id < KEYS ? &model[id] : &(struct key_state){0, 0, false};
        size_t klen = fuzz_kv_key(kid, key), len = 0;
        uint32_t v = 0;
        int rc = awc_kv_get(kv, key, klen, buf, sizeof(buf), &len);

        if (rc == AWC_ENOTFOUND)
            continue;
        if (rc == AWC_ECHECKSUM && k->version != 0)
            continue;
        if (rc != AWC_OK)
            fuzz_fail("%s: get of key %u (%s): %d (%s)", when, (unsigned)kid,
                      k->version == 0 ? "never put" : (k->deleted ? "deleted" : "put"), rc,
                      awc_strerror(rc));
        if (k->version == 0)
            fuzz_fail("%s: key %u, never put, was found (%zu bytes)", when, (unsigned)kid, len);
        if (!fuzz_kv_value_ok(buf, len, kid, &v))
            fuzz_fail("%s: key %u: a value that no put of it made (%zu bytes)", when, (unsigned)kid,
                      len);
        if (k->deleted)
            fuzz_fail("%s: key %u, deleted, came back with its version %u (of %u)", when,
                      (unsigned)kid, (unsigned)v, (unsigned)k->version);
        if (v != k->version)
            fuzz_fail("%s: key %u read back its older version %u, not the latest %u", when,
                      (unsigned)kid, (unsigned)v, (unsigned)k->version);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char fresh_key[] = "fresh";
    struct fuzz_in in = {.p = data, .len = size};
    struct awc_kv_config cfg;
    struct fuzz_image img;
    awc_kv_t *kv;
    size_t len;
    int rc, put;

    if (valid == NULL) {
        fuzz_name = "fuzz_kv_file";
        make_valid();
    }
    fuzz_log_reset();
    fuzz_image_init(&img, valid, valid_len, &layout);
    fuzz_damage(&img, &in, NULL, NULL);
    fuzz_write_file(work_path, img.b, img.len);
    fuzz_image_free(&img);

    /* Step 1 */
    cfg = config(work_path, 0, 0);
    rc = awc_kv_open(&cfg, &kv);
    if (rc != AWC_OK) {
        if (!FUZZ_CODE_IN(rc, AWC_EBADFILE, AWC_EINVAL, AWC_EIO, AWC_ENOMEM))
            fuzz_fail("open: %d (%s): not a code awc_kv_open documents for a damaged file", rc,
                      awc_strerror(rc));
        return 0;
    }
    /* Step 2 */
    check_keys(kv, "open");
    /* Step 3 */
    fuzz_kv_value(FUZZ_KV_NEVER - 1, 1, 100, buf);
    put = awc_kv_put(kv, fresh_key, sizeof(fresh_key) - 1, buf, 100, 0);
    if (!FUZZ_CODE_IN(put, AWC_OK, AWC_EIO, AWC_ENOSPC, AWC_ECHECKSUM))
        fuzz_fail("put of a new key: %d (%s)", put, awc_strerror(put));
    if ((rc = awc_kv_close(kv)) != AWC_OK)
        fuzz_fail("close: %d (%s)", rc, awc_strerror(rc));
    if ((rc = awc_kv_open(&cfg, &kv)) != AWC_OK)
        fuzz_fail("reopen after a successful close: %d (%s)", rc, awc_strerror(rc));
    rc = awc_kv_get(kv, fresh_key, sizeof(fresh_key) - 1, buf, sizeof(buf), &len);
    if (put == AWC_OK) {
        uint32_t v;

        if (rc != AWC_OK)
            fuzz_fail("reopen: the key put before the close: %s", awc_strerror(rc));
        if (!fuzz_kv_value_ok(buf, len, FUZZ_KV_NEVER - 1, &v) || v != 1)
            fuzz_fail("reopen: the key put before the close reads back other bytes");
    }
    check_keys(kv, "reopen");
    if ((rc = awc_kv_close(kv)) != AWC_OK)
        fuzz_fail("second close: %d (%s)", rc, awc_strerror(rc));
    return 0;
}
