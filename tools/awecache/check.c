/*
 * tools/awecache/check.c: `awecache check FILE`: reads every page of an awecache file through
 * the engine (read-only, so the checksums are verified as the pages come in) and compares each
 * with its pattern (datafile.h). A page falls in exactly one class:
 *   ok                 it holds its pattern (with --checksums-only: any readable non-zero page)
 *   never written      all zeros: the page lies inside the file but was never written
 *   pattern mismatch   readable, but neither its pattern nor zeros
 *   checksum failure   the engine refused it: it read back torn or corrupted (AWC_ECHECKSUM)
 * A file shorter than its header's page count needs is reported as truncated (its missing pages
 * are checksum failures too). The exit status is 0 only without checksum failures, mismatches
 * and truncation.
 *
 * Pages are read in batches as large as the window (one awc_pin_batch each); a batch in which
 * one page fails its checksum fails as a whole, so its pages are then pinned one at a time to
 * find the bad ones.
 *
 * `awecache check --btree FILE` checks a B+-tree (awecache_bt.h) instead: it opens the tree
 * read-only and runs awc_bt_check (engine/README.md 11.7: every node well formed, keys in order
 * within and across nodes, parent and child bounds, every leaf at one depth, no page reached
 * twice nor free, the key count, every page's checksum), then prints the tree's shape from
 * awc_bt_get_stats. The exit status is 0 only when the check passes.
 */
#include "awecache.h"
#include "awecache_bt.h"
#include "cli.h"
#include "datafile.h"
#include "plat_proc.h"
#include "plat_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_DEFAULT_FRAMES (256ull << 20) /* frame budget when --frames is not given */
#define CHECK_MAX_BATCH      1024u          /* pages pinned per batch at most */
#define CHECK_BAD_LISTED     10u            /* bad page numbers reported */

enum { OPT_FRAMES = 1, OPT_CHECKSUMS_ONLY, OPT_BTREE, OPT_JSON };

static const struct cli_opt check_opts[] = {
    {"frames", OPT_FRAMES, "SIZE", "RAM for the cache while reading (default min(256M, FILE))"},
    {"checksums-only", OPT_CHECKSUMS_ONLY, NULL, "verify checksums only, not the page pattern"},
    {"btree", OPT_BTREE, NULL, "check a B+-tree file's structure (awc_bt_check) instead"},
    {"json", OPT_JSON, NULL, "print the result as one JSON object"},
    {NULL, 0, NULL, NULL},
};

/* What the check found. */
struct check_result {
    uint64_t pages;                      /* pages in the file */
    uint64_t ok;                         /* pages that hold their pattern */
    uint64_t zero;                       /* pages never written (all zeros) */
    uint64_t mismatched;                 /* readable pages with the wrong content */
    uint64_t checksum_failures;          /* pages the engine refused (AWC_ECHECKSUM) */
    uint64_t bad[CHECK_BAD_LISTED];      /* the first bad pages, ascending */
    bool bad_checksum[CHECK_BAD_LISTED]; /* bad[i] failed its checksum (else: a mismatch) */
    size_t nbad;                         /* entries used in bad[] */
    uint64_t missing_bytes;              /* the file is this much shorter than its header says */
    double seconds;                      /* time spent reading and comparing */
};

/* Nothing bad: no checksum failure, no mismatch, not truncated. */
static bool passed(const struct check_result *r)
{
    return r->mismatched + r->checksum_failures == 0 && r->missing_bytes == 0;
}

static void note_bad(struct check_result *r, uint64_t page, bool checksum)
{
    if (r->nbad < CHECK_BAD_LISTED) {
        r->bad[r->nbad] = page;
        r->bad_checksum[r->nbad] = checksum;
        r->nbad++;
    }
}

/* Classifies one readable page. */
static void classify(struct check_result *r, const void *data, size_t page_size, uint64_t page,
                     bool checksums_only)
{
    if (datafile_is_zero(data, page_size)) {
        r->zero++;
    } else if (checksums_only || datafile_matches(data, page_size, page)) {
        r->ok++;
    } else {
        r->mismatched++;
        note_bad(r, page, false);
    }
}

/* Checks pages[0..n) one pin at a time (after their batch failed its checksum). Returns AWC_OK
 * or an error other than a checksum failure. */
static int check_one_by_one(awc_t *cache, struct check_result *r, const uint64_t *pages, size_t n,
                            size_t page_size, bool checksums_only)
{
    for (size_t i = 0; i < n; i++) {
        void *ptr;
        int rc = awc_pin(cache, pages[i], AWC_SHARED, &ptr);

        if (rc == AWC_ECHECKSUM) {
            r->checksum_failures++;
            note_bad(r, pages[i], true);
            continue;
        }
        if (rc != AWC_OK)
            return rc;
        classify(r, ptr, page_size, pages[i], checksums_only);
        awc_unpin(cache, pages[i], 0);
    }
    return AWC_OK;
}

static void print_human(const char *path, const struct check_result *r, size_t page_size)
{
    static const char *const header[] = {
        "pages",   "ok",   "never written", "pattern mismatch", "checksum failures",
        "seconds", "MiB/s"};
    char c[7][32];
    const char *cells[7];
    double mib = (double)r->pages * (double)page_size / (1024.0 * 1024.0);

    snprintf(c[0], sizeof(c[0]), "%" PRIu64, r->pages);
    snprintf(c[1], sizeof(c[1]), "%" PRIu64, r->ok);
    snprintf(c[2], sizeof(c[2]), "%" PRIu64, r->zero);
    snprintf(c[3], sizeof(c[3]), "%" PRIu64, r->mismatched);
    snprintf(c[4], sizeof(c[4]), "%" PRIu64, r->checksum_failures);
    snprintf(c[5], sizeof(c[5]), "%.2f", r->seconds);
    snprintf(c[6], sizeof(c[6]), "%.1f", r->seconds > 0 ? mib / r->seconds : 0.0);
    for (int i = 0; i < 7; i++)
        cells[i] = c[i];
    printf("%s (%zu-byte pages)\n", path, page_size);
    cli_table_print(stdout, 7, header, cells, 1);
    if (r->nbad > 0) {
        uint64_t nbad = r->mismatched + r->checksum_failures;
        printf("bad pages (first %zu of %" PRIu64 "):", r->nbad, nbad);
        for (size_t i = 0; i < r->nbad; i++)
            printf("%s %" PRIu64 " (%s)", i > 0 ? "," : "", r->bad[i],
                   r->bad_checksum[i] ? "checksum failure" : "pattern mismatch");
        printf("\n");
    }
    if (r->zero > 0)
        printf("note: %" PRIu64 " page%s never written (all zeros)\n", r->zero,
               r->zero == 1 ? " was" : "s were");
    if (r->missing_bytes > 0)
        printf("truncated: the file is %" PRIu64 " bytes shorter than its %" PRIu64 " pages need\n",
               r->missing_bytes, r->pages);
    printf("result: %s\n", passed(r) ? "OK" : "BAD");
}

static void print_json(const char *path, const struct check_result *r, size_t page_size)
{
    struct cli_json j;
    double mib = (double)r->pages * (double)page_size / (1024.0 * 1024.0);

    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_str(&j, "file", path);
    cli_json_u64(&j, "page_size", page_size);
    cli_json_u64(&j, "pages", r->pages);
    cli_json_u64(&j, "ok", r->ok);
    cli_json_u64(&j, "zero", r->zero);
    cli_json_u64(&j, "mismatched", r->mismatched);
    cli_json_u64(&j, "checksum_failures", r->checksum_failures);
    cli_json_begin_array(&j, "bad_pages");
    for (size_t i = 0; i < r->nbad; i++)
        cli_json_u64(&j, NULL, r->bad[i]);
    cli_json_end_array(&j);
    cli_json_real(&j, "seconds", r->seconds);
    cli_json_real(&j, "mib_per_s", r->seconds > 0 ? mib / r->seconds : 0.0);
    cli_json_u64(&j, "missing_bytes", r->missing_bytes);
    cli_json_bool(&j, "passed", passed(r));
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

/* --btree: opens the tree read-only, checks it, prints the verdict and the tree's shape. */
static int check_btree(const char *path, const struct awc_file_info *fi, uint64_t frames, bool json)
{
    struct awc_bt_config cfg = {
        .path = path, .page_size = fi->page_size, .frame_budget = frames, .flags = AWC_READONLY};
    struct awc_bt_stats st = {0};
    char msg[256] = "", c[7][32];
    const char *cells[7];
    static const char *const header[] = {"keys",  "height",      "nodes",     "leaves",
                                         "inner", "leaf fill %", "generation"};
    uint64_t t0 = plat_clock_ns();
    awc_bt_t *bt = NULL;
    int rc = awc_bt_open(&cfg, &bt), rc_stats = AWC_EINVAL;

    if (rc == AWC_EBADFILE) {
        cli_error("check", "%s: not a B+-tree (no valid tree meta page, or a malformed node)",
                  path);
        return CLI_EXIT_FAIL;
    }
    if (rc == AWC_ELOCKED) {
        cli_error("check", "%s: another process has it open for writing", path);
        return CLI_EXIT_FAIL;
    }
    if (rc != AWC_OK) {
        cli_error("check", "%s: cannot open the tree: %s", path, awc_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    rc = awc_bt_check(bt, msg, sizeof(msg));
    if (rc == AWC_OK)
        rc_stats = awc_bt_get_stats(bt, &st);
    awc_bt_close(bt);
    if (json) {
        struct cli_json j;

        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "file", path);
        cli_json_u64(&j, "page_size", fi->page_size);
        cli_json_str(&j, "error", rc == AWC_OK ? NULL : awc_err_name(rc));
        cli_json_str(&j, "fault", rc == AWC_OK || msg[0] == '\0' ? NULL : msg);
        if (rc_stats == AWC_OK) {
            cli_json_u64(&j, "keys", st.count);
            cli_json_u64(&j, "height", st.height);
            cli_json_u64(&j, "nodes", st.pages);
            cli_json_u64(&j, "leaves", st.pages_by_level[0]);
            cli_json_u64(&j, "node_bytes", st.node_bytes);
            cli_json_u64(&j, "leaf_fill_pct", st.leaf_fill_pct);
            cli_json_u64(&j, "inner_fill_pct", st.inner_fill_pct);
            cli_json_u64(&j, "free_pages", st.free_pages);
            cli_json_u64(&j, "file_pages", st.file_pages);
            cli_json_u64(&j, "generation", st.generation);
        }
        cli_json_real(&j, "seconds", (double)(plat_clock_ns() - t0) / 1e9);
        cli_json_bool(&j, "passed", rc == AWC_OK);
        cli_json_end_object(&j);
        cli_json_finish(&j);
        return rc == AWC_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    printf("%s (B+-tree, %zu-byte pages)\n", path, fi->page_size);
    if (rc_stats == AWC_OK) {
        snprintf(c[0], sizeof(c[0]), "%" PRIu64, st.count);
        snprintf(c[1], sizeof(c[1]), "%" PRIu32, st.height);
        snprintf(c[2], sizeof(c[2]), "%" PRIu64, st.pages);
        snprintf(c[3], sizeof(c[3]), "%" PRIu64, st.pages_by_level[0]);
        snprintf(c[4], sizeof(c[4]), "%" PRIu64, st.pages - st.pages_by_level[0]);
        snprintf(c[5], sizeof(c[5]), "%" PRIu64, st.leaf_fill_pct);
        snprintf(c[6], sizeof(c[6]), "%" PRIu64, st.generation);
        for (int i = 0; i < 7; i++)
            cells[i] = c[i];
        cli_table_print(stdout, 7, header, cells, 1);
    }
    if (rc == AWC_ECHECKSUM)
        printf("damaged: a tree page failed its checksum%s%s\n", msg[0] ? ": " : "", msg);
    else if (rc != AWC_OK)
        printf("fault (%s): %s\n", awc_err_name(rc), msg[0] ? msg : awc_strerror(rc));
    printf("result: %s\n", rc == AWC_OK ? "OK" : "BAD");
    return rc == AWC_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/*
 * Steps:
 *   1. Parse the options and the one FILE.
 *   2. Read the header (awc_file_info) for the page size and the page count.
 *   3. Work out the budgets: frames min(256 MiB, the file) unless given (a whole number of
 *      pages, at least one, at most the RAM available), the window the engine's default (0); open
 *      the cache read-only.
 *      With --btree, check_btree does the rest.
 *   4. For each batch of up to min(slots, 1024) pages: pin shared; on a checksum failure pin its
 *      pages one by one; classify each readable page; unpin; show progress.
 *   5. Close, print the summary, exit 0 only if nothing was bad.
 */
int cmd_check(int argc, char **argv)
{
    struct cli_parser p;
    struct awc_file_info fi;
    struct awc_config cfg;
    struct awc_stats st;
    struct check_result r;
    struct cli_progress prog;
    const char *arg = NULL, *path = NULL;
    uint64_t frames = 0, avail = 0, *pages = NULL, done = 0;
    void **ptrs = NULL;
    bool checksums_only = false, json = false, btree = false;
    awc_t *cache = NULL;
    size_t batch;
    int id, rc;

    /* Step 1 */
    cli_parser_init(&p, "check", "awecache check FILE [OPTIONS]",
                    "Reads every page of the awecache file FILE (made by `awecache create`), "
                    "verifying its checksum and its pattern, and reports the pages that are ok, "
                    "never written (zeros), mismatched or corrupt. Exits 0 only if no page failed "
                    "its checksum or its pattern. With --btree, FILE is a B+-tree (awc_bt_*): "
                    "its structure and every tree page's checksum are checked instead.",
                    check_opts, argc, argv);
    while ((id = cli_next(&p, &arg)) != CLI_NEXT_END) {
        switch (id) {
        case CLI_NEXT_HELP:
            return CLI_EXIT_OK;
        case CLI_NEXT_ERROR:
            return CLI_EXIT_USAGE;
        case CLI_NEXT_POSITIONAL:
            if (cli_take_positional(&p, "FILE", &path, arg) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_FRAMES:
            if (cli_parse_size(arg, &frames) != 0 || frames == 0) {
                cli_error("check", "--frames: '%s' is not a size above 0 (e.g. 64M, 1G)", arg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_CHECKSUMS_ONLY:
            checksums_only = true;
            break;
        case OPT_BTREE:
            btree = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        default:
            break;
        }
    }
    if (path == NULL) {
        cli_error("check", "missing FILE (see awecache check --help)");
        return CLI_EXIT_USAGE;
    }
    if (btree && checksums_only) {
        cli_error("check", "--btree and --checksums-only do not go together");
        return CLI_EXIT_USAGE;
    }

    /* Step 2 */
    rc = awc_get_file_info(path, &fi);
    if (rc != AWC_OK) {
        if (rc == AWC_EBADFILE)
            cli_error("check", "%s: not an awecache file or its header is corrupt", path);
        else if (rc == AWC_ENOENT)
            cli_error("check", "%s: no such file", path);
        else
            cli_error("check", "%s: %s", path, awc_strerror(rc));
        return CLI_EXIT_FAIL;
    }

    /* Step 3 */
    if (frames != 0 && frames < fi.page_size) {
        cli_error("check", "--frames: less than one page (%zu bytes)", fi.page_size);
        return CLI_EXIT_USAGE;
    }
    if (frames != 0 && plat_mem_info(NULL, &avail, NULL) == 0 && frames > avail) {
        char a[32], b[32];
        cli_error("check", "--frames: %s is more than the RAM available now (%s)",
                  cli_fmt_size(frames, a, sizeof(a)), cli_fmt_size(avail, b, sizeof(b)));
        return CLI_EXIT_USAGE;
    }
    if (frames == 0) {
        frames = CHECK_DEFAULT_FRAMES;
        if (fi.pages < frames / fi.page_size)
            frames = fi.pages * fi.page_size;
    }
    frames -= frames % fi.page_size;
    if (frames < fi.page_size)
        frames = fi.page_size;
    if (btree) /* a tree's call pins up to 2 * height + 3 pages: room for a deep one */
        return check_btree(path, &fi, frames < 64 * fi.page_size ? 64 * fi.page_size : frames,
                           json);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.page_size = fi.page_size;
    cfg.frame_budget = frames;
    cfg.window_budget = 0; /* the engine's default (engine/README.md 1.1) */
    cfg.flags = AWC_READONLY;
    rc = awc_open(&cfg, &cache);
    if (rc != AWC_OK) {
        if (rc == AWC_ELOCKED)
            cli_error("check", "%s: another process has it open for writing", path);
        else
            cli_error("check", "%s: cannot open: %s", path, awc_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    memset(&r, 0, sizeof(r));
    rc = awc_get_stats(cache, &st);
    if (rc != AWC_OK) {
        cli_error("check", "%s: %s", path, awc_strerror(rc));
        goto fail;
    }
    r.pages = st.pages_in_file; /* the header's count, or more after recovering later writes */
    {
        /* The file grows a whole segment at a time: shorter than that is a truncated file. */
        uint64_t segs = (r.pages + fi.segment_pages - 1) / fi.segment_pages;
        uint64_t need = fi.data_base + segs * fi.segment_bytes;

        r.missing_bytes = fi.file_bytes < need ? need - fi.file_bytes : 0;
    }
    batch = CHECK_MAX_BATCH;
    if (st.slots < batch)
        batch = (size_t)st.slots;
    if (batch == 0)
        batch = 1;
    pages = malloc(batch * sizeof(*pages));
    ptrs = malloc(batch * sizeof(*ptrs));
    if (pages == NULL || ptrs == NULL) {
        cli_error("check", "%s: out of memory", path);
        goto fail;
    }

    /* Step 4 */
    uint64_t t0 = plat_clock_ns();
    cli_progress_start(&prog, "check", r.pages, "pages");
    while (done < r.pages) {
        size_t n = r.pages - done < batch ? (size_t)(r.pages - done) : batch;

        for (size_t i = 0; i < n; i++)
            pages[i] = done + i;
        rc = awc_pin_batch(cache, pages, n, AWC_SHARED, ptrs);
        if (rc == AWC_OK) {
            for (size_t i = 0; i < n; i++) {
                classify(&r, ptrs[i], fi.page_size, pages[i], checksums_only);
                awc_unpin(cache, pages[i], 0);
            }
        } else if (rc == AWC_ECHECKSUM) {
            rc = check_one_by_one(cache, &r, pages, n, fi.page_size, checksums_only);
        }
        if (rc != AWC_OK) {
            cli_progress_end(&prog, done);
            cli_error("check", "%s: reading pages %" PRIu64 "..%" PRIu64 " failed: %s", path, done,
                      done + n - 1, awc_strerror(rc));
            goto fail;
        }
        done += n;
        cli_progress_update(&prog, done);
    }
    cli_progress_end(&prog, done);
    r.seconds = (double)(plat_clock_ns() - t0) / 1e9;

    /* Step 5 */
    awc_close(cache);
    free(pages);
    free(ptrs);
    if (json)
        print_json(path, &r, fi.page_size);
    else
        print_human(path, &r, fi.page_size);
    return passed(&r) ? CLI_EXIT_OK : CLI_EXIT_FAIL;

fail:
    awc_close(cache);
    free(pages);
    free(ptrs);
    return CLI_EXIT_FAIL;
}
