/*
 * bench/awecache-bench/bench_kv_lmdb.c: the LMDB side of `awecache-bench --kv` (bench_kv.h). Built
 * where CMake found LMDB (AWECACHE_HAVE_LMDB); elsewhere the side says it is not built.
 *
 * LMDB reads through a memory map of its file, so its cache is the OS page cache. The RAM
 * budget is enforced as for the mmap baseline of `awecache-bench --compare`: by a memory cgroup
 * of the budget (plat_memlimit_enter) that the process enters before the store is created, so
 * that every page of the file the side brings into memory is charged to it. The load runs in one
 * cgroup; between the load and the warm-up the side closes the environment (a page its map
 * holds cannot be dropped, and would stay in memory charged to no limit once the load's cgroup
 * is gone), drops the file's cached pages, leaves the cgroup, enters a fresh one and opens the
 * environment again, so that the fresh cgroup's peak ("RAM used") covers every page the warm-up
 * and the measured part use. Where no cgroup can be made (not root, no memory controller),
 * in a ThreadSanitizer build (its shadow memory would be charged to the limit) or for a budget
 * too small to hold the process's own memory as well, the side runs without the limit and the
 * note says "RAM budget NOT enforced" and why.
 *
 * The environment: one file (MDB_NOSUBDIR; its lock file beside it, PATH-lock), a map of four
 * times the items' bytes + 256 MiB (see "The map" below), MDB_NORDAHEAD (a fault reads its own page
 * only: the OS's read-around would evict far more than a get uses from a small budget), MDB_NOSYNC
 * (commits are not flushed to disk one by one: the load ends with mdb_env_sync, as awecache's with
 * awc_kv_flush), MDB_NOTLS (each worker thread keeps its own read transaction, reset between
 * gets and renewed for the next). Not MDB_WRITEMAP: pages are written with pwrite. A put of the
 * run is one write transaction (LMDB has one writer at a time); the load commits every 1,000
 * puts.
 *
 * Counters of the measured part: "RAM hit" is 1 - major page faults per operation (the
 * process's faults: getting a page of the map from the disk), a lower bound on the share of
 * operations served from RAM (an operation may fault more than once); "meta" is the B-tree's
 * branch pages; "RAM used" the cgroup's peak; disk the pages in use.
 *
 * The map. LMDB's whole database is one memory map, of the size given to mdb_env_set_mapsize (a
 * size_t) and mapped by mdb_env_open (mmap); a put that needs a page beyond it fails with
 * MDB_MAP_FULL. Where the address space cannot give the map wanted (a 32-bit process: four
 * times the items' bytes over 4 GiB cannot even be asked for, and mmap answers ENOMEM well
 * below that), the side opens the largest map that mdb_env_open accepts in this process (found
 * by halving, to 64 MiB) less a quarter of it, at most 256 MiB, for the rest of the process. The
 * note says so, and when the items do not fit, the load fails with LMDB's own error (the side's
 * error, the item it had reached and the map's size): never a figure of a store that does not
 * hold every item.
 */
#include "bench_kv.h"

#ifdef AWECACHE_HAVE_LMDB

#include "cli.h"
#include "plat_proc.h"

#include <lmdb.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <stdint.h>

#define MIB        (1024ull * 1024ull)
#define LOAD_BATCH 1000u        /* puts per write transaction during the load */
#define MAP_STEP   (64u * MIB)  /* the map search's granularity (file comment: the map) */
#define MAP_SPARE  (256u * MIB) /* at most this much address space left beside a smaller map */

/* See bench_baselines.c: a TSan build runs without the limit. */
#if defined(__SANITIZE_THREAD__)
#define LMDB_NO_LIMIT 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LMDB_NO_LIMIT 1
#endif
#endif
#ifndef LMDB_NO_LIMIT
#define LMDB_NO_LIMIT 0
#endif

struct side_state {
    const struct kv_config *cfg;
    MDB_env *env;
    MDB_dbi dbi;
    size_t map;                  /* the map's size once chosen (0: not yet; see env_open) */
    bool map_smaller;            /* it is less than map_size(): all the address space gave */
    MDB_txn *load_txn;           /* the load's open write transaction */
    unsigned load_pending;       /* puts in it */
    uint64_t load_puts;          /* the load's puts so far (its error says how far it came) */
    MDB_txn **readers;           /* [threads]: reset read transactions */
    struct plat_memlimit *limit; /* the memory cgroup; NULL: the budget is not enforced */
    uint64_t faults0;            /* major faults at begin */
    char note[160];              /* how the budget was enforced */
    char map_note[96];           /* the map, when smaller than wanted ("" otherwise) */
};

static bool lmdb_noted; /* the "not enforced" note was printed once */

/* The least limit the side enters (as the mmap baseline's): the process's own memory is
 * charged too (stacks, the harness's arrays, the map's page tables: 8 bytes per 4 KiB). */
static uint64_t limit_floor(const struct kv_config *cfg, uint64_t map_bytes)
{
    return (8u << 20) + ((uint64_t)cfg->threads + 1) * (256u << 10) + map_bytes / 256 +
           cfg->items->n * 8;
}

/* Enters a memory limit of the budget (or says why not into s->note). 0, or -1 with err. */
static int limit_enter(struct side_state *s, uint64_t map_bytes, char *err, size_t errlen)
{
    char why[128] = "";
    int rc;

    if (LMDB_NO_LIMIT) {
        snprintf(why, sizeof(why), "%s",
                 "a ThreadSanitizer build (its shadow memory would be charged to the limit)");
        rc = PLAT_ENOTSUP;
    } else if (s->cfg->ram_budget < limit_floor(s->cfg, map_bytes)) {
        snprintf(why, sizeof(why),
                 "below %.1f MiB the process's own memory in the cgroup could get the run killed",
                 (double)limit_floor(s->cfg, map_bytes) / (double)MIB);
        rc = PLAT_ENOTSUP;
    } else {
        rc = plat_memlimit_enter(s->cfg->ram_budget, &s->limit, why, sizeof(why));
    }
    if (rc == PLAT_ENOTSUP) {
        s->limit = NULL;
        snprintf(s->note, sizeof(s->note), "RAM budget NOT enforced: %s", why);
        if (!lmdb_noted) {
            lmdb_noted = true;
            cli_note(NULL, "lmdb: RAM budget NOT enforced: %s", why);
        }
        return 0;
    }
    if (rc != 0) {
        s->limit = NULL;
        snprintf(err, errlen, "cannot set up a memory limit: %s", plat_io_strerror(rc));
        return -1;
    }
    snprintf(s->note, sizeof(s->note), "RAM budget enforced by a memory cgroup");
    return 0;
}

/* Leaves the limit; 0, or -1 with err (the rest of the run stays limited). */
static int limit_leave(struct side_state *s, char *err, size_t errlen)
{
    int rc;

    if (s->limit == NULL)
        return 0;
    rc = plat_memlimit_leave(s->limit);
    s->limit = NULL;
    if (rc != 0) {
        snprintf(err, errlen,
                 "cannot leave the memory cgroup (%s): the rest of the run stays limited",
                 plat_io_strerror(rc));
        return -1;
    }
    return 0;
}

static uint64_t map_size(const struct kv_config *cfg)
{
    return 4 * (cfg->data_bytes + cfg->items->n * 16) + 256 * MIB;
}

/* Closes the environment and frees everything (the limit is left by the caller). */
static void side_release(struct side_state *s)
{
    if (s->load_txn != NULL)
        mdb_txn_abort(s->load_txn);
    if (s->readers != NULL) {
        for (unsigned t = 0; t < s->cfg->threads; t++) {
            if (s->readers[t] != NULL)
                mdb_txn_abort(s->readers[t]);
        }
        free(s->readers);
    }
    if (s->env != NULL)
        mdb_env_close(s->env);
    free(s);
}

static int lmdb_fail(struct side_state *s, int rc, const char *what, char *err, size_t errlen)
{
    char ignored[256];

    snprintf(err, errlen, "%s %s: %s", what, s->cfg->path, mdb_strerror(rc));
    limit_leave(s, ignored, sizeof(ignored));
    side_release(s);
    return -1;
}

/* Creates the environment with a map of `map` bytes and opens it (creates its file the first
 * time): 0, or an LMDB error (ENOMEM from mdb_env_open: no room for the map in the address
 * space) with *what naming the step and s->env closed. */
static int env_try(struct side_state *s, size_t map, const char **what)
{
    int rc;

    *what = "mdb_env_create";
    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        return rc;
    }
    *what = "mdb_env_set";
    if ((rc = mdb_env_set_mapsize(s->env, map)) == 0 &&
        (rc = mdb_env_set_maxreaders(s->env, s->cfg->threads + 2)) == 0) {
        *what = "cannot create";
        rc = mdb_env_open(s->env, s->cfg->path,
                          MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD | MDB_NOSYNC, 0644);
    }
    if (rc != 0) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

/* The largest map below `fails` bytes (which mdb_env_open refused with ENOMEM), in MAP_STEPs,
 * that mdb_env_open accepts in this process: 0 when none, or an error other than ENOMEM in *rc. */
static size_t map_largest(struct side_state *s, size_t fails, int *rc, const char **what)
{
    size_t ok = 0;

    *rc = 0;
    while (fails - ok > MAP_STEP) {
        size_t mid = ok + (fails - ok) / 2 / MAP_STEP * MAP_STEP;

        if (mid == ok)
            mid += MAP_STEP;
        *rc = env_try(s, mid, what);
        if (*rc == 0) {
            mdb_env_close(s->env);
            s->env = NULL;
            ok = mid;
        } else if (*rc == ENOMEM) {
            fails = mid;
        } else {
            return 0;
        }
    }
    *rc = 0;
    return ok;
}

/* Opens the environment at s->map, the first time choosing it (file comment: the map): the map
 * wanted, else the largest mdb_env_open accepts less the spare. 0, or an LMDB error with *what
 * naming the step. */
static int env_map(struct side_state *s, const char **what)
{
    uint64_t want = map_size(s->cfg);
    size_t top = SIZE_MAX / MAP_STEP * MAP_STEP, fails, largest;
    int rc;

    if (s->map != 0)
        return env_try(s, s->map, what);
    fails = want <= top ? (size_t)want : top;
    rc = env_try(s, fails, what);
    if (rc == 0) {
        s->map = fails;
        s->map_smaller = fails < want;
    }
    if (rc != ENOMEM)
        return rc;
    largest = map_largest(s, fails, &rc, what);
    if (rc != 0)
        return rc;
    if (largest == 0) {
        *what = "cannot map (not even 64 MiB)";
        return ENOMEM;
    }
    s->map = largest - (largest / 4 < MAP_SPARE ? largest / 4 : MAP_SPARE);
    s->map_smaller = true;
    return env_try(s, s->map, what);
}

/* Opens (creates, the first time) the environment and its database. 0, or an LMDB error with
 * *what naming the step. */
static int env_open(struct side_state *s, const char **what)
{
    MDB_txn *txn;
    int rc = env_map(s, what);

    if (rc != 0)
        return rc;
    if (s->map_smaller)
        snprintf(s->map_note, sizeof(s->map_note),
                 "; a map of %llu MiB, all this address space gave (wanted %llu MiB)",
                 (unsigned long long)(s->map / MIB), (unsigned long long)(map_size(s->cfg) / MIB));
    *what = "cannot open the database of";
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    return rc;
}

/* Steps: 1. enter the load's memory limit; 2. create the environment and the database. */
static int side_open(void **state, const struct kv_config *cfg, char *drop_path, size_t drop_len,
                     char *err, size_t errlen)
{
    struct side_state *s = calloc(1, sizeof(*s));
    uint64_t map = map_size(cfg);
    const char *what;
    int rc;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    /* Step 1 */
    if (limit_enter(s, map, err, errlen) != 0) {
        free(s);
        return -1;
    }
    /* Step 2 */
    rc = env_open(s, &what);
    if (rc != 0)
        return lmdb_fail(s, rc, what, err, errlen);
    snprintf(drop_path, drop_len, "%s", cfg->path);
    *state = s;
    return 0;
}

/* A put's error into err: LMDB's, with the item the load had reached and the map when it was
 * smaller than wanted (MDB_MAP_FULL: the items do not fit it). */
static void put_error(const struct side_state *s, bool load, const char *what, const void *key,
                      size_t key_len, int rc, char *err, size_t errlen)
{
    char at[64] = "";

    if (load)
        snprintf(at, sizeof(at), " (item %llu of %llu of the load)",
                 (unsigned long long)s->load_puts + 1, (unsigned long long)s->cfg->items->n);
    snprintf(err, errlen, "%s %.*s: %s%s%s", what, (int)key_len, (const char *)key,
             mdb_strerror(rc), at, s->map_note);
}

/* A put: the load's (thread cfg->threads) goes into the open load transaction, committed every
 * LOAD_BATCH puts; the run's is a write transaction of its own. */
static int side_put(void *state, unsigned thread, const void *key, size_t key_len,
                    const void *value, size_t value_len, char *err, size_t errlen)
{
    struct side_state *s = state;
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    bool load = thread == s->cfg->threads;
    MDB_txn *txn = load ? s->load_txn : NULL;
    int rc = 0;

    if (txn == NULL)
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_put(txn, s->dbi, &k, &v, 0);
    if (rc != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        if (load)
            s->load_txn = NULL;
        put_error(s, load, "mdb_put", key, key_len, rc, err, errlen);
        return -1;
    }
    if (load)
        s->load_puts++;
    if (load && ++s->load_pending < LOAD_BATCH) {
        s->load_txn = txn;
        return 0;
    }
    s->load_txn = NULL;
    s->load_pending = 0;
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        put_error(s, load, "mdb_txn_commit, put", key, key_len, rc, err, errlen);
        return -1;
    }
    return 0;
}

static int side_get(void *state, unsigned thread, const void *key, size_t key_len,
                    struct kv_check *c, char *err, size_t errlen)
{
    struct side_state *s = state;
    MDB_val k = {key_len, (void *)key}, v;
    MDB_txn *txn = s->readers[thread];
    int rc = mdb_txn_renew(txn);

    if (rc == 0) {
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == 0)
            kv_check_piece(c, v.mv_data, v.mv_size);
        mdb_txn_reset(txn);
    }
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        snprintf(err, errlen, "mdb_get %.*s: %s", (int)key_len, (const char *)key,
                 mdb_strerror(rc));
        return -1;
    }
    return 1;
}

/* Commits what the load left open and writes everything to disk. */
static int side_sync(void *state, char *err, size_t errlen)
{
    struct side_state *s = state;
    int rc = 0;

    if (s->load_txn != NULL) {
        rc = mdb_txn_commit(s->load_txn);
        s->load_txn = NULL;
        s->load_pending = 0;
    }
    if (rc == 0)
        rc = mdb_env_sync(s->env, 1);
    if (rc != 0) {
        snprintf(err, errlen, "mdb sync: %s%s", mdb_strerror(rc), s->map_note);
        return -1;
    }
    return 0;
}

/* Steps: 1. close the environment (synced by side_sync) and drop the file's cached pages (file
 * comment); 2. leave the load's limit and enter a fresh one (its peak covers the run); 3. open
 * the environment again; 4. the workers' read transactions, made and reset. */
static int side_start(void *state, char *err, size_t errlen)
{
    struct side_state *s = state;
    const char *what;
    int rc;

    /* Step 1 */
    mdb_env_close(s->env);
    s->env = NULL;
    if (bench_drop_os_cache(s->cfg->path, err, errlen) != 0)
        return -1;
    /* Step 2 */
    if (s->limit != NULL) {
        if (limit_leave(s, err, errlen) != 0 || limit_enter(s, map_size(s->cfg), err, errlen) != 0)
            return -1;
    }
    /* Step 3 */
    rc = env_open(s, &what);
    if (rc != 0) {
        snprintf(err, errlen, "%s %s: %s", what, s->cfg->path, mdb_strerror(rc));
        return -1;
    }
    /* Step 4 */
    s->readers = calloc(s->cfg->threads, sizeof(*s->readers));
    if (s->readers == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned t = 0; t < s->cfg->threads; t++) {
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->readers[t]);
        if (rc != 0) {
            s->readers[t] = NULL;
            snprintf(err, errlen, "mdb_txn_begin (read): %s", mdb_strerror(rc));
            return -1;
        }
        mdb_txn_reset(s->readers[t]);
    }
    return 0;
}

static void side_begin(void *state)
{
    struct side_state *s = state;

    s->faults0 = kv_proc_major_faults();
}

/* A scan: the thread's read transaction renewed, a cursor at the first key >= key
 * (MDB_SET_RANGE), then MDB_NEXT until n items were handed over. */
static long side_scan(void *state, unsigned thread, const void *key, size_t key_len, unsigned n,
                      kv_visit_fn visit, void *ctx, char *err, size_t errlen)
{
    struct side_state *s = state;
    MDB_val k = {key_len, (void *)key}, v;
    MDB_txn *txn = s->readers[thread];
    MDB_cursor *cur = NULL;
    long got = 0;
    int rc = mdb_txn_renew(txn);

    if (rc == 0)
        rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        while (rc == 0 && (unsigned long)got < n) {
            got++;
            if (visit(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size) != 0)
                break;
            if ((unsigned long)got < n)
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_reset(txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        snprintf(err, errlen, "mdb_cursor_get from %.*s: %s", (int)key_len, (const char *)key,
                 mdb_strerror(rc));
        return -1;
    }
    return got;
}

/* The counters since begin, the sizes, the cgroup's peak so far and the note. */
static void side_stats(void *state, struct kv_side_stats *out)
{
    struct side_state *s = state;
    uint64_t faults = kv_proc_major_faults();
    MDB_stat ms;
    MDB_envinfo ei;

    out->misses = faults != KV_UNKNOWN && s->faults0 != KV_UNKNOWN && faults >= s->faults0
                      ? faults - s->faults0
                      : KV_UNKNOWN;
    out->hits = KV_UNKNOWN; /* misses per operation */
    if (mdb_env_stat(s->env, &ms) == 0)
        out->meta_bytes = (uint64_t)ms.ms_branch_pages * ms.ms_psize;
    if (mdb_env_info(s->env, &ei) == 0 && mdb_env_stat(s->env, &ms) == 0)
        out->disk_bytes = ((uint64_t)ei.me_last_pgno + 1) * ms.ms_psize;
    out->mem_bytes = s->limit != NULL ? plat_memlimit_peak(s->limit) : KV_UNKNOWN;
    if (out->mem_bytes == 0)
        out->mem_bytes = KV_UNKNOWN;
    if (snprintf(out->note, sizeof(out->note), "%s; a transaction per put%s", s->note,
                 s->map_note) < 0)
        out->note[0] = '\0';
}

/* Steps: 1. the counters and sizes; 2. close the environment; 3. the cgroup's peak, and leave
 * it. */
static int side_close(void *state, struct kv_side_stats *out, char *err, size_t errlen)
{
    struct side_state *s = state;
    int ret = 0;

    /* Step 1 */
    if (out != NULL)
        side_stats(s, out);
    /* Step 2 */
    {
        struct plat_memlimit *limit = s->limit;

        s->limit = NULL;
        side_release(s);
        /* Step 3 */
        if (limit != NULL) {
            int rc = plat_memlimit_leave(limit);

            if (rc != 0) {
                snprintf(err, errlen,
                         "cannot leave the memory cgroup (%s): the rest of the run stays limited",
                         plat_io_strerror(rc));
                ret = -1;
            }
        }
    }
    return ret;
}

static void side_destroy(const char *path)
{
    char lock[4200];

    remove(path);
    snprintf(lock, sizeof(lock), "%s-lock", path);
    remove(lock);
}

const struct kv_side kv_side_lmdb = {
    .name = "lmdb",
    .missing = NULL,
    .suffix = ".lmdb",
    .open = side_open,
    .put = side_put,
    .get = side_get,
    .sync = side_sync,
    .start = side_start,
    .begin = side_begin,
    .scan = side_scan,
    .stats = side_stats,
    .close = side_close,
    .destroy = side_destroy,
};

#else /* !AWECACHE_HAVE_LMDB */

const struct kv_side kv_side_lmdb = {
    .name = "lmdb",
    .missing =
        "not built: LMDB (lmdb.h and liblmdb) was not found when this program was "
        "configured (Debian: liblmdb-dev, liblmdb-dev:i386 for the 32-bit build; the Windows "
        "build goes without)",
    .suffix = ".lmdb",
};

#endif
