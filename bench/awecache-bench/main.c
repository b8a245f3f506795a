/*
 * bench/awecache-bench/main.c: the awecache-bench program: `awecache-bench [OPTIONS]` (the page
 * benchmark, bench.c) and `awecache-bench --kv [OPTIONS]` (the key-value one, bench_kv.c), with
 * the options `awecache bench` took before the benchmarks left the awecache tool. README.md is
 * the manual.
 */
#include "bench.h"
#include "cli.h"

#include <string.h>

#ifndef AWECACHE_VERSION
#define AWECACHE_VERSION "unknown"
#endif

int main(int argc, char **argv)
{
    cli_program = "awecache-bench";
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("awecache-bench %s\n", AWECACHE_VERSION);
        return CLI_EXIT_OK;
    }
    return cmd_bench(argc, argv);
}
