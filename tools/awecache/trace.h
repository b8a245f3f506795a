/*
 * tools/awecache/trace.h: trace files of page numbers, read by `awecache replay` and by
 * awecache-bench's `--dist trace:FILE` (bench/awecache-bench/). The reader is trace.c; the format
 * is written out there (fuzz/fuzz_trace.c checks the reader against it).
 */
#ifndef AWECACHE_TOOLS_TRACE_H
#define AWECACHE_TOOLS_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* Reads a trace file (one decimal page number per line; blank lines skipped) into a new array in
 * *out (free() it) and its length in *len. Errors, with a one-line message in err: cannot
 * open/read (the OS reason), a line that is not a number (its line number), an empty trace.
 * Returns 0 or -1. (The name keeps the bench_ prefix it had when the benchmarks lived in this
 * folder: fuzz/fuzz_trace.c calls it by that name.) */
int trace_load(const char *path, uint64_t **out, size_t *len, char *err, size_t errlen);

#endif /* AWECACHE_TOOLS_TRACE_H */
