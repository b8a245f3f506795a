/*
 * tools/awecache/info.c: `awecache info [PATH]`: what this machine offers the cache: the AWE
 * capabilities (page and huge page sizes, frame limit, kernel mapping budget), the processors and
 * the memory, what I/O works for files at PATH (O_DIRECT and its alignment, io_uring), and
 * whether a memory cgroup limit (what awecache-bench uses to hold its baselines to a budget)
 * can be had.
 *
 * The I/O probe. For a directory (the default is "."), a uniquely named file is created in it
 * (exclusively, asking for direct I/O), two aligned pages are written to it with one batch (a
 * batch of two goes through io_uring where the platform uses it; one entry alone would not),
 * and the file is closed and removed. For a file, it is opened read-only with direct I/O and its
 * first two aligned pages are read with one batch. O_DIRECT "works" when the platform opened
 * the file with direct I/O and the batch succeeded; io_uring likewise.
 */
#include "awe.h"
#include "cli.h"
#include "plat_io.h"
#include "plat_proc.h"
#include "plat_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_JSON = 1 };

static const struct cli_opt info_opts[] = {
    {"json", OPT_JSON, NULL, "print the facts as one JSON object"},
    {NULL, 0, NULL, NULL},
};

/* What the I/O probe of PATH found. */
struct io_probe {
    bool ran;        /* the probe could open (or create) a file: the fields below are facts */
    bool directory;  /* PATH is a directory (probed with a temporary file) */
    bool direct;     /* O_DIRECT works */
    size_t align;    /* the direct I/O alignment (1 without direct I/O) */
    bool uring;      /* a batch went through io_uring and succeeded */
    char error[256]; /* why the probe did not run, or what failed in it; "" if nothing */
};

/* What the memory cgroup test found. */
struct cgroup_probe {
    bool usable;      /* a limit could be entered and left */
    char reason[256]; /* why not; "" when usable */
};

/* Runs one batch of two aligned pages (a write in a new file, a read of an existing one) and
 * fills in what the file's info and the batch's result say. */
static void probe_batch(struct plat_file *f, bool write, struct io_probe *pr)
{
    struct plat_file_info fi;
    struct plat_io io[2];
    size_t blk;
    void *buf;
    int rc;

    rc = plat_file_get_info(f, &fi);
    if (rc != 0) {
        snprintf(pr->error, sizeof(pr->error), "cannot ask about the file: %s",
                 plat_io_strerror(rc));
        return;
    }
    pr->ran = true;
    pr->align = fi.align;
    blk = fi.align > 4096 ? fi.align : 4096;
    buf = plat_aligned_alloc(blk, 2 * blk);
    if (buf == NULL) {
        snprintf(pr->error, sizeof(pr->error), "out of memory");
        return;
    }
    memset(buf, 0x5a, 2 * blk);
    for (int i = 0; i < 2; i++) {
        io[i].buf = (char *)buf + (size_t)i * blk;
        io[i].len = blk;
        io[i].off = (uint64_t)i * blk;
        io[i].result = 0;
    }
    rc = write ? plat_file_write_batch(f, io, 2) : plat_file_read_batch(f, io, 2);
    plat_aligned_free(buf);
    if (rc != 0) {
        snprintf(pr->error, sizeof(pr->error), "a batch %s failed: %s", write ? "write" : "read",
                 plat_io_strerror(rc));
        return;
    }
    pr->direct = fi.direct;
    pr->uring = fi.uring;
}

/* Probes PATH (see the file comment). Returns 0, or the platform's code when PATH does not
 * exist (the caller reports it); other failures end up in pr->error. */
static int probe_io(const char *path, struct io_probe *pr)
{
    struct plat_file *f = NULL;
    int rc;

    memset(pr, 0, sizeof(*pr));
    pr->align = 1;
    rc = plat_file_open(path, PLAT_FILE_READONLY | PLAT_FILE_DIRECT, &f);
    if (rc == 0) {
        probe_batch(f, false, pr);
        plat_file_close(f);
        return 0;
    }
    if (rc == PLAT_ENOENT)
        return rc;
    if (rc != PLAT_EISDIR) {
        snprintf(pr->error, sizeof(pr->error), "cannot open %s: %s", path, plat_io_strerror(rc));
        return 0;
    }
    pr->directory = true;
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        char name[4096];
        size_t n = strlen(path);
        const char *sep = n > 0 && path[n - 1] == '/' ? "" : "/";

        snprintf(name, sizeof(name), "%s%s.awecache-probe-%016" PRIx64 "-%u", path, sep,
                 plat_clock_ns(), attempt);
        rc = plat_file_open(name, PLAT_FILE_CREATE | PLAT_FILE_EXCL | PLAT_FILE_DIRECT, &f);
        if (rc == PLAT_EEXIST)
            continue;
        if (rc != 0) {
            snprintf(pr->error, sizeof(pr->error), "cannot create a file in %s: %s", path,
                     plat_io_strerror(rc));
            return 0;
        }
        probe_batch(f, true, pr);
        plat_file_close(f);
        remove(name);
        return 0;
    }
    snprintf(pr->error, sizeof(pr->error), "cannot create a file in %s: every name was taken",
             path);
    return 0;
}

/* Enters a memory limit of 1 GiB and leaves it at once. */
static void probe_cgroup(struct cgroup_probe *cg)
{
    struct plat_memlimit *m = NULL;
    int rc;

    memset(cg, 0, sizeof(*cg));
    rc = plat_memlimit_enter(1ull << 30, &m, cg->reason, sizeof(cg->reason));
    if (rc != 0) {
        if (rc != PLAT_ENOTSUP || cg->reason[0] == '\0')
            snprintf(cg->reason, sizeof(cg->reason), "%s", plat_io_strerror(rc));
        return;
    }
    rc = plat_memlimit_leave(m);
    if (rc != 0) {
        snprintf(cg->reason, sizeof(cg->reason), "a limit could be entered but not left again (%s)",
                 plat_io_strerror(rc));
        return;
    }
    cg->usable = true;
    cg->reason[0] = '\0';
}

/* One "key: value" line, the values aligned. */
static void kv(const char *key, const char *value)
{
    char k[64];

    snprintf(k, sizeof(k), "%s:", key);
    printf("%-24s%s\n", k, value);
}

static const char *fmt_size_or(uint64_t v, const char *zero, char *buf, size_t len)
{
    if (v == 0) {
        snprintf(buf, len, "%s", zero);
        return buf;
    }
    return cli_fmt_size(v, buf, len);
}

static void print_human(const struct awe_caps *caps, bool mem_ok, uint64_t ram_total,
                        uint64_t ram_avail, uint64_t lock_limit, const char *path,
                        const struct io_probe *io, const struct cgroup_probe *cg)
{
    char b[512], s[32];

    kv("page size", cli_fmt_size(caps->page_size, b, sizeof(b)));
    kv("allocation granularity", cli_fmt_size(caps->alloc_granularity, b, sizeof(b)));
    kv("huge page size", fmt_size_or(caps->huge_page_size, "none", b, sizeof(b)));
    snprintf(b, sizeof(b), "%" PRIu64, caps->huge_frames_free);
    kv("huge frames free", b);
    snprintf(b, sizeof(b), "%" PRIu64 " frames (%s)", caps->frame_limit,
             cli_fmt_size(caps->frame_limit * caps->page_size, s, sizeof(s)));
    kv("frame limit", b);
    if (caps->vma_budget == 0)
        snprintf(b, sizeof(b), "unlimited");
    else
        snprintf(b, sizeof(b), "%" PRIu64 " mappings", caps->vma_budget);
    kv("VMA budget", b);
    if (caps->max_map_count == 0)
        snprintf(b, sizeof(b), "none");
    else
        snprintf(b, sizeof(b), "%" PRIu64, caps->max_map_count);
    kv("vm.max_map_count", b);
    snprintf(b, sizeof(b), "%u", caps->processor_count);
    kv("processors", b);
    kv("RAM total", mem_ok ? cli_fmt_size(ram_total, b, sizeof(b)) : "unknown");
    kv("RAM available", mem_ok ? cli_fmt_size(ram_avail, b, sizeof(b)) : "unknown");
    kv("locked-memory limit", !mem_ok                    ? "unknown"
                              : lock_limit == UINT64_MAX ? "unlimited"
                                                         : cli_fmt_size(lock_limit, b, sizeof(b)));
    snprintf(b, sizeof(b), "%s (%s)", path, io->directory ? "directory" : "file");
    kv("path", b);
    if (!io->ran)
        snprintf(b, sizeof(b), "unknown (%s)", io->error);
    else if (io->direct)
        snprintf(b, sizeof(b), "yes (alignment %zu bytes)", io->align);
    else if (io->error[0] != '\0')
        snprintf(b, sizeof(b), "no (%s)", io->error);
    else
        snprintf(b, sizeof(b), "no (the file system refuses it: buffered I/O)");
    kv("O_DIRECT", b);
    if (!io->ran)
        snprintf(b, sizeof(b), "unknown (%s)", io->error);
    else if (io->uring)
        snprintf(b, sizeof(b), "yes");
    else if (io->error[0] != '\0')
        snprintf(b, sizeof(b), "no (%s)", io->error);
    else
        snprintf(b, sizeof(b), "no (not built in, or the kernel refuses it: pread/pwrite)");
    kv("io_uring", b);
    if (cg->usable)
        snprintf(b, sizeof(b), "yes");
    else
        snprintf(b, sizeof(b), "no (%s)", cg->reason);
    kv("memory cgroup", b);
}

static void print_json(const struct awe_caps *caps, bool mem_ok, uint64_t ram_total,
                       uint64_t ram_avail, uint64_t lock_limit, const char *path,
                       const struct io_probe *io, const struct cgroup_probe *cg)
{
    struct cli_json j;

    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_u64(&j, "page_size", caps->page_size);
    cli_json_u64(&j, "alloc_granularity", caps->alloc_granularity);
    cli_json_u64(&j, "huge_page_size", caps->huge_page_size);
    cli_json_u64(&j, "huge_frames_free", caps->huge_frames_free);
    cli_json_u64(&j, "frame_limit", caps->frame_limit);
    cli_json_u64(&j, "vma_budget", caps->vma_budget);
    cli_json_u64(&j, "max_map_count", caps->max_map_count);
    cli_json_u64(&j, "processors", caps->processor_count);
    if (mem_ok) {
        cli_json_u64(&j, "ram_total", ram_total);
        cli_json_u64(&j, "ram_available", ram_avail);
    } else {
        cli_json_str(&j, "ram_total", NULL);
        cli_json_str(&j, "ram_available", NULL);
    }
    if (mem_ok && lock_limit != UINT64_MAX)
        cli_json_u64(&j, "locked_memory_limit", lock_limit);
    else
        cli_json_str(&j, "locked_memory_limit", NULL);
    cli_json_str(&j, "path", path);
    cli_json_str(&j, "path_kind", io->directory ? "directory" : "file");
    if (io->ran) {
        cli_json_bool(&j, "o_direct", io->direct);
        cli_json_u64(&j, "direct_align", io->align);
        cli_json_bool(&j, "io_uring", io->uring);
    } else {
        cli_json_str(&j, "o_direct", NULL);
        cli_json_str(&j, "direct_align", NULL);
        cli_json_str(&j, "io_uring", NULL);
    }
    cli_json_str(&j, "io_probe_error", io->error[0] != '\0' ? io->error : NULL);
    cli_json_bool(&j, "memory_cgroup", cg->usable);
    cli_json_str(&j, "memory_cgroup_reason", cg->usable ? NULL : cg->reason);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

/*
 * Steps:
 *   1. Parse the options and the optional PATH (default ".").
 *   2. Gather the facts: awe_get_caps, plat_mem_info (its failure leaves those facts unknown).
 *   3. Probe the I/O at PATH (a PATH that does not exist is an error) and the memory cgroup.
 *   4. Print.
 */
int cmd_info(int argc, char **argv)
{
    struct cli_parser p;
    struct awe_caps caps;
    struct io_probe io;
    struct cgroup_probe cg;
    const char *arg = NULL, *path = NULL;
    uint64_t ram_total = 0, ram_avail = 0, lock_limit = 0;
    bool json = false, mem_ok;
    int id, rc;

    /* Step 1 */
    cli_parser_init(&p, "info", "awecache info [PATH] [OPTIONS]",
                    "Shows what this machine offers awecache: page sizes, frame and mapping "
                    "limits, processors and memory, whether O_DIRECT and io_uring work for files "
                    "at PATH (a directory, probed with a temporary file, or a file; default .), "
                    "and whether a memory cgroup limit can be used.",
                    info_opts, argc, argv);
    while ((id = cli_next(&p, &arg)) != CLI_NEXT_END) {
        switch (id) {
        case CLI_NEXT_HELP:
            return CLI_EXIT_OK;
        case CLI_NEXT_ERROR:
            return CLI_EXIT_USAGE;
        case CLI_NEXT_POSITIONAL:
            if (cli_take_positional(&p, "PATH", &path, arg) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_JSON:
            json = true;
            break;
        default:
            break;
        }
    }
    if (path == NULL)
        path = ".";

    /* Step 2 */
    rc = awe_get_caps(&caps);
    if (rc != 0) {
        cli_error("info", "cannot read the machine's AWE capabilities: %s", awe_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    mem_ok = plat_mem_info(&ram_total, &ram_avail, &lock_limit) == 0;

    /* Step 3 */
    rc = probe_io(path, &io);
    if (rc != 0) {
        cli_error("info", "%s: no such file or directory", path);
        return CLI_EXIT_FAIL;
    }
    probe_cgroup(&cg);

    /* Step 4 */
    if (json)
        print_json(&caps, mem_ok, ram_total, ram_avail, lock_limit, path, &io, &cg);
    else
        print_human(&caps, mem_ok, ram_total, ram_avail, lock_limit, path, &io, &cg);
    return CLI_EXIT_OK;
}
