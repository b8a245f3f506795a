/*
 * fuzz/fuzz_bt_file.c: the B+-tree's oracle harness (README.md).
 *
 * Once per process a tree is made (fuzz_bt_tree.h: 512-byte nodes, three levels, three flushes)
 * and the models of its last two flushes kept. Each input is a list of damage operations
 * (fuzz_util.h) applied to a copy of the closed file, with no checksum fixed up: the page cache
 * answers a damaged page with AWC_ECHECKSUM (or, past what is left of the file, zeros), and the
 * tree must pass that on (awecache_bt.h, "Damage") and never answer from it. Then:
 *
 * 1. awc_bt_open returns AWC_OK, or AWC_EBADFILE / AWC_ECHECKSUM / AWC_EINVAL / AWC_EIO /
 *    AWC_ENOMEM.
 * 2. The tree is one of the two models: the newer, or the older when the newer meta page is
 *    damaged (engine/README.md 11.1.1); every answer must fit the same one. The key count is
 *    the model's; every get gives exactly the model's value (AWC_ERANGE with its length when
 *    asked with no buffer) or AWC_ENOTFOUND when the model lacks the key, or AWC_ECHECKSUM /
 *    AWC_EBADFILE: never another version, a deleted key or a key never put. A cursor from the
 *    first key forwards and from the last backwards gives exactly the model's keys and values in
 *    order, with none skipped, until its end (AWC_ENOTFOUND) or a damaged node.
 * 3. awc_bt_check and awc_bt_get_stats return AWC_OK, AWC_EBADFILE or AWC_ECHECKSUM; when the
 *    check passes, no call of step 2 met damage (the check reads every node they read), and the
 *    stats' generation is the model's.
 * 4. Puts (overwrites and a new key) and deletes: AWC_OK (the model changes), AWC_ENOTFOUND for
 *    a delete of a key the model lacks, or AWC_ECHECKSUM / AWC_EBADFILE (nothing changes). The
 *    close returns AWC_OK, the file reopens (AWC_OK) and 2 and 3 hold again for the changed
 *    model.
 */
#include "fuzz_bt_tree.h"

#include <stdlib.h>

#define IDS ((int)FUZZ_BT_KEYS + 8) /* ids checked: the keys put, and a few never put */

/* The models still consistent with the answers (bit m: model m of fuzz_bt_valid). */
struct oracle {
    uint32_t version[2][IDS]; /* each key's version in model m (0: not there) */
    uint64_t count[2];
    uint64_t gen[2];
    unsigned mask;
    bool damage; /* a call met AWC_ECHECKSUM or AWC_EBADFILE */
    const char *when;
};

static struct fuzz_bt_valid valid;
static uint8_t buf[64 * 1024];

static bool damage_code(int rc)
{
    return rc == AWC_ECHECKSUM || rc == AWC_EBADFILE;
}

/* Keeps the models of `keep`; fails when none is left. */
static void narrow(struct oracle *o, unsigned keep, const char *what, uint32_t id)
{
    if ((o->mask & keep) != 0) {
        o->mask &= keep;
        return;
    }
    fuzz_fail("%s: %s (key or number %u) fits neither model still possible (%#x; generation "
              "%llu has that key at version %u, generation %llu at %u)",
              o->when, what, (unsigned)id, o->mask, (unsigned long long)o->gen[0],
              (unsigned)(id < IDS ? o->version[0][id] : 0), (unsigned long long)o->gen[1],
              (unsigned)(id < IDS ? o->version[1][id] : 0));
}

/* Step 2: every key's get. */
static void check_gets(struct oracle *o, awc_bt_t *bt)
{
    char key[FUZZ_BT_KEY];

    for (uint32_t id = 0; id < IDS; id++) {
        size_t klen = fuzz_bt_key(id, key), len = 0, need = 0;
        unsigned keep = 0;
        int rc = awc_bt_get(bt, key, klen, buf, sizeof(buf), &len);

        if (damage_code(rc)) {
            o->damage = true;
            continue;
        }
        if (rc != AWC_OK && rc != AWC_ENOTFOUND)
            fuzz_fail("%s: get of key %u: %d (%s)", o->when, (unsigned)id, rc, awc_strerror(rc));
        for (unsigned m = 0; m < 2; m++) {
            uint32_t v = o->version[m][id];

            if (rc == AWC_OK ? v != 0 && fuzz_bt_value_is(buf, len, id, v) : v == 0)
                keep |= 1u << m;
        }
        narrow(o, keep, rc == AWC_OK ? "the value read" : "AWC_ENOTFOUND", id);
        if (rc == AWC_OK && id % 7 == 0 &&
            ((rc = awc_bt_get(bt, key, klen, NULL, 0, &need)) != AWC_ERANGE || need != len))
            fuzz_fail("%s: get of key %u with no buffer: %s, %zu bytes (not AWC_ERANGE, %zu)",
                      o->when, (unsigned)id, awc_strerror(rc), need, len);
    }
}

/* The id after (forward) or before `from` that model m holds; -1 or IDS when none. */
static int64_t next_in(const struct oracle *o, unsigned m, int64_t from, bool forward)
{
    for (int64_t id = from + (forward ? 1 : -1); id >= 0 && id < IDS; id += forward ? 1 : -1)
        if (o->version[m][id] != 0)
            return id;
    return forward ? IDS : -1;
}

/* Step 2: a cursor from the first key forwards, or from the last backwards. */
static void check_scan(struct oracle *o, awc_bt_t *bt, bool forward)
{
    const char *what = forward ? "the forward cursor" : "the backward cursor";
    awc_bt_cursor_t *c;
    int64_t prev = forward ? -1 : IDS;
    int rc = awc_bt_cursor_open(bt, &c);

    if (rc != AWC_OK)
        fuzz_fail("%s: cursor_open: %s", o->when, awc_strerror(rc));
    rc = forward ? awc_bt_cursor_seek(c, NULL, 0) : awc_bt_cursor_last(c);
    for (uint32_t steps = 0; rc == AWC_OK; steps++) {
        const void *k, *v;
        size_t klen, vlen;
        uint32_t id;
        unsigned keep = 0;

        if ((rc = awc_bt_cursor_get(c, &k, &klen, &v, &vlen)) != AWC_OK)
            fuzz_fail("%s: cursor_get: %s", o->when, awc_strerror(rc));
        if (!fuzz_bt_key_id(k, klen, &id) || id >= IDS)
            fuzz_fail("%s: %s gave a key no put made (%zu bytes)", o->when, what, klen);
        if (steps > IDS)
            fuzz_fail("%s: %s did not end", o->when, what);
        for (unsigned m = 0; m < 2; m++)
            if (next_in(o, m, prev, forward) == id &&
                fuzz_bt_value_is(v, vlen, id, o->version[m][id]))
                keep |= 1u << m;
        narrow(o, keep, what, id);
        prev = id;
        rc = forward ? awc_bt_cursor_next(c) : awc_bt_cursor_prev(c);
    }
    if (rc == AWC_ENOTFOUND) {
        unsigned keep = 0;

        for (unsigned m = 0; m < 2; m++)
            if (next_in(o, m, prev, forward) == (forward ? IDS : -1))
                keep |= 1u << m;
        narrow(o, keep, forward ? "the end after the key" : "the start before the key",
               (uint32_t)prev);
    } else if (damage_code(rc)) {
        o->damage = true;
    } else {
        fuzz_fail("%s: %s: %d (%s)", o->when, what, rc, awc_strerror(rc));
    }
    if ((rc = awc_bt_cursor_close(c)) != AWC_OK)
        fuzz_fail("%s: cursor_close: %s", o->when, awc_strerror(rc));
}

/* Steps 2 and 3. */
static void check_tree(struct oracle *o, awc_bt_t *bt, const char *when)
{
    struct awc_bt_stats st;
    uint64_t count;
    unsigned keep = 0;
    char msg[256];
    int rc;

    o->when = when;
    o->damage = false;
    if ((rc = awc_bt_count(bt, &count)) != AWC_OK)
        fuzz_fail("%s: count: %s", when, awc_strerror(rc));
    for (unsigned m = 0; m < 2; m++)
        if (o->count[m] == count)
            keep |= 1u << m;
    narrow(o, keep, "the count", (uint32_t)count);
    check_gets(o, bt);
    check_scan(o, bt, true);
    check_scan(o, bt, false);
    rc = awc_bt_check(bt, msg, sizeof(msg));
    if (rc != AWC_OK && !damage_code(rc))
        fuzz_fail("%s: check: %d (%s)", when, rc, awc_strerror(rc));
    if (rc == AWC_OK && o->damage)
        fuzz_fail("%s: the check passed, but a get or cursor met a damaged node", when);
    rc = awc_bt_get_stats(bt, &st);
    if (rc != AWC_OK && !damage_code(rc))
        fuzz_fail("%s: stats: %d (%s)", when, rc, awc_strerror(rc));
    if (rc == AWC_OK) {
        keep = 0;
        for (unsigned m = 0; m < 2; m++)
            if (o->gen[m] == st.generation && o->count[m] == st.count)
                keep |= 1u << m;
        narrow(o, keep, "the stats' generation and count", 0);
    }
}

/* Step 4: one put (version > 0) or delete (version 0) of key id; true when it changed the tree. */
static bool change(struct oracle *o, awc_bt_t *bt, uint32_t id, uint32_t version)
{
    char key[FUZZ_BT_KEY];
    uint8_t val[FUZZ_BT_VMAX];
    size_t klen = fuzz_bt_key(id, key);
    unsigned keep = 0;
    int rc;

    if (version > 0)
        rc = awc_bt_put(bt, key, klen, val, fuzz_bt_value(id, version, val));
    else
        rc = awc_bt_delete(bt, key, klen);
    if (damage_code(rc))
        return false;
    if (rc != AWC_OK && (rc != AWC_ENOTFOUND || version > 0))
        fuzz_fail("%s of key %u: %d (%s)", version > 0 ? "put" : "delete", (unsigned)id, rc,
                  awc_strerror(rc));
    for (unsigned m = 0; m < 2; m++)
        if (version > 0 || (rc == AWC_OK) == (o->version[m][id] != 0))
            keep |= 1u << m;
    narrow(o, keep, rc == AWC_OK ? "a delete found" : "AWC_ENOTFOUND from a delete", id);
    for (unsigned m = 0; m < 2; m++) {
        if (rc != AWC_OK)
            break;
        o->count[m] += (version > 0) - (o->version[m][id] != 0);
        o->version[m][id] = version;
    }
    return rc == AWC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t puts[] = {0, 5, 99, 150, 233, 299, FUZZ_BT_KEYS + 2};
    static const uint32_t deletes[] = {1, 180, 200, 251};
    struct fuzz_in in = {.p = data, .len = size};
    struct awc_bt_config cfg;
    struct oracle o = {.mask = 3};
    awc_bt_t *bt;
    bool changed = false;
    int rc;

    if (valid.bytes == NULL) {
        fuzz_name = "fuzz_bt_file";
        fuzz_bt_make_valid(&valid);
    }
    fuzz_log_reset();
    fuzz_bt_write_damaged(&valid, &in, NULL, NULL);
    for (unsigned m = 0; m < 2; m++) {
        memcpy(o.version[m], valid.version[m], sizeof(valid.version[m]));
        o.count[m] = valid.count[m];
        o.gen[m] = valid.gen[m];
    }

    /* Step 1 */
    cfg = fuzz_bt_config(valid.work_path, 0);
    if ((bt = fuzz_bt_open_damaged(&valid, 0)) == NULL)
        return 0;
    /* Steps 2 and 3 */
    check_tree(&o, bt, "open");
    /* Step 4 */
    for (size_t i = 0; i < sizeof(puts) / sizeof(puts[0]); i++)
        changed |= change(&o, bt, puts[i], 1000 + (uint32_t)i);
    for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++)
        changed |= change(&o, bt, deletes[i], 0);
    if ((rc = awc_bt_close(bt)) != AWC_OK)
        fuzz_fail("close: %d (%s)", rc, awc_strerror(rc));
    if ((rc = awc_bt_open(&cfg, &bt)) != AWC_OK)
        fuzz_fail("reopen after a successful close: %d (%s)", rc, awc_strerror(rc));
    for (unsigned m = 0; m < 2; m++)
        o.gen[m] += changed; /* the close flushed the changes (README 11.5.2) */
    check_tree(&o, bt, "reopen");
    if ((rc = awc_bt_close(bt)) != AWC_OK)
        fuzz_fail("second close: %d (%s)", rc, awc_strerror(rc));
    return 0;
}
