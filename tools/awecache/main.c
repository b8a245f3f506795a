/*
 * tools/awecache/main.c: the awecache command: `awecache <command> [options]`.
 * Each command lives in its own file (cli.h lists them); README.md is the manual. The
 * benchmarks are a program of their own, awecache-bench (bench/awecache-bench/): `awecache
 * bench` only says so.
 */
#include "cli.h"

#include <string.h>

#ifndef AWECACHE_VERSION
#define AWECACHE_VERSION "unknown"
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"replay", cmd_replay, "replay a trace of page numbers and count hits and misses per tier"},
    {"info", cmd_info, "what this machine offers: pages, mappings, memory, O_DIRECT, io_uring"},
    {"create", cmd_create, "make a data file with verifiable content"},
    {"check", cmd_check, "verify every page's checksum (and content) of a data file"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: awecache <command> [options]   (awecache <command> --help for more)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nThe benchmarks (awecache against mmap, a buffer pool, RocksDB, LMDB) are a "
               "program of their own:\nawecache-bench --help.\n");
    fprintf(f, "\nawecache %s: a page cache on Address Windowing Extensions\n", AWECACHE_VERSION);
}

/* `awecache bench`, the command the benchmarks had before they moved: one line saying where they
 * are now, and the usage error status. */
static int moved_bench(void)
{
    fprintf(stderr, "awecache: the benchmarks are a program of their own now: awecache-bench "
                    "takes the options 'awecache bench' took (try 'awecache-bench --help')\n");
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && strcmp(argv[1], "help") == 0) {
            char help[] = "--help";
            char *sub[] = {argv[2], help, NULL};

            for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[2], commands[i].name) == 0)
                    return commands[i].run(2, sub);
            if (strcmp(argv[2], "bench") == 0)
                return moved_bench();
        }
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("awecache %s\n", AWECACHE_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    if (strcmp(argv[1], "bench") == 0)
        return moved_bench();
    fprintf(stderr, "awecache: unknown command '%s' (try 'awecache --help')\n", argv[1]);
    return CLI_EXIT_USAGE;
}
