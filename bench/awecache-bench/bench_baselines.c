/*
 * bench/awecache-bench/bench_baselines.c: the baselines of `awecache-bench --compare`: three other
 * ways to serve the same operations from the same awecache data file, for awecache to be measured
 * against.
 *
 * Every side reads the file the engine made, page p's bytes at awc_file_page_offset(p) (the
 * engine's checksum blocks between segments are skipped, never read or written), and does per
 * operation what the engine side does: it makes the page's bytes reachable, runs bench_touch on
 * them (one word read per 64 bytes; a write stores word 1 back with the value it holds) and, for
 * a write, marks the page changed so that it is written back. No side changes a byte of the
 * file, so the engine's checksums stay valid whichever side ran last. Each side opens by dropping
 * the file's pages from the OS page cache, so that every side starts cold.
 *
 * 1. "mmap": the OS page cache. The whole file is mapped shared; an operation latches the page
 *    (see below), computes its address and runs bench_touch; a write dirties the page through
 *    the store itself and the OS writes it back.
 *    The RAM budget is enforced by a memory cgroup (plat_memlimit_enter, entered before anything
 *    of the file is mapped or touched, so that every file page the run brings in is charged to
 *    it): beyond the budget the OS reclaims, as it would for a database that mmaps its file on a
 *    machine with that much memory. The side runs without the limit where no cgroup can be
 *    made, in a ThreadSanitizer build (whose shadow memory would be charged to it), and for a
 *    budget too small to hold the process's own memory too (below mmap_limit_floor, where the
 *    OS would kill the run): the OS may then cache the whole file, and the note says the budget
 *    was NOT enforced.
 *    The mapping is advised random (a fault reads its own page only) unless the workload is a
 *    sequential scan: the OS's read-around, up to the device's read_ahead_kb per fault (8 MiB on
 *    some virtual disks), would read and evict far more than the pages used and thrash a small
 *    budget; a database mmapping its file for random access advises the same.
 *    Latches: as the engine pins a page shared for a read and exclusively for a write, the side
 *    takes a reader-writer latch of the page's stripe (MMAP_STRIPES of them, by a hash of the
 *    page number): one atomic operation to take and one to release when uncontended. Without
 *    it a write's store would race with another thread's reads of the page.
 *    What is fair: no copy and no table of ours: the cheapest hit there is. What it cannot do:
 *    batch its misses (a fault reads one page per thread at a time), choose what to evict, or
 *    say how many hits and misses it had or how much it read (those are "-").
 *
 * 2. "pread-pool": a classic buffer pool, as database engines build them. frame_budget /
 *    page_size frames of ordinary memory, the file opened with O_DIRECT where the file system
 *    allows (buffered otherwise: the note says which), split into up to 64 shards by a hash of
 *    the page number. Each shard has its own mutex, its own frames, an open-addressing table
 *    page -> frame, and a CLOCK hand; a frame has a reference bit, a pin count, an exclusive
 *    flag (a write pins its page exclusively, as the engine side does) and a dirty bit. The
 *    operations handed over at once (a batch) are served in rounds: a round pins its pages,
 *    reads all its misses with one plat_file_read_batch (the same queue depth the engine gets),
 *    and then touches and unpins them. With batch 1 a round is one operation and one pread.
 *    A round pins page p (the miss path numbered):
 *      Step 1. Lock p's shard and look p up. Found: pin the frame (shared, or exclusive for a
 *              write) and set its reference bit, unless the pin conflicts with the pins it has
 *              (then see "waiting" below); it counts as a hit even while another thread is
 *              still reading the page in (the round waits for that read in step 7).
 *      Step 2. Not found (a miss): the CLOCK hand sweeps the shard's frames: a pinned frame is
 *              skipped, a set reference bit is cleared, the first unpinned frame with a clear
 *              bit is the victim. Every frame pinned: see "waiting" below.
 *      Step 3. A dirty victim is written back with plat_file_write while the shard lock is
 *              held (the classic design: simple, and write-backs of one shard are serialised).
 *      Step 4. The victim's page leaves the table, p enters it; the frame is pinned and marked
 *              LOADING (reference bit clear, as a new page in CLOCK), and the lock released.
 *      Step 5. When the round is full (or the batch done): one plat_file_read_batch reads
 *              every page the round marked LOADING into its frame, outside every lock.
 *      Step 6. Each of those frames is published under its shard lock: VALID, or on a failed
 *              read FAILED and out of the table; threads waiting in the shard are woken.
 *      Step 7. For each pin of the round: wait until a frame another thread was loading is
 *              published, bench_touch it, then unpin it (marking it dirty for a write).
 *    Waiting: a thread waits (for a conflicting pin to go, or for a victim when every frame of
 *    the shard is pinned) only while it holds no pin: it first finishes its round (steps 5-7)
 *    and then sleeps until a pin of the shard is released. A thread holding pins waits only in
 *    step 7, for a read that its loader publishes without waiting on anyone: no deadlock.
 *    What is fair: the same frame budget, direct I/O, batched misses, the same CLOCK policy at
 *    page granularity. What it cannot do: cache more than it keeps mapped (its frames are
 *    ordinary memory, all of it in the address space at once, where the engine maps a window
 *    over a larger pool of frames), or serve a pin without taking a shard lock (one per pin and
 *    one per unpin). Counters (hits, misses, bytes read and
 *    written) cover the measured part, and bytes written the write-back of dirty frames at
 *    close too, as awecache's side counts its flush after the run.
 *    mem_bytes: the frames plus the frame headers and tables.
 *
 * 3. "direct": raw reads of the device with O_DIRECT and no cache: the I/O ceiling. Every
 *    operation reads its page into a buffer of the calling thread (a batch with one
 *    plat_file_read_batch) and touches it there. Writes are served as reads: nothing is written.
 *    Every operation is a miss. What it shows: how many pages per second the device and the
 *    I/O path deliver at this queue depth; a cache that beats it wins by hitting. What it
 *    cannot do: cache anything or write anything. Where O_DIRECT is not available the reads are
 *    buffered (the note says so) and the OS cache, dropped at open, fills during the run.
 *
 * Threads: serve runs concurrently in cfg->threads threads; each side's per-thread state is
 * indexed by the thread number. Counters are reset by begin, which the harness calls while no
 * serve runs.
 */
#include "bench.h"
#include "cli.h"

#include "awecache.h"
#include "plat_io.h"
#include "plat_proc.h"
#include "plat_sync.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_PAGE  UINT64_MAX /* a free frame's page */
#define NO_FRAME UINT32_MAX /* an empty table slot */

/* ---- Shared by the sides -------------------------------------------------------------------- */

/* Reads the file's layout and checks it against cfg: the same page size, at least cfg->pages
 * pages, each of them wholly inside the file. Returns 0 or -1 with err. */
static int load_layout(const struct bench_config *cfg, struct awc_file_info *info, char *err,
                       size_t errlen)
{
    int rc = awc_get_file_info(cfg->path, info);

    if (rc != AWC_OK) {
        snprintf(err, errlen, "cannot read %s: %s", cfg->path, awc_strerror(rc));
        return -1;
    }
    if (info->page_size != cfg->page_size) {
        snprintf(err, errlen, "%s has %zu-byte pages, the run %zu-byte pages", cfg->path,
                 info->page_size, cfg->page_size);
        return -1;
    }
    if (cfg->pages == 0 || cfg->pages > info->pages ||
        awc_file_page_offset(info, cfg->pages - 1) + info->page_size > info->file_bytes) {
        snprintf(err, errlen, "%s holds %llu pages, fewer than the run's %llu", cfg->path,
                 (unsigned long long)info->pages, (unsigned long long)cfg->pages);
        return -1;
    }
    return 0;
}

/* Checks what serve is handed: the thread number and every page number. */
static int check_ops(const struct bench_config *cfg, unsigned thread, const uint64_t *pages,
                     size_t n, char *err, size_t errlen)
{
    if (thread >= cfg->threads) {
        snprintf(err, errlen, "thread %u of %u", thread, cfg->threads);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (pages[i] >= cfg->pages) {
            snprintf(err, errlen, "page %llu is beyond the data set (%llu pages)",
                     (unsigned long long)pages[i], (unsigned long long)cfg->pages);
            return -1;
        }
    }
    return 0;
}

/* A 64-bit mix of the page number: its high half picks a stripe or shard, its low bits a slot. */
static uint64_t page_hash(uint64_t page)
{
    page ^= page >> 33;
    page *= 0xff51afd7ed558ccdull;
    page ^= page >> 33;
    page *= 0xc4ceb9fe1a85ec53ull;
    page ^= page >> 33;
    return page;
}

/* Checks that every page's offset and length suit the direct I/O alignment (the engine's layout
 * keeps them 4 KiB-aligned). Returns 0 or -1 with err. */
static int check_align(const struct bench_config *cfg, const struct awc_file_info *info,
                       size_t align, char *err, size_t errlen)
{
    if (info->data_base % align != 0 || info->segment_header % align != 0 ||
        info->segment_bytes % align != 0 || info->page_size % align != 0) {
        snprintf(err, errlen,
                 "%s: the file's layout does not suit the %zu-byte direct I/O alignment", cfg->path,
                 align);
        return -1;
    }
    return 0;
}

/* Sets the counters no baseline knows. */
static void result_unknown(struct bench_result *r)
{
    r->hits = r->misses = UINT64_MAX;
    r->window_hits = r->frame_hits = UINT64_MAX;
    r->bytes_read = r->bytes_written = UINT64_MAX;
    r->mem_bytes = UINT64_MAX;
}

/* Memory aligned to `align` (a power of two) for `bytes`, rounded up to a multiple of it; freed
 * with plat_aligned_free. */
static void *alloc_aligned(size_t align, size_t bytes)
{
    if (align < sizeof(void *))
        align = sizeof(void *);
    bytes = (bytes + align - 1) / align * align;
    return plat_aligned_alloc(align, bytes == 0 ? align : bytes);
}

/* ---- mmap: the OS page cache ---------------------------------------------------------------- */

#define MMAP_STRIPES  1024u       /* page latches (a power of two) */
#define LATCH_WRITER  0x80000000u /* latch word: held exclusively */
#define LATCH_WAITERS 0x40000000u /* latch word: someone sleeps on it */
#define LATCH_READERS 0x3fffffffu /* latch word: shared holders */

/* A stripe's reader-writer latch, alone in its cache line. */
struct mmap_latch {
    _Alignas(64) _Atomic uint32_t word; /* LATCH_* bits and the reader count */
};

/* The mmap side: one per run. */
struct mmap_state {
    const struct bench_config *cfg; /* the run */
    struct awc_file_info info;      /* the file's layout */
    struct mmap_latch *latches;     /* MMAP_STRIPES of them */
    struct plat_file *file;         /* opened writable, buffered */
    struct plat_memlimit *limit;    /* the memory cgroup; NULL: the budget is not enforced */
    unsigned char *base;            /* the whole file, mapped shared */
    uint64_t map_len;               /* bytes mapped: the file's size */
    char note[200];                 /* how the budget was enforced, or why it was not */
};

static bool mmap_noted; /* the "not enforced" note was printed once */

/* Takes latch l shared (write false) or exclusively. Steps: 1. while it is free for this mode,
 * try to take it with one compare-and-swap; 2. otherwise mark that someone waits and sleep
 * until the word changes; repeat. */
static void latch_take(_Atomic uint32_t *l, bool write)
{
    uint32_t v = atomic_load_explicit(l, memory_order_relaxed);

    for (;;) {
        bool busy = write ? (v & (LATCH_WRITER | LATCH_READERS)) != 0 : (v & LATCH_WRITER) != 0;

        /* Step 1 */
        if (!busy) {
            if (atomic_compare_exchange_weak_explicit(l, &v, write ? v | LATCH_WRITER : v + 1,
                                                      memory_order_acquire, memory_order_relaxed))
                return;
            continue;
        }
        /* Step 2 */
        if ((v & LATCH_WAITERS) == 0 &&
            !atomic_compare_exchange_weak_explicit(l, &v, v | LATCH_WAITERS, memory_order_relaxed,
                                                   memory_order_relaxed))
            continue;
        plat_wait(l, v | LATCH_WAITERS);
        v = atomic_load_explicit(l, memory_order_relaxed);
    }
}

/* Releases what latch_take took; wakes the sleepers when the latch became free for them. */
static void latch_release(_Atomic uint32_t *l, bool write)
{
    uint32_t v;

    if (write) {
        v = atomic_fetch_and_explicit(l, ~(LATCH_WRITER | LATCH_WAITERS), memory_order_release);
    } else {
        v = atomic_fetch_sub_explicit(l, 1, memory_order_release);
        if ((v & LATCH_READERS) != 1 || (v & LATCH_WAITERS) == 0)
            return;
        atomic_fetch_and_explicit(l, ~LATCH_WAITERS, memory_order_relaxed);
    }
    if (v & LATCH_WAITERS)
        plat_wake(l, 1);
}

/* ThreadSanitizer keeps shadow memory for every address touched, the mapped file's included,
 * several times its size: charged to the memory cgroup it would get the run killed by the OS
 * (out of memory in the cgroup), so a TSan build runs the mmap side without the limit. */
#if defined(__SANITIZE_THREAD__)
#define MMAP_NO_LIMIT 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MMAP_NO_LIMIT 1
#endif
#endif
#ifndef MMAP_NO_LIMIT
#define MMAP_NO_LIMIT 0
#endif

/* The least limit the side enters: under the limit the process's own memory is charged too
 * (the threads' stacks, what the harness allocates, the page tables of the mapping: up to 8
 * bytes per 4 KiB of the file), and none of it can be reclaimed, so below this the OS would
 * kill the run for want of memory. A smaller budget runs without the limit, and says so. */
static uint64_t mmap_limit_floor(const struct bench_config *cfg, uint64_t file_bytes)
{
    return (4u << 20) + (uint64_t)cfg->threads * (256u << 10) + file_bytes / 256;
}

static int mmap_close(void *state, struct bench_result *r, char *err, size_t errlen);

/* Steps:
 * 1. Read the layout; open the file writable and buffered; drop its cached pages, so that no
 *    page of it is cached (and charged) outside the limit.
 * 2. Enter the memory limit of frame_budget bytes (PLAT_ENOTSUP, a TSan build, or a budget
 *    below mmap_limit_floor: run without, and say so).
 * 3. Map the whole file, inside the limit.
 * 4. Advise the OS of the access: random (a fault reads its page only) unless the workload is
 *    a sequential scan (the OS's read-around then helps it, as it would an mmap database). */
static int mmap_open(void **state, const struct bench_config *cfg, char *err, size_t errlen)
{
    struct mmap_state *s = calloc(1, sizeof(*s));
    char why[160] = "", ignored[8];
    size_t len;
    bool seq;
    int rc;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    /* Step 1 */
    if (load_layout(cfg, &s->info, err, errlen) != 0) {
        free(s);
        return -1;
    }
    /* Set here, outside the limit: no memory of ours is charged to it. */
    s->latches = alloc_aligned(64, MMAP_STRIPES * sizeof(*s->latches));
    if (s->latches == NULL) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return -1;
    }
    for (unsigned i = 0; i < MMAP_STRIPES; i++)
        atomic_init(&s->latches[i].word, 0);
    rc = plat_file_open(cfg->path, 0, &s->file);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open %s: %s", cfg->path, plat_io_strerror(rc));
        plat_aligned_free(s->latches);
        free(s);
        return -1;
    }
    rc = plat_file_drop_cache(s->file);
    if (rc != 0) {
        snprintf(err, errlen, "cannot drop the cached pages of %s: %s", cfg->path,
                 plat_io_strerror(rc));
        mmap_close(s, NULL, ignored, sizeof(ignored));
        return -1;
    }
    /* Step 2 */
    if (MMAP_NO_LIMIT) {
        snprintf(why, sizeof(why), "%s",
                 "a ThreadSanitizer build (its shadow memory would be charged to the limit)");
        rc = PLAT_ENOTSUP;
    } else if (cfg->frame_budget < mmap_limit_floor(cfg, s->info.file_bytes)) {
        snprintf(why, sizeof(why),
                 "below %.1f MiB the process's own memory in the cgroup could get the run killed",
                 mmap_limit_floor(cfg, s->info.file_bytes) / 1048576.0);
        rc = PLAT_ENOTSUP;
    } else {
        rc = plat_memlimit_enter(cfg->frame_budget, &s->limit, why, sizeof(why));
    }
    if (rc == PLAT_ENOTSUP) {
        s->limit = NULL;
        snprintf(s->note, sizeof(s->note), "RAM budget NOT enforced: %s", why);
        if (!mmap_noted) {
            mmap_noted = true;
            cli_note(NULL, "mmap: RAM budget NOT enforced: %s", why);
        }
    } else if (rc != 0) {
        snprintf(err, errlen, "cannot set up a memory limit: %s", plat_io_strerror(rc));
        s->limit = NULL;
        mmap_close(s, NULL, ignored, sizeof(ignored));
        return -1;
    } else {
        snprintf(s->note, sizeof(s->note), "RAM budget enforced by a memory cgroup");
    }
    /* Step 3 */
    s->map_len = s->info.file_bytes;
    if (s->map_len > SIZE_MAX) {
        snprintf(err, errlen,
                 "cannot map %s: its %llu bytes do not fit this process's address space (a 32-bit "
                 "build maps at most 4 GiB)",
                 cfg->path, (unsigned long long)s->map_len);
        mmap_close(s, NULL, ignored, sizeof(ignored));
        return -1;
    }
    rc = plat_file_map(s->file, s->map_len, (void **)&s->base);
    if (rc != 0) {
        snprintf(err, errlen, "cannot map %s: %s", cfg->path, plat_io_strerror(rc));
        s->base = NULL;
        mmap_close(s, NULL, ignored, sizeof(ignored));
        return -1;
    }
    /* Step 4 */
    seq = cfg->wl.dist == BENCH_SEQ;
    rc = plat_file_map_advise(s->base, s->map_len, seq ? PLAT_MAP_NORMAL : PLAT_MAP_RANDOM);
    len = strlen(s->note);
    snprintf(s->note + len, sizeof(s->note) - len, "; %s",
             rc != 0 ? "OS read-around (the advice was refused)"
             : seq   ? "OS read-around"
                     : "read-around off (random access advised)");
    *state = s;
    return 0;
}

static int mmap_serve(void *state, unsigned thread, const uint64_t *pages, const uint8_t *writes,
                      size_t n, uint64_t *sink, char *err, size_t errlen)
{
    struct mmap_state *s = state;
    uint64_t acc = 0;

    if (check_ops(s->cfg, thread, pages, n, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        _Atomic uint32_t *l =
            &s->latches[(uint32_t)(page_hash(pages[i]) >> 32) & (MMAP_STRIPES - 1)].word;

        latch_take(l, writes[i] != 0);
        acc += bench_touch(s->base + awc_file_page_offset(&s->info, pages[i]), s->info.page_size,
                           writes[i] != 0);
        latch_release(l, writes[i] != 0);
    }
    *sink += acc;
    return 0;
}

/* Steps: 1. unmap; 2. write back the dirty pages and drop the file's pages (inside the limit,
 * which they are charged to); 3. read the peak and leave the limit; 4. close the file. r may be
 * NULL (a failed open cleaning up). */
static int mmap_close(void *state, struct bench_result *r, char *err, size_t errlen)
{
    struct mmap_state *s = state;
    uint64_t peak = 0;
    int rc, ret = 0;

    /* Step 1 */
    if (s->base != NULL && (rc = plat_file_unmap(s->base, s->map_len)) != 0) {
        snprintf(err, errlen, "cannot unmap %s: %s", s->cfg->path, plat_io_strerror(rc));
        ret = -1;
    }
    /* Step 2 */
    rc = plat_file_drop_cache(s->file);
    if (rc != 0 && ret == 0) {
        snprintf(err, errlen, "cannot write back %s: %s", s->cfg->path, plat_io_strerror(rc));
        ret = -1;
    }
    /* Step 3 */
    if (s->limit != NULL) {
        peak = plat_memlimit_peak(s->limit);
        rc = plat_memlimit_leave(s->limit);
        if (rc != 0 && ret == 0) {
            snprintf(err, errlen,
                     "cannot leave the memory cgroup (%s): the rest of the run stays limited",
                     plat_io_strerror(rc));
            ret = -1;
        }
    }
    /* Step 4 */
    rc = plat_file_close(s->file);
    if (rc != 0 && ret == 0) {
        snprintf(err, errlen, "closing %s: %s", s->cfg->path, plat_io_strerror(rc));
        ret = -1;
    }
    plat_aligned_free(s->latches);
    if (r != NULL) {
        result_unknown(r);
        if (s->limit != NULL && peak != 0)
            r->mem_bytes = peak;
        snprintf(r->note, sizeof(r->note), "%s", s->note);
    }
    free(s);
    return ret;
}

const struct bench_side bench_side_mmap = {"mmap", mmap_open, NULL, mmap_serve, mmap_close};

/* ---- pread-pool: a sharded buffer pool ------------------------------------------------------ */

#define POOL_SHARDS_MAX       64u /* shards at most (a power of two) */
#define POOL_FRAMES_PER_SHARD 16u /* fewer shards when there would be fewer frames in each */

enum frame_state {
    FRAME_VALID = 0,   /* holds its page (or no page, when free) */
    FRAME_LOADING = 1, /* its page is being read in by `loader`, who holds a pin */
    FRAME_FAILED = 2,  /* the read failed; out of the table, freed when the last pin goes */
};

/* One frame. Every field is read and written under its shard's lock, but `state`, which is
 * written under it and may be read without it by a thread holding a pin (acquire). */
struct pool_frame {
    uint64_t page;          /* the page it holds; NO_PAGE: free */
    _Atomic uint32_t state; /* enum frame_state */
    uint32_t pins;          /* pins held; 0: may be evicted */
    uint8_t excl;           /* held by one exclusive pin (then pins == 1) */
    uint8_t ref;            /* CLOCK reference bit: set by a hit, cleared by the hand */
    uint8_t dirty;          /* changed: written back before the frame is reused */
};

/* A shard: its frames are pool.frames[first, first + count). */
struct pool_shard {
    _Alignas(64) plat_mutex_t lock; /* guards all below and the shard's frames */
    uint32_t first;                 /* the shard's first frame */
    uint32_t count;                 /* its frames (>= 1) */
    uint32_t hand;                  /* CLOCK hand: the next frame to look at, 0..count-1 */
    uint32_t mask;                  /* table slots - 1 (slots: a power of two >= 2 * count) */
    uint32_t *table;                /* slot -> frame number, NO_FRAME: empty (linear probing) */
    _Atomic uint32_t released;      /* bumped at every unpin and publish: what waiters wait on */
    bool waiters;                   /* someone sleeps on `released` */
    uint64_t hits;                  /* pins that found their page */
    uint64_t misses;                /* pins that read their page */
    uint64_t bytes_read;            /* by reads that completed */
    uint64_t bytes_written;         /* by victim write-backs */
};

/* One pin a round holds. */
struct pool_pin {
    uint32_t frame; /* the frame pinned */
    bool write;     /* exclusive, for a write: mark dirty at unpin */
};

/* A thread's round: its pins and the reads it owes. Sized cfg->batch. */
struct pool_thread {
    struct pool_pin *pins; /* the round's pins, in operation order */
    size_t npins;          /* pins held */
    uint32_t *loads;       /* frames this round marked LOADING */
    struct plat_io *ios;   /* their reads */
    size_t nloads;         /* loads owed */
};

/* The pool side: one per run. */
struct pool_state {
    const struct bench_config *cfg; /* the run */
    struct awc_file_info info;      /* the file's layout */
    struct plat_file *file;         /* opened writable, O_DIRECT where possible */
    unsigned char *mem;             /* frames * page_size bytes, aligned for direct I/O */
    struct pool_frame *frames;      /* the frame headers */
    uint32_t nframes;               /* frame_budget / page_size */
    struct pool_shard *shards;      /* nshards of them */
    unsigned nshards;               /* a power of two */
    struct pool_thread *threads;    /* cfg->threads of them */
    size_t round_max;               /* pins per round: cfg->batch */
    uint64_t table_bytes;           /* RAM of headers and tables, for mem_bytes */
    char note[200];                 /* the I/O mode and the shards, for the result */
};

static struct pool_shard *shard_of(struct pool_state *p, uint64_t page)
{
    return &p->shards[(uint32_t)(page_hash(page) >> 32) & (p->nshards - 1)];
}

static unsigned char *frame_mem(struct pool_state *p, uint32_t f)
{
    return p->mem + (size_t)f * p->info.page_size;
}

/* The frame holding `page` in shard s, or NO_FRAME. Lock held. */
static uint32_t table_find(struct pool_state *p, struct pool_shard *s, uint64_t page)
{
    for (uint32_t i = (uint32_t)page_hash(page) & s->mask;; i = (i + 1) & s->mask) {
        uint32_t f = s->table[i];

        if (f == NO_FRAME || p->frames[f].page == page)
            return f;
    }
}

/* Enters frame f (whose page is set) in the table. Lock held. */
static void table_insert(struct pool_state *p, struct pool_shard *s, uint32_t f)
{
    uint32_t i = (uint32_t)page_hash(p->frames[f].page) & s->mask;

    while (s->table[i] != NO_FRAME)
        i = (i + 1) & s->mask;
    s->table[i] = f;
}

/* Takes frame f out of the table, shifting the entries after it back so that every entry stays
 * reachable from its home slot. Lock held. */
static void table_remove(struct pool_state *p, struct pool_shard *s, uint32_t f)
{
    uint32_t i = (uint32_t)page_hash(p->frames[f].page) & s->mask, j;

    while (s->table[i] != f)
        i = (i + 1) & s->mask;
    for (j = i;;) {
        uint32_t g, home;

        j = (j + 1) & s->mask;
        g = s->table[j];
        if (g == NO_FRAME)
            break;
        home = (uint32_t)page_hash(p->frames[g].page) & s->mask;
        /* g may move to the hole at i unless its home lies cyclically in (i, j]. */
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->table[i] = g;
            i = j;
        }
    }
    s->table[i] = NO_FRAME;
}

/* The CLOCK victim of shard s: an unpinned frame whose reference bit is clear, clearing set
 * bits on the way; NO_FRAME when every frame is pinned. Two sweeps suffice: the first clears
 * every unpinned frame's bit. Lock held. */
static uint32_t clock_victim(struct pool_state *p, struct pool_shard *s)
{
    for (uint64_t step = 0; step <= 2 * (uint64_t)s->count; step++) {
        uint32_t f = s->first + s->hand;
        struct pool_frame *fr = &p->frames[f];

        s->hand = s->hand + 1 == s->count ? 0 : s->hand + 1;
        if (fr->pins != 0)
            continue;
        if (fr->ref) {
            fr->ref = 0;
            continue;
        }
        return f;
    }
    return NO_FRAME;
}

/* Marks that a pin of shard s was released or a frame published; returns whether sleepers
 * must be woken (with plat_wake after the lock is dropped). Lock held. */
static bool shard_released(struct pool_shard *s)
{
    bool wake = s->waiters;

    atomic_fetch_add_explicit(&s->released, 1, memory_order_relaxed);
    s->waiters = false;
    return wake;
}

/* Drops the lock of shard s and sleeps until the next release in it (or spuriously). */
static void shard_wait_unlock(struct pool_shard *s)
{
    uint32_t seen = atomic_load_explicit(&s->released, memory_order_relaxed);

    s->waiters = true;
    plat_mutex_unlock(&s->lock);
    plat_wait(&s->released, seen);
}

static void shard_unlock_wake(struct pool_shard *s, bool wake)
{
    plat_mutex_unlock(&s->lock);
    if (wake)
        plat_wake(&s->released, 1);
}

/* Step 7 for one pin: waits for a frame another thread is loading, touches a valid one, and
 * unpins it. Returns 0, or -1 (with err) when the frame's read failed. */
static int pool_unpin(struct pool_state *p, const struct pool_pin *pin, uint64_t *acc, char *err,
                      size_t errlen)
{
    struct pool_frame *fr = &p->frames[pin->frame];
    struct pool_shard *s = shard_of(p, fr->page); /* pinned: fr->page does not change */
    uint32_t st = atomic_load_explicit(&fr->state, memory_order_acquire);
    uint64_t page = 0;
    bool wake;

    if (st == FRAME_LOADING) {
        plat_mutex_lock(&s->lock);
        while ((st = atomic_load_explicit(&fr->state, memory_order_acquire)) == FRAME_LOADING) {
            shard_wait_unlock(s);
            plat_mutex_lock(&s->lock);
        }
        plat_mutex_unlock(&s->lock);
    }
    if (st == FRAME_VALID)
        *acc += bench_touch(frame_mem(p, pin->frame), p->info.page_size, pin->write);
    plat_mutex_lock(&s->lock);
    if (st == FRAME_VALID && pin->write)
        fr->dirty = 1;
    if (st == FRAME_FAILED)
        page = fr->page;
    fr->pins--;
    fr->excl = 0;
    if (st == FRAME_FAILED && fr->pins == 0)
        fr->page = NO_PAGE;
    wake = shard_released(s);
    shard_unlock_wake(s, wake);
    if (st == FRAME_FAILED) {
        snprintf(err, errlen, "reading page %llu failed", (unsigned long long)page);
        return -1;
    }
    return 0;
}

/* Steps 5-7: reads the round's loads in one batch, publishes them, then touches and unpins
 * every pin. Releases everything whatever fails; returns 0 or -1 with err (the first error). */
static int pool_finish_round(struct pool_state *p, struct pool_thread *t, uint64_t *sink, char *err,
                             size_t errlen)
{
    uint64_t acc = 0;
    int ret = 0;

    /* Step 5 */
    if (t->nloads > 0 && plat_file_read_batch(p->file, t->ios, t->nloads) != 0) {
        for (size_t j = 0; j < t->nloads && ret == 0; j++) {
            if (t->ios[j].result != 0) {
                snprintf(err, errlen, "reading page %llu of %s: %s",
                         (unsigned long long)p->frames[t->loads[j]].page, p->cfg->path,
                         plat_io_strerror(t->ios[j].result));
                ret = -1;
            }
        }
    }
    /* Step 6 */
    for (size_t j = 0; j < t->nloads; j++) {
        struct pool_frame *fr = &p->frames[t->loads[j]];
        struct pool_shard *s = shard_of(p, fr->page);
        bool wake;

        plat_mutex_lock(&s->lock);
        if (t->ios[j].result == 0) {
            s->bytes_read += p->info.page_size;
            atomic_store_explicit(&fr->state, FRAME_VALID, memory_order_release);
        } else {
            /* Out of the table now; the page number stays until the last pin goes, so that
             * the pinners find the shard. */
            table_remove(p, s, t->loads[j]);
            atomic_store_explicit(&fr->state, FRAME_FAILED, memory_order_release);
        }
        wake = shard_released(s);
        shard_unlock_wake(s, wake);
    }
    t->nloads = 0;
    /* Step 7 */
    for (size_t k = 0; k < t->npins; k++) {
        char e[160];

        if (pool_unpin(p, &t->pins[k], &acc, e, sizeof(e)) != 0 && ret == 0) {
            snprintf(err, errlen, "%s", e);
            ret = -1;
        }
    }
    t->npins = 0;
    *sink += acc;
    return ret;
}

#define PIN_OK   0
#define PIN_BUSY 1 /* conflict or no victim, and the round holds pins: finish it first */

/* Steps 1-4: pins `page` for the round of t (exclusively for a write). With the round empty it
 * waits for a conflicting pin or a victim itself; otherwise it returns PIN_BUSY for the caller
 * to finish the round first. Returns PIN_OK, PIN_BUSY, or -1 with err (a failed write-back). */
static int pool_pin(struct pool_state *p, struct pool_thread *t, uint64_t page, bool write,
                    char *err, size_t errlen)
{
    struct pool_shard *s = shard_of(p, page);
    struct pool_frame *fr;
    uint32_t f;
    int rc;

    plat_mutex_lock(&s->lock);
    for (;;) {
        /* Step 1 */
        f = table_find(p, s, page);
        if (f != NO_FRAME) {
            fr = &p->frames[f];
            if (!fr->excl && (!write || fr->pins == 0)) {
                fr->pins++;
                fr->excl = write;
                fr->ref = 1;
                s->hits++;
                break;
            }
        } else {
            /* Step 2 */
            f = clock_victim(p, s);
            if (f != NO_FRAME) {
                fr = &p->frames[f];
                /* Step 3 */
                if (fr->dirty) {
                    rc = plat_file_write(p->file, frame_mem(p, f), p->info.page_size,
                                         awc_file_page_offset(&p->info, fr->page));
                    if (rc != 0) {
                        snprintf(err, errlen, "writing page %llu back to %s: %s",
                                 (unsigned long long)fr->page, p->cfg->path, plat_io_strerror(rc));
                        plat_mutex_unlock(&s->lock);
                        return -1;
                    }
                    fr->dirty = 0;
                    s->bytes_written += p->info.page_size;
                }
                /* Step 4 */
                if (fr->page != NO_PAGE)
                    table_remove(p, s, f);
                fr->page = page;
                table_insert(p, s, f);
                fr->pins = 1;
                fr->excl = write;
                fr->ref = 0;
                atomic_store_explicit(&fr->state, FRAME_LOADING, memory_order_relaxed);
                s->misses++;
                t->loads[t->nloads] = f;
                t->ios[t->nloads] = (struct plat_io){frame_mem(p, f), p->info.page_size,
                                                     awc_file_page_offset(&p->info, page), 0};
                t->nloads++;
                break;
            }
        }
        /* A conflicting pin, or every frame of the shard pinned: wait only holding nothing. */
        if (t->npins > 0) {
            plat_mutex_unlock(&s->lock);
            return PIN_BUSY;
        }
        shard_wait_unlock(s);
        plat_mutex_lock(&s->lock);
    }
    plat_mutex_unlock(&s->lock);
    t->pins[t->npins++] = (struct pool_pin){f, write};
    return PIN_OK;
}

static int pool_serve(void *state, unsigned thread, const uint64_t *pages, const uint8_t *writes,
                      size_t n, uint64_t *sink, char *err, size_t errlen)
{
    struct pool_state *p = state;
    struct pool_thread *t;
    size_t i = 0;

    if (check_ops(p->cfg, thread, pages, n, err, errlen) != 0)
        return -1;
    t = &p->threads[thread];
    while (i < n) {
        int rc = pool_pin(p, t, pages[i], writes[i] != 0, err, errlen);

        if (rc < 0) {
            char ignored[8];

            pool_finish_round(p, t, sink, ignored, sizeof(ignored));
            return -1;
        }
        if (rc == PIN_OK)
            i++;
        if ((rc == PIN_BUSY || t->npins == p->round_max) &&
            pool_finish_round(p, t, sink, err, errlen) != 0)
            return -1;
    }
    return t->npins > 0 ? pool_finish_round(p, t, sink, err, errlen) : 0;
}

static void pool_begin(void *state)
{
    struct pool_state *p = state;

    for (unsigned i = 0; i < p->nshards; i++) {
        struct pool_shard *s = &p->shards[i];

        plat_mutex_lock(&s->lock);
        s->hits = s->misses = s->bytes_read = s->bytes_written = 0;
        plat_mutex_unlock(&s->lock);
    }
}

/* Releases everything open made (p may be half made: NULL pointers and nshards_ready shards
 * with a mutex). */
static void pool_free(struct pool_state *p, unsigned nshards_ready)
{
    if (p->shards != NULL) {
        for (unsigned i = 0; i < p->nshards; i++) {
            if (i < nshards_ready)
                plat_mutex_destroy(&p->shards[i].lock);
            free(p->shards[i].table);
        }
        plat_aligned_free(p->shards);
    }
    if (p->threads != NULL) {
        for (unsigned i = 0; i < p->cfg->threads; i++) {
            free(p->threads[i].pins);
            free(p->threads[i].loads);
            free(p->threads[i].ios);
        }
        free(p->threads);
    }
    free(p->frames);
    plat_aligned_free(p->mem);
    plat_file_close(p->file);
    free(p);
}

/* Steps:
 * 1. Read the layout; open the file writable with O_DIRECT (buffered where the file system
 *    cannot) and drop its cached pages; check the layout suits the direct I/O alignment.
 * 2. Allocate the frames (aligned), their headers, the per-thread rounds.
 * 3. Make the shards: up to 64 (a power of two, at least 16 frames each), the frames split
 *    evenly, each with a table of at least twice its frames and a mutex. */
static int pool_open(void **state, const struct bench_config *cfg, char *err, size_t errlen)
{
    struct pool_state *p = calloc(1, sizeof(*p));
    struct plat_file_info fi;
    unsigned ready = 0;
    uint64_t nframes;
    size_t align, batch = cfg->batch > 0 ? cfg->batch : 1;
    int rc;

    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->cfg = cfg;
    p->round_max = batch;
    /* Step 1 */
    if (load_layout(cfg, &p->info, err, errlen) != 0) {
        free(p);
        return -1;
    }
    nframes = cfg->frame_budget / p->info.page_size;
    if (nframes == 0 || nframes >= NO_FRAME) {
        snprintf(err, errlen, "a frame budget of %llu bytes makes %llu frames",
                 (unsigned long long)cfg->frame_budget, (unsigned long long)nframes);
        free(p);
        return -1;
    }
    if (cfg->frame_budget - cfg->frame_budget % p->info.page_size > SIZE_MAX) {
        /* A 32-bit build: this baseline keeps its frames in plain memory, which must fit the
         * address space (awecache's frames need not: they are AWE frames). */
        snprintf(err, errlen,
                 "a frame budget of %llu bytes does not fit this process's address space (the "
                 "pread pool keeps its frames in plain memory)",
                 (unsigned long long)cfg->frame_budget);
        free(p);
        return -1;
    }
    p->nframes = (uint32_t)nframes;
    rc = plat_file_open(cfg->path, PLAT_FILE_DIRECT, &p->file);
    if (rc == 0)
        rc = plat_file_get_info(p->file, &fi);
    if (rc == 0)
        rc = plat_file_drop_cache(p->file);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open %s: %s", cfg->path, plat_io_strerror(rc));
        pool_free(p, 0);
        return -1;
    }
    align = fi.align;
    if (check_align(cfg, &p->info, align, err, errlen) != 0) {
        pool_free(p, 0);
        return -1;
    }
    /* Step 2 */
    p->mem = alloc_aligned(align < 4096 ? 4096 : align, (size_t)nframes * p->info.page_size);
    p->frames = calloc(nframes, sizeof(*p->frames));
    p->threads = calloc(cfg->threads, sizeof(*p->threads));
    if (p->mem == NULL || p->frames == NULL || p->threads == NULL)
        goto nomem;
    for (uint32_t f = 0; f < p->nframes; f++)
        p->frames[f].page = NO_PAGE;
    for (unsigned i = 0; i < cfg->threads; i++) {
        struct pool_thread *t = &p->threads[i];

        t->pins = calloc(batch, sizeof(*t->pins));
        t->loads = calloc(batch, sizeof(*t->loads));
        t->ios = calloc(batch, sizeof(*t->ios));
        if (t->pins == NULL || t->loads == NULL || t->ios == NULL)
            goto nomem;
    }
    /* Step 3 */
    p->nshards = 1;
    while (p->nshards < POOL_SHARDS_MAX &&
           (uint64_t)p->nshards * 2 * POOL_FRAMES_PER_SHARD <= nframes)
        p->nshards *= 2;
    p->shards = alloc_aligned(64, (size_t)p->nshards * sizeof(*p->shards));
    if (p->shards == NULL)
        goto nomem;
    memset(p->shards, 0, (size_t)p->nshards * sizeof(*p->shards));
    p->table_bytes = nframes * sizeof(*p->frames) + p->nshards * sizeof(*p->shards);
    for (unsigned i = 0, first = 0; i < p->nshards; i++) {
        struct pool_shard *s = &p->shards[i];
        uint32_t slots = 4;

        s->first = first;
        s->count = p->nframes / p->nshards + (i < p->nframes % p->nshards ? 1 : 0);
        first += s->count;
        while (slots < 2 * (uint64_t)s->count)
            slots *= 2;
        s->mask = slots - 1;
        s->table = malloc(slots * sizeof(*s->table));
        if (s->table == NULL)
            goto nomem;
        memset(s->table, 0xff, slots * sizeof(*s->table)); /* NO_FRAME everywhere */
        p->table_bytes += slots * sizeof(*s->table);
        if (plat_mutex_init(&s->lock) != 0)
            goto nomem;
        ready++;
    }
    snprintf(p->note, sizeof(p->note), "%s, %u shards, %s",
             fi.direct ? "O_DIRECT" : "buffered I/O (O_DIRECT not available here)", p->nshards,
             batch > 1 ? (fi.uring ? "a batch's misses read with io_uring"
                                   : "a batch's misses read with pread")
                       : "misses read with pread");
    *state = p;
    return 0;

nomem:
    snprintf(err, errlen, "out of memory for %llu frames", (unsigned long long)nframes);
    pool_free(p, ready);
    return -1;
}

/* Writes back every dirty frame (in batches), adding their bytes to *written, then syncs.
 * Returns 0 or -1 with err. */
static int pool_write_back(struct pool_state *p, uint64_t *written, char *err, size_t errlen)
{
    struct plat_io ios[64];
    size_t n = 0;
    int ret = 0, rc;

    for (uint32_t f = 0; f <= p->nframes; f++) {
        if (f < p->nframes) {
            struct pool_frame *fr = &p->frames[f];

            if (fr->page == NO_PAGE || !fr->dirty ||
                atomic_load_explicit(&fr->state, memory_order_relaxed) != FRAME_VALID)
                continue;
            ios[n++] = (struct plat_io){frame_mem(p, f), p->info.page_size,
                                        awc_file_page_offset(&p->info, fr->page), 0};
            fr->dirty = 0;
            *written += p->info.page_size;
        }
        if (n == sizeof(ios) / sizeof(ios[0]) || (f == p->nframes && n > 0)) {
            rc = plat_file_write_batch(p->file, ios, n);
            if (rc != 0 && ret == 0) {
                snprintf(err, errlen, "writing back to %s: %s", p->cfg->path, plat_io_strerror(rc));
                ret = -1;
            }
            n = 0;
        }
    }
    rc = plat_file_sync(p->file);
    if (rc != 0 && ret == 0) {
        snprintf(err, errlen, "syncing %s: %s", p->cfg->path, plat_io_strerror(rc));
        ret = -1;
    }
    return ret;
}

static int pool_close(void *state, struct bench_result *r, char *err, size_t errlen)
{
    struct pool_state *p = state;
    int ret, rc;

    result_unknown(r);
    r->hits = r->misses = r->bytes_read = r->bytes_written = 0;
    for (unsigned i = 0; i < p->nshards; i++) {
        struct pool_shard *s = &p->shards[i];

        plat_mutex_lock(&s->lock);
        r->hits += s->hits;
        r->misses += s->misses;
        r->bytes_read += s->bytes_read;
        r->bytes_written += s->bytes_written;
        plat_mutex_unlock(&s->lock);
    }
    r->mem_bytes = (uint64_t)p->nframes * p->info.page_size + p->table_bytes;
    snprintf(r->note, sizeof(r->note), "%s", p->note);
    ret = pool_write_back(p, &r->bytes_written, err, errlen); /* counted, as awecache's flush */
    rc = plat_file_close(p->file);
    p->file = NULL;
    if (rc != 0 && ret == 0) {
        snprintf(err, errlen, "closing %s: %s", p->cfg->path, plat_io_strerror(rc));
        ret = -1;
    }
    pool_free(p, p->nshards);
    return ret;
}

const struct bench_side bench_side_pool = {"pread-pool", pool_open, pool_begin, pool_serve,
                                           pool_close};

/* ---- direct: raw O_DIRECT reads ------------------------------------------------------------- */

/* One thread's buffers and counters. The counters have one writer (the thread) and are read
 * and reset while no serve runs: relaxed atomics keep that free of data races. */
struct direct_thread {
    _Alignas(64) unsigned char *buf; /* batch pages, aligned for direct I/O */
    struct plat_io *ios;             /* batch entries */
    _Atomic uint64_t reads;          /* pages read */
};

/* The direct side: one per run. */
struct direct_state {
    const struct bench_config *cfg; /* the run */
    struct awc_file_info info;      /* the file's layout */
    struct plat_file *file;         /* read-only, O_DIRECT where possible */
    struct direct_thread *threads;  /* cfg->threads of them */
    size_t batch;                   /* pages per buffer */
    char note[200];                 /* the I/O mode, for the result */
};

static void direct_free(struct direct_state *d)
{
    if (d->threads != NULL) {
        for (unsigned i = 0; i < d->cfg->threads; i++) {
            plat_aligned_free(d->threads[i].buf);
            free(d->threads[i].ios);
        }
        plat_aligned_free(d->threads);
    }
    plat_file_close(d->file);
    free(d);
}

/* Steps: 1. read the layout; open the file read-only with O_DIRECT; drop its cached pages (the
 * fallback reads through them); 2. allocate each thread's buffers, batch pages each. */
static int direct_open(void **state, const struct bench_config *cfg, char *err, size_t errlen)
{
    struct direct_state *d = calloc(1, sizeof(*d));
    struct plat_file_info fi;
    size_t align;
    int rc;

    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->cfg = cfg;
    d->batch = cfg->batch > 0 ? cfg->batch : 1;
    /* Step 1 */
    if (load_layout(cfg, &d->info, err, errlen) != 0) {
        free(d);
        return -1;
    }
    rc = plat_file_open(cfg->path, PLAT_FILE_READONLY | PLAT_FILE_DIRECT, &d->file);
    if (rc == 0)
        rc = plat_file_get_info(d->file, &fi);
    if (rc == 0)
        rc = plat_file_drop_cache(d->file);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open %s: %s", cfg->path, plat_io_strerror(rc));
        direct_free(d);
        return -1;
    }
    align = fi.align;
    if (check_align(cfg, &d->info, align, err, errlen) != 0) {
        direct_free(d);
        return -1;
    }
    snprintf(d->note, sizeof(d->note), "%s%s",
             fi.direct ? "O_DIRECT reads, no cache"
                       : "O_DIRECT not available here: buffered reads, the OS cache dropped "
                         "before the run",
             cfg->wl.read_ratio < 1.0 ? "; writes served as reads" : "");
    /* Step 2 */
    d->threads = alloc_aligned(64, (size_t)cfg->threads * sizeof(*d->threads));
    if (d->threads == NULL) {
        snprintf(err, errlen, "out of memory");
        direct_free(d);
        return -1;
    }
    memset(d->threads, 0, (size_t)cfg->threads * sizeof(*d->threads));
    for (unsigned i = 0; i < cfg->threads; i++) {
        struct direct_thread *t = &d->threads[i];

        t->buf = alloc_aligned(align < 4096 ? 4096 : align, d->batch * d->info.page_size);
        t->ios = calloc(d->batch, sizeof(*t->ios));
        if (t->buf == NULL || t->ios == NULL) {
            snprintf(err, errlen, "out of memory for %u x %zu page buffers", cfg->threads,
                     d->batch);
            direct_free(d);
            return -1;
        }
    }
    *state = d;
    return 0;
}

static void direct_begin(void *state)
{
    struct direct_state *d = state;

    for (unsigned i = 0; i < d->cfg->threads; i++)
        atomic_store_explicit(&d->threads[i].reads, 0, memory_order_relaxed);
}

static int direct_serve(void *state, unsigned thread, const uint64_t *pages, const uint8_t *writes,
                        size_t n, uint64_t *sink, char *err, size_t errlen)
{
    struct direct_state *d = state;
    struct direct_thread *t;
    size_t ps = d->info.page_size;
    uint64_t acc = 0;

    (void)writes; /* served as reads */
    if (check_ops(d->cfg, thread, pages, n, err, errlen) != 0)
        return -1;
    t = &d->threads[thread];
    for (size_t done = 0; done < n;) {
        size_t m = n - done < d->batch ? n - done : d->batch;

        for (size_t i = 0; i < m; i++)
            t->ios[i] = (struct plat_io){t->buf + i * ps, ps,
                                         awc_file_page_offset(&d->info, pages[done + i]), 0};
        if (plat_file_read_batch(d->file, t->ios, m) != 0) {
            for (size_t i = 0; i < m; i++) {
                if (t->ios[i].result != 0) {
                    snprintf(err, errlen, "reading page %llu of %s: %s",
                             (unsigned long long)pages[done + i], d->cfg->path,
                             plat_io_strerror(t->ios[i].result));
                    break;
                }
            }
            return -1;
        }
        for (size_t i = 0; i < m; i++)
            acc += bench_touch(t->buf + i * ps, ps, false);
        atomic_store_explicit(&t->reads, atomic_load_explicit(&t->reads, memory_order_relaxed) + m,
                              memory_order_relaxed);
        done += m;
    }
    *sink += acc;
    return 0;
}

static int direct_close(void *state, struct bench_result *r, char *err, size_t errlen)
{
    struct direct_state *d = state;
    uint64_t reads = 0;
    int rc;

    for (unsigned i = 0; i < d->cfg->threads; i++)
        reads += atomic_load_explicit(&d->threads[i].reads, memory_order_relaxed);
    result_unknown(r);
    r->hits = 0;
    r->misses = reads;
    r->bytes_read = reads * d->info.page_size;
    r->bytes_written = 0;
    r->mem_bytes = (uint64_t)d->cfg->threads * d->batch * d->info.page_size;
    snprintf(r->note, sizeof(r->note), "%s", d->note);
    rc = plat_file_close(d->file);
    d->file = NULL;
    if (rc != 0)
        snprintf(err, errlen, "closing %s: %s", d->cfg->path, plat_io_strerror(rc));
    direct_free(d);
    return rc != 0 ? -1 : 0;
}

const struct bench_side bench_side_direct = {"direct", direct_open, direct_begin, direct_serve,
                                             direct_close};
