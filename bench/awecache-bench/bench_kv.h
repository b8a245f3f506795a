/*
 * bench/awecache-bench/bench_kv.h: `awecache-bench --kv`: the key-value benchmark. N items (a key
 * and a value each) are loaded into a store, then threads get and put them under a workload, and
 * the store is measured: awecache's key-value cache (awc_kv_*) and, with --compare, RocksDB and
 * LMDB under the same RAM budget (README.md says how each is set up and what it counts).
 *
 * The items. Item `id` (0 .. N-1) has the key "kv" followed by id as 16 hex digits (18 bytes;
 * fixed width, so the keys sort as the ids do) and a value whose length depends on the id alone
 * (uniform from the smallest to the largest value size, by a hash of id and the seed). A value
 * holds its id and its version (little-endian 64-bit words 0 and 1) and then bytes derived from
 * both, so that a get can check every byte: the value belongs to the key, is whole, and is not
 * older than the last put that completed before the get began. The load puts version 1 of
 * every item; a put in the run writes the next version.
 *
 * The sides. A side is a store behind six calls (struct kv_side); the run (bench_kv.c) loads it
 * from one thread in key order, makes it durable, then hands it to the harness of bench_run.c
 * (threads, warm-up, the barrier, the measured part, progress), one operation at a time.
 */
#ifndef AWECACHE_BENCH_BENCH_KV_H
#define AWECACHE_BENCH_BENCH_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_KEY_LEN    18u        /* "kv" + 16 hex digits */
#define KV_BATCH_MAX  256u       /* gets handed to a side at once, at most (--batch) */
#define KV_VALUE_HEAD 16u        /* the value's id and version words */
#define KV_UNKNOWN    UINT64_MAX /* a figure a side cannot know ("-" in the table) */

/* The command (dispatched from cmd_bench when --kv is among its arguments). */
int cmd_bench_kv(int argc, char **argv);
/* `--kv-reopen`: the key-value cache's reopen time against its item count (bench_kv_reopen.c). */
int cmd_bench_kv_reopen(int argc, char **argv);

/* ---- Items ------------------------------------------------------------------------------- */

/* What every item's key and value derive from. */
struct kv_items {
    uint64_t n;         /* items */
    uint32_t value_min; /* bytes, >= KV_VALUE_HEAD */
    uint32_t value_max; /* bytes, >= value_min */
    uint64_t seed;      /* the run's --seed */
};

/* Writes item id's key (KV_KEY_LEN bytes, then a NUL) into key. */
void kv_key(uint64_t id, char key[KV_KEY_LEN + 1]);
/* Item id's value length. */
size_t kv_value_len(const struct kv_items *it, uint64_t id);
/* Writes version `version` of item id's value (kv_value_len bytes) into buf. */
void kv_value_fill(const struct kv_items *it, uint64_t id, uint64_t version, void *buf);

/* Checks a value a side found, handed over in one or more pieces (kv_check_piece, in order):
 * kv_check_begin, the pieces, then kv_check_end. */
struct kv_check {
    const struct kv_items *items;
    uint64_t id;      /* the item asked for */
    size_t want_len;  /* its value's length */
    size_t at;        /* bytes seen so far */
    uint64_t seed;    /* the pattern's seed once the head is known */
    uint8_t head[16]; /* the head as it arrives */
    bool bad;         /* a byte differed (or the value is too long) */
    size_t bad_at;    /* the first byte that differed */
};
void kv_check_begin(struct kv_check *c, const struct kv_items *it, uint64_t id);
void kv_check_piece(struct kv_check *c, const void *data, size_t len);
/* Ends the check: 0 with the value's version in *version, or -1 with what is wrong in err (the
 * length, the id, the byte that differs). */
int kv_check_end(struct kv_check *c, uint64_t *version, char *err, size_t errlen);

/* ---- Sides ------------------------------------------------------------------------------- */

/* What a side is given: the store to create and the run's budgets. */
struct kv_config {
    const char *path; /* the store: a new file (awecache, LMDB) or directory (RocksDB) */
    const struct kv_items *items;
    uint64_t data_bytes; /* the items' keys and values, bytes */
    uint64_t ram_budget; /* bytes of RAM the side may use for caching (--frames) */
    uint64_t window;     /* awecache's window (--window; 0: the engine's default) */
    size_t page_size;    /* awecache's page size (--page-size) */
    unsigned threads;    /* threads of the run: per-thread state is indexed 0 .. threads-1;
                          * the load runs in another thread, as thread `threads` */
    uint64_t ttl_ms;     /* --ttl (0: none); only the awecache side honours it */
    unsigned awc_flags;  /* extra AWC_* open flags for awecache (AWC_NO_DIRECT) */
};

/* What a side reports at close, for the measured part (after the warm-up). */
struct kv_side_stats {
    uint64_t hits, misses; /* served from RAM / not (the side's own unit: README.md); misses
                            * alone known (hits KV_UNKNOWN): misses per operation */
    uint64_t meta_bytes;   /* bytes of index or metadata to find the items (KV_UNKNOWN) */
    uint64_t mem_bytes;    /* RAM the side used by its own account (KV_UNKNOWN) */
    uint64_t disk_bytes;   /* the store's size on disk (KV_UNKNOWN) */
    char note[200];        /* how the budget was applied, what could not be done */
};

struct kv_side {
    const char *name;
    /* NULL when the side is built in; otherwise why not (a one-line reason). */
    const char *missing;
    /* The store's name: the run's base path + this ("" for awecache's file, say). */
    const char *suffix;
    /* Creates the store at cfg->path (it does not exist yet) with the budgets, and stores in
     * drop_path (drop_len bytes) a regular file of the store whose OS-cached pages the harness
     * drops before the run ("" for none). 0, or -1 with err (nothing left open). */
    int (*open)(void **state, const struct kv_config *cfg, char *drop_path, size_t drop_len,
                char *err, size_t errlen);
    /* Stores value[0..value_len) under key from thread `thread` (any 0 .. threads: calls from
     * different threads may run at once). 0, or -1 with err. */
    int (*put)(void *state, unsigned thread, const void *key, size_t key_len, const void *value,
               size_t value_len, char *err, size_t errlen);
    /* Looks the key up from thread `thread`; when found hands the value's bytes to c (in
     * order) and returns 1; not found: 0; failure: -1 with err. */
    int (*get)(void *state, unsigned thread, const void *key, size_t key_len, struct kv_check *c,
               char *err, size_t errlen);
    /* Looks keys[0..n) (each key_len bytes) up at once, as n calls of get would: found[i] 1 or
     * 0, a found value's bytes handed to c[i]. 0, or -1 with err. NULL: the harness calls get
     * n times (--batch N hands a side up to N gets at once). */
    int (*get_batch)(void *state, unsigned thread, size_t n, const char *const *keys,
                     size_t key_len, struct kv_check *c, int *found, char *err, size_t errlen);
    /* After the load: makes everything durable and lets background work settle. 0 or -1. */
    int (*sync)(void *state, char *err, size_t errlen);
    /* Between the load and the warm-up (memory limits are entered here), from the thread that
     * runs the workers. 0 or -1 with err. NULL: nothing to do. */
    int (*start)(void *state, char *err, size_t errlen);
    /* Between the warm-up and the measured part: counters start afresh. NULL: nothing. */
    void (*begin)(void *state);
    /* Ends the run and releases everything (the store stays on disk); st may be NULL (a failed
     * run cleaning up). 0, or -1 with err. */
    int (*close)(void *state, struct kv_side_stats *st, char *err, size_t errlen);
    /* Removes the store at path (whatever of it exists). */
    void (*destroy)(const char *path);
};

extern const struct kv_side kv_side_awecache; /* bench_kv_awecache.c */
extern const struct kv_side kv_side_rocksdb;  /* bench_kv_rocksdb.c */
extern const struct kv_side kv_side_lmdb;     /* bench_kv_lmdb.c */

/* The process's resident memory in bytes, and its major page faults so far (Linux: from
 * /proc/self; elsewhere KV_UNKNOWN). */
uint64_t kv_proc_rss(void);
uint64_t kv_proc_major_faults(void);

#endif /* AWECACHE_BENCH_BENCH_KV_H */
