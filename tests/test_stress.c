/*
 * tests/test_stress.c: many threads using AWE at once, each checking everything it sees.
 *
 * T worker threads (AWE_STRESS_THREADS, default 4) run for AWE_STRESS_SECONDS (default 2).
 * Each owns a window, a set of frames, and a range of pages in one window shared by all; it keeps
 * a model of its pages (which frame, which version of the frame's content) and, in random order:
 *   - maps runs and scattered frames into its pages (replacing, unmapping), and after every map
 *     checks that each page shows the content of its frame (frame id, version), then writes a
 *     new version;
 *   - unmaps ranges and checks that the pages fault;
 *   - checks all its pages against the model (awe_query, content, faults);
 *   - tries to map other threads' pinned frames (always mapped, at the owner's page 0): the call
 *     must fail with AWE_EINVAL and change nothing, alone or beside a valid entry of a scatter;
 *   - frees some of its frames (mapped ones too) and allocates new ones, which read as zeros;
 *   - allocates frames, reserves a window, maps and writes them, releases the window, maps the
 *     frames into another one, checks the contents, frees the frames and releases that window.
 * The main thread samples awe_get_stats meanwhile. At the end the test checks every thread's pages,
 * the VMA count against /proc/self/maps, frees everything and checks that frames, windows and
 * VMAs are back to zero. Cmocka assertions are made only by the main thread: a worker records
 * its first failure and stops.
 */
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define PG        (tu_page())
#define OWN       48            /* pages of a thread's own window; page 0 holds its pin */
#define SHARE     16            /* pages of the shared window per thread */
#define NPAGES    (OWN + SHARE) /* a thread's page space: own window, then shared range */
#define NF        40            /* frames a thread holds */
#define MAX_BATCH 8             /* pages one map call changes */
#define MAX_T     64

struct worker {
    int id;
    pthread_t th;
    char *own;              /* own window: OWN pages */
    char *shared;           /* this thread's SHARE pages of the shared window */
    awe_frame_t pin;        /* mapped at own page 0 for the whole run */
    awe_frame_t frames[NF]; /* frames held */
    uint32_t version[NF];   /* content version of each (0: never written, reads zeros) */
    int where[NF];          /* page it is mapped at, or -1 */
    int at[NPAGES];         /* frame index mapped at each page, or -1 (page 0: the pin) */
    uint64_t rng;           /* random state */
    char err[512];          /* the first failure */
    bool failed;
    uint64_t ops[8]; /* operations done, by kind */
};

static struct worker workers[MAX_T];
static int nthreads;
static _Atomic awe_frame_t pins[MAX_T]; /* published once mapped; 0 before */
static atomic_int stop;
static atomic_int ready;

/* ---- Model helpers ------------------------------------------------------------------------ */

static uint64_t tag(awe_frame_t f, uint32_t version)
{
    return ((uint64_t)f << 24) ^ version ^ 0xA500000000000000ull;
}

static char *page_addr(const struct worker *w, int page)
{
    return page < OWN ? TU_AT(w->own, page) : TU_AT(w->shared, page - OWN);
}

static void failf(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failf(struct worker *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (w->failed)
        return;
    n = snprintf(w->err, sizeof(w->err), "thread %d: ", w->id);
    va_start(ap, fmt);
    vsnprintf(w->err + n, sizeof(w->err) - (size_t)n, fmt, ap);
    va_end(ap);
    w->failed = true;
}

static uint64_t rnd(struct worker *w, uint64_t n)
{
    return tu_rand(&w->rng) % n;
}

/* Checks page `page` against the model: the frame awe_query reports, and the content (or a
 * fault). Returns false (and records why) on a mismatch. */
static bool check_page(struct worker *w, int page)
{
    char *va = page_addr(w, page);
    awe_frame_t want = page == 0 ? w->pin : (w->at[page] >= 0 ? w->frames[w->at[page]] : 0);
    awe_frame_t got = (awe_frame_t)-1;
    int rc = awe_query(va, &got);

    if (rc != AWE_OK || got != want) {
        failf(w, "page %d: awe_query %s, frame %#lx, model %#lx", page, awe_strerror(rc),
              (unsigned long)got, (unsigned long)want);
        return false;
    }
    if (want == 0) {
        if (!page_faults(va)) {
            failf(w, "page %d is unmapped but does not fault", page);
            return false;
        }
        return true;
    }
    if (page == 0) {
        if (!tu_check(va, PG, tag(w->pin, 1))) {
            failf(w, "the pinned frame %#lx lost its content", (unsigned long)w->pin);
            return false;
        }
        return true;
    }
    {
        int fi = w->at[page];
        bool ok = w->version[fi] == 0 ? tu_is_zero(va, PG)
                                      : tu_check(va, PG, tag(w->frames[fi], w->version[fi]));

        if (!ok) {
            failf(w, "page %d: frame %#lx should hold version %u, first word %#lx", page,
                  (unsigned long)w->frames[fi], w->version[fi], (unsigned long)tu_tag_of(va));
            return false;
        }
    }
    return true;
}

/* After a successful map: check the page, then write the next version of its frame. */
static bool check_and_bump(struct worker *w, int page)
{
    int fi = w->at[page];

    if (!check_page(w, page))
        return false;
    if (fi >= 0) {
        w->version[fi]++;
        tu_fill(page_addr(w, page), PG, tag(w->frames[fi], w->version[fi]));
    }
    return true;
}

/* Model update for page <- frame index fi (-1: unmap). */
static void model_set(struct worker *w, int page, int fi)
{
    if (w->at[page] >= 0)
        w->where[w->at[page]] = -1;
    w->at[page] = fi;
    if (fi >= 0)
        w->where[fi] = page;
}

/* Picks up to n distinct unmapped frame indexes, preferring a run of consecutive frame numbers
 * (frames[] is kept sorted) when `run` is set. Returns how many. */
static int pick_unmapped(struct worker *w, int *out, int n, bool run)
{
    int got = 0;
    int start = (int)rnd(w, NF);

    for (int k = 0; k < NF && got < n; k++) {
        int fi = (start + k) % NF;

        if (w->where[fi] >= 0) {
            if (run && got > 0)
                break;
            continue;
        }
        if (run && got > 0 && (fi == 0 || w->frames[fi] != w->frames[out[got - 1]] + 1))
            break;
        out[got++] = fi;
    }
    return got;
}

/* A random page range [s, s + len) inside one window of the page space, never page 0. */
static void pick_range(struct worker *w, int *s, int *len)
{
    int maxlen = 1 + (int)rnd(w, MAX_BATCH);

    if (rnd(w, 2) == 0) {
        *s = 1 + (int)rnd(w, OWN - 1);
        *len = *s + maxlen > OWN ? OWN - *s : maxlen;
    } else {
        *s = OWN + (int)rnd(w, SHARE);
        *len = *s + maxlen > NPAGES ? NPAGES - *s : maxlen;
    }
}

static int cmp_frame(const void *a, const void *b)
{
    awe_frame_t x = *(const awe_frame_t *)a, y = *(const awe_frame_t *)b;

    return x < y ? -1 : x > y;
}

/* ---- Operations --------------------------------------------------------------------------- */

static void op_map(struct worker *w)
{
    awe_frame_t e[MAX_BATCH];
    int fis[MAX_BATCH];
    int s, len, nf, rc;

    pick_range(w, &s, &len);
    nf = pick_unmapped(w, fis, len, rnd(w, 2) == 0);
    for (int i = 0; i < len; i++) {
        /* Mostly frames; sometimes a 0 (unmap) */
        if (i < nf && rnd(w, 8) != 0) {
            e[i] = w->frames[fis[i]];
        } else {
            e[i] = 0;
            fis[i] = -1;
        }
    }
    for (int i = nf; i < len; i++)
        fis[i] = -1;
    rc = awe_map(page_addr(w, s), (size_t)len, e);
    if (rc != AWE_OK) {
        failf(w, "awe_map of %d pages at page %d: %s", len, s, awe_strerror(rc));
        return;
    }
    for (int i = 0; i < len; i++)
        model_set(w, s + i, fis[i]);
    for (int i = 0; i < len; i++) {
        if (!check_and_bump(w, s + i))
            return;
    }
}

static void op_unmap(struct worker *w)
{
    int s, len, rc;

    pick_range(w, &s, &len);
    rc = awe_unmap(page_addr(w, s), (size_t)len);
    if (rc != AWE_OK) {
        failf(w, "awe_unmap of %d pages at page %d: %s", len, s, awe_strerror(rc));
        return;
    }
    for (int i = 0; i < len; i++)
        model_set(w, s + i, -1);
    (void)check_page(w, s);
    (void)check_page(w, s + len - 1);
}

static void op_scatter(struct worker *w)
{
    void *vas[MAX_BATCH];
    awe_frame_t e[MAX_BATCH];
    int pages[MAX_BATCH];
    int fis[MAX_BATCH];
    int n = 1 + (int)rnd(w, MAX_BATCH);
    int nf, m = 0, rc;

    nf = pick_unmapped(w, fis, n, false);
    for (int i = 0; i < n; i++) {
        int p = 1 + (int)rnd(w, NPAGES - 1);
        bool dup = false;

        for (int j = 0; j < m; j++)
            dup |= pages[j] == p;
        if (dup)
            continue;
        pages[m] = p;
        vas[m] = page_addr(w, p) + rnd(w, PG); /* any address in the page */
        if (m < nf && rnd(w, 6) != 0) {
            e[m] = w->frames[fis[m]];
        } else {
            e[m] = 0;
            fis[m] = -1;
        }
        m++;
    }
    rc = awe_map_scatter(vas, (size_t)m, e);
    if (rc != AWE_OK) {
        failf(w, "awe_map_scatter of %d pages: %s", m, awe_strerror(rc));
        return;
    }
    for (int i = 0; i < m; i++)
        model_set(w, pages[i], i < nf ? fis[i] : -1);
    for (int i = 0; i < m; i++) {
        if (!check_and_bump(w, pages[i]))
            return;
    }
}

static void op_check_all(struct worker *w)
{
    for (int p = 0; p < NPAGES; p++) {
        if (!check_page(w, p))
            return;
    }
}

/* Maps another thread's pinned frame (mapped at that thread's page 0 all along). */
static void op_attack(struct worker *w)
{
    int victim = (w->id + 1 + (int)rnd(w, (uint64_t)nthreads)) % nthreads;
    awe_frame_t foreign = atomic_load(&pins[victim]);
    int s, len, rc;

    if (victim == w->id || foreign == 0)
        return;
    pick_range(w, &s, &len);
    rc = awe_map(page_addr(w, s), 1, &foreign);
    if (rc != AWE_EINVAL) {
        failf(w,
              "mapping thread %d's pinned frame %#lx (mapped) returned %s, expected "
              "AWE_EINVAL",
              victim, (unsigned long)foreign, awe_strerror(rc));
        return;
    }
    if (!check_page(w, s))
        return;
    /* Beside a valid entry that would unmap or map one of ours: neither may happen */
    {
        void *vas[2];
        awe_frame_t e[2];
        int fi;
        int other = s + 1 < NPAGES && s + 1 != OWN ? s + 1 : s - 1;

        if (other == 0)
            return;
        vas[0] = page_addr(w, other);
        e[0] = pick_unmapped(w, &fi, 1, false) == 1 ? w->frames[fi] : 0;
        vas[1] = page_addr(w, s);
        e[1] = foreign;
        rc = awe_map_scatter(vas, 2, e);
        if (rc != AWE_EINVAL) {
            failf(w, "scatter with thread %d's pinned frame returned %s, expected AWE_EINVAL",
                  victim, awe_strerror(rc));
            return;
        }
        (void)check_page(w, other);
        (void)check_page(w, s);
    }
}

/* Frees a few frames (mapped ones too) and allocates as many new ones. */
static void op_recycle(struct worker *w)
{
    int k = 1 + (int)rnd(w, 4);
    int fis[4];
    awe_frame_t list[4];
    size_t count;
    int rc;

    for (int i = 0; i < k; i++) {
        fis[i] = (int)rnd(w, NF);
        for (int j = 0; j < i; j++) {
            if (fis[j] == fis[i])
                fis[i] = -1;
        }
    }
    {
        int m = 0;

        for (int i = 0; i < k; i++) {
            if (fis[i] >= 0)
                fis[m++] = fis[i];
        }
        k = m;
    }
    for (int i = 0; i < k; i++)
        list[i] = w->frames[fis[i]];
    count = (size_t)k;
    rc = awe_frames_free(&count, list);
    if (rc != AWE_OK || count != (size_t)k) {
        failf(w, "awe_frames_free of %d frames: %s, count %zu", k, awe_strerror(rc), count);
        return;
    }
    for (int i = 0; i < k; i++) {
        int page = w->where[fis[i]];

        if (page >= 0) {
            model_set(w, page, -1);
            if (!check_page(w, page))
                return;
        }
    }
    count = (size_t)k;
    rc = awe_frames_alloc(&count, list, 0, -1);
    if (rc != AWE_OK || count != (size_t)k) {
        failf(w, "awe_frames_alloc of %d frames: %s, count %zu", k, awe_strerror(rc), count);
        /* Keep the model consistent: the freed slots hold nothing now */
        for (int i = 0; i < k; i++)
            w->frames[fis[i]] = 0;
        return;
    }
    for (int i = 0; i < k; i++) {
        w->frames[fis[i]] = list[i];
        w->version[fis[i]] = 0;
    }
    /* Keep frames[] sorted so that neighbours in it can form runs: permute the model too */
    for (int i = 1; i < NF; i++) {
        for (int j = i; j > 0 && w->frames[j - 1] > w->frames[j]; j--) {
            awe_frame_t tf = w->frames[j];
            uint32_t tv = w->version[j];
            int tw = w->where[j];

            w->frames[j] = w->frames[j - 1];
            w->version[j] = w->version[j - 1];
            w->where[j] = w->where[j - 1];
            w->frames[j - 1] = tf;
            w->version[j - 1] = tv;
            w->where[j - 1] = tw;
        }
    }
    for (int p = 0; p < NPAGES; p++)
        w->at[p] = -1;
    for (int fi = 0; fi < NF; fi++) {
        if (w->where[fi] >= 0)
            w->at[w->where[fi]] = fi;
    }
}

/* Frames through two short-lived windows: contents survive the release of the first. */
static void op_churn(struct worker *w)
{
    enum { N = 4 };
    awe_frame_t f[N];
    awe_frame_t rev[N];
    size_t count = N;
    void *a = NULL;
    void *b = NULL;
    int rc;

    rc = awe_frames_alloc(&count, f, 0, -1);
    if (rc != AWE_OK || count != N) {
        failf(w, "churn: awe_frames_alloc: %s, count %zu", awe_strerror(rc), count);
        return;
    }
    rc = awe_window_reserve(NULL, (N + 1) * PG, 0, &a);
    if (rc == AWE_OK)
        rc = awe_map(a, N, f);
    if (rc != AWE_OK) {
        failf(w, "churn: reserve/map: %s", awe_strerror(rc));
        return;
    }
    for (int i = 0; i < N; i++) {
        if (!tu_is_zero(TU_AT(a, i), PG)) {
            failf(w, "churn: new frame %#lx is not zero", (unsigned long)f[i]);
            return;
        }
        tu_fill(TU_AT(a, i), PG, tag(f[i], 77));
    }
    rc = awe_window_release(a);
    if (rc == AWE_OK)
        rc = awe_window_reserve(NULL, 2 * N * PG, 0, &b);
    for (int i = 0; i < N; i++)
        rev[i] = f[N - 1 - i];
    if (rc == AWE_OK)
        rc = awe_map(TU_AT(b, N), N, rev);
    if (rc != AWE_OK) {
        failf(w, "churn: release/reserve/map: %s", awe_strerror(rc));
        return;
    }
    for (int i = 0; i < N; i++) {
        if (!tu_check(TU_AT(b, N + i), PG, tag(rev[i], 77))) {
            failf(w, "churn: frame %#lx lost its content across windows", (unsigned long)rev[i]);
            return;
        }
    }
    count = N;
    rc = awe_frames_free(&count, f); /* mapped: unmapped first */
    if (rc != AWE_OK) {
        failf(w, "churn: awe_frames_free: %s", awe_strerror(rc));
        return;
    }
    if (!page_faults(TU_AT(b, N)) || !page_faults(TU_AT(b, 2 * N - 1))) {
        failf(w, "churn: freed frames' pages do not fault");
        return;
    }
    rc = awe_window_release(b);
    if (rc != AWE_OK)
        failf(w, "churn: awe_window_release: %s", awe_strerror(rc));
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    /* Publish the pin, then wait for everyone's */
    atomic_store(&pins[w->id], w->pin);
    atomic_fetch_add(&ready, 1);
    while (atomic_load(&ready) < nthreads)
        sched_yield();
    while (!atomic_load_explicit(&stop, memory_order_relaxed) && !w->failed) {
        int kind = (int)rnd(w, 100);

        if (kind < 30) {
            op_map(w);
            w->ops[0]++;
        } else if (kind < 45) {
            op_unmap(w);
            w->ops[1]++;
        } else if (kind < 65) {
            op_scatter(w);
            w->ops[2]++;
        } else if (kind < 72) {
            op_check_all(w);
            w->ops[3]++;
        } else if (kind < 85) {
            op_attack(w);
            w->ops[4]++;
        } else if (kind < 93) {
            op_recycle(w);
            w->ops[5]++;
        } else {
            op_churn(w);
            w->ops[6]++;
        }
    }
    return NULL;
}

/* ---- The test ----------------------------------------------------------------------------- */

static long env_long(const char *name, long dflt, long lo, long hi)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return dflt;
    v = strtol(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s=%s is not a number in [%ld, %ld]; using %ld\n", name, s, lo, hi, dflt);
        return dflt;
    }
    return v;
}

static void test_stress(void **state)
{
    long seconds = env_long("AWE_STRESS_SECONDS", 2, 0, 86400);
    char *shared;
    struct timespec t0;
    struct timespec now;
    struct tu_range ranges[MAX_T + 1];
    uint64_t samples = 0;
    uint64_t total[8] = {0};
    bool bad_sample = false;

    (void)state;
    nthreads = (int)env_long("AWE_STRESS_THREADS", 4, 1, MAX_T);
    print_message("%d threads for %ld s\n", nthreads, seconds);
    shared = tu_reserve((size_t)nthreads * SHARE);
    atomic_store(&stop, 0);
    atomic_store(&ready, 0);

    /* Set every worker up from the main thread (its window, frames, pin) */
    for (int t = 0; t < nthreads; t++) {
        struct worker *w = &workers[t];
        awe_frame_t *f;

        memset(w, 0, sizeof(*w));
        w->id = t;
        w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
        w->own = tu_reserve(OWN);
        w->shared = TU_AT(shared, (size_t)t * SHARE);
        f = tu_alloc(NF + 1);
        w->pin = f[NF];
        memcpy(w->frames, f, NF * sizeof(awe_frame_t));
        qsort(w->frames, NF, sizeof(awe_frame_t), cmp_frame);
        for (int i = 0; i < NF; i++)
            w->where[i] = -1;
        for (int p = 0; p < NPAGES; p++)
            w->at[p] = -1;
        TU_EXPECT(awe_map(w->own, 1, &w->pin), AWE_OK);
        tu_fill(w->own, PG, tag(w->pin, 1));
        atomic_store(&pins[t], 0);
    }
    for (int t = 0; t < nthreads; t++)
        assert_int_equal(pthread_create(&workers[t].th, NULL, worker_main, &workers[t]), 0);

    /* Sample the counters while the workers run */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct awe_stats st;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec + (now.tv_nsec - t0.tv_nsec) / 1e9 >= (double)seconds)
            break;
        if (awe_get_stats(&st) != AWE_OK || st.vmas_in_use > st.vmas_peak ||
            (tu_caps.vma_budget != 0 && st.vmas_in_use > tu_caps.vma_budget) ||
            st.frames_allocated > st.frames_peak) {
            bad_sample = true;
            break;
        }
        samples++;
        usleep(10000);
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < nthreads; t++)
        pthread_join(workers[t].th, NULL);
    if (bad_sample)
        fail_msg("awe_get_stats during the run: a counter passed its peak or the VMA budget");
    for (int t = 0; t < nthreads; t++) {
        if (workers[t].failed)
            fail_msg("%s", workers[t].err);
        for (int k = 0; k < 8; k++)
            total[k] += workers[t].ops[k];
    }
    print_message("ops: %lu map, %lu unmap, %lu scatter, %lu check, %lu attack, %lu recycle, "
                  "%lu churn; %lu counter samples\n",
                  (unsigned long)total[0], (unsigned long)total[1], (unsigned long)total[2],
                  (unsigned long)total[3], (unsigned long)total[4], (unsigned long)total[5],
                  (unsigned long)total[6], (unsigned long)samples);

    /* Everything is as the workers' models say; the kernel agrees with the VMA count */
    for (int t = 0; t < nthreads; t++) {
        op_check_all(&workers[t]);
        if (workers[t].failed)
            fail_msg("after the run: %s", workers[t].err);
        ranges[t].lo = (uintptr_t)workers[t].own;
        ranges[t].hi = ranges[t].lo + OWN * PG;
    }
    ranges[nthreads].lo = (uintptr_t)shared;
    ranges[nthreads].hi = (uintptr_t)shared + (size_t)nthreads * SHARE * PG;
    {
        struct awe_stats st = tu_stats();
        long kernel = tu_maps_count(ranges, (size_t)nthreads + 1);

        if ((long)st.vmas_in_use != kernel)
            fail_msg("after the run: vmas_in_use %lu, /proc/self/maps %ld",
                     (unsigned long)st.vmas_in_use, kernel);
        assert_int_equal(st.windows, (uint64_t)nthreads + 1);
        assert_int_equal(st.frames_allocated, (uint64_t)nthreads * (NF + 1));
    }

    /* Give everything back: the frames the workers hold now (tu_alloc's are partly freed) */
    for (int t = 0; t < nthreads; t++) {
        size_t count = NF;

        TU_EXPECT(awe_frames_free(&count, workers[t].frames), AWE_OK);
        count = 1;
        TU_EXPECT(awe_frames_free(&count, &workers[t].pin), AWE_OK);
    }
    tu_release_all(); /* windows; the frames it tracked are freed already (ignored) */
    tu_assert_baseline();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stress, tu_setup, tu_teardown),
    };

    tu_init();
    return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
