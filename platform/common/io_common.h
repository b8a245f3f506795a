/*
 * platform/common/io_common.h: the OS-independent half of plat_io.h, shared by linux/io_linux.c
 * and windows/io_windows.c (private to platform/; not installed).
 *
 * Each OS file keeps what talks to its OS: opening, the write lock, direct I/O, and how a batch's
 * transfers are carried out (io_uring or pread/pwrite on Linux, overlapped ReadFile/WriteFile on
 * Windows). What is the same on every OS lives in common/io_common.c: the checks of a transfer's
 * arguments, the first step of a batch (check every entry), the order in which a batch picks its
 * next entry, and its last step (the lowest failed entry). Nothing here includes an OS header.
 * The error codes and their texts are plat.h's PLAT_ERROR_MAP (plat_strerror: common/errors.c).
 */
#ifndef AWECACHE_PLATFORM_COMMON_IO_COMMON_H
#define AWECACHE_PLATFORM_COMMON_IO_COMMON_H

#include "plat_io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_OP_BYTES                                                                               \
    ((size_t)1 << 30)                        /* one OS read or write moves at most this (io_uring  \
                                              * lengths are 32-bit; a multiple of any alignment) */
#define MIN_DIO_ALIGN  512u                  /* the smallest direct I/O alignment we report */
#define DEF_DIO_ALIGN  4096u                 /* when nothing says better */
#define OFF_LIMIT      ((uint64_t)INT64_MAX) /* off + len may not exceed this (off_t) */
#define RESULT_PENDING 1                     /* plat_io.result while the entry is not finished */
#define NO_ENTRY       SIZE_MAX              /* end of the redo list */

/* Progress of one entry of a running batch; an OS file keeps an array of them, one per entry. */
struct io_prog {
    size_t done; /* bytes of the entry moved so far */
    size_t next; /* next entry on the redo list (NO_ENTRY ends it) */
    size_t run;  /* Linux: entries one vectored transfer started here carries (0 or 1: alone) */
    bool solo;   /* Linux: the entry goes on alone (it was continued or redone) */
};

/* Where a batch stands in choosing its next entry. */
struct io_cursor {
    struct plat_io *ios; /* the batch's entries */
    size_t n;            /* how many */
    size_t cursor;       /* entries below it were started once, or needed no I/O */
    size_t redo;         /* entries to continue (a list through io_prog.next), NO_ENTRY: none */
};

/* Checks one transfer's arguments against the file's alignment `align` (1 without direct I/O):
 * 0, PLAT_EFAULT (buf NULL) or PLAT_EINVAL (off + len beyond OFF_LIMIT, or buf, len or off not
 * a multiple of align). len == 0 is always fine. */
int io_check_args(size_t align, const void *buf, size_t len, uint64_t off);

/* Step 1 of every batch: sets each entry's result to PLAT_EACCES (when `readonly_write`: a write
 * batch on a read-only file), to the error io_check_args finds, to 0 when it needs no I/O
 * (len == 0), or to RESULT_PENDING. Returns how many are pending. ios may be NULL when n == 0. */
size_t io_batch_check(struct plat_io *ios, size_t n, bool readonly_write, size_t align);

/* The next entry to start: a continuation from the redo list first (linked through prog[].next),
 * then the next pending entry from the cursor; NO_ENTRY if none. */
size_t io_next_entry(struct io_cursor *c, const struct io_prog *prog);

/* Whether io_next_entry would return an entry (moves the cursor past finished entries). */
bool io_more_entries(struct io_cursor *c);

/* The last step of every batch: the result of the lowest-indexed entry that failed, or 0. Every
 * entry must be finished (result <= 0). */
int io_batch_result(const struct plat_io *ios, size_t n);

#endif /* AWECACHE_PLATFORM_COMMON_IO_COMMON_H */
