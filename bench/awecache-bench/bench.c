/*
 * bench/awecache-bench/bench.c: `awecache-bench`: measures the awecache engine on a data file under
 * a chosen workload and, with --compare, the baselines (the OS page cache through mmap, a pread
 * pool, raw O_DIRECT reads) on the same file, workload and RAM budget.
 *
 * What it does, in order (cmd_bench's steps):
 *   1. Parse the options. Nothing is touched yet.
 *   2. Validate them: sizes, page size, window <= frames <= the RAM to be had, counts. An
 *      existing --file is read (its header only) and must be an awecache file with the page size
 *      and at least the pages the run needs; a trace is loaded. A sweep's CSV is opened last.
 *      Any error here: one line on stderr, nothing created. Then the medium: with --medium ram
 *      a RAM disk (plat_ramdisk.h) sized to the data files, where they will be made; where it
 *      cannot be had, a note and the disk.
 *   3. Create the data files that are missing (one, or one per page size for --sweep page=...).
 *   4. Run awecache (once per sweep value), then the baselines with --compare (once): that list
 *      of runs --repeat times over, interleaved (awecache, mmap, pread-pool, direct, awecache,
 *      ...), so that a slow spell of the machine falls on every side alike.
 *   5. Report: a table (default), --json or --csv, each side's median ops/s with min and max
 *      over its runs, ratios from the medians; a sweep also writes PREFIX.csv and plots
 *      PREFIX.png with gnuplot.
 *   6. Remove the data files this run made, unless --keep or the file was named with --file;
 *      let go of the RAM disk (it also goes by itself when the process ends, however it ends).
 *
 * Data files: --file PATH is used if it exists (never overwritten) and created if not (then
 * kept, since it was named); without --file a new awecache-bench-<random>.dat is made in $TMPDIR
 * (or /var/tmp) and removed at the end unless --keep. A page-size sweep needs one file per page
 * size: PATH.<page bytes> next to the data file, made as needed and removed unless --keep. With
 * --medium ram the files are made on the RAM disk (no --file, no --keep) and vanish with it.
 *
 * This file also holds what `awecache-bench --kv` (bench_kv.c) shares with it: the options both
 * take, their parsing and checks, and the report's JSON and CSV fields (bench.h).
 */
#include "bench.h"
#include "bench_kv.h"
#include "cli.h"
#include "datafile.h"
#include "trace.h"

#include "awecache.h"
#include "plat_proc.h"
#include "plat_ramdisk.h"
#include "plat_sync.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD            NULL
#define BENCH_PATH_LEN 4096
#define SWEEP_MAX      32
#define THREADS_MAX    4096u
#define BATCH_MAX      65536u
#define UNKNOWN        UINT64_MAX /* a counter a side cannot know */
#define REPEAT_MAX     BENCH_REPEAT_MAX
#define DIRECT_WARMUP  10000u /* the direct side's default warm-up: it has no cache to fill */

enum opt_id {
    OPT_FILE = BENCH_OPT_COMMON_END,
    OPT_DIST,
    OPT_DURATION,
    OPT_BATCH,
    OPT_SWEEP,
    OPT_OUT,
    OPT_KV,
    OPT_BTREE,
    OPT_MEDIUM,
    OPT_REPEAT,
};

static const struct cli_opt bench_opts_table[] = {
    {"file", OPT_FILE, "PATH",
     "data file: used if it exists (never overwritten), else created and kept (default: a new "
     "awecache-bench-<random>.dat in $TMPDIR or /var/tmp, removed at the end unless --keep)"},
    {"data-size", BENCH_OPT_DATA_SIZE, "SIZE",
     "size of the data set (default 4G; an existing --file's size when it is given)"},
    {"page-size", BENCH_OPT_PAGE_SIZE, "SIZE",
     "page size, a power of two from 4K to 2M (default 4K; an existing --file's)"},
    {"frames", BENCH_OPT_FRAMES, "SIZE", "RAM budget for cached pages, every side's (default 1G)"},
    {"window", BENCH_OPT_WINDOW, "SIZE", "awecache's window, at most --frames (default 64M)"},
    {"dist", OPT_DIST, "DIST",
     "workload: uniform | zipf[:THETA] | seq | mix[:SCAN_FRACTION] | trace:FILE (default "
     "zipf:0.99; mix: zipf 0.99 with 0.1 of operations from a scan)"},
    {"reads", BENCH_OPT_READS, "R",
     "fraction (0.9) or percent (90%) of operations that are reads "
     "(default 0.9)"},
    {"threads", BENCH_OPT_THREADS, "N", "threads issuing operations (default: the processors)"},
    {"duration", OPT_DURATION, "T", "measure for T: 500ms, 15s, 2m (default 15s)"},
    {"ops", BENCH_OPT_OPS, "N",
     "measure N operations in all (given alone: no time limit; with --duration: whichever "
     "comes first)"},
    {"warmup", BENCH_OPT_WARMUP, "N",
     "operations run before measuring, not counted (default: twice the frames' pages; the "
     "direct side, which has no cache, at most 10000)"},
    {"batch", OPT_BATCH, "N", "operations handed to a side at once (default 1)"},
    {"seed", BENCH_OPT_SEED, "N", "seed of the workload's generators (default 1)"},
    {"compare", BENCH_OPT_COMPARE, NULL,
     "also run the baselines after awecache: mmap, pread-pool and direct"},
    {"medium", OPT_MEDIUM, "M",
     "where the data file lives: disk (default: --file's place or $TMPDIR) or ram (ext4 on a "
     "RAM disk made for the run and gone at its end, whatever the end; needs root and loop "
     "devices, else a note and the disk)"},
    {"repeat", OPT_REPEAT, "N",
     "run every side N times, interleaved (awecache, mmap, pread-pool, direct, awecache, ...); "
     "report each side's median ops/s with min and max (default 1)"},
    {"sweep", OPT_SWEEP, "P=LIST",
     "window=LIST or page=LIST (comma list of sizes): run awecache once per value; baselines "
     "(--compare) once, as reference lines"},
    {"out", OPT_OUT, "PREFIX",
     "sweep outputs PREFIX.csv and PREFIX.png (default awecache-sweep-<param> here)"},
    {"json", BENCH_OPT_JSON, NULL, "print the configuration and results as JSON"},
    {"csv", BENCH_OPT_CSV, NULL, "print the results as CSV (a header row, one row per run)"},
    {"keep", BENCH_OPT_KEEP, NULL, "keep the data files this run creates"},
    {"no-direct", BENCH_OPT_NO_DIRECT, NULL, "awecache uses buffered I/O, not O_DIRECT"},
    {"kv", OPT_KV, NULL,
     "the key-value benchmark instead (awecache vs RocksDB and LMDB): see --kv --help"},
    {"kv-reopen", OPT_KV, NULL,
     "the key-value cache's reopen time against its item count instead (clean, after a crash, "
     "without a checkpoint): see --kv-reopen --help"},
    {"btree", OPT_BTREE, NULL,
     "the B+-tree benchmark instead (awecache's B+-tree vs LMDB and RocksDB): see --btree --help"},
    {NULL, 0, NULL, NULL},
};

enum sweep_param {
    SWEEP_NONE,   /* a plain run */
    SWEEP_WINDOW, /* awecache once per window size */
    SWEEP_PAGE,   /* awecache once per page size, each with its own data file */
};

/* The command line, parsed. */
struct bench_opts {
    struct bench_common c;            /* what --kv takes too */
    const char *file;                 /* --file, or NULL */
    uint64_t *trace;                  /* BENCH_TRACE: the loaded page numbers (free()) */
    uint64_t batch;                   /* >= 1 */
    enum sweep_param sweep;           /* --sweep's parameter */
    uint64_t sweep_values[SWEEP_MAX]; /* --sweep's values, ascending */
    size_t nsweep;                    /* how many */
    const char *out;                  /* --out, or NULL */
    uint64_t repeat;                  /* --repeat: runs of every side, interleaved (>= 1) */
    struct bench_medium m;            /* --medium, and the RAM disk the data lives on */
};

/* One data file the run uses. */
struct data_set {
    char path[BENCH_PATH_LEN]; /* where it is */
    size_t page_size;          /* bytes per page */
    uint64_t pages;            /* pages the run needs (the file may hold more) */
    bool exists;               /* it existed before this run */
    bool created;              /* this run created it */
    bool remove_at_end;        /* created by this run, neither named by --file nor --keep */
};

/* One line of the report: a side (at a sweep value), over its --repeat runs. */
struct run_row {
    uint64_t value;        /* the swept parameter's value for this run; 0: none */
    struct bench_result r; /* the median run's result, ops_per_s and mib_per_s the medians' (the
                            * only run's with --repeat 1); a failed run makes the row failed */
    unsigned runs;         /* runs that made it (--repeat) */
    double ops_min;        /* the lowest ops/s of those runs */
    double ops_max;        /* the highest */
    double ops_each[REPEAT_MAX]; /* every run's ops/s, in the order they ran */
};

/* ---- Shared with --kv (bench.h) -------------------------------------------------------------- */

/* --medium's argument into m->ram_asked. 0, or -1 with a message. */
int bench_parse_medium(const char *arg, struct bench_medium *m)
{
    if (strcmp(arg, "disk") == 0 || strcmp(arg, "ram") == 0) {
        m->ram_asked = arg[0] == 'r';
        return 0;
    }
    cli_error(CMD, "--medium %s: expected disk or ram", arg);
    return -1;
}

/* With --medium ram, makes the RAM disk that files of files_bytes in all will live on: ext4 adds
 * its journal (64 MiB at most below 16 GiB) and its tables, 1/32 more and 96 MiB. Where the RAM
 * disk cannot be had (not root, no loop devices, no mkfs.ext4, not enough RAM for it and the
 * frames), one note says why and that the run uses the disk, and m->note keeps the reason. */
void bench_medium_open(struct bench_medium *m, uint64_t files_bytes, uint64_t frames)
{
    uint64_t bytes = files_bytes + files_bytes / 32 + (96ull << 20), avail = 0;
    char why[256] = "", tmp[BENCH_PATH_LEN], b1[32], b2[32], b3[32];

    m->rd = NULL;
    m->note[0] = '\0';
    snprintf(m->text, sizeof(m->text), "disk");
    if (!m->ram_asked)
        return;
    if (plat_mem_info(NULL, &avail, NULL) == 0 && bytes + frames > avail) {
        snprintf(why, sizeof(why),
                 "a RAM disk of %s and frames of %s need more than the %s of RAM available",
                 cli_fmt_size(bytes, b1, sizeof(b1)), cli_fmt_size(frames, b2, sizeof(b2)),
                 cli_fmt_size(avail, b3, sizeof(b3)));
    } else if (plat_ramdisk_create(bytes, &m->rd, why, sizeof(why)) == 0) {
        snprintf(m->text, sizeof(m->text), "ram (%s)", plat_ramdisk_describe(m->rd));
        return;
    }
    m->rd = NULL;
    if (why[0] == '\0')
        snprintf(why, sizeof(why), "the RAM disk could not be made");
    if (plat_temp_dir(tmp, sizeof(tmp)) != 0)
        snprintf(tmp, sizeof(tmp), "the temporary directory");
    snprintf(m->note, sizeof(m->note), "%s", why);
    snprintf(m->text, sizeof(m->text), "disk (--medium ram: %.160s)", why);
    cli_note(CMD, "--medium ram: %s; this run uses the disk (%s) instead", why, tmp);
}

const char *bench_medium_dir(const struct bench_medium *m)
{
    return m->rd != NULL ? plat_ramdisk_dir(m->rd) : NULL;
}

void bench_medium_json(struct cli_json *j, const struct bench_medium *m)
{
    cli_json_str(j, "medium", m->rd != NULL ? "ram" : "disk");
    cli_json_str(j, "medium_requested", m->ram_asked ? "ram" : "disk");
    cli_json_str(j, "medium_detail",
                 m->rd != NULL ? plat_ramdisk_describe(m->rd) : (m->note[0] ? m->note : NULL));
}

void bench_medium_close(struct bench_medium *m)
{
    if (m->rd != NULL && plat_ramdisk_destroy(m->rd) != 0)
        cli_note(CMD, "the RAM disk is still held by the kernel; it goes when this process ends");
    m->rd = NULL;
}

double bench_median(const double *v, size_t n, double *lo, double *hi, size_t *mid)
{
    double sorted[BENCH_REPEAT_MAX] = {0};

    assert(n >= 1 && n <= BENCH_REPEAT_MAX);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = v[i];
        for (size_t k = i; k > 0 && sorted[k - 1] > sorted[k]; k--) {
            double t = sorted[k];
            sorted[k] = sorted[k - 1];
            sorted[k - 1] = t;
        }
    }
    *lo = sorted[0];
    *hi = sorted[n - 1];
    *mid = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == sorted[(n - 1) / 2])
            *mid = i;
    }
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

bool bench_file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    fclose(f);
    return true;
}

/* A size option's value; -1 with a message when it does not parse. */
static int opt_size(const char *name, const char *arg, uint64_t *out)
{
    if (cli_parse_size(arg, out) != 0) {
        cli_error(CMD, "--%s %s: not a size (examples: 4K, 64M, 1.5G)", name, arg);
        return -1;
    }
    return 0;
}

int bench_opt_count(const char *name, const char *arg, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (cli_parse_count(arg, out) != 0) {
        cli_error(CMD, "--%s %s: not a count (examples: 16, 20000, 5k, 2m)", name, arg);
        return -1;
    }
    if (*out < lo || *out > hi) {
        cli_error(CMD, "--%s %s: must be from %llu to %llu", name, arg, (unsigned long long)lo,
                  (unsigned long long)hi);
        return -1;
    }
    return 0;
}

int bench_parse_dist(const char *s, struct bench_workload *wl, const char **trace_path)
{
    bool all = trace_path != NULL; /* else --kv's forms only */

    wl->theta = 0.99;
    wl->mix_scan = 0.1;
    if (strcmp(s, "uniform") == 0) {
        wl->dist = BENCH_UNIFORM;
    } else if (strncmp(s, "zipf", 4) == 0 && (s[4] == '\0' || s[4] == ':')) {
        wl->dist = BENCH_ZIPF;
        if (s[4] == ':' &&
            (cli_parse_real(s + 5, 0.0, 100.0, &wl->theta) != 0 || !(wl->theta > 0.0))) {
            cli_error(CMD, "--dist %s: THETA must be a number above 0 (zipf:0.99)", s);
            return -1;
        }
    } else if (!all) {
        cli_error(CMD, "--dist %s: expected zipf[:THETA] or uniform with --kv", s);
        return -1;
    } else if (strcmp(s, "seq") == 0) {
        wl->dist = BENCH_SEQ;
    } else if (strncmp(s, "mix", 3) == 0 && (s[3] == '\0' || s[3] == ':')) {
        wl->dist = BENCH_MIX;
        if (s[3] == ':' && cli_parse_real(s + 4, 0.0, 1.0, &wl->mix_scan) != 0) {
            cli_error(CMD, "--dist %s: SCAN_FRACTION must be from 0 to 1 (mix:0.1)", s);
            return -1;
        }
    } else if (strncmp(s, "trace:", 6) == 0 && s[6] != '\0') {
        wl->dist = BENCH_TRACE;
        *trace_path = s + 6;
    } else {
        cli_error(CMD,
                  "--dist %s: expected uniform, zipf[:THETA], seq, mix[:SCAN_FRACTION] or "
                  "trace:FILE",
                  s);
        return -1;
    }
    return 0;
}

void bench_common_init(struct bench_common *c)
{
    memset(c, 0, sizeof(*c));
    c->page_size = 4096;
    c->wl.dist = BENCH_ZIPF;
    c->wl.theta = 0.99;
    c->wl.mix_scan = 0.1;
    c->wl.read_ratio = 0.9;
    c->wl.seed = 1;
    c->threads = plat_cpu_count();
}

int bench_common_option(int id, const char *arg, struct bench_common *c)
{
    switch (id) {
    case BENCH_OPT_DATA_SIZE:
        if (opt_size("data-size", arg, &c->data_size) != 0)
            return -1;
        c->data_size_given = true;
        return 0;
    case BENCH_OPT_PAGE_SIZE:
        if (opt_size("page-size", arg, &c->page_size) != 0)
            return -1;
        c->page_size_given = true;
        return 0;
    case BENCH_OPT_FRAMES:
        return opt_size("frames", arg, &c->frames);
    case BENCH_OPT_WINDOW:
        return opt_size("window", arg, &c->window);
    case BENCH_OPT_READS:
        if (cli_parse_real(arg, 0.0, 1.0, &c->wl.read_ratio) != 0) {
            cli_error(CMD, "--reads %s: expected a fraction from 0 to 1 (0.9) or a percent (90%%)",
                      arg);
            return -1;
        }
        return 0;
    case BENCH_OPT_THREADS:
        return bench_opt_count("threads", arg, 1, THREADS_MAX, &c->threads);
    case BENCH_OPT_OPS:
        return bench_opt_count("ops", arg, 1, UINT64_MAX / 2, &c->ops);
    case BENCH_OPT_WARMUP:
        if (bench_opt_count("warmup", arg, 0, UINT64_MAX / 2, &c->warmup) != 0)
            return -1;
        c->warmup_given = true;
        return 0;
    case BENCH_OPT_SEED:
        return bench_opt_count("seed", arg, 0, UINT64_MAX, &c->wl.seed);
    case BENCH_OPT_COMPARE:
        c->compare = true;
        return 0;
    case BENCH_OPT_JSON:
        c->json = true;
        return 0;
    case BENCH_OPT_CSV:
        c->csv = true;
        return 0;
    case BENCH_OPT_KEEP:
        c->keep = true;
        return 0;
    case BENCH_OPT_NO_DIRECT:
        c->no_direct = true;
        return 0;
    default:
        return 1;
    }
}

int bench_common_end(struct bench_common *c)
{
    if (c->ops != 0 && !c->duration_given)
        c->duration_ns = 0; /* --ops alone: no time limit */
    if (c->json && c->csv) {
        cli_error(CMD, "--json and --csv: give one of them");
        return -1;
    }
    return 0;
}

int bench_parse(struct cli_parser *p, const char *help_cmd, struct bench_common *c,
                int (*own)(int id, const char *arg, void *ctx), void *ctx)
{
    const char *arg;
    int id, rc;

    while ((id = cli_next(p, &arg)) != CLI_NEXT_END) {
        if (id == CLI_NEXT_HELP)
            return CLI_EXIT_OK;
        if (id == CLI_NEXT_ERROR)
            return CLI_EXIT_USAGE;
        if (id == CLI_NEXT_POSITIONAL) {
            cli_error(CMD, "unexpected argument '%s' (see %s)", arg, help_cmd);
            return CLI_EXIT_USAGE;
        }
        rc = own(id, arg, ctx);
        if (rc > 0)
            rc = bench_common_option(id, arg, c);
        if (rc > 0)
            cli_error(CMD, "unexpected option (see %s)", help_cmd);
        if (rc != 0)
            return CLI_EXIT_USAGE;
    }
    return bench_common_end(c) != 0 ? CLI_EXIT_USAGE : -1;
}

int bench_check_ram(uint64_t frames)
{
    uint64_t avail = 0;
    char b1[32], b2[32];

    if (plat_mem_info(NULL, &avail, NULL) == 0 && frames > avail) {
        cli_error(CMD, "--frames %s is more than the %s of RAM available",
                  cli_fmt_size(frames, b1, sizeof(b1)), cli_fmt_size(avail, b2, sizeof(b2)));
        return -1;
    }
    return 0;
}

int bench_check_frames_page(uint64_t frames, uint64_t page)
{
    char b1[32], b2[32];

    if (frames < page) {
        cli_error(CMD, "--frames %s is less than one page (%s)",
                  cli_fmt_size(frames, b1, sizeof(b1)), cli_fmt_size(page, b2, sizeof(b2)));
        return -1;
    }
    return 0;
}

void bench_limit_text(char *buf, size_t len, uint64_t duration_ns, uint64_t ops)
{
    if (duration_ns != 0 && ops != 0)
        snprintf(buf, len, "duration %g s or %llu ops", (double)duration_ns / 1e9,
                 (unsigned long long)ops);
    else if (ops != 0)
        snprintf(buf, len, "%llu ops", (unsigned long long)ops);
    else
        snprintf(buf, len, "duration %g s", (double)duration_ns / 1e9);
}

void bench_json_u64_or_null(struct cli_json *j, const char *key, uint64_t v)
{
    if (v == UNKNOWN)
        cli_json_str(j, key, NULL);
    else
        cli_json_u64(j, key, v);
}

void bench_csv_str(FILE *f, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void bench_csv_u64(FILE *f, uint64_t v)
{
    fputc(',', f);
    if (v != UNKNOWN)
        fprintf(f, "%llu", (unsigned long long)v);
}

void bench_csv_real(FILE *f, double v, int decimals)
{
    fputc(',', f);
    if (isfinite(v))
        fprintf(f, "%.*f", decimals, v);
}

/* ---- Small helpers ------------------------------------------------------------------------- */

/* "uniform", "zipf:0.99", "mix:0.1", "trace:FILE". */
static const char *dist_name(const struct bench_opts *o, char *buf, size_t len)
{
    switch (o->c.wl.dist) {
    case BENCH_UNIFORM:
        snprintf(buf, len, "uniform");
        break;
    case BENCH_ZIPF:
        snprintf(buf, len, "zipf:%g", o->c.wl.theta);
        break;
    case BENCH_SEQ:
        snprintf(buf, len, "seq");
        break;
    case BENCH_MIX:
        snprintf(buf, len, "mix:%g", o->c.wl.mix_scan);
        break;
    case BENCH_TRACE:
        snprintf(buf, len, "trace:%s", o->c.trace_path);
        break;
    }
    return buf;
}

static const char *sweep_name(enum sweep_param s)
{
    return s == SWEEP_PAGE ? "page" : s == SWEEP_WINDOW ? "window" : "none";
}

/* hits / (hits + misses), or NAN when unknown. */
static double hit_ratio(const struct bench_result *r)
{
    if (r->hits == UNKNOWN || r->misses == UNKNOWN || r->hits + r->misses == 0)
        return NAN;
    return (double)r->hits / (double)(r->hits + r->misses);
}

/* awecache's ops/s over the side's, or NAN. */
static double ratio_vs(const struct bench_result *awc, const struct bench_result *r)
{
    if (awc == NULL || !awc->ok || !r->ok || r->ops_per_s <= 0.0)
        return NAN;
    return awc->ops_per_s / r->ops_per_s;
}

/* ---- Step 1: parsing ------------------------------------------------------------------------ */

/* Parses --sweep's argument. Returns 0 or -1 (message printed). */
static int parse_sweep(const char *s, struct bench_opts *o)
{
    const char *list;
    if (strncmp(s, "window=", 7) == 0) {
        o->sweep = SWEEP_WINDOW;
        list = s + 7;
    } else if (strncmp(s, "page=", 5) == 0) {
        o->sweep = SWEEP_PAGE;
        list = s + 5;
    } else {
        cli_error(CMD, "--sweep %s: expected window=LIST or page=LIST (window=1M,4M,16M)", s);
        return -1;
    }
    o->nsweep = 0;
    while (*list != '\0') {
        char item[64];
        size_t n = strcspn(list, ",");
        uint64_t v;
        if (n == 0 || n >= sizeof(item)) {
            cli_error(CMD, "--sweep %s: an empty or overlong value in the list", s);
            return -1;
        }
        memcpy(item, list, n);
        item[n] = '\0';
        if (cli_parse_size(item, &v) != 0 || v == 0) {
            cli_error(CMD, "--sweep %s: '%s' is not a size (512K, 4M, 1G)", s, item);
            return -1;
        }
        if (o->nsweep == SWEEP_MAX) {
            cli_error(CMD, "--sweep %s: more than %d values", s, SWEEP_MAX);
            return -1;
        }
        /* Insert in ascending order, dropping repeats. */
        size_t at = o->nsweep;
        bool repeat = false;
        for (size_t k = 0; k < o->nsweep; k++) {
            if (o->sweep_values[k] == v)
                repeat = true;
        }
        if (!repeat) {
            while (at > 0 && o->sweep_values[at - 1] > v) {
                o->sweep_values[at] = o->sweep_values[at - 1];
                at--;
            }
            o->sweep_values[at] = v;
            o->nsweep++;
        }
        list += n;
        if (*list == ',')
            list++;
    }
    if (o->nsweep == 0) {
        cli_error(CMD, "--sweep %s: no values", s);
        return -1;
    }
    return 0;
}

/* Takes one of bench's own options into the struct bench_opts at ctx (bench_parse's `own`):
 * 0, -1 for a wrong value (message printed), or 1 when id is not one of them. */
static int bench_option(int id, const char *arg, void *ctx)
{
    struct bench_opts *o = ctx;

    switch (id) {
    case OPT_FILE:
        if (arg[0] == '\0') {
            cli_error(CMD, "--file: an empty path");
            return -1;
        }
        o->file = arg;
        return 0;
    case OPT_DIST:
        return bench_parse_dist(arg, &o->c.wl, &o->c.trace_path);
    case OPT_DURATION:
        if (cli_parse_duration(arg, &o->c.duration_ns) != 0) {
            cli_error(CMD, "--duration %s: not a duration (examples: 500ms, 15s, 2m)", arg);
            return -1;
        }
        if (o->c.duration_ns == 0) {
            cli_error(CMD, "--duration %s: must be more than 0", arg);
            return -1;
        }
        o->c.duration_given = true;
        return 0;
    case OPT_BATCH:
        return bench_opt_count("batch", arg, 1, BATCH_MAX, &o->batch);
    case OPT_SWEEP:
        return parse_sweep(arg, o);
    case OPT_OUT:
        if (arg[0] == '\0') {
            cli_error(CMD, "--out: an empty prefix");
            return -1;
        }
        o->out = arg;
        return 0;
    case OPT_MEDIUM:
        return bench_parse_medium(arg, &o->m);
    case OPT_REPEAT:
        return bench_opt_count("repeat", arg, 1, REPEAT_MAX, &o->repeat);
    default:
        return 1;
    }
}

/* Parses argv into *o. Returns -1 to go on, or the exit status (help printed: CLI_EXIT_OK). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    struct cli_parser p;

    memset(o, 0, sizeof(*o));
    bench_common_init(&o->c);
    o->c.data_size = 4ull << 30;
    o->c.frames = 1ull << 30;
    o->c.window = 64ull << 20;
    o->c.duration_ns = 15ull * 1000000000ull;
    o->batch = 1;
    o->repeat = 1;

    cli_parser_init(&p, CMD, "awecache-bench [OPTIONS]",
                    "Measures the awecache engine on a data file under a workload, and with "
                    "--compare the baselines (mmap through the OS page cache, a pread pool, "
                    "O_DIRECT reads) under the same RAM budget. Results on stdout: a table, "
                    "--json or --csv; progress and notes on stderr.",
                    bench_opts_table, argc, argv);
    return bench_parse(&p, "awecache-bench --help", &o->c, bench_option, o);
}

/* ---- Step 2: validation --------------------------------------------------------------------- */

/* Checks a page size. Returns 0 or -1 (message printed). */
static int check_page_size(const char *what, uint64_t page)
{
    char b[32];
    if (!cli_page_size_ok(page)) {
        cli_error(CMD, "%s %s: the page size must be a power of two from 4 KiB to 2 MiB", what,
                  cli_fmt_size(page, b, sizeof(b)));
        return -1;
    }
    return 0;
}

/* Checks window and frames against page (window from one page to frames). 0 or -1. */
static int check_budgets(uint64_t page, uint64_t window, uint64_t frames)
{
    char b1[32], b2[32];
    if (bench_check_frames_page(frames, page) != 0)
        return -1;
    if (window < page) {
        cli_error(CMD, "--window %s is less than one page (%s)",
                  cli_fmt_size(window, b1, sizeof(b1)), cli_fmt_size(page, b2, sizeof(b2)));
        return -1;
    }
    if (window > frames) {
        cli_error(CMD, "--window %s is more than --frames %s; the window must fit the frames",
                  cli_fmt_size(window, b1, sizeof(b1)), cli_fmt_size(frames, b2, sizeof(b2)));
        return -1;
    }
    return 0;
}

/*
 * Looks at data file ds->path: when it exists, it must be an awecache file with pages of
 * `page` bytes (0: any; *page_out gets the file's) holding at least `data_size` bytes of pages
 * (0: any; *pages_out gets the file's pages). Sets ds->exists. Returns -1 to go on, or an exit
 * status (message printed).
 */
static int check_data_file(struct data_set *ds, uint64_t page, uint64_t data_size,
                           uint64_t *page_out, uint64_t *pages_out)
{
    struct awc_file_info info;
    char b1[32], b2[32];
    int rc = awc_get_file_info(ds->path, &info);

    if (rc == AWC_ENOENT) {
        ds->exists = false;
        return -1;
    }
    if (rc == AWC_EBADFILE) {
        cli_error(CMD, "%s is not an awecache data file (never overwritten); give another --file",
                  ds->path);
        return CLI_EXIT_FAIL;
    }
    if (rc != 0) {
        cli_error(CMD, "cannot read %s: %s", ds->path, awc_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    ds->exists = true;
    if (page != 0 && info.page_size != page) {
        cli_error(CMD,
                  "%s has pages of %s, not %s; give another --file, a matching --page-size, or "
                  "make one with `awecache create`",
                  ds->path, cli_fmt_size(info.page_size, b1, sizeof(b1)),
                  cli_fmt_size(page, b2, sizeof(b2)));
        return CLI_EXIT_FAIL;
    }
    if (data_size != 0 && info.pages < (data_size + info.page_size - 1) / info.page_size) {
        cli_error(CMD,
                  "%s holds %s of data, less than the --data-size %s; give another --file or "
                  "make a bigger one with `awecache create`",
                  ds->path, cli_fmt_size(info.pages * info.page_size, b1, sizeof(b1)),
                  cli_fmt_size(data_size, b2, sizeof(b2)));
        return CLI_EXIT_FAIL;
    }
    if (page_out != NULL)
        *page_out = info.page_size;
    if (pages_out != NULL)
        *pages_out = info.pages;
    return -1;
}

/* Makes a new name DIR/awecache-bench-<random>.dat in the RAM disk's directory (--medium ram)
 * or the temporary directory (plat_temp_dir: $TMPDIR or /var/tmp on Linux), none of whose
 * PATH.<page> names exist either for a page sweep. Returns 0 or -1 (message printed). */
static int default_path(char *buf, size_t len, const struct bench_opts *o)
{
    char dir[BENCH_PATH_LEN - 64];
    uint64_t x = plat_clock_ns() ^ ((uint64_t)(uintptr_t)buf << 16);
    size_t dlen;

    if (o->m.rd != NULL) {
        snprintf(dir, sizeof(dir), "%s", plat_ramdisk_dir(o->m.rd));
    } else if (plat_temp_dir(dir, sizeof(dir)) != 0) {
        cli_error(CMD, "no temporary directory (set TMPDIR, or give --file)");
        return -1;
    }
    dlen = strlen(dir);
    for (int tries = 0; tries < 100; tries++) {
        bool taken;
        x = cli_mix64(x);
        if ((size_t)snprintf(buf, len, "%.*s/awecache-bench-%08x.dat", (int)dlen, dir,
                             (unsigned)(x >> 32)) >= len - 16) {
            break;
        }
        taken = bench_file_exists(buf);
        for (size_t k = 0; !taken && o->sweep == SWEEP_PAGE && k < o->nsweep + 1; k++) {
            char alt[BENCH_PATH_LEN];
            uint64_t pg = k < o->nsweep ? o->sweep_values[k] : o->c.page_size;
            snprintf(alt, sizeof(alt), "%s.%llu", buf, (unsigned long long)pg);
            taken = bench_file_exists(alt);
        }
        if (!taken)
            return 0;
    }
    cli_error(CMD, "cannot find a new data file name in %s; give --file", dir);
    return -1;
}

/* ---- Step 4: runs ---------------------------------------------------------------------------- */

/* Runs `side` on cfg into row. Returns true when it worked. */
static bool run_side(const struct bench_side *side, const struct bench_config *cfg,
                     struct run_row *row, uint64_t value)
{
    memset(row, 0, sizeof(*row));
    row->value = value;
    if (bench_run(side, cfg, &row->r) != 0 || !row->r.ok) {
        row->r.ok = false;
        if (row->r.error[0] == '\0')
            snprintf(row->r.error, sizeof(row->r.error), "the run failed");
    }
    if (row->r.side[0] == '\0')
        snprintf(row->r.side, sizeof(row->r.side), "%s", side->name);
    return row->r.ok;
}

/* One run of the list step 4 repeats: a side, on a data set, at a sweep value. */
struct job {
    const struct bench_side *side;
    const struct data_set *ds;
    uint64_t value;  /* the swept value this run reports (0: none) */
    uint64_t window; /* awecache's window */
};

/* Folds the repeats of one job (res[0..n), in the order they ran) into row: the median ops/s
 * (of an even count, the mean of the middle two), the lowest and highest, and the other fields
 * from the run whose ops/s is the median (of an even count, the lower middle one). A failed
 * run makes the row failed with its error. */
static void fold_runs(struct run_row *row, const struct bench_result *res, size_t n, uint64_t value,
                      size_t page_size)
{
    size_t mid = 0;
    double median;

    memset(row, 0, sizeof(*row));
    row->value = value;
    if (n == 0 || n > REPEAT_MAX)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!res[i].ok) {
            row->r = res[i];
            return;
        }
        row->ops_each[i] = res[i].ops_per_s;
    }
    row->runs = (unsigned)n;
    median = bench_median(row->ops_each, n, &row->ops_min, &row->ops_max, &mid);
    row->r = res[mid];
    row->r.ops_per_s = median;
    row->r.mib_per_s = median * (double)page_size / (1024.0 * 1024.0);
}

/* Step 2's medium for nfiles data files of the data set's size: an awecache file holds its
 * pages and their checksums (1/32 of the pages' bytes at 4 KiB pages, less at larger ones): a
 * sixteenth more and 2 MiB cover that and the rounding to whole pages (bench_medium_open adds
 * ext4's share). */
static void open_medium(struct bench_opts *o, size_t nfiles)
{
    bench_medium_open(&o->m, (o->c.data_size + o->c.data_size / 16 + (2ull << 20)) * nfiles,
                      o->c.frames);
}

/* ---- Step 5: reports ------------------------------------------------------------------------- */

/* The configuration as one paragraph (no newline). */
static void config_line(const struct bench_opts *o, const struct data_set *ds, char *buf,
                        size_t len)
{
    char data[32], page[32], frames[32], window[32], dist[BENCH_PATH_LEN + 32], limit[96];
    char sweep[SWEEP_MAX * 16 + 32] = "", rep[64] = "";

    cli_fmt_size(o->c.data_size, data, sizeof(data));
    cli_fmt_size(o->c.page_size, page, sizeof(page));
    cli_fmt_size(o->c.frames, frames, sizeof(frames));
    cli_fmt_size(o->c.window, window, sizeof(window));
    if (o->sweep == SWEEP_PAGE)
        snprintf(page, sizeof(page), "swept");
    if (o->sweep == SWEEP_WINDOW)
        snprintf(window, sizeof(window), "swept");
    dist_name(o, dist, sizeof(dist));
    if (o->sweep != SWEEP_NONE) {
        size_t at = (size_t)snprintf(sweep, sizeof(sweep), "%s", sweep_name(o->sweep));
        for (size_t k = 0; k < o->nsweep && at < sizeof(sweep); k++) {
            char v[32];
            at += (size_t)snprintf(sweep + at, sizeof(sweep) - at, "%s%s", k ? ", " : " ",
                                   cli_fmt_size(o->sweep_values[k], v, sizeof(v)));
        }
    }
    bench_limit_text(limit, sizeof(limit), o->c.duration_ns, o->c.ops);
    if (o->repeat > 1)
        snprintf(rep, sizeof(rep), ", repeat %llu (median, min-max)",
                 (unsigned long long)o->repeat);
    if (snprintf(buf, len,
                 "medium %s; data %s (%s%s), page %s, frames %s, window %s, dist %s, reads %g%%, "
                 "threads %llu, batch %llu, %s%s%s%s",
                 o->m.text, data, ds->path, o->sweep == SWEEP_PAGE ? ", a file per page size" : "",
                 page, frames, window, dist, o->c.wl.read_ratio * 100.0,
                 (unsigned long long)o->c.threads, (unsigned long long)o->batch, limit, rep,
                 sweep[0] ? ", sweep " : "", sweep) < 0)
        buf[0] = '\0';
}

static void print_json(const struct bench_opts *o, const struct data_set *ds,
                       const struct run_row *rows, size_t nrows, const struct bench_result *awc)
{
    struct cli_json j;
    char dist[BENCH_PATH_LEN + 32];

    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_begin_object(&j, "config");
    cli_json_str(&j, "data_file", ds->path);
    cli_json_u64(&j, "data_bytes", o->c.data_size);
    cli_json_u64(&j, "page_size", o->c.page_size);
    cli_json_u64(&j, "pages", (o->c.data_size + o->c.page_size - 1) / o->c.page_size);
    cli_json_u64(&j, "frames", o->c.frames);
    cli_json_u64(&j, "window", o->c.window);
    cli_json_str(&j, "dist", dist_name(o, dist, sizeof(dist)));
    cli_json_real(&j, "reads", o->c.wl.read_ratio);
    cli_json_u64(&j, "threads", o->c.threads);
    cli_json_u64(&j, "batch", o->batch);
    cli_json_real(&j, "duration_s", (double)o->c.duration_ns / 1e9);
    cli_json_u64(&j, "ops", o->c.ops);
    if (o->c.warmup_given)
        cli_json_u64(&j, "warmup_ops", o->c.warmup);
    else
        cli_json_u64(&j, "warmup_ops", 2 * (o->c.frames / o->c.page_size));
    cli_json_u64(&j, "seed", o->c.wl.seed);
    cli_json_bool(&j, "direct", !o->c.no_direct);
    cli_json_bool(&j, "compare", o->c.compare);
    bench_medium_json(&j, &o->m);
    cli_json_u64(&j, "repeat", o->repeat);
    if (o->sweep != SWEEP_NONE) {
        cli_json_begin_object(&j, "sweep");
        cli_json_str(&j, "param", sweep_name(o->sweep));
        cli_json_begin_array(&j, "values");
        for (size_t k = 0; k < o->nsweep; k++)
            cli_json_u64(&j, NULL, o->sweep_values[k]);
        cli_json_end_array(&j);
        cli_json_end_object(&j);
    }
    cli_json_end_object(&j);
    cli_json_begin_array(&j, "results");
    for (size_t i = 0; i < nrows; i++) {
        const struct bench_result *r = &rows[i].r;
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "side", r->side);
        if (o->sweep != SWEEP_NONE) {
            cli_json_str(&j, "param", sweep_name(o->sweep));
            if (rows[i].value != 0)
                cli_json_u64(&j, "value_bytes", rows[i].value);
            else
                cli_json_str(&j, "value_bytes", NULL);
        }
        cli_json_bool(&j, "ok", r->ok);
        cli_json_str(&j, "error", r->ok ? NULL : r->error);
        cli_json_u64(&j, "ops", r->ops);
        bench_json_u64_or_null(&j, "reads", r->reads);
        bench_json_u64_or_null(&j, "writes", r->writes);
        cli_json_real(&j, "seconds", r->seconds);
        cli_json_real(&j, "ops_per_s", r->ops_per_s);
        cli_json_real(&j, "ops_per_s_median", r->ok ? r->ops_per_s : (double)NAN);
        cli_json_real(&j, "ops_per_s_min", r->ok ? rows[i].ops_min : (double)NAN);
        cli_json_real(&j, "ops_per_s_max", r->ok ? rows[i].ops_max : (double)NAN);
        cli_json_begin_array(&j, "ops_per_s_runs");
        for (unsigned k = 0; k < rows[i].runs; k++)
            cli_json_real(&j, NULL, rows[i].ops_each[k]);
        cli_json_end_array(&j);
        cli_json_real(&j, "mib_per_s", r->mib_per_s);
        bench_json_u64_or_null(&j, "hits", r->hits);
        bench_json_u64_or_null(&j, "misses", r->misses);
        cli_json_real(&j, "hit_ratio", hit_ratio(r));
        bench_json_u64_or_null(&j, "window_hits", r->window_hits);
        bench_json_u64_or_null(&j, "frame_hits", r->frame_hits);
        bench_json_u64_or_null(&j, "bytes_read", r->bytes_read);
        bench_json_u64_or_null(&j, "bytes_written", r->bytes_written);
        bench_json_u64_or_null(&j, "mem_bytes", r->mem_bytes);
        cli_json_real(&j, "ratio_vs_awecache",
                      o->sweep == SWEEP_NONE ? ratio_vs(awc, r) : (double)NAN);
        cli_json_str(&j, "note", r->note[0] ? r->note : NULL);
        cli_json_end_object(&j);
    }
    cli_json_end_array(&j);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

/* The --repeat fields of a row: ops_per_s_median, _min, _max, repeat, medium. */
static void csv_repeat_fields(FILE *f, const struct bench_opts *o, const struct run_row *row)
{
    bench_csv_real(f, row->r.ok ? row->r.ops_per_s : (double)NAN, 3);
    bench_csv_real(f, row->r.ok ? row->ops_min : (double)NAN, 3);
    bench_csv_real(f, row->r.ok ? row->ops_max : (double)NAN, 3);
    bench_csv_u64(f, row->runs);
    fputc(',', f);
    fputs(o->m.rd != NULL ? "ram" : "disk", f);
}

/* The plain run's CSV: a header and one row per side. ops_per_s is the median of --repeat's
 * runs (ops_per_s_median says it again, beside _min and _max); repeat counts the runs that
 * made it. */
static void print_csv(FILE *f, const struct bench_opts *o, const struct run_row *rows, size_t nrows,
                      const struct bench_result *awc)
{
    fputs("side,ok,error,ops,reads,writes,seconds,ops_per_s,ops_per_s_median,ops_per_s_min,"
          "ops_per_s_max,repeat,medium,mib_per_s,hits,misses,hit_ratio,window_hits,frame_hits,"
          "bytes_read,bytes_written,mem_bytes,ratio_vs_awecache,note\n",
          f);
    for (size_t i = 0; i < nrows; i++) {
        const struct bench_result *r = &rows[i].r;
        bench_csv_str(f, r->side);
        fputs(r->ok ? ",true," : ",false,", f);
        bench_csv_str(f, r->ok ? NULL : r->error);
        bench_csv_u64(f, r->ops);
        bench_csv_u64(f, r->reads);
        bench_csv_u64(f, r->writes);
        bench_csv_real(f, r->seconds, 6);
        bench_csv_real(f, r->ops_per_s, 3);
        csv_repeat_fields(f, o, &rows[i]);
        bench_csv_real(f, r->mib_per_s, 3);
        bench_csv_u64(f, r->hits);
        bench_csv_u64(f, r->misses);
        bench_csv_real(f, hit_ratio(r), 6);
        bench_csv_u64(f, r->window_hits);
        bench_csv_u64(f, r->frame_hits);
        bench_csv_u64(f, r->bytes_read);
        bench_csv_u64(f, r->bytes_written);
        bench_csv_u64(f, r->mem_bytes);
        bench_csv_real(f, ratio_vs(awc, r), 4);
        fputc(',', f);
        bench_csv_str(f, r->note[0] ? r->note : NULL);
        fputc('\n', f);
    }
}

/* A sweep's CSV: param,value_bytes,side,... one row per run. */
static void print_sweep_csv(FILE *f, const struct bench_opts *o, const struct run_row *rows,
                            size_t nrows)
{
    enum sweep_param sweep = o->sweep;

    fputs("param,value_bytes,side,ops_per_s,mib_per_s,hit_ratio,ops_per_s_median,ops_per_s_min,"
          "ops_per_s_max,repeat,medium,ok,error,ops,reads,writes,seconds,hits,misses,window_hits,"
          "frame_hits,bytes_read,bytes_written,mem_bytes,note\n",
          f);
    for (size_t i = 0; i < nrows; i++) {
        const struct bench_result *r = &rows[i].r;
        fputs(sweep_name(sweep), f);
        fputc(',', f);
        if (rows[i].value != 0)
            fprintf(f, "%llu", (unsigned long long)rows[i].value);
        fputc(',', f);
        bench_csv_str(f, r->side);
        bench_csv_real(f, r->ops_per_s, 3);
        bench_csv_real(f, r->mib_per_s, 3);
        bench_csv_real(f, hit_ratio(r), 6);
        csv_repeat_fields(f, o, &rows[i]);
        fputs(r->ok ? ",true," : ",false,", f);
        bench_csv_str(f, r->ok ? NULL : r->error);
        bench_csv_u64(f, r->ops);
        bench_csv_u64(f, r->reads);
        bench_csv_u64(f, r->writes);
        bench_csv_real(f, r->seconds, 6);
        bench_csv_u64(f, r->hits);
        bench_csv_u64(f, r->misses);
        bench_csv_u64(f, r->window_hits);
        bench_csv_u64(f, r->frame_hits);
        bench_csv_u64(f, r->bytes_read);
        bench_csv_u64(f, r->bytes_written);
        bench_csv_u64(f, r->mem_bytes);
        fputc(',', f);
        bench_csv_str(f, r->note[0] ? r->note : NULL);
        fputc('\n', f);
    }
}

#define CELL_LEN 224 /* one table cell's text */

/* The unit cli_fmt_si wrote: " k", " M"..., or "" for none. */
static const char *si_unit(const char *s)
{
    const char *u = strchr(s, ' ');
    return u != NULL ? u : "";
}

/* "57.8 k (55.1-60.2)": the median as cli_fmt_si writes it, then min-max, without their unit
 * when both have the median's ("57.8 k (995-1.02 k)" where they do not); the median alone for
 * one run. */
void bench_fmt_median(char *buf, size_t len, double med, double lo, double hi, size_t runs)
{
    char median[32], a[32], b[32];

    cli_fmt_si(med, median, sizeof(median));
    if (runs <= 1) {
        snprintf(buf, len, "%s", median);
        return;
    }
    cli_fmt_si(lo, a, sizeof(a));
    cli_fmt_si(hi, b, sizeof(b));
    if (strcmp(si_unit(a), si_unit(median)) == 0 && strcmp(si_unit(b), si_unit(median)) == 0) {
        a[strlen(a) - strlen(si_unit(a))] = '\0';
        b[strlen(b) - strlen(si_unit(b))] = '\0';
    }
    snprintf(buf, len, "%s (%s-%s)", median, a, b);
}

/* The table: side, ops/s, MiB/s, hit ratio, RAM used, vs awecache, notes; a sweep puts its
 * parameter first and leaves out "vs awecache". */
static int print_table(const struct bench_opts *o, const struct run_row *rows, size_t nrows,
                       const struct bench_result *awc)
{
    static const char *const plain_header[] = {"side",     "ops/s",       "MiB/s", "hit ratio",
                                               "RAM used", "vs awecache", "notes"};
    const char *sweep_header[] = {sweep_name(o->sweep), "side",     "ops/s", "MiB/s",
                                  "hit ratio",          "RAM used", "notes"};
    const size_t ncols = 7;
    const char **cells;
    char(*text)[CELL_LEN] = cli_table_alloc(CMD, nrows, ncols, CELL_LEN, &cells);

    if (text == NULL)
        return -1;
    for (size_t i = 0; i < nrows; i++) {
        const struct bench_result *r = &rows[i].r;
        char(*t)[CELL_LEN] = text + i * ncols;
        const char **c = cells + i * ncols;
        size_t k = 0;
        double hr = hit_ratio(r);
        double ratio = ratio_vs(awc, r);

        if (o->sweep != SWEEP_NONE) {
            if (rows[i].value != 0)
                c[k] = cli_fmt_size(rows[i].value, t[k], CELL_LEN);
            k++;
        }
        c[k] = r->side;
        k++;
        if (r->ok) {
            bench_fmt_median(t[k], CELL_LEN, r->ops_per_s, rows[i].ops_min, rows[i].ops_max,
                             (size_t)o->repeat);
            c[k] = t[k];
            k++;
            snprintf(t[k], CELL_LEN, "%.1f", r->mib_per_s);
            c[k] = t[k];
            k++;
            if (isfinite(hr)) {
                snprintf(t[k], CELL_LEN, "%.1f%%", hr * 100.0);
                c[k] = t[k];
            }
            k++;
            if (r->mem_bytes != UNKNOWN)
                c[k] = cli_fmt_size(r->mem_bytes, t[k], CELL_LEN);
            k++;
        } else {
            k += 4;
        }
        if (o->sweep == SWEEP_NONE) {
            if (isfinite(ratio)) {
                snprintf(t[k], CELL_LEN, ratio >= 0.1 ? "%.2fx" : "%.2gx", ratio);
                c[k] = t[k];
            }
            k++;
        }
        if (!r->ok)
            snprintf(t[k], CELL_LEN, "FAILED: %s", r->error);
        else
            snprintf(t[k], CELL_LEN, "%s", r->note);
        c[k] = t[k][0] ? t[k] : "";
    }
    cli_table_print(stdout, ncols, o->sweep == SWEEP_NONE ? plain_header : sweep_header, cells,
                    nrows);
    free(text);
    free(cells);
    return 0;
}

/* Writes s as a gnuplot single-quoted string. */
static void gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        if (*s != '\n')
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* Writes s quoted for the POSIX shell (single quotes). */
static void sh_quote(char *buf, size_t len, const char *s)
{
    size_t at = 0;
    if (len < 3) {
        buf[0] = '\0';
        return;
    }
    buf[at++] = '\'';
    for (; *s && at + 6 < len; s++) {
        if (*s == '\'') {
            memcpy(buf + at, "'\\''", 4);
            at += 4;
        } else {
            buf[at++] = *s;
        }
    }
    buf[at++] = '\'';
    buf[at] = '\0';
}

/* True when `path` starts with the PNG signature. */
static bool is_png(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    bool ok;
    if (f == NULL)
        return false;
    ok = fread(head, 1, sizeof(head), f) == sizeof(head) && memcmp(head, sig, 8) == 0;
    fclose(f);
    return ok;
}

/*
 * Writes PREFIX.gp and runs gnuplot on it to make PREFIX.png: awecache's ops/s against the swept
 * size (log2 x axis; MiB for windows, KiB for pages) with each baseline that ran as a horizontal
 * line. Returns 0, or -1 with the reason in why.
 */
static int plot_sweep(const struct bench_opts *o, const char *prefix, const struct run_row *rows,
                      size_t nrows, char *why, size_t whylen)
{
    char gp[BENCH_PATH_LEN + 8], png[BENCH_PATH_LEN + 8], dist[BENCH_PATH_LEN + 32];
    char title[BENCH_PATH_LEN + 256], b1[32], b2[32], b3[32];
    char cmd[2 * BENCH_PATH_LEN + 64];
    double unit = o->sweep == SWEEP_WINDOW ? 1048576.0 : 1024.0;
    size_t points = 0;
    FILE *f;
    int rc;

    snprintf(gp, sizeof(gp), "%s.gp", prefix);
    snprintf(png, sizeof(png), "%s.png", prefix);
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].value != 0 && rows[i].r.ok && strcmp(rows[i].r.side, "awecache") == 0)
            points++;
    }
    if (points == 0) {
        snprintf(why, whylen, "no awecache run succeeded");
        return -1;
    }
    f = fopen(gp, "w");
    if (f == NULL) {
        snprintf(why, whylen, "cannot write %s", gp);
        return -1;
    }
    if (o->sweep == SWEEP_WINDOW)
        snprintf(title, sizeof(title),
                 "awecache-bench: %s, %g%% reads, %llu threads, batch %llu, data %s, page %s, "
                 "frames %s",
                 dist_name(o, dist, sizeof(dist)), o->c.wl.read_ratio * 100.0,
                 (unsigned long long)o->c.threads, (unsigned long long)o->batch,
                 cli_fmt_size(o->c.data_size, b1, sizeof(b1)),
                 cli_fmt_size(o->c.page_size, b2, sizeof(b2)),
                 cli_fmt_size(o->c.frames, b3, sizeof(b3)));
    else
        snprintf(title, sizeof(title),
                 "awecache-bench: %s, %g%% reads, %llu threads, batch %llu, data %s, frames %s, "
                 "window %s",
                 dist_name(o, dist, sizeof(dist)), o->c.wl.read_ratio * 100.0,
                 (unsigned long long)o->c.threads, (unsigned long long)o->batch,
                 cli_fmt_size(o->c.data_size, b1, sizeof(b1)),
                 cli_fmt_size(o->c.frames, b2, sizeof(b2)),
                 cli_fmt_size(o->c.window, b3, sizeof(b3)));

    fputs("# made by awecache-bench --sweep: awecache's ops/s against the swept size\n", f);
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "    set terminal pngcairo size 1000,600 noenhanced\n"
          "} else {\n"
          "    set terminal png size 1000,600 noenhanced\n"
          "}\n",
          f);
    fputs("set output ", f);
    gp_str(f, png);
    fputs("\nset title ", f);
    gp_str(f, title);
    fprintf(f, "\nset xlabel '%s'\n",
            o->sweep == SWEEP_WINDOW ? "window (MiB)" : "page size (KiB)");
    fputs("set ylabel 'operations per second'\n"
          "set logscale x 2\n"
          "set format x '%g'\n"
          "set yrange [0:*]\n"
          "set grid\n"
          "set key outside right top\n",
          f);
    fputs("set xtics (", f);
    for (size_t k = 0; k < o->nsweep; k++)
        fprintf(f, "%s%.10g", k ? ", " : "", (double)o->sweep_values[k] / unit);
    fputs(")\n", f);
    /* Some room on either side, so that the end tics show. */
    fprintf(f, "set xrange [%.10g:%.10g]\n", (double)o->sweep_values[0] / unit / 1.4,
            (double)o->sweep_values[o->nsweep - 1] / unit * 1.4);
    fputs("plot '-' using 1:2 with linespoints linewidth 2 pointtype 7 title 'awecache'", f);
    for (size_t i = 0; i < nrows; i++) {
        if (strcmp(rows[i].r.side, "awecache") == 0 || !rows[i].r.ok)
            continue;
        fprintf(f, ", %.3f with lines linewidth 2 title ", rows[i].r.ops_per_s);
        gp_str(f, rows[i].r.side);
    }
    fputc('\n', f);
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].value != 0 && rows[i].r.ok && strcmp(rows[i].r.side, "awecache") == 0)
            fprintf(f, "%.10g %.3f\n", (double)rows[i].value / unit, rows[i].r.ops_per_s);
    }
    fputs("e\n", f);
    if (fclose(f) != 0) {
        snprintf(why, whylen, "cannot write %s", gp);
        return -1;
    }

    fflush(NULL);
    if (system("gnuplot --version >/dev/null 2>&1") != 0) {
        snprintf(why, whylen, "gnuplot is not installed (or does not run)");
        return -1;
    }
    remove(png);
    sh_quote(cmd, sizeof(cmd), gp);
    {
        char line[sizeof(cmd) + 64];
        snprintf(line, sizeof(line), "gnuplot %s >/dev/null 2>&1", cmd);
        rc = system(line);
    }
    if (rc != 0 || !is_png(png)) {
        snprintf(why, whylen, "gnuplot failed on %s", gp);
        return -1;
    }
    return 0;
}

/* ---- Step 6: cleanup ------------------------------------------------------------------------- */

static void remove_created(struct data_set *sets, size_t nsets, bool all)
{
    for (size_t i = 0; i < nsets; i++) {
        if (sets[i].created && (all || sets[i].remove_at_end)) {
            remove(sets[i].path);
            sets[i].created = false;
        }
    }
}

/* ---- The command ------------------------------------------------------------------------------
 */

/*
 * awecache-bench [OPTIONS]
 *   1. Parse the options (usage errors: exit 2).
 *   2. Validate: sizes and counts; the data file(s) (existing ones read, never changed); frames
 *      against the RAM to be had; the trace; a sweep's CSV opened. Errors: one line, exit 1 or
 *      2, nothing created.
 *      Then the medium (--medium ram: the RAM disk, or a note and the disk).
 *   3. Notes (data fits in RAM), then create the missing data files.
 *   4. Run awecache (per sweep value), then with --compare mmap, pread-pool and direct; all of
 *      it --repeat times, interleaved.
 *   5. Report (table, --json or --csv; medians, min, max); a sweep writes PREFIX.csv and plots
 *      PREFIX.png.
 *   6. Remove what this run created (unless --keep or named by --file), let go of the RAM disk;
 *      exit 1 if a side failed or the plot could not be made.
 */
int cmd_bench(int argc, char **argv)
{
    static const struct bench_side *const baselines[] = {&bench_side_mmap, &bench_side_pool,
                                                         &bench_side_direct};
    struct bench_opts o;
    struct data_set *sets = NULL;
    size_t nsets = 0;
    struct run_row *rows = NULL;
    size_t nrows = 0;
    FILE *sweep_csv = NULL;
    char csv_path[BENCH_PATH_LEN + 8] = "", prefix[BENCH_PATH_LEN] = "";
    char b1[32], b2[32];
    int status = CLI_EXIT_OK;
    int rc;

    /* Step 1 (--kv or --btree anywhere before "--": the key-value benchmark, bench_kv.c, or the
     * B+-tree one, bench_bt.c) */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--kv") == 0)
            return cmd_bench_kv(argc, argv);
        if (strcmp(argv[i], "--kv-reopen") == 0)
            return cmd_bench_kv_reopen(argc, argv);
        if (strcmp(argv[i], "--btree") == 0)
            return cmd_bench_bt(argc, argv);
    }
    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;

    /* Step 2: checks that need nothing but the command line (--json with --csv: parse_args). */
    if (o.out != NULL && o.sweep == SWEEP_NONE) {
        cli_error(CMD, "--out is for --sweep's outputs; give --sweep too");
        return CLI_EXIT_USAGE;
    }
    if (o.c.page_size_given && check_page_size("--page-size", o.c.page_size) != 0)
        return CLI_EXIT_USAGE;
    if (o.c.data_size_given && o.c.data_size == 0) {
        cli_error(CMD, "--data-size 0: the data set must hold at least one page");
        return CLI_EXIT_USAGE;
    }
    if (o.sweep == SWEEP_PAGE) {
        for (size_t k = 0; k < o.nsweep; k++) {
            if (check_page_size("--sweep page:", o.sweep_values[k]) != 0)
                return CLI_EXIT_USAGE;
        }
    }
    if (bench_check_ram(o.c.frames) != 0)
        return CLI_EXIT_USAGE;
    if (o.m.ram_asked && (o.file != NULL || o.c.keep)) {
        cli_error(CMD,
                  "--medium ram with %s: the RAM disk's data file is made afresh for the run and "
                  "is gone at its end; leave out %s",
                  o.file != NULL ? "--file" : "--keep", o.file != NULL ? "--file" : "--keep");
        return CLI_EXIT_USAGE;
    }

    /* Step 2: the medium (the process has one thread yet, as plat_ramdisk_create needs). */
    open_medium(&o, o.sweep == SWEEP_PAGE ? o.nsweep + (o.c.compare ? 1 : 0) : 1);

    /* Step 2: the data files. */
    sets = calloc(SWEEP_MAX + 1, sizeof(*sets));
    rows = calloc(SWEEP_MAX + 4, sizeof(*rows));
    if (sets == NULL || rows == NULL) {
        cli_error(CMD, "out of memory");
        status = CLI_EXIT_FAIL;
        goto out;
    }
    if (o.sweep != SWEEP_PAGE) {
        struct data_set *ds = &sets[nsets++];
        if (o.file != NULL) {
            uint64_t fpage = 0, fpages = 0;
            snprintf(ds->path, sizeof(ds->path), "%s", o.file);
            rc = check_data_file(ds, o.c.page_size_given ? o.c.page_size : 0,
                                 o.c.data_size_given ? o.c.data_size : 0, &fpage, &fpages);
            if (rc >= 0) {
                status = rc;
                goto out;
            }
            if (ds->exists) {
                o.c.page_size = fpage;
                if (!o.c.data_size_given)
                    o.c.data_size = fpages * fpage;
                if (check_page_size("--file's page size", o.c.page_size) != 0 ||
                    o.c.data_size == 0) {
                    if (o.c.data_size == 0)
                        cli_error(CMD, "%s holds no pages; give another --file", ds->path);
                    status = CLI_EXIT_FAIL;
                    goto out;
                }
            }
        } else if (default_path(ds->path, sizeof(ds->path), &o) != 0) {
            status = CLI_EXIT_FAIL;
            goto out;
        }
        ds->page_size = (size_t)o.c.page_size;
        ds->pages = (o.c.data_size + o.c.page_size - 1) / o.c.page_size;
    } else {
        char base[BENCH_PATH_LEN];
        bool base_in_list = false;
        if (o.file != NULL)
            snprintf(base, sizeof(base), "%s", o.file);
        else if (default_path(base, sizeof(base), &o) != 0) {
            status = CLI_EXIT_FAIL;
            goto out;
        }
        for (size_t k = 0; k < o.nsweep; k++)
            base_in_list |= o.sweep_values[k] == o.c.page_size;
        for (size_t k = 0; k < o.nsweep + 1; k++) {
            uint64_t pg;
            struct data_set *ds;
            if (k == o.nsweep && (!o.c.compare || base_in_list))
                break;
            pg = k < o.nsweep ? o.sweep_values[k] : o.c.page_size;
            ds = &sets[nsets++];
            if ((size_t)snprintf(ds->path, sizeof(ds->path), "%s.%llu", base,
                                 (unsigned long long)pg) >= sizeof(ds->path)) {
                cli_error(CMD, "--file %s: the path is too long", base);
                status = CLI_EXIT_USAGE;
                goto out;
            }
            ds->page_size = (size_t)pg;
            ds->pages = (o.c.data_size + pg - 1) / pg;
            rc = check_data_file(ds, pg, o.c.data_size, NULL, NULL);
            if (rc >= 0) {
                status = rc;
                goto out;
            }
        }
    }

    /* Step 2: budgets against the page size(s). */
    if (o.sweep == SWEEP_WINDOW) {
        for (size_t k = 0; k < o.nsweep; k++) {
            if (check_budgets(o.c.page_size, o.sweep_values[k], o.c.frames) != 0) {
                status = CLI_EXIT_USAGE;
                goto out;
            }
        }
    } else if (o.sweep == SWEEP_PAGE) {
        for (size_t k = 0; k < nsets; k++) {
            if (check_budgets(sets[k].page_size, o.c.window, o.c.frames) != 0) {
                status = CLI_EXIT_USAGE;
                goto out;
            }
        }
    } else if (check_budgets(o.c.page_size, o.c.window, o.c.frames) != 0) {
        status = CLI_EXIT_USAGE;
        goto out;
    }

    /* Step 2: the trace. */
    if (o.c.wl.dist == BENCH_TRACE) {
        char err[256] = "";
        size_t len = 0;
        if (trace_load(o.c.trace_path, &o.trace, &len, err, sizeof(err)) != 0) {
            cli_error(CMD, "--dist: %s", err[0] ? err : "cannot load the trace");
            status = CLI_EXIT_FAIL;
            goto out;
        }
        o.c.wl.trace = o.trace;
        o.c.wl.trace_len = len;
    }

    /* Step 2: the sweep's CSV, opened last so that an error leaves nothing behind. */
    if (o.sweep != SWEEP_NONE) {
        if (o.out != NULL)
            snprintf(prefix, sizeof(prefix), "%s", o.out);
        else
            snprintf(prefix, sizeof(prefix), "awecache-sweep-%s", sweep_name(o.sweep));
        snprintf(csv_path, sizeof(csv_path), "%s.csv", prefix);
        sweep_csv = fopen(csv_path, "w");
        if (sweep_csv == NULL) {
            cli_error(CMD, "cannot write %s (--out %s)", csv_path, prefix);
            status = CLI_EXIT_FAIL;
            goto out;
        }
    }

    /* Step 3 */
    if (o.c.frames >= o.c.data_size)
        cli_note(
            CMD, "the data (%s) fits in the frames (%s): after the warm-up every page is in RAM",
            cli_fmt_size(o.c.data_size, b1, sizeof(b1)), cli_fmt_size(o.c.frames, b2, sizeof(b2)));
    for (size_t i = 0; i < nsets; i++) {
        if (sets[i].exists)
            continue;
        rc = datafile_create(CMD, sets[i].path, o.c.data_size, sets[i].page_size, 0);
        if (rc != CLI_EXIT_OK) {
            remove_created(sets, nsets, true);
            if (sweep_csv != NULL) {
                fclose(sweep_csv);
                sweep_csv = NULL;
                remove(csv_path);
            }
            status = rc;
            goto out;
        }
        sets[i].created = true;
        sets[i].remove_at_end =
            !o.c.keep && (o.sweep == SWEEP_PAGE || o.file == NULL || strcmp(o.file, sets[i].path));
    }

    /* Step 4: the list of runs (jobs), then --repeat rounds of it, interleaved. */
    {
        struct bench_config cfg;
        size_t nruns = o.sweep == SWEEP_NONE ? 1 : o.nsweep;
        size_t njobs = 0;
        struct job *jobs = calloc(SWEEP_MAX + 4, sizeof(*jobs));
        struct bench_result *res =
            calloc((SWEEP_MAX + 4) * (size_t)o.repeat, sizeof(struct bench_result));

        if (jobs == NULL || res == NULL) {
            free(jobs);
            free(res);
            cli_error(CMD, "out of memory");
            status = CLI_EXIT_FAIL;
            goto out;
        }
        memset(&cfg, 0, sizeof(cfg));
        cfg.frame_budget = o.c.frames;
        cfg.threads = (unsigned)o.c.threads;
        cfg.batch = (unsigned)o.batch;
        cfg.duration_ns = o.c.duration_ns;
        cfg.ops = o.c.ops;
        cfg.awc_flags = o.c.no_direct ? AWC_NO_DIRECT : 0;

        for (size_t pass = 0; pass < nruns + (o.c.compare ? 1 : 0); pass++) {
            bool base = pass == nruns; /* the baselines' pass */
            const struct data_set *ds = &sets[0];
            uint64_t value = 0, window = o.c.window;

            if (o.sweep == SWEEP_WINDOW && !base) {
                value = o.sweep_values[pass];
                window = value;
            } else if (o.sweep == SWEEP_PAGE) {
                value = base ? o.c.page_size : o.sweep_values[pass];
                for (size_t i = 0; i < nsets; i++) {
                    if (sets[i].page_size == value)
                        ds = &sets[i];
                }
            }
            if (!base) {
                jobs[njobs++] = (struct job){&bench_side_awecache, ds, value, window};
            } else {
                for (size_t b = 0; b < sizeof(baselines) / sizeof(baselines[0]); b++)
                    jobs[njobs++] =
                        (struct job){baselines[b], ds, o.sweep == SWEEP_PAGE ? value : 0, window};
            }
        }
        for (size_t round = 0; round < o.repeat; round++) {
            if (o.repeat > 1)
                cli_note(CMD, "round %zu of %llu", round + 1, (unsigned long long)o.repeat);
            for (size_t j = 0; j < njobs; j++) {
                struct run_row one;
                cfg.page_size = jobs[j].ds->page_size;
                cfg.window_budget = jobs[j].window;
                cfg.path = jobs[j].ds->path;
                cfg.pages = jobs[j].ds->pages;
                cfg.warmup_ops = o.c.warmup_given ? o.c.warmup : 2 * (o.c.frames / cfg.page_size);
                if (!o.c.warmup_given && jobs[j].side == &bench_side_direct &&
                    cfg.warmup_ops > DIRECT_WARMUP)
                    cfg.warmup_ops = DIRECT_WARMUP;
                cfg.wl = o.c.wl;
                cfg.wl.pages = cfg.pages;
                if (bench_workload_prepare(&cfg.wl) != 0) {
                    memset(&one, 0, sizeof(one));
                    snprintf(one.r.side, sizeof(one.r.side), "%s", jobs[j].side->name);
                    snprintf(one.r.error, sizeof(one.r.error), "out of memory for the workload");
                    status = CLI_EXIT_FAIL;
                } else {
                    if (!run_side(jobs[j].side, &cfg, &one, jobs[j].value))
                        status = CLI_EXIT_FAIL;
                    bench_workload_free(&cfg.wl);
                }
                res[j * o.repeat + round] = one.r;
            }
        }
        for (size_t j = 0; j < njobs; j++)
            fold_runs(&rows[nrows++], &res[j * o.repeat], (size_t)o.repeat, jobs[j].value,
                      jobs[j].ds->page_size);
        free(jobs);
        free(res);
    }

    /* Step 5 */
    {
        const struct bench_result *awc =
            nrows > 0 && strcmp(rows[0].r.side, "awecache") == 0 ? &rows[0].r : NULL;
        if (o.c.json) {
            print_json(&o, &sets[0], rows, nrows, o.sweep == SWEEP_NONE ? awc : NULL);
        } else if (o.c.csv) {
            if (o.sweep == SWEEP_NONE)
                print_csv(stdout, &o, rows, nrows, awc);
            else
                print_sweep_csv(stdout, &o, rows, nrows);
        } else {
            char line[2 * BENCH_PATH_LEN];
            config_line(&o, &sets[0], line, sizeof(line));
            printf("%s\n\n", line);
            if (print_table(&o, rows, nrows, o.sweep == SWEEP_NONE ? awc : NULL) != 0)
                status = CLI_EXIT_FAIL;
        }
        fflush(stdout);
    }
    if (sweep_csv != NULL) {
        char why[BENCH_PATH_LEN + 64];
        print_sweep_csv(sweep_csv, &o, rows, nrows);
        if (fclose(sweep_csv) != 0) {
            sweep_csv = NULL;
            cli_error(CMD, "cannot write %s", csv_path);
            status = CLI_EXIT_FAIL;
        } else {
            sweep_csv = NULL;
            if (plot_sweep(&o, prefix, rows, nrows, why, sizeof(why)) != 0) {
                cli_error(CMD, "the plot %s.png could not be made: %s (the results are in %s)",
                          prefix, why, csv_path);
                status = CLI_EXIT_FAIL;
            } else {
                cli_note(CMD, "wrote %s and %s.png", csv_path, prefix);
            }
        }
    }

    /* Step 6 */
    remove_created(sets, nsets, false);
    for (size_t i = 0; i < nsets; i++) {
        if (sets[i].created)
            cli_note(CMD, "kept the data file %s", sets[i].path);
    }

out:
    bench_medium_close(&o.m);
    free(o.trace);
    free(sets);
    free(rows);
    return status;
}
