/*
 * tests/test_kv_crash.c: a key-value cache whose process is killed at a random moment reopens
 * with every flushed put and delete in it, and nothing but values that were really put; a
 * damaged file reopens and never returns wrong bytes.
 *
 * test_kill_rounds: for AWC_KV_CRASH_ROUNDS rounds (default 8; AWC_KV_CRASH_SEED repeats a
 * run), a fork()ed child opens the cache (32 MiB of log, 64 frames: pages are written back by
 * eviction, in any order, as well as by flushes) and puts and deletes items over 256 keys of 6 to
 * 105 bytes, flushing now and then and sometimes closing and reopening. Every value is
 * self-describing: (key id, version, a check word) then bytes derived from the three, so any
 * value read back can be told apart from a torn, foreign or stale one. Before each call the child
 * appends the operation (key, put or delete, version, length) to a log in a MAP_SHARED mapping
 * that outlives it; after each completed awc_kv_flush (or awc_kv_close) it records how many
 * operations that flush covered. The parent kills it with SIGKILL after 5 to 1000 ms, reopens
 * the file (which must never fail) and reads every key. The header's promise, checked:
 *   - every value read back is authentic: its bytes are exactly a version the child put for that
 *     key (with that length);
 *   - the file holds the state after some prefix of the operation log, at least as long as the
 *     last completed flush covered ("later puts are there only if they and everything before
 *     them in the log reached the disk whole"): the test finds the set of prefix lengths each
 *     key's value allows and asserts that one length suits every key. In particular every key
 *     that no operation after the flush touched reads back exactly as flushed.
 * The child's writes are kept under half the capacity per file (a new file is made when more
 * was written), so eviction never excuses a missing item. The next round starts from what the
 * parent read back.
 *
 * The child's flushes and closes take checkpoints of the index (engine/README.md 9.7: at a flush
 * once the log written since the last is twice a checkpoint's size, which with 256 keys is most
 * flushes), so kills land before, during and after checkpoint writes; each reopen loads the last
 * whole one (never a torn one: the meta page names only one flushed whole) and scans the log
 * after it, and the checks above hold the same.
 *
 * test_damage: a byte of a closed cache's file is flipped inside one item's value (or just
 * before it, or in one of the first two pages of the data area); the file must reopen, every get
 * must return the exact value, AWC_ECHECKSUM (after which the item is gone: AWC_ENOTFOUND) or
 * AWC_ENOTFOUND, never other bytes, and the damaged item must not read back; puts must work again,
 * and survive a close and reopen.
 *
 * test_damage_while_open: a page damaged on disk under an open cache (its frame evicted): the
 * get of the item on it says AWC_ECHECKSUM, then AWC_ENOTFOUND (dropped), and the key can be
 * put again.
 *
 * test_interrupted_create: a crash while awc_kv_open creates the file can leave it empty, or
 * with the page cache's first superblock or both (and nothing else): opening it again (with
 * AWC_CREATE and the capacity) must work and give an empty cache.
 */
#include "engine_util.h"
#include "test_util.h"

#include <setjmp.h>
#include <limits.h>
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

/* CONS_HDR is more than the 40 bytes of header the header file documents, so that the counts
 * stay upper bounds regardless. */
#define PS       ((size_t)4096)
#define CONS_HDR 64u /* an item header, as the conservative log counts take it */
#define NKEYS    256u
#define CAP      ((uint64_t)32 * 1024 * 1024)
#define REGION   (CAP / 64)
#define MAX_OPS  (1u << 20)
#define FRAMES   64u
#define RATE     (8u * 1024 * 1024) /* conservative log bytes per second the child writes */
#define VHDR     ET_VHDR

/* ---- Values and keys --------------------------------------------------------------------- */

/* Key `id`: "K" + 4 hex digits + "." + filler, 6 to 105 bytes. */
static size_t make_key(uint8_t *b, uint64_t id)
{
    size_t len = 6 + (size_t)(et_mix64(id + 77) % 100);

    snprintf((char *)b, 7, "K%04x.", (unsigned)id);
    for (size_t i = 6; i < len; i++)
        b[i] = (uint8_t)et_mix64(id * 1000 + i);
    return len;
}

static uint64_t item_bytes(size_t klen, size_t vlen)
{
    return ((uint64_t)CONS_HDR + klen + vlen + 7) & ~(uint64_t)7;
}

/* Log bytes an operation may take, conservatively (the padding before an item that does not
 * fit the rest of its page is shorter than the item). */
static uint64_t cons_bytes(size_t klen, size_t vlen)
{
    uint64_t b = item_bytes(klen, vlen);

    return b <= PS ? 2 * b : 2 * b + PS;
}

/* ---- Shared state ------------------------------------------------------------------------ */

enum { K_PUT = 1, K_DEL = 2 };

struct op {
    uint32_t key;
    uint32_t kind; /* K_PUT or K_DEL */
    uint64_t version;
    uint64_t vlen;
};

/* A key's state: version 0 is "absent" (deleted or never put). */
struct kstate {
    uint64_t version;
    uint64_t vlen;
};

/* Shared between the parent and the child: survives the child's death. */
struct shm {
    _Atomic uint64_t nstarted; /* ops[0..nstarted) were begun (the last may be unfinished) */
    _Atomic uint64_t ncovered; /* ops[0..ncovered) were covered by a completed flush or close */
    _Atomic uint64_t cons;     /* conservative log bytes written since the file was made */
    _Atomic uint64_t flushes;  /* completed flushes and closes, all rounds */
    _Atomic uint64_t total;    /* operations, all rounds */
    _Atomic int opened;        /* the child's awc_kv_open returned */
    uint64_t next_version[NKEYS];
    struct kstate base[NKEYS]; /* the state at the start of the round (read back by the parent) */
    struct op ops[MAX_OPS];
};

static struct shm *shm;
static char path[1024];

static struct awc_kv_config kcfg(const char *p, uint64_t capacity, unsigned flags)
{
    struct awc_kv_config c = {
        .path = p,
        .capacity = capacity,
        .page_size = PS,
        .frame_budget = FRAMES * PS,
        .flags = flags,
    };
    return c;
}

/* Handles stay reachable (a closed handle is never freed). */
#define MAX_KEPT 4096
static awc_kv_t *kept[MAX_KEPT];
static size_t nkept;

static void kv_keep(awc_kv_t *kv)
{
    if (nkept < MAX_KEPT)
        kept[nkept++] = kv;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < nkept; i++)
        (void)awc_kv_close(kept[i]);
    return 0;
}

/* ---- The child --------------------------------------------------------------------------- */

/* Exit codes of a child that stopped by itself (it should only ever be killed). */
enum { CHILD_OPEN = 3, CHILD_PUT = 4, CHILD_CONTENT = 5, CHILD_FLUSH = 6, CHILD_DELETE = 7 };

static size_t child_vlen(uint64_t *rng)
{
    uint64_t r = et_rand_below(rng, 100);

    if (r < 70)
        return VHDR + (size_t)et_rand_below(rng, 400);
    if (r < 95)
        return VHDR + (size_t)et_rand_below(rng, 3000);
    return VHDR + (size_t)et_rand_below(rng, 3 * PS);
}

static int child_open(awc_kv_t **kv, unsigned flags)
{
    struct awc_kv_config cfg = kcfg(path, CAP, flags);
    int rc = awc_kv_open(&cfg, kv);

    if (rc != AWC_OK)
        fprintf(stderr, "child: awc_kv_open returned %d (%s)\n", rc, awc_strerror(rc));
    return rc;
}

static int child_main(uint64_t seed, bool create)
{
    static struct kstate cur[NKEYS];
    static uint8_t key[128], val[4 * PS], got[4 * PS];
    uint64_t rng = seed | 1, t0 = et_now_ns(), cons0 = atomic_load(&shm->cons);
    awc_kv_t *kv = NULL;
    int rc;

    memcpy(cur, shm->base, sizeof(cur));
    rc = child_open(&kv, create ? AWC_CREATE | AWC_EXCL : 0);
    atomic_store(&shm->opened, 1);
    if (rc != AWC_OK)
        return CHILD_OPEN;
    for (;;) {
        uint64_t cons = atomic_load(&shm->cons), d = et_rand_below(&rng, 1000);
        double s = (double)(et_now_ns() - t0) / 1e9;
        uint32_t k = (uint32_t)et_rand_below(&rng, NKEYS);
        size_t klen = make_key(key, k);

        /* The file's budget is spent, or the child is ahead of its rate: wait (to be killed). */
        if (cons > CAP / 4 * 3 || (double)(cons - cons0) > RATE * s + 256 * 1024.0) {
            et_sleep_ms(1);
            continue;
        }
        if (d < 15) { /* flush: whatever was done before the call is covered once it returns */
            uint64_t n = atomic_load(&shm->nstarted);

            rc = awc_kv_flush(kv);
            if (rc != AWC_OK) {
                fprintf(stderr, "child: awc_kv_flush returned %d (%s)\n", rc, awc_strerror(rc));
                return CHILD_FLUSH;
            }
            atomic_store(&shm->ncovered, n);
            atomic_fetch_add(&shm->flushes, 1);
            atomic_fetch_add(&shm->cons, PS);
        } else if (d < 17) { /* close (a flush) and reopen */
            uint64_t n = atomic_load(&shm->nstarted);

            rc = awc_kv_close(kv);
            if (rc != AWC_OK) {
                fprintf(stderr, "child: awc_kv_close returned %d (%s)\n", rc, awc_strerror(rc));
                return CHILD_FLUSH;
            }
            atomic_store(&shm->ncovered, n);
            atomic_fetch_add(&shm->flushes, 1);
            atomic_fetch_add(&shm->cons, REGION + PS);
            if (child_open(&kv, 0) != AWC_OK)
                return CHILD_OPEN;
        } else if (d < 60) { /* get: the child's own view must be exact */
            size_t len = 0;
            uint64_t v = 0;

            rc = awc_kv_get(kv, key, klen, got, sizeof(got), &len);
            if (cur[k].version == 0 ? rc != AWC_ENOTFOUND
                                    : rc != AWC_OK || len != cur[k].vlen ||
                                          !et_value_ok(got, len, k, &v) || v != cur[k].version) {
                fprintf(stderr,
                        "child: key %u (version %llu, %llu bytes): awc_kv_get returned %d (%s), "
                        "%zu bytes, version %llu\n",
                        k, (unsigned long long)cur[k].version, (unsigned long long)cur[k].vlen, rc,
                        awc_strerror(rc), len, (unsigned long long)v);
                return CHILD_CONTENT;
            }
        } else { /* a put, or a delete */
            uint64_t n = atomic_load(&shm->nstarted);
            struct op *o = &shm->ops[n];
            bool del = d < 200;

            if (n >= MAX_OPS) { /* the log is full: idle */
                et_sleep_ms(1);
                continue;
            }
            o->key = k;
            o->kind = del ? K_DEL : K_PUT;
            o->version = ++shm->next_version[k];
            o->vlen = del ? 0 : child_vlen(&rng);
            atomic_fetch_add(&shm->cons, cons_bytes(klen, (size_t)o->vlen));
            atomic_store(&shm->nstarted, n + 1); /* recorded before the call begins */
            atomic_fetch_add(&shm->total, 1);
            if (del) {
                rc = awc_kv_delete(kv, key, klen);
                if (rc != (cur[k].version ? AWC_OK : AWC_ENOTFOUND)) {
                    fprintf(stderr,
                            "child: key %u (version %llu): awc_kv_delete returned %d (%s)\n", k,
                            (unsigned long long)cur[k].version, rc, awc_strerror(rc));
                    return CHILD_DELETE;
                }
                cur[k].version = 0;
                cur[k].vlen = 0;
            } else {
                et_value_make(val, (size_t)o->vlen, k, o->version);
                rc = awc_kv_put(kv, key, klen, val, (size_t)o->vlen, 0);
                if (rc != AWC_OK) {
                    fprintf(stderr, "child: awc_kv_put returned %d (%s)\n", rc, awc_strerror(rc));
                    return CHILD_PUT;
                }
                cur[k].version = o->version;
                cur[k].vlen = o->vlen;
            }
        }
    }
}

/* ---- The parent -------------------------------------------------------------------------- */

static unsigned lingering; /* reopens refused with AWC_ELOCKED although the child was reaped */

/* The state op `o` leaves its key in. */
static struct kstate op_state(const struct op *o)
{
    struct kstate s = {0, 0};

    if (o->kind == K_PUT) {
        s.version = o->version;
        s.vlen = o->vlen;
    }
    return s;
}

static bool same(struct kstate a, struct kstate b)
{
    return a.version == b.version && (a.version == 0 || a.vlen == b.vlen);
}

struct verdict {
    uint64_t lo, hi;       /* the prefix lengths allowed: the flush's, everything begun */
    uint64_t p_min, p_max; /* the prefix lengths that explain the file */
    uint64_t keys_touched; /* keys with operations after the flush */
    uint64_t present;      /* keys with a value */
    bool ck_loaded;        /* the reopen loaded a checkpoint (and scanned the log after it) */
    uint64_t scanned;      /* bytes of log the reopen scanned */
};

/* Reopens the file after the kill, reads every key and checks it against the operation log;
 * then makes what it read the next round's base. */
static struct verdict verify_file(int round)
{
    static struct kstate seen[NKEYS];
    static uint8_t key[128], buf[4 * PS];
    static int32_t diff[MAX_OPS + 2];
    static int64_t next_op[MAX_OPS], first_op[NKEYS];
    struct awc_kv_config cfg = kcfg(path, CAP, AWC_CREATE);
    struct verdict v = {0};
    struct awc_kv_stats st;
    awc_kv_t *kv = NULL;
    uint64_t t0 = et_now_ns();
    int64_t cnt = 0;
    int rc = awc_kv_open(&cfg, &kv);

    v.lo = atomic_load(&shm->ncovered);
    v.hi = atomic_load(&shm->nstarted);
    /* The child is dead and reaped: nobody has the file open, so AWC_ELOCKED is wrong. It is
     * recorded (the test fails at the end) and the open retried, so that the checks still run. */
    if (rc == AWC_ELOCKED) {
        while (rc == AWC_ELOCKED && et_now_ns() - t0 < UINT64_C(5000000000)) {
            et_sleep_ms(1);
            rc = awc_kv_open(&cfg, &kv);
        }
        print_message("round %d: AWC_ELOCKED right after the killed child was reaped\n", round);
        lingering++;
    }
    if (rc != AWC_OK)
        fail_msg("round %d: reopening after the kill failed: %d (%s)", round, rc, awc_strerror(rc));
    kv_keep(kv);
    ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_OK);
    assert_int_equal(st.evictions, 0);
    /* the child's checkpoints (README 9.7), whole or cut by the kill, are never rejected: the
     * meta page names only one that was flushed whole */
    assert_int_equal(st.open_checkpoint_rejected, 0);
    v.ck_loaded = st.open_index == AWC_KV_INDEX_CHECKPOINT;
    v.scanned = st.open_scanned;

    /* 1. Read every key; a value must be authentic. */
    for (uint32_t k = 0; k < NKEYS; k++) {
        size_t klen = make_key(key, k), len = 0;
        uint64_t ver = 0;

        rc = awc_kv_get(kv, key, klen, buf, sizeof(buf), &len);
        if (rc == AWC_ENOTFOUND) {
            seen[k].version = seen[k].vlen = 0;
            continue;
        }
        if (rc != AWC_OK)
            fail_msg("round %d: key %u: awc_kv_get returned %d (%s)", round, k, rc,
                     awc_strerror(rc));
        if (!et_value_ok(buf, len, k, &ver) || ver == 0)
            fail_msg("round %d: key %u reads back %zu bytes that are no value put for it", round, k,
                     len);
        seen[k].version = ver;
        seen[k].vlen = len;
        v.present++;
    }
    assert_int_equal(st.items, v.present);

    /* 2. Each key's operations, in order. */
    for (uint32_t k = 0; k < NKEYS; k++)
        first_op[k] = -1;
    for (int64_t i = (int64_t)v.hi - 1; i >= 0; i--) {
        next_op[i] = first_op[shm->ops[i].key];
        first_op[shm->ops[i].key] = i;
    }

    /* 3. For each key, the prefix lengths P in [lo, hi] whose state matches what was read (the
     *    state after P operations is that of the key's last operation below P, or the base). */
    memset(diff, 0, (v.hi - v.lo + 2) * sizeof(diff[0]));
    for (uint32_t k = 0; k < NKEYS; k++) {
        struct kstate s = shm->base[k];
        int64_t i = first_op[k];
        uint64_t seg = v.lo;
        bool any = false, touched = false;

        for (; i >= 0 && (uint64_t)i < v.lo; i = next_op[i])
            s = op_state(&shm->ops[i]);
        for (; i >= 0; i = next_op[i]) { /* ops at or after the flush */
            touched = true;
            if (same(s, seen[k])) {
                diff[seg - v.lo]++;
                diff[(uint64_t)i - v.lo + 1]--;
                any = true;
            }
            s = op_state(&shm->ops[i]);
            seg = (uint64_t)i + 1;
        }
        if (same(s, seen[k])) {
            diff[seg - v.lo]++;
            diff[v.hi - v.lo + 1]--;
            any = true;
        }
        if (!touched && !any)
            fail_msg("round %d: key %u was flushed as version %llu (%llu bytes) and not changed "
                     "since, but reads back as version %llu (%llu bytes)",
                     round, k, (unsigned long long)s.version, (unsigned long long)s.vlen,
                     (unsigned long long)seen[k].version, (unsigned long long)seen[k].vlen);
        if (!any)
            fail_msg("round %d: key %u reads back as version %llu (%llu bytes): not its state at "
                     "the last flush (op %llu) nor after any later operation (up to op %llu)",
                     round, k, (unsigned long long)seen[k].version,
                     (unsigned long long)seen[k].vlen, (unsigned long long)v.lo,
                     (unsigned long long)v.hi);
        v.keys_touched += touched;
    }
    /* 4. One prefix length must suit every key touched after the flush. */
    v.p_min = UINT64_MAX;
    for (uint64_t p = v.lo; p <= v.hi; p++) {
        cnt += diff[p - v.lo];
        if (cnt == (int64_t)NKEYS) {
            if (v.p_min == UINT64_MAX)
                v.p_min = p;
            v.p_max = p;
        }
    }
    if (v.p_min == UINT64_MAX)
        fail_msg("round %d: the file is not the state after any prefix of the operations from "
                 "the last flush (op %llu) on (up to op %llu): items after a lost one survived",
                 round, (unsigned long long)v.lo, (unsigned long long)v.hi);

    /* 5. What was read is the next round's base. */
    memcpy(shm->base, seen, sizeof(seen));
    ET_EXPECT(awc_kv_close(kv), AWC_OK);
    atomic_fetch_add(&shm->cons, 2 * (REGION + PS));
    return v;
}

static void test_kill_rounds(void **state)
{
    uint64_t rounds = et_env_u64("AWC_KV_CRASH_ROUNDS", 8);
    uint64_t seed = et_env_u64("AWC_KV_CRASH_SEED", et_now_ns() | 1), rng = seed;
    uint64_t kills_before_open = 0, files = 0, beyond = 0, ck_loads = 0;

    (void)state;
    print_message("%llu rounds, seed %llu (AWC_KV_CRASH_SEED to repeat)\n",
                  (unsigned long long)rounds, (unsigned long long)seed);
    for (uint64_t round = 0; round < rounds; round++) {
        unsigned delay = 5 + (unsigned)et_rand_below(&rng, 996);
        uint64_t child_seed = et_rand(&rng), t0 = atomic_load(&shm->total);
        bool create = round == 0 || atomic_load(&shm->cons) > CAP / 2;
        struct verdict v;
        int status;
        pid_t pid;

        if (create) { /* a new file: nothing in it */
            et_unlink(path);
            memset(shm->base, 0, sizeof(shm->base));
            atomic_store(&shm->cons, 0);
            files++;
        }
        atomic_store(&shm->nstarted, 0);
        atomic_store(&shm->ncovered, 0);
        atomic_store(&shm->opened, 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

            for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                signal(sigs[i], SIG_DFL);
            _exit(child_main(child_seed, create));
        }
        et_sleep_ms(delay);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
            ;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("round %llu: the child stopped by itself (exit status %d): see its message",
                     (unsigned long long)round, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        kills_before_open += atomic_load(&shm->opened) == 0;
        v = verify_file((int)round);
        beyond += v.p_max - v.lo;
        ck_loads += v.ck_loaded;
        print_message(
            "round %llu%s: killed after %u ms, %llu operations (%llu after the last "
            "flush, on %llu keys); the file holds the first %llu..%llu of them, %llu "
            "keys with values; the reopen %s and scanned %llu bytes of log\n",
            (unsigned long long)round, create ? " (new file)" : "", delay,
            (unsigned long long)(atomic_load(&shm->total) - t0), (unsigned long long)(v.hi - v.lo),
            (unsigned long long)v.keys_touched, (unsigned long long)v.p_min,
            (unsigned long long)v.p_max, (unsigned long long)v.present,
            v.ck_loaded ? "loaded a checkpoint" : "had none", (unsigned long long)v.scanned);
    }
    print_message("total: %llu operations, %llu flushes, %llu files, %llu kills before the "
                  "child's open returned, %llu operations recovered beyond the last flush\n",
                  (unsigned long long)atomic_load(&shm->total),
                  (unsigned long long)atomic_load(&shm->flushes), (unsigned long long)files,
                  (unsigned long long)kills_before_open, (unsigned long long)beyond);
    assert_true(atomic_load(&shm->total) > 0);
    print_message("%llu of %llu reopens loaded a checkpoint\n", (unsigned long long)ck_loads,
                  (unsigned long long)rounds);
    if (rounds >= 4)
        assert_true(ck_loads > 0);
    et_unlink(path);
    if (lingering > 0)
        fail_msg("in %u of %llu rounds the reopen right after the killed child was reaped "
                 "returned AWC_ELOCKED (no process had the file open)",
                 lingering, (unsigned long long)rounds);
}

/* ---- Damage ------------------------------------------------------------------------------ */

#define DMG_ITEMS 120u
#define DMG_CAP   ((uint64_t)256 * PS)

static size_t dmg_key(char *b, unsigned i)
{
    return (size_t)snprintf(b, 32, "dmg-%u", i);
}

/* Where item i's value (version `version`, len bytes) starts in the file image, or -1. */
static int64_t find_value(const uint8_t *img, uint64_t n, unsigned i, uint64_t version, size_t len)
{
    uint8_t *v = malloc(len);
    const uint8_t *at;

    assert_non_null(v);
    et_value_make(v, len, i, version); /* its first VHDR bytes are unique to (i, version, len) */
    at = memmem(img, (size_t)n, v, VHDR);
    free(v);
    return at == NULL ? -1 : (int64_t)(at - img);
}

static void test_damage(void **state)
{
    char p[1024], key[32];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "damage"), DMG_CAP, AWC_CREATE);
    static size_t vlen[DMG_ITEMS];
    static uint8_t val[4 * PS], buf[4 * PS];
    uint64_t rounds = 16, rng = et_env_u64("AWC_KV_CRASH_SEED", 4242) | 1, n, dropped = 0;
    uint64_t lost = 0, bad_sums = 0;
    awc_kv_t *kv;
    uint8_t *img;

    (void)state;
    kv = NULL;
    ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
    kv_keep(kv);
    for (unsigned i = 0; i < DMG_ITEMS; i++) {
        size_t kl = dmg_key(key, i);

        vlen[i] = VHDR + (size_t)et_rand_below(&rng, i % 10 == 0 ? 3 * PS : 600);
        et_value_make(val, vlen[i], i, 1);
        ET_EXPECT(awc_kv_put(kv, key, kl, val, vlen[i], 0), AWC_OK);
    }
    ET_EXPECT(awc_kv_close(kv), AWC_OK);
    n = et_file_size(p);
    img = malloc((size_t)n);
    assert_non_null(img);
    et_pread(p, img, (size_t)n, 0);

    for (uint64_t r = 0; r < rounds; r++) {
        unsigned target;
        int64_t at;
        uint64_t off;
        unsigned checksum = 0, missing = 0;

        /* 1. The pristine file, with one byte of one item flipped (in its value, or in the 40
         *    bytes before it: the item's header or key). */
        et_pwrite(p, img, (size_t)n, 0);
        et_truncate(p, n);
        do {
            target = (unsigned)et_rand_below(&rng, DMG_ITEMS);
            at = find_value(img, n, target, 1, vlen[target]);
        } while (at < 0);
        off = r % 3 == 2 ? (uint64_t)at - 1 - et_rand_below(&rng, 40)
                         : (uint64_t)at + et_rand_below(&rng, VHDR);
        if (r % 4 == 3) { /* or a byte in one of the first two pages of the data area */
            struct awc_file_info info;

            ET_EXPECT(awc_get_file_info(p, &info), AWC_OK);
            off = awc_file_page_offset(&info, r / 4 % 2) + et_rand_below(&rng, 128);
            target = UINT_MAX;
        }
        et_flip_byte(p, off);

        /* 2. It reopens; every get is exact, AWC_ECHECKSUM (then gone) or not found. */
        cfg.flags = 0;
        kv = NULL;
        {
            int rc = awc_kv_open(&cfg, &kv);

            if (rc != AWC_OK && target == UINT_MAX)
                fail_msg("round %llu: a flipped byte at file offset %llu (page %llu of the data "
                         "area) makes the reopen fail: %d (%s)",
                         (unsigned long long)r, (unsigned long long)off,
                         (unsigned long long)(r / 4 % 2), rc, awc_strerror(rc));
            if (rc != AWC_OK)
                fail_msg("round %llu: a flipped byte at file offset %llu (item %u's value starts "
                         "at %lld) makes the reopen fail: %d (%s)",
                         (unsigned long long)r, (unsigned long long)off, target, (long long)at, rc,
                         awc_strerror(rc));
        }
        kv_keep(kv);
        for (unsigned i = 0; i < DMG_ITEMS; i++) {
            size_t kl = dmg_key(key, i), len = 0;
            uint64_t ver = 0;
            int rc = awc_kv_get(kv, key, kl, buf, sizeof(buf), &len);

            if (rc == AWC_OK) {
                if (len != vlen[i] || !et_value_ok(buf, len, i, &ver) || ver != 1)
                    fail_msg("round %llu: item %u reads back wrong bytes (%zu bytes)",
                             (unsigned long long)r, i, len);
                if (i == target)
                    fail_msg("round %llu: item %u, whose byte at file offset %llu was flipped, "
                             "reads back as if whole",
                             (unsigned long long)r, i, (unsigned long long)off);
            } else if (rc == AWC_ECHECKSUM) {
                checksum++;
                ET_EXPECT(awc_kv_get(kv, key, kl, buf, sizeof(buf), &len), AWC_ENOTFOUND);
            } else if (rc == AWC_ENOTFOUND) {
                missing++;
            } else {
                fail_msg("round %llu: item %u: awc_kv_get returned %d (%s)", (unsigned long long)r,
                         i, rc, awc_strerror(rc));
            }
        }
        bad_sums += checksum;
        lost += missing;
        {
            struct awc_kv_stats st;

            ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_OK);
            dropped += st.cache.checksum_failures;
        }
        /* 3. The cache works again: new versions of every item, through a reopen. */
        for (unsigned i = 0; i < DMG_ITEMS; i++) {
            size_t kl = dmg_key(key, i);
            int rc;

            et_value_make(val, vlen[i], i, 2);
            rc = awc_kv_put(kv, key, kl, val, vlen[i], 0);
            if (rc != AWC_OK)
                fail_msg("round %llu: after the damage, awc_kv_put of item %u returned %d (%s)",
                         (unsigned long long)r, i, rc, awc_strerror(rc));
        }
        ET_EXPECT(awc_kv_close(kv), AWC_OK);
        kv = NULL;
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
        kv_keep(kv);
        for (unsigned i = 0; i < DMG_ITEMS; i++) {
            size_t kl = dmg_key(key, i), len = 0;
            uint64_t ver = 0;
            int rc = awc_kv_get(kv, key, kl, buf, sizeof(buf), &len);

            if (rc != AWC_OK || len != vlen[i] || !et_value_ok(buf, len, i, &ver) || ver != 2)
                fail_msg("round %llu: item %u, put again after the damage and closed, reads back "
                         "as %d (%s), %zu bytes, version %llu",
                         (unsigned long long)r, i, rc, awc_strerror(rc), len,
                         (unsigned long long)ver);
        }
        ET_EXPECT(awc_kv_close(kv), AWC_OK);
        print_message("round %llu: byte %llu (%s %u) flipped: %u items AWC_ECHECKSUM, %u not "
                      "found\n",
                      (unsigned long long)r, (unsigned long long)off,
                      target == UINT_MAX ? "data page" : "item",
                      target == UINT_MAX ? (unsigned)(r / 4 % 2) : target, checksum, missing);
    }
    print_message("%llu rounds: %llu AWC_ECHECKSUM, %llu not found, %llu pages failed their "
                  "checksum\n",
                  (unsigned long long)rounds, (unsigned long long)bad_sums,
                  (unsigned long long)lost, (unsigned long long)dropped);
    free(img);
    et_unlink(p);
}

/* A page damaged on disk while the cache is open (after its frame was evicted): the get of an
 * item on it reports AWC_ECHECKSUM once and drops the item (then AWC_ENOTFOUND), and the key can
 * be put again. */
static void test_damage_while_open(void **state)
{
    char p[1024], key[32];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "damage-open"), DMG_CAP, AWC_CREATE);
    static uint8_t val[3000], buf[3000];
    awc_kv_t *kv = NULL;
    size_t len = 0;
    uint64_t ver = 0;
    int rc;

    (void)state;
    cfg.frame_budget = 16 * PS;
    ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
    kv_keep(kv);
    for (unsigned i = 0; i < 100; i++) { /* about one item per page */
        size_t kl = dmg_key(key, i);

        et_value_make(val, sizeof(val), i, 1);
        ET_EXPECT(awc_kv_put(kv, key, kl, val, sizeof(val), 0), AWC_OK);
    }
    ET_EXPECT(awc_kv_flush(kv), AWC_OK);
    for (int round = 0; round < 2; round++) { /* reading other pages evicts item 10's frame */
        for (unsigned i = 50; i < 100; i++) {
            size_t kl = dmg_key(key, i);

            ET_EXPECT(awc_kv_get(kv, key, kl, buf, sizeof(buf), &len), AWC_OK);
        }
    }
    {
        uint8_t *img;
        uint64_t n = et_file_size(p);
        int64_t at;

        img = malloc((size_t)n);
        assert_non_null(img);
        et_pread(p, img, (size_t)n, 0);
        at = find_value(img, n, 10, 1, sizeof(val));
        free(img);
        assert_true(at >= 0);
        et_flip_byte(p, (uint64_t)at + 8); /* in the value's header: its version */
    }
    dmg_key(key, 10);
    rc = awc_kv_get(kv, key, strlen(key), buf, sizeof(buf), &len);
    if (rc == AWC_OK)
        fail_msg("item 10, damaged on disk, reads back as if whole (%zu bytes%s)", len,
                 et_value_ok(buf, len, 10, &ver) ? ", the old bytes: its frame was not evicted"
                                                 : "");
    ET_EXPECT(rc, AWC_ECHECKSUM);
    ET_EXPECT(awc_kv_get(kv, key, strlen(key), buf, sizeof(buf), &len), AWC_ENOTFOUND);
    et_value_make(val, sizeof(val), 10, 2);
    ET_EXPECT(awc_kv_put(kv, key, strlen(key), val, sizeof(val), 0), AWC_OK);
    ET_EXPECT(awc_kv_get(kv, key, strlen(key), buf, sizeof(buf), &len), AWC_OK);
    assert_true(len == sizeof(val) && et_value_ok(buf, len, 10, &ver) && ver == 2);
    for (unsigned i = 0; i < 100; i++) { /* the others are as they were, or report the damage */
        size_t kl = dmg_key(key, i);

        rc = awc_kv_get(kv, key, kl, buf, sizeof(buf), &len);
        if (rc == AWC_OK)
            assert_true(len == sizeof(val) && et_value_ok(buf, len, i, &ver) &&
                        ver == (i == 10 ? 2u : 1u));
        else
            ET_EXPECT2(rc, AWC_ECHECKSUM, AWC_ENOTFOUND);
    }
    ET_EXPECT(awc_kv_close(kv), AWC_OK);
    et_unlink(p);
}

/* ---- Interrupted creation ---------------------------------------------------------------- */

static void test_interrupted_create(void **state)
{
    char p[1024];
    struct awc_kv_config cfg = kcfg(et_path(p, sizeof(p), "create"), DMG_CAP, AWC_CREATE);
    static const uint64_t sizes[] = {0, ET_SB_SIZE, 2 * ET_SB_SIZE};
    static uint8_t val[100], buf[100];
    awc_kv_t *kv;

    (void)state;
    et_value_make(val, sizeof(val), 1, 1);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        struct awc_config pc = et_cfg(p, PS, FRAMES, FRAMES, AWC_CREATE | AWC_EXCL);
        struct awc_kv_stats st;
        size_t len = 0;
        uint64_t ver = 0;
        int rc;

        /* What a crash during the creation may leave: the page cache's file as awc_open makes
         * it (no pages yet), cut to 0, 1 or 2 superblocks. */
        et_unlink(p);
        et_close(et_open(&pc));
        et_truncate(p, sizes[s]);
        cfg.flags = AWC_CREATE;
        cfg.capacity = DMG_CAP;
        kv = NULL;
        rc = awc_kv_open(&cfg, &kv);
        if (rc != AWC_OK)
            fail_msg("a file cut to %llu bytes (creation interrupted) does not open: %d (%s)",
                     (unsigned long long)sizes[s], rc, awc_strerror(rc));
        kv_keep(kv);
        ET_EXPECT(awc_kv_get_stats(kv, &st), AWC_OK);
        assert_int_equal(st.items, 0);
        assert_int_equal(st.capacity, DMG_CAP);
        ET_EXPECT(awc_kv_get(kv, "a", 1, buf, sizeof(buf), &len), AWC_ENOTFOUND);
        ET_EXPECT(awc_kv_put(kv, "a", 1, val, sizeof(val), 0), AWC_OK);
        ET_EXPECT(awc_kv_close(kv), AWC_OK);
        cfg.flags = 0;
        cfg.capacity = 0;
        kv = NULL;
        ET_EXPECT(awc_kv_open(&cfg, &kv), AWC_OK);
        kv_keep(kv);
        ET_EXPECT(awc_kv_get(kv, "a", 1, buf, sizeof(buf), &len), AWC_OK);
        assert_true(len == sizeof(val) && et_value_ok(buf, len, 1, &ver) && ver == 1);
        ET_EXPECT(awc_kv_close(kv), AWC_OK);
    }
    et_unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill_rounds, teardown),
        cmocka_unit_test_teardown(test_damage, teardown),
        cmocka_unit_test_teardown(test_damage_while_open, teardown),
        cmocka_unit_test_teardown(test_interrupted_create, teardown),
    };
    int rc;

    tu_init();
    et_init("test_kv_crash");
    et_path(path, sizeof(path), "crash");
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    rc = cmocka_run_group_tests_name("kv_crash", tests, NULL, NULL);
    munmap(shm, sizeof(*shm));
    et_cleanup();
    return rc;
}
