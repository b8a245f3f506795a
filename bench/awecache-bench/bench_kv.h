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

#include "bench.h"
#include "cli.h"

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

/* --value-size MIN-MAX (or one size) into *min and *max, each from KV_VALUE_HEAD to largest
 * bytes. 0, or -1 with a message. */
int kv_parse_value_size(const char *s, uint64_t largest, uint64_t *min, uint64_t *max);

/* ---- Sides ------------------------------------------------------------------------------- */

/* What a scan hands each item it passes to (kv_side.scan): 0 to go on, nonzero to stop. */
typedef int (*kv_visit_fn)(void *ctx, const void *key, size_t key_len, const void *value,
                           size_t value_len);

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
    /* --btree's (NULL: the side is in --kv only): from thread `thread`, positions at the first
     * key >= key and hands up to n items, in key order, to visit (stopping where it returns
     * nonzero). Returns the items handed over (0 .. n), or -1 with err. */
    long (*scan)(void *state, unsigned thread, const void *key, size_t key_len, unsigned n,
                 kv_visit_fn visit, void *ctx, char *err, size_t errlen);
    /* --btree's: what close would report (the counters since begin, the memory now) into st,
     * the store staying open. NULL: nothing known. */
    void (*stats)(void *state, struct kv_side_stats *st);
    /* Ends the run and releases everything (the store stays on disk); st may be NULL (a failed
     * run cleaning up). 0, or -1 with err. */
    int (*close)(void *state, struct kv_side_stats *st, char *err, size_t errlen);
    /* Removes the store at path (whatever of it exists). */
    void (*destroy)(const char *path);
};

extern const struct kv_side kv_side_awecache; /* bench_kv_awecache.c */
extern const struct kv_side kv_side_rocksdb;  /* bench_kv_rocksdb.c */
extern const struct kv_side kv_side_lmdb;     /* bench_kv_lmdb.c */
/* --btree's awecache side: the B+-tree (bench_bt_awecache.c); RocksDB and LMDB are the two above,
 * with their scan and stats. */
extern const struct kv_side bt_side_awecache;

/* ---- What --kv and --btree share (bench_kv.c) ------------------------------------------------ */

/* The options both take alike beyond bench.h's common ones; a command numbers its own from
 * KV_OPT_END. */
enum kv_common_opt {
    KV_OPT_ITEMS = BENCH_OPT_COMMON_END,
    KV_OPT_VALUE_SIZE,
    KV_OPT_DURATION,
    KV_OPT_DIR,
    KV_OPT_MEDIUM,
    KV_OPT_REPEAT,
    KV_OPT_END,
};

/* The option table's lines of --medium and --repeat, alike in both commands. */
/* clang-format off */
#define KV_OPTS_MEDIUM_REPEAT                                                                      \
    {"medium", KV_OPT_MEDIUM, "M",                                                                 \
     "disk (default: --dir) or ram: the stores on ext4 on a RAM disk made for the run"},           \
    {"repeat", KV_OPT_REPEAT, "N",                                                                 \
     "run every side N times, interleaved, and report the median (min-max) (default 1)"}
/* clang-format on */

/* Their values. */
struct kv_common {
    uint64_t items;     /* --items (0: from --data-size) */
    uint64_t value_min; /* --value-size, bytes */
    uint64_t value_max;
    const char *dir;       /* --dir, or NULL */
    struct bench_medium m; /* --medium, and the RAM disk the stores live on */
    uint64_t repeat;       /* --repeat: runs of every side, interleaved (default 1) */
};

/* Takes option id (a kv_common_opt, or --data-size, --window or --page-size with the checks
 * both commands make: above 0, a page size of 4 KiB to 2 MiB) with values of at most
 * value_largest bytes: 0, -1 for a wrong value (message printed), or 1 when id is not one of
 * them. */
int kv_common_option(int id, const char *arg, struct bench_common *c, struct kv_common *k,
                     uint64_t value_largest);
/* After parsing: not --items with --data-size, frames of at least a page, the window from a
 * page to the frames, the frames within the RAM, not --medium ram with --dir or --keep; sets
 * it's value sizes and seed (not n). 0, or -1 (message printed: a usage error). */
int kv_check_common(const struct bench_common *c, const struct kv_common *k, struct kv_items *it);
/* Opens the medium (--medium: a RAM disk for stores of files_bytes at most at once, beside the
 * frames; or a note and the disk) and picks the stores' base name there (or in --dir) with
 * prefix (kv_pick_base). The process must have one thread yet. 0, or -1 (message printed, the
 * medium closed). bench_medium_close(&k->m) lets go of it at the end. */
int kv_open_medium(struct kv_common *k, uint64_t files_bytes, uint64_t frames, const char *prefix,
                   char *base, size_t len);
/* The items' keys and values, bytes. */
uint64_t kv_data_bytes(const struct kv_items *it);
/* The run's sizes as the configuration lines write them. */
struct kv_config_text {
    char n[32], values[72], data[32], frames[32], window[32], page[32], limit[96];
};
void kv_config_text(struct kv_config_text *t, const struct kv_items *it, uint64_t data_bytes,
                    const struct bench_common *c);
/* The JSON configuration's fields both write: mode, stores, items, key_bytes, value_min,
 * value_max, data_bytes, ram_budget, window, page_size. */
void kv_json_config(struct cli_json *j, const char *mode, const char *base,
                    const struct kv_items *it, uint64_t data_bytes, const struct bench_common *c);
/* a / b of two rates, or NAN. */
double kv_ratio(double a, double b);

/* ---- Runs: a side's store driven by the harness (bench_kv.c; --btree's driver uses them) ---- */

#define KV_SCAN_LEN 100u /* items per scan (KV_READS_SCAN) */

struct kv_run;

/* A run of the items with `threads` workers (and the load, as thread `threads`); the items stay
 * the caller's. NULL: out of memory. kv_run_free releases it (after kv_run_close). */
struct kv_run *kv_run_new(const struct kv_items *items, unsigned threads);
void kv_run_free(struct kv_run *run);
/* The harness's configuration (kv_run_configure sets most of it), for the caller to set the
 * workload's shape: threads (at most kv_run_new's), warm-up, workload. */
struct bench_config *kv_run_harness_config(struct kv_run *run);
/* Creates the side's store at path (which must not exist). 0, or -1 with err (the store
 * removed). */
int kv_run_open(struct kv_run *run, const struct kv_side *side, const char *path, char *err,
                size_t errlen);
/* Puts version 1 of every item from the calling thread, in the order order[0 .. items) (NULL:
 * key order), then makes the store durable (the side's sync); *seconds is the time of both.
 * 0, or -1 with err ("interrupted" after SIGINT or SIGTERM). */
int kv_run_load(struct kv_run *run, const uint32_t *order, double *seconds, char *err,
                size_t errlen);

/* What the harness's reads are: gets of an item, or scans of KV_SCAN_LEN items from it. */
enum kv_reads { KV_READS_GET, KV_READS_SCAN };

/* Runs the harness (bench_run) on the open, loaded store: warm-up, then the measured part; a
 * read is a get or a scan, each item checked byte for byte, and every item must be found; a
 * write puts the item's next version. The store stays open: its figures are the side's stats
 * (ss, KV_UNKNOWN where it has none), *rss_delta the process's RSS now less before the store was
 * made. Returns 0, or -1 with r->error. */
int kv_run_measure(struct kv_run *run, enum kv_reads reads, struct bench_result *r,
                   struct kv_side_stats *ss, uint64_t *rss_delta);
/* Sets the side's and the harness's configuration from c: the items, their bytes, the budgets,
 * the page, batch 1, the run's limits (the threads, the warm-up and the workload are the
 * caller's). */
void kv_run_configure(struct kv_run *run, uint64_t data_bytes, const struct bench_common *c);
/* Closes the side (if open) and removes its store, unless keep (then a note says where). */
void kv_run_close(struct kv_run *run, bool keep);

/* SIGINT and SIGTERM stop a run (at the next operation, or the load's next item) while
 * cli_signals_install's handlers are in (cli.h; cli_stopping says whether one came).
 * kv_signals_restore puts the old handlers back and returns the command's status: `status`, or
 * CLI_EXIT_FAIL with one "interrupted" line on stderr when a signal came while status was still
 * CLI_EXIT_OK (caught after the run's last look, while its last side closed: not lost). */
int kv_signals_restore(const struct cli_signals *s, int status);

/* Picks a new base DIR/PREFIX-<random> none of whose stores (base + any side's suffix) exists,
 * DIR being dir_opt or (NULL) the temporary directory, and checks that DIR takes a file. Returns
 * 0 or -1 (message printed: --dir's when dir_opt was given). */
int kv_pick_base(const char *dir_opt, const char *prefix, char *base, size_t len);

/* A side's RAM hit ratio over ops operations: hits / (hits + misses), or with misses alone known
 * (major faults) 1 - misses per operation, at least 0. NAN when unknown. */
double kv_hit_ratio(const struct kv_side_stats *ss, uint64_t ops);

/* The awecache sides' failures (bench_kv_awecache.c): 0 for AWC_OK, else -1 with err = "CALL
 * KEY: what awc_strerror says" ("CALL: ..." when key is NULL). */
int kv_awc_result(int rc, const char *call, const void *key, size_t key_len, char *err,
                  size_t errlen);
/* The capacity of the awecache side's log for items of data_bytes (keys and values) in pages of
 * `page` bytes: twice the items with their 48-byte headers + 64 MiB (bench_kv_awecache.c). */
uint64_t kv_awc_capacity(uint64_t data_bytes, uint64_t items, uint64_t page);
/* Removes an awecache side's store (its file). */
void kv_awc_destroy(const char *path);
/* The awecache page cache's checksum table for a file of `bytes` bytes of pages of `page`
 * bytes (17 bytes per page in segments of 256 pages; bench_kv_awecache.c). */
uint64_t kv_awc_checksum_estimate(uint64_t bytes, uint64_t page);

/* The process's resident memory in bytes, and its major page faults so far (Linux: from
 * /proc/self; elsewhere KV_UNKNOWN). */
uint64_t kv_proc_rss(void);
uint64_t kv_proc_major_faults(void);

#endif /* AWECACHE_BENCH_BENCH_KV_H */
