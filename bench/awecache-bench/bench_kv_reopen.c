/*
 * bench/awecache-bench/bench_kv_reopen.c: `awecache-bench --kv-reopen`, the key-value cache's
 * reopen time against the number of items (engine/README.md 9.7): for each count N,
 *
 * 1. a new cache is filled with N items (16-byte keys, 16-byte values) and closed (the close
 *    takes a checkpoint of the index);
 * 2. clean: the reopen loads the checkpoint;
 * 3. after kill -9: the cache reopened, 1 % (then 10 %) of the items put again and flushed, and
 *    the file copied while the cache is still open: the bytes a kill -9 at that moment leaves
 *    (everything flushed, nothing closed). The copy's open loads the checkpoint and scans the log
 *    written after it. (tests/test_kv_crash.c kills real processes.)
 * 4. no checkpoint: the checkpoint's first pages damaged, the reopen scans the whole log.
 *
 * Each open is timed alone (awc_kv_open to its return) and checked: how it built its index
 * (awc_kv_stats.open_index), and 1,000 items read back exactly. Figures are printed, never
 * asserted.
 */
#include "bench_kv.h"
#include "cli.h"
#include "plat_io.h"
#include "plat_sync.h"

#include "awecache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD      "awecache-bench --kv-reopen"
#define R_KEY    16u
#define R_VALUE  16u
#define R_CHECKS 1000u
#define R_CHUNK  256u /* pages: the checkpoint areas' chunks (engine/kv.h) */

struct reopen_opts {
    uint64_t items[8];
    size_t nitems;
    const char *dir;
    uint64_t frame_budget;
    bool keep;
};

struct reopen_row {
    uint64_t n;
    double load_s, close_s, ck_mb;
    double clean_s;
    double crash_s[2], crash_mb[2];
    double scan_s, scan_mb;
};

static double now_s(void)
{
    return (double)plat_clock_ns() / 1e9;
}

static size_t r_key(char *b, uint64_t id)
{
    /* "r" and 15 hex digits (ids below 2^60) */
    snprintf(b, R_KEY + 1, "r%015" PRIx64, id & ((UINT64_C(1) << 60) - 1));
    return R_KEY;
}

static void r_value(uint64_t *v, uint64_t id, uint64_t version)
{
    v[0] = id;
    v[1] = version * UINT64_C(0x9e3779b97f4a7c15) ^ id;
}

static struct awc_kv_config r_config(const struct reopen_opts *o, const char *path,
                                     uint64_t capacity, unsigned flags)
{
    struct awc_kv_config c = {0};

    c.path = path;
    c.capacity = capacity;
    c.frame_budget = o->frame_budget;
    c.flags = flags;
    return c;
}

/* Opens path, timed; the stats into *st. */
static int r_open(const struct reopen_opts *o, const char *path, awc_kv_t **kv, double *secs,
                  struct awc_kv_stats *st)
{
    struct awc_kv_config c = r_config(o, path, 0, 0);
    double t0 = now_s();
    int rc = awc_kv_open(&c, kv);

    *secs = now_s() - t0;
    if (rc == AWC_OK)
        rc = awc_kv_get_stats(*kv, st);
    if (rc != AWC_OK)
        cli_error(CMD, "opening %s: %s", path, awc_strerror(rc));
    return rc;
}

/* Reads R_CHECKS items back (ids spread over n; those below `updated` are at version 2). */
static int r_check(awc_kv_t *kv, uint64_t n, uint64_t updated)
{
    for (uint64_t i = 0; i < R_CHECKS; i++) {
        uint64_t id = i * (n / R_CHECKS), want[2], got[2];
        char key[R_KEY + 1];
        size_t len = 0;
        int rc = awc_kv_get(kv, key, r_key(key, id), got, sizeof(got), &len);

        r_value(want, id, id < updated ? 2 : 1);
        if (rc != AWC_OK || len != sizeof(got) || memcmp(want, got, sizeof(got)) != 0) {
            cli_error(CMD, "item %" PRIu64 " reads back wrong (%s)", id, awc_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static const char *index_name(unsigned i)
{
    return i == AWC_KV_INDEX_CHECKPOINT ? "checkpoint" : i == AWC_KV_INDEX_SCAN ? "scan" : "new";
}

static void r_report(const char *what, double secs, const struct awc_kv_stats *st)
{
    printf("  %-22s %8.3f s  index: %-10s %10" PRIu64 " items loaded, %8.1f MB of log scanned\n",
           what, secs, index_name(st->open_index), st->open_loaded, (double)st->open_scanned / 1e6);
}

/* Copies the file src to dst (the crash image: see the file's comment), then syncs the copy: a
 * killed cache's file has its bytes on the disk (written with O_DIRECT), while a fresh copy's
 * sit dirty in the OS page cache, and the timed open's direct reads would first wait for their
 * write-back (about 1.4 s for 1 GB here, counted as the open's time before this sync). */
static int r_copy(const char *src, const char *dst)
{
    static char buf[1 << 20];
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    struct plat_file *f = NULL;
    size_t n;
    int rc = in != NULL && out != NULL ? 0 : -1;

    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (in != NULL && ferror(in))
        rc = -1;
    if (in != NULL)
        fclose(in);
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    if (rc == 0 && plat_file_open(dst, 0, &f) == 0) {
        rc = plat_file_sync(f) == 0 ? 0 : -1;
        plat_file_close(f);
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc != 0)
        cli_error(CMD, "copying %s to %s failed", src, dst);
    return rc;
}

/* Damages the first page of both checkpoint areas (past `log_pages` pages of log) through the
 * page cache: the pages stay whole, the checkpoints' digests fail. */
static int r_spoil_checkpoints(const char *path, uint64_t log_pages)
{
    struct awc_config c = {path, 4096, 64 * 4096, 16 * 4096, 0};
    struct awc_stats st;
    awc_t *cache = NULL;
    int rc = awc_open(&c, &cache);

    if (rc == AWC_OK)
        rc = awc_get_stats(cache, &st);
    for (uint64_t a = 0; rc == AWC_OK && a < 2; a++) {
        uint64_t page = 2 + log_pages + a * R_CHUNK;
        void *p;

        if (page >= st.pages_in_file)
            continue;
        rc = awc_pin(cache, page, AWC_EXCLUSIVE, &p);
        if (rc == AWC_OK) {
            ((uint8_t *)p)[200] ^= 1;
            rc = awc_unpin(cache, page, 1);
        }
    }
    if (cache != NULL && awc_close(cache) != AWC_OK && rc == AWC_OK)
        rc = AWC_EIO;
    if (rc != AWC_OK)
        cli_error(CMD, "damaging the checkpoints of %s: %s", path, awc_strerror(rc));
    return rc;
}

/* Puts ids [0, n) at `version`. */
static int r_put(awc_kv_t *kv, uint64_t n, uint64_t version)
{
    for (uint64_t id = 0; id < n; id++) {
        char key[R_KEY + 1];
        uint64_t v[2];
        int rc;

        r_value(v, id, version);
        rc = awc_kv_put(kv, key, r_key(key, id), v, sizeof(v), 0);
        if (rc != AWC_OK) {
            cli_error(CMD, "put: %s", awc_strerror(rc));
            return rc;
        }
    }
    return AWC_OK;
}

/* Steps of one count (the file's comment). */
static int r_one(const struct reopen_opts *o, uint64_t n, struct reopen_row *w)
{
    char path[1024], copy[1040];
    uint64_t cap = (n * 80 + n / 4 * 80) / 4096 * 4096 + 64 * 4096;
    struct awc_kv_config c;
    struct awc_kv_stats st;
    awc_kv_t *kv = NULL;
    double t0;
    int rc;

    snprintf(path, sizeof(path), "%s/awecache-reopen-%" PRIu64 ".kv", o->dir, n);
    snprintf(copy, sizeof(copy), "%s.crash", path);
    remove(path);
    w->n = n;
    printf("%" PRIu64 " items (%s, %.0f MB of log capacity):\n", n, path, (double)cap / 1e6);
    fflush(stdout);
    /* Step 1 */
    c = r_config(o, path, cap, AWC_CREATE | AWC_EXCL);
    rc = awc_kv_open(&c, &kv);
    t0 = now_s();
    if (rc == AWC_OK)
        rc = r_put(kv, n, 1);
    w->load_s = now_s() - t0;
    t0 = now_s();
    if (rc == AWC_OK)
        rc = awc_kv_get_stats(kv, &st);
    if (kv != NULL && awc_kv_close(kv) != AWC_OK && rc == AWC_OK)
        rc = AWC_EIO;
    w->close_s = now_s() - t0;
    if (rc != AWC_OK) {
        cli_error(CMD, "filling %s: %s", path, awc_strerror(rc));
        return -1;
    }
    w->ck_mb = (double)(16 * n) / 1e6;
    printf("  %-22s %8.3f s  (%.0f k puts/s); close (checkpoint of %.1f MB) %.3f s\n", "load",
           w->load_s, (double)n / w->load_s / 1e3, w->ck_mb, w->close_s);
    /* Step 2 */
    if (r_open(o, path, &kv, &w->clean_s, &st) != AWC_OK || r_check(kv, n, 0) != 0)
        return -1;
    r_report("clean reopen", w->clean_s, &st);
    /* Step 3: 1 %, then 10 % of the items again */
    for (int k = 0; k < 2; k++) {
        uint64_t again = k == 0 ? n / 100 : n / 10;
        awc_kv_t *crashed = NULL;

        rc = r_put(kv, again, 2);
        if (rc == AWC_OK)
            rc = awc_kv_flush(kv);
        if (rc != AWC_OK || r_copy(path, copy) != 0)
            return -1;
        if (r_open(o, copy, &crashed, &w->crash_s[k], &st) != AWC_OK ||
            r_check(crashed, n, again) != 0)
            return -1;
        w->crash_mb[k] = (double)st.open_scanned / 1e6;
        r_report(k == 0 ? "after kill -9 (1 %)" : "after kill -9 (10 %)", w->crash_s[k], &st);
        (void)awc_kv_close(crashed);
        remove(copy);
    }
    if (awc_kv_close(kv) != AWC_OK)
        return -1;
    /* Step 4 */
    if (r_spoil_checkpoints(path, cap / 4096) != AWC_OK ||
        r_open(o, path, &kv, &w->scan_s, &st) != AWC_OK || r_check(kv, n, n / 10) != 0)
        return -1;
    w->scan_mb = (double)st.open_scanned / 1e6;
    r_report("no checkpoint (scan)", w->scan_s, &st);
    (void)awc_kv_close(kv);
    if (!o->keep)
        remove(path);
    fflush(stdout);
    return 0;
}

static int r_usage(void)
{
    printf("usage: " CMD " [--items N[,N...]] [--dir DIR] [--frame-budget BYTES] [--keep]\n"
           "  --items         item counts (default 1000000,10000000)\n"
           "  --dir           where the files go (default /var/tmp; /dev/shm for RAM)\n"
           "  --frame-budget  RAM for cached pages (default 256 MiB)\n"
           "  --keep          keep the files\n");
    return CLI_EXIT_OK;
}

int cmd_bench_kv_reopen(int argc, char **argv)
{
    struct reopen_opts o = {{1000000, 10000000}, 2, "/var/tmp", (uint64_t)256 << 20, false};
    struct reopen_row rows[8];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--kv-reopen") == 0)
            continue;
        if (strcmp(a, "--help") == 0)
            return r_usage();
        if (strcmp(a, "--keep") == 0) {
            o.keep = true;
        } else if (strcmp(a, "--dir") == 0 && v != NULL) {
            o.dir = v;
            i++;
        } else if (strcmp(a, "--frame-budget") == 0 && v != NULL) {
            o.frame_budget = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--items") == 0 && v != NULL) {
            char *end = NULL;

            o.nitems = 0;
            for (const char *s = v; o.nitems < 8 && *s != '\0'; s = *end == ',' ? end + 1 : end) {
                o.items[o.nitems] = strtoull(s, &end, 10);
                if (end == s || o.items[o.nitems] < R_CHECKS) {
                    cli_error(CMD, "--items %s: counts of at least %u, comma-separated", v,
                              R_CHECKS);
                    return CLI_EXIT_USAGE;
                }
                o.nitems++;
            }
            i++;
        } else {
            cli_error(CMD, "unknown option or missing value: %s (see --help)", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (o.frame_budget < 4096) {
        cli_error(CMD, "--frame-budget: at least a page");
        return CLI_EXIT_USAGE;
    }
    printf(CMD ": %s, frame budget %" PRIu64 " MiB, %u-byte keys, %u-byte values\n", o.dir,
           o.frame_budget >> 20, R_KEY, R_VALUE);
    for (size_t i = 0; i < o.nitems; i++)
        if (r_one(&o, o.items[i], &rows[i]) != 0)
            return CLI_EXIT_FAIL;
    printf("\n| items | load s | close s | clean reopen s | after kill -9: MB scanned, s (1 %%) | "
           "(10 %%) | no checkpoint: MB scanned, s |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < o.nitems; i++) {
        const struct reopen_row *w = &rows[i];

        printf("| %" PRIu64 " | %.2f | %.2f | %.3f | %.1f MB, %.3f | %.1f MB, %.3f | %.0f MB, %.2f "
               "|\n",
               w->n, w->load_s, w->close_s, w->clean_s, w->crash_mb[0], w->crash_s[0],
               w->crash_mb[1], w->crash_s[1], w->scan_mb, w->scan_s);
    }
    return CLI_EXIT_OK;
}
