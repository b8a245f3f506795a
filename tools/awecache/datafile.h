/*
 * tools/awecache/datafile.h: backing files with verifiable content: what `awecache create`
 * writes, `awecache check` verifies, and awecache-bench uses as its data set.
 *
 * The pattern of page p (page_size bytes, seen as 64-bit little-endian words w[0..n)):
 *   w[0]   = DATAFILE_MAGIC ^ p                  (which page this is)
 *   w[1]   = 0, a free word: the benchmark's writes store it back; never checked
 *   w[i]   = splitmix64(p * n + i) for i >= 2    (the body)
 * A page that was never written reads as zeros in an awecache file; the checker reports those
 * pages separately ("never written"), apart from pattern mismatches.
 */
#ifndef AWECACHE_TOOLS_DATAFILE_H
#define AWECACHE_TOOLS_DATAFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DATAFILE_MAGIC 0x4157435041545431ull /* "AWCPATT1" */

/* Fills page p with its pattern. */
void datafile_fill(void *page, size_t page_size, uint64_t p);
/* True when the page holds p's pattern (word 1 aside). */
bool datafile_matches(const void *page, size_t page_size, uint64_t p);
/* True when every byte of the page is zero. */
bool datafile_is_zero(const void *page, size_t page_size);

/* Creates the awecache file `path` (it must not exist) holding ceil(size / page_size) pages,
 * each filled with its pattern, written through the engine in batches with `frame_budget`
 * bytes of frames (0: a default of 256 MiB or the file, whichever is smaller), then flushed.
 * Shows progress (label "create"). On any failure it prints one line through cli_error(cmd, ...)
 * and removes what it created. Returns a CLI_EXIT_* status. */
int datafile_create(const char *cmd, const char *path, uint64_t size, size_t page_size,
                    uint64_t frame_budget);

#endif /* AWECACHE_TOOLS_DATAFILE_H */
