/*
 * tests/test_kv.c: the key-value cache (engine/awecache.h, awc_kv_*) from one thread, against
 * its header's contract.
 *
 * - test_bad_input, test_open_errors, test_closed_handle: every argument and configuration
 *   error the header lists returns its code, and leaves the cache exactly as it was (a fixture
 *   of four items is checked after each failed call; files are neither created nor changed by
 *   a failed open).
 * - test_sizes, test_capacity_limit, test_huge_value: keys of 1 and 4096 bytes, empty values,
 *   values of many pages, an item exactly the capacity (it evicts everything else) beside one
 *   8 bytes over (AWC_E2BIG), and one 64 MiB value in an 80 MiB cache.
 * - test_get_ref, test_ref_window, test_ref_edeadlk, test_ref_wait: zero-copy references: the
 *   pieces as documented; the bytes stay put, while another thread deletes, overwrites and
 *   writes more, until the release; a value wider than the window is AWC_E2BIG; a thread holding
 *   references into a cache gets AWC_EDEADLK from put, delete and flush there and AWC_EBUSY from
 *   close (and may still write to a cache it holds none in); a put that needs a page another
 *   thread's reference holds waits for the release, then succeeds.
 * - test_write_behind, test_write_behind_alone, test_write_behind_fails: the write-behind thread
 *   (engine/README.md 9.3 step 5): gets of the items already put while puts of eleven times the
 *   frames go on, then a close right after the last put: every item is there after the reopen;
 *   with frames enough for every page put, pages are written back with no flush and no eviction;
 *   write-backs that fail (the file size limit) leave the pages dirty: the flush says so, and
 *   once the limit is back every item reaches the file.
 * - test_ttl, test_ttl_real_clock: time-to-live through the config's clock_ms hook (a fake
 *   clock the test advances) and through the real clock; expiry survives a reopen.
 * - test_collisions: AWC_KV_WEAK_HASH (every key collides with many): each key keeps its value.
 * - test_eviction: filling the log several times over: the recent items are all there and
 *   exact, the stats agree with what reads back.
 * - test_warm_restart: items, overwrites and deletes survive close and reopen.
 * - test_damaged_log_zero, test_damaged_log_flip: a log page before the durable head, holding
 *   flushed deletes, zeroed or with a byte flipped on disk: no deleted key comes back, every get
 *   is the latest value or not-found, the items after the damage are kept (engine/README.md 9.5).
 * - test_damaged_log_end: the log ends on a damaged page, inside a value of several pages: the
 *   items before it are kept, at this reopen and at the next.
 * - test_damaged_meta_lap: rounds of puts of one to two pages, a flush, small puts that reclaim,
 *   a close, the newest meta page damaged: the open starts from the older meta page's tail and
 *   finds the later records, which may reach into that tail's region a lap later (README 9.5
 *   step 6). The stats' item count equals the keys a get finds after the open, and again after
 *   puts that reclaim further (the region counters held two laps' items and lost some).
 *   AWC_KV_LAP_ROUNDS, AWC_KV_SEED.
 * - test_empty_files: an empty page-cache file and a file of no bytes are AWC_EBADFILE and left
 *   untouched, unless AWC_CREATE and a capacity make a new cache of them.
 * - test_model, test_model_weak: a random mix of every operation over a few hundred keys of
 *   random lengths, checked against a plain in-memory model (see "The model" below), with the
 *   closed file damaged before some reopens. The seed comes from AWC_KV_SEED (printed: set it to
 *   repeat a run); AWC_KV_MODEL_OPS sets the length, AWC_KV_DAMAGE_PCT the share of damaged
 *   reopens.
 */
#include "engine_util.h"
#include "test_util.h"

#include <limits.h>
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
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define XXH_INLINE_ALL
#include <xxhash.h> /* test_checkpoint_bad's version 1 meta pages */

/* An item's header as the conservative log counts of the model take it: more than the 40 bytes
 * the header documents, so that the counts stay upper bounds regardless. */
#define CONS_HDR 64u

#define PS              ((size_t)4096)
#define MIN_CAP         ((uint64_t)64 * PS) /* the smallest capacity the header allows */
#define ITEM_HDR        48u                 /* bytes of header per item in the log */
#define GOLD            UINT64_C(0x9e3779b97f4a7c15)
#define START_MS        UINT64_C(1700000000000) /* the fake clock's start (a date in 2023) */
#define KV_META_PAGES_T 2u   /* the key-value file's meta pages, before the log's (engine/kv.h) */
#define KV_CK_CHUNK_T   256u /* pages: the checkpoint areas alternate in chunks of this many */
#define KV_FRAMES       64u  /* default frames (and window slots) of a test cache */

/* ---- Helpers ----------------------------------------------------------------------------- */

/* The fake clock the configurations point at. */
static _Atomic uint64_t fake_now;

static uint64_t fake_ms(void *arg)
{
    return atomic_load((_Atomic uint64_t *)arg);
}

static uint64_t now_ms(void)
{
    return atomic_load(&fake_now);
}

static void advance_ms(uint64_t ms)
{
    atomic_fetch_add(&fake_now, ms);
}

/* Handles stay reachable (a closed handle is never freed) and are closed by the teardown. */
#define MAX_KEPT 4096
static awc_kv_t *kept[MAX_KEPT];
static size_t nkept;

static void kv_keep(awc_kv_t *kv)
{
    assert_true(nkept < MAX_KEPT);
    kept[nkept++] = kv;
}

/* References taken by the main thread, released by the teardown should a test fail while it
 * holds some (the library counts references per thread: one left behind would change how later
 * puts on this thread behave). Every reference a test takes lives in static or heap memory. */
#define MAX_LIVE 64
static struct {
    awc_kv_t *kv;
    struct awc_kv_ref *ref;
} live_refs[MAX_LIVE];

static int ref_take(awc_kv_t *kv, const void *key, size_t klen, struct awc_kv_ref *ref)
{
    int rc = awc_kv_get_ref(kv, key, klen, ref);

    if (rc == AWC_OK) {
        for (size_t i = 0; i < MAX_LIVE; i++) {
            if (live_refs[i].ref == NULL) {
                live_refs[i].kv = kv;
                live_refs[i].ref = ref;
                break;
            }
        }
    }
    return rc;
}

static int ref_drop(awc_kv_t *kv, struct awc_kv_ref *ref)
{
    int rc = awc_kv_release(kv, ref);

    if (rc == AWC_OK)
        for (size_t i = 0; i < MAX_LIVE; i++)
            if (live_refs[i].ref == ref && live_refs[i].kv == kv)
                live_refs[i].ref = NULL;
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < MAX_LIVE; i++) {
        if (live_refs[i].ref != NULL)
            (void)awc_kv_release(live_refs[i].kv, live_refs[i].ref);
        live_refs[i].ref = NULL;
    }
    for (size_t i = 0; i < nkept; i++)
        (void)awc_kv_close(kept[i]);
    return 0;
}

static struct awc_kv_config kcfg(const char *p, uint64_t capacity, unsigned flags)
{
    struct awc_kv_config c = {
        .path = p,
        .capacity = capacity,
        .page_size = PS,
        .frame_budget = KV_FRAMES * PS,
        .window_budget = 0,
        .flags = flags,
        .clock_ms = fake_ms,
        .clock_arg = &fake_now,
    };
    return c;
}

static awc_kv_t *kv_open_ok(const struct awc_kv_config *c)
{
    awc_kv_t *kv = NULL;

    ET_EXPECT(awc_kv_open(c, &kv), AWC_OK);
    assert_non_null(kv);
    kv_keep(kv);
    return kv;
}

static void kv_close_ok(awc_kv_t *kv)
{
    ET_EXPECT(awc_kv_close(kv), AWC_OK);
}

static struct awc_kv_stats kv_stats(awc_kv_t *kv)
{
    struct awc_kv_stats st;

    ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_OK);
    return st;
}

/* Version `version` of the value of item `id`: len bytes derived from (id, version). */
static void gen_value(void *buf, size_t len, uint64_t id, uint64_t version)
{
    uint8_t *b = buf;
    uint64_t seed = et_mix64(id * GOLD ^ et_mix64(version ^ UINT64_C(0x5eed)));
    size_t i = 0;

    for (uint64_t n = 0; i < len; n++) {
        uint64_t w = et_mix64(seed + n * GOLD);
        size_t k = len - i < 8 ? len - i : 8;

        memcpy(b + i, &w, k);
        i += k;
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    assert_non_null(p);
    return p;
}

/* The log bytes an item takes: header + key + value, rounded up to 8. */
static uint64_t item_bytes(size_t klen, size_t vlen)
{
    return ((uint64_t)ITEM_HDR + klen + vlen + 7) & ~(uint64_t)7;
}

/* Puts version `version` of item `id` (len bytes) under the key (asserts AWC_OK). */
static void put_at(const char *file, int line, awc_kv_t *kv, const void *key, size_t klen,
                   uint64_t id, uint64_t version, size_t len, uint64_t ttl)
{
    uint8_t *v = xmalloc(len);
    int rc;

    gen_value(v, len, id, version);
    rc = awc_kv_put(kv, key, klen, v, len, ttl);
    free(v);
    if (rc != AWC_OK)
        fail_msg("%s:%d: awc_kv_put(key of %zu bytes, value of %zu bytes) returned %d (%s)", file,
                 line, klen, len, rc, awc_strerror(rc));
}

/* Gets the key and asserts it holds exactly version `version` of item `id` (len bytes), and
 * that the get wrote nothing past the value's end. */
static void expect_at(const char *file, int line, awc_kv_t *kv, const void *key, size_t klen,
                      uint64_t id, uint64_t version, size_t len)
{
    uint8_t *want = xmalloc(len), *got = xmalloc(len + 16);
    size_t got_len = SIZE_MAX;
    int rc;

    gen_value(want, len, id, version);
    memset(got, 0xa5, len + 16);
    rc = awc_kv_get(kv, key, klen, got, len + 16, &got_len);
    if (rc != AWC_OK)
        fail_msg("%s:%d: awc_kv_get(key of %zu bytes) returned %d (%s), expected the value of "
                 "%zu bytes",
                 file, line, klen, rc, awc_strerror(rc), len);
    if (got_len != len)
        fail_msg("%s:%d: value of %zu bytes read back as %zu bytes", file, line, len, got_len);
    if (memcmp(got, want, len) != 0)
        fail_msg("%s:%d: value of %zu bytes (item %llu version %llu) reads back different", file,
                 line, len, (unsigned long long)id, (unsigned long long)version);
    for (size_t i = len; i < len + 16; i++)
        if (got[i] != 0xa5)
            fail_msg("%s:%d: awc_kv_get wrote past the value's %zu bytes", file, line, len);
    free(want);
    free(got);
}

static void missing_at(const char *file, int line, awc_kv_t *kv, const void *key, size_t klen)
{
    uint8_t buf[64];
    size_t got_len = 0;
    int rc = awc_kv_get(kv, key, klen, buf, sizeof(buf), &got_len);

    if (rc != AWC_ENOTFOUND)
        fail_msg("%s:%d: awc_kv_get(key of %zu bytes) returned %d (%s), expected AWC_ENOTFOUND",
                 file, line, klen, rc, awc_strerror(rc));
}

/* (kv, key, klen, id, version, len); variadic so that SK(key) may stand for key, klen */
#define PUT(...)     put_at(__FILE__, __LINE__, __VA_ARGS__, 0)
#define EXPECT(...)  expect_at(__FILE__, __LINE__, __VA_ARGS__)
#define MISSING(...) missing_at(__FILE__, __LINE__, __VA_ARGS__)

/* Checks a reference's shape (the header: one piece per page the value touches, in order; value
 * set exactly when there is at most one piece) and copies its bytes into out[0..value_len).
 * Returns NULL, or what is wrong. */
static const char *ref_gather(const struct awc_kv_ref *ref, uint8_t *out)
{
    size_t len = ref->value_len, sum = 0, min_pieces = (len + PS - 1) / PS;

    if (len == 0)
        return ref->nfrags == 0 ? NULL : "an empty value has pieces";
    if (ref->nfrags < min_pieces || ref->nfrags > min_pieces + 1 || ref->frags == NULL)
        return "nfrags is not the number of pages the value touches";
    if (ref->nfrags == 1 && ref->value != ref->frags[0].data)
        return "one piece, but value is not frags[0].data";
    if (ref->nfrags > 1 && ref->value != NULL)
        return "several pieces, but value is not NULL";
    for (size_t i = 0; i < ref->nfrags; i++) {
        const struct awc_kv_frag *f = &ref->frags[i];
        uintptr_t a = (uintptr_t)f->data;

        if (f->data == NULL || f->len == 0 || f->len > PS)
            return "a piece is empty or longer than a page";
        if (i > 0 && a % PS != 0)
            return "a piece after the first does not start a page";
        if (i + 1 < ref->nfrags && (a + f->len) % PS != 0)
            return "a piece before the last does not end its page";
        if (a / PS != (a + f->len - 1) / PS)
            return "a piece crosses a page boundary";
        if (sum + f->len > len)
            return "the pieces are longer than the value";
        memcpy(out + sum, f->data, f->len);
        sum += f->len;
    }
    return sum == len ? NULL : "the pieces do not add up to value_len";
}

/* get_ref's the key, checks the pieces hold exactly version `version` of item `id` (len
 * bytes), and releases. */
static void expect_ref_at(const char *file, int line, awc_kv_t *kv, const void *key, size_t klen,
                          uint64_t id, uint64_t version, size_t len)
{
    static struct awc_kv_ref ref;
    uint8_t *want = xmalloc(len), *got = xmalloc(len);
    const char *why;
    int rc;

    gen_value(want, len, id, version);
    rc = ref_take(kv, key, klen, &ref);
    if (rc != AWC_OK)
        fail_msg("%s:%d: awc_kv_get_ref returned %d (%s)", file, line, rc, awc_strerror(rc));
    if (ref.value_len != len)
        fail_msg("%s:%d: the reference's value_len is %zu, expected %zu", file, line, ref.value_len,
                 len);
    why = ref_gather(&ref, got);
    if (why != NULL)
        fail_msg("%s:%d: reference to a value of %zu bytes (%zu pieces): %s", file, line, len,
                 ref.nfrags, why);
    if (memcmp(got, want, len) != 0)
        fail_msg("%s:%d: the reference's bytes differ from the value put", file, line);
    ET_EXPECT(ref_drop(kv, &ref), AWC_OK);
    free(want);
    free(got);
}

#define EXPECT_REF(...) expect_ref_at(__FILE__, __LINE__, __VA_ARGS__)

#define SK(s) (s), strlen(s)

/* ---- Bad input --------------------------------------------------------------------------- */

/* The fixture every failed call is checked against. */
static const struct {
    const char *key;
    uint64_t id;
    size_t len;
} fixture[] = {
    {"alpha", 1, 100},
    {"beta", 2, 5000}, /* two pages */
    {"gamma", 3, 0},
    {"delta", 4, 4000},
};
#define NFIXTURE (sizeof(fixture) / sizeof(fixture[0]))

static void put_fixture(awc_kv_t *kv)
{
    for (size_t i = 0; i < NFIXTURE; i++)
        PUT(kv, SK(fixture[i].key), fixture[i].id, 1, fixture[i].len);
}

/* Asserts the cache holds exactly the fixture (values, items and bytes). */
static void check_fixture_at(int line, awc_kv_t *kv)
{
    struct awc_kv_stats st = kv_stats(kv);
    uint64_t bytes = 0;

    for (size_t i = 0; i < NFIXTURE; i++) {
        expect_at(__FILE__, line, kv, SK(fixture[i].key), fixture[i].id, 1, fixture[i].len);
        bytes += strlen(fixture[i].key) + fixture[i].len;
    }
    if (st.items != NFIXTURE || st.bytes != bytes)
        fail_msg("line %d: stats say %llu items of %llu bytes, expected %zu of %llu", line,
                 (unsigned long long)st.items, (unsigned long long)st.bytes, NFIXTURE,
                 (unsigned long long)bytes);
}
#define CHECK_FIXTURE(kv) check_fixture_at(__LINE__, kv)

static void test_bad_input(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "bad"), 256 * PS, AWC_CREATE);
    uint8_t *big_key = xmalloc(AWC_KV_MAX_KEY + 1), *big_value, buf[8192];
    static struct awc_kv_ref ref;
    struct awc_kv_stats st;
    size_t len;
    awc_kv_t *kv;

    (void)state;
    memset(big_key, 'k', AWC_KV_MAX_KEY + 1);
    kv = kv_open_ok(&cfg);
    put_fixture(kv);
    CHECK_FIXTURE(kv);

    /* put */
    ET_EXPECT(awc_kv_put(NULL, SK("alpha"), buf, 10, 0), AWC_EINVAL);
    ET_EXPECT(awc_kv_put(kv, NULL, 5, buf, 10, 0), AWC_EINVAL);
    ET_EXPECT(awc_kv_put(kv, "alpha", 0, buf, 10, 0), AWC_EINVAL);
    ET_EXPECT(awc_kv_put(kv, SK("alpha"), NULL, 10, 0), AWC_EINVAL);
    ET_EXPECT(awc_kv_put(kv, big_key, AWC_KV_MAX_KEY + 1, buf, 10, 0), AWC_E2BIG);
    CHECK_FIXTURE(kv);
    /* a value of 64 MiB + 1 bytes: a real buffer (its pages are never touched by a correct
     * implementation, which refuses before reading) */
    big_value = malloc((size_t)AWC_KV_MAX_VALUE + 1);
    assert_non_null(big_value);
    ET_EXPECT(awc_kv_put(kv, SK("alpha"), big_value, (size_t)AWC_KV_MAX_VALUE + 1, 0), AWC_E2BIG);
    /* an item larger than this cache's capacity (1 MiB), the key already there */
    ET_EXPECT(awc_kv_put(kv, SK("beta"), big_value, 256 * PS, 0), AWC_E2BIG);
    free(big_value);
    CHECK_FIXTURE(kv);

    /* get */
    ET_EXPECT(awc_kv_get(NULL, SK("alpha"), buf, sizeof(buf), &len), AWC_EINVAL);
    ET_EXPECT(awc_kv_get(kv, NULL, 5, buf, sizeof(buf), &len), AWC_EINVAL);
    ET_EXPECT(awc_kv_get(kv, "alpha", 0, buf, sizeof(buf), &len), AWC_EINVAL);
    ET_EXPECT(awc_kv_get(kv, SK("alpha"), buf, sizeof(buf), NULL), AWC_EINVAL);
    ET_EXPECT(awc_kv_get(kv, SK("alpha"), NULL, 100, &len), AWC_EINVAL);
    ET_EXPECT(awc_kv_get(kv, big_key, AWC_KV_MAX_KEY + 1, buf, sizeof(buf), &len), AWC_E2BIG);
    ET_EXPECT(awc_kv_get(kv, big_key, AWC_KV_MAX_KEY, buf, sizeof(buf), &len), AWC_ENOTFOUND);
    ET_EXPECT(awc_kv_get(kv, SK("alphabet"), buf, sizeof(buf), &len), AWC_ENOTFOUND);
    ET_EXPECT(awc_kv_get(kv, SK("alph"), buf, sizeof(buf), &len), AWC_ENOTFOUND);
    /* buffers too small: AWC_ERANGE and the length needed */
    len = 0;
    ET_EXPECT(awc_kv_get(kv, SK("beta"), buf, 4999, &len), AWC_ERANGE);
    assert_int_equal(len, 5000);
    len = 0;
    ET_EXPECT(awc_kv_get(kv, SK("beta"), NULL, 0, &len), AWC_ERANGE);
    assert_int_equal(len, 5000);
    len = 0;
    ET_EXPECT(awc_kv_get(kv, SK("alpha"), buf, 99, &len), AWC_ERANGE);
    assert_int_equal(len, 100);
    len = 1;
    ET_EXPECT(awc_kv_get(kv, SK("gamma"), NULL, 0, &len), AWC_OK); /* an empty value fits */
    assert_int_equal(len, 0);
    len = 0;
    ET_EXPECT(awc_kv_get(kv, SK("alpha"), buf, 100, &len), AWC_OK); /* exactly enough */
    assert_int_equal(len, 100);
    CHECK_FIXTURE(kv);

    /* get_ref and release */
    ET_EXPECT(ref_take(NULL, SK("alpha"), &ref), AWC_EINVAL);
    ET_EXPECT(ref_take(kv, NULL, 5, &ref), AWC_EINVAL);
    ET_EXPECT(ref_take(kv, "alpha", 0, &ref), AWC_EINVAL);
    ET_EXPECT(ref_take(kv, SK("alpha"), NULL), AWC_EINVAL);
    ET_EXPECT(ref_take(kv, big_key, AWC_KV_MAX_KEY + 1, &ref), AWC_E2BIG);
    ET_EXPECT(ref_take(kv, SK("nope"), &ref), AWC_ENOTFOUND);
    ET_EXPECT(ref_drop(kv, NULL), AWC_EINVAL);
    memset(&ref, 0, sizeof(ref));
    ET_EXPECT(ref_drop(kv, &ref), AWC_EINVAL); /* never taken (all zeros) */
    memset(&ref, 0x5a, sizeof(ref));
    ET_EXPECT(ref_drop(kv, &ref), AWC_EINVAL); /* never taken (garbage) */
    ET_EXPECT(ref_take(kv, SK("beta"), &ref), AWC_OK);
    ET_EXPECT(ref_drop(NULL, &ref), AWC_EINVAL);
    ET_EXPECT(ref_drop(kv, &ref), AWC_OK);
    ET_EXPECT(ref_drop(kv, &ref), AWC_EINVAL); /* released already */
    CHECK_FIXTURE(kv);

    /* delete */
    ET_EXPECT(awc_kv_delete(NULL, SK("alpha")), AWC_EINVAL);
    ET_EXPECT(awc_kv_delete(kv, NULL, 5), AWC_EINVAL);
    ET_EXPECT(awc_kv_delete(kv, "alpha", 0), AWC_EINVAL);
    ET_EXPECT(awc_kv_delete(kv, big_key, AWC_KV_MAX_KEY + 1), AWC_E2BIG);
    ET_EXPECT(awc_kv_delete(kv, SK("alphabet")), AWC_ENOTFOUND);
    ET_EXPECT(awc_kv_delete(kv, big_key, AWC_KV_MAX_KEY), AWC_ENOTFOUND);
    CHECK_FIXTURE(kv);

    /* stats */
    ET_EXPECT(awc_kv_get_stats(NULL, &st), AWC_EINVAL);
    ET_EXPECT(awc_kv_get_stats(kv, NULL), AWC_EINVAL);
    st = kv_stats(kv);
    assert_int_equal(st.capacity, 256 * PS);
    assert_true(st.region_bytes >= PS && st.region_bytes <= st.capacity);
    assert_true(st.log_used <= st.capacity);
    assert_true(st.index_bytes > 0 && st.index_slots >= st.items);
    assert_int_equal(st.puts, NFIXTURE);
    assert_int_equal(st.deletes, 0);
    assert_int_equal(st.evictions, 0);

    /* and all of it survives a reopen */
    kv_close_ok(kv);
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    CHECK_FIXTURE(kv);
    kv_close_ok(kv);
    free(big_key);
    et_unlink(p);
}

/* Reads a whole (small) file. */
static uint8_t *slurp(const char *p, uint64_t *size)
{
    uint8_t *b;

    *size = et_file_size(p);
    b = xmalloc((size_t)*size);
    if (*size)
        et_pread(p, b, (size_t)*size, 0);
    return b;
}

static void test_open_errors(void **state)
{
    char p[1024], q[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "open"), 256 * PS, AWC_CREATE);
    struct awc_kv_config bad;
    awc_kv_t *kv = NULL, *kv2;
    uint8_t *img, *img2;
    uint64_t n, n2, rng = 12345;
    int status;
    pid_t pid;

    (void)state;
    et_path(q, sizeof(q), "other");
    et_unlink(p);

    /* arguments */
    ET_EXPECT(awc_kv_open(NULL, &kv), AWC_EINVAL);
    ET_EXPECT(awc_kv_open(&cfg, NULL), AWC_EINVAL);
    assert_false(et_exists(p));
    bad = cfg;
    bad.path = NULL;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EINVAL);
    /* capacity below 64 pages (0 included: a new file needs one) */
    bad = cfg;
    bad.capacity = MIN_CAP - PS;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EINVAL);
    assert_false(et_exists(p));
    bad.capacity = 0;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EINVAL);
    assert_false(et_exists(p));
    /* budgets as awc_open: a page size that is not a power of two, a window over the frames */
    bad = cfg;
    bad.page_size = 5000;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EINVAL);
    bad = cfg;
    bad.window_budget = bad.frame_budget * 2;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EINVAL);
    assert_false(et_exists(p));
    /* a missing file without AWC_CREATE */
    bad = cfg;
    bad.flags = 0;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_ENOENT);
    assert_false(et_exists(p));

    /* the smallest capacity is allowed */
    bad = kcfg(q, MIN_CAP, AWC_CREATE | AWC_EXCL);
    kv2 = kv_open_ok(&bad);
    assert_int_equal(kv_stats(kv2).capacity, MIN_CAP);
    PUT(kv2, SK("x"), 9, 1, 1000);
    kv_close_ok(kv2);
    et_unlink(q);

    /* a real cache with the fixture in it */
    kv = kv_open_ok(&cfg);
    put_fixture(kv);
    kv_close_ok(kv);
    img = slurp(p, &n);

    /* AWC_EXCL on an existing file; a capacity that is not the file's; another page size */
    bad = cfg;
    bad.flags = AWC_CREATE | AWC_EXCL;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EEXIST);
    bad = cfg;
    bad.capacity = 512 * PS;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EINVAL);
    bad.capacity = MIN_CAP;
    ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EINVAL);
    bad = cfg;
    bad.page_size = 2 * PS;
    bad.frame_budget = KV_FRAMES * 2 * PS;
    bad.capacity = 0;
    ET_EXPECT2(awc_kv_open(&bad, &kv), AWC_EINVAL, AWC_EBADFILE);
    img2 = slurp(p, &n2);
    assert_int_equal(n2, n); /* (its page cache's superblocks may have been rewritten) */
    free(img2);
    /* the same capacity, or 0 (the file's), opens it */
    bad = cfg;
    bad.flags = 0;
    kv = kv_open_ok(&bad);
    CHECK_FIXTURE(kv);
    assert_int_equal(kv_stats(kv).capacity, 256 * PS);

    /* another process while this one has it open: AWC_ELOCKED */
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        awc_kv_t *c = NULL;
        int rc = awc_kv_open(&bad, &c);

        _exit(rc == AWC_ELOCKED ? 0 : rc == AWC_OK ? 1 : 2);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("a second process opening the cache did not get AWC_ELOCKED (child exit %d: 1 "
                 "is AWC_OK, 2 another error)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK_FIXTURE(kv);
    kv_close_ok(kv);
    bad.capacity = 0;
    kv = kv_open_ok(&bad);
    CHECK_FIXTURE(kv);
    kv_close_ok(kv);
    free(img);

    /* a page-cache file made by awc_open: not a key-value cache */
    {
        struct awc_config pc = et_cfg(q, PS, 16, 16, AWC_CREATE | AWC_EXCL);
        awc_t *c;
        void *ptr;
        uint64_t v = 0;

        c = et_open(&pc);
        for (uint64_t pg = 0; pg < 4; pg++) {
            ET_EXPECT(awc_pin(c, pg, AWC_EXCLUSIVE, &ptr), AWC_OK);
            et_fill(ptr, PS, pg, 1);
            ET_EXPECT(awc_unpin(c, pg, 1), AWC_OK);
        }
        et_close(c);
        img = slurp(q, &n);
        bad = kcfg(q, 0, 0);
        ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EBADFILE);
        bad = kcfg(q, 256 * PS, AWC_CREATE);
        ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EBADFILE);
        /* its pages are untouched (its superblocks record the page cache's opens) */
        img2 = slurp(q, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(img2 + ET_DATA_BASE, img + ET_DATA_BASE, n - ET_DATA_BASE);
        free(img);
        free(img2);
        pc.flags = 0;
        c = et_open(&pc);
        ET_EXPECT(awc_pin(c, 3, AWC_SHARED, &ptr), AWC_OK);
        assert_int_equal(et_check(ptr, PS, 3, &v), ET_GOOD);
        assert_int_equal(v, 1);
        ET_EXPECT(awc_unpin(c, 3, 0), AWC_OK);
        et_close(c);
        et_unlink(q);
    }

    /* foreign files: random bytes (1 MiB, and 100 bytes) */
    {
        static const size_t sizes[] = {ET_MIB, 100, 3 * PS};

        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            uint8_t *junk = xmalloc(sizes[s]);

            for (size_t i = 0; i < sizes[s]; i++)
                junk[i] = (uint8_t)et_rand(&rng);
            et_unlink(q);
            et_pwrite(q, junk, sizes[s], 0);
            bad = kcfg(q, 0, 0);
            ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EBADFILE);
            bad = kcfg(q, 256 * PS, AWC_CREATE);
            ET_EXPECT(awc_kv_open(&bad, &kv), AWC_EBADFILE);
            img2 = slurp(q, &n2);
            assert_int_equal(n2, sizes[s]);
            assert_memory_equal(img2, junk, sizes[s]);
            free(img2);
            free(junk);
        }
        et_unlink(q);
    }
    et_unlink(p);
}

static void test_closed_handle(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "closed"), 256 * PS, AWC_CREATE);
    static struct awc_kv_ref ref, live;
    struct awc_kv_stats st;
    awc_kv_t *kv = kv_open_ok(&cfg), *other;
    uint8_t buf[16];
    size_t len;
    char q[1024];
    struct awc_kv_config cfg2 = kcfg(et_path(q, sizeof(q), "closed2"), 256 * PS, AWC_CREATE);

    (void)state;
    put_fixture(kv);
    /* a reference of another cache is not a live reference of this one */
    other = kv_open_ok(&cfg2);
    PUT(other, SK("o"), 77, 1, 50);
    ET_EXPECT(ref_take(other, SK("o"), &live), AWC_OK);
    ET_EXPECT(ref_drop(kv, &live), AWC_EINVAL);
    ET_EXPECT(ref_take(kv, SK("alpha"), &ref), AWC_OK);
    ET_EXPECT(ref_drop(other, &ref), AWC_EINVAL);
    ET_EXPECT(ref_drop(kv, &ref), AWC_OK);
    ET_EXPECT(ref_drop(other, &live), AWC_OK);
    kv_close_ok(other);

    kv_close_ok(kv);
    ET_EXPECT(awc_kv_close(kv), AWC_ECLOSED);
    ET_EXPECT(awc_kv_put(kv, SK("alpha"), buf, 4, 0), AWC_ECLOSED);
    ET_EXPECT(awc_kv_get(kv, SK("alpha"), buf, sizeof(buf), &len), AWC_ECLOSED);
    ET_EXPECT(ref_take(kv, SK("alpha"), &ref), AWC_ECLOSED);
    memset(&ref, 0, sizeof(ref));
    ET_EXPECT2(ref_drop(kv, &ref), AWC_ECLOSED, AWC_EINVAL);
    ET_EXPECT(awc_kv_delete(kv, SK("alpha")), AWC_ECLOSED);
    ET_EXPECT(awc_kv_flush(kv), AWC_ECLOSED);
    ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_ECLOSED);
    /* the file is whole */
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    CHECK_FIXTURE(kv);
    kv_close_ok(kv);
    et_unlink(p);
    et_unlink(q);
}

/* ---- Index memory (engine/README.md 9.4) ------------------------------------------------- */

/* As items are added, the index holds at most 24 bytes per item (10-byte slots, the table
 * doubling at 7/8 full), besides its region counters (at most 4 KiB here); the checkpoint of a
 * close brings the same table back. */
static void test_index_memory(void **state)
{
    char p[1024], key[32];
    struct awc_kv_config cfg =
        kcfg(et_path(p, sizeof(p), "imem"), 8192 * PS, AWC_CREATE | AWC_EXCL);
    struct awc_kv_stats st;
    double worst = 0;
    awc_kv_t *kv;

    (void)state;
    et_unlink(p);
    kv = kv_open_ok(&cfg);
    for (unsigned i = 0; i < 60000; i++) {
        PUT(kv, key, (size_t)snprintf(key, sizeof(key), "imem-%u", i), i, 1, 8);
        if (i >= 2000 && i % 97 == 0) {
            st = kv_stats(kv);
            assert_int_equal(st.items, i + 1);
            if (st.index_bytes > 24 * st.items + 4096)
                fail_msg("%llu items: %llu bytes of index", (unsigned long long)st.items,
                         (unsigned long long)st.index_bytes);
            if ((double)(st.index_bytes - 4096) / (double)st.items > worst)
                worst = (double)(st.index_bytes - 4096) / (double)st.items;
        }
    }
    st = kv_stats(kv);
    print_message("index: %llu bytes for %llu items (%.1f per item; at most %.1f past 2,000 items, "
                  "less the region counters)\n",
                  (unsigned long long)st.index_bytes, (unsigned long long)st.items,
                  (double)st.index_bytes / (double)st.items, worst);
    kv_close_ok(kv);
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    assert_int_equal(kv_stats(kv).index_bytes, st.index_bytes);
    assert_int_equal(kv_stats(kv).items, st.items);
    kv_close_ok(kv);
    et_unlink(p);
    /* A log larger than the index can address: refused. */
    cfg = kcfg(p, (UINT64_C(4) << 40) + PS, AWC_CREATE | AWC_EXCL);
    ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_EINVAL);
    assert_int_equal(access(p, F_OK), -1);
}

/* ---- Sizes ------------------------------------------------------------------------------- */

static void test_sizes(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "sizes"), 1024 * PS, AWC_CREATE);
    uint8_t *k4096 = xmalloc(AWC_KV_MAX_KEY), *k4096b = xmalloc(AWC_KV_MAX_KEY);
    const uint8_t k0[1] = {0}, kff[1] = {0xff}, kbin[5] = {0, 1, 0, 2, 0};
    static struct awc_kv_ref ref;
    struct awc_kv_stats st;
    uint8_t buf[16];
    size_t len;
    awc_kv_t *kv;

    (void)state;
    for (size_t i = 0; i < AWC_KV_MAX_KEY; i++)
        k4096[i] = (uint8_t)et_mix64(i);
    memcpy(k4096b, k4096, AWC_KV_MAX_KEY);
    k4096b[AWC_KV_MAX_KEY - 1] ^= 1; /* differs in the last byte only */
    kv = kv_open_ok(&cfg);

    PUT(kv, k0, 1, 10, 1, 7);
    PUT(kv, kff, 1, 11, 1, 0);
    PUT(kv, kbin, 5, 12, 1, 3 * PS + 17);
    PUT(kv, k4096, AWC_KV_MAX_KEY, 13, 1, 10);
    PUT(kv, k4096b, AWC_KV_MAX_KEY, 14, 1, 0);
    PUT(kv, SK("k4096-big"), 15, 1, 5 * PS + 3);
    /* an item of exactly one page, and of one page + 8 */
    PUT(kv, SK("page"), 16, 1, PS - ITEM_HDR - 4);
    PUT(kv, SK("page+"), 17, 1, PS - ITEM_HDR - 5 + 8);
    for (int round = 0; round < 2; round++) {
        EXPECT(kv, k0, 1, 10, 1, 7);
        EXPECT(kv, kff, 1, 11, 1, 0);
        EXPECT(kv, kbin, 5, 12, 1, 3 * PS + 17);
        EXPECT(kv, k4096, AWC_KV_MAX_KEY, 13, 1, 10);
        EXPECT(kv, k4096b, AWC_KV_MAX_KEY, 14, 1, 0);
        EXPECT(kv, SK("k4096-big"), 15, 1, 5 * PS + 3);
        EXPECT(kv, SK("page"), 16, 1, PS - ITEM_HDR - 4);
        EXPECT(kv, SK("page+"), 17, 1, PS - ITEM_HDR - 5 + 8);
        EXPECT_REF(kv, kbin, 5, 12, 1, 3 * PS + 17);
        EXPECT_REF(kv, k4096, AWC_KV_MAX_KEY, 13, 1, 10);
        EXPECT_REF(kv, SK("page"), 16, 1, PS - ITEM_HDR - 4);
        EXPECT_REF(kv, SK("page+"), 17, 1, PS - ITEM_HDR - 5 + 8);
        MISSING(kv, k4096, AWC_KV_MAX_KEY - 1); /* a prefix of a key is another key */
        MISSING(kv, kbin, 4);
        /* the empty value: found, length 0, with or without a buffer; no pieces */
        len = 99;
        ET_EXPECT(awc_kv_get(kv, kff, 1, NULL, 0, &len), AWC_OK);
        assert_int_equal(len, 0);
        len = 99;
        ET_EXPECT(awc_kv_get(kv, k4096b, AWC_KV_MAX_KEY, buf, sizeof(buf), &len), AWC_OK);
        assert_int_equal(len, 0);
        ET_EXPECT(ref_take(kv, kff, 1, &ref), AWC_OK);
        assert_int_equal(ref.value_len, 0);
        assert_int_equal(ref.nfrags, 0);
        ET_EXPECT(ref_drop(kv, &ref), AWC_OK);
        /* an item that fits in a page never straddles two: one piece, value set */
        ET_EXPECT(ref_take(kv, SK("page"), &ref), AWC_OK);
        assert_int_equal(ref.nfrags, 1);
        assert_non_null(ref.value);
        ET_EXPECT(ref_drop(kv, &ref), AWC_OK);
        st = kv_stats(kv);
        assert_int_equal(st.items, 8);
        assert_int_equal(st.bytes, 1 + 7 + 1 + 0 + 5 + 3 * PS + 17 + AWC_KV_MAX_KEY + 10 +
                                       AWC_KV_MAX_KEY + 0 + 9 + 5 * PS + 3 + 4 + PS - ITEM_HDR - 4 +
                                       5 + PS - ITEM_HDR - 5 + 8);
        kv_close_ok(kv);
        cfg.flags = 0;
        kv = kv_open_ok(&cfg);
    }
    /* overwrite with other sizes, delete */
    PUT(kv, k0, 1, 10, 2, 0);
    PUT(kv, kff, 1, 11, 2, 2 * PS);
    ET_EXPECT(awc_kv_delete(kv, k4096, AWC_KV_MAX_KEY), AWC_OK);
    EXPECT(kv, k0, 1, 10, 2, 0);
    EXPECT(kv, kff, 1, 11, 2, 2 * PS);
    MISSING(kv, k4096, AWC_KV_MAX_KEY);
    EXPECT(kv, k4096b, AWC_KV_MAX_KEY, 14, 1, 0);
    kv_close_ok(kv);
    kv = kv_open_ok(&cfg);
    EXPECT(kv, k0, 1, 10, 2, 0);
    EXPECT(kv, kff, 1, 11, 2, 2 * PS);
    MISSING(kv, k4096, AWC_KV_MAX_KEY);
    kv_close_ok(kv);
    et_unlink(p);

    /* a value of 1 MiB in a 4 MiB cache */
    cfg = kcfg(p, 1024 * PS, AWC_CREATE);
    cfg.capacity = 4 * ET_MIB;
    kv = kv_open_ok(&cfg);
    PUT(kv, SK("mib"), 20, 1, ET_MIB);
    PUT(kv, SK("after"), 21, 1, 100);
    EXPECT(kv, SK("mib"), 20, 1, ET_MIB);
    ET_EXPECT(ref_take(kv, SK("mib"), &ref), AWC_E2BIG); /* 257 pages, 64 slots */
    kv_close_ok(kv);
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    EXPECT(kv, SK("mib"), 20, 1, ET_MIB);
    EXPECT(kv, SK("after"), 21, 1, 100);
    kv_close_ok(kv);
    et_unlink(p);
    free(k4096);
    free(k4096b);
}

/* An item exactly the capacity evicts everything else; one 8 bytes longer is AWC_E2BIG. */
static void test_capacity_limit(void **state)
{
    char p[1024], key[32];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "limit"), MIN_CAP, AWC_CREATE);
    const size_t klen = 3, full = (size_t)MIN_CAP - ITEM_HDR - klen; /* the item: MIN_CAP */
    uint8_t *v = xmalloc(full + 1);
    struct awc_kv_stats st;
    awc_kv_t *kv = kv_open_ok(&cfg);
    int rc;

    (void)state;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "small-%d", i);
        PUT(kv, SK(key), 100 + (uint64_t)i, 1, 200);
    }
    /* one byte more than the capacity (rounded up: 8 more) */
    gen_value(v, full + 1, 1, 1);
    ET_EXPECT(awc_kv_put(kv, "big", klen, v, full + 1, 0), AWC_E2BIG);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "small-%d", i);
        EXPECT(kv, SK(key), 100 + (uint64_t)i, 1, 200);
    }
    assert_int_equal(kv_stats(kv).items, 100);
    /* exactly the capacity: allowed ("fails for lack of room only when the item alone is larger
     * than the capacity"); everything else must go */
    gen_value(v, full, 1, 1);
    rc = awc_kv_put(kv, "big", klen, v, full, 0);
    if (rc != AWC_OK)
        fail_msg("a put of an item exactly the capacity (%llu bytes: 40 + 3 + %zu) returned %d "
                 "(%s)",
                 (unsigned long long)MIN_CAP, full, rc, awc_strerror(rc));
    EXPECT(kv, "big", klen, 1, 1, full);
    st = kv_stats(kv);
    assert_int_equal(st.items, 1);
    assert_true(st.evictions >= 100);
    assert_true(st.log_used <= st.capacity);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "small-%d", i);
        MISSING(kv, SK(key));
    }
    kv_close_ok(kv);
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    EXPECT(kv, "big", klen, 1, 1, full);
    assert_int_equal(kv_stats(kv).items, 1);
    /* the next put needs room: the big item goes */
    PUT(kv, SK("next"), 5, 1, 10);
    EXPECT(kv, SK("next"), 5, 1, 10);
    MISSING(kv, "big", klen);
    kv_close_ok(kv);
    kv = kv_open_ok(&cfg);
    EXPECT(kv, SK("next"), 5, 1, 10);
    MISSING(kv, "big", klen);
    kv_close_ok(kv);
    free(v);
    et_unlink(p);
}

/* One value of AWC_KV_MAX_VALUE bytes, in a cache of 80 MiB. */
static void test_huge_value(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "huge"), 80 * ET_MIB, AWC_CREATE);
    struct statvfs vfs;
    static struct awc_kv_ref ref;
    uint64_t t0 = et_now_ns(), t1, t2, t3;
    awc_kv_t *kv;

    (void)state;
    if (statvfs(et_dir(), &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < 4 * (uint64_t)cfg.capacity) {
        print_message("skipped: under %llu MiB free under %s\n",
                      (unsigned long long)(4 * cfg.capacity / ET_MIB), et_dir());
        skip();
    }
    cfg.frame_budget = 1024 * PS; /* 4 MiB of frames, 1024 window slots */
    kv = kv_open_ok(&cfg);
    PUT(kv, SK("small"), 1, 1, 10);
    PUT(kv, "H", 1, 2, 1, AWC_KV_MAX_VALUE);
    t1 = et_now_ns();
    EXPECT(kv, "H", 1, 2, 1, AWC_KV_MAX_VALUE);
    ET_EXPECT(ref_take(kv, "H", 1, &ref), AWC_E2BIG); /* 16385 pages, 1024 slots */
    EXPECT(kv, SK("small"), 1, 1, 10);
    kv_close_ok(kv);
    t2 = et_now_ns();
    cfg.flags = 0;
    cfg.capacity = 0;
    kv = kv_open_ok(&cfg);
    assert_int_equal(kv_stats(kv).items, 2);
    EXPECT(kv, "H", 1, 2, 1, AWC_KV_MAX_VALUE);
    ET_EXPECT(awc_kv_delete(kv, "H", 1), AWC_OK);
    MISSING(kv, "H", 1);
    kv_close_ok(kv);
    t3 = et_now_ns();
    print_message("64 MiB value: put %.0f ms, get + close %.0f ms, reopen + get + delete %.0f ms; "
                  "file %llu bytes\n",
                  (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6,
                  (unsigned long long)et_file_size(p));
    et_unlink(p);
}

/* ---- Zero-copy references ---------------------------------------------------------------- */

/* The writes test_get_ref makes from another thread while the main thread holds references. */
struct ref_writer {
    awc_kv_t *kv;
    _Atomic int started, done;
    int rc[4]; /* delete "multi", put "small" v2, the fill puts, put "during" */
};

static void *ref_writer_main(void *arg)
{
    struct ref_writer *w = arg;
    uint8_t v[2000];

    atomic_store(&w->started, 1);
    w->rc[0] = awc_kv_delete(w->kv, SK("multi"));
    gen_value(v, 150, 1, 2);
    w->rc[1] = awc_kv_put(w->kv, SK("small"), v, 150, 0);
    for (int i = 0; i < 20 && w->rc[2] == AWC_OK; i++) { /* a fifth of the capacity */
        char key[16];

        snprintf(key, sizeof(key), "fill%d", i);
        gen_value(v, sizeof(v), 100 + (uint64_t)i, 1);
        w->rc[2] = awc_kv_put(w->kv, SK(key), v, sizeof(v), 0);
    }
    gen_value(v, 10, 4, 1);
    w->rc[3] = awc_kv_put(w->kv, SK("during"), v, 10, 0);
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_get_ref(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "ref"), 256 * PS, AWC_CREATE);
    static struct awc_kv_ref r1, r2, r3;
    static struct ref_writer w;
    uint8_t *want = xmalloc(4 * PS), *got = xmalloc(4 * PS);
    awc_kv_t *kv = kv_open_ok(&cfg);
    const char *why;
    pthread_t th;

    (void)state;
    PUT(kv, SK("small"), 1, 1, 100);
    PUT(kv, SK("multi"), 2, 1, 3 * PS + 123);
    PUT(kv, SK("empty"), 3, 1, 0);
    EXPECT_REF(kv, SK("small"), 1, 1, 100);
    EXPECT_REF(kv, SK("multi"), 2, 1, 3 * PS + 123);
    EXPECT_REF(kv, SK("empty"), 3, 1, 0);

    /* References held: gets and more references work; this thread may not write (AWC_EDEADLK)
     * nor close (AWC_EBUSY), and those failures change nothing. */
    ET_EXPECT(ref_take(kv, SK("multi"), &r1), AWC_OK);
    ET_EXPECT(ref_take(kv, SK("multi"), &r2), AWC_OK); /* twice at once */
    ET_EXPECT(ref_take(kv, SK("small"), &r3), AWC_OK);
    assert_int_equal(r3.nfrags, 1);
    assert_non_null(r3.value);
    EXPECT(kv, SK("multi"), 2, 1, 3 * PS + 123);
    ET_EXPECT(awc_kv_delete(kv, SK("multi")), AWC_EDEADLK);
    ET_EXPECT(awc_kv_put(kv, SK("small"), want, 10, 0), AWC_EDEADLK);
    ET_EXPECT(awc_kv_put(kv, SK("new"), want, 10, 0), AWC_EDEADLK);
    ET_EXPECT(awc_kv_flush(kv), AWC_EDEADLK);
    ET_EXPECT(awc_kv_close(kv), AWC_EBUSY);
    EXPECT(kv, SK("small"), 1, 1, 100);
    EXPECT(kv, SK("multi"), 2, 1, 3 * PS + 123);
    MISSING(kv, SK("new"));
    assert_int_equal(kv_stats(kv).items, 3);

    /* Another thread deletes and overwrites the referenced keys and writes more: the
     * referenced bytes stay as they were until the release (a write that needs a referenced
     * page waits for it). */
    w.kv = kv;
    assert_int_equal(pthread_create(&th, NULL, ref_writer_main, &w), 0);
    while (!atomic_load(&w.started))
        et_sleep_ms(1);
    et_sleep_ms(200);
    gen_value(want, 3 * PS + 123, 2, 1);
    why = ref_gather(&r1, got);
    if (why != NULL)
        fail_msg("reference while another thread writes: %s", why);
    assert_memory_equal(got, want, 3 * PS + 123);
    ET_EXPECT(ref_drop(kv, &r1), AWC_OK);
    why = ref_gather(&r2, got);
    if (why != NULL)
        fail_msg("second reference while another thread writes: %s", why);
    assert_memory_equal(got, want, 3 * PS + 123);
    ET_EXPECT(ref_drop(kv, &r2), AWC_OK);
    gen_value(want, 100, 1, 1);
    assert_int_equal(r3.value_len, 100);
    assert_memory_equal(r3.value, want, 100);
    ET_EXPECT(ref_drop(kv, &r3), AWC_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    for (int i = 0; i < 4; i++)
        if (w.rc[i] != AWC_OK)
            fail_msg("write %d of the other thread returned %d (%s)", i, w.rc[i],
                     awc_strerror(w.rc[i]));
    MISSING(kv, SK("multi"));
    EXPECT(kv, SK("small"), 1, 2, 150);
    EXPECT(kv, SK("during"), 4, 1, 10);
    ET_EXPECT(awc_kv_flush(kv), AWC_OK); /* no references now: writes allowed again */
    kv_close_ok(kv);
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    EXPECT(kv, SK("small"), 1, 2, 150);
    EXPECT(kv, SK("during"), 4, 1, 10);
    EXPECT(kv, SK("empty"), 3, 1, 0);
    MISSING(kv, SK("multi"));
    kv_close_ok(kv);
    free(want);
    free(got);
    et_unlink(p);
}

/* A value wider than the window: AWC_E2BIG for get_ref, fine for get. */
static void test_ref_window(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "refwin"), 256 * PS, AWC_CREATE);
    static struct awc_kv_ref ref;
    awc_kv_t *kv;

    (void)state;
    cfg.frame_budget = 16 * PS; /* 16 frames, 16 slots */
    kv = kv_open_ok(&cfg);
    PUT(kv, SK("wide"), 1, 1, 20 * PS);
    PUT(kv, SK("fits"), 2, 1, 8 * PS);
    ET_EXPECT(ref_take(kv, SK("wide"), &ref), AWC_E2BIG);
    EXPECT(kv, SK("wide"), 1, 1, 20 * PS);
    EXPECT_REF(kv, SK("fits"), 2, 1, 8 * PS);
    kv_close_ok(kv);
    et_unlink(p);
}

/* A thread holding references into a cache may not write to it (AWC_EDEADLK), even where the
 * write would not touch the referenced pages; it may write to a cache it holds none in. */
struct foreign_release {
    awc_kv_t *kv;
    struct awc_kv_ref *ref;
    int rc;
};

static void *foreign_release_main(void *arg)
{
    struct foreign_release *f = arg;

    f->rc = awc_kv_release(f->kv, f->ref);
    return NULL;
}

static void test_ref_edeadlk(void **state)
{
    char pa[1024], pb[1024], pc[1024];
    struct awc_kv_config ca = kcfg(et_path(pa, sizeof(pa), "deadlk-a"), 256 * PS, AWC_CREATE);
    struct awc_kv_config cb = kcfg(et_path(pb, sizeof(pb), "deadlk-b"), 256 * PS, AWC_CREATE);
    struct awc_kv_config cc = kcfg(et_path(pc, sizeof(pc), "deadlk-c"), 256 * PS, AWC_CREATE);
    static struct awc_kv_ref ra, rb;
    awc_kv_t *a = kv_open_ok(&ca), *b = kv_open_ok(&cb), *c = kv_open_ok(&cc);
    uint8_t v[64] = {0};

    (void)state;
    PUT(a, SK("x"), 1, 1, 30);
    PUT(b, SK("y"), 2, 1, 30);
    ET_EXPECT(ref_take(a, SK("x"), &ra), AWC_OK);
    {
        /* Another thread cannot release it (this thread's count of references is its own): the
         * reference stays live and this thread still may not write. */
        struct foreign_release f = {a, &ra, AWC_OK};
        pthread_t th;

        assert_int_equal(pthread_create(&th, NULL, foreign_release_main, &f), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        ET_EXPECT(f.rc, AWC_EINVAL);
        assert_non_null(ra.value);
    }
    ET_EXPECT(awc_kv_put(a, SK("other"), v, sizeof(v), 0), AWC_EDEADLK);
    ET_EXPECT(awc_kv_delete(a, SK("x")), AWC_EDEADLK);
    ET_EXPECT(awc_kv_delete(a, SK("absent")), AWC_EDEADLK);
    ET_EXPECT(awc_kv_flush(a), AWC_EDEADLK);
    ET_EXPECT(awc_kv_close(a), AWC_EBUSY);
    PUT(b, SK("y2"), 3, 1, 30); /* no reference into b */
    ET_EXPECT(awc_kv_flush(b), AWC_OK);
    ET_EXPECT(ref_take(b, SK("y"), &rb), AWC_OK); /* now references into a and b */
    ET_EXPECT(awc_kv_put(b, SK("y3"), v, sizeof(v), 0), AWC_EDEADLK);
    ET_EXPECT(awc_kv_put(a, SK("x3"), v, sizeof(v), 0), AWC_EDEADLK);
    {
        /* c: this thread holds no reference into it */
        int rc = awc_kv_put(c, SK("z"), v, sizeof(v), 0);

        if (rc != AWC_OK)
            fail_msg("holding references into two other caches, a put into a third returned "
                     "%d (%s)",
                     rc, awc_strerror(rc));
    }
    ET_EXPECT(ref_drop(b, &rb), AWC_OK);
    ET_EXPECT(ref_drop(a, &ra), AWC_OK);
    PUT(a, SK("other"), 4, 1, 64);
    ET_EXPECT(awc_kv_delete(a, SK("x")), AWC_OK);
    EXPECT(a, SK("other"), 4, 1, 64);
    MISSING(a, SK("x"));
    EXPECT(b, SK("y"), 2, 1, 30);
    EXPECT(b, SK("y2"), 3, 1, 30);
    MISSING(b, SK("y3"));
    kv_close_ok(a);
    kv_close_ok(b);
    kv_close_ok(c);
    et_unlink(pa);
    et_unlink(pb);
    et_unlink(pc);
}

struct holder {
    awc_kv_t *kv;
    _Atomic int ready;    /* the reference is taken */
    _Atomic int released; /* it was checked and released */
    int bad;              /* the bytes changed while held, or a call failed */
};

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    static struct awc_kv_ref ref;
    uint8_t want[3000], got[3000];

    gen_value(want, sizeof(want), 1, 1);
    if (awc_kv_get_ref(h->kv, SK("first"), &ref) != AWC_OK) {
        h->bad = 1;
        atomic_store(&h->ready, 1);
        return NULL;
    }
    atomic_store(&h->ready, 1);
    et_sleep_ms(300); /* the main thread's puts reach this region meanwhile, and wait */
    if (ref.value_len != sizeof(want) || ref_gather(&ref, got) != NULL ||
        memcmp(got, want, sizeof(want)) != 0)
        h->bad = 2;
    atomic_store(&h->released, 1);
    if (awc_kv_release(h->kv, &ref) != AWC_OK)
        h->bad = 3;
    return NULL;
}

/* A put that needs the region another thread's reference is in waits for its release. */
static void test_ref_wait(void **state)
{
    char p[1024], key[32];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "refwait"), MIN_CAP, AWC_CREATE);
    struct holder h = {0};
    pthread_t th;
    uint64_t written = 0, t0;
    int i;

    (void)state;
    h.kv = kv_open_ok(&cfg);
    PUT(h.kv, SK("first"), 1, 1, 3000);
    assert_int_equal(pthread_create(&th, NULL, holder_main, &h), 0);
    while (!atomic_load(&h.ready))
        et_sleep_ms(1);
    ET_EXPECT(awc_kv_close(h.kv), AWC_EBUSY); /* another thread's reference */
    t0 = et_now_ns();
    for (i = 0; written < 2 * MIN_CAP; i++) {
        snprintf(key, sizeof(key), "k%d", i % 7);
        put_at(__FILE__, __LINE__, h.kv, SK(key), 1000 + (uint64_t)(i % 7), (uint64_t)i, 2000, 0);
        written += item_bytes(strlen(key), 2000);
    }
    /* the log wrapped twice: the first region was reclaimed, after the release */
    assert_int_equal(atomic_load(&h.released), 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(h.bad, 0);
    print_message("the puts waited %.0f ms for the other thread's reference\n",
                  (double)(et_now_ns() - t0) / 1e6);
    MISSING(h.kv, SK("first"));
    EXPECT(h.kv, SK(key), 1000 + (uint64_t)((i - 1) % 7), (uint64_t)(i - 1), 2000);
    kv_close_ok(h.kv);
    et_unlink(p);
}

/* ---- Write-behind (engine/README.md 9.3 step 5) ----------------------------------------- */

#define WB_ITEMS 3000u
#define WB_VLEN  900u /* a value: WB_ITEMS of them fill about 700 pages, 11 times the frames */

static size_t wb_key(char *b, uint64_t id)
{
    return (size_t)snprintf(b, 32, "wb-%llu", (unsigned long long)id);
}

/* Puts items [from, to) at version 1 (no cmocka call: a child process runs it too); AWC_OK or
 * the first error. */
static int wb_put(awc_kv_t *kv, uint64_t from, uint64_t to)
{
    uint8_t v[WB_VLEN];
    char key[32];

    for (uint64_t id = from; id < to; id++) {
        int rc;

        gen_value(v, sizeof(v), id, 1);
        rc = awc_kv_put(kv, key, wb_key(key, id), v, sizeof(v), 0);
        if (rc != AWC_OK)
            return rc;
    }
    return AWC_OK;
}

/* Every item [0, n) reads back exactly. */
static void wb_check(awc_kv_t *kv, uint64_t n)
{
    char key[32];

    for (uint64_t id = 0; id < n; id++)
        expect_at(__FILE__, __LINE__, kv, key, wb_key(key, id), id, 1, WB_VLEN);
}

struct wb_reader {
    awc_kv_t *kv;
    _Atomic uint64_t published; /* items the main thread has put */
    _Atomic int stop;
    uint64_t gets; /* gets that found their item (read after the join) */
    int bad;       /* a get failed or returned other bytes */
};

/* Gets items already put, at random, while the main thread puts more (and the write-behind
 * thread writes the log back): each must read back whole. */
static void *wb_reader_main(void *arg)
{
    struct wb_reader *r = arg;
    uint8_t want[WB_VLEN], got[WB_VLEN];
    uint64_t rng = 5;
    char key[32];

    while (!atomic_load(&r->stop) && r->bad == 0) {
        uint64_t n = atomic_load(&r->published), id;
        size_t len = 0;
        int rc;

        if (n == 0)
            continue;
        id = et_rand_below(&rng, n);
        gen_value(want, sizeof(want), id, 1);
        rc = awc_kv_get(r->kv, key, wb_key(key, id), got, sizeof(got), &len);
        if (rc != AWC_OK || len != sizeof(want) || memcmp(got, want, sizeof(want)) != 0)
            r->bad = rc != AWC_OK ? rc : 1;
        r->gets++;
    }
    return NULL;
}

/* Puts of eleven times the frames' worth of log while another thread gets the items already put
 * (the write-behind thread writes the log back meanwhile), then a close right after the last
 * put, with no flush: the reopen has every item. */
static void test_write_behind(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "wb"), 2048 * PS, AWC_CREATE);
    struct wb_reader r = {0};
    pthread_t th;

    (void)state;
    r.kv = kv_open_ok(&cfg);
    assert_int_equal(pthread_create(&th, NULL, wb_reader_main, &r), 0);
    for (uint64_t id = 0; id < WB_ITEMS; id += 50) {
        ET_EXPECT(wb_put(r.kv, id, id + 50), AWC_OK);
        atomic_store(&r.published, id + 50);
    }
    atomic_store(&r.stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(r.bad, 0);
    assert_true(r.gets > 0);
    kv_close_ok(r.kv);
    cfg.flags = 0;
    r.kv = kv_open_ok(&cfg);
    assert_int_equal(kv_stats(r.kv).items, WB_ITEMS);
    wb_check(r.kv, WB_ITEMS);
    kv_close_ok(r.kv);
    et_unlink(p);
}

/* The write-behind thread writes the log back with no flush and no eviction to make it: frames
 * enough for every page put, and the pages written back grow by themselves after the puts. */
static void test_write_behind_alone(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "wbalone"), 2048 * PS, AWC_CREATE);
    struct awc_kv_stats st0, st;
    awc_kv_t *kv;
    uint64_t t0;

    (void)state;
    cfg.frame_budget = 1024 * PS; /* a request every 128 pages; ~350 pages put */
    kv = kv_open_ok(&cfg);
    st0 = kv_stats(kv);
    ET_EXPECT(wb_put(kv, 0, WB_ITEMS / 2), AWC_OK);
    t0 = et_now_ns();
    do {
        st = kv_stats(kv);
        if (st.cache.writebacks - st0.cache.writebacks >= 128)
            break;
        et_sleep_ms(1);
    } while (et_now_ns() - t0 < UINT64_C(20000000000));
    print_message("write-behind: %llu pages written back without a flush\n",
                  (unsigned long long)(st.cache.writebacks - st0.cache.writebacks));
    assert_true(st.cache.writebacks - st0.cache.writebacks >= 128);
    assert_int_equal(st.cache.frame_evictions, st0.cache.frame_evictions);
    assert_int_equal(st.cache.flushes, st0.cache.flushes);
    wb_check(kv, WB_ITEMS / 2);
    kv_close_ok(kv);
    et_unlink(p);
}

/* In a fork()ed child: the write-behind thread's write-backs fail (the process's file size limit,
 * lowered after the open, stops the file from growing: EFBIG) while puts go on (the frames hold
 * them all, so no eviction needs a write); the flush says AWC_EFBIG; once the limit is back, a
 * flush writes everything and the close succeeds. */
static int wb_fail_child(void *path)
{
    struct awc_kv_config cfg = kcfg(path, 2048 * PS, AWC_CREATE);
    struct rlimit rl, low;
    awc_kv_t *kv = NULL;

    signal(SIGXFSZ, SIG_IGN);
    cfg.frame_budget = 1024 * PS;
    if (awc_kv_open(&cfg, &kv) != AWC_OK)
        return 10;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 11;
    low = rl;
    low.rlim_cur = et_file_size(path); /* the meta pages' segment: the log cannot grow */
    if (setrlimit(RLIMIT_FSIZE, &low) != 0)
        return 12;
    if (wb_put(kv, 0, WB_ITEMS / 2) != AWC_OK) /* ~350 pages: write-behind rounds, failing */
        return 13;
    if (awc_kv_flush(kv) != AWC_EFBIG)
        return 14;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 15;
    if (wb_put(kv, WB_ITEMS / 2, WB_ITEMS / 2 + 10) != AWC_OK)
        return 16;
    if (awc_kv_flush(kv) != AWC_OK)
        return 17;
    return awc_kv_close(kv) == AWC_OK ? 0 : 18;
}

static void test_write_behind_fails(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "wbfail"), 0, 0);
    awc_kv_t *kv;

    (void)state;
    assert_int_equal(tu_run_child(wb_fail_child, p), 0);
    kv = kv_open_ok(&cfg);
    assert_int_equal(kv_stats(kv).items, WB_ITEMS / 2 + 10);
    wb_check(kv, WB_ITEMS / 2 + 10);
    kv_close_ok(kv);
    et_unlink(p);
}

/* ---- Time to live ------------------------------------------------------------------------ */

static void test_ttl(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "ttl"), 256 * PS, AWC_CREATE);
    struct awc_kv_stats st0, st;
    awc_kv_t *kv = kv_open_ok(&cfg);

    (void)state;
    atomic_store(&fake_now, START_MS);
    put_at(__FILE__, __LINE__, kv, SK("t1"), 1, 1, 100, 1000);
    put_at(__FILE__, __LINE__, kv, SK("t2"), 2, 1, 2 * PS, 5000);
    put_at(__FILE__, __LINE__, kv, SK("forever"), 3, 1, 50, 0);
    put_at(__FILE__, __LINE__, kv, SK("huge-ttl"), 4, 1, 50, UINT64_MAX); /* no wrap-around */
    put_at(__FILE__, __LINE__, kv, SK("renewed"), 5, 1, 50, 1000);
    put_at(__FILE__, __LINE__, kv, SK("cleared"), 6, 1, 50, 1000);
    advance_ms(500);
    put_at(__FILE__, __LINE__, kv, SK("renewed"), 5, 2, 60, 1000); /* now until +1500 */
    put_at(__FILE__, __LINE__, kv, SK("cleared"), 6, 2, 60, 0);    /* never again */
    advance_ms(499);                                               /* +999 */
    EXPECT(kv, SK("t1"), 1, 1, 100);
    EXPECT_REF(kv, SK("t1"), 1, 1, 100);
    st0 = kv_stats(kv);
    assert_int_equal(st0.items, 6);
    assert_int_equal(st0.expired, 0);
    advance_ms(2); /* +1001: t1 is past its time */
    MISSING(kv, SK("t1"));
    st = kv_stats(kv);
    assert_int_equal(st.expired, st0.expired + 1);
    assert_int_equal(st.items, st0.items - 1);
    assert_true(st.misses >= st0.misses + 1);
    MISSING(kv, SK("t1")); /* gone: no second expiry */
    ET_EXPECT(awc_kv_delete(kv, SK("t1")), AWC_ENOTFOUND);
    st = kv_stats(kv);
    assert_int_equal(st.expired, st0.expired + 1);
    EXPECT(kv, SK("renewed"), 5, 2, 60);
    EXPECT(kv, SK("cleared"), 6, 2, 60);
    EXPECT(kv, SK("t2"), 2, 1, 2 * PS);

    /* expiry survives a reopen */
    kv_close_ok(kv);
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    EXPECT(kv, SK("t2"), 2, 1, 2 * PS);
    EXPECT(kv, SK("renewed"), 5, 2, 60);
    MISSING(kv, SK("t1"));
    advance_ms(500); /* +1501 */
    MISSING(kv, SK("renewed"));
    EXPECT(kv, SK("cleared"), 6, 2, 60);
    EXPECT(kv, SK("t2"), 2, 1, 2 * PS);
    /* expires while the cache is closed */
    kv_close_ok(kv);
    advance_ms(4000); /* +5501 */
    kv = kv_open_ok(&cfg);
    MISSING(kv, SK("t2"));
    {
        static struct awc_kv_ref ref;

        ET_EXPECT(ref_take(kv, SK("t2"), &ref), AWC_ENOTFOUND);
    }
    advance_ms(UINT64_C(1000) * 3600 * 24 * 365 * 10); /* ten years */
    EXPECT(kv, SK("forever"), 3, 1, 50);
    EXPECT(kv, SK("huge-ttl"), 4, 1, 50);
    EXPECT(kv, SK("cleared"), 6, 2, 60);
    /* a put with a time to live over an expired key */
    put_at(__FILE__, __LINE__, kv, SK("t1"), 1, 3, 10, 10);
    EXPECT(kv, SK("t1"), 1, 3, 10);
    advance_ms(10);
    advance_ms(1);
    MISSING(kv, SK("t1"));
    st = kv_stats(kv);
    assert_int_equal(st.items, 3);
    kv_close_ok(kv);
    et_unlink(p);
}

static void test_ttl_real_clock(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "ttlreal"), 256 * PS, AWC_CREATE);
    awc_kv_t *kv;

    (void)state;
    cfg.clock_ms = NULL;
    cfg.clock_arg = NULL;
    kv = kv_open_ok(&cfg);
    put_at(__FILE__, __LINE__, kv, SK("short"), 1, 1, 10, 1);
    put_at(__FILE__, __LINE__, kv, SK("long"), 2, 1, 10, 3600 * 1000);
    et_sleep_ms(20);
    MISSING(kv, SK("short"));
    EXPECT(kv, SK("long"), 2, 1, 10);
    assert_int_equal(kv_stats(kv).expired, 1);
    kv_close_ok(kv);
    et_unlink(p);
}

/* ---- Collisions -------------------------------------------------------------------------- */

#define NCOLL 300

/* Key i of the collision test: lengths 1 to 40; some keys are prefixes of others. */
static size_t coll_key(char *buf, int i)
{
    if (i < 26) { /* "a", "b", ... */
        buf[0] = (char)('a' + i);
        return 1;
    }
    if (i < 60) { /* "aa...a" of 1..34 letters past the single ones: prefixes of each other */
        memset(buf, 'a', (size_t)(i - 24));
        return (size_t)(i - 24);
    }
    return (size_t)snprintf(buf, 64, "collide-%d-%.*s", i, i % 20, "xxxxxxxxxxxxxxxxxxxxxxxx");
}

static void check_coll(awc_kv_t *kv, const int *version)
{
    char key[64];

    for (int i = 0; i < NCOLL; i++) {
        size_t n = coll_key(key, i);

        if (version[i] == 0)
            MISSING(kv, key, n);
        else
            EXPECT(kv, key, n, (uint64_t)i, (uint64_t)version[i], (size_t)(i * 7 % 500));
    }
}

static void test_collisions(void **state)
{
    char p[1024], key[64];
    struct awc_kv_config cfg =
        kcfg(et_path(p, sizeof(p), "coll"), 1024 * PS, AWC_CREATE | AWC_KV_WEAK_HASH);
    static int version[NCOLL];
    awc_kv_t *kv = kv_open_ok(&cfg);
    size_t n;

    (void)state;
    for (int i = 0; i < NCOLL; i++) {
        n = coll_key(key, i);
        PUT(kv, key, n, (uint64_t)i, 1, (size_t)(i * 7 % 500));
        version[i] = 1;
    }
    check_coll(kv, version);
    assert_int_equal(kv_stats(kv).items, NCOLL);
    /* delete every third, overwrite every fifth */
    for (int i = 0; i < NCOLL; i += 3) {
        n = coll_key(key, i);
        ET_EXPECT(awc_kv_delete(kv, key, n), AWC_OK);
        version[i] = 0;
        check_coll(kv, version);
    }
    for (int i = 0; i < NCOLL; i += 5) {
        n = coll_key(key, i);
        PUT(kv, key, n, (uint64_t)i, 2, (size_t)(i * 7 % 500));
        version[i] = 2;
    }
    check_coll(kv, version);
    kv_close_ok(kv);
    cfg.flags = AWC_KV_WEAK_HASH;
    kv = kv_open_ok(&cfg);
    check_coll(kv, version);
    for (int i = 1; i < NCOLL; i += 3) {
        n = coll_key(key, i);
        ET_EXPECT(awc_kv_delete(kv, key, n), AWC_OK);
        version[i] = 0;
    }
    check_coll(kv, version);
    kv_close_ok(kv);
    /* reopened without the flag (full hashes): the same items */
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    check_coll(kv, version);
    kv_close_ok(kv);
    et_unlink(p);
}

/* ---- Batched gets ----------------------------------------------------------------------- */

/* Gets keys[0..n) with one awc_kv_get_batch and each with awc_kv_get (buffers of cap bytes):
 * every result, length and value must agree. */
static void batch_vs_single(awc_kv_t *kv, size_t n, const void *const *keys, const size_t *klens,
                            size_t cap)
{
    uint8_t **bufs = xmalloc(n * sizeof(*bufs)), *one = xmalloc(cap + 1);
    size_t *caps = xmalloc(n * sizeof(*caps)), *lens = xmalloc(n * sizeof(*lens));
    int *results = xmalloc(n * sizeof(*results));

    for (size_t j = 0; j < n; j++) {
        bufs[j] = xmalloc(cap + 1);
        caps[j] = cap;
    }
    ET_EXPECT(awc_kv_get_batch(kv, n, keys, klens, (void *const *)bufs, caps, lens, results),
              AWC_OK);
    for (size_t j = 0; j < n; j++) {
        size_t len = 0;
        int rc = awc_kv_get(kv, keys[j], klens[j], one, cap, &len);

        if (rc != results[j] || (rc == AWC_OK || rc == AWC_ERANGE ? len : 0) != lens[j] ||
            (rc == AWC_OK && memcmp(one, bufs[j], len) != 0))
            fail_msg("item %zu of %zu: batched get %d (%zu bytes), single get %d (%zu bytes)%s", j,
                     n, results[j], lens[j], rc, len,
                     rc == AWC_OK && len == lens[j] ? ", other bytes" : "");
        free(bufs[j]);
    }
    free(bufs);
    free(one);
    free(caps);
    free(lens);
    free(results);
}

/* Key i of the batched get test. */
static size_t gb_key(char *b, unsigned i)
{
    return (size_t)snprintf(b, 32, "batch-%u", i);
}

#define GB_N 700u

/* A batched get answers as single gets do: values of 0 to 3 pages (records on one page and on
 * several), deleted and never-put keys, repeats, short buffers, a window of a few slots, keys
 * that share hashes; and its bad input. */
static void test_get_batch(void **state)
{
    static char keyb[GB_N + 40][32];
    const void *keys[GB_N + 40];
    size_t klens[GB_N + 40], len = 0, caps[2] = {PS, PS};
    char p[1024];
    void *bufs[2];
    int results[2];
    awc_kv_t *kv;

    (void)state;
    et_path(p, sizeof(p), "gbatch");
    for (unsigned i = 0; i < GB_N + 40; i++) {
        /* the last 40: 20 never put, then 20 repeats of earlier keys */
        klens[i] = gb_key(keyb[i], i < GB_N + 20 ? i : (i * 37) % GB_N);
        keys[i] = keyb[i];
    }
    for (int round = 0; round < 3; round++) {
        /* 0: the default window; 1: a window of 4 slots; 2: every key shares its hash with
         * many others */
        struct awc_kv_config cfg =
            kcfg(p, 2048 * PS, AWC_CREATE | AWC_EXCL | (round == 2 ? AWC_KV_WEAK_HASH : 0));

        if (round == 1)
            cfg.window_budget = 4 * PS;
        et_unlink(p);
        kv = kv_open_ok(&cfg);
        for (unsigned i = 0; i < GB_N; i++)
            PUT(kv, keyb[i], klens[i], i, 1, (size_t)(i * 131u % (3 * PS)));
        for (unsigned i = 0; i < GB_N; i += 9)
            ET_EXPECT(awc_kv_delete(kv, keyb[i], klens[i]), AWC_OK);
        batch_vs_single(kv, GB_N + 40, keys, klens, 3 * PS);
        batch_vs_single(kv, GB_N + 40, keys, klens, PS / 2); /* some AWC_ERANGE */
        batch_vs_single(kv, 1, keys + 5, klens + 5, 3 * PS);
        kv_close_ok(kv);
    }
    /* Bad input: per item, and for the call. */
    {
        struct awc_kv_config cfg = kcfg(p, 2048 * PS, 0);
        uint8_t b0[PS];
        size_t lens[2] = {7, 7}, big = AWC_KV_MAX_KEY + 1;
        const void *bad_keys[2] = {keys[1], keys[2]};
        size_t bad_klens[2] = {big, klens[2]};

        kv = kv_open_ok(&cfg);
        bufs[0] = b0;
        bufs[1] = NULL;
        ET_EXPECT(awc_kv_get_batch(kv, 2, bad_keys, bad_klens, bufs, caps, lens, results), AWC_OK);
        assert_int_equal(results[0], AWC_E2BIG);
        assert_int_equal(results[1], AWC_EINVAL); /* NULL buffer of PS bytes */
        assert_int_equal(lens[0], 0);
        bad_klens[0] = 0;
        caps[1] = 0;
        ET_EXPECT(awc_kv_get_batch(kv, 2, bad_keys, bad_klens, bufs, caps, lens, results), AWC_OK);
        assert_int_equal(results[0], AWC_EINVAL); /* empty key */
        assert_int_equal(results[1], AWC_ERANGE); /* size only: the value does not fit 0 bytes */
        assert_int_equal(lens[1], (size_t)(2 * 131u % (3 * PS)));
        ET_EXPECT(awc_kv_get_batch(kv, 0, NULL, NULL, NULL, NULL, NULL, NULL), AWC_OK);
        ET_EXPECT(awc_kv_get_batch(kv, 1, NULL, klens, bufs, caps, lens, results), AWC_EINVAL);
        ET_EXPECT(awc_kv_get_batch(kv, 1, keys, klens, bufs, caps, lens, NULL), AWC_EINVAL);
        ET_EXPECT(awc_kv_get_batch(NULL, 1, keys, klens, bufs, caps, lens, results), AWC_EINVAL);
        kv_close_ok(kv);
        ET_EXPECT(awc_kv_get_batch(kv, 1, keys, klens, bufs, caps, lens, results), AWC_ECLOSED);
        (void)len;
    }
    et_unlink(p);
}

/* ---- Eviction and restart ---------------------------------------------------------------- */

static void test_eviction(void **state)
{
    char p[1024], key[32];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "evict"), MIN_CAP, AWC_CREATE);
    enum { N = 3000 };
    static uint64_t pos[N]; /* log bytes written before item i */
    static size_t vlen[N];
    struct awc_kv_stats st;
    uint64_t written = 0, found = 0, bytes = 0, rng = 99;
    awc_kv_t *kv = kv_open_ok(&cfg);
    int first_found = -1;

    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "evict-%d", i);
        vlen[i] = (size_t)et_rand_below(&rng, 600);
        pos[i] = written;
        PUT(kv, SK(key), (uint64_t)i, 1, vlen[i]);
        written += item_bytes(strlen(key), vlen[i]);
    }
    st = kv_stats(kv);
    assert_true(written > 3 * MIN_CAP);
    assert_true(st.evictions > 0);
    assert_true(st.reclaims > 0);
    assert_true(st.log_used <= st.capacity);
    for (int round = 0; round < 2; round++) {
        found = bytes = 0;
        first_found = -1;
        for (int i = 0; i < N; i++) {
            uint8_t buf[600];
            size_t len = 0;
            int rc;

            snprintf(key, sizeof(key), "evict-%d", i);
            rc = awc_kv_get(kv, SK(key), buf, sizeof(buf), &len);
            if (rc == AWC_OK) {
                EXPECT(kv, SK(key), (uint64_t)i, 1, vlen[i]);
                found++;
                bytes += strlen(key) + vlen[i];
                if (first_found < 0)
                    first_found = i;
            } else if (rc != AWC_ENOTFOUND) {
                fail_msg("item %d: awc_kv_get returned %d (%s)", i, rc, awc_strerror(rc));
            } else if (written - pos[i] <= MIN_CAP / 4) {
                fail_msg("item %d, put %llu bytes before the end (capacity %llu), is gone", i,
                         (unsigned long long)(written - pos[i]), (unsigned long long)MIN_CAP);
            }
        }
        st = kv_stats(kv);
        assert_int_equal(st.items, found);
        assert_int_equal(st.bytes, bytes);
        if (round == 0)
            assert_int_equal(st.evictions + st.items, N); /* N distinct keys, no deletes */
        print_message("%s: %llu of %d items left (the newest %llu log bytes of %llu), %llu "
                      "evictions, %llu reclaims of %llu bytes\n",
                      round == 0 ? "after the puts" : "after a reopen", (unsigned long long)found,
                      N, (unsigned long long)(written - pos[first_found]),
                      (unsigned long long)written, (unsigned long long)st.evictions,
                      (unsigned long long)st.reclaims, (unsigned long long)st.region_bytes);
        /* what is left is the newest part of the log, without holes */
        for (int i = first_found; i < N; i++) {
            snprintf(key, sizeof(key), "evict-%d", i);
            EXPECT(kv, SK(key), (uint64_t)i, 1, vlen[i]);
        }
        kv_close_ok(kv);
        cfg.flags = 0;
        kv = kv_open_ok(&cfg);
        if (round == 0) {
            st = kv_stats(kv);
            assert_int_equal(st.items, found);
            assert_int_equal(st.recovered, found);
        }
    }
    kv_close_ok(kv);
    et_unlink(p);
}

static void test_warm_restart(void **state)
{
    char p[1024], key[32];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "warm"), 4096 * PS, AWC_CREATE);
    enum { N = 2000 };
    static uint64_t ver[N];
    static size_t vlen[N];
    struct awc_kv_stats st0, st;
    uint64_t rng = 7, bytes = 0, items = 0;
    awc_kv_t *kv = kv_open_ok(&cfg);

    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "warm-%d", i);
        vlen[i] = (size_t)et_rand_below(&rng, i % 50 == 0 ? 5 * PS : 300);
        ver[i] = 1;
        PUT(kv, SK(key), (uint64_t)i, 1, vlen[i]);
    }
    st0 = kv_stats(kv);
    assert_int_equal(st0.items, N);
    assert_int_equal(st0.evictions, 0);
    kv_close_ok(kv);
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    st = kv_stats(kv);
    assert_int_equal(st.items, N);
    assert_int_equal(st.bytes, st0.bytes);
    assert_int_equal(st.recovered, N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "warm-%d", i);
        EXPECT(kv, SK(key), (uint64_t)i, 1, vlen[i]);
    }
    /* overwrites and deletes, then a reopen (after a flush, then a close) */
    for (int i = 0; i < N; i += 3) {
        snprintf(key, sizeof(key), "warm-%d", i);
        if (i % 2) {
            ET_EXPECT(awc_kv_delete(kv, SK(key)), AWC_OK);
            ver[i] = 0;
        } else {
            vlen[i] = (size_t)et_rand_below(&rng, 2 * PS);
            ver[i] = 2;
            PUT(kv, SK(key), (uint64_t)i, 2, vlen[i]);
        }
    }
    ET_EXPECT(awc_kv_flush(kv), AWC_OK);
    kv_close_ok(kv);
    kv = kv_open_ok(&cfg);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "warm-%d", i);
        if (ver[i] == 0) {
            MISSING(kv, SK(key));
        } else {
            EXPECT(kv, SK(key), (uint64_t)i, ver[i], vlen[i]);
            items++;
            bytes += strlen(key) + vlen[i];
        }
    }
    st = kv_stats(kv);
    assert_int_equal(st.items, items);
    assert_int_equal(st.bytes, bytes);
    kv_close_ok(kv);
    et_unlink(p);
}

/* Puts version 1 of items 0 .. n-1 (key(i), len(i, 1) bytes) and records it in ver[]. */
static void put_first(awc_kv_t *kv, uint64_t *ver, unsigned n, size_t (*key)(char *, unsigned),
                      size_t (*len)(unsigned, uint64_t))
{
    char k[32];

    for (unsigned i = 0; i < n; i++) {
        ver[i] = 1;
        PUT(kv, k, key(k, i), i, 1, len(i, 1));
    }
}

/* ---- Checkpoints (engine/README.md 9.7) --------------------------------------------------- */

#define CK_N   3000u       /* items */
#define CK_CAP (2048 * PS) /* bytes of log: CK_N items take about a third of it */

/* Item i's value length at version v (0: deleted). */
static size_t ck_len(unsigned i, uint64_t v)
{
    return (size_t)((i * 131u + v * 57u) % (i % 97 == 0 ? 3 * PS : 400u));
}

static size_t ck_key(char *b, unsigned i)
{
    return (size_t)snprintf(b, 32, "ck-key-%u", i);
}

/* Every item is exactly version ver[i] (0: not found). */
static void ck_check(awc_kv_t *kv, const uint64_t *ver)
{
    char key[32];

    for (unsigned i = 0; i < CK_N; i++)
        if (ver[i] != 0)
            EXPECT(kv, key, ck_key(key, i), i, ver[i], ck_len(i, ver[i]));
        else
            MISSING(kv, key, ck_key(key, i));
}

/* Changes round r makes (one item in `step` put again, a few of them deleted): applied to kv
 * when it is not NULL, and to ver[] always. */
static void ck_change(awc_kv_t *kv, uint64_t *ver, unsigned r, unsigned step)
{
    char key[32];

    for (unsigned i = r % step; i < CK_N; i += step) {
        size_t kl = ck_key(key, i);

        if (i % 20 == r % 20) {
            if (kv != NULL)
                ET_EXPECT(awc_kv_delete(kv, key, kl), ver[i] != 0 ? AWC_OK : AWC_ENOTFOUND);
            ver[i] = 0;
            continue;
        }
        ver[i] = r + 2;
        if (kv != NULL)
            PUT(kv, key, kl, i, ver[i], ck_len(i, ver[i]));
    }
}

/* A new file with CK_N items (version 1), closed: its close took a checkpoint. */
static void ck_make(const char *p, uint64_t *ver)
{
    struct awc_kv_config cfg = kcfg(p, CK_CAP, AWC_CREATE | AWC_EXCL);
    awc_kv_t *kv;

    et_unlink(p);
    kv = kv_open_ok(&cfg);
    put_first(kv, ver, CK_N, ck_key, ck_len);
    kv_close_ok(kv);
}

/* Opens the file, checks how its index was built and every item, and closes it. */
static struct awc_kv_stats ck_reopen(const char *p, const uint64_t *ver, unsigned index,
                                     unsigned rejected)
{
    struct awc_kv_config cfg = kcfg(p, 0, 0);
    awc_kv_t *kv = kv_open_ok(&cfg);
    struct awc_kv_stats st = kv_stats(kv);

    assert_int_equal(st.open_index, index);
    assert_int_equal(st.open_checkpoint_rejected, rejected);
    ck_check(kv, ver);
    kv_close_ok(kv);
    return st;
}

/* The page cache under a key-value file, for changes that keep its pages' checksums valid. */
static awc_t *ck_pages(const char *p)
{
    struct awc_config c = {p, PS, 64 * PS, 16 * PS, AWC_NO_DIRECT};
    awc_t *cache = NULL;

    ET_EXPECT(awc_open(&c, &cache), AWC_OK);
    return cache;
}

/* Page `i` of checkpoint area `a` (engine/kv.h), and whether the file holds it. */
static uint64_t ck_area_page(unsigned a, uint64_t i)
{
    return KV_META_PAGES_T + CK_CAP / PS + (2 * (i / KV_CK_CHUNK_T) + a) * KV_CK_CHUNK_T +
           i % KV_CK_CHUNK_T;
}

/* A clean close, then reopens: the checkpoint is loaded (nothing scanned), twice (the second
 * close, with nothing changed, keeps it); after changes and a close, again. */
static void test_checkpoint_clean(void **state)
{
    char p[1024];
    static uint64_t ver[CK_N];
    struct awc_kv_config cfg;
    struct awc_kv_stats st, st2;
    awc_kv_t *kv;

    (void)state;
    ck_make(et_path(p, sizeof(p), "ck-clean"), ver);
    st = ck_reopen(p, ver, AWC_KV_INDEX_CHECKPOINT, 0);
    assert_true(st.open_scanned < ITEM_HDR); /* at most a page's unused end */
    assert_int_equal(st.open_loaded, CK_N);
    assert_int_equal(st.items, CK_N);
    assert_int_equal(st.recovered, CK_N);
    st2 = ck_reopen(p, ver, AWC_KV_INDEX_CHECKPOINT, 0);
    assert_true(st2.open_scanned < ITEM_HDR);
    assert_int_equal(st2.bytes, st.bytes);
    assert_int_equal(st2.index_slots, st.index_slots);
    cfg = kcfg(p, 0, 0);
    kv = kv_open_ok(&cfg);
    for (unsigned r = 0; r < 3; r++)
        ck_change(kv, ver, r, 3);
    st = kv_stats(kv);
    kv_close_ok(kv);
    st2 = ck_reopen(p, ver, AWC_KV_INDEX_CHECKPOINT, 0);
    assert_true(st2.open_scanned < ITEM_HDR);
    assert_int_equal(st2.items, st.items);
    assert_int_equal(st2.bytes, st.bytes);
    et_unlink(p);
}

/* A process that ends without closing (after a flush): the reopen loads the last checkpoint and
 * scans only the log written after it. */
static void test_checkpoint_crash(void **state)
{
    char p[1024];
    static uint64_t ver[CK_N];
    struct awc_kv_stats st;
    int status;
    pid_t pid;

    (void)state;
    ck_make(et_path(p, sizeof(p), "ck-crash"), ver);
    fflush(stdout);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct awc_kv_config cfg = kcfg(p, 0, 0);
        awc_kv_t *kv = NULL;

        if (awc_kv_open(&cfg, &kv) != AWC_OK)
            _exit(3);
        ck_change(kv, ver, 0, 40); /* a log shorter than twice a checkpoint: none is taken */
        _exit(awc_kv_flush(kv) == AWC_OK ? 0 : 4); /* no close: as a crash after the flush */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_change(NULL, ver, 0, 40);
    st = ck_reopen(p, ver, AWC_KV_INDEX_CHECKPOINT, 0);
    print_message("after the crash: %llu items from the checkpoint, %llu bytes of log scanned of "
                  "%llu in use\n",
                  (unsigned long long)st.open_loaded, (unsigned long long)st.open_scanned,
                  (unsigned long long)st.log_used);
    assert_int_equal(st.open_loaded, CK_N);
    assert_true(st.open_scanned > 0);
    assert_true(st.open_scanned < st.log_used / 2);
    et_unlink(p);
}

enum { CK_FLIP_RAW, CK_FLIP_PAGES, CK_FOREIGN, CK_V1, CK_N_CASES };

/* Each kind of bad checkpoint: the reopen scans (and says it could not use the checkpoint),
 * every item exact; the close takes a new one, which the next reopen loads:
 *   - a byte flipped on disk in each area's first page (the page fails its checksum);
 *   - a byte changed through the page cache (the page is whole; the digest fails);
 *   - the areas of another file of the same shape and contents (another file's id);
 *   - the meta pages rewritten as version 1 (before checkpoints): no checkpoint named, the file
 *     opens by scanning and is given checkpoints from then on. */
static void test_checkpoint_bad(void **state)
{
    char p[1024], q[1024];
    static uint64_t ver[CK_N], ver2[CK_N];

    (void)state;
    for (int kind = 0; kind < CK_N_CASES; kind++) {
        struct awc_file_info info;
        awc_t *c, *other = NULL;

        ck_make(et_path(p, sizeof(p), "ck-bad"), ver);
        if (kind == CK_FOREIGN)
            ck_make(et_path(q, sizeof(q), "ck-other"), ver2);
        ET_EXPECT(awc_get_file_info(p, &info), AWC_OK);
        if (kind == CK_FLIP_RAW) {
            for (unsigned a = 0; a < 2; a++)
                if (ck_area_page(a, 0) < info.pages)
                    et_flip_byte(p, awc_file_page_offset(&info, ck_area_page(a, 0)) + 300);
        } else {
            c = ck_pages(p);
            if (kind == CK_FOREIGN)
                other = ck_pages(q);
            for (unsigned a = 0; a < 2 && kind != CK_V1; a++)
                for (uint64_t i = 0; i < KV_CK_CHUNK_T && ck_area_page(a, i) < info.pages; i++) {
                    uint64_t pg = ck_area_page(a, i);
                    void *d, *src;

                    ET_EXPECT(awc_pin(c, pg, AWC_EXCLUSIVE, &d), AWC_OK);
                    if (kind == CK_FLIP_PAGES) {
                        ((uint8_t *)d)[300] ^= 0x10;
                    } else {
                        ET_EXPECT(awc_pin(other, pg, AWC_SHARED, &src), AWC_OK);
                        memcpy(d, src, PS);
                        ET_EXPECT(awc_unpin(other, pg, 0), AWC_OK);
                    }
                    ET_EXPECT(awc_unpin(c, pg, 1), AWC_OK);
                }
            for (uint64_t pg = 0; pg < KV_META_PAGES_T && kind == CK_V1; pg++) {
                uint8_t *b;
                void *d;

                ET_EXPECT(awc_pin(c, pg, AWC_EXCLUSIVE, &d), AWC_OK);
                b = d;
                if (b[8] == 2) { /* version 2: header as version 1's, its check at 64 */
                    uint64_t check;

                    b[8] = 1;
                    memset(b + 64, 0, 64);
                    check = XXH3_64bits(b, 64);
                    for (int k = 0; k < 8; k++)
                        b[64 + k] = (uint8_t)(check >> (8 * k));
                }
                ET_EXPECT(awc_unpin(c, pg, 1), AWC_OK);
            }
            ET_EXPECT(awc_close(c), AWC_OK);
            if (other != NULL)
                ET_EXPECT(awc_close(other), AWC_OK);
        }
        ck_reopen(p, ver, AWC_KV_INDEX_SCAN, kind != CK_V1);
        ck_reopen(p, ver, AWC_KV_INDEX_CHECKPOINT, 0);
        et_unlink(p);
        if (kind == CK_FOREIGN)
            et_unlink(q);
    }
}

/* ---- Damage in the durable log ----------------------------------------------------------- */
/*
 * A closed cache's file with one log page damaged (zeroed, or one byte flipped) before the meta
 * page's durable head: the reopen may drop items, but never returns a value older than the
 * latest put or delete (README 9.5): the page lost may hold a later put or a delete of any
 * item before it.
 */

#define DL_N    400   /* keys */
#define DL_DEL  13    /* of them deleted */
#define DL_PAGE 1024u /* pages of log: it does not wrap */
#define DL_VMAX 512u  /* bytes: more than any value (dl_len) */

static size_t dl_key(char *b, unsigned i)
{
    return (size_t)snprintf(b, 16, "dl-%03u", i);
}

static size_t dl_len(unsigned i, uint64_t version)
{
    return 150 + (size_t)((i * 37u + version * 101u) % 300u);
}

/* The page (of the page cache: a log page) of the last copy of key[0..klen) in the file image,
 * or 0: the page of the key's latest record, in a log that has not wrapped. */
static uint64_t dl_last_page(const uint8_t *img, const struct awc_file_info *info,
                             uint64_t log_pages, const char *key, size_t klen)
{
    uint64_t found = 0;

    for (uint64_t page = 2; page < 2 + log_pages && page < info->pages; page++)
        if (memmem(img + awc_file_page_offset(info, page), PS, key, klen) != NULL)
            found = page;
    return found;
}

/* Gets key i: the value must be exactly version ver[i] (0: deleted, never found) or
 * AWC_ENOTFOUND (or AWC_ECHECKSUM, once: then AWC_ENOTFOUND). Returns whether it was found. */
static bool dl_get(awc_kv_t *kv, unsigned i, const uint64_t *ver, const char *when)
{
    static uint8_t want[DL_VMAX], got[DL_VMAX];
    char key[16];
    size_t kl = dl_key(key, i), len = 0;
    int rc = awc_kv_get(kv, key, kl, got, sizeof(got), &len);

    if (rc == AWC_ECHECKSUM) {
        ET_EXPECT(awc_kv_get(kv, key, kl, got, sizeof(got), &len), AWC_ENOTFOUND);
        return false;
    }
    if (rc == AWC_ENOTFOUND)
        return false;
    if (rc != AWC_OK)
        fail_msg("%s: key %u: awc_kv_get returned %d (%s)", when, i, rc, awc_strerror(rc));
    if (ver[i] == 0)
        fail_msg("%s: key %u, deleted (and flushed), reads back (%zu bytes)", when, i, len);
    gen_value(want, dl_len(i, ver[i]), i, ver[i]);
    if (len != dl_len(i, ver[i]) || memcmp(got, want, len) != 0)
        fail_msg("%s: key %u reads back %zu bytes that are not its latest value (version %llu)",
                 when, i, len, (unsigned long long)ver[i]);
    return true;
}

/* Zeroes the first page of each checkpoint area the file holds (past log_pages pages of log;
 * engine/kv.h draws the areas, in chunks of 256 pages): the next open must scan the log. Returns
 * how many it zeroed. */
static unsigned zero_checkpoints(const char *p, uint64_t log_pages)
{
    static const uint8_t zeros[PS];
    struct awc_file_info info;
    unsigned n = 0;

    ET_EXPECT(awc_get_file_info(p, &info), AWC_OK);
    for (uint64_t a = 0; a < 2; a++) {
        uint64_t page = KV_META_PAGES_T + log_pages + a * KV_CK_CHUNK_T;

        if (page < info.pages) {
            et_pwrite(p, zeros, PS, awc_file_page_offset(&info, page));
            n++;
        }
    }
    return n;
}

/* 400 keys put, 13 deleted, 200 put again; flushed and closed; then the page of the deletes'
 * tombstones zeroed (zero) or one byte of it flipped, and the file reopened twice (the second
 * time after new puts of the deleted keys). With `ckpt` the first reopen loads the close's
 * checkpoint and never meets the damage (no key but those on the damaged page is lost: the
 * tombstones there are in no slot of the index); without, the checkpoints are zeroed too and the
 * reopen scans the log (README 9.5 step 5: the items before the damage are dropped). */
static void damaged_log(bool zero, bool ckpt)
{
    char p[1024], key[16];
    const char *how = zero ? "zeroed tombstone page" : "flipped byte on the tombstone page";
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), zero ? "dlog-zero" : "dlog-flip"),
                                    DL_PAGE * PS, AWC_CREATE | AWC_EXCL);
    static uint64_t ver[DL_N], page_of[DL_N];
    struct awc_file_info info;
    struct awc_kv_stats st;
    unsigned found = 0, after = 0;
    uint64_t n, damaged;
    uint8_t *img;
    awc_kv_t *kv;

    et_unlink(p);
    kv = kv_open_ok(&cfg);
    put_first(kv, ver, DL_N, dl_key, dl_len);
    for (unsigned j = 0; j < DL_DEL; j++) {
        unsigned i = 20 * j + 7;

        ET_EXPECT(awc_kv_delete(kv, key, dl_key(key, i)), AWC_OK);
        ver[i] = 0;
    }
    for (unsigned i = 200; i < DL_N; i++) {
        if (ver[i] == 0)
            continue;
        ver[i] = 2;
        PUT(kv, key, dl_key(key, i), i, 2, dl_len(i, 2));
    }
    ET_EXPECT(awc_kv_flush(kv), AWC_OK);
    kv_close_ok(kv);

    /* The page of the first tombstone; every key's latest record's page. */
    ET_EXPECT(awc_get_file_info(p, &info), AWC_OK);
    img = slurp(p, &n);
    damaged = dl_last_page(img, &info, DL_PAGE, key, dl_key(key, 7));
    assert_true(damaged >= 2);
    for (unsigned i = 0; i < DL_N; i++) {
        page_of[i] = dl_last_page(img, &info, DL_PAGE, key, dl_key(key, i));
        assert_true(page_of[i] >= 2);
    }
    assert_true(page_of[DL_N - 1] > damaged + 2); /* the log goes on well after it */
    free(img);
    if (zero) {
        static const uint8_t zeros[PS];

        et_pwrite(p, zeros, PS, awc_file_page_offset(&info, damaged));
    } else {
        et_flip_byte(p, awc_file_page_offset(&info, damaged) + PS / 2);
    }
    if (!ckpt)
        assert_true(zero_checkpoints(p, DL_PAGE) > 0);

    /* Reopen: no deleted key comes back, every other key is its latest value or not found, and
     * every key whose latest record lies after the damaged page is there. */
    cfg.flags = 0;
    kv = kv_open_ok(&cfg);
    st = kv_stats(kv);
    for (unsigned i = 0; i < DL_N; i++) {
        bool f = dl_get(kv, i, ver, how);

        found += f;
        if (page_of[i] > damaged && ver[i] != 0) {
            after++;
            if (!f)
                fail_msg("%s: key %u, whose latest record is on page %llu after the damaged "
                         "page %llu, is lost",
                         how, i, (unsigned long long)page_of[i], (unsigned long long)damaged);
        }
    }
    print_message("%s (page %llu, %s): %u of %u keys found (%u after the damage), %llu items "
                  "dropped as damaged\n",
                  how, (unsigned long long)damaged, ckpt ? "checkpoint" : "scan", found, DL_N,
                  after, (unsigned long long)st.dropped_damaged);
    assert_int_equal(st.open_index, ckpt ? AWC_KV_INDEX_CHECKPOINT : AWC_KV_INDEX_SCAN);
    assert_int_equal(st.open_checkpoint_rejected, !ckpt);
    if (ckpt)
        assert_int_equal(st.dropped_damaged, 0);
    else
        assert_true(st.dropped_damaged > 0);
    assert_true(!ckpt || found >= DL_N - DL_DEL - 8);
    assert_true(after > 100);
    assert_int_equal(st.items, found);

    /* The cache works on: the deleted keys put again, a reopen (the damage is still there). */
    for (unsigned j = 0; j < DL_DEL; j++) {
        unsigned i = 20 * j + 7;

        ver[i] = 3;
        PUT(kv, key, dl_key(key, i), i, 3, dl_len(i, 3));
    }
    kv_close_ok(kv);
    kv = kv_open_ok(&cfg);
    for (unsigned i = 0; i < DL_N; i++) {
        bool f = dl_get(kv, i, ver, how);

        if (!f && (ver[i] == 3 || (page_of[i] > damaged && ver[i] != 0)))
            fail_msg("%s: key %u is lost after a second reopen", how, i);
    }
    kv_close_ok(kv);
    et_unlink(p);
}

static void test_damaged_log_zero(void **state)
{
    (void)state;
    damaged_log(true, false);
    damaged_log(true, true);
}

static void test_damaged_log_flip(void **state)
{
    (void)state;
    damaged_log(false, false);
    damaged_log(false, true);
}

/* The log ends on a damaged page: a closed cache whose last record is a value of several pages,
 * with the page where it ends damaged (a byte after its end flipped). The reopen keeps the items
 * before it (the damage is past the durable head's record boundary: the value's end is where
 * the log ended) and the value itself reads back damaged, not as other bytes; and the next
 * reopen, whose durable head is past that page, still keeps them: the page was written anew
 * (README 9.5 step 4), so no damage is left before its durable head. */
static void test_damaged_log_end(void **state)
{
    char p[1024], key[16];
    struct awc_kv_config cfg =
        kcfg(et_path(p, sizeof(p), "dlog-end"), 256 * PS, AWC_CREATE | AWC_EXCL);
    const size_t big = 3 * PS + 1000;
    struct awc_file_info info;
    uint8_t *img, *tail = xmalloc(big);
    uint64_t n, page = 0;
    const uint8_t *at;
    awc_kv_t *kv;
    int rc;

    (void)state;
    et_unlink(p);
    kv = kv_open_ok(&cfg);
    for (unsigned i = 0; i < 50; i++)
        PUT(kv, key, dl_key(key, i), i, 1, dl_len(i, 1));
    PUT(kv, SK("big"), 1000, 1, big);
    kv_close_ok(kv);

    /* The page holding the big value's last bytes: flip its last byte (after the value). */
    ET_EXPECT(awc_get_file_info(p, &info), AWC_OK);
    img = slurp(p, &n);
    gen_value(tail, big, 1000, 1);
    at = memmem(img, (size_t)n, tail + big - 64, 64);
    assert_non_null(at);
    for (uint64_t pg = 2; pg < 2 + 256; pg++)
        if ((uint64_t)(at - img) >= awc_file_page_offset(&info, pg) &&
            (uint64_t)(at - img) < awc_file_page_offset(&info, pg) + PS)
            page = pg;
    assert_true(page >= 2);
    assert_true((uint64_t)(at + 64 - img) < awc_file_page_offset(&info, page) + PS - ITEM_HDR);
    et_flip_byte(p, awc_file_page_offset(&info, page) + PS - 1);
    free(img);
    free(tail);

    cfg.flags = 0;
    for (int round = 0; round < 2; round++) {
        uint8_t *buf = xmalloc(big);
        size_t len = 0;

        kv = kv_open_ok(&cfg);
        assert_int_equal(kv_stats(kv).dropped_damaged, 0);
        for (unsigned i = 0; i < 50 + 20 * (unsigned)round; i++)
            EXPECT(kv, key, dl_key(key, i), i, 1, dl_len(i, 1));
        rc = awc_kv_get(kv, SK("big"), buf, big, &len);
        free(buf);
        ET_EXPECT2(rc, AWC_ECHECKSUM, AWC_ENOTFOUND);
        for (unsigned i = 50; round == 0 && i < 70; i++)
            PUT(kv, key, dl_key(key, i), i, 1, dl_len(i, 1));
        kv_close_ok(kv);
    }
    et_unlink(p);
}

/* ---- A damaged newest meta page, a lap later (README 9.5 step 6) ---------------------------- */

#define LAP_KEYS 40u

/* The keys a get finds, checked against the stats' item count. */
static void lap_check(awc_kv_t *kv, uint8_t *buf, uint64_t round, const char *when)
{
    struct awc_kv_stats st = kv_stats(kv);
    uint64_t found = 0;
    char key[16];
    size_t vl;

    for (unsigned k = 0; k < LAP_KEYS; k++) {
        int rc;

        snprintf(key, sizeof(key), "lap%05u", k);
        rc = awc_kv_get(kv, key, 8, buf, 3 * PS, &vl);
        if (rc != AWC_ENOTFOUND)
            ET_EXPECT(rc, AWC_OK);
        found += rc == AWC_OK;
    }
    if (st.items != found)
        fail_msg("round %llu, %s: the stats count %llu items, gets find %llu",
                 (unsigned long long)round, when, (unsigned long long)st.items,
                 (unsigned long long)found);
}

/* n puts of random keys of LAP_KEYS, of values `big` (one to two pages: their records start
 * anywhere in a page, and so do the regions' first records) or small (16 to 144 bytes). */
static void lap_puts(awc_kv_t *kv, uint64_t *rng, const uint8_t *val, uint64_t n, bool big)
{
    char key[16];

    for (uint64_t i = 0; i < n; i++) {
        size_t vl = big ? PS + et_rand_below(rng, PS) : 16 + et_rand_below(rng, 128);

        snprintf(key, sizeof(key), "lap%05u", (unsigned)et_rand_below(rng, LAP_KEYS));
        ET_EXPECT(awc_kv_put(kv, key, 8, val, vl, 0), AWC_OK);
    }
}

static void test_damaged_meta_lap(void **state)
{
    char p[1024];
    uint8_t *val = xmalloc(3 * PS), *buf = xmalloc(3 * PS);
    uint64_t rounds = et_env_u64("AWC_KV_LAP_ROUNDS", 60), seed = et_env_u64("AWC_KV_SEED", 7);

    (void)state;
    memset(val, 0x5a, 3 * PS);
    et_path(p, sizeof(p), "lap");
    for (uint64_t round = 0; round < rounds; round++) {
        uint64_t rng = (seed + round) | 1, seq[KV_META_PAGES_T];
        struct awc_kv_config cfg = kcfg(p, 64 * PS, AWC_CREATE);
        struct awc_config pc = et_cfg(p, PS, 16, 16, 0);
        awc_kv_t *kv;
        awc_t *c;
        void *ptr;

        et_unlink(p);
        kv = kv_open_ok(&cfg);
        /* Past one lap (reclaims), a durable point, then small puts: the first that needs the
         * tail's region reclaims it, and the next durable point (forced once the head passes a
         * lap past the durable tail) comes only after a few more: the close's meta page, here
         * usually, has the tail moved past the older one's region and the head inside it. */
        lap_puts(kv, &rng, val, 40 + et_rand_below(&rng, 60), true);
        ET_EXPECT(awc_kv_flush(kv), AWC_OK);
        lap_puts(kv, &rng, val, 1 + et_rand_below(&rng, 80), false);
        kv_close_ok(kv);
        /* The newer meta page (its sequence number at byte 32) gets its head changed: its check
         * fails, and the open takes the older one. */
        c = et_open(&pc);
        for (uint64_t pg = 0; pg < KV_META_PAGES_T; pg++) {
            ET_EXPECT(awc_pin(c, pg, AWC_SHARED, &ptr), AWC_OK);
            memcpy(&seq[pg], (uint8_t *)ptr + 32, 8);
            ET_EXPECT(awc_unpin(c, pg, 0), AWC_OK);
        }
        ET_EXPECT(awc_pin(c, seq[1] > seq[0], AWC_EXCLUSIVE, &ptr), AWC_OK);
        ((uint8_t *)ptr)[48] ^= 0x40;
        ET_EXPECT(awc_unpin(c, seq[1] > seq[0], 1), AWC_OK);
        et_close(c);
        cfg.flags = 0;
        kv = kv_open_ok(&cfg);
        lap_check(kv, buf, round, "after the open");
        lap_puts(kv, &rng, val, 40 + et_rand_below(&rng, 60), true);
        lap_check(kv, buf, round, "after more puts");
        kv_close_ok(kv);
    }
    et_unlink(p);
    free(val);
    free(buf);
}

/* A page-cache file with no key-value meta page (made by awc_open and awc_close, no pages
 * written), and a file of no bytes: not key-value caches (AWC_EBADFILE, the file untouched),
 * except with AWC_CREATE and a capacity, which makes a new cache in them (what an awc_kv_open
 * that crashed while creating the file leaves is such a file). */
static void test_empty_files(void **state)
{
    char p[1024];
    struct awc_config pc =
        et_cfg(et_path(p, sizeof(p), "empty-pc"), PS, 16, 16, AWC_CREATE | AWC_EXCL);
    struct awc_kv_config cfg;
    awc_kv_t *kv = NULL;
    uint8_t *img, *img2;
    uint64_t n, n2;

    (void)state;
    for (int zero_length = 0; zero_length < 2; zero_length++) {
        et_unlink(p);
        if (zero_length)
            et_pwrite(p, "", 0, 0);
        else
            et_close(et_open(&pc));
        img = slurp(p, &n);
        cfg = kcfg(p, 0, 0);
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_EBADFILE);
        cfg = kcfg(p, 256 * PS, 0);
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_EBADFILE);
        cfg = kcfg(p, 0, AWC_CREATE);
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_EBADFILE);
        cfg = kcfg(p, 256 * PS, AWC_EXCL);
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_EBADFILE);
        cfg = kcfg(p, 0, AWC_CREATE | AWC_EXCL);
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_EEXIST);
        img2 = slurp(p, &n2);
        assert_int_equal(n2, n);
        if (n > 0)
            assert_memory_equal(img2, img, n);
        free(img);
        free(img2);
        cfg = kcfg(p, 256 * PS, AWC_CREATE | AWC_EXCL);
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_EEXIST);
        cfg = kcfg(p, 256 * PS, AWC_CREATE);
        kv = kv_open_ok(&cfg);
        PUT(kv, SK("e"), 5, 1, 100);
        kv_close_ok(kv);
        cfg = kcfg(p, 0, 0);
        kv = kv_open_ok(&cfg);
        EXPECT(kv, SK("e"), 5, 1, 100);
        kv_close_ok(kv);
    }
    et_unlink(p);
}

/* ---- The model --------------------------------------------------------------------------- */
/*
 * A random sequence of operations on a small cache (eviction all the time), each checked
 * against a plain model of what the cache may hold. Per key the model keeps the latest put
 * (version, length, expiry) or that the latest operation was a delete. A get must return exactly
 * the latest value, or AWC_ENOTFOUND where the cache may not have it:
 *   - deleted (or never put): must be not-found;
 *   - past its expiry: must be not-found (at the expiry's exact millisecond, either);
 *   - old: eviction may have taken it once `age` bytes of log were written after it, counted
 *     conservatively: each put or delete counts its item twice (for the padding an item that
 *     does not fit the rest of a page leaves) plus a page if it is over a page, a flush a page,
 *     a reopen a region and a page; an item is evictable once its age reaches the capacity
 *     less four regions;
 *   - once a get saw it gone, it stays gone until the next put of the key (eviction is final);
 *     only a reopen may bring an evicted item back (the scan may find its bytes), and then only
 *     with its latest value.
 * A reference (awc_kv_get_ref) is sometimes held across later operations: its bytes must not
 * change until its release; puts, deletes and flushes meanwhile fail with AWC_EDEADLK (this
 * thread holds a reference), leaving the cache as it was, and a close with AWC_EBUSY.
 * Before some reopens the closed file is damaged (m_damage). The reopen then succeeds or, when
 * no key-value cache is left (the file truncated), says AWC_EBADFILE (the test starts a new
 * file). Every get right after it returns the key's latest value (the close flushed every
 * operation), AWC_ENOTFOUND or AWC_ECHECKSUM, never another value; then the model drops the
 * keys the cache lost (m_reconcile), and from there on it is checked as exactly as before. The
 * damage stays in the file: later reopens meet it again and must drop nothing more.
 */

#define M_KEYS    300
#define M_BIG_VAL (40 * 1024) /* the largest value */
#define M_CAP     (128 * PS)

struct mkey {
    uint8_t *key;
    size_t klen;
    bool present;     /* the latest operation was a put */
    uint64_t version; /* of the latest put */
    size_t vlen;
    uint64_t expiry;  /* ms; 0: none */
    uint64_t wpos;    /* the model's log position at the put */
    unsigned gone_in; /* the session a get saw it gone (evicted) in, + 1; 0: not seen gone */
    uint64_t put_ms;  /* the clock at the put */
    unsigned put_in;  /* the session of the put */
};

enum {
    OP_PUT,
    OP_GET,
    OP_GET_REF,
    OP_DELETE,
    OP_TICK,
    OP_SIZE,
    OP_SHORT,
    OP_RELEASE,
    OP_FLUSH,
    OP_REOPEN,
    OP_STATS,
    OP_N
};
/* Damage to the closed file before a reopen (m_damage), in AWC_KV_DAMAGE_PCT % of the reopens
 * (default 30). */
enum { M_ZERO_PAGE, M_FLIP_BYTES, M_TRUNCATE, M_DROP_SEGMENT, M_CHECKPOINT, M_DAMAGE_N };
static const char *const damage_names[M_DAMAGE_N] = {"a page zeroed", "bytes flipped", "truncated",
                                                     "last segment dropped",
                                                     "checkpoint bytes flipped"};

static const char *const op_names[OP_N] = {"put",   "get",     "get_ref", "delete", "tick", "size",
                                           "short", "release", "flush",   "reopen", "stats"};

struct model {
    awc_kv_t *kv;
    struct awc_kv_config cfg;
    uint64_t region, evict_age;
    struct mkey keys[M_KEYS];
    uint64_t w; /* the model's log position: conservative bytes written */
    uint64_t rng;
    unsigned session;
    uint8_t *want, *got;
    /* the held reference */
    bool held;
    struct awc_kv_ref ref;
    size_t ref_key;
    uint8_t *ref_bytes;
    size_t ref_len;
    /* per session, for the stats */
    uint64_t puts, deletes;
    struct awc_kv_stats st0;
    /* what happened */
    uint64_t ops[OP_N], found, not_found, evicted_seen, expired_seen, edeadlk, resurrected;
    uint64_t op_index;
    /* damage between a close and the reopen (m_damage), before damage_pct % of the reopens */
    uint64_t damage_pct;
    bool damaged; /* the file has been damaged since it was made */
    /* how the next open must build its index: AWC_KV_INDEX_CHECKPOINT after a clean close,
     * AWC_KV_INDEX_SCAN after checkpoint damage (m_damage), UINT_MAX: either */
    unsigned expect_index;
    uint64_t ck_loads, ck_rejects;      /* opens that loaded a checkpoint; that could not use it */
    unsigned ck_damaged_in;             /* the session opened over a damaged checkpoint */
    uint64_t damages[M_DAMAGE_N];       /* of each kind */
    uint64_t damage_lost, damage_sums;  /* keys lost to it; of them, reading back damaged */
    uint64_t damage_dropped, recreated; /* items the scans dropped; files no longer caches */
};

static uint64_t m_cons(size_t klen, size_t vlen)
{
    uint64_t b = ((uint64_t)CONS_HDR + klen + vlen + 7) & ~(uint64_t)7;

    return b <= PS ? 2 * b : 2 * b + PS;
}

static bool m_evictable(const struct model *m, const struct mkey *e)
{
    return m->w - e->wpos >= m->evict_age;
}

/* What the model allows for key k now: must it be found, may it be found. */
static void m_allow(const struct model *m, const struct mkey *e, bool *must, bool *may)
{
    uint64_t now = now_ms();
    bool may_expired = e->expiry != 0 && now >= e->expiry;
    bool must_expired = e->expiry != 0 && now > e->expiry;
    bool gone_now = e->gone_in == m->session + 1;

    *may = e->present && !must_expired && !gone_now;
    *must = e->present && !may_expired && e->gone_in == 0 && !m_evictable(m, e);
}

#define M_FAIL(m, k, ...)                                                                          \
    do {                                                                                           \
        const struct mkey *e_ = &(m)->keys[k];                                                     \
        print_message("op %llu, key %zu (%zu bytes): present %d version %llu length %zu expiry "   \
                      "%llu (now %llu, put at %llu in session %u) age %llu (evictable at %llu) "   \
                      "gone_in %u session %u\n",                                                   \
                      (unsigned long long)(m)->op_index, (size_t)(k), e_->klen, e_->present,       \
                      (unsigned long long)e_->version, e_->vlen, (unsigned long long)e_->expiry,   \
                      (unsigned long long)now_ms(), (unsigned long long)e_->put_ms, e_->put_in,    \
                      (unsigned long long)((m)->w - e_->wpos), (unsigned long long)(m)->evict_age, \
                      e_->gone_in, (m)->session);                                                  \
        fail_msg(__VA_ARGS__);                                                                     \
    } while (0)

/* A found value (len bytes in m->got) must be the key's latest. */
static void m_check_found(struct model *m, size_t k, size_t len, const char *how)
{
    struct mkey *e = &m->keys[k];
    bool must, may;

    m_allow(m, e, &must, &may);
    if (!may)
        M_FAIL(m, k, "%s found a value (%zu bytes) that the key must not have", how, len);
    if (len != e->vlen)
        M_FAIL(m, k, "%s: the value is %zu bytes, the latest put %zu", how, len, e->vlen);
    gen_value(m->want, len, k, e->version);
    if (memcmp(m->want, m->got, len) != 0)
        M_FAIL(m, k, "%s: the value's bytes are not the latest put's", how);
    if (e->gone_in != 0)
        m->resurrected++;
    m->found++;
}

static void m_check_missing(struct model *m, size_t k, const char *how)
{
    struct mkey *e = &m->keys[k];
    bool must, may;

    m_allow(m, e, &must, &may);
    if (must)
        M_FAIL(m, k, "%s: AWC_ENOTFOUND for a key the cache must hold", how);
    m->not_found++;
    if (e->present) {
        if (e->expiry != 0 && now_ms() >= e->expiry) {
            m->expired_seen++;
            e->present = false; /* expired: gone for good */
        } else {
            m->evicted_seen++;
            e->gone_in = m->session + 1;
        }
    }
}

/* Opens the cache: AWC_OK, or after damage (m->damaged) AWC_EBADFILE too, returned. */
static int m_open(struct model *m)
{
    int rc;

    m->kv = NULL;
    rc = awc_kv_open(&m->cfg, &m->kv);
    if (rc == AWC_EBADFILE && m->damaged)
        return rc;
    ET_EXPECT(rc, AWC_OK);
    kv_keep(m->kv);
    m->session++;
    m->puts = m->deletes = 0;
    m->st0 = kv_stats(m->kv);
    assert_int_equal(m->st0.capacity, M_CAP);
    m->region = m->st0.region_bytes;
    assert_true(m->region >= PS && m->region <= M_CAP / 16);
    m->evict_age = M_CAP - 4 * m->region;
    /* a reopen may bring back an evicted item (its latest version): allowed again */
    for (size_t k = 0; k < M_KEYS; k++)
        if (m->keys[k].gone_in != 0)
            m->keys[k].gone_in = UINT_MAX; /* seen gone, in an earlier session */
    if (!m->damaged)
        assert_int_equal(m->st0.dropped_damaged, 0);
    m->damage_dropped += m->st0.dropped_damaged;
    /* README 9.7: a clean close's checkpoint is loaded, nothing scanned; a damaged one is not
     * used (the whole log is scanned) */
    if (m->expect_index != UINT_MAX) {
        assert_int_equal(m->st0.open_index, m->expect_index);
        assert_int_equal(m->st0.open_checkpoint_rejected, m->expect_index == AWC_KV_INDEX_SCAN);
        if (m->expect_index == AWC_KV_INDEX_CHECKPOINT)
            assert_true(m->st0.open_scanned < ITEM_HDR); /* at most a page's unused end */
        if (m->expect_index == AWC_KV_INDEX_SCAN)
            m->ck_damaged_in = m->session;
    }
    m->ck_loads += m->st0.open_index == AWC_KV_INDEX_CHECKPOINT;
    m->ck_rejects += m->st0.open_checkpoint_rejected;
    return AWC_OK;
}

static void m_release(struct model *m)
{
    const char *why;

    if (!m->held)
        return;
    why = ref_gather(&m->ref, m->got);
    if (why != NULL)
        M_FAIL(m, m->ref_key, "the held reference's shape changed: %s", why);
    if (m->ref.value_len != m->ref_len || memcmp(m->got, m->ref_bytes, m->ref_len) != 0)
        M_FAIL(m, m->ref_key, "the held reference's bytes changed before its release");
    ET_EXPECT(ref_drop(m->kv, &m->ref), AWC_OK);
    m->held = false;
}

static void m_stats(struct model *m)
{
    struct awc_kv_stats st = kv_stats(m->kv);
    uint64_t present = 0;

    for (size_t k = 0; k < M_KEYS; k++)
        present += m->keys[k].present;
    if (st.items > present)
        fail_msg("op %llu: the stats count %llu items, but at most %llu keys may be there",
                 (unsigned long long)m->op_index, (unsigned long long)st.items,
                 (unsigned long long)present);
    assert_int_equal(st.puts - m->st0.puts, m->puts);
    assert_int_equal(st.deletes - m->st0.deletes, m->deletes);
    assert_int_equal(st.capacity, M_CAP);
    assert_true(st.log_used <= st.capacity);
    if (!m->damaged) {
        /* (a session opened over a damaged checkpoint met its pages) */
        if (m->ck_damaged_in != m->session)
            assert_int_equal(st.cache.checksum_failures, 0);
        assert_int_equal(st.dropped_damaged, 0);
    }
}

static size_t m_pick_vlen(uint64_t *rng)
{
    uint64_t r = et_rand_below(rng, 100);

    if (r < 35)
        return (size_t)et_rand_below(rng, 65);
    if (r < 65)
        return (size_t)et_rand_below(rng, 1025);
    if (r < 96)
        return (size_t)et_rand_below(rng, 3 * PS + 1);
    return (size_t)et_rand_below(rng, M_BIG_VAL + 1);
}

static void m_put(struct model *m, size_t k)
{
    struct mkey *e = &m->keys[k];
    size_t vlen = m_pick_vlen(&m->rng);
    uint64_t ttl = et_rand_below(&m->rng, 100) < 15 ? 1 + et_rand_below(&m->rng, 3000) : 0;
    uint64_t version = e->version + 1;
    int rc;

    gen_value(m->want, vlen, k, version);
    rc = awc_kv_put(m->kv, e->key, e->klen, m->want, vlen, ttl);
    if (m->held) { /* this thread holds a reference: no writes */
        if (rc != AWC_EDEADLK)
            M_FAIL(m, k, "awc_kv_put with a reference held returned %d (%s), not AWC_EDEADLK", rc,
                   awc_strerror(rc));
        m->edeadlk++;
        m->w += m_cons(e->klen, vlen); /* it may have reclaimed regions */
        return;
    }
    if (rc != AWC_OK)
        M_FAIL(m, k, "awc_kv_put(value of %zu bytes, ttl %llu) returned %d (%s)", vlen,
               (unsigned long long)ttl, rc, awc_strerror(rc));
    m->puts++;
    e->present = true;
    e->version = version;
    e->vlen = vlen;
    e->put_ms = now_ms();
    e->put_in = m->session;
    e->expiry = ttl ? e->put_ms + ttl : 0;
    e->wpos = m->w;
    e->gone_in = 0;
    m->w += m_cons(e->klen, vlen);
}

static void m_delete(struct model *m, size_t k)
{
    struct mkey *e = &m->keys[k];
    bool must, may;
    int rc;

    m_allow(m, e, &must, &may);
    /* an expired item the cache has not noticed yet may still be deleted */
    may = may || (e->present && e->gone_in != m->session + 1);
    rc = awc_kv_delete(m->kv, e->key, e->klen);
    if (m->held) {
        if (rc != AWC_EDEADLK)
            M_FAIL(m, k, "awc_kv_delete with a reference held returned %d (%s), not AWC_EDEADLK",
                   rc, awc_strerror(rc));
        m->edeadlk++;
        m->w += m_cons(e->klen, 0);
        return;
    }
    if (rc == AWC_OK && !may)
        M_FAIL(m, k, "awc_kv_delete of a key the cache must not hold returned AWC_OK");
    if (rc == AWC_ENOTFOUND && must)
        M_FAIL(m, k, "awc_kv_delete of a key the cache must hold returned AWC_ENOTFOUND");
    if (rc != AWC_OK && rc != AWC_ENOTFOUND)
        M_FAIL(m, k, "awc_kv_delete returned %d (%s)", rc, awc_strerror(rc));
    m->deletes += rc == AWC_OK;
    e->present = false;
    e->gone_in = 0;
    m->w += m_cons(e->klen, 0);
}

/* Checks one get's answer (rc, the value's length len in a buffer of cap bytes, its bytes in
 * m->got) against the model; op as m_get's. */
static void m_get_result(struct model *m, size_t k, int op, int rc, size_t len, size_t cap,
                         const char *how)
{
    struct mkey *e = &m->keys[k];
    bool must, may;

    m_allow(m, e, &must, &may);
    if (rc == AWC_ENOTFOUND) {
        m_check_missing(m, k, op_names[op]);
        return;
    }
    if (rc == AWC_ERANGE && op != OP_GET && may && len == e->vlen && len > cap) {
        m->found++;
        return;
    }
    if (rc != AWC_OK)
        M_FAIL(m, k, "%s (%s, buffer of %zu bytes) returned %d (%s), value_len %zu", how,
               op_names[op], cap, rc, awc_strerror(rc), len);
    if (op != OP_GET && len > cap)
        M_FAIL(m, k, "%s returned AWC_OK with %zu bytes in a buffer of %zu", how, len, cap);
    if (op != OP_GET) {
        if (!may || len != e->vlen)
            M_FAIL(m, k, "%s (%s) returned AWC_OK for %zu bytes", how, op_names[op], len);
        m->found++;
        return;
    }
    m_check_found(m, k, len, how);
}

static void m_get(struct model *m, size_t k, int op)
{
    struct mkey *e = &m->keys[k];
    size_t len = SIZE_MAX, cap = M_BIG_VAL + 16;
    void *buf = m->got;
    int rc;

    if (op == OP_SIZE) {
        buf = NULL;
        cap = 0;
    } else if (op == OP_SHORT) {
        cap = e->vlen > 0 ? e->vlen - 1 : 0;
    }
    rc = awc_kv_get(m->kv, e->key, e->klen, buf, cap, &len);
    m_get_result(m, k, op, rc, len, cap, "awc_kv_get");
}

/* A batched get (awc_kv_get_batch) of k and up to 11 other keys (repeats possible), each
 * answer checked as a single get's: full buffers, or (one in four) buffers one byte short. */
#define M_BATCH 12
static void m_get_batch(struct model *m, size_t k)
{
    static uint8_t *bufs[M_BATCH];
    const void *keys[M_BATCH];
    size_t klens[M_BATCH], caps[M_BATCH], lens[M_BATCH], at[M_BATCH];
    size_t n = 1 + (size_t)et_rand_below(&m->rng, M_BATCH);
    bool short_bufs = et_rand_below(&m->rng, 4) == 0;
    int results[M_BATCH], rc;

    for (size_t j = 0; j < n; j++) {
        at[j] = j == 0 ? k : (size_t)et_rand_below(&m->rng, M_KEYS);
        if (bufs[j] == NULL)
            bufs[j] = xmalloc(M_BIG_VAL + 16);
        keys[j] = m->keys[at[j]].key;
        klens[j] = m->keys[at[j]].klen;
        caps[j] = short_bufs && m->keys[at[j]].vlen > 0 ? m->keys[at[j]].vlen - 1 : M_BIG_VAL + 16;
    }
    rc = awc_kv_get_batch(m->kv, n, keys, klens, (void *const *)bufs, caps, lens, results);
    if (rc != AWC_OK)
        M_FAIL(m, k, "awc_kv_get_batch of %zu keys returned %d (%s)", n, rc, awc_strerror(rc));
    for (size_t j = 0; j < n; j++) {
        if (results[j] == AWC_OK)
            memcpy(m->got, bufs[j], lens[j]);
        m_get_result(m, at[j], short_bufs ? OP_SHORT : OP_GET, results[j], lens[j], caps[j],
                     "awc_kv_get_batch");
    }
}

static void m_get_ref(struct model *m, size_t k)
{
    struct mkey *e = &m->keys[k];
    static struct awc_kv_ref local;
    struct awc_kv_ref *ref = &local;
    const char *why;
    bool hold = !m->held && et_rand_below(&m->rng, 8) == 0;
    int rc;

    if (hold)
        ref = &m->ref; /* (a reference is not to be copied: frags may point into it) */
    rc = ref_take(m->kv, e->key, e->klen, ref);
    if (rc == AWC_ENOTFOUND) {
        m_check_missing(m, k, "get_ref");
        return;
    }
    if (rc != AWC_OK)
        M_FAIL(m, k, "awc_kv_get_ref returned %d (%s)", rc, awc_strerror(rc));
    why = ref_gather(ref, m->got);
    if (why != NULL)
        M_FAIL(m, k, "get_ref of %zu bytes (%zu pieces): %s", ref->value_len, ref->nfrags, why);
    if (item_bytes(e->klen, ref->value_len) <= PS && ref->value_len > 0 && ref->nfrags != 1)
        M_FAIL(m, k, "an item within a page (%zu-byte value) came in %zu pieces", ref->value_len,
               ref->nfrags);
    m_check_found(m, k, ref->value_len, "get_ref");
    if (hold) {
        m->held = true;
        m->ref_key = k;
        m->ref_len = ref->value_len;
        memcpy(m->ref_bytes, m->got, ref->value_len);
        return;
    }
    ET_EXPECT(ref_drop(m->kv, ref), AWC_OK);
}

/* Damages the closed cache's file (the page cache's layout from awc_get_file_info): one page of
 * the key-value cache zeroed (a meta page or a log page), one to three bytes flipped in one 4 KiB
 * block of the part of the file in use (a superblock, the checksum block, a page), the file
 * truncated anywhere, or its last segment dropped (the cache is one segment: the truncations
 * leave no page). One block at a time: with the newest meta page damaged the older one's durable
 * head is taken, and damage to the log between the two is then taken for a crash's leftovers
 * (engine/README.md 9.5), which may show a value older than a flushed delete. */
static void m_damage(struct model *m)
{
    const char *path = m->cfg.path;
    uint64_t pages = KV_META_PAGES_T + M_CAP / PS, r = et_rand_below(&m->rng, 100), used;
    struct awc_file_info info;
    int kind = r < 20   ? M_CHECKPOINT
               : r < 45 ? M_ZERO_PAGE
               : r < 72 ? M_FLIP_BYTES
               : r < 87 ? M_TRUNCATE
                        : M_DROP_SEGMENT;

    ET_EXPECT(awc_get_file_info(path, &info), AWC_OK);
    used = awc_file_page_offset(&info, pages);
    assert_true(info.file_bytes >= used);
    m->damages[kind]++;
    if (kind == M_CHECKPOINT) {
        /* A byte of each checkpoint area's first page (the close took one): the reopen must
         * scan, and every get stays exact unless earlier damage is still in the log (m->damaged):
         * then the scan meets it and drops the items before it (README 9.5 step 5), which the
         * checkpoint-loaded opens since had kept, so m_reopen reconciles. */
        for (uint64_t a = 0; a < 2; a++) {
            uint64_t page = pages + a * KV_CK_CHUNK_T;

            if (page < info.pages)
                et_flip_byte(path, awc_file_page_offset(&info, page) + et_rand_below(&m->rng, PS));
        }
        m->expect_index = AWC_KV_INDEX_SCAN;
        return;
    }
    m->damaged = true;
    m->expect_index = UINT_MAX;
    switch (kind) {
    case M_ZERO_PAGE: {
        static const uint8_t zeros[PS];

        et_pwrite(path, zeros, PS, awc_file_page_offset(&info, et_rand_below(&m->rng, pages)));
        break;
    }
    case M_FLIP_BYTES: {
        uint64_t block = et_rand_below(&m->rng, used / PS) * PS;

        for (uint64_t i = 0, n = 1 + et_rand_below(&m->rng, 3); i < n; i++)
            et_flip_byte(path, block + et_rand_below(&m->rng, PS));
        break;
    }
    case M_TRUNCATE:
        et_truncate(path, et_rand_below(&m->rng, info.file_bytes));
        break;
    default:
        et_truncate(path, info.file_bytes - info.segment_bytes);
        break;
    }
}

/* After a damaged reopen: every key reads back as its latest value (every operation was flushed
 * by the close) or AWC_ENOTFOUND, or AWC_ECHECKSUM (its value on a damaged page); never another
 * value. Then the model forgets what the cache lost, so that the later steps are exact again; a
 * key that read back damaged is put and deleted, so that its damaged record, still in the log,
 * stays shadowed at later reopens. */
static void m_reconcile(struct model *m)
{
    for (size_t k = 0; k < M_KEYS; k++) {
        struct mkey *e = &m->keys[k];
        size_t len = SIZE_MAX;
        int rc = awc_kv_get(m->kv, e->key, e->klen, m->got, M_BIG_VAL + 16, &len);

        if (rc == AWC_OK) {
            m_check_found(m, k, len, "get after damage");
            continue;
        }
        if (rc != AWC_ENOTFOUND && rc != AWC_ECHECKSUM)
            M_FAIL(m, k, "get after damage returned %d (%s)", rc, awc_strerror(rc));
        m->damage_lost += e->present;
        e->present = false;
        e->gone_in = 0;
        if (rc == AWC_ECHECKSUM) {
            m->damage_sums++;
            m_put(m, k);
            m_delete(m, k);
        }
    }
}

static void m_reopen(struct model *m)
{
    bool damage = et_rand_below(&m->rng, 100) < m->damage_pct;

    if (m->held)
        ET_EXPECT(awc_kv_close(m->kv), AWC_EBUSY);
    m_release(m);
    m_stats(m);
    kv_close_ok(m->kv);
    m->expect_index = AWC_KV_INDEX_CHECKPOINT;
    if (damage)
        m_damage(m);
    m->cfg.capacity = et_rand_below(&m->rng, 2) ? M_CAP : 0;
    m->cfg.flags &= ~(unsigned)(AWC_CREATE | AWC_EXCL);
    if (m_open(m) != AWC_OK) {
        /* No key-value cache any more (truncated, or both meta pages or superblocks damaged):
         * a new one, and the model starts empty. */
        m->recreated++;
        et_unlink(m->cfg.path);
        m->cfg.capacity = M_CAP;
        m->cfg.flags |= AWC_CREATE | AWC_EXCL;
        m->damaged = false;
        m->expect_index = AWC_KV_INDEX_NEW;
        for (size_t k = 0; k < M_KEYS; k++) {
            m->keys[k].present = false;
            m->keys[k].gone_in = 0;
        }
        m_open(m);
    }
    m->w += m->region + PS;
    if (damage && (m->expect_index != AWC_KV_INDEX_SCAN || m->damaged))
        m_reconcile(m);
}

static void m_make_keys(struct model *m)
{
    for (size_t i = 0; i < M_KEYS; i++) {
        struct mkey *e = &m->keys[i];
        bool dup;

        e->key = xmalloc(AWC_KV_MAX_KEY);
        do {
            uint64_t r = et_rand_below(&m->rng, 100);

            if (i > 0 && m->keys[i - 1].klen > 1 && r < 8) { /* a prefix of the previous key */
                e->klen = 1 + (size_t)et_rand_below(&m->rng, m->keys[i - 1].klen - 1);
                memcpy(e->key, m->keys[i - 1].key, e->klen);
            } else {
                e->klen = r < 11   ? AWC_KV_MAX_KEY
                          : r < 16 ? 1 + (size_t)et_rand_below(&m->rng, 2)
                                   : 1 + (size_t)et_rand_below(&m->rng, 300);
                for (size_t j = 0; j < e->klen; j++)
                    e->key[j] = (uint8_t)(et_rand(&m->rng) % 4); /* a small alphabet */
            }
            dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = m->keys[j].klen == e->klen && memcmp(m->keys[j].key, e->key, e->klen) == 0;
        } while (dup);
    }
}

static void run_model(const char *name, unsigned flags, uint64_t nops)
{
    char p[1024];
    struct model *m = calloc(1, sizeof(*m));
    uint64_t seed = et_env_u64("AWC_KV_SEED", et_now_ns() | 1);
    struct awc_kv_stats st;
    uint64_t t0 = et_now_ns();

    assert_non_null(m);
    print_message("%s: %llu operations, seed %llu (AWC_KV_SEED to repeat)\n", name,
                  (unsigned long long)nops, (unsigned long long)seed);
    m->rng = seed | 1;
    m->damage_pct = et_env_u64("AWC_KV_DAMAGE_PCT", 30);
    m->want = xmalloc(M_BIG_VAL + 16);
    m->got = xmalloc(M_BIG_VAL + 16);
    m->ref_bytes = xmalloc(M_BIG_VAL + 16);
    atomic_store(&fake_now, START_MS);
    m_make_keys(m);
    m->cfg = kcfg(et_path(p, sizeof(p), name), M_CAP, AWC_CREATE | AWC_EXCL | flags);
    et_unlink(p);
    m_open(m);

    for (m->op_index = 0; m->op_index < nops; m->op_index++) {
        uint64_t d = et_rand_below(&m->rng, 1000);
        /* half the operations on a hot tenth of the keys */
        size_t k = (size_t)(et_rand(&m->rng) & 1 ? et_rand_below(&m->rng, M_KEYS / 10)
                                                 : et_rand_below(&m->rng, M_KEYS));
        int op = d < 340   ? OP_PUT
                 : d < 620 ? OP_GET
                 : d < 720 ? OP_GET_REF
                 : d < 800 ? OP_DELETE
                 : d < 860 ? OP_TICK
                 : d < 890 ? OP_SIZE
                 : d < 920 ? OP_SHORT
                 : d < 955 ? OP_RELEASE
                 : d < 975 ? OP_FLUSH
                 : d < 980 ? OP_REOPEN
                           : OP_STATS;

        m->ops[op]++;
        switch (op) {
        case OP_PUT:
            m_put(m, k);
            break;
        case OP_GET:
            if (et_rand(&m->rng) & 1) {
                m_get_batch(m, k);
                break;
            }
            /* fall through */
        case OP_SIZE:
        case OP_SHORT:
            m_get(m, k, op);
            break;
        case OP_GET_REF:
            m_get_ref(m, k);
            break;
        case OP_DELETE:
            m_delete(m, k);
            break;
        case OP_TICK:
            advance_ms(et_rand_below(&m->rng, 600));
            break;
        case OP_RELEASE:
            m_release(m);
            break;
        case OP_FLUSH:
            ET_EXPECT(awc_kv_flush(m->kv), m->held ? AWC_EDEADLK : AWC_OK);
            m->w += PS;
            break;
        case OP_REOPEN:
            m_reopen(m);
            break;
        default:
            m_stats(m);
            break;
        }
    }
    /* the end: every key once more, then once more after a reopen */
    m_release(m);
    for (size_t k = 0; k < M_KEYS; k++)
        m_get(m, k, OP_GET);
    m_reopen(m);
    for (size_t k = 0; k < M_KEYS; k++)
        m_get(m, k, OP_GET);
    st = kv_stats(m->kv);
    m_stats(m);
    kv_close_ok(m->kv);
    print_message("%s: %.1f s; %llu puts, %llu gets, %llu get_refs, %llu deletes, %llu reopens; "
                  "%llu found, %llu not found (%llu seen evicted, %llu expired, %llu evicted "
                  "items back after a reopen), %llu AWC_EDEADLK; last session: %llu evictions, "
                  "%llu reclaims, %llu expired, %llu items of %llu bytes recovered\n",
                  name, (double)(et_now_ns() - t0) / 1e9, (unsigned long long)m->ops[OP_PUT],
                  (unsigned long long)(m->ops[OP_GET] + m->ops[OP_SIZE] + m->ops[OP_SHORT]),
                  (unsigned long long)m->ops[OP_GET_REF], (unsigned long long)m->ops[OP_DELETE],
                  (unsigned long long)m->ops[OP_REOPEN], (unsigned long long)m->found,
                  (unsigned long long)m->not_found, (unsigned long long)m->evicted_seen,
                  (unsigned long long)m->expired_seen, (unsigned long long)m->resurrected,
                  (unsigned long long)m->edeadlk, (unsigned long long)st.evictions,
                  (unsigned long long)st.reclaims, (unsigned long long)st.expired,
                  (unsigned long long)st.recovered, (unsigned long long)st.bytes);
    print_message(
        "%s: damage before %llu reopens (%llu %s, %llu %s, %llu %s, %llu %s, %llu %s): %llu "
        "keys lost (%llu read back damaged), %llu items dropped by the scans, %llu files "
        "no longer a cache; %llu opens loaded a checkpoint, %llu could not use one\n",
        name,
        (unsigned long long)(m->damages[0] + m->damages[1] + m->damages[2] + m->damages[3] +
                             m->damages[4]),
        (unsigned long long)m->damages[0], damage_names[0], (unsigned long long)m->damages[1],
        damage_names[1], (unsigned long long)m->damages[2], damage_names[2],
        (unsigned long long)m->damages[3], damage_names[3], (unsigned long long)m->damages[4],
        damage_names[4], (unsigned long long)m->damage_lost, (unsigned long long)m->damage_sums,
        (unsigned long long)m->damage_dropped, (unsigned long long)m->recreated,
        (unsigned long long)m->ck_loads, (unsigned long long)m->ck_rejects);
    assert_true(m->found > 0);
    assert_true(m->ck_loads > 0);
    for (size_t k = 0; k < M_KEYS; k++)
        free(m->keys[k].key);
    free(m->want);
    free(m->got);
    free(m->ref_bytes);
    free(m);
    et_unlink(p);
}

static void test_model(void **state)
{
    (void)state;
    run_model("model", 0, et_env_u64("AWC_KV_MODEL_OPS", 20000));
}

static void test_model_weak(void **state)
{
    (void)state;
    run_model("model-weak", AWC_KV_WEAK_HASH, et_env_u64("AWC_KV_MODEL_OPS", 20000) / 4);
}

/* ---- main -------------------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_bad_input),
        T(test_open_errors),
        T(test_closed_handle),
        T(test_sizes),
        T(test_index_memory),
        T(test_capacity_limit),
        T(test_huge_value),
        T(test_get_ref),
        T(test_ref_window),
        T(test_ref_edeadlk),
        T(test_ref_wait),
        T(test_write_behind),
        T(test_write_behind_alone),
        T(test_write_behind_fails),
        T(test_ttl),
        T(test_ttl_real_clock),
        T(test_collisions),
        T(test_get_batch),
        T(test_eviction),
        T(test_warm_restart),
        T(test_checkpoint_clean),
        T(test_checkpoint_crash),
        T(test_checkpoint_bad),
        T(test_damaged_log_zero),
        T(test_damaged_log_flip),
        T(test_damaged_log_end),
        T(test_damaged_meta_lap),
        T(test_empty_files),
        T(test_model),
        T(test_model_weak),
    };
    int rc;

    tu_init();
    et_init("test_kv");
    atomic_store(&fake_now, START_MS);
    rc = cmocka_run_group_tests_name("kv", tests, NULL, NULL);
    et_cleanup();
    return rc;
}
