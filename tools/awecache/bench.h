/*
 * tools/awecache/bench.h: `awecache bench`: the workloads, the sides that serve them (awecache
 * and the baselines), and the harness that runs a side and measures it.
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
#ifndef AWECACHE_TOOLS_BENCH_H
#define AWECACHE_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* trace.c: reads a trace file (one decimal page number per line; blank lines skipped) into a new
 * array in *out (free() it) and its length in *len. Errors, with a one-line message in err: cannot
 * open/read (the OS reason), a line that is not a number (its line number), an empty trace.
 * Returns 0 or -1. */
int bench_trace_load(const char *path, uint64_t **out, size_t *len, char *err, size_t errlen);

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

/* Runs `side` on cfg with threads and a progress display labelled with the side's name, and
 * fills *r (r->ok false with r->error on failure). Returns 0 or -1. */
int bench_run(const struct bench_side *side, const struct bench_config *cfg,
              struct bench_result *r);

#endif /* AWECACHE_TOOLS_BENCH_H */
