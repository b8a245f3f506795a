/*
 * platform/windows/io_windows.h: what io_windows.c (plat_io.h's files, in libawecache) shares
 * with filemap_windows.c (plat_proc.h's file mapping, in awecache_platform_tool): the open file
 * and the sharing every open asks for. Private to platform/.
 */
#ifndef AWECACHE_PLATFORM_IO_WINDOWS_H
#define AWECACHE_PLATFORM_IO_WINDOWS_H

#include "os_windows.h"
#include "plat_sync.h"

#include <stdbool.h>
#include <stddef.h>

/* Every open shares the file for reading, writing and deleting: the write lock, not sharing,
 * keeps writers apart (io_windows.c). */
#define SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

struct io_slot; /* io_windows.c's: the OVERLAPPED structures of one batch in flight */

/* An open file (io_windows.c's header comment draws it). */
struct plat_file {
    HANDLE h;                   /* the file */
    bool readonly;              /* PLAT_FILE_READONLY: no lock, no writes */
    bool direct;                /* FILE_FLAG_NO_BUFFERING is on */
    bool locked;                /* this handle holds the write lock */
    unsigned depth;             /* transfers a batch keeps in flight */
    size_t align;               /* direct ? the sector alignment : 1 */
    plat_mutex_t mu;            /* guards free_slots */
    struct io_slot *free_slots; /* slots no batch is using */
};

#endif /* AWECACHE_PLATFORM_IO_WINDOWS_H */
