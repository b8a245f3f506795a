/*
 * tools/awecache/datafile.c: the verifiable page pattern (datafile.h) and datafile_create(),
 * which writes a whole awecache file of patterned pages through the engine.
 *
 * The pattern is cheap to make and to check: one splitmix64 per 64-bit word, no state carried
 * from word to word, so that filling or checking a page costs about what copying it costs.
 * Words are little-endian in the file whatever the host; on a little-endian host (all the
 * machines this runs on) the stores and loads are plain memcpy()s the compiler turns into moves.
 *
 * Creation writes every page exactly once, in batches the size of the engine's window: each
 * batch is pinned exclusively with one awc_pin_batch (the pages lie past the end of the file, so
 * they arrive as zeroed frames, no read), filled, and unpinned dirty; the engine writes them back
 * as its frames fill up, and the final awc_flush writes the rest and makes the file durable.
 */
#include "datafile.h"

#include "awecache.h"
#include "cli.h"
#include "plat_io.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATAFILE_DEFAULT_FRAMES (256ull << 20) /* frame budget when the caller gives none */
#define DATAFILE_MAX_BATCH      1024u          /* pages pinned per batch at most */

/* ---- The pattern ------------------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DATAFILE_LITTLE_ENDIAN 1
#else
#define DATAFILE_LITTLE_ENDIAN 0
#endif

static inline void store_le64(unsigned char *b, uint64_t v)
{
#if DATAFILE_LITTLE_ENDIAN
    memcpy(b, &v, sizeof(v));
#else
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
#endif
}

static inline uint64_t load_le64(const unsigned char *b)
{
#if DATAFILE_LITTLE_ENDIAN
    uint64_t v;
    memcpy(&v, b, sizeof(v));
    return v;
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
#endif
}

void datafile_fill(void *page, size_t page_size, uint64_t p)
{
    unsigned char *b = page;
    size_t n = page_size / 8;
    uint64_t base = p * (uint64_t)n;

    if (n < 2)
        return;
    store_le64(b, DATAFILE_MAGIC ^ p);
    store_le64(b + 8, 0);
    for (size_t i = 2; i < n; i++)
        store_le64(b + 8 * i, cli_mix64(base + i));
}

bool datafile_matches(const void *page, size_t page_size, uint64_t p)
{
    const unsigned char *b = page;
    size_t n = page_size / 8;
    uint64_t base = p * (uint64_t)n;

    if (n < 2 || load_le64(b) != (DATAFILE_MAGIC ^ p))
        return false;
    for (size_t i = 2; i < n; i++)
        if (load_le64(b + 8 * i) != cli_mix64(base + i))
            return false;
    return true;
}

bool datafile_is_zero(const void *page, size_t page_size)
{
    const unsigned char *b = page;
    size_t n = page_size / 8, i = 0;

    /* 64 bytes at a time, then the tail word by word, then any odd bytes. */
    for (; i + 8 <= n; i += 8) {
        uint64_t acc = 0;
        for (size_t k = 0; k < 8; k++)
            acc |= load_le64(b + 8 * (i + k));
        if (acc != 0)
            return false;
    }
    for (; i < n; i++)
        if (load_le64(b + 8 * i) != 0)
            return false;
    for (size_t k = n * 8; k < page_size; k++)
        if (b[k] != 0)
            return false;
    return true;
}

/* ---- Creating a file ------------------------------------------------------------------------ */

/* True when something (a file, a directory, anything) is at `path`. Only "no such file" counts
 * as nothing; a path we cannot look at (permission) counts as something, to be safe. */
static bool path_exists(const char *path)
{
    struct plat_file *f = NULL;
    int rc = plat_file_open(path, PLAT_FILE_READONLY, &f);

    if (rc == 0)
        plat_file_close(f);
    return rc != PLAT_ENOENT;
}

/* Prints the one-line error for a failure after `done_bytes` were written, `err` being the
 * engine's code and `what` the step that failed ("write", "flush", "close"). */
static void report_write_failure(const char *cmd, const char *path, const char *what, int err,
                                 uint64_t done_bytes)
{
    char sz[32];

    cli_fmt_size(done_bytes, sz, sizeof(sz));
    if (err == AWC_ENOSPC)
        cli_error(cmd, "%s: disk full after %s (%s)", path, sz, awc_strerror(err));
    else
        cli_error(cmd, "%s: %s failed after %s (%s)", path, what, sz, awc_strerror(err));
}

/*
 * Steps:
 *   1. Check the arguments and work out the page count and the budgets: frames default to
 *      min(256 MiB, the file), never more than the file, a whole number of pages; the window is
 *      the engine's default (0: engine/README.md 1.1, copying or as large as the frames).
 *   2. Refuse a path where something exists; catch SIGINT and SIGTERM (from here on a signal
 *      only sets a flag, checked between batches); open the cache with AWC_CREATE | AWC_EXCL.
 *   3. Size the batches to the window's slots (the engine may give fewer than asked).
 *   4. For each batch (until a signal): pin exclusively, fill each page with its pattern, unpin
 *      dirty; show progress.
 *   5. Flush and close.
 *   6. On any failure or interruption: close (if still open), remove the file, one line.
 */
int datafile_create(const char *cmd, const char *path, uint64_t size, size_t page_size,
                    uint64_t frame_budget)
{
    struct awc_config cfg;
    struct awc_stats st;
    struct cli_signals sig = {SIG_ERR, SIG_ERR};
    struct cli_progress prog;
    awc_t *cache = NULL;
    uint64_t *pages = NULL, pages_total, file_bytes, done = 0;
    void **ptrs = NULL;
    char done_sz[32];
    size_t batch;
    int rc;

    /* Step 1 */
    if (size == 0) {
        cli_error(cmd, "%s: the size must be more than 0", path);
        return CLI_EXIT_USAGE;
    }
    if (!cli_page_size_ok(page_size)) {
        cli_error(cmd, "%s: page size %zu is not a power of two from 4 KiB to 2 MiB", path,
                  page_size);
        return CLI_EXIT_USAGE;
    }
    pages_total = size / page_size + (size % page_size != 0);
    if (pages_total > (uint64_t)INT64_MAX / 2 / page_size) {
        cli_error(cmd, "%s: the size is too large", path);
        return CLI_EXIT_USAGE;
    }
    file_bytes = pages_total * page_size;
    if (frame_budget == 0)
        frame_budget = DATAFILE_DEFAULT_FRAMES;
    if (frame_budget > file_bytes)
        frame_budget = file_bytes;
    frame_budget -= frame_budget % page_size;
    if (frame_budget < page_size)
        frame_budget = page_size;

    /* Step 2 */
    if (path_exists(path)) {
        cli_error(cmd, "%s: exists; awecache create never overwrites", path);
        return CLI_EXIT_FAIL;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.page_size = page_size;
    cfg.frame_budget = frame_budget;
    cfg.window_budget = 0; /* the engine's default: never a remapping window */
    cfg.flags = AWC_CREATE | AWC_EXCL;
    cli_signals_install(&sig); /* before the file exists: a signal never leaves it behind */
    rc = awc_open(&cfg, &cache);
    if (rc != AWC_OK) {
        cli_signals_restore(&sig);
        if (rc == AWC_EEXIST) {
            cli_error(cmd, "%s: exists; awecache create never overwrites", path);
            return CLI_EXIT_FAIL;
        }
        /* The path was free before the open: whatever is there now the open left behind. */
        if (path_exists(path))
            remove(path);
        if (rc == AWC_ENOENT)
            cli_error(cmd, "%s: cannot create: no such directory", path);
        else
            cli_error(cmd, "%s: cannot create: %s", path, awc_strerror(rc));
        return CLI_EXIT_FAIL;
    }

    /* Step 3 */
    rc = awc_get_stats(cache, &st);
    if (rc != AWC_OK) {
        cli_error(cmd, "%s: %s", path, awc_strerror(rc));
        goto fail;
    }
    batch = DATAFILE_MAX_BATCH;
    if (st.slots < batch)
        batch = (size_t)st.slots;
    if (pages_total < batch)
        batch = (size_t)pages_total;
    if (batch == 0)
        batch = 1;
    pages = malloc(batch * sizeof(*pages));
    ptrs = malloc(batch * sizeof(*ptrs));
    if (pages == NULL || ptrs == NULL) {
        cli_error(cmd, "%s: out of memory", path);
        goto fail;
    }

    /* Step 4 */
    cli_progress_start(&prog, "create", pages_total, "pages");
    while (done < pages_total && !cli_stopping()) {
        size_t n = pages_total - done < batch ? (size_t)(pages_total - done) : batch;

        for (size_t i = 0; i < n; i++)
            pages[i] = done + i;
        rc = awc_pin_batch(cache, pages, n, AWC_EXCLUSIVE, ptrs);
        if (rc != AWC_OK) {
            cli_progress_end(&prog, done);
            report_write_failure(cmd, path, "write", rc, done * page_size);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            datafile_fill(ptrs[i], page_size, pages[i]);
            rc = awc_unpin(cache, pages[i], 1);
            if (rc != AWC_OK) { /* cannot happen: we hold each page exclusively */
                for (size_t k = i + 1; k < n; k++)
                    awc_unpin(cache, pages[k], 0);
                cli_progress_end(&prog, done);
                cli_error(cmd, "%s: unpin failed (%s)", path, awc_strerror(rc));
                goto fail;
            }
        }
        done += n;
        cli_progress_update(&prog, done);
    }
    cli_progress_end(&prog, done);
    if (cli_stopping())
        goto interrupted;

    /* Step 5 */
    rc = awc_flush(cache);
    if (rc != AWC_OK) {
        report_write_failure(cmd, path, "flush", rc, done * page_size);
        goto fail;
    }
    if (cli_stopping())
        goto interrupted;
    rc = awc_close(cache);
    cache = NULL;
    if (rc != AWC_OK) {
        report_write_failure(cmd, path, "close", rc, done * page_size);
        goto fail;
    }
    /* A signal caught during the close, after the last look, is read once the handlers are
     * back (cli.h); a later one meets the caller's handlers. */
    if (cli_signals_restore(&sig))
        goto interrupted;
    free(pages);
    free(ptrs);
    return CLI_EXIT_OK;

interrupted:
    cli_error(cmd, "%s: interrupted after %s; removed the partial file", path,
              cli_fmt_size(done * page_size, done_sz, sizeof(done_sz)));
    /* Step 6 */
fail:
    if (cache != NULL)
        awc_close(cache);
    remove(path);
    cli_signals_restore(&sig);
    free(pages);
    free(ptrs);
    return CLI_EXIT_FAIL;
}
