/*
 * bench/bench_bt_instr.c: one kind of B+-tree operation, N times, over the public API of
 * awecache's B+-tree (engine/awecache_bt.h) or of LMDB, on the same keys: a fixed workload for
 * valgrind --tool=cachegrind, which counts the instructions (this program prints no timing).
 *
 *   bench_bt_instr load DIR                 both stores in DIR, outside valgrind (minutes)
 *   bench_bt_instr {awc|lmdb} {get|scan} N DIR
 *
 * The data: ITEMS items, key "k%017u" (18 bytes) of a fixed-seed permutation of 0..ITEMS-1, value
 * 100 bytes, loaded in random order; awecache with 4 KiB pages and 64 MiB of frames (the data
 * fits), LMDB in one file (MDB_NOSUBDIR). Each run opens the store, reads every leaf once (a
 * full scan: the frames warm, not counted apart), then does N operations of one kind, one thread:
 *
 *   get   awc_bt_get_ref + awc_bt_release | mdb_txn_renew + mdb_get + mdb_txn_reset
 *   scan  awc_bt_cursor_seek + 100 x (awc_bt_cursor_next + awc_bt_cursor_get) |
 *         mdb_txn_renew + mdb_cursor_renew + MDB_SET_RANGE + 100 x MDB_NEXT + mdb_txn_reset
 *
 * The keys looked up or sought are a fixed-seed pseudo-random sequence of OP_KEYS keys made
 * before the operations and cycled through, the same for both. The
 * instructions of one operation are the difference of two runs' totals (N2 and N1 operations)
 * divided by N2 - N1, so that open, warm-up and exit cancel out (bench/README.md).
 */
#include "awecache_bt.h"

#include <lmdb.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS     190000u
#define KEY_LEN   18u
#define VALUE_LEN 100u
#define SCAN_LEN  100u
#define MIB       (1024u * 1024u)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void make_key(char *k, uint32_t i)
{
    char tmp[KEY_LEN + 1];

    snprintf(tmp, sizeof(tmp), "k%017u", i);
    memcpy(k, tmp, KEY_LEN);
}

/* The keys the operations look up or seek: made before the operations, cycled through. */
#define OP_KEYS 4096u
static char op_keys[OP_KEYS][KEY_LEN];

static void make_op_keys(void)
{
    for (uint32_t i = 0; i < OP_KEYS; i++)
        make_key(op_keys[i], (uint32_t)(rng() % ITEMS));
}

static void make_value(char *v, uint32_t i)
{
    for (uint32_t j = 0; j < VALUE_LEN; j++)
        v[j] = (char)('a' + (i + j) % 26);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_bt_instr: %s: %s\n", what, why);
    exit(1);
}

static void path_of(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* ---- awecache -------------------------------------------------------------------------------- */

static awc_bt_t *side_awc_open(const char *dir, unsigned flags)
{
    char path[4096];
    struct awc_bt_config c;
    awc_bt_t *bt;
    int rc;

    path_of(path, sizeof(path), dir, "awc.bt");
    memset(&c, 0, sizeof(c));
    c.path = path;
    c.page_size = 4096;
    c.frame_budget = 64u * MIB;
    c.flags = flags;
    rc = awc_bt_open(&c, &bt);
    if (rc != AWC_OK)
        die("awc_bt_open", awc_strerror(rc));
    return bt;
}

static void side_awc_load(const char *dir, const uint32_t *perm)
{
    awc_bt_t *bt = side_awc_open(dir, AWC_CREATE | AWC_EXCL);
    char k[KEY_LEN], v[VALUE_LEN];
    int rc;

    for (uint32_t i = 0; i < ITEMS; i++) {
        make_key(k, perm[i]);
        make_value(v, perm[i]);
        rc = awc_bt_put(bt, k, KEY_LEN, v, VALUE_LEN);
        if (rc != AWC_OK)
            die("awc_bt_put", awc_strerror(rc));
    }
    rc = awc_bt_close(bt);
    if (rc != AWC_OK)
        die("awc_bt_close", awc_strerror(rc));
}

static uint64_t side_awc_run(const char *dir, int scan, uint64_t n)
{
    awc_bt_t *bt = side_awc_open(dir, 0);
    awc_bt_cursor_t *cur;
    const void *kp, *vp;
    size_t kl, vl;
    uint64_t sum = 0;
    const char *k;
    int rc;

    if (awc_bt_cursor_open(bt, &cur) != AWC_OK)
        die("awc_bt_cursor_open", "failed");
    /* The warm-up: every leaf read once. */
    for (rc = awc_bt_cursor_seek(cur, NULL, 0); rc == AWC_OK; rc = awc_bt_cursor_next(cur))
        sum++;
    if (sum != ITEMS)
        die("warm-up", "wrong count");
    for (uint64_t op = 0; op < n; op++) {
        k = op_keys[op % OP_KEYS];
        if (!scan) {
            struct awc_bt_ref ref;

            rc = awc_bt_get_ref(bt, k, KEY_LEN, &ref);
            if (rc != AWC_OK)
                die("awc_bt_get_ref", awc_strerror(rc));
            sum += ((const uint8_t *)ref.value)[0];
            awc_bt_release(bt, &ref);
            continue;
        }
        rc = awc_bt_cursor_seek(cur, k, KEY_LEN);
        for (uint32_t j = 0; j < SCAN_LEN && rc == AWC_OK; j++) {
            rc = awc_bt_cursor_next(cur);
            if (rc == AWC_OK)
                rc = awc_bt_cursor_get(cur, &kp, &kl, &vp, &vl);
            if (rc == AWC_OK)
                sum += vl + ((const uint8_t *)kp)[kl - 1];
        }
        if (rc != AWC_OK && rc != AWC_ENOTFOUND)
            die("awc_bt_cursor", awc_strerror(rc));
    }
    awc_bt_cursor_close(cur);
    awc_bt_close(bt);
    return sum;
}

/* ---- LMDB ------------------------------------------------------------------------------------ */

static MDB_env *side_lmdb_open(const char *dir, unsigned flags)
{
    char path[4096];
    MDB_env *env;
    int rc;

    path_of(path, sizeof(path), dir, "lmdb.db");
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_mapsize(env, 1024u * MIB)) != 0 ||
        (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD | flags, 0644)) != 0)
        die("mdb_env_open", mdb_strerror(rc));
    return env;
}

static void side_lmdb_load(const char *dir, const uint32_t *perm)
{
    MDB_env *env = side_lmdb_open(dir, MDB_NOSYNC);
    MDB_txn *txn;
    MDB_dbi dbi;
    char k[KEY_LEN], v[VALUE_LEN];
    int rc = mdb_txn_begin(env, NULL, 0, &txn);

    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    for (uint32_t i = 0; i < ITEMS && rc == 0; i++) {
        MDB_val mk = {KEY_LEN, k}, mv = {VALUE_LEN, v};

        make_key(k, perm[i]);
        make_value(v, perm[i]);
        rc = mdb_put(txn, dbi, &mk, &mv, 0);
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    if (rc == 0)
        rc = mdb_env_sync(env, 1);
    if (rc != 0)
        die("lmdb load", mdb_strerror(rc));
    mdb_env_close(env);
}

static uint64_t side_lmdb_run(const char *dir, int scan, uint64_t n)
{
    MDB_env *env = side_lmdb_open(dir, MDB_RDONLY);
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_dbi dbi;
    MDB_val mk, mv;
    uint64_t sum = 0;
    const char *k;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);

    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    if (rc == 0)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        die("lmdb open", mdb_strerror(rc));
    /* The warm-up: every leaf read once. */
    for (rc = mdb_cursor_get(cur, &mk, &mv, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT))
        sum++;
    if (sum != ITEMS)
        die("warm-up", "wrong count");
    mdb_txn_reset(txn);
    for (uint64_t op = 0; op < n; op++) {
        k = op_keys[op % OP_KEYS];
        mk.mv_size = KEY_LEN;
        mk.mv_data = (void *)k;
        if ((rc = mdb_txn_renew(txn)) != 0)
            die("mdb_txn_renew", mdb_strerror(rc));
        if (!scan) {
            if ((rc = mdb_get(txn, dbi, &mk, &mv)) != 0)
                die("mdb_get", mdb_strerror(rc));
            sum += ((const uint8_t *)mv.mv_data)[0];
            mdb_txn_reset(txn);
            continue;
        }
        if ((rc = mdb_cursor_renew(txn, cur)) != 0)
            die("mdb_cursor_renew", mdb_strerror(rc));
        rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE);
        for (uint32_t j = 0; j < SCAN_LEN && rc == 0; j++) {
            rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT);
            if (rc == 0)
                sum += mv.mv_size + ((const uint8_t *)mk.mv_data)[mk.mv_size - 1];
        }
        if (rc != 0 && rc != MDB_NOTFOUND)
            die("mdb_cursor_get", mdb_strerror(rc));
        mdb_txn_reset(txn);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return sum;
}

int main(int argc, char **argv)
{
    int scan;
    uint64_t n;

    if (argc == 3 && strcmp(argv[1], "load") == 0) {
        uint32_t *perm = malloc(ITEMS * sizeof(*perm));

        if (perm == NULL)
            die("load", "out of memory");
        for (uint32_t i = 0; i < ITEMS; i++)
            perm[i] = i;
        for (uint32_t i = ITEMS - 1; i > 0; i--) {
            uint32_t j = (uint32_t)(rng() % (i + 1)), t = perm[i];

            perm[i] = perm[j];
            perm[j] = t;
        }
        side_awc_load(argv[2], perm);
        side_lmdb_load(argv[2], perm);
        free(perm);
        return 0;
    }
    if (argc != 5 || (strcmp(argv[1], "awc") != 0 && strcmp(argv[1], "lmdb") != 0) ||
        (strcmp(argv[2], "get") != 0 && strcmp(argv[2], "scan") != 0)) {
        fprintf(stderr, "usage: bench_bt_instr load DIR\n"
                        "       bench_bt_instr {awc|lmdb} {get|scan} N DIR\n");
        return 2;
    }
    scan = strcmp(argv[2], "scan") == 0;
    make_op_keys();
    n = strtoull(argv[3], NULL, 10);
    if (strcmp(argv[1], "awc") == 0)
        printf("%llu\n", (unsigned long long)side_awc_run(argv[4], scan, n));
    else
        printf("%llu\n", (unsigned long long)side_lmdb_run(argv[4], scan, n));
    return 0;
}
