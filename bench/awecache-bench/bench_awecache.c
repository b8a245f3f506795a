/*
 * bench/awecache-bench/bench_awecache.c: the awecache side of `awecache-bench` (bench.h): the data
 * file served by the engine, with the run's frame and window budgets.
 *
 * A batch of one is one awc_pin, bench_touch, awc_unpin. A larger batch is pinned with at most
 * two awc_pin_batch calls, one for its reads (shared) and one for its writes (exclusive), and
 * never holds the pins of both at once (see serve_group for why). The counters cover the
 * measured part: begin takes a snapshot of the engine's statistics and close reports the
 * difference, after a flush so that the write-back of what the run dirtied counts too.
 */
#include "bench.h"
#include "cli.h"

#include "awecache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* One thread's scratch space for splitting a batch. */
struct side_scratch {
    uint64_t *rpages; /* the batch's reads */
    uint64_t *wpages; /* the batch's writes */
    void **ptrs;      /* pointers of the group being pinned */
};

/* The side's state for one run. */
struct side_state {
    awc_t *cache;                 /* the open cache */
    size_t page_size;             /* bytes per page */
    unsigned threads;             /* threads of the run: one scratch each */
    struct awc_stats base;        /* statistics at begin (at open until then) */
    struct side_scratch *scratch; /* [threads] */
};

static void side_free(struct side_state *st)
{
    if (st->scratch != NULL) {
        for (unsigned i = 0; i < st->threads; i++) {
            free(st->scratch[i].rpages);
            free(st->scratch[i].wpages);
            free(st->scratch[i].ptrs);
        }
        free(st->scratch);
    }
    free(st);
}

static int side_open(void **state, const struct bench_config *cfg, char *err, size_t errlen)
{
    struct side_state *st = calloc(1, sizeof(*st));
    struct awc_config ac;
    char fb[32], wb[32];
    int rc;

    *state = NULL;
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->page_size = cfg->page_size;
    st->threads = cfg->threads;
    ac.path = cfg->path;
    ac.page_size = cfg->page_size;
    ac.frame_budget = cfg->frame_budget;
    ac.window_budget = cfg->window_budget;
    ac.flags = cfg->awc_flags & ~(AWC_CREATE | AWC_EXCL); /* the data file exists */
    rc = awc_open(&ac, &st->cache);
    if (rc != AWC_OK) {
        snprintf(err, errlen, "cannot open %s (frames %s, window %s): %s", cfg->path,
                 cli_fmt_size(cfg->frame_budget, fb, sizeof(fb)),
                 cli_fmt_size(cfg->window_budget, wb, sizeof(wb)), awc_strerror(rc));
        st->cache = NULL;
        side_free(st);
        return -1;
    }
    rc = awc_get_stats(st->cache, &st->base);
    if (rc != AWC_OK) {
        snprintf(err, errlen, "cannot read the cache's statistics: %s", awc_strerror(rc));
        goto fail;
    }
    /* Every thread may hold a whole batch pinned at once: the window must hold them all. */
    if ((uint64_t)cfg->threads * cfg->batch > st->base.slots) {
        snprintf(err, errlen,
                 "%u threads x batch %u = %" PRIu64 " pages pinned at once, but the window "
                 "holds %" PRIu64 " pages: give a larger window or a smaller batch",
                 cfg->threads, cfg->batch, (uint64_t)cfg->threads * cfg->batch, st->base.slots);
        goto fail;
    }
    st->scratch = calloc(cfg->threads, sizeof(*st->scratch));
    if (st->scratch == NULL)
        goto oom;
    for (unsigned i = 0; i < cfg->threads; i++) {
        struct side_scratch *s = &st->scratch[i];

        s->rpages = malloc(cfg->batch * sizeof(*s->rpages));
        s->wpages = malloc(cfg->batch * sizeof(*s->wpages));
        s->ptrs = malloc(cfg->batch * sizeof(*s->ptrs));
        if (s->rpages == NULL || s->wpages == NULL || s->ptrs == NULL)
            goto oom;
    }
    *state = st;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    awc_close(st->cache);
    side_free(st);
    return -1;
}

static void side_begin(void *state)
{
    struct side_state *st = state;
    struct awc_stats s;

    if (awc_get_stats(st->cache, &s) == AWC_OK)
        st->base = s;
}

/* Says why pinning pages[0..n) failed with rc. A batch pin does not say which page failed: its
 * pages are pinned (and released) one by one to find the first that fails alone (a corrupt
 * page, say); if none does, the batch's error is reported with its first page. */
static void describe_failure(struct side_state *st, const uint64_t *pages, size_t n, int mode,
                             int rc, char *err, size_t errlen)
{
    for (size_t i = 0; n > 1 && i < n; i++) {
        void *p;
        int one = awc_pin(st->cache, pages[i], mode, &p);

        if (one != AWC_OK) {
            snprintf(err, errlen, "page %" PRIu64 ": %s", pages[i], awc_strerror(one));
            return;
        }
        awc_unpin(st->cache, pages[i], 0);
    }
    if (n == 1)
        snprintf(err, errlen, "page %" PRIu64 ": %s", pages[0], awc_strerror(rc));
    else
        snprintf(err, errlen, "pinning a batch of %zu pages for %s (page %" PRIu64 "...): %s", n,
                 mode == AWC_EXCLUSIVE ? "writing" : "reading", pages[0], awc_strerror(rc));
}

/* Pins pages[0..n) in `mode`, touches each, and unpins each (dirty for a write).
 *
 * Why this cannot deadlock: awc_pin_batch first pins its pages (waiting only for buffers other
 * operations have BUSY for a moment, never for another thread's pin), then takes their content
 * latches in page order, holding the latches it has while it waits for the next one. Two
 * threads that each hold only the latches of their current call so take them in one global
 * order, and no cycle of waits can form. A thread that still held the latches of an earlier
 * call while it pinned another group could form one: thread A holds page 1 shared and asks for
 * page 2 exclusive, thread B holds page 2 shared and asks for page 1 exclusive. So the reads
 * are pinned, touched and released before the writes are pinned, and each group of pins is
 * released before this returns. The pins themselves fit: the run holds at most threads x batch
 * pages pinned, which open checked against the window's slots. */
static int serve_group(struct side_state *st, const uint64_t *pages, size_t n, int mode,
                       void **ptrs, uint64_t *sink, char *err, size_t errlen)
{
    bool write = mode == AWC_EXCLUSIVE;
    int rc, first = AWC_OK;

    if (n == 1)
        rc = awc_pin(st->cache, pages[0], mode, &ptrs[0]);
    else
        rc = awc_pin_batch(st->cache, pages, n, mode, ptrs);
    if (rc != AWC_OK) {
        describe_failure(st, pages, n, mode, rc, err, errlen);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        *sink += bench_touch(ptrs[i], st->page_size, write);
    for (size_t i = 0; i < n; i++) {
        rc = awc_unpin(st->cache, pages[i], write);
        if (rc != AWC_OK && first == AWC_OK) {
            first = rc;
            snprintf(err, errlen, "unpinning page %" PRIu64 ": %s", pages[i], awc_strerror(rc));
        }
    }
    return first == AWC_OK ? 0 : -1;
}

static int side_serve(void *state, unsigned thread, const uint64_t *pages, const uint8_t *writes,
                      size_t n, uint64_t *sink, char *err, size_t errlen)
{
    struct side_state *st = state;
    struct side_scratch *s = &st->scratch[thread];
    size_t nr = 0, nw = 0;

    if (n == 1)
        return serve_group(st, pages, 1, writes[0] ? AWC_EXCLUSIVE : AWC_SHARED, s->ptrs, sink, err,
                           errlen);
    for (size_t i = 0; i < n; i++) {
        if (writes[i])
            s->wpages[nw++] = pages[i];
        else
            s->rpages[nr++] = pages[i];
    }
    if (nr > 0 && serve_group(st, s->rpages, nr, AWC_SHARED, s->ptrs, sink, err, errlen) != 0)
        return -1;
    if (nw > 0 && serve_group(st, s->wpages, nw, AWC_EXCLUSIVE, s->ptrs, sink, err, errlen) != 0)
        return -1;
    return 0;
}

static int side_close(void *state, struct bench_result *r, char *err, size_t errlen)
{
    struct side_state *st = state;
    const struct awc_stats *b = &st->base;
    struct awc_stats s;
    int rc = AWC_OK, crc;

    /* Write back what the run dirtied first, so that its bytes count in bytes_written. */
    rc = awc_flush(st->cache);
    if (rc != AWC_OK)
        snprintf(err, errlen, "flushing the cache: %s", awc_strerror(rc));
    if (awc_get_stats(st->cache, &s) == AWC_OK) {
        r->window_hits = s.window_hits - b->window_hits;
        r->frame_hits = s.frame_hits - b->frame_hits;
        r->hits = r->window_hits + r->frame_hits;
        r->misses = s.misses - b->misses;
        r->bytes_read = s.bytes_read - b->bytes_read;
        r->bytes_written = s.bytes_written - b->bytes_written;
        /* In copy mode the window's slots hold frames of their own (engine/README.md 4.3). */
        r->mem_bytes =
            (s.frames + (s.copy_window ? s.slots : 0)) * st->page_size + s.checksum_bytes;
        snprintf(r->note, sizeof(r->note), "%s + %s, %" PRIu64 " window slots",
                 s.direct_io ? "O_DIRECT" : "buffered I/O", s.io_uring ? "io_uring" : "pread",
                 s.slots);
    }
    crc = awc_close(st->cache);
    if (crc != AWC_OK && rc == AWC_OK) {
        rc = crc;
        snprintf(err, errlen, "closing the cache: %s", awc_strerror(crc));
    }
    side_free(st);
    return rc == AWC_OK ? 0 : -1;
}

const struct bench_side bench_side_awecache = {
    "awecache", side_open, side_begin, side_serve, side_close,
};
