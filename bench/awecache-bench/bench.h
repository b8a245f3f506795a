/*
 * bench/awecache-bench/bench.h: awecache-bench, the comparison benchmark: the workloads, the
 * sides that serve them (awecache and the baselines), and the harness that runs a side and
 * measures it. The program's manual is README.md; what it shares with the awecache tool (options,
 * messages, reports, data files, traces) is tools/awecache/'s cli.h, datafile.h and trace.h.
 *
 * A run: the harness starts `threads` threads; each draws operations from its own workload
 * generator (a page number and read-or-write), hands them to the side `batch` at a time, and
 * stops at the deadline or when the operation count is reached. Every side does the same work
 * per operation: it makes the page's bytes reachable (pin, map, copy...), reads one 64-bit word
 * in every 64 bytes of it (bench_touch), and for a write also stores word 1 (the pattern's free
 * word) back with the value it holds and marks the page changed, so that the page is written
 * back. A write so costs what a write costs, yet no side changes the file's bytes: the sides
 * share one data file, and a baseline writing past the engine (which keeps a checksum of every
 * page) would otherwise leave pages the engine reads as corrupt.
 */
#ifndef AWECACHE_BENCH_BENCH_H
#define AWECACHE_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The page benchmark (bench.c): `awecache-bench [OPTIONS]`, argv[0] the program's name; with
 * --kv among the arguments, the key-value benchmark (cmd_bench_kv, bench_kv.h) instead, with
 * --btree the B+-tree one (cmd_bench_bt, bench_bt.c). Returns an exit status (CLI_EXIT_*, cli.h).
 */
int cmd_bench(int argc, char **argv);
int cmd_bench_bt(int argc, char **argv);

/* ---- Workloads --------------------------------------------------------------------------- */

enum bench_dist {
    BENCH_UNIFORM, /* every page equally likely */
    BENCH_ZIPF,    /* Zipf with parameter theta over page ranks, ranks scattered over the file */
    BENCH_SEQ,     /* a sequential scan, each thread over its own share of the pages, wrapping */
    BENCH_MIX,     /* Zipf, with a fraction `mix_scan` of operations taken from a scan */
    BENCH_TRACE,   /* the page numbers of a trace file, in order (modulo the data set), each
                    * thread from its own starting point, wrapping */
};

struct bench_workload {
    enum bench_dist dist;
    double theta;          /* Zipf parameter (> 0, != 1 not required): BENCH_ZIPF, BENCH_MIX */
    double mix_scan;       /* BENCH_MIX: fraction of operations from the scan */
    const uint64_t *trace; /* BENCH_TRACE: the page numbers */
    size_t trace_len;
    uint64_t pages;    /* pages in the data set: every operation's page is below this */
    double read_ratio; /* fraction of operations that are reads, 0..1 */
    uint64_t seed;
    void *zipf_state; /* set by bench_workload_prepare (Zipf constants, the rank scatter);
                       * NULL before (zero the struct) and after bench_workload_free */
};

/* One thread's generator: opaque storage, set up by bench_gen_init. */
struct bench_gen {
    uint64_t s[8];
    const struct bench_workload *w;
    const void *zipf; /* shared precomputed Zipf state */
};

/* Precomputes what the workload's generators share (Zipf constants); call once per workload
 * before bench_gen_init and bench_workload_free after the last run. Returns 0 or -ENOMEM. */
int bench_workload_prepare(struct bench_workload *w);
void bench_workload_free(struct bench_workload *w);
/* Sets up thread `thread` of `nthreads`'s generator. */
void bench_gen_init(struct bench_gen *g, const struct bench_workload *w, unsigned thread,
                    unsigned nthreads);
/* The next operation: its page, and *write set for a write. */
uint64_t bench_gen_next(struct bench_gen *g, bool *write);

/* ---- Runs -------------------------------------------------------------------------------- */

struct bench_config {
    const char *path;       /* the awecache data file (made by datafile_create) */
    uint64_t pages;         /* pages of the data set (the file's pages) */
    size_t page_size;       /* bytes per page */
    uint64_t frame_budget;  /* the RAM budget, bytes: awecache's frames, the pool's frames, the
                             * mmap side's memory cgroup limit */
    uint64_t window_budget; /* awecache's window, bytes */
    struct bench_workload wl;
    unsigned threads;     /* >= 1 */
    unsigned batch;       /* operations handed to the side at once (>= 1; awecache pins them
                           * with one awc_pin_batch when > 1) */
    uint64_t duration_ns; /* stop after this long (0: no time limit) */
    uint64_t ops;         /* stop after this many operations in all (0: no count limit) */
    uint64_t warmup_ops;  /* operations run before the measured part, not counted (0: none) */
    unsigned awc_flags;   /* extra AWC_* open flags for the awecache side */
    bool keep_os_cache;   /* leave the OS page cache of path as it is (step 1 of bench_run):
                           * a later part of a run on a store kept open (--btree) */
};

/* What a run measured. Counters a side cannot know are UINT64_MAX ("-" in tables). */
struct bench_result {
    char side[24]; /* "awecache", "mmap", "pread-pool", "direct" */
    bool ok;       /* false: the run failed (error says why) */
    char error[200];
    uint64_t ops, reads, writes;
    double seconds;
    double ops_per_s;
    double mib_per_s;      /* ops * page_size / seconds, MiB/s */
    uint64_t hits, misses; /* served from RAM / read from the file (the side's cache level) */
    uint64_t window_hits;  /* awecache only: pins served by the window */
    uint64_t frame_hits;   /* awecache only: pins served by frames, not the window */
    uint64_t bytes_read, bytes_written; /* file I/O the side did */
    uint64_t mem_bytes;                 /* RAM the side's cache used at its peak (where known) */
    char note[200]; /* e.g. how the RAM budget was enforced, or why it could not be */
};

/* A side: how one contender serves operations. */
struct bench_side {
    const char *name;
    /* Prepares for a run of cfg (opens the file, allocates the cache). On failure returns
     * nonzero with a one-line reason in err. */
    int (*open)(void **state, const struct bench_config *cfg, char *err, size_t errlen);
    /* Called once between the warm-up and the measured part (NULL: nothing to do): the side
     * starts its counters afresh, so that the result covers the measured part only. */
    void (*begin)(void *state);
    /* Serves pages[0..n) (writes[i] nonzero for a write) for thread `thread`, touching each
     * page as bench_touch does; adds what it read to *sink. Returns 0, or nonzero with err. */
    int (*serve)(void *state, unsigned thread, const uint64_t *pages, const uint8_t *writes,
                 size_t n, uint64_t *sink, char *err, size_t errlen);
    /* Ends the run: writes back what is dirty, fills r's counters, notes and memory, releases
     * everything. Returns 0, or nonzero with err (everything is released either way). */
    int (*close)(void *state, struct bench_result *r, char *err, size_t errlen);
};

extern const struct bench_side bench_side_awecache; /* bench_awecache.c */
extern const struct bench_side bench_side_mmap;     /* bench_baselines.c: the OS page cache */
extern const struct bench_side bench_side_pool;     /* bench_baselines.c: pread-copy pool */
extern const struct bench_side bench_side_direct;   /* bench_baselines.c: raw O_DIRECT reads */

/* Reads one word per 64 bytes of the page; for a write stores word 1 back unchanged (through
 * a volatile store, so that it happens). Returns the XOR of the words read. */
uint64_t bench_touch(void *page, size_t page_size, bool write);

/* Writes back and drops the OS page cache's copy of the file at path (step 1 of bench_run). 0, or
 * -1 with err. */
int bench_drop_os_cache(const char *path, char *err, size_t errlen);

/* Runs `side` on cfg with threads and a progress display labelled with the side's name, and
 * fills *r (r->ok false with r->error on failure). Returns 0 or -1. */
int bench_run(const struct bench_side *side, const struct bench_config *cfg,
              struct bench_result *r);

/* ---- What the page benchmark and the key-value one (--kv) share (bench.c) ---------------- */

/* The options both commands take alike. A command's option table uses these ids for them and
 * numbers its own options from BENCH_OPT_COMMON_END on (--dist and --duration among them: their
 * forms and messages differ; bench_parse_dist serves both). */
enum bench_common_opt {
    BENCH_OPT_DATA_SIZE = 1,
    BENCH_OPT_PAGE_SIZE,
    BENCH_OPT_FRAMES,
    BENCH_OPT_WINDOW,
    BENCH_OPT_READS,
    BENCH_OPT_THREADS,
    BENCH_OPT_OPS,
    BENCH_OPT_WARMUP,
    BENCH_OPT_SEED,
    BENCH_OPT_COMPARE,
    BENCH_OPT_JSON,
    BENCH_OPT_CSV,
    BENCH_OPT_KEEP,
    BENCH_OPT_NO_DIRECT,
    BENCH_OPT_COMMON_END,
};

/* Those options' values. */
struct bench_common {
    uint64_t data_size;       /* bytes of the data set (of values, for --kv) */
    bool data_size_given;     /* --data-size was given */
    uint64_t page_size;       /* bytes per page */
    bool page_size_given;     /* --page-size was given */
    uint64_t frames;          /* the RAM budget, bytes */
    uint64_t window;          /* awecache's window, bytes */
    struct bench_workload wl; /* dist, theta, mix_scan, read_ratio, seed (pages: later) */
    const char *trace_path;   /* BENCH_TRACE: the trace file */
    uint64_t threads;         /* >= 1 */
    uint64_t duration_ns;     /* 0: no time limit */
    bool duration_given;      /* --duration was given */
    uint64_t ops;             /* 0: no count limit */
    uint64_t warmup;          /* operations before measuring */
    bool warmup_given;        /* --warmup was given */
    bool compare, json, csv, keep, no_direct;
};

/* Zeroes c and sets the defaults both commands share: page 4 KiB, zipf:0.99 (mix:0.1), 90%
 * reads, seed 1, a thread per processor. The caller sets the rest (frames, duration...). */
void bench_common_init(struct bench_common *c);
/* Takes option `id` (a bench_common_opt) with its argument into c. Returns 0, -1 for a wrong
 * value (message printed: a usage error), or 1 when id is not one it takes. */
int bench_common_option(int id, const char *arg, struct bench_common *c);
/* After the last option: --ops without --duration lifts the time limit; --json with --csv is
 * refused. Returns 0, or -1 (message printed: a usage error). */
int bench_common_end(struct bench_common *c);
/* Parses the command line p holds (cli_parser_init done): each option goes first to own(id,
 * arg, ctx) (0: taken, -1: a wrong value, message printed, 1: not the command's own), then to
 * bench_common_option; a positional argument or an option neither takes is refused, the
 * message pointing to help_cmd ("awecache-bench --help"); bench_common_end last. Returns -1 to
 * go on, or the exit status: CLI_EXIT_OK after --help, CLI_EXIT_USAGE for an error. */
struct cli_parser;
int bench_parse(struct cli_parser *p, const char *help_cmd, struct bench_common *c,
                int (*own)(int id, const char *arg, void *ctx), void *ctx);
/* Parses --dist's argument into *wl (dist, theta, mix_scan). trace_path NULL: the key-value
 * benchmark's forms only (zipf[:THETA], uniform); else all, a trace's file in *trace_path.
 * Returns 0 or -1 (message printed). */
int bench_parse_dist(const char *s, struct bench_workload *wl, const char **trace_path);
/* A count option's value in [lo, hi]; -1 with a message otherwise. */
int bench_opt_count(const char *name, const char *arg, uint64_t lo, uint64_t hi, uint64_t *out);
/* --frames against the RAM available: 0, or -1 with a message when it is more. */
int bench_check_ram(uint64_t frames);
/* Checks that frames hold at least one page of `page` bytes: 0, or -1 with a message. */
int bench_check_frames_page(uint64_t frames, uint64_t page);
/* The run's limit as text: "duration 15 s", "1000 ops" or "duration 15 s or 1000 ops". */
void bench_limit_text(char *buf, size_t len, uint64_t duration_ns, uint64_t ops);
/* True when path can be opened for reading. */
bool bench_file_exists(const char *path);

/* The medium of a run's data (--medium disk|ram): with ram, ext4 on a RAM disk made for the run
 * (plat_ramdisk.h; README.md says how), else the disk. */
struct plat_ramdisk;
struct bench_medium {
    bool ram_asked;          /* --medium ram was asked for */
    struct plat_ramdisk *rd; /* the RAM disk the data lives on, or NULL (the disk) */
    char text[192];          /* the medium used, for reports: "disk", "ram (ext4 on ...)" */
    char note[256];          /* why --medium ram fell back to the disk, or "" */
};
/* --medium's argument into m->ram_asked: 0, or -1 (message printed). */
int bench_parse_medium(const char *arg, struct bench_medium *m);
/* Opens the medium for files of files_bytes in all beside frames of RAM: with ram_asked the RAM
 * disk, else (or where it cannot be had: a note says why) the disk. Sets m->text either way.
 * The process must have one thread yet (plat_ramdisk_create). */
void bench_medium_open(struct bench_medium *m, uint64_t files_bytes, uint64_t frames);
/* The RAM disk's directory, or NULL for the disk. */
const char *bench_medium_dir(const struct bench_medium *m);
/* The medium's JSON fields: medium, medium_requested, medium_detail. */
struct cli_json;
void bench_medium_json(struct cli_json *j, const struct bench_medium *m);
/* Lets go of the RAM disk, if any (a note if the kernel still holds it). */
void bench_medium_close(struct bench_medium *m);

/* --repeat: at most this many runs of each side. */
#define BENCH_REPEAT_MAX 100u
/* The median of v[0..n) (1 <= n <= BENCH_REPEAT_MAX; of an even count the mean of the middle
 * two), with the lowest in *lo, the highest in *hi and in *mid the index of the value that is
 * the (lower) middle one. */
double bench_median(const double *v, size_t n, double *lo, double *hi, size_t *mid);
/* "57.8 k (55.1-60.2)": a median as cli_fmt_si writes it, then lo-hi, without their unit when
 * both have the median's; the median alone when runs <= 1. */
void bench_fmt_median(char *buf, size_t len, double med, double lo, double hi, size_t runs);

/* Output fields: a JSON number, null for UINT64_MAX (unknown); CSV fields, each but
 * bench_csv_str after a comma: a string quoted when it holds a comma, a quote or a line break
 * (NULL: empty), a number (empty when UINT64_MAX), a real with `decimals` (empty when not finite).
 */
void bench_json_u64_or_null(struct cli_json *j, const char *key, uint64_t v);
void bench_csv_str(FILE *f, const char *s);
void bench_csv_u64(FILE *f, uint64_t v);
void bench_csv_real(FILE *f, double v, int decimals);

#endif /* AWECACHE_BENCH_BENCH_H */
