/*
 * tools/awecache/replay.c: `awecache replay`: a trace replayed through a real page cache.
 *
 * The cache is a fresh awecache file, made for the run in $TMPDIR (or /var/tmp) and removed as
 * soon as it is open (where the OS allows removing an open file; otherwise when the cache is
 * closed), so that nothing is left behind however the run ends. Every request is one shared pin
 * of the page and its unpin, one at a time, so the frame level counts exactly as libCacheSim's
 * Clock does under --policy clock-compat (engine/README.md 4.2.5). The trace's page numbers are
 * used as they are: the file is empty, and a page past its end reads as zeros with no I/O and
 * without growing it (engine/README.md 5.6), so a miss costs a frame, a memset and at most a map
 * call, never a disk read, and the file stays a few KiB whatever the page numbers.
 *
 * What is counted (struct awc_stats): window hits (the page was mapped in a window slot), frame
 * hits (in a frame but not in the window: one map call), misses (in no frame: "read from the
 * file"). Frame-level miss ratio = misses / requests; window-level miss ratio = (frame hits +
 * misses) / requests.
 */
#include "cli.h"
#include "trace.h"

#include "awecache.h"
#include "plat_proc.h"
#include "plat_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "replay"

#define DEFAULT_PAGE_SIZE  4096u
#define DEFAULT_MAX_WINDOW 4096u /* pages: the default window is min(frames, this) */
#define PROGRESS_EVERY     1024u /* requests between progress updates */
#define TEMP_TRIES         16    /* names tried before giving up on a temporary file */

enum {
    OPT_FRAMES = 1,
    OPT_WINDOW,
    OPT_PAGE_SIZE,
    OPT_POLICY,
    OPT_JSON,
};

static const struct cli_opt replay_opts[] = {
    {"frames", OPT_FRAMES, "N",
     "frames (RAM) of the cache: N pages, or a size with a unit (64M, 1G); required"},
    {"window", OPT_WINDOW, "N",
     "window slots: N pages or a size, at most the frames (default: min(frames, 4096 pages))"},
    {"page-size", OPT_PAGE_SIZE, "SIZE", "bytes per page, a power of two, 4K to 2M (default 4K)"},
    {"policy", OPT_POLICY, "NAME",
     "default (the engine's own; the default) or clock-compat (frames exactly libCacheSim's "
     "Clock)"},
    {"json", OPT_JSON, NULL, "print the result as one JSON object"},
    {NULL, 0, NULL, NULL},
};

/* The command line, once parsed. */
struct replay_args {
    const char *trace;      /* the trace file */
    const char *frames_arg; /* --frames as given (resolved once the page size is known) */
    const char *window_arg; /* --window as given; NULL: the default */
    size_t page_size;       /* bytes per page */
    bool compat;            /* --policy clock-compat */
    bool json;              /* --json */
    uint64_t frames;        /* resolved: pages of frames */
    uint64_t window;        /* resolved: window slots asked for */
};

/* What the run measured. */
struct replay_result {
    uint64_t requests;   /* pins made (the trace's length) */
    uint64_t distinct;   /* distinct page numbers in the trace */
    struct awc_stats st; /* the cache's counters after the run */
    double seconds;      /* the replay alone (not the open or the close) */
    char temp[1024];     /* the temporary backing file's name */
};

/* ---- Arguments --------------------------------------------------------------------------- */

/* True when s is nothing but decimal digits (a page count rather than a size). */
static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Resolves a --frames or --window value into pages: a plain number is pages, anything else a
 * byte size (rounded down to whole pages). 0 on success; -1 with the error printed. */
static int parse_pages(const char *opt, const char *s, size_t page_size, uint64_t *pages)
{
    uint64_t v;

    if (all_digits(s)) {
        if (cli_parse_count(s, &v) != 0) {
            cli_error(CMD, "--%s %s: not a page count", opt, s);
            return -1;
        }
    } else {
        if (cli_parse_size(s, &v) != 0) {
            cli_error(CMD, "--%s %s: not a page count or a size (64M, 1G)", opt, s);
            return -1;
        }
        v /= page_size;
    }
    if (v == 0) {
        cli_error(CMD, "--%s %s: must be at least one page (%zu bytes)", opt, s, page_size);
        return -1;
    }
    *pages = v;
    return 0;
}

/* Steps:
 * 1. Read the options and the one positional argument (the trace).
 * 2. Check the page size, then resolve the frames and the window into pages under it, and
 *    check that the window fits the frames and the frames fit the machine's memory.
 * Returns -1 to go on, or the exit status to return (help printed, or an error printed). */
static int parse_args(int argc, char **argv, struct replay_args *a)
{
    struct cli_parser p;
    const char *arg;
    uint64_t v, avail = 0;
    int id;

    memset(a, 0, sizeof(*a));
    a->page_size = DEFAULT_PAGE_SIZE;
    a->compat = false; /* --policy default */

    /* Step 1 */
    cli_parser_init(&p, CMD, "awecache replay TRACE --frames N [OPTIONS]",
                    "Replays TRACE (one page number per line) through a fresh awecache page "
                    "cache, one shared pin and unpin per request, and reports the hits and "
                    "misses of the window and of the frames. The cache's file is a temporary "
                    "one in $TMPDIR (or /var/tmp), removed when done.",
                    replay_opts, argc, argv);
    while ((id = cli_next(&p, &arg)) != CLI_NEXT_END) {
        switch (id) {
        case CLI_NEXT_HELP:
            return CLI_EXIT_OK;
        case CLI_NEXT_ERROR:
            return CLI_EXIT_USAGE;
        case CLI_NEXT_POSITIONAL:
            if (cli_take_positional(&p, "TRACE", &a->trace, arg) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_FRAMES:
            a->frames_arg = arg;
            break;
        case OPT_WINDOW:
            a->window_arg = arg;
            break;
        case OPT_PAGE_SIZE:
            if (cli_parse_size(arg, &v) != 0 || !cli_page_size_ok(v)) {
                cli_error(CMD, "--page-size %s: must be a power of two from 4K to 2M", arg);
                return CLI_EXIT_USAGE;
            }
            a->page_size = (size_t)v;
            break;
        case OPT_POLICY:
            if (strcmp(arg, "clock-compat") == 0) {
                a->compat = true;
            } else if (strcmp(arg, "default") == 0) {
                a->compat = false;
            } else {
                cli_error(CMD, "--policy %s: unknown policy (clock-compat or default)", arg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_JSON:
            a->json = true;
            break;
        default:
            cli_error(CMD, "unexpected option");
            return CLI_EXIT_USAGE;
        }
    }
    if (a->trace == NULL) {
        cli_error(CMD, "no trace given (awecache replay TRACE --frames N; --help for more)");
        return CLI_EXIT_USAGE;
    }
    if (a->frames_arg == NULL) {
        cli_error(CMD, "--frames is required (the cache's RAM: pages, or a size such as 64M)");
        return CLI_EXIT_USAGE;
    }

    /* Step 2 */
    if (parse_pages("frames", a->frames_arg, a->page_size, &a->frames) != 0)
        return CLI_EXIT_USAGE;
    if (a->window_arg == NULL) {
        a->window = a->frames < DEFAULT_MAX_WINDOW ? a->frames : DEFAULT_MAX_WINDOW;
    } else {
        if (parse_pages("window", a->window_arg, a->page_size, &a->window) != 0)
            return CLI_EXIT_USAGE;
        if (a->window > a->frames) {
            cli_error(CMD, "--window %s: %llu pages, more than the %llu pages of frames",
                      a->window_arg, (unsigned long long)a->window, (unsigned long long)a->frames);
            return CLI_EXIT_USAGE;
        }
    }
    if (a->frames > UINT64_MAX / a->page_size ||
        (plat_mem_info(NULL, &avail, NULL) == 0 && a->frames * a->page_size > avail)) {
        char want[32], have[32];

        cli_error(CMD, "--frames %s: %s of frames, more than the %s of memory available now",
                  a->frames_arg,
                  a->frames > UINT64_MAX / a->page_size
                      ? "more than 2^64 bytes"
                      : cli_fmt_size(a->frames * a->page_size, want, sizeof(want)),
                  cli_fmt_size(avail, have, sizeof(have)));
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* ---- Distinct pages ---------------------------------------------------------------------- */

/* Counts the distinct values of t[0..n) with an open-addressing set (UINT64_MAX, the empty
 * mark, is counted apart). Returns 0, or -1 when out of memory. */
static int count_distinct(const uint64_t *t, size_t n, uint64_t *out)
{
    size_t cap = 16, mask;
    uint64_t *set, count = 0;
    bool seen_max = false;

    while (cap < n * 2 && cap < (SIZE_MAX / sizeof(*set)) / 2)
        cap *= 2;
    set = malloc(cap * sizeof(*set));
    if (set == NULL)
        return -1;
    memset(set, 0xff, cap * sizeof(*set));
    mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = t[i];
        size_t h;

        if (k == UINT64_MAX) {
            count += seen_max ? 0 : 1;
            seen_max = true;
            continue;
        }
        h = (size_t)((k * UINT64_C(0x9e3779b97f4a7c15)) >> 17) & mask;
        while (set[h] != UINT64_MAX && set[h] != k)
            h = (h + 1) & mask;
        if (set[h] == UINT64_MAX) {
            set[h] = k;
            count++;
        }
    }
    free(set);
    *out = count;
    return 0;
}

/* ---- The replay -------------------------------------------------------------------------- */

/* Creates and opens the temporary cache: a new file named from the clock and a counter under
 * the temporary directory (plat_temp_dir: $TMPDIR or /var/tmp on Linux), created exclusively
 * (another name is tried if one exists). Then the file is removed at once; *removed says whether
 * that worked (if not, the caller removes it after the close). Returns AWC_OK or an AWC_E* code,
 * with nothing left behind on error. */
static int open_temp_cache(const struct replay_args *a, struct replay_result *r, awc_t **cache,
                           bool *removed)
{
    char dir[sizeof(r->temp) - 48];
    struct awc_config cfg;
    int rc = AWC_EEXIST;

    if (plat_temp_dir(dir, sizeof(dir)) != 0)
        return AWC_EINVAL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = r->temp;
    cfg.page_size = a->page_size;
    cfg.frame_budget = a->frames * a->page_size;
    cfg.window_budget = a->window * a->page_size;
    /* AWC_MAP_WINDOW: the cache holds exactly the frames asked for (in copy mode its window
     * would take its slots out of them, engine/README.md 4.3). */
    cfg.flags = AWC_CREATE | AWC_EXCL | AWC_MAP_WINDOW | (a->compat ? AWC_CLOCK_COMPAT : 0u);
    for (int i = 0; i < TEMP_TRIES && rc == AWC_EEXIST; i++) {
        /* The clock's nanoseconds and this frame's address (which differs between processes
         * where addresses are randomised) make a name no other run is likely to pick. */
        uint64_t tag = plat_clock_ns() ^ ((uint64_t)(uintptr_t)&cfg << 16) ^
                       (uint64_t)i * UINT64_C(0x9e3779b97f4a7c15);

        snprintf(r->temp, sizeof(r->temp), "%s/awecache-replay-%016llx.awc", dir,
                 (unsigned long long)tag);
        rc = awc_open(&cfg, cache);
        if (rc != AWC_OK && rc != AWC_EEXIST)
            remove(r->temp); /* the open may have created the file before failing */
    }
    if (rc != AWC_OK)
        return rc;
    *removed = remove(r->temp) == 0;
    return AWC_OK;
}

/* Ends the progress display of a replay that failed at `done`, before its error is printed: a
 * bar drawn in place on a terminal gets its line ended; plain progress lines (not a terminal)
 * get no final line, so that the error is the only line printed for the failure itself. */
static void progress_abandon(struct cli_progress *pr, uint64_t done)
{
    if (plat_is_terminal(2))
        cli_progress_end(pr, done);
}

/* Steps:
 * 1. Open a fresh cache on a temporary file (open_temp_cache).
 * 2. For each request: a shared pin of its page and the unpin; progress every PROGRESS_EVERY.
 * 3. Read the counters; close the cache; remove the file if it is still there.
 * Returns a CLI_EXIT_* status (an error printed on failure). */
static int run_replay(const struct replay_args *a, const uint64_t *trace, size_t n,
                      struct replay_result *r)
{
    struct cli_progress pr;
    bool removed = false;
    awc_t *c = NULL;
    int rc, status = CLI_EXIT_OK;
    uint64_t t0;

    /* Step 1 */
    rc = open_temp_cache(a, r, &c, &removed);
    if (rc != AWC_OK) {
        cli_error(CMD, "cannot create the temporary cache file %s: %s", r->temp, awc_strerror(rc));
        return CLI_EXIT_FAIL;
    }

    /* Step 2 */
    cli_progress_start(&pr, "replay", n, "requests");
    t0 = plat_clock_ns();
    for (size_t i = 0; i < n; i++) {
        void *p;

        rc = awc_pin(c, trace[i], AWC_SHARED, &p);
        if (rc != AWC_OK) {
            progress_abandon(&pr, i);
            if (rc == AWC_EINVAL)
                cli_error(CMD,
                          "request %zu: page %llu is beyond the largest page number of a "
                          "file of %zu-byte pages",
                          i + 1, (unsigned long long)trace[i], a->page_size);
            else if (rc == AWC_EFBIG)
                cli_error(CMD,
                          "request %zu: page %llu lies past the largest file the file system of "
                          "the temporary cache file (%s) can hold",
                          i + 1, (unsigned long long)trace[i], r->temp);
            else
                cli_error(CMD, "request %zu (page %llu): %s", i + 1, (unsigned long long)trace[i],
                          awc_strerror(rc));
            status = CLI_EXIT_FAIL;
            break;
        }
        rc = awc_unpin(c, trace[i], 0);
        if (rc != AWC_OK) {
            progress_abandon(&pr, i);
            cli_error(CMD, "request %zu (page %llu): unpin: %s", i + 1,
                      (unsigned long long)trace[i], awc_strerror(rc));
            status = CLI_EXIT_FAIL;
            break;
        }
        if ((i + 1) % PROGRESS_EVERY == 0)
            cli_progress_update(&pr, i + 1);
    }
    r->seconds = (double)(plat_clock_ns() - t0) / 1e9;
    if (status == CLI_EXIT_OK)
        cli_progress_end(&pr, n);

    /* Step 3 */
    rc = awc_get_stats(c, &r->st);
    if (rc != AWC_OK && status == CLI_EXIT_OK) {
        cli_error(CMD, "cannot read the cache's counters: %s", awc_strerror(rc));
        status = CLI_EXIT_FAIL;
    }
    rc = awc_close(c);
    if (rc != AWC_OK && status == CLI_EXIT_OK) {
        cli_error(CMD, "closing the cache: %s", awc_strerror(rc));
        status = CLI_EXIT_FAIL;
    }
    if (!removed)
        remove(r->temp);
    return status;
}

/* ---- The report -------------------------------------------------------------------------- */

static double ratio(uint64_t part, uint64_t whole)
{
    return whole == 0 ? 0.0 : (double)part / (double)whole;
}

static void print_json(const struct replay_args *a, const struct replay_result *r)
{
    const struct awc_stats *st = &r->st;
    struct cli_json j;

    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_str(&j, "trace", a->trace);
    cli_json_str(&j, "policy", a->compat ? "clock-compat" : "default");
    cli_json_u64(&j, "page_size", a->page_size);
    cli_json_u64(&j, "frames", st->frames);
    cli_json_u64(&j, "window_slots", st->slots);
    cli_json_u64(&j, "requests", r->requests);
    cli_json_u64(&j, "distinct_pages", r->distinct);
    cli_json_u64(&j, "hits", st->window_hits + st->frame_hits);
    cli_json_u64(&j, "window_hits", st->window_hits);
    cli_json_u64(&j, "frame_hits", st->frame_hits);
    cli_json_u64(&j, "misses", st->misses);
    cli_json_real(&j, "hit_ratio", ratio(st->window_hits + st->frame_hits, r->requests));
    cli_json_real(&j, "miss_ratio", ratio(st->misses, r->requests));
    cli_json_real(&j, "window_hit_ratio", ratio(st->window_hits, r->requests));
    cli_json_real(&j, "window_miss_ratio", ratio(st->frame_hits + st->misses, r->requests));
    cli_json_u64(&j, "frame_evictions", st->frame_evictions);
    cli_json_u64(&j, "window_evictions", st->window_evictions);
    cli_json_u64(&j, "map_calls", st->map_calls);
    cli_json_real(&j, "seconds", r->seconds);
    cli_json_real(&j, "requests_per_s", r->seconds > 0 ? (double)r->requests / r->seconds : 0);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

/* Three tables: what was replayed, where the requests were served, and each level's ratios. */
static void print_table(const struct replay_args *a, const struct replay_result *r)
{
    static const char *const head1[] = {"replay", "value"};
    static const char *const head2[] = {"served by", "requests", "share"};
    static const char *const head3[] = {"level", "hits", "misses", "hit ratio", "miss ratio"};
    const struct awc_stats *st = &r->st;
    const uint64_t req = r->requests, hits = st->window_hits + st->frame_hits;
    char v1[8][48], v2[3][2][32], v3[2][4][32], sz[32];
    const char *c1[8 * 2], *c2[3 * 3], *c3[2 * 5];
    uint64_t served[3] = {st->window_hits, st->frame_hits, st->misses};
    static const char *const served_name[3] = {"window (hits)", "frames (window misses)",
                                               "file (misses)"};

    snprintf(v1[1], sizeof(v1[1]), "%llu", (unsigned long long)req);
    snprintf(v1[2], sizeof(v1[2]), "%llu", (unsigned long long)r->distinct);
    snprintf(v1[3], sizeof(v1[3]), "%llu (%s)", (unsigned long long)st->frames,
             cli_fmt_size(st->frames * a->page_size, sz, sizeof(sz)));
    snprintf(v1[4], sizeof(v1[4]), "%llu", (unsigned long long)st->slots);
    snprintf(v1[5], sizeof(v1[5]), "%s", cli_fmt_size(a->page_size, sz, sizeof(sz)));
    snprintf(v1[6], sizeof(v1[6]), "%s", a->compat ? "clock-compat" : "default");
    snprintf(v1[7], sizeof(v1[7]), "%.3f s", r->seconds);
    {
        static const char *const names[8] = {"trace",  "requests",     "distinct pages",
                                             "frames", "window slots", "page size",
                                             "policy", "time"};
        for (int i = 0; i < 8; i++) {
            c1[i * 2] = names[i];
            c1[i * 2 + 1] = i == 0 ? a->trace : v1[i];
        }
    }
    for (int i = 0; i < 3; i++) {
        snprintf(v2[i][0], sizeof(v2[i][0]), "%llu", (unsigned long long)served[i]);
        snprintf(v2[i][1], sizeof(v2[i][1]), "%.2f%%", 100.0 * ratio(served[i], req));
        c2[i * 3] = served_name[i];
        c2[i * 3 + 1] = v2[i][0];
        c2[i * 3 + 2] = v2[i][1];
    }
    /* The window level: hits in the window, everything else a miss; the frame level: hits in
     * the window or the frames, misses read from the file. */
    {
        const uint64_t h[2] = {st->window_hits, hits}, m[2] = {req - st->window_hits, st->misses};
        static const char *const level[2] = {"window", "frames"};

        for (int i = 0; i < 2; i++) {
            snprintf(v3[i][0], sizeof(v3[i][0]), "%llu", (unsigned long long)h[i]);
            snprintf(v3[i][1], sizeof(v3[i][1]), "%llu", (unsigned long long)m[i]);
            snprintf(v3[i][2], sizeof(v3[i][2]), "%.4f", ratio(h[i], req));
            snprintf(v3[i][3], sizeof(v3[i][3]), "%.4f", ratio(m[i], req));
            c3[i * 5] = level[i];
            for (int k = 0; k < 4; k++)
                c3[i * 5 + 1 + k] = v3[i][k];
        }
    }
    cli_table_print(stdout, 2, head1, c1, 8);
    fputc('\n', stdout);
    cli_table_print(stdout, 3, head2, c2, 3);
    fputc('\n', stdout);
    cli_table_print(stdout, 5, head3, c3, 2);
}

/* ---- The command ------------------------------------------------------------------------- */

/* Steps:
 * 1. Parse and check the command line (usage errors: exit 2).
 * 2. Load the trace and count its distinct pages (trace errors: exit 1).
 * 3. Replay it through a fresh cache (run_replay).
 * 4. Report: a table, or one JSON object with --json. */
int cmd_replay(int argc, char **argv)
{
    struct replay_args a;
    struct replay_result *r;
    uint64_t *trace = NULL;
    size_t n = 0;
    char err[1200];
    int status;

    /* Step 1 */
    status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;

    /* Step 2 */
    if (trace_load(a.trace, &trace, &n, err, sizeof(err)) != 0) {
        cli_error(CMD, "%s", err);
        return CLI_EXIT_FAIL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL || count_distinct(trace, n, &r->distinct) != 0) {
        cli_error(CMD, "out of memory for a trace of %zu requests", n);
        free(r);
        free(trace);
        return CLI_EXIT_FAIL;
    }
    r->requests = n;

    /* Step 3 */
    status = run_replay(&a, trace, n, r);
    if (status == CLI_EXIT_OK && r->st.slots < a.window)
        cli_note(CMD, "the window holds %llu slots, not %llu: the kernel's mapping limit",
                 (unsigned long long)r->st.slots, (unsigned long long)a.window);

    /* Step 4 */
    if (status == CLI_EXIT_OK) {
        if (a.json)
            print_json(&a, r);
        else
            print_table(&a, r);
    }
    free(r);
    free(trace);
    return status;
}
