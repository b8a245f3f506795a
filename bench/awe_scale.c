/*
 * bench/awe_scale.c: AWE at scale: many gigabytes of frames seen through a small window by many
 * threads at once, every page checked.
 *
 *   awe_scale [--frames-gib G] [--window-mib W] [--threads T] [--seconds S] [--batch B]
 *             [--populate]
 *
 * --populate reserves the window with AWE_WINDOW_POPULATE: map calls fault the pages in, so the
 * reads that follow take no page faults (the map calls cost more instead).
 *
 * Steps:
 * 1. Allocate G GiB of frames (committed, AWE_FRAMES_POPULATE) and reserve one window of W MiB,
 *    split into T equal slices, one per thread.
 * 2. Tag every frame: each thread maps its share of the frames through its slice, a slice at a
 *    time, and writes the frame number into the first and last word of the page.
 * 3. For S seconds each thread repeatedly picks B random frames of its share (no frame twice in a
 *    batch, none of them mapped now) and maps them over its slice with one scatter call, replacing
 *    what was there, then reads every mapped page's tags and checks them against the frame.
 * 4. Report the frames, the window, pages mapped per second (all threads, and the scatter calls'
 *    OS mapping calls), and the number of tag mismatches (must be 0; the exit status says so).
 *
 * Frames of one thread are never mapped by another, as in a buffer pool where each frame has one
 * owner at a time; the map calls themselves all go through the one AWE state, concurrently.
 */
#define _GNU_SOURCE /* pthread_barrier_t */
#include "awe.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
    pthread_t tid;
    char *slice;               /* this thread's part of the window */
    size_t slice_pages;        /* its length in pages */
    const awe_frame_t *frames; /* this thread's share of the frames */
    size_t nframes;
    size_t batch; /* frames per scatter call (<= slice_pages) */
    double seconds;
    uint64_t pages_mapped; /* results */
    uint64_t calls;
    uint64_t mismatches;
    int error;
};

static size_t page_size;
static atomic_int stop_flag;
static pthread_barrier_t tagged; /* every thread has tagged its frames; the timed part starts */

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void tag_page(char *p, awe_frame_t f)
{
    uint64_t v = (uint64_t)f;

    memcpy(p, &v, sizeof(v));
    memcpy(p + page_size - sizeof(v), &v, sizeof(v));
}

static int tag_ok(const char *p, awe_frame_t f)
{
    uint64_t a, b;

    memcpy(&a, p, sizeof(a));
    memcpy(&b, p + page_size - sizeof(b), sizeof(b));
    return a == (uint64_t)f && b == (uint64_t)f;
}

/* Step 2: write every frame's tag through the slice. */
static int tag_all(struct worker *w)
{
    size_t done = 0;
    int rc;

    while (done < w->nframes) {
        size_t n = w->nframes - done < w->slice_pages ? w->nframes - done : w->slice_pages;

        rc = awe_map(w->slice, n, w->frames + done);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            tag_page(w->slice + i * page_size, w->frames[done + i]);
        rc = awe_unmap(w->slice, n);
        if (rc != 0)
            return rc;
        done += n;
    }
    return 0;
}

/* Step 3. */
static void *run(void *arg)
{
    struct worker *w = arg;
    void **vas = malloc(w->batch * sizeof(*vas));
    awe_frame_t *pick = malloc(w->batch * sizeof(*pick));
    uint8_t *in_use = calloc(w->nframes, 1); /* mapped now, or picked for this batch */
    size_t *slot_of = malloc(w->batch * sizeof(*slot_of));
    size_t *mapped_idx = malloc(w->slice_pages * sizeof(*mapped_idx));
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)w;
    double end;

    if (vas == NULL || pick == NULL || in_use == NULL || slot_of == NULL || mapped_idx == NULL) {
        w->error = AWE_ENOMEM;
        pthread_barrier_wait(&tagged);
        goto out;
    }
    w->error = tag_all(w);
    pthread_barrier_wait(&tagged);
    if (w->error != 0)
        goto out;
    for (size_t i = 0; i < w->slice_pages; i++)
        mapped_idx[i] = SIZE_MAX;
    end = now() + w->seconds;
    while (!atomic_load(&stop_flag) && now() < end) {
        size_t first = (size_t)(rng_next(&seed) % (w->slice_pages - w->batch + 1));
        int rc;

        /* Pick B frames not in use (the frames the batch replaces are still mapped during the
         * call, so they cannot be picked: AWE refuses a frame that is mapped anywhere). */
        for (size_t i = 0; i < w->batch; i++) {
            size_t f;

            do
                f = (size_t)(rng_next(&seed) % w->nframes);
            while (in_use[f]);
            in_use[f] = 1;
            slot_of[i] = f;
            pick[i] = w->frames[f];
            vas[i] = w->slice + (first + i) * page_size;
        }
        rc = awe_map_scatter(vas, w->batch, pick);
        if (rc != 0) {
            w->error = rc;
            break;
        }
        w->calls++;
        w->pages_mapped += w->batch;
        for (size_t i = 0; i < w->batch; i++) {
            if (mapped_idx[first + i] != SIZE_MAX)
                in_use[mapped_idx[first + i]] = 0; /* replaced: free to pick again */
            mapped_idx[first + i] = slot_of[i];
            if (!tag_ok(w->slice + (first + i) * page_size, pick[i]))
                w->mismatches++;
        }
    }
    if (w->error == 0)
        w->error = awe_unmap(w->slice, w->slice_pages);
out:
    free(vas);
    free(pick);
    free(in_use);
    free(slot_of);
    free(mapped_idx);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: awe_scale [--frames-gib G] [--window-mib W] [--threads T] "
                    "[--seconds S] [--batch B] [--populate]\n");
    return 2;
}

int main(int argc, char **argv)
{
    double gib = 1, window_mib = 64, seconds = 5;
    unsigned wflags = 0;
    long threads = 2, batch = 1024;
    struct awe_caps caps;
    struct awe_stats st0, st1;
    struct worker *w;
    awe_frame_t *frames;
    size_t nframes, got, slice_pages, per;
    uint64_t pages = 0, calls = 0, bad = 0;
    void *window;
    double t0, t1;
    int rc, err = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--populate") == 0) {
            wflags |= AWE_WINDOW_POPULATE;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--frames-gib") == 0)
            gib = atof(argv[++i]);
        else if (strcmp(argv[i], "--window-mib") == 0)
            window_mib = atof(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atol(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = atol(argv[++i]);
        else
            return usage();
    }
    rc = awe_get_caps(&caps);
    if (rc != 0 || gib <= 0 || window_mib <= 0 || threads < 1 || threads > 1024 || batch < 1) {
        fprintf(stderr, "awe_scale: bad arguments or no AWE here (%s)\n", awe_strerror(rc));
        return 2;
    }
    page_size = caps.page_size;
    nframes = (size_t)(gib * (double)(1u << 30) / (double)page_size);
    slice_pages = (size_t)(window_mib * (double)(1u << 20) / (double)page_size) / (size_t)threads;
    if (slice_pages < (size_t)batch || nframes / (size_t)threads < 2 * slice_pages) {
        fprintf(stderr, "awe_scale: each thread needs a slice of at least --batch pages and twice "
                        "as many frames as its slice\n");
        return 2;
    }

    if (caps.vma_budget != 0 && slice_pages * (size_t)threads + (size_t)threads > caps.vma_budget) {
        fprintf(stderr,
                "awe_scale: a %.0f MiB window of scattered frames needs up to %zu kernel mappings, "
                "over the budget of %" PRIu64 " (vm.max_map_count %" PRIu64 "): use a smaller "
                "window or raise vm.max_map_count\n",
                window_mib, slice_pages * (size_t)threads, caps.vma_budget, caps.max_map_count);
        return 2;
    }

    /* Step 1 */
    frames = malloc(nframes * sizeof(*frames));
    w = calloc((size_t)threads, sizeof(*w));
    if (frames == NULL || w == NULL)
        return 1;
    t0 = now();
    got = nframes;
    rc = awe_frames_alloc(&got, frames, AWE_FRAMES_POPULATE, -1);
    if (rc != 0 || got != nframes) {
        fprintf(stderr, "awe_scale: allocated %zu of %zu frames: %s\n", rc ? 0 : got, nframes,
                awe_strerror(rc));
        return 1;
    }
    t1 = now();
    rc = awe_window_reserve(NULL, slice_pages * (size_t)threads * page_size, wflags, &window);
    if (rc != 0) {
        fprintf(stderr, "awe_scale: window: %s\n", awe_strerror(rc));
        return 1;
    }
    printf("frames: %.1f GiB (%zu frames of %zu bytes) committed in %.1f s; window %.0f MiB%s, "
           "%ld threads, batch %ld, %.0f s\n",
           gib, nframes, page_size, t1 - t0, window_mib, wflags ? " (populate)" : "", threads,
           batch, seconds);
    fflush(stdout);

    /* Steps 2 and 3 */
    per = nframes / (size_t)threads;
    if (pthread_barrier_init(&tagged, NULL, (unsigned)threads + 1) != 0)
        return 1;
    for (long i = 0; i < threads; i++) {
        w[i].slice = (char *)window + (size_t)i * slice_pages * page_size;
        w[i].slice_pages = slice_pages;
        w[i].frames = frames + (size_t)i * per;
        w[i].nframes = per;
        w[i].batch = (size_t)batch;
        w[i].seconds = seconds;
        if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
            return 1;
    }
    t0 = now();
    pthread_barrier_wait(&tagged);
    t1 = now();
    printf("tagging every frame through the window: %.2f s (%.2f GiB/s)\n", t1 - t0,
           gib / (t1 - t0));
    awe_get_stats(&st0);
    t0 = now();
    for (long i = 0; i < threads; i++) {
        pthread_join(w[i].tid, NULL);
        pages += w[i].pages_mapped;
        calls += w[i].calls;
        bad += w[i].mismatches;
        if (w[i].error != 0 && err == 0)
            err = w[i].error;
    }
    t1 = now();
    awe_get_stats(&st1);

    /* Step 4 */
    printf("remapped: %" PRIu64 " scatter calls, %" PRIu64 " pages in %.2f s, every page checked\n",
           calls, pages, t1 - t0);
    printf("scatter pages/s (all threads): %.0f; OS mapping calls per page: %.2f; peak VMAs "
           "%" PRIu64 "\n",
           (double)pages / (t1 - t0),
           (double)(st1.runs - st0.runs) / (double)(st1.pages_mapped - st0.pages_mapped),
           st1.vmas_peak);
    printf("tag mismatches: %" PRIu64 "\n", bad);
    if (err != 0)
        fprintf(stderr, "awe_scale: a thread failed: %s\n", awe_strerror(err));
    got = nframes;
    rc = awe_frames_free(&got, frames);
    awe_window_release(window);
    free(frames);
    free(w);
    return bad != 0 || err != 0 || rc != 0 ? 1 : 0;
}
