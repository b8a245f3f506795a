/*
 * tests/test_bt.c: the B+-tree (engine/awecache_bt.h, awc_bt_*) against its header's contract.
 *
 * - test_basic: put, get (and the size query), overwrite, get_ref, delete, count, cursors both
 *   ways on a handful of keys.
 * - test_bad_input, test_closed_handle: every argument error the header lists returns its code
 *   and changes nothing (a fixture of keys is checked after the failed calls).
 * - test_key_limits: keys of 1 and AWC_BT_MAX_KEY bytes with the largest values beside them, at
 *   4 and 16 KiB pages; one byte over each limit is AWC_E2BIG.
 * - test_refs: a reference's bytes stay put while another thread overwrites the key; a thread
 *   holding one gets AWC_EDEADLK from put, delete, flush, close and the stats' walk (AWC_EBUSY
 *   from close for another thread's), and the counters all the same.
 * - test_ref_writers: with a reference held on a leaf (of this epoch, then of the durable tree),
 *   other threads' puts to it and around it finish while it is held (writers copy a referenced
 *   leaf, never wait for it), and its holder reads, takes another reference and moves a cursor
 *   meanwhile.
 * - test_not_a_tree, test_corrupt_page: a page-cache file holding other data, an empty file
 *   without AWC_CREATE, a node page flipped on disk (AWC_ECHECKSUM) and a node page rewritten
 *   with a valid checksum but garbage (AWC_EBADFILE): a clear error, never a crash or a wrong
 *   value; the same to an inner node fails the open (it reads the inner nodes), and so do two
 *   damaged meta pages.
 * - test_leaf_over_max_item, test_leaf_key_twice: well-formed leaves another client wrote that
 *   break what the tree relies on (an entry over max_item, a key twice): AWC_EBADFILE from the
 *   pin, the cursor and the split, never an assertion, an overflow or a cursor that does not end.
 * - test_meta_high_water_mark, test_meta_height_one: meta pages with a valid XXH3 another client
 *   wrote: a high-water mark far past the file opens as the tree it holds (the mark stops at the
 *   file's size), without taking memory in proportion to the mark; height 1 over an inner root
 *   is AWC_EBADFILE at open (puts waited for ever).
 * - test_ordered_load: keys put in increasing, then in decreasing order (whole 4 KiB nodes and
 *   tiny ones) leave leaves at least 85 % full (splits at the tree's edge, README 11.3.2), where a
 *   random order stays near two thirds; every key reads back in order and the
 *   tree passes the check, before and after a reopen.
 * - test_reopen_copies: on a tree reopened and not yet written, lookups pin the leaf alone once
 *   their thread holds copies of the nodes above it (README 11.4.6; they pinned two or more).
 * - test_tool_check: `awecache check --btree` (AWC_BT_TOOL) passes a good tree and fails a
 *   damaged or malformed one (exit 1).
 * - test_model_tiny, test_model_4k, test_model_16k: a random mix of puts, overwrites, deletes,
 *   gets and cursor walks in both directions against a sorted in-memory model, with flushes,
 *   reopens and awc_bt_check along the way; tiny nodes (512 bytes of a 4 KiB page: trees five
 *   or six levels deep, thousands of splits and merges) and whole 4 and 16 KiB pages.
 *   A cursor kept open through it all moves after a third of the operations (the cached leaf
 *   of README 11.6 must notice every split, merge and copy between its moves).
 *   AWC_BT_SEED repeats a run (the seed is printed), AWC_BT_MODEL_OPS sets its length.
 * - test_crash: rounds of a fork()ed child writing and flushing, killed with SIGKILL at a random
 *   moment; the reopened tree passes awc_bt_check and equals the model as of the last completed
 *   flush (or the one in progress, if its meta page landed). AWC_BT_CRASH_ROUNDS.
 * - test_threads: writers on their own keys, scanners walking cursors both ways, readers taking
 *   references, and a flusher, all at once (run under TSan in the tsan build); scans see keys in
 *   order and well-formed values; the end state equals each writer's model and passes the check.
 *   AWC_BT_THREAD_OPS sets each writer's length.
 */
#include "awecache_bt.h"
#include "engine_util.h"
#include "test_util.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
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

#define XXH_INLINE_ALL
#include <xxhash.h> /* test_meta_high_water_mark's meta pages */

#define EXPECT(want, call) ET_EXPECT(call, want)

/* ---- The model: a sorted array of keys and values ---------------------------------------- */

struct item {
    uint8_t *k, *v;
    size_t kl, vl;
};

struct model {
    struct item *it;
    size_t n, cap;
};

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n > 0 ? memcmp(a, b, n) : 0;

    return c != 0 ? c : (al < bl ? -1 : al > bl);
}

/* The first index whose key is >= k; *found when equal. */
static size_t m_find(const struct model *m, const uint8_t *k, size_t kl, bool *found)
{
    size_t lo = 0, hi = m->n;

    *found = false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_cmp(m->it[mid].k, m->it[mid].kl, k, kl);

        if (c < 0) {
            lo = mid + 1;
        } else {
            *found = *found || c == 0;
            hi = mid;
        }
    }
    return lo;
}

static uint8_t *bytes_dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);

    assert_non_null(d);
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

static void m_put(struct model *m, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    bool found;
    size_t i = m_find(m, k, kl, &found);

    if (found) {
        free(m->it[i].v);
        m->it[i].v = bytes_dup(v, vl);
        m->it[i].vl = vl;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->it = realloc(m->it, m->cap * sizeof(*m->it));
        assert_non_null(m->it);
    }
    memmove(&m->it[i + 1], &m->it[i], (m->n - i) * sizeof(*m->it));
    m->it[i] = (struct item){bytes_dup(k, kl), bytes_dup(v, vl), kl, vl};
    m->n++;
}

static bool m_del(struct model *m, const uint8_t *k, size_t kl)
{
    bool found;
    size_t i = m_find(m, k, kl, &found);

    if (!found)
        return false;
    free(m->it[i].k);
    free(m->it[i].v);
    memmove(&m->it[i], &m->it[i + 1], (m->n - i - 1) * sizeof(*m->it));
    m->n--;
    return true;
}

static void m_free(struct model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->it[i].k);
        free(m->it[i].v);
    }
    free(m->it);
    memset(m, 0, sizeof(*m));
}

static void m_copy(struct model *dst, const struct model *src)
{
    m_free(dst);
    for (size_t i = 0; i < src->n; i++)
        m_put(dst, src->it[i].k, src->it[i].kl, src->it[i].v, src->it[i].vl);
}

/* ---- Helpers ----------------------------------------------------------------------------- */

static struct awc_bt_config bt_cfg(const char *path, size_t ps, size_t node_bytes, unsigned flags)
{
    struct awc_bt_config c = {
        .path = path,
        .page_size = ps,
        .frame_budget = 512 * (uint64_t)ps,
        .window_budget = 128 * (uint64_t)ps,
        .flags = flags,
        .node_bytes = node_bytes,
    };
    return c;
}

static awc_bt_t *bt_open_ok(const struct awc_bt_config *c)
{
    awc_bt_t *bt = NULL;

    EXPECT(AWC_OK, awc_bt_open(c, &bt));
    assert_non_null(bt);
    return bt;
}

static void bt_check_ok(awc_bt_t *bt)
{
    char msg[256];
    int rc = awc_bt_check(bt, msg, sizeof(msg));

    if (rc != AWC_OK)
        fail_msg("awc_bt_check: %s: %s", awc_err_name(rc), msg);
}

/* The cursor is on the model's item i: its key and its value. */
static void cursor_is(awc_bt_cursor_t *c, const struct model *m, size_t i)
{
    const void *k, *v;
    size_t kl, vl;

    EXPECT(AWC_OK, awc_bt_cursor_get(c, &k, &kl, &v, &vl));
    assert_int_equal(kl, m->it[i].kl);
    assert_memory_equal(k, m->it[i].k, kl);
    assert_int_equal(vl, m->it[i].vl);
    if (vl > 0)
        assert_memory_equal(v, m->it[i].v, vl);
}

/* The tree equals the model: every key by get, the whole order by a cursor both ways, the
 * count. */
static void check_equal(awc_bt_t *bt, const struct model *m)
{
    awc_bt_cursor_t *c;
    uint8_t buf[16384];
    size_t vl, i;
    uint64_t count;
    int rc;

    EXPECT(AWC_OK, awc_bt_count(bt, &count));
    assert_int_equal(count, m->n);
    for (i = 0; i < m->n; i++) {
        EXPECT(AWC_OK, awc_bt_get(bt, m->it[i].k, m->it[i].kl, buf, sizeof(buf), &vl));
        assert_int_equal(vl, m->it[i].vl);
        if (vl > 0)
            assert_memory_equal(buf, m->it[i].v, vl);
    }
    EXPECT(AWC_OK, awc_bt_cursor_open(bt, &c));
    rc = awc_bt_cursor_seek(c, NULL, 0);
    for (i = 0; i < m->n; i++) {
        EXPECT(AWC_OK, rc);
        cursor_is(c, m, i);
        rc = awc_bt_cursor_next(c);
    }
    EXPECT(AWC_ENOTFOUND, rc);
    rc = awc_bt_cursor_last(c);
    for (i = m->n; i-- > 0;) {
        EXPECT(AWC_OK, rc);
        cursor_is(c, m, i);
        rc = awc_bt_cursor_prev(c);
    }
    EXPECT(AWC_ENOTFOUND, rc);
    EXPECT(AWC_OK, awc_bt_cursor_close(c));
}

static void put_str(awc_bt_t *bt, const char *k, const char *v)
{
    EXPECT(AWC_OK, awc_bt_put(bt, k, strlen(k), v, strlen(v)));
}

static void expect_str(awc_bt_t *bt, const char *k, const char *v)
{
    char buf[256];
    size_t vl;

    EXPECT(AWC_OK, awc_bt_get(bt, k, strlen(k), buf, sizeof(buf), &vl));
    assert_int_equal(vl, strlen(v));
    assert_memory_equal(buf, v, vl);
}

/* The tree equals the model and passes the check; then it is closed, opened again (no
 * AWC_CREATE), compared with the model again and closed. */
static void reopen_equal(awc_bt_t *bt, struct awc_bt_config *cfg, const struct model *m)
{
    check_equal(bt, m);
    bt_check_ok(bt);
    EXPECT(AWC_OK, awc_bt_close(bt));
    cfg->flags = 0;
    bt = bt_open_ok(cfg);
    check_equal(bt, m);
    EXPECT(AWC_OK, awc_bt_close(bt));
}

/* ---- One thread -------------------------------------------------------------------------- */

static void test_basic(void **state)
{
    char path[512], buf[8];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "basic"), 4096, 0, AWC_CREATE);
    awc_bt_t *bt = bt_open_ok(&cfg);
    struct awc_bt_ref ref;
    awc_bt_cursor_t *c;
    const void *k;
    size_t kl, vl;
    uint64_t n;

    (void)state;
    put_str(bt, "b", "2");
    put_str(bt, "a", "1");
    put_str(bt, "ab", "12");
    put_str(bt, "c", "");
    expect_str(bt, "a", "1");
    expect_str(bt, "c", "");
    EXPECT(AWC_ERANGE, awc_bt_get(bt, "ab", 2, NULL, 0, &vl));
    assert_int_equal(vl, 2);
    EXPECT(AWC_ERANGE, awc_bt_get(bt, "ab", 2, buf, 1, &vl));
    EXPECT(AWC_ENOTFOUND, awc_bt_get(bt, "aa", 2, buf, sizeof(buf), &vl));
    put_str(bt, "a", "one");
    expect_str(bt, "a", "one");
    EXPECT(AWC_OK, awc_bt_get_ref(bt, "b", 1, &ref));
    assert_int_equal(ref.value_len, 1);
    assert_memory_equal(ref.value, "2", 1);
    EXPECT(AWC_OK, awc_bt_release(bt, &ref));
    EXPECT(AWC_EINVAL, awc_bt_release(bt, &ref));
    EXPECT(AWC_OK, awc_bt_count(bt, &n));
    assert_int_equal(n, 4);
    EXPECT(AWC_OK, awc_bt_delete(bt, "b", 1));
    EXPECT(AWC_ENOTFOUND, awc_bt_delete(bt, "b", 1));
    EXPECT(AWC_OK, awc_bt_cursor_open(bt, &c));
    EXPECT(AWC_EINVAL, awc_bt_cursor_next(c));
    EXPECT(AWC_OK, awc_bt_cursor_seek(c, "aa", 2));
    EXPECT(AWC_OK, awc_bt_cursor_get(c, &k, &kl, NULL, NULL));
    assert_int_equal(kl, 2);
    assert_memory_equal(k, "ab", 2);
    EXPECT(AWC_OK, awc_bt_cursor_next(c));
    EXPECT(AWC_OK, awc_bt_cursor_get(c, &k, &kl, NULL, NULL));
    assert_memory_equal(k, "c", 1);
    EXPECT(AWC_ENOTFOUND, awc_bt_cursor_next(c));
    EXPECT(AWC_EINVAL, awc_bt_cursor_get(c, &k, &kl, NULL, NULL));
    EXPECT(AWC_OK, awc_bt_cursor_seek(c, "ab", 2));
    EXPECT(AWC_OK, awc_bt_cursor_prev(c));
    EXPECT(AWC_OK, awc_bt_cursor_get(c, &k, &kl, NULL, NULL));
    assert_memory_equal(k, "a", 1);
    EXPECT(AWC_ENOTFOUND, awc_bt_cursor_prev(c));
    EXPECT(AWC_ENOTFOUND, awc_bt_cursor_seek(c, "d", 1));
    EXPECT(AWC_EBUSY, awc_bt_close(bt));
    EXPECT(AWC_OK, awc_bt_cursor_close(c));
    bt_check_ok(bt);
    EXPECT(AWC_OK, awc_bt_close(bt));
    cfg.flags = 0;
    bt = bt_open_ok(&cfg);
    expect_str(bt, "a", "one");
    expect_str(bt, "ab", "12");
    EXPECT(AWC_ENOTFOUND, awc_bt_get(bt, "b", 1, buf, sizeof(buf), &vl));
    EXPECT(AWC_OK, awc_bt_close(bt));
}

static void test_bad_input(void **state)
{
    char path[512], buf[8], big[AWC_BT_MAX_KEY + 2] = {0};
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "bad"), 4096, 0, AWC_CREATE);
    awc_bt_t *bt = bt_open_ok(&cfg), *none = NULL;
    struct awc_bt_ref ref = {0};
    awc_bt_cursor_t *c;
    size_t vl, max_item;
    struct awc_bt_stats st;

    (void)state;
    put_str(bt, "k1", "v1");
    put_str(bt, "k2", "v2");
    EXPECT(AWC_OK, awc_bt_get_stats(bt, &st));
    max_item = st.max_item;
    assert_int_equal(max_item, AWC_BT_MAX_ITEM(4096));
    {
        struct awc_bt_stats q;

        /* The counters are the stats' fields that need no walk; the walk's are 0. */
        EXPECT(AWC_OK, awc_bt_get_counters(bt, &q));
        assert_int_equal(q.count, st.count);
        assert_int_equal(q.height, st.height);
        assert_int_equal(q.file_pages, st.file_pages);
        assert_int_equal(q.free_pages, st.free_pages);
        assert_int_equal(q.splits, st.splits);
        assert_int_equal(q.generation, st.generation);
        assert_int_equal(q.node_bytes, st.node_bytes);
        assert_int_equal(q.max_item, st.max_item);
        assert_int_equal(q.pages, 0);
        assert_int_equal(q.pages_by_level[0], 0);
        assert_int_equal(q.leaf_fill_pct, 0);
        assert_true(st.pages >= 1 && st.leaf_fill_pct > 0);
    }
    /* Arguments. */
    EXPECT(AWC_EINVAL, awc_bt_open(NULL, &none));
    EXPECT(AWC_EINVAL, awc_bt_open(&cfg, NULL));
    EXPECT(AWC_EINVAL, awc_bt_put(NULL, "k", 1, "v", 1));
    EXPECT(AWC_EINVAL, awc_bt_put(bt, NULL, 1, "v", 1));
    EXPECT(AWC_EINVAL, awc_bt_put(bt, "k", 0, "v", 1));
    EXPECT(AWC_EINVAL, awc_bt_put(bt, "k", 1, NULL, 1));
    EXPECT(AWC_E2BIG, awc_bt_put(bt, big, AWC_BT_MAX_KEY + 1, "v", 1));
    EXPECT(AWC_E2BIG, awc_bt_put(bt, "k", 1, big, max_item));
    EXPECT(AWC_EINVAL, awc_bt_get(bt, "k1", 2, NULL, 4, &vl));
    EXPECT(AWC_EINVAL, awc_bt_get(bt, "k1", 2, buf, sizeof(buf), NULL));
    EXPECT(AWC_EINVAL, awc_bt_get(bt, "", 0, buf, sizeof(buf), &vl));
    EXPECT(AWC_E2BIG, awc_bt_get(bt, big, AWC_BT_MAX_KEY + 1, buf, sizeof(buf), &vl));
    EXPECT(AWC_EINVAL, awc_bt_get_ref(bt, "k1", 2, NULL));
    EXPECT(AWC_EINVAL, awc_bt_release(bt, NULL));
    EXPECT(AWC_EINVAL, awc_bt_release(bt, &ref));
    EXPECT(AWC_EINVAL, awc_bt_delete(bt, NULL, 1));
    EXPECT(AWC_E2BIG, awc_bt_delete(bt, big, AWC_BT_MAX_KEY + 1));
    EXPECT(AWC_EINVAL, awc_bt_count(bt, NULL));
    EXPECT(AWC_EINVAL, awc_bt_get_stats(bt, NULL));
    EXPECT(AWC_EINVAL, awc_bt_get_counters(bt, NULL));
    EXPECT(AWC_EINVAL, awc_bt_get_counters(NULL, &st));
    EXPECT(AWC_EINVAL, awc_bt_check(NULL, NULL, 0));
    EXPECT(AWC_EINVAL, awc_bt_cursor_open(bt, NULL));
    EXPECT(AWC_EINVAL, awc_bt_cursor_seek(NULL, "k", 1));
    EXPECT(AWC_EINVAL, awc_bt_cursor_next(NULL));
    EXPECT(AWC_EINVAL, awc_bt_cursor_close(NULL));
    EXPECT(AWC_OK, awc_bt_cursor_open(bt, &c));
    EXPECT(AWC_E2BIG, awc_bt_cursor_seek(c, big, AWC_BT_MAX_KEY + 1));
    EXPECT(AWC_EINVAL, awc_bt_cursor_seek(c, NULL, 3));
    EXPECT(AWC_OK, awc_bt_cursor_close(c));
    /* Configurations. */
    cfg.node_bytes = 100;
    EXPECT(AWC_EINVAL, awc_bt_open(&cfg, &none));
    cfg.node_bytes = 8192;
    EXPECT(AWC_EINVAL, awc_bt_open(&cfg, &none));
    cfg.node_bytes = 1020;
    EXPECT(AWC_EINVAL, awc_bt_open(&cfg, &none));
    cfg.node_bytes = 0;
    cfg.flags = 0x8000;
    EXPECT(AWC_EINVAL, awc_bt_open(&cfg, &none));
    assert_null(none);
    /* Nothing changed. */
    expect_str(bt, "k1", "v1");
    expect_str(bt, "k2", "v2");
    bt_check_ok(bt);
    EXPECT(AWC_OK, awc_bt_close(bt));
    /* Another node size than the file's. */
    cfg.flags = 0;
    cfg.node_bytes = 1024;
    EXPECT(AWC_EINVAL, awc_bt_open(&cfg, &none));
    /* Read-only. */
    cfg.node_bytes = 0;
    cfg.flags = AWC_READONLY;
    bt = bt_open_ok(&cfg);
    EXPECT(AWC_EACCES, awc_bt_put(bt, "k", 1, "v", 1));
    EXPECT(AWC_EACCES, awc_bt_delete(bt, "k1", 2));
    EXPECT(AWC_EACCES, awc_bt_flush(bt));
    expect_str(bt, "k1", "v1");
    EXPECT(AWC_OK, awc_bt_close(bt));
}

static void test_closed_handle(void **state)
{
    char path[512], buf[8];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "closed"), 4096, 0, AWC_CREATE);
    awc_bt_t *bt = bt_open_ok(&cfg);
    awc_bt_cursor_t *c;
    struct awc_bt_stats st;
    struct awc_bt_ref ref;
    uint64_t n;
    size_t vl;

    (void)state;
    EXPECT(AWC_OK, awc_bt_close(bt));
    EXPECT(AWC_ECLOSED, awc_bt_close(bt));
    EXPECT(AWC_ECLOSED, awc_bt_put(bt, "k", 1, "v", 1));
    EXPECT(AWC_ECLOSED, awc_bt_get(bt, "k", 1, buf, sizeof(buf), &vl));
    EXPECT(AWC_ECLOSED, awc_bt_get_ref(bt, "k", 1, &ref));
    EXPECT(AWC_ECLOSED, awc_bt_delete(bt, "k", 1));
    EXPECT(AWC_ECLOSED, awc_bt_count(bt, &n));
    EXPECT(AWC_ECLOSED, awc_bt_flush(bt));
    EXPECT(AWC_ECLOSED, awc_bt_get_stats(bt, &st));
    EXPECT(AWC_ECLOSED, awc_bt_get_counters(bt, &st));
    EXPECT(AWC_ECLOSED, awc_bt_check(bt, NULL, 0));
    EXPECT(AWC_ECLOSED, awc_bt_cursor_open(bt, &c));
}

/* Keys of both limits, at two page sizes. */
static void key_limits(size_t ps)
{
    char path[512];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "limits"), ps, 0, AWC_CREATE);
    awc_bt_t *bt;
    struct model m = {0};
    uint8_t key[AWC_BT_MAX_KEY + 1], val[16384];
    size_t max_item = AWC_BT_MAX_ITEM(ps);
    uint64_t seed = 7;

    et_unlink(path);
    bt = bt_open_ok(&cfg);
    for (int i = 0; i < 200; i++) {
        size_t kl = i % 3 == 0 ? 1 : i % 3 == 1 ? AWC_BT_MAX_KEY : 1 + et_rand_below(&seed, 64);
        size_t vl = i % 2 == 0 ? max_item - kl : et_rand_below(&seed, 16);

        for (size_t j = 0; j < kl; j++)
            key[j] = (uint8_t)et_rand(&seed);
        for (size_t j = 0; j < vl; j++)
            val[j] = (uint8_t)(i + j);
        EXPECT(AWC_OK, awc_bt_put(bt, key, kl, val, vl));
        m_put(&m, key, kl, val, vl);
        if (kl + max_item - kl + 1 <= sizeof(val))
            EXPECT(AWC_E2BIG, awc_bt_put(bt, key, kl, val, max_item - kl + 1));
    }
    EXPECT(AWC_E2BIG, awc_bt_put(bt, key, AWC_BT_MAX_KEY + 1, val, 0));
    reopen_equal(bt, &cfg, &m);
    m_free(&m);
}

static void test_key_limits(void **state)
{
    (void)state;
    key_limits(4096);
    key_limits(16384);
}

/* ---- References -------------------------------------------------------------------------- */

struct ref_arg {
    awc_bt_t *bt;
    int rc_close;
};

static void *overwrite_thread(void *p)
{
    struct ref_arg *a = p;
    char v[64];

    for (int i = 0; i < 50; i++) {
        snprintf(v, sizeof(v), "other value %d", i);
        if (awc_bt_put(a->bt, "key", 3, v, strlen(v)) != AWC_OK)
            return (void *)1;
    }
    a->rc_close = awc_bt_close(a->bt);
    return NULL;
}

static void test_refs(void **state)
{
    char path[512];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "refs"), 4096, 0, AWC_CREATE);
    awc_bt_t *bt = bt_open_ok(&cfg);
    struct awc_bt_ref ref;
    struct ref_arg a = {bt, 0};
    pthread_t t;
    void *ret;

    (void)state;
    /* Flushed: the leaf is the durable tree's, so the overwrites copy it and never wait. */
    put_str(bt, "key", "first value");
    EXPECT(AWC_OK, awc_bt_flush(bt));
    EXPECT(AWC_OK, awc_bt_get_ref(bt, "key", 3, &ref));
    EXPECT(AWC_EDEADLK, awc_bt_put(bt, "x", 1, "v", 1));
    EXPECT(AWC_EDEADLK, awc_bt_delete(bt, "key", 3));
    EXPECT(AWC_EDEADLK, awc_bt_flush(bt));
    EXPECT(AWC_EDEADLK, awc_bt_close(bt));
    {
        struct awc_bt_stats st;

        EXPECT(AWC_EDEADLK, awc_bt_get_stats(bt, &st)); /* a walk waits for writers */
        EXPECT(AWC_OK, awc_bt_get_counters(bt, &st));   /* counters read no node */
        assert_int_equal(st.count, 1);
    }
    expect_str(bt, "key", "first value"); /* reads go on */
    assert_int_equal(pthread_create(&t, NULL, overwrite_thread, &a), 0);
    for (int i = 0; i < 20; i++) {
        assert_memory_equal(ref.value, "first value", 11);
        et_sleep_ms(1);
    }
    assert_int_equal(ref.value_len, 11);
    assert_memory_equal(ref.value, "first value", 11);
    EXPECT(AWC_OK, awc_bt_release(bt, &ref));
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_null(ret);
    /* The other thread's close waited for... nothing it could: it saw the reference (EBUSY) or
     * closed once released. */
    if (a.rc_close == AWC_EBUSY)
        EXPECT(AWC_OK, awc_bt_close(bt));
    else
        EXPECT(AWC_OK, a.rc_close);
    cfg.flags = 0;
    bt = bt_open_ok(&cfg);
    expect_str(bt, "key", "other value 49");
    EXPECT(AWC_OK, awc_bt_close(bt));
}

/* Writers that must not wait for the main thread's references (test_ref_writers). */
struct ref_writer_arg {
    awc_bt_t *bt;
    int first, last; /* keys key%05d in [first, last) */
    int rounds;
    atomic_int done; /* 1: finished, -1: a call failed */
};

static void *ref_writer(void *p)
{
    struct ref_writer_arg *a = p;
    char k[32], v[64];

    for (int r = 0; r < a->rounds; r++) {
        for (int i = a->first; i < a->last; i++) {
            snprintf(k, sizeof(k), "key%05d", i);
            snprintf(v, sizeof(v), "round %d of key %d, longer than before", r, i);
            if (awc_bt_put(a->bt, k, strlen(k), v, strlen(v)) != AWC_OK) {
                atomic_store(&a->done, -1);
                return NULL;
            }
        }
    }
    atomic_store(&a->done, 1);
    return NULL;
}

/* Writers never wait for references (README 11.4.5): with a reference held on a leaf (fresh, and
 * durable), other threads' puts to that leaf and all around it (splits, copies) finish while it
 * is held, and the holder reads meanwhile (gets, another reference, a cursor) without waiting:
 * before, a writer holding a parent exclusively and waiting for the referenced leaf blocked the
 * holder's next read for good. */
static void test_ref_writers(void **state)
{
    char path[512], k[32], buf[64];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "refw"), 4096, 512, AWC_CREATE);
    awc_bt_t *bt = bt_open_ok(&cfg);
    struct ref_writer_arg a[2];
    enum { NEXTRA = 6 };
    static const int extra_key[NEXTRA] = {100, 101, 102, 104, 300, 399};
    struct awc_bt_ref ref, ref2, extra[NEXTRA];
    struct awc_bt_stats st;
    awc_bt_cursor_t *c;
    pthread_t t[2];
    size_t vl;

    (void)state;
    for (int i = 0; i < 400; i++) { /* not in key order: nodes half full, height 3 (11.3.2) */
        snprintf(k, sizeof(k), "key%05d", i * 263 % 400);
        put_str(bt, k, "v0");
    }
    EXPECT(AWC_OK, awc_bt_get_stats(bt, &st));
    assert_true(st.height >= 3);
    for (int fresh = 1; fresh >= 0; fresh--) {
        put_str(bt, "key00100", "v0"); /* the leaf is of this epoch: changed in place */
        for (int i = 0; i < NEXTRA; i++) {
            snprintf(k, sizeof(k), "key%05d", extra_key[i]);
            put_str(bt, k, "v0");
        }
        if (!fresh)
            EXPECT(AWC_OK, awc_bt_flush(bt)); /* the leaf belongs to the durable tree */
        EXPECT(AWC_OK, awc_bt_get_ref(bt, "key00100", 8, &ref));
        /* More references than the thread's reader slot has places (README 11.4.5): the rest
         * are marked in the tree's list, and writers must see both kinds. */
        for (int i = 0; i < NEXTRA; i++) {
            snprintf(k, sizeof(k), "key%05d", extra_key[i]);
            EXPECT(AWC_OK, awc_bt_get_ref(bt, k, strlen(k), &extra[i]));
        }
        a[0] = (struct ref_writer_arg){.bt = bt, .first = 90, .last = 110, .rounds = 20};
        a[1] = (struct ref_writer_arg){.bt = bt, .first = 110, .last = 400, .rounds = 3};
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, ref_writer, &a[i]), 0);
        for (int ms = 0; atomic_load(&a[0].done) == 0 || atomic_load(&a[1].done) == 0; ms++) {
            if (ms == 20000)
                fail_msg("the writers still wait for a reference after 20 s");
            snprintf(k, sizeof(k), "key%05d", 95 + ms % 10);
            EXPECT(AWC_OK, awc_bt_get(bt, k, strlen(k), buf, sizeof(buf), &vl));
            if (ms % 16 == 0) {
                EXPECT(AWC_OK, awc_bt_get_ref(bt, k, strlen(k), &ref2));
                EXPECT(AWC_OK, awc_bt_cursor_open(bt, &c));
                EXPECT(AWC_OK, awc_bt_cursor_seek(c, "key00098", 8));
                EXPECT(AWC_OK, awc_bt_cursor_next(c));
                EXPECT(AWC_OK, awc_bt_cursor_close(c));
                EXPECT(AWC_OK, awc_bt_release(bt, &ref2));
            }
            et_sleep_ms(1);
        }
        assert_int_equal(atomic_load(&a[0].done), 1);
        assert_int_equal(atomic_load(&a[1].done), 1);
        assert_int_equal(ref.value_len, 2);
        assert_memory_equal(ref.value, "v0", 2); /* the referenced bytes never moved */
        for (int i = 0; i < NEXTRA; i++) {
            assert_int_equal(extra[i].value_len, 2);
            assert_memory_equal(extra[i].value, "v0", 2);
            EXPECT(AWC_OK, awc_bt_release(bt, &extra[i]));
        }
        expect_str(bt, "key00100", "round 19 of key 100, longer than before");
        EXPECT(AWC_OK, awc_bt_release(bt, &ref));
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_join(t[i], NULL), 0);
        bt_check_ok(bt);
    }
    EXPECT(AWC_OK, awc_bt_close(bt));
}

/* ---- Files that are not trees, and damage ------------------------------------------------- */

static void test_not_a_tree(void **state)
{
    char path[512];
    struct awc_config pc = et_cfg(et_path(path, sizeof(path), "other"), 4096, 16, 16, AWC_CREATE);
    struct awc_bt_config cfg = bt_cfg(path, 4096, 0, 0);
    awc_bt_t *bt = NULL;
    awc_t *c;
    void *p;

    (void)state;
    /* An empty page-cache file: a tree only with AWC_CREATE. */
    et_close(et_open(&pc));
    EXPECT(AWC_EBADFILE, awc_bt_open(&cfg, &bt));
    assert_null(bt);
    /* A page-cache file holding other data. */
    c = et_open(&pc);
    for (uint64_t page = 0; page < 8; page++) {
        EXPECT(AWC_OK, awc_pin(c, page, AWC_EXCLUSIVE, &p));
        et_fill(p, 4096, page, 1);
        EXPECT(AWC_OK, awc_unpin(c, page, 1));
    }
    et_close(c);
    EXPECT(AWC_EBADFILE, awc_bt_open(&cfg, &bt));
    cfg.flags = AWC_CREATE;
    EXPECT(AWC_EBADFILE, awc_bt_open(&cfg, &bt));
    assert_null(bt);
    /* No file. */
    cfg.path = et_path(path, sizeof(path), "none");
    cfg.flags = 0;
    EXPECT(AWC_ENOENT, awc_bt_open(&cfg, &bt));
    /* Another page size than the file's. */
    cfg.flags = AWC_CREATE;
    bt = bt_open_ok(&cfg);
    EXPECT(AWC_OK, awc_bt_close(bt));
    cfg.page_size = 8192;
    bt = NULL;
    EXPECT(AWC_EINVAL, awc_bt_open(&cfg, &bt));
    assert_null(bt);
}

/* Fills a tree of tiny nodes, closes it, and returns the page number of one node at `level`
 * (0: a leaf) that holds keys, found by reading the closed file's pages through the page cache.
 * Every such node is in the tree: the puts all ran in one epoch, so none was copied. */
static uint64_t make_tree_find_node(const char *path, struct model *m, unsigned level)
{
    struct awc_bt_config cfg = bt_cfg(path, 4096, 512, AWC_CREATE);
    struct awc_config pc = et_cfg(path, 4096, 64, 64, 0);
    awc_bt_t *bt;
    awc_t *c;
    uint64_t leaf = 0;
    char k[32], v[32];

    et_unlink(path);
    bt = bt_open_ok(&cfg);
    for (int i = 0; i < 300; i++) { /* not in key order: leaves half full (README 11.3.2) */
        snprintf(k, sizeof(k), "key%05d", i * 131 % 300);
        snprintf(v, sizeof(v), "value%d", i * 131 % 300);
        put_str(bt, k, v);
        m_put(m, (uint8_t *)k, strlen(k), (uint8_t *)v, strlen(v));
    }
    EXPECT(AWC_OK, awc_bt_close(bt));
    c = et_open(&pc);
    for (uint64_t page = 2; leaf == 0 && page < 200; page++) {
        uint8_t *p;
        uint32_t magic, n;

        if (awc_pin(c, page, AWC_SHARED, (void **)&p) != AWC_OK)
            continue;
        memcpy(&magic, p, 4);
        memcpy(&n, p + 8, 4);
        if (magic == 0x4e425741u && p[5] == level && n > (level == 0 ? 3u : 0u))
            leaf = page;
        EXPECT(AWC_OK, awc_unpin(c, page, 0));
    }
    et_close(c);
    assert_true(leaf != 0);
    return leaf;
}

/* Rewrites the first slots of node `page` with garbage through the page cache: the page's
 * checksum holds, its node does not (AWC_EBADFILE). */
static void spoil_slots(const char *path, uint64_t page)
{
    struct awc_config pc = et_cfg(path, 4096, 64, 64, 0);
    awc_t *c = et_open(&pc);
    uint8_t *p;

    EXPECT(AWC_OK, awc_pin(c, page, AWC_EXCLUSIVE, (void **)&p));
    memset(p + 40, 0xff, 8);
    EXPECT(AWC_OK, awc_unpin(c, page, 1));
    et_close(c);
}

/* Every key reads back as its value or as `err`, never as something else; at least one meets
 * `err`. */
static void expect_values_or(awc_bt_t *bt, const struct model *m, int err)
{
    char buf[64];
    size_t vl;
    int errors = 0;

    for (size_t i = 0; i < m->n; i++) {
        int rc = awc_bt_get(bt, m->it[i].k, m->it[i].kl, buf, sizeof(buf), &vl);

        if (rc == err) {
            errors++;
            continue;
        }
        EXPECT(AWC_OK, rc);
        assert_int_equal(vl, m->it[i].vl);
        assert_memory_equal(buf, m->it[i].v, vl);
    }
    assert_true(errors > 0);
}

static void test_corrupt_page(void **state)
{
    char path[512];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "corrupt"), 4096, 512, 0);
    struct model m = {0};
    awc_bt_t *bt;
    uint64_t page; /* a node's */

    (void)state;
    /* A byte flipped on disk: AWC_ECHECKSUM. */
    page = make_tree_find_node(path, &m, 0);
    et_flip_byte(path, et_page_offset(4096, page) + 100);
    bt = bt_open_ok(&cfg);
    expect_values_or(bt, &m, AWC_ECHECKSUM);
    EXPECT(AWC_ECHECKSUM, awc_bt_check(bt, NULL, 0));
    EXPECT(AWC_OK, awc_bt_close(bt));
    m_free(&m);
    /* A page rewritten with a valid checksum but a garbage slot: AWC_EBADFILE. */
    page = make_tree_find_node(path, &m, 0);
    spoil_slots(path, page);
    bt = bt_open_ok(&cfg);
    expect_values_or(bt, &m, AWC_EBADFILE);
    EXPECT(AWC_EBADFILE, awc_bt_check(bt, NULL, 0));
    EXPECT(AWC_OK, awc_bt_close(bt));
    m_free(&m);
    /* An inner node damaged, or malformed: the open (which reads the inner nodes for the free
     * pages, README 11.5.4) fails clearly and leaves nothing open. */
    page = make_tree_find_node(path, &m, 1);
    et_flip_byte(path, et_page_offset(4096, page) + 60);
    bt = NULL;
    EXPECT(AWC_ECHECKSUM, awc_bt_open(&cfg, &bt));
    assert_null(bt);
    m_free(&m);
    page = make_tree_find_node(path, &m, 1);
    spoil_slots(path, page);
    EXPECT(AWC_EBADFILE, awc_bt_open(&cfg, &bt));
    assert_null(bt);
    m_free(&m);
    /* Both meta pages damaged: the open fails clearly. */
    page = make_tree_find_node(path, &m, 0);
    et_flip_byte(path, et_page_offset(4096, 0) + 10);
    et_flip_byte(path, et_page_offset(4096, 1) + 10);
    bt = NULL;
    EXPECT(AWC_ECHECKSUM, awc_bt_open(&cfg, &bt));
    assert_null(bt);
    m_free(&m);
}

/* Leaf `page` of the closed file at path, pinned exclusively through the page cache (so that its
 * checksum stays valid) for fn to rewrite as another client could. */
static void rewrite_leaf(const char *path, uint64_t page, void (*fn)(uint8_t *node))
{
    struct awc_config pc = et_cfg(path, 4096, 64, 64, 0);
    awc_t *c = et_open(&pc);
    uint8_t *p;

    EXPECT(AWC_OK, awc_pin(c, page, AWC_EXCLUSIVE, (void **)&p));
    fn(p);
    EXPECT(AWC_OK, awc_unpin(c, page, 1));
    et_close(c);
}

static uint32_t ld32_at(const uint8_t *p, size_t off)
{
    uint32_t v;

    memcpy(&v, p + off, 4);
    return v;
}

/* The cell at the bottom of the cell area (the one written last, at `lo`: bt.h's layout) grows
 * its value to one byte over max_item (512-byte nodes: 133 bytes of key and value), over the
 * gap (lo moves down) and over the cells above it; the cells' byte count follows, so that all
 * else in the node is well formed. */
static void grow_value_past_max_item(uint8_t *node)
{
    uint32_t n = ld32_at(node, 8), lo = ld32_at(node, 12), cells = ld32_at(node, 32), i = 0;
    uint32_t vlen, new_vlen, delta, new_lo;
    uint16_t klen;

    while (i < n && ld32_at(node, 40 + 4 * i) != lo)
        i++;
    assert_true(i < n);
    memcpy(&klen, node + lo, 2);
    vlen = ld32_at(node, lo + 2);
    new_vlen = AWC_BT_MAX_ITEM(512u) - klen + 1;
    delta = new_vlen - vlen;
    new_lo = lo - delta;
    assert_true(new_lo >= 40 + 4 * n && lo + 6 + klen + new_vlen <= 512);
    cells += delta;
    memcpy(node + lo + 2, &new_vlen, 4);
    memcpy(node + 12, &new_lo, 4);
    memcpy(node + 32, &cells, 4);
}

static char doubled_key[32]; /* the key duplicate_key doubled, as a string */

/* Key 2's bytes become key 1's (same length: "key%05d"): a key twice, in order otherwise. */
static void duplicate_key(uint8_t *node)
{
    uint32_t s1 = ld32_at(node, 44), s2 = ld32_at(node, 48);

    assert_true(ld32_at(node, 8) > 3 && memcmp(node + s1, node + s2, 2) == 0);
    assert_true(node[s1] < sizeof(doubled_key));
    memcpy(node + s2 + 6, node + s1 + 6, node[s1]);
    memcpy(doubled_key, node + s1 + 6, node[s1]);
    doubled_key[node[s1]] = '\0';
}

/* A well-formed leaf another client wrote with an entry over max_item (found by fuzz/fuzz_bt_raw,
 * fuzz/corpus/fuzz_bt_raw/regress-leaf-oversize-entry-split): a put that split it overflowed a
 * half (an assertion in bt_append; past the node without assertions). The pin now answers
 * AWC_EBADFILE (README 11.2.4). */
static void test_leaf_over_max_item(void **state)
{
    char path[512];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "overmax"), 4096, 512, 0);
    struct model m = {0};
    awc_bt_t *bt;
    uint64_t page;

    (void)state;
    page = make_tree_find_node(path, &m, 0);
    rewrite_leaf(path, page, grow_value_past_max_item);
    bt = bt_open_ok(&cfg);
    expect_values_or(bt, &m, AWC_EBADFILE);
    EXPECT(AWC_EBADFILE, awc_bt_check(bt, NULL, 0));
    EXPECT(AWC_OK, awc_bt_close(bt));
    m_free(&m);
}

/* A well-formed leaf another client wrote with a key twice (found by fuzz/fuzz_bt_raw,
 * fuzz/corpus/fuzz_bt_raw/regress-leaf-duplicate-keys): a cursor's next gave the key it was on
 * again, for ever, and a put that split the leaf failed an assertion in bt_split. Now the cursor
 * gets further or fails, and the split fails before anything changes (AWC_EBADFILE both, README
 * 11.2.4). */
static void test_leaf_key_twice(void **state)
{
    char path[512], k[64], prev[32];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "twice"), 4096, 512, 0);
    struct model m = {0};
    awc_bt_cursor_t *c;
    awc_bt_t *bt;
    uint64_t page;
    const void *key;
    size_t klen, prev_len = 0;
    int rc, steps = 0, bad = 0;

    (void)state;
    page = make_tree_find_node(path, &m, 0);
    rewrite_leaf(path, page, duplicate_key);
    bt = bt_open_ok(&cfg);
    EXPECT(AWC_OK, awc_bt_cursor_open(bt, &c));
    for (rc = awc_bt_cursor_seek(c, NULL, 0); rc == AWC_OK; rc = awc_bt_cursor_next(c)) {
        EXPECT(AWC_OK, awc_bt_cursor_get(c, &key, &klen, NULL, NULL));
        assert_true(klen < sizeof(prev) && ++steps <= 300);
        if (prev_len > 0 && memcmp(key, prev, klen < prev_len ? klen : prev_len) <= 0)
            fail_msg("the cursor went back or stood still after %d keys", steps);
        memcpy(prev, key, klen);
        prev_len = klen;
    }
    EXPECT(AWC_EBADFILE, rc);
    EXPECT(AWC_OK, awc_bt_cursor_close(c));
    /* Puts just after the doubled key fill its leaf until it splits: AWC_EBADFILE there. */
    for (int i = 0; i < 40 && bad == 0; i++) {
        snprintf(k, sizeof(k), "%s+%02d", doubled_key, i);
        rc = awc_bt_put(bt, k, strlen(k), "a value of some length", 22);
        if (rc == AWC_EBADFILE)
            bad++;
        else
            EXPECT(AWC_OK, rc);
    }
    assert_int_equal(bad, 1);
    EXPECT(AWC_EBADFILE, awc_bt_check(bt, NULL, 0));
    EXPECT(AWC_OK, awc_bt_close(bt));
    m_free(&m);
}

/* Writes bytes[0..n) at offset `off` of both meta pages of the closed tree at path, with their
 * XXH3 made right again (engine/bt_file.c's layout: the XXH3 of bytes [0, 56) at 56), as
 * another client could; returns the file's logical size in pages. */
static uint64_t rewrite_meta(const char *path, size_t off, const void *bytes, size_t n)
{
    struct awc_config pc = et_cfg(path, 4096, 64, 64, 0);
    struct awc_stats cs;
    awc_t *c = et_open(&pc);

    for (uint64_t page = 0; page < 2; page++) {
        uint8_t *p;
        uint64_t sum;

        EXPECT(AWC_OK, awc_pin(c, page, AWC_EXCLUSIVE, (void **)&p));
        memcpy(p + off, bytes, n);
        sum = XXH3_64bits(p, 56);
        memcpy(p + 56, &sum, 8);
        EXPECT(AWC_OK, awc_unpin(c, page, 1));
    }
    EXPECT(AWC_OK, awc_get_stats(c, &cs));
    et_close(c);
    return cs.pages_in_file;
}

/* A meta page another client wrote, its XXH3 right, whose high-water mark (bytes 40..48,
 * engine/bt_file.c) is far past the file: the open used to take it as it was and allocate a
 * bitmap and a free list in proportion to it (2^60 pages: an allocation failure under ASan, found
 * by fuzz_bt_raw; fuzz/corpus/fuzz_bt_raw/regress-resealed-meta-huge-high-water-mark). Now the
 * mark stops at the file's logical size (README 11.5.4): the tree opens and reads as it was,
 * takes new pages and passes the check. */
static void test_meta_high_water_mark(void **state)
{
    char path[512];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "hwm"), 4096, 512, 0);
    uint64_t pages = UINT64_C(1) << 60, pages_in_file;
    struct awc_bt_stats st;
    struct model m = {0};
    awc_bt_t *bt;
    char k[32], v[32];

    (void)state;
    make_tree_find_node(path, &m, 0);
    pages_in_file = rewrite_meta(path, 40, &pages, sizeof(pages));
    bt = bt_open_ok(&cfg);
    EXPECT(AWC_OK, awc_bt_get_stats(bt, &st));
    assert_true(st.file_pages <= pages_in_file);
    check_equal(bt, &m);
    bt_check_ok(bt);
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "new%05d", i);
        snprintf(v, sizeof(v), "value%d", i);
        put_str(bt, k, v);
        m_put(&m, (uint8_t *)k, strlen(k), (uint8_t *)v, strlen(v));
    }
    EXPECT(AWC_OK, awc_bt_close(bt));
    bt = bt_open_ok(&cfg);
    check_equal(bt, &m);
    bt_check_ok(bt);
    EXPECT(AWC_OK, awc_bt_close(bt));
    m_free(&m);
}

/* A meta page another client wrote, its XXH3 right, saying height 1 over an inner root: the open
 * walks inner nodes only, so it did not see the root, and every put then waited for the root to
 * turn into a leaf, for ever (found by fuzz/fuzz_bt_raw; fuzz/corpus/fuzz_bt_raw/
 * regress-resealed-meta-height-1). Now the open checks a root leaf's level: AWC_EBADFILE. */
static void test_meta_height_one(void **state)
{
    char path[512];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "height1"), 4096, 512, 0);
    struct model m = {0};
    uint32_t height = 1;
    awc_bt_t *bt = NULL;

    (void)state;
    make_tree_find_node(path, &m, 0);
    rewrite_meta(path, 20, &height, sizeof(height));
    EXPECT(AWC_EBADFILE, awc_bt_open(&cfg, &bt));
    assert_null(bt);
    m_free(&m);
}

/* Runs `TOOL check --btree path [--json]` with its output on /dev/null; returns its exit status
 * (-1: it did not exit). */
/* A lookup pins the leaf alone once its thread holds copies of the nodes above (README 11.4.6),
 * on a tree just reopened and not yet written too: there the copies' places all looked taken
 * by copies of the tree's shape (0 on every open), so none was made and every lookup pinned
 * two nodes or more. */
static uint64_t pins_of(awc_bt_t *bt)
{
    struct awc_bt_stats st;

    EXPECT(AWC_OK, awc_bt_get_counters(bt, &st));
    return st.cache.window_hits + st.cache.frame_hits + st.cache.misses;
}

static void test_reopen_copies(void **state)
{
    char path[512], key[16], buf[32];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "copies"), 4096, 512, AWC_CREATE);
    struct awc_bt_stats st;
    const uint64_t n = 3000;
    awc_bt_t *bt;
    size_t vl;

    (void)state;
    et_unlink(path);
    bt = bt_open_ok(&cfg);
    for (uint64_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "k%07llu", (unsigned long long)(i * 1663 % n));
        EXPECT(AWC_OK, awc_bt_put(bt, key, 8, "value", 5));
    }
    EXPECT(AWC_OK, awc_bt_get_counters(bt, &st));
    assert_true(st.height >= 3);
    EXPECT(AWC_OK, awc_bt_close(bt));
    cfg.flags = 0;
    bt = bt_open_ok(&cfg);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t before = pins_of(bt);

        for (uint64_t i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "k%07llu", (unsigned long long)i);
            EXPECT(AWC_OK, awc_bt_get(bt, key, 8, buf, sizeof(buf), &vl));
        }
        if (pass == 1) /* the copies made in the first pass: the leaf alone */
            assert_int_equal(pins_of(bt) - before, n);
    }
    EXPECT(AWC_OK, awc_bt_close(bt));
    et_unlink(path);
}

/* Puts n keys ("k" and 8 digits, 20-byte values) in the order `order` says (0 increasing, 1
 * decreasing, 2 a fixed permutation), checks them, and returns the walk's stats. */
static struct awc_bt_stats ordered_load(size_t node_bytes, int order, uint64_t n)
{
    char path[512], key[16], val[20], buf[20];
    struct awc_bt_config cfg =
        bt_cfg(et_path(path, sizeof(path), "ordered"), 4096, node_bytes, AWC_CREATE);
    struct awc_bt_stats st;
    awc_bt_cursor_t *c;
    awc_bt_t *bt;
    uint64_t i = 0;
    size_t vl;

    et_unlink(path);
    bt = bt_open_ok(&cfg);
    for (uint64_t j = 0; j < n; j++) {
        uint64_t x = order == 0 ? j : order == 1 ? n - 1 - j : (j * 7919) % n;

        snprintf(key, sizeof(key), "k%08llu", (unsigned long long)x);
        memset(val, (int)('a' + x % 26), sizeof(val));
        EXPECT(AWC_OK, awc_bt_put(bt, key, 9, val, sizeof(val)));
    }
    EXPECT(AWC_OK, awc_bt_get_stats(bt, &st));
    bt_check_ok(bt);
    EXPECT(AWC_OK, awc_bt_close(bt));
    cfg.flags = 0;
    bt = bt_open_ok(&cfg);
    bt_check_ok(bt);
    EXPECT(AWC_OK, awc_bt_cursor_open(bt, &c));
    for (int rc = awc_bt_cursor_seek(c, "", 0); rc == AWC_OK; rc = awc_bt_cursor_next(c), i++) {
        const void *k, *v;
        size_t kl;

        snprintf(key, sizeof(key), "k%08llu", (unsigned long long)i);
        EXPECT(AWC_OK, awc_bt_cursor_get(c, &k, &kl, &v, &vl));
        assert_int_equal(kl, 9);
        assert_memory_equal(k, key, 9);
        memset(buf, (int)('a' + i % 26), sizeof(buf));
        assert_int_equal(vl, sizeof(buf));
        assert_memory_equal(v, buf, sizeof(buf));
    }
    assert_int_equal(i, n);
    EXPECT(AWC_OK, awc_bt_cursor_close(c));
    EXPECT(AWC_OK, awc_bt_close(bt));
    et_unlink(path);
    return st;
}

static void test_ordered_load(void **state)
{
    static const size_t nodes[] = {0, 512};

    (void)state;
    for (size_t t = 0; t < sizeof(nodes) / sizeof(nodes[0]); t++) {
        for (int order = 0; order < 3; order++) {
            struct awc_bt_stats st = ordered_load(nodes[t], order, 20000);

            print_message("nodes %zu, order %d: height %u, leaves %llu%% full, inner %llu%%\n",
                          nodes[t], order, st.height, (unsigned long long)st.leaf_fill_pct,
                          (unsigned long long)st.inner_fill_pct);
            if (order < 2) {
                assert_true(st.leaf_fill_pct >= 85); /* inner nodes: too few for a bound */
            } else {
                assert_true(st.leaf_fill_pct < 80); /* the middle split: not at the edge */
            }
        }
    }
}

static int run_tool_check(const char *tool, const char *path)
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        execl(tool, tool, "check", "--btree", "--quiet", path, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* `awecache check --btree` (AWC_BT_TOOL: the tool, set by ctest): 0 for a good tree, 1 for one
 * with a damaged leaf or a malformed node. */
static void test_tool_check(void **state)
{
    const char *tool = getenv("AWC_BT_TOOL");
    char path[512];
    struct model m = {0};
    uint64_t leaf;

    (void)state;
    et_path(path, sizeof(path), "tool");
    if (tool == NULL || tool[0] == '\0')
        skip(); /* run outside ctest without AWC_BT_TOOL */
    leaf = make_tree_find_node(path, &m, 0);
    assert_int_equal(run_tool_check(tool, path), 0);
    et_flip_byte(path, et_page_offset(4096, leaf) + 100);
    assert_int_equal(run_tool_check(tool, path), 1);
    m_free(&m);
    leaf = make_tree_find_node(path, &m, 0);
    spoil_slots(path, leaf);
    assert_int_equal(run_tool_check(tool, path), 1);
    m_free(&m);
}

/* ---- The model test ---------------------------------------------------------------------- */

/* A key of the run: drawn from `keys` ids, of a length 1 to max_key derived from the id (so the
 * same id is always the same key), some sharing long prefixes. */
static size_t make_key(uint8_t *k, uint64_t id, size_t max_key)
{
    uint64_t h = et_mix64(id + 1);
    size_t len = 1 + h % max_key;

    for (size_t i = 0; i < len; i++)
        k[i] = (uint8_t)(i < len / 2 && (h & 8) ? 'p' : et_mix64(h + i) >> 56);
    return len;
}

/* Compares a few cursor steps from a random key with the model, both ways. */
static void check_cursor_steps(awc_bt_t *bt, const struct model *m, const uint8_t *key, size_t kl,
                               bool forward)
{
    awc_bt_cursor_t *c;
    bool found;
    size_t i = m_find(m, key, kl, &found);
    int rc;

    EXPECT(AWC_OK, awc_bt_cursor_open(bt, &c));
    rc = awc_bt_cursor_seek(c, key, kl);
    if (i == m->n) {
        EXPECT(AWC_ENOTFOUND, rc);
        EXPECT(AWC_OK, awc_bt_cursor_close(c));
        return;
    }
    for (int step = 0; step < 8; step++) {
        EXPECT(AWC_OK, rc);
        cursor_is(c, m, i);
        rc = forward ? awc_bt_cursor_next(c) : awc_bt_cursor_prev(c);
        if (forward ? i + 1 == m->n : i == 0) {
            EXPECT(AWC_ENOTFOUND, rc);
            break;
        }
        i = forward ? i + 1 : i - 1;
    }
    EXPECT(AWC_OK, awc_bt_cursor_close(c));
}

/* A cursor kept open across the model's writes, flushes and checks (README 11.6: it survives
 * every split, merge and copy between its moves, and a move from its cached leaf must see them):
 * positioned by a seek at a random key, then stepped one way; each answer is the model's first
 * key after (before) the cursor's own, deleted or not. */
struct live_cursor {
    awc_bt_cursor_t *c;
    bool on, forward;
    uint8_t key[AWC_BT_MAX_KEY];
    size_t kl;
};

static void live_step(awc_bt_t *bt, struct live_cursor *lc, const struct model *m,
                      const uint8_t *key, size_t kl, uint64_t r)
{
    size_t i;
    bool found;
    int rc;

    if (lc->c == NULL)
        EXPECT(AWC_OK, awc_bt_cursor_open(bt, &lc->c));
    if (!lc->on || r % 16 == 0) {
        lc->forward = r % 2 == 0;
        i = m_find(m, key, kl, &found);
        rc = awc_bt_cursor_seek(lc->c, key, kl);
    } else {
        i = m_find(m, lc->key, lc->kl, &found);
        if (lc->forward)
            i = found ? i + 1 : i;
        else
            i = i == 0 ? m->n : i - 1;
        rc = lc->forward ? awc_bt_cursor_next(lc->c) : awc_bt_cursor_prev(lc->c);
    }
    lc->on = i < m->n;
    EXPECT(lc->on ? AWC_OK : AWC_ENOTFOUND, rc);
    if (!lc->on)
        return;
    cursor_is(lc->c, m, i);
    memcpy(lc->key, m->it[i].k, m->it[i].kl);
    lc->kl = m->it[i].kl;
}

static void live_close(struct live_cursor *lc)
{
    if (lc->c != NULL)
        EXPECT(AWC_OK, awc_bt_cursor_close(lc->c));
    lc->c = NULL;
    lc->on = false;
}

static void model_run(size_t ps, size_t node_bytes, uint64_t nkeys, size_t max_key, uint64_t ops)
{
    struct live_cursor lc = {0};
    char path[512];
    struct awc_bt_config cfg =
        bt_cfg(et_path(path, sizeof(path), "model"), ps, node_bytes, AWC_CREATE);
    uint64_t seed = et_env_u64("AWC_BT_SEED", et_now_ns()), rng = seed;
    struct model m = {0};
    struct awc_bt_stats st;
    uint8_t key[AWC_BT_MAX_KEY], val[16384], buf[16384];
    size_t max_item = AWC_BT_MAX_ITEM(node_bytes ? node_bytes : ps);
    awc_bt_t *bt;

    print_message("model: page %zu, nodes %zu, %llu keys, seed %llu (AWC_BT_SEED)\n", ps,
                  node_bytes, (unsigned long long)nkeys, (unsigned long long)seed);
    if (max_key > max_item / 2)
        max_key = max_item / 2;
    et_unlink(path);
    bt = bt_open_ok(&cfg);
    cfg.flags = 0;
    for (uint64_t op = 0; op < ops; op++) {
        uint64_t r = et_rand_below(&rng, 1000), id = et_rand_below(&rng, nkeys);
        size_t kl = make_key(key, id, max_key), vl;
        bool found;

        if (r < 550) { /* put (an insert or an overwrite) */
            vl = et_rand_below(&rng, max_item - kl + 1);
            if (vl > 64 && et_rand_below(&rng, 4) != 0)
                vl = et_rand_below(&rng, 64);
            for (size_t j = 0; j < vl; j++)
                val[j] = (uint8_t)(op + j);
            EXPECT(AWC_OK, awc_bt_put(bt, key, kl, val, vl));
            m_put(&m, key, kl, val, vl);
        } else if (r < 800) { /* delete */
            EXPECT(m_del(&m, key, kl) ? AWC_OK : AWC_ENOTFOUND, awc_bt_delete(bt, key, kl));
        } else if (r < 950) { /* get */
            size_t i = m_find(&m, key, kl, &found);
            int rc = awc_bt_get(bt, key, kl, buf, sizeof(buf), &vl);

            EXPECT(found ? AWC_OK : AWC_ENOTFOUND, rc);
            if (found) {
                assert_int_equal(vl, m.it[i].vl);
                if (vl > 0)
                    assert_memory_equal(buf, m.it[i].v, vl);
            }
        } else if (r < 990) { /* cursor steps */
            check_cursor_steps(bt, &m, key, kl, r % 2 == 0);
        } else if (r < 995) { /* flush */
            EXPECT(AWC_OK, awc_bt_flush(bt));
        } else if (r < 998) { /* reopen */
            live_close(&lc);
            EXPECT(AWC_OK, awc_bt_close(bt));
            bt = bt_open_ok(&cfg);
        } else {
            bt_check_ok(bt);
        }
        if (r % 3 == 0) /* the cursor kept open moves after a third of the operations */
            live_step(bt, &lc, &m, key, kl, et_rand(&rng));
    }
    live_close(&lc);
    check_equal(bt, &m);
    bt_check_ok(bt);
    EXPECT(AWC_OK, awc_bt_get_stats(bt, &st));
    print_message("model: %llu keys, height %u, %llu nodes (%llu leaves, fill %llu%%), %llu "
                  "splits, %llu merges\n",
                  (unsigned long long)st.count, st.height, (unsigned long long)st.pages,
                  (unsigned long long)st.pages_by_level[0], (unsigned long long)st.leaf_fill_pct,
                  (unsigned long long)st.splits, (unsigned long long)st.merges);
    /* Empty it, then check that the tree shrinks back. */
    while (m.n > 0) {
        EXPECT(AWC_OK, awc_bt_delete(bt, m.it[m.n / 2].k, m.it[m.n / 2].kl));
        m_del(&m, m.it[m.n / 2].k, m.it[m.n / 2].kl);
    }
    reopen_equal(bt, &cfg, &m);
    m_free(&m);
}

static void test_model_tiny(void **state)
{
    (void)state;
    model_run(4096, 512, 3000, 40, et_env_u64("AWC_BT_MODEL_OPS", 30000));
}

static void test_model_4k(void **state)
{
    (void)state;
    model_run(4096, 0, 4000, 300, et_env_u64("AWC_BT_MODEL_OPS", 30000));
}

static void test_model_16k(void **state)
{
    (void)state;
    model_run(16384, 0, 4000, AWC_BT_MAX_KEY, et_env_u64("AWC_BT_MODEL_OPS", 30000) / 2);
}

/* ---- Crashes ----------------------------------------------------------------------------- */

/* What the child tells the parent, in shared memory: the operations done when its last flush
 * completed, and when the flush in progress began (~0 when none). */
struct crash_share {
    _Atomic uint64_t flushed_ops;
    _Atomic uint64_t flushing_ops;
};

/* Operation `op` of a crash round (the same for the child that does it and the parent that
 * replays it): a put or a delete of a key among 2000. */
static void crash_op(uint64_t round_seed, uint64_t op, uint8_t *key, size_t *kl, uint8_t *val,
                     size_t *vl, bool *del)
{
    uint64_t h = et_mix64(round_seed ^ et_mix64(op));

    *kl = make_key(key, h % 2000, 40);
    *del = (h >> 20) % 4 == 0;
    *vl = (h >> 24) % 48;
    for (size_t j = 0; j < *vl; j++)
        val[j] = (uint8_t)(op + j);
}

static void crash_child(const struct awc_bt_config *cfg, uint64_t round_seed,
                        struct crash_share *sh)
{
    uint8_t key[64], val[64];
    size_t kl, vl;
    bool del;
    awc_bt_t *bt;

    if (awc_bt_open(cfg, &bt) != AWC_OK)
        _exit(3);
    for (uint64_t op = 0;; op++) {
        int rc;

        crash_op(round_seed, op, key, &kl, val, &vl, &del);
        rc = del ? awc_bt_delete(bt, key, kl) : awc_bt_put(bt, key, kl, val, vl);
        if (rc != AWC_OK && !(del && rc == AWC_ENOTFOUND))
            _exit(4);
        if (op % 97 == 96) {
            atomic_store(&sh->flushing_ops, op + 1);
            if (awc_bt_flush(bt) != AWC_OK)
                _exit(5);
            atomic_store(&sh->flushed_ops, op + 1);
        }
    }
}

/* Applies the round's first `ops` operations to the model. */
static void crash_replay(struct model *m, uint64_t round_seed, uint64_t ops)
{
    uint8_t key[64], val[64];
    size_t kl, vl;
    bool del;

    for (uint64_t op = 0; op < ops; op++) {
        crash_op(round_seed, op, key, &kl, val, &vl, &del);
        if (del)
            m_del(m, key, kl);
        else
            m_put(m, key, kl, val, vl);
    }
}

/* The tree equals the model (without asserting): for the choice between two flushes. */
static bool tree_equals(awc_bt_t *bt, const struct model *m)
{
    uint8_t buf[256];
    size_t vl;
    uint64_t n;

    if (awc_bt_count(bt, &n) != AWC_OK || n != m->n)
        return false;
    for (size_t i = 0; i < m->n; i++)
        if (awc_bt_get(bt, m->it[i].k, m->it[i].kl, buf, sizeof(buf), &vl) != AWC_OK ||
            vl != m->it[i].vl || memcmp(buf, m->it[i].v, vl) != 0)
            return false;
    return true;
}

static void test_crash(void **state)
{
    char path[512];
    struct awc_bt_config cfg = bt_cfg(et_path(path, sizeof(path), "crash"), 4096, 512, AWC_CREATE);
    uint64_t rounds = et_env_u64("AWC_BT_CRASH_ROUNDS", 12);
    uint64_t seed = et_env_u64("AWC_BT_CRASH_SEED", et_now_ns()), rng = seed;
    struct crash_share *sh;
    struct model m = {0}, m2 = {0};
    awc_bt_t *bt;

    (void)state;
    print_message("crash: %llu rounds, seed %llu (AWC_BT_CRASH_SEED)\n", (unsigned long long)rounds,
                  (unsigned long long)seed);
    cfg.frame_budget = 64 * 4096; /* few frames: write-backs between flushes */
    cfg.window_budget = 64 * 4096;
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    et_unlink(path);
    bt = bt_open_ok(&cfg);
    EXPECT(AWC_OK, awc_bt_close(bt));
    for (uint64_t r = 0; r < rounds; r++) {
        uint64_t round_seed = et_rand(&rng), done, flushing;
        int status;
        pid_t pid;

        atomic_store(&sh->flushed_ops, 0);
        atomic_store(&sh->flushing_ops, 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            crash_child(&cfg, round_seed, sh);
        et_sleep_ms((unsigned)(5 + et_rand_below(&rng, 300)));
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
            ;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        done = atomic_load(&sh->flushed_ops);
        flushing = atomic_load(&sh->flushing_ops);
        /* The tree is the last completed flush's, or the one in progress if it landed. */
        bt = bt_open_ok(&cfg);
        bt_check_ok(bt);
        m_copy(&m2, &m);
        crash_replay(&m, round_seed, done);
        if (!tree_equals(bt, &m) && flushing > done) {
            crash_replay(&m2, round_seed, flushing);
            m_copy(&m, &m2);
        }
        check_equal(bt, &m);
        EXPECT(AWC_OK, awc_bt_close(bt));
    }
    m_free(&m);
    m_free(&m2);
    munmap(sh, sizeof(*sh));
}

/* ---- Threads ----------------------------------------------------------------------------- */

#define WRITERS  2
#define SCANNERS 2

struct shared {
    awc_bt_t *bt;
    uint64_t ops;
    atomic_bool stop;
    atomic_int failures;
    struct model models[WRITERS];
};

/* A writer's value: its key's first byte (the writer) and the op, repeated. */
static void *writer(void *p)
{
    struct shared *s = ((void **)p)[0];
    int w = (int)(intptr_t)((void **)p)[1];
    uint64_t rng = 1000 + (uint64_t)w;
    uint8_t key[48], val[32];

    for (uint64_t op = 0; op < s->ops; op++) {
        uint64_t id = et_rand_below(&rng, 1500);
        size_t kl = 1 + make_key(key + 1, id, 40), vl = 1 + op % 24;
        int rc;

        key[0] = (uint8_t)('A' + w);
        memset(val, key[0], vl);
        if (et_rand_below(&rng, 4) == 0) {
            rc = awc_bt_delete(s->bt, key, kl);
            if (rc == AWC_OK || rc == AWC_ENOTFOUND)
                m_del(&s->models[w], key, kl);
            else
                atomic_fetch_add(&s->failures, 1);
        } else {
            rc = awc_bt_put(s->bt, key, kl, val, vl);
            if (rc == AWC_OK)
                m_put(&s->models[w], key, kl, val, vl);
            else
                atomic_fetch_add(&s->failures, 1);
        }
    }
    return NULL;
}

/* Walks the tree both ways: keys strictly in order, each value its writer's letter. */
static void *scanner(void *p)
{
    struct shared *s = p;
    awc_bt_cursor_t *c;
    uint8_t prev[AWC_BT_MAX_KEY];
    size_t prev_len = 0;

    if (awc_bt_cursor_open(s->bt, &c) != AWC_OK) {
        atomic_fetch_add(&s->failures, 1);
        return NULL;
    }
    for (int pass = 0; !atomic_load(&s->stop); pass++) {
        bool forward = pass % 2 == 0, first = true;
        int rc = forward ? awc_bt_cursor_seek(c, NULL, 0) : awc_bt_cursor_last(c);

        while (rc == AWC_OK) {
            const void *k, *v;
            size_t kl, vl;

            awc_bt_cursor_get(c, &k, &kl, &v, &vl);
            if (!first && (forward ? key_cmp(prev, prev_len, k, kl) >= 0
                                   : key_cmp(prev, prev_len, k, kl) <= 0))
                atomic_fetch_add(&s->failures, 1);
            for (size_t j = 0; j < vl; j++)
                if (((const uint8_t *)v)[j] != ((const uint8_t *)k)[0])
                    atomic_fetch_add(&s->failures, 1);
            memcpy(prev, k, kl);
            prev_len = kl;
            first = false;
            rc = forward ? awc_bt_cursor_next(c) : awc_bt_cursor_prev(c);
        }
        if (rc != AWC_ENOTFOUND)
            atomic_fetch_add(&s->failures, 1);
    }
    awc_bt_cursor_close(c);
    return NULL;
}

/* Takes references to keys and checks their bytes while holding them; flushes now and then. */
static void *referrer(void *p)
{
    struct shared *s = p;
    uint64_t rng = 77;
    uint8_t key[48];

    for (int i = 0; !atomic_load(&s->stop); i++) {
        struct awc_bt_ref ref;
        size_t kl = 1 + make_key(key + 1, et_rand_below(&rng, 1500), 40);
        int rc;

        key[0] = (uint8_t)('A' + et_rand_below(&rng, WRITERS));
        rc = awc_bt_get_ref(s->bt, key, kl, &ref);
        if (rc == AWC_OK) {
            for (size_t j = 0; j < ref.value_len; j++)
                if (((const uint8_t *)ref.value)[j] != key[0])
                    atomic_fetch_add(&s->failures, 1);
            if (awc_bt_release(s->bt, &ref) != AWC_OK)
                atomic_fetch_add(&s->failures, 1);
        } else if (rc != AWC_ENOTFOUND) {
            atomic_fetch_add(&s->failures, 1);
        }
        if (i % 200 == 199 && awc_bt_flush(s->bt) != AWC_OK)
            atomic_fetch_add(&s->failures, 1);
    }
    return NULL;
}

static void test_threads(void **state)
{
    char path[512];
    struct awc_bt_config cfg =
        bt_cfg(et_path(path, sizeof(path), "threads"), 4096, 512, AWC_CREATE);
    struct shared *s = calloc(1, sizeof(*s));
    pthread_t w[WRITERS], sc[SCANNERS], rf;
    void *args[WRITERS][2];
    struct model all = {0};

    (void)state;
    assert_non_null(s);
    et_unlink(path);
    s->bt = bt_open_ok(&cfg);
    s->ops = et_env_u64("AWC_BT_THREAD_OPS", 6000);
    for (int i = 0; i < SCANNERS; i++)
        assert_int_equal(pthread_create(&sc[i], NULL, scanner, s), 0);
    assert_int_equal(pthread_create(&rf, NULL, referrer, s), 0);
    for (int i = 0; i < WRITERS; i++) {
        args[i][0] = s;
        args[i][1] = (void *)(intptr_t)i;
        assert_int_equal(pthread_create(&w[i], NULL, writer, args[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_join(w[i], NULL), 0);
    atomic_store(&s->stop, true);
    for (int i = 0; i < SCANNERS; i++)
        assert_int_equal(pthread_join(sc[i], NULL), 0);
    assert_int_equal(pthread_join(rf, NULL), 0);
    assert_int_equal(atomic_load(&s->failures), 0);
    for (int i = 0; i < WRITERS; i++)
        for (size_t j = 0; j < s->models[i].n; j++)
            m_put(&all, s->models[i].it[j].k, s->models[i].it[j].kl, s->models[i].it[j].v,
                  s->models[i].it[j].vl);
    reopen_equal(s->bt, &cfg, &all);
    for (int i = 0; i < WRITERS; i++)
        m_free(&s->models[i]);
    m_free(&all);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_closed_handle),
        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_ref_writers),
        cmocka_unit_test(test_not_a_tree),
        cmocka_unit_test(test_corrupt_page),
        cmocka_unit_test(test_meta_high_water_mark),
        cmocka_unit_test(test_meta_height_one),
        cmocka_unit_test(test_leaf_over_max_item),
        cmocka_unit_test(test_leaf_key_twice),
        cmocka_unit_test(test_ordered_load),
        cmocka_unit_test(test_reopen_copies),
        cmocka_unit_test(test_tool_check),
        cmocka_unit_test(test_model_tiny),
        cmocka_unit_test(test_model_4k),
        cmocka_unit_test(test_model_16k),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_threads),
    };
    int rc;

    tu_init();
    et_init("test_bt");
    rc = cmocka_run_group_tests_name("bt", tests, NULL, NULL);
    et_cleanup();
    return rc;
}
