/*
 * platform/linux/io_linux.h: what io_linux.c (plat_io.h's files, in libawecache) shares with
 * filemap_linux.c (plat_proc.h's file mapping, in awecache_platform_tool): the open file and the
 * table from errno to plat_io.h's codes. Private to platform/.
 */
#ifndef AWECACHE_PLATFORM_IO_LINUX_H
#define AWECACHE_PLATFORM_IO_LINUX_H

#include "plat_sync.h"

#include <stdbool.h>
#include <stddef.h>

struct ring_slot; /* io_linux.c's: one io_uring and the progress of the batch running on it */

/* An open file (io_linux.c's header comment draws it). */
struct plat_file {
    int fd;                       /* the file */
    int lock_fd;                  /* writable: the descriptor holding the lock; else -1 */
    int dir_fd;                   /* parent directory until the first sync after creation; -1 */
    bool readonly;                /* PLAT_FILE_READONLY: no lock, no writes */
    bool direct;                  /* O_DIRECT is set on fd */
    bool uring;                   /* batches use io_uring (the first ring was made at open) */
    bool blkdev;                  /* fd is a block device */
    size_t align;                 /* direct ? the direct I/O alignment : 1 */
    plat_mutex_t mu;              /* guards free_rings and dir_fd */
    struct ring_slot *free_rings; /* rings no batch is using */
};

/* The one table from errno (negative, as the gate returns it) to the codes of plat_io.h. */
int file_err(int neg_errno);

#endif /* AWECACHE_PLATFORM_IO_LINUX_H */
