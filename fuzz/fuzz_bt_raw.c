/*
 * fuzz/fuzz_bt_raw.c: node and meta pages of any content under valid checksums (README.md).
 *
 * The input's first byte chooses: bit 0 set, the file is the valid tree (fuzz_bt_tree.h)
 * damaged by the rest of the input: fuzz_util.h's operations, including writes through the page
 * cache (op 7: page modulo the pages the tree used, offset modulo the 512-byte node), which keep
 * the pages' checksums valid and so reach the node check (bt_node_valid, engine/README.md
 * 11.2.4), the descents, the cursors, the splits and merges; clear, the rest of the input is the
 * whole file. Bit 1: open read-only. Bit 2: after those writes, the XXH3 of each meta page that
 * is not all zeros is made right again (bt_file.c's layout: the XXH3 of bytes [0, 56) at 56), so
 * that changed meta fields reach open's checks of them.
 *
 * Such a file is one "written by another client" (awecache_bt.h, "Damage"): a node that is not
 * well formed must give AWC_EBADFILE, but a well-formed node with other keys or values is the
 * tree's content, and no answer can be told wrong from the keys put. What the harness checks:
 *
 * 1. Every call returns AWC_OK or a code it documents; no crash, no sanitizer report, no hang.
 * 2. Gets of the keys put and a few never put: a value no longer than a node.
 * 3. A cursor from the first key forwards gives keys strictly increasing, one from the last
 *    backwards keys strictly decreasing (awecache_bt.h: next goes to the first key greater than
 *    the cursor's), each of 1 to AWC_BT_MAX_KEY bytes, and each ends.
 * 4. When awc_bt_check passes, the tree is sound and must behave as one: both cursors give the
 *    same keys and values, the count and the stats' count are their number, and a get of each
 *    key gives the cursor's value. Read-write, puts and deletes of a few keys then change exactly
 *    what they say (a delete finds the key when the cursor did); after a successful close the
 *    file reopens, passes the check, and a cursor gives exactly the changed keys and values.
 */
#include "fuzz_bt_tree.h"

#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define IDS         (FUZZ_BT_KEYS + 8) /* ids got: the keys put, and a few never put */
#define MAX_ENTRIES 16384u             /* entries a scan keeps (more: step 4 is left out) */
#define MAX_STEPS   (1u << 20)         /* a cursor that moves more often has not ended */
#define META_SUM    56u                /* where a meta page's XXH3 of the bytes before lies */

/* A key and its value's hash, as a cursor gave them. */
struct entry {
    const uint8_t *key; /* into the scan's arena */
    size_t klen;
    uint64_t vhash;
};

/* What a cursor gave, in its order. */
struct scan {
    struct entry e[MAX_ENTRIES];
    size_t n;
    bool whole; /* it ended (AWC_ENOTFOUND) and kept every entry */
    uint8_t arena[MAX_ENTRIES * 64];
    size_t used;
};

static struct fuzz_bt_valid valid;
static struct scan fwd, bwd, after;
static uint8_t buf[64 * 1024];

static uint64_t hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

static int cmp_keys(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int cmp_entries(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    return cmp_keys(x->key, x->klen, y->key, y->klen);
}

/* Applies op 7's writes through the page cache, then (bit 2) reseals the meta pages. */
static void apply_logical(struct fuzz_logical *l, size_t n, bool reseal)
{
    struct awc_config cfg = {.path = valid.work_path,
                             .page_size = FUZZ_BT_PAGE,
                             .frame_budget = 16 * FUZZ_BT_PAGE,
                             .window_budget = 8 * FUZZ_BT_PAGE,
                             .flags = AWC_NO_DIRECT};
    static const uint8_t zeros[META_SUM];
    awc_t *c;
    void *ptr;

    if ((n == 0 && !reseal) || awc_open(&cfg, &c) != AWC_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        l[i].page %= valid.file_pages;
        l[i].off %= FUZZ_BT_NODE;
        fuzz_log("  (the write goes to page %llu + %zu)", (unsigned long long)l[i].page, l[i].off);
        if (awc_pin(c, l[i].page, AWC_EXCLUSIVE, &ptr) != AWC_OK)
            continue;
        memcpy((uint8_t *)ptr + l[i].off, l[i].bytes, l[i].n);
        awc_unpin(c, l[i].page, 1);
    }
    for (uint64_t page = 0; reseal && page < 2; page++) {
        if (awc_pin(c, page, AWC_EXCLUSIVE, &ptr) != AWC_OK)
            continue;
        if (memcmp(ptr, zeros, META_SUM) != 0) {
            uint64_t sum = XXH3_64bits(ptr, META_SUM);

            memcpy((uint8_t *)ptr + META_SUM, &sum, sizeof(sum));
        }
        awc_unpin(c, page, 1);
    }
    awc_close(c);
}

/* Step 2 */
static void check_gets(awc_bt_t *bt)
{
    char key[FUZZ_BT_KEY];

    for (uint32_t id = 0; id < IDS; id++) {
        size_t klen = fuzz_bt_key(id, key), len = 0;
        int rc = awc_bt_get(bt, key, klen, buf, sizeof(buf), &len);

        if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_ENOTFOUND, AWC_ECHECKSUM, AWC_EBADFILE))
            fuzz_fail("get of key %u: %d (%s)", (unsigned)id, rc, awc_strerror(rc));
        if (rc == AWC_OK && len > FUZZ_BT_PAGE)
            fuzz_fail("get of key %u: a value of %zu bytes, more than a node", (unsigned)id, len);
    }
}

/* Step 3: a cursor's keys into *s (forwards or backwards). */
static void scan(awc_bt_t *bt, bool forward, struct scan *s, const char *when)
{
    awc_bt_cursor_t *c;
    int rc = awc_bt_cursor_open(bt, &c);
    static uint8_t prev[AWC_BT_MAX_KEY];
    size_t prev_len = 0;

    if (rc != AWC_OK)
        fuzz_fail("%s: cursor_open: %s", when, awc_strerror(rc));
    s->n = s->used = 0;
    s->whole = true;
    rc = forward ? awc_bt_cursor_seek(c, NULL, 0) : awc_bt_cursor_last(c);
    for (uint32_t steps = 0; rc == AWC_OK; steps++) {
        const void *k, *v;
        size_t klen, vlen;

        if (steps == MAX_STEPS)
            fuzz_fail("%s: a cursor moved %u times without an end", when, MAX_STEPS);
        if ((rc = awc_bt_cursor_get(c, &k, &klen, &v, &vlen)) != AWC_OK)
            fuzz_fail("%s: cursor_get: %s", when, awc_strerror(rc));
        if (klen == 0 || klen > AWC_BT_MAX_KEY || vlen > FUZZ_BT_PAGE)
            fuzz_fail("%s: a cursor gave a key of %zu bytes, a value of %zu", when, klen, vlen);
        if (steps > 0 && cmp_keys(k, klen, prev, prev_len) * (forward ? 1 : -1) <= 0)
            fuzz_fail("%s: the %s cursor's key %u is not %s the one before", when,
                      forward ? "forward" : "backward", (unsigned)steps,
                      forward ? "above" : "below");
        memcpy(prev, k, klen);
        prev_len = klen;
        if (s->whole && s->n < MAX_ENTRIES && s->used + klen <= sizeof(s->arena)) {
            memcpy(s->arena + s->used, k, klen);
            s->e[s->n++] = (struct entry){s->arena + s->used, klen, hash(v, vlen)};
            s->used += klen;
        } else {
            s->whole = false; /* too many to keep: step 4 is left out */
        }
        rc = forward ? awc_bt_cursor_next(c) : awc_bt_cursor_prev(c);
    }
    if (rc != AWC_ENOTFOUND)
        s->whole = false;
    if (!FUZZ_CODE_IN(rc, AWC_ENOTFOUND, AWC_ECHECKSUM, AWC_EBADFILE))
        fuzz_fail("%s: a cursor's move: %d (%s)", when, rc, awc_strerror(rc));
    if ((rc = awc_bt_cursor_close(c)) != AWC_OK)
        fuzz_fail("%s: cursor_close: %s", when, awc_strerror(rc));
}

/* Step 4: a sound tree's cursors, count and gets agree. */
static void check_sound(awc_bt_t *bt, const struct awc_bt_stats *st)
{
    uint64_t count;
    int rc;

    if (!fwd.whole || !bwd.whole)
        fuzz_fail("the check passed, but a cursor met damage (or more than %u keys)", MAX_ENTRIES);
    if (fwd.n != bwd.n)
        fuzz_fail("the check passed, but the cursors gave %zu and %zu keys", fwd.n, bwd.n);
    for (size_t i = 0; i < fwd.n; i++) {
        const struct entry *a = &fwd.e[i], *b = &bwd.e[fwd.n - 1 - i];
        size_t len;

        if (cmp_entries(a, b) != 0 || a->vhash != b->vhash)
            fuzz_fail("the check passed, but the cursors disagree on key %zu", i);
        rc = awc_bt_get(bt, a->key, a->klen, buf, sizeof(buf), &len);
        if (rc != AWC_OK || hash(buf, len) != a->vhash)
            fuzz_fail("the check passed, but a get of the cursor's key %zu: %s, %s", i,
                      awc_strerror(rc), rc == AWC_OK ? "another value" : "no value");
    }
    if ((rc = awc_bt_count(bt, &count)) != AWC_OK || count != fwd.n || st->count != fwd.n)
        fuzz_fail("the check passed, but the count is %llu, the stats' %llu, the cursor's %zu",
                  (unsigned long long)count, (unsigned long long)st->count, fwd.n);
}

/* Step 4: the changes, each into the expected scan `fwd` (a sound tree) when `sound`. Returns
 * true when every one did what it should. */
static bool change(awc_bt_t *bt, bool readonly, bool sound)
{
    static const uint32_t puts[] = {0, 5, 233, FUZZ_BT_KEYS + 2}, deletes[] = {1, 200};
    bool ok = true;

    for (size_t i = 0; i < 6; i++) {
        bool is_put = i < 4;
        uint32_t id = is_put ? puts[i] : deletes[i - 4];
        char key[FUZZ_BT_KEY];
        uint8_t val[FUZZ_BT_VMAX];
        size_t klen = fuzz_bt_key(id, key), vlen = fuzz_bt_value(id, 1000 + (uint32_t)i, val);
        struct entry want = {(const uint8_t *)key, klen, hash(val, vlen)}, *at;
        int rc = is_put ? awc_bt_put(bt, key, klen, val, vlen) : awc_bt_delete(bt, key, klen);

        /* A sound tree meets no damage: its puts and deletes reach only nodes the check read,
         * and new pages (pinned with AWC_OVERWRITE). */
        bool damage = rc == AWC_ECHECKSUM || rc == AWC_EBADFILE;
        bool expected =
            readonly ? rc == AWC_EACCES
                     : rc == AWC_OK || (!is_put && rc == AWC_ENOTFOUND) || (!sound && damage);

        if (!expected)
            fuzz_fail("%s of key %u: %d (%s)", is_put ? "put" : "delete", (unsigned)id, rc,
                      awc_strerror(rc));
        ok = ok && (rc == AWC_OK || rc == AWC_ENOTFOUND);
        if (!ok || !sound)
            continue;
        at = bsearch(&want, fwd.e, fwd.n, sizeof(fwd.e[0]), cmp_entries);
        if ((rc == AWC_OK) != (at != NULL || is_put))
            fuzz_fail("the check passed, but a delete of key %u %s", (unsigned)id,
                      at != NULL ? "did not find it" : "found it, which the cursor did not");
        if (at != NULL) {
            *at = fwd.e[--fwd.n]; /* the put's entry, or none, in its place: sorted below */
        }
        if (is_put && fwd.n < MAX_ENTRIES && fwd.used + klen <= sizeof(fwd.arena)) {
            memcpy(fwd.arena + fwd.used, key, klen);
            want.key = fwd.arena + fwd.used;
            fwd.used += klen;
            fwd.e[fwd.n++] = want;
        } else if (is_put) {
            ok = false;
        }
        qsort(fwd.e, fwd.n, sizeof(fwd.e[0]), cmp_entries);
    }
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .len = size};
    uint8_t mode = fuzz_u8(&in);
    bool readonly = (mode & 2) != 0, sound = false, ok;
    struct fuzz_logical logical[FUZZ_MAX_LOGICAL];
    size_t nlogical = 0;
    struct awc_bt_config cfg;
    struct awc_bt_stats st;
    awc_bt_t *bt;
    uint64_t count;
    char msg[256];
    int rc;

    if (valid.bytes == NULL) {
        fuzz_name = "fuzz_bt_raw";
        fuzz_bt_make_valid(&valid);
    }
    fuzz_log_reset();
    if (mode & 1) {
        fuzz_bt_write_damaged(&valid, &in, logical, &nlogical);
        if (mode & 4)
            fuzz_log("  the meta pages resealed");
        apply_logical(logical, nlogical, (mode & 4) != 0);
    } else {
        fuzz_log("  the file is the input's %zu bytes", size > 0 ? size - 1 : 0);
        fuzz_write_file(valid.work_path, data + (size > 0), size > 0 ? size - 1 : 0);
    }
    fuzz_log("  opened %s", readonly ? "read-only" : "read-write");

    /* Step 1 */
    cfg = fuzz_bt_config(valid.work_path, readonly ? AWC_READONLY : 0);
    if ((bt = fuzz_bt_open_damaged(&valid, readonly ? AWC_READONLY : 0)) == NULL)
        return 0;
    /* Steps 2 and 3 */
    check_gets(bt);
    scan(bt, true, &fwd, "open");
    scan(bt, false, &bwd, "open");
    if ((rc = awc_bt_count(bt, &count)) != AWC_OK)
        fuzz_fail("count: %s", awc_strerror(rc));
    rc = awc_bt_check(bt, msg, sizeof(msg));
    if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_EBADFILE, AWC_ECHECKSUM))
        fuzz_fail("check: %d (%s)", rc, awc_strerror(rc));
    sound = rc == AWC_OK;
    rc = awc_bt_get_stats(bt, &st);
    if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_EBADFILE, AWC_ECHECKSUM) || (sound && rc != AWC_OK))
        fuzz_fail("stats%s: %d (%s)", sound ? " of a tree that passed the check" : "", rc,
                  awc_strerror(rc));
    /* Step 4 */
    if (sound)
        check_sound(bt, &st);
    ok = change(bt, readonly, sound);
    rc = awc_bt_close(bt);
    if (!FUZZ_CODE_IN(rc, AWC_OK, AWC_EIO, AWC_ENOSPC))
        fuzz_fail("close: %d (%s)", rc, awc_strerror(rc));
    if (!sound || !ok || rc != AWC_OK)
        return 0;
    if ((rc = awc_bt_open(&cfg, &bt)) != AWC_OK)
        fuzz_fail("reopen of a sound tree after a successful close: %d (%s)", rc, awc_strerror(rc));
    if ((rc = awc_bt_check(bt, msg, sizeof(msg))) != AWC_OK)
        fuzz_fail("reopen: a sound tree after puts and deletes fails the check: %s (%s)",
                  awc_strerror(rc), msg);
    scan(bt, true, &after, "reopen");
    if (!after.whole || after.n != fwd.n)
        fuzz_fail("reopen: the cursor gave %zu keys, not %zu", after.n, fwd.n);
    for (size_t i = 0; i < fwd.n; i++)
        if (cmp_entries(&after.e[i], &fwd.e[i]) != 0 || after.e[i].vhash != fwd.e[i].vhash)
            fuzz_fail("reopen: the cursor's key %zu is not the one expected", i);
    if ((rc = awc_bt_close(bt)) != AWC_OK)
        fuzz_fail("close after reopening: %s", awc_strerror(rc));
    return 0;
}
