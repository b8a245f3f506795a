/*
 * tests/test_kv_stress.c: threads putting, deleting, getting and referencing items of one
 * key-value cache at once.
 *
 * Two writers and R readers (AWC_KV_STRESS_READERS, default 2) run for AWC_KV_STRESS_SECONDS
 * (default 2; AWC_KV_STRESS_SEED repeats the random choices) over 512 keys in a 2 MiB log, so
 * that regions are reclaimed all the time, under readers' references. Each key belongs to one
 * writer (even keys to the first, odd ones to the second), which puts new versions of it and
 * sometimes deletes it; the first writer also flushes now and then. Every value is
 * self-describing: (key id, version, a check word of the three with the length) then bytes
 * derived from them, so a reader can tell a whole value of its key from a torn, foreign or mixed
 * one. Per key the writer publishes, in atomics, the version it began (before the call) and the
 * state its last completed call left (after it: version, put or delete, and where in the log it
 * went, counted conservatively in bytes). A reader, around each get or get_ref, checks:
 *   - a value is whole, of the right key, no older than the state completed before the call
 *     began and no newer than the newest version begun after it returned;
 *   - AWC_ENOTFOUND only if the completed state was a delete (or nothing), a delete began
 *     meanwhile, or eviction may have taken the item (the log advanced by the capacity, less
 *     four regions and two of the largest items, since it was put);
 *   - a reference's pieces are shaped as documented and hold such a value until the release.
 * The writers check their own keys exactly, and that a put never fails (they hold no reference,
 * so AWC_EDEADLK is wrong) and a delete answers AWC_OK exactly when the key must be there. At the
 * end: a flush, a close and a reopen, after which every key holds its last state (or, where
 * eviction may have taken it, nothing). Threads never call cmocka: they record their first
 * failure and stop everyone; the main thread asserts. The test's own sharing is atomics only, so
 * any ThreadSanitizer report comes from the library.
 */
#include "engine_util.h"
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* CONS_HDR is more than the 40 bytes of header the header file documents, so that the counts
 * stay upper bounds regardless. */
#define PS        ((size_t)4096)
#define CONS_HDR  64u /* an item header, as the conservative log counts take it */
#define NKEYS     512u
#define CAP       ((uint64_t)2 * 1024 * 1024)
#define FRAMES    128u
#define VHDR      ET_VHDR
#define MAX_VAL   (3 * PS)
#define MAX_KEY   64u
#define MAX_R     8u
#define MAX_VER   ((UINT64_C(1) << 23) - 1)
#define POS_MASK  ((UINT64_C(1) << 40) - 1)
#define DEL_BIT   (UINT64_C(1) << 40)
#define VER_SHIFT 41

/* ---- Values and keys --------------------------------------------------------------------- */

/* Key `id`: "S" + 4 hex digits + filler, 5 to 64 bytes. */
static size_t make_key(uint8_t *b, uint64_t id)
{
    size_t len = 5 + (size_t)(et_mix64(id + 5) % 60);

    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)et_mix64(id * 977 + i);
    b[0] = 'S';
    b[1] = (uint8_t)(id >> 8);
    b[2] = (uint8_t)id;
    return len;
}

static uint64_t cons_bytes(size_t klen, size_t vlen)
{
    uint64_t b = ((uint64_t)CONS_HDR + klen + vlen + 7) & ~(uint64_t)7;

    return b <= PS ? 2 * b : 2 * b + PS;
}

/* ---- Shared state ------------------------------------------------------------------------ */

struct kslot {
    _Atomic uint64_t started;     /* the newest version its writer began (put or delete) */
    _Atomic uint64_t done;        /* its last completed call: version, DEL_BIT, log position/8 */
    _Atomic uint64_t del_started; /* the newest delete version begun */
};

struct run {
    awc_kv_t *kv;
    uint64_t evict_age; /* log bytes after which an item may be evicted */
    struct kslot k[NKEYS];
    _Atomic uint64_t w; /* conservative log bytes reserved by puts and deletes */
    _Atomic bool stop;
};

enum { W_PUT, W_DEL, W_GET, W_FLUSH, R_GET, R_REF, R_FOUND, R_MISS, R_EVICTED, N_COUNT };
static const char *const count_names[N_COUNT] = {"puts",    "deletes",   "writer gets",
                                                 "flushes", "gets",      "get_refs",
                                                 "found",   "not found", "not found (evictable)"};

struct worker {
    int id; /* 0, 1: writers; 2..: readers */
    struct run *run;
    pthread_t th;
    uint64_t rng;
    uint64_t count[N_COUNT];
    uint8_t key[MAX_KEY], buf[MAX_VAL + 64], val[MAX_VAL];
    bool failed;
    char err[512];
};

static void fail_worker(struct worker *w, const char *fmt, ...)
{
    va_list ap;

    if (w->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    w->failed = true;
    atomic_store(&w->run->stop, true);
}

static uint64_t pack(uint64_t version, bool del, uint64_t pos)
{
    return version << VER_SHIFT | (del ? DEL_BIT : 0) | (pos / 8 & POS_MASK);
}

static uint64_t done_version(uint64_t d)
{
    return d >> VER_SHIFT;
}

static bool done_deleted(uint64_t d)
{
    return (d & DEL_BIT) != 0;
}

static uint64_t done_pos(uint64_t d)
{
    return (d & POS_MASK) * 8;
}

/* ---- Writers ----------------------------------------------------------------------------- */

static size_t pick_vlen(uint64_t *rng)
{
    uint64_t r = et_rand_below(rng, 100);

    if (r < 70)
        return VHDR + (size_t)et_rand_below(rng, 300);
    if (r < 95)
        return VHDR + (size_t)et_rand_below(rng, 2000);
    return VHDR + (size_t)et_rand_below(rng, MAX_VAL - VHDR + 1);
}

/* True when eviction may have taken the item of completed state d. */
static bool evictable(struct run *r, uint64_t d)
{
    return atomic_load(&r->w) - done_pos(d) >= r->evict_age;
}

static void writer_step(struct worker *w)
{
    struct run *r = w->run;
    uint32_t k = (uint32_t)(2 * et_rand_below(&w->rng, NKEYS / 2) + (unsigned)w->id);
    struct kslot *s = &r->k[k];
    size_t klen = make_key(w->key, k);
    uint64_t d = atomic_load(&s->done), dice = et_rand_below(&w->rng, 100);
    uint64_t v = atomic_load(&s->started) + 1, pos;
    int rc;

    if (v > MAX_VER) {
        fail_worker(w, "key %u: more than %llu versions", k, (unsigned long long)MAX_VER);
        return;
    }
    if (dice < 10) { /* get: exact */
        size_t len = 0;
        uint64_t got = 0;

        w->count[W_GET]++;
        rc = awc_kv_get(r->kv, w->key, klen, w->buf, sizeof(w->buf), &len);
        if (rc == AWC_OK) {
            if (done_version(d) == 0 || done_deleted(d) || !et_value_ok(w->buf, len, k, &got) ||
                got != done_version(d))
                fail_worker(w,
                            "writer: key %u (last version %llu%s) reads back %zu bytes, "
                            "version %llu",
                            k, (unsigned long long)done_version(d),
                            done_deleted(d) ? ", deleted" : "", len, (unsigned long long)got);
        } else if (rc != AWC_ENOTFOUND) {
            fail_worker(w, "writer: awc_kv_get returned %d (%s)", rc, awc_strerror(rc));
        } else if (done_version(d) != 0 && !done_deleted(d) && !evictable(r, d)) {
            fail_worker(w, "writer: key %u (version %llu, recent) is not found", k,
                        (unsigned long long)done_version(d));
        }
        return;
    }
    if (dice < 20) { /* delete */
        w->count[W_DEL]++;
        pos = atomic_fetch_add(&r->w, cons_bytes(klen, 0));
        atomic_store(&s->del_started, v);
        atomic_store(&s->started, v);
        rc = awc_kv_delete(r->kv, w->key, klen);
        if (rc == AWC_OK && (done_version(d) == 0 || done_deleted(d)))
            fail_worker(w, "writer: awc_kv_delete of absent key %u returned AWC_OK", k);
        else if (rc == AWC_ENOTFOUND && done_version(d) != 0 && !done_deleted(d) &&
                 !evictable(r, d))
            fail_worker(w,
                        "writer: awc_kv_delete of key %u (version %llu, recent) returned "
                        "AWC_ENOTFOUND",
                        k, (unsigned long long)done_version(d));
        else if (rc != AWC_OK && rc != AWC_ENOTFOUND)
            fail_worker(w, "writer: awc_kv_delete returned %d (%s)", rc, awc_strerror(rc));
        atomic_store(&s->done, pack(v, true, pos));
        return;
    }
    if (w->id == 0 && dice < 21) {
        w->count[W_FLUSH]++;
        rc = awc_kv_flush(r->kv);
        if (rc != AWC_OK)
            fail_worker(w, "writer: awc_kv_flush returned %d (%s)", rc, awc_strerror(rc));
        return;
    }
    {
        size_t len = pick_vlen(&w->rng);

        w->count[W_PUT]++;
        et_value_make(w->val, len, k, v);
        pos = atomic_fetch_add(&r->w, cons_bytes(klen, len));
        atomic_store(&s->started, v);
        rc = awc_kv_put(r->kv, w->key, klen, w->val, len, 0);
        if (rc != AWC_OK) {
            fail_worker(w, "writer: awc_kv_put(key %u, %zu bytes) returned %d (%s)", k, len, rc,
                        awc_strerror(rc));
            return;
        }
        atomic_store(&s->done, pack(v, false, pos));
    }
}

/* ---- Readers ----------------------------------------------------------------------------- */

/* Checks what a reader found (rc, and the value in w->buf) against key k's state before (d0)
 * and after the call. */
static void reader_check(struct worker *w, uint32_t k, uint64_t d0, int rc, size_t len,
                         const char *how)
{
    struct run *r = w->run;
    struct kslot *s = &r->k[k];
    uint64_t hi = atomic_load(&s->started), del = atomic_load(&s->del_started), v = 0;
    uint64_t v0 = done_version(d0);

    if (rc == AWC_OK) {
        w->count[R_FOUND]++;
        if (!et_value_ok(w->buf, len, k, &v))
            fail_worker(w, "%s: key %u: %zu bytes that are no whole value of this key", how, k,
                        len);
        else if (v < v0 || v > hi)
            fail_worker(w,
                        "%s: key %u: version %llu, outside [%llu (completed before), %llu "
                        "(begun after)]",
                        how, k, (unsigned long long)v, (unsigned long long)v0,
                        (unsigned long long)hi);
        return;
    }
    if (rc != AWC_ENOTFOUND) {
        fail_worker(w, "%s: key %u: returned %d (%s)", how, k, rc, awc_strerror(rc));
        return;
    }
    w->count[R_MISS]++;
    if (v0 == 0 || done_deleted(d0) || del > v0)
        return;
    if (evictable(r, d0)) {
        w->count[R_EVICTED]++;
        return;
    }
    fail_worker(w,
                "%s: key %u (version %llu put %llu log bytes ago, evictable after %llu) is "
                "not found",
                how, k, (unsigned long long)v0,
                (unsigned long long)(atomic_load(&r->w) - done_pos(d0)),
                (unsigned long long)r->evict_age);
}

static void reader_step(struct worker *w)
{
    struct run *r = w->run;
    uint32_t k = (uint32_t)et_rand_below(&w->rng, NKEYS);
    size_t klen = make_key(w->key, k), len = 0;
    uint64_t d0 = atomic_load(&r->k[k].done);
    struct awc_kv_ref ref;
    int rc;

    if (et_rand_below(&w->rng, 100) < 60) {
        w->count[R_GET]++;
        rc = awc_kv_get(r->kv, w->key, klen, w->buf, sizeof(w->buf), &len);
        reader_check(w, k, d0, rc, len, "get");
        return;
    }
    w->count[R_REF]++;
    rc = awc_kv_get_ref(r->kv, w->key, klen, &ref);
    if (rc != AWC_OK) {
        reader_check(w, k, d0, rc, 0, "get_ref");
        return;
    }
    /* hold it a little while the writers go on, then check the pieces and their bytes */
    for (unsigned i = (unsigned)et_rand_below(&w->rng, 4); i > 0; i--)
        sched_yield();
    {
        size_t min = (ref.value_len + PS - 1) / PS, sum = 0;
        bool shape = ref.value_len <= MAX_VAL && ref.nfrags >= min && ref.nfrags <= min + 1 &&
                     (ref.nfrags == 1 ? ref.value == ref.frags[0].data : ref.value == NULL);

        for (size_t i = 0; shape && i < ref.nfrags; i++) {
            shape = ref.frags[i].len > 0 && ref.frags[i].len <= PS &&
                    sum + ref.frags[i].len <= ref.value_len;
            if (shape) {
                memcpy(w->buf + sum, ref.frags[i].data, ref.frags[i].len);
                sum += ref.frags[i].len;
            }
        }
        if (!shape || sum != ref.value_len)
            fail_worker(w, "get_ref: key %u: %zu bytes in %zu pieces, not as documented", k,
                        ref.value_len, ref.nfrags);
        else
            reader_check(w, k, d0, AWC_OK, ref.value_len, "get_ref");
    }
    rc = awc_kv_release(r->kv, &ref);
    if (rc != AWC_OK)
        fail_worker(w, "awc_kv_release returned %d (%s)", rc, awc_strerror(rc));
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    while (!atomic_load(&w->run->stop)) {
        if (w->id < 2)
            writer_step(w);
        else
            reader_step(w);
    }
    return NULL;
}

/* ---- The test ---------------------------------------------------------------------------- */

static awc_kv_t *kept[16];
static size_t nkept;

static void test_stress(void **state)
{
    char p[1024];
    uint64_t seconds = et_env_u64("AWC_KV_STRESS_SECONDS", 2);
    uint64_t readers = et_env_u64("AWC_KV_STRESS_READERS", 2);
    uint64_t seed = et_env_u64("AWC_KV_STRESS_SEED", et_now_ns() | 1);
    struct awc_kv_config cfg = {
        .path = et_path(p, sizeof(p), "stress"),
        .capacity = CAP,
        .page_size = PS,
        .frame_budget = FRAMES * PS,
        .flags = AWC_CREATE | AWC_EXCL,
    };
    struct run *r = calloc(1, sizeof(*r));
    struct worker *ws;
    struct awc_kv_stats st;
    uint64_t total[N_COUNT] = {0}, present = 0, lost = 0, t0;
    uint8_t key[MAX_KEY];
    static uint8_t buf[MAX_VAL + 64];
    size_t nw;
    bool failed = false;

    (void)state;
    if (readers > MAX_R)
        readers = MAX_R;
    nw = 2 + (size_t)readers;
    ws = calloc(nw, sizeof(*ws));
    assert_non_null(r);
    assert_non_null(ws);
    print_message("%llu s, 2 writers and %llu readers, seed %llu (AWC_KV_STRESS_SEED to "
                  "repeat)\n",
                  (unsigned long long)seconds, (unsigned long long)readers,
                  (unsigned long long)seed);
    ET_EXPECT(awc_kv_open(&cfg, &r->kv), AWC_OK);
    kept[nkept++] = r->kv;
    ET_EXPECT(awc_kv_get_stats(r->kv, &st), AWC_OK);
    r->evict_age = CAP - 4 * st.region_bytes - 2 * cons_bytes(MAX_KEY, MAX_VAL);
    t0 = et_now_ns();
    for (size_t i = 0; i < nw; i++) {
        ws[i].id = (int)i;
        ws[i].run = r;
        ws[i].rng = et_mix64(seed + i) | 1;
        assert_int_equal(pthread_create(&ws[i].th, NULL, worker_main, &ws[i]), 0);
    }
    while (!atomic_load(&r->stop) && et_now_ns() - t0 < seconds * UINT64_C(1000000000))
        et_sleep_ms(10);
    atomic_store(&r->stop, true);
    for (size_t i = 0; i < nw; i++) {
        assert_int_equal(pthread_join(ws[i].th, NULL), 0);
        for (int c = 0; c < N_COUNT; c++)
            total[c] += ws[i].count[c];
        if (ws[i].failed) {
            print_message("thread %zu: %s\n", i, ws[i].err);
            failed = true;
        }
    }
    ET_EXPECT(awc_kv_get_stats(r->kv, &st), AWC_OK);
    for (int c = 0; c < N_COUNT; c++)
        print_message("%s%s %llu", c ? "," : "", count_names[c], (unsigned long long)total[c]);
    print_message("; %llu evictions, %llu reclaims, %llu log bytes (conservatively) in %.1f s\n",
                  (unsigned long long)st.evictions, (unsigned long long)st.reclaims,
                  (unsigned long long)atomic_load(&r->w), (double)(et_now_ns() - t0) / 1e9);
    if (failed)
        fail_msg("a thread failed (see above)");
    assert_true(total[W_PUT] > 0 && total[R_GET] > 0 && total[R_REF] > 0);
    assert_int_equal(st.puts, total[W_PUT]);

    /* The end: flush, close, reopen; every key as its writer left it. */
    ET_EXPECT(awc_kv_flush(r->kv), AWC_OK);
    ET_EXPECT(awc_kv_close(r->kv), AWC_OK);
    cfg.flags = 0;
    cfg.capacity = 0;
    ET_EXPECT(awc_kv_open(&cfg, &r->kv), AWC_OK);
    kept[nkept++] = r->kv;
    for (uint32_t k = 0; k < NKEYS; k++) {
        uint64_t d = atomic_load(&r->k[k].done), v = 0;
        size_t klen = make_key(key, k), len = 0;
        int rc = awc_kv_get(r->kv, key, klen, buf, sizeof(buf), &len);
        bool there = done_version(d) != 0 && !done_deleted(d);

        if (rc == AWC_OK) {
            if (!there || !et_value_ok(buf, len, k, &v) || v != done_version(d))
                fail_msg("after the reopen, key %u (version %llu%s) reads back %zu bytes, "
                         "version %llu",
                         k, (unsigned long long)done_version(d), done_deleted(d) ? ", deleted" : "",
                         len, (unsigned long long)v);
            present++;
        } else if (rc != AWC_ENOTFOUND) {
            fail_msg("after the reopen, key %u: awc_kv_get returned %d (%s)", k, rc,
                     awc_strerror(rc));
        } else if (there) {
            if (!evictable(r, d))
                fail_msg("after the reopen, key %u (version %llu, put %llu log bytes before the "
                         "end) is gone",
                         k, (unsigned long long)done_version(d),
                         (unsigned long long)(atomic_load(&r->w) - done_pos(d)));
            lost++;
        }
    }
    ET_EXPECT(awc_kv_get_stats(r->kv, &st), AWC_OK);
    assert_int_equal(st.items, present);
    print_message("after the reopen: %llu keys with values, %llu evicted\n",
                  (unsigned long long)present, (unsigned long long)lost);
    ET_EXPECT(awc_kv_close(r->kv), AWC_OK);
    et_unlink(p);
    free(ws);
    free(r);
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < nkept; i++)
        (void)awc_kv_close(kept[i]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stress, teardown),
    };
    int rc;

    tu_init();
    et_init("test_kv_stress");
    rc = cmocka_run_group_tests_name("kv_stress", tests, NULL, NULL);
    et_cleanup();
    return rc;
}
