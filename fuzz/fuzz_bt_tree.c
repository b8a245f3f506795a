/*
 * fuzz/fuzz_bt_tree.c: the B+-tree harnesses' keys, values and valid tree (fuzz_bt_tree.h).
 */
#include "fuzz_bt_tree.h"

#include <stdlib.h>

struct awc_bt_config fuzz_bt_config(const char *path, unsigned flags)
{
    return (struct awc_bt_config){.path = path,
                                  .page_size = FUZZ_BT_PAGE,
                                  .frame_budget = 256 * FUZZ_BT_PAGE,
                                  .window_budget = 256 * FUZZ_BT_PAGE,
                                  .flags = AWC_NO_DIRECT | flags};
}

size_t fuzz_bt_key(uint32_t id, char *buf)
{
    return (size_t)snprintf(buf, FUZZ_BT_KEY, "bt-%05u", (unsigned)id);
}

bool fuzz_bt_key_id(const void *key, size_t len, uint32_t *id)
{
    const char *k = key;
    uint32_t v = 0;

    if (len != 8 || memcmp(k, "bt-", 3) != 0)
        return false;
    for (size_t i = 3; i < 8; i++) {
        if (k[i] < '0' || k[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(k[i] - '0');
    }
    *id = v;
    return true;
}

static size_t value_len(uint32_t id, uint32_t v)
{
    return FUZZ_KV_VHDR + (size_t)(fuzz_mix64((uint64_t)id << 32 | v) % (FUZZ_BT_VMAX - 15));
}

size_t fuzz_bt_value(uint32_t id, uint32_t v, uint8_t *b)
{
    size_t len = value_len(id, v);

    fuzz_kv_value(id, v, len, b);
    return len;
}

bool fuzz_bt_value_is(const void *b, size_t len, uint32_t id, uint32_t v)
{
    uint8_t want[FUZZ_BT_VMAX];

    return len == value_len(id, v) && memcmp(b, want, fuzz_bt_value(id, v, want)) == 0;
}

/* The state while the valid tree is made. */
struct maker {
    awc_bt_t *bt;
    uint32_t latest[FUZZ_BT_KEYS]; /* each key's latest version put (versions are never reused) */
    bool present[FUZZ_BT_KEYS];    /* in the tree now */
};

static void put(struct maker *mk, uint32_t id)
{
    char key[FUZZ_BT_KEY];
    uint8_t val[FUZZ_BT_VMAX];
    size_t klen = fuzz_bt_key(id, key), len = fuzz_bt_value(id, mk->latest[id] + 1, val);
    int rc = awc_bt_put(mk->bt, key, klen, val, len);

    if (rc != AWC_OK)
        fuzz_fail("making the valid tree: put of key %u: %s", (unsigned)id, awc_strerror(rc));
    mk->latest[id]++;
    mk->present[id] = true;
}

static void delete (struct maker *mk, uint32_t id)
{
    char key[FUZZ_BT_KEY];
    size_t klen = fuzz_bt_key(id, key);
    int rc = awc_bt_delete(mk->bt, key, klen);

    if (rc != (mk->present[id] ? AWC_OK : AWC_ENOTFOUND))
        fuzz_fail("making the valid tree: delete of key %u: %s", (unsigned)id, awc_strerror(rc));
    mk->present[id] = false;
}

/* Puts (three in four) and deletes drawn from fuzz_mix64(seed + i), i < n. */
static void mixed(struct maker *mk, uint64_t seed, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = fuzz_mix64(seed + i);
        uint32_t id = (uint32_t)(r >> 8) % FUZZ_BT_KEYS;

        if (r % 4 == 0)
            delete (mk, id);
        else
            put(mk, id);
    }
}

/* Flushes, and records the model of the tree just made durable in v's slot m. */
static void snapshot(struct maker *mk, struct fuzz_bt_valid *v, int m)
{
    struct awc_bt_stats st;
    int rc = awc_bt_flush(mk->bt);

    if (rc == AWC_OK)
        rc = awc_bt_get_stats(mk->bt, &st);
    if (rc != AWC_OK)
        fuzz_fail("making the valid tree: flush and stats: %s", awc_strerror(rc));
    for (uint32_t id = 0; id < FUZZ_BT_KEYS; id++)
        v->version[m][id] = mk->present[id] ? mk->latest[id] : 0;
    v->gen[m] = st.generation;
    v->count[m] = st.count;
}

void fuzz_bt_make_valid(struct fuzz_bt_valid *v)
{
    const char *path = fuzz_path("valid.bt");
    struct awc_bt_config cfg = fuzz_bt_config(path, AWC_CREATE | AWC_EXCL);
    struct maker mk = {0};
    struct awc_bt_stats st;
    char msg[256];
    int rc;

    cfg.node_bytes = FUZZ_BT_NODE;
    if ((rc = awc_bt_open(&cfg, &mk.bt)) != AWC_OK)
        fuzz_fail("making the valid tree: open: %s", awc_strerror(rc));
    /* Phase 1: every key, in an order that is not the keys' (397 is prime to FUZZ_BT_KEYS). */
    for (uint32_t i = 0; i < FUZZ_BT_KEYS; i++)
        put(&mk, i * 397 % FUZZ_BT_KEYS);
    if ((rc = awc_bt_flush(mk.bt)) != AWC_OK)
        fuzz_fail("making the valid tree: flush: %s", awc_strerror(rc));
    /* Phase 2: overwrites and deletes; the tree of this flush is model 0. */
    mixed(&mk, 1000, 300);
    snapshot(&mk, v, 0);
    /* Phase 3: more, and a run of deletes (merges); the close makes model 1. */
    mixed(&mk, 5000, 120);
    for (uint32_t id = 100; id < 180; id++)
        if (mk.present[id])
            delete (&mk, id);
    snapshot(&mk, v, 1);
    if (v->gen[1] != v->gen[0] + 1)
        fuzz_fail("making the valid tree: generations %llu then %llu",
                  (unsigned long long)v->gen[0], (unsigned long long)v->gen[1]);
    if ((rc = awc_bt_close(mk.bt)) != AWC_OK)
        fuzz_fail("making the valid tree: close: %s", awc_strerror(rc));
    /* The file as the harnesses will see it, checked. */
    cfg = fuzz_bt_config(path, AWC_READONLY);
    if ((rc = awc_bt_open(&cfg, &mk.bt)) != AWC_OK ||
        (rc = awc_bt_check(mk.bt, msg, sizeof(msg))) != AWC_OK ||
        (rc = awc_bt_get_stats(mk.bt, &st)) != AWC_OK || (rc = awc_bt_close(mk.bt)) != AWC_OK)
        fuzz_fail("making the valid tree: reopening it: %s", awc_strerror(rc));
    if (st.generation != v->gen[1] || st.count != v->count[1] || st.height < 3)
        fuzz_fail("making the valid tree: generation %llu, %llu keys, height %u",
                  (unsigned long long)st.generation, (unsigned long long)st.count,
                  (unsigned)st.height);
    v->file_pages = st.file_pages;
    v->height = st.height;
    if ((rc = awc_get_file_info(path, &v->layout)) != AWC_OK)
        fuzz_fail("making the valid tree: awc_get_file_info: %s", awc_strerror(rc));
    v->bytes = fuzz_read_file(path, &v->len);
    v->work_path = fuzz_path("work.bt");
}

void fuzz_bt_write_damaged(const struct fuzz_bt_valid *v, struct fuzz_in *in,
                           struct fuzz_logical *logical, size_t *nlogical)
{
    struct fuzz_image img;

    fuzz_image_init(&img, v->bytes, v->len, &v->layout);
    fuzz_damage(&img, in, logical, nlogical);
    fuzz_write_file(v->work_path, img.b, img.len);
    fuzz_image_free(&img);
}

awc_bt_t *fuzz_bt_open_damaged(const struct fuzz_bt_valid *v, unsigned flags)
{
    struct awc_bt_config cfg = fuzz_bt_config(v->work_path, flags);
    awc_bt_t *bt;
    int rc = awc_bt_open(&cfg, &bt);

    if (rc != AWC_OK &&
        !FUZZ_CODE_IN(rc, AWC_EBADFILE, AWC_ECHECKSUM, AWC_EINVAL, AWC_EIO, AWC_ENOMEM))
        fuzz_fail("open: %d (%s): not a code awc_bt_open documents for a damaged file", rc,
                  awc_strerror(rc));
    return rc == AWC_OK ? bt : NULL;
}
