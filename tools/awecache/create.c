/*
 * tools/awecache/create.c: `awecache create FILE --size S [--page-size P] [--frames S]`: makes a
 * new awecache file of S bytes (rounded up to whole pages), every page holding its verifiable
 * pattern (datafile.h), for `awecache check` to verify and awecache-bench to use. It never
 * overwrites: FILE must not exist. The work itself is datafile_create(); this file parses the
 * command line, checks the numbers, and prints the one-line summary.
 */
#include "cli.h"
#include "datafile.h"
#include "plat_proc.h"
#include "plat_sync.h"

#include <stdio.h>

enum { OPT_SIZE = 1, OPT_PAGE_SIZE, OPT_FRAMES };

static const struct cli_opt create_opts[] = {
    {"size", OPT_SIZE, "SIZE", "bytes of data (rounded up to whole pages): 8M, 1.5G... (required)"},
    {"page-size", OPT_PAGE_SIZE, "SIZE", "bytes per page: a power of two, 4K to 2M (default 4K)"},
    {"frames", OPT_FRAMES, "SIZE", "RAM for the cache while writing (default min(256M, SIZE))"},
    {NULL, 0, NULL, NULL},
};

/* Parses a size option's value into *out; on junk prints the one-line error. */
static bool parse_size_opt(const char *name, const char *arg, uint64_t *out)
{
    if (cli_parse_size(arg, out) != 0) {
        cli_error("create", "--%s: '%s' is not a size (e.g. 64M, 1.5G)", name, arg);
        return false;
    }
    return true;
}

/*
 * Steps:
 *   1. Parse the options and the one FILE.
 *   2. Check the numbers: a size > 0, a page size that is a power of two from 4 KiB to 2 MiB, a
 *      frame budget of at least a page and no more than the RAM available now.
 *   3. Create the file (datafile_create: it refuses an existing FILE, removes its file on any
 *      failure and prints the error) and time it.
 *   4. Print the summary line.
 */
int cmd_create(int argc, char **argv)
{
    struct cli_parser p;
    const char *arg = NULL, *path = NULL;
    uint64_t size = 0, page_size = 4096, frames = 0, avail = 0;
    bool have_size = false;
    int id;

    /* Step 1 */
    cli_parser_init(&p, "create", "awecache create FILE --size SIZE [OPTIONS]",
                    "Creates a new awecache file FILE of SIZE bytes (rounded up to whole pages), "
                    "each page filled with a verifiable pattern that `awecache check` verifies "
                    "and awecache-bench uses. FILE must not exist: create never overwrites. On "
                    "any failure or interruption the partial file is removed.",
                    create_opts, argc, argv);
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
        case OPT_SIZE:
            if (!parse_size_opt("size", arg, &size))
                return CLI_EXIT_USAGE;
            have_size = true;
            break;
        case OPT_PAGE_SIZE:
            if (!parse_size_opt("page-size", arg, &page_size))
                return CLI_EXIT_USAGE;
            break;
        case OPT_FRAMES:
            if (!parse_size_opt("frames", arg, &frames))
                return CLI_EXIT_USAGE;
            if (frames == 0) {
                cli_error("create", "--frames: must be more than 0");
                return CLI_EXIT_USAGE;
            }
            break;
        default:
            break;
        }
    }
    if (path == NULL) {
        cli_error("create", "missing FILE (see awecache create --help)");
        return CLI_EXIT_USAGE;
    }
    if (!have_size) {
        cli_error("create", "missing --size (see awecache create --help)");
        return CLI_EXIT_USAGE;
    }

    /* Step 2 */
    if (size == 0) {
        cli_error("create", "--size: must be more than 0");
        return CLI_EXIT_USAGE;
    }
    if (!cli_page_size_ok(page_size)) {
        cli_error("create", "--page-size: %llu is not a power of two from 4K to 2M",
                  (unsigned long long)page_size);
        return CLI_EXIT_USAGE;
    }
    if (frames != 0 && frames < page_size) {
        cli_error("create", "--frames: less than one page (%llu bytes)",
                  (unsigned long long)page_size);
        return CLI_EXIT_USAGE;
    }
    if (frames != 0 && plat_mem_info(NULL, &avail, NULL) == 0 && frames > avail) {
        char a[32], b[32];
        cli_error("create", "--frames: %s is more than the RAM available now (%s)",
                  cli_fmt_size(frames, a, sizeof(a)), cli_fmt_size(avail, b, sizeof(b)));
        return CLI_EXIT_USAGE;
    }

    /* Step 3 */
    uint64_t t0 = plat_clock_ns();
    int rc = datafile_create("create", path, size, (size_t)page_size, frames);
    if (rc != CLI_EXIT_OK)
        return rc;
    double secs = (double)(plat_clock_ns() - t0) / 1e9;

    /* Step 4 */
    uint64_t pages = size / page_size + (size % page_size != 0);
    uint64_t bytes = pages * page_size;
    char bs[32], ps[32];
    printf("created %s: %llu pages of %s (%s) in %.2f s, %.1f MiB/s\n", path,
           (unsigned long long)pages, cli_fmt_size(page_size, ps, sizeof(ps)),
           cli_fmt_size(bytes, bs, sizeof(bs)), secs,
           secs > 0 ? (double)bytes / (1024.0 * 1024.0) / secs : 0.0);
    return CLI_EXIT_OK;
}
