/*
 * tools/awecache/main.c: the awecache command: `awecache <command> [options]`.
 * Each command lives in its own file (cli.h lists them); README.md is the manual.
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
    {"bench", cmd_bench, "run a workload over a data file; --compare, --sweep"},
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
    fprintf(f, "\nawecache %s: a page cache on Address Windowing Extensions\n", AWECACHE_VERSION);
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
    fprintf(stderr, "awecache: unknown command '%s' (try 'awecache --help')\n", argv[1]);
    return CLI_EXIT_USAGE;
}
