/*
 * engine/awecache.h: the awecache page cache: a large backing file, cached in a pool of AWE
 * frames, served through a small fixed window of address space.
 *
 * A storage engine pins a page by number and gets a pointer to it, works on it, and unpins it
 * clean or dirty. Three budgets are set at open: the backing file (any size: it grows when pages
 * past its end are written), the frames (RAM: frame_budget / page_size pages are cached), and the
 * window (address space: window_budget / page_size pages are reachable at once). A page must be
 * in the window while pinned; pages move between file, frames and window by themselves, with a
 * CLOCK policy at each level (engine/README.md says exactly how).
 *
 * Conventions: every fallible function returns AWC_OK (0) or a negative error code below, and
 * awc_strerror() describes it. A failed call changes nothing that the caller can observe (a batch
 * pin that fails pins nothing). All functions are thread-safe; many threads may pin and unpin at
 * once. A handle stays valid after awc_close() (calls on it return AWC_ECLOSED) so that a late
 * call is an error, not a crash; the few bytes of a closed handle are not reused (they stay on a
 * list of closed handles, so leak checkers see them as reachable).
 *
 * Integrity: every page written to the file carries an XXH3 checksum; a page that reads back
 * torn or corrupted makes its pin fail with AWC_ECHECKSUM, never returns garbage. awc_flush()
 * (and awc_close()) make every change unpinned before it durable (pages another thread holds
 * exclusively at the time excepted: see awc_flush): after a crash at any later point, such pages
 * read back exactly.
 */
#ifndef AWECACHE_ENGINE_AWECACHE_H
#define AWECACHE_ENGINE_AWECACHE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AWC_API __attribute__((visibility("default")))
#else
#define AWC_API
#endif

/* ---- Errors ------------------------------------------------------------------------------ */

#define AWC_OK      0
#define AWC_EINVAL  (-EINVAL)  /* bad argument or configuration (the message says which) */
#define AWC_ENOMEM  (-ENOMEM)  /* no memory for the engine's tables, frames or window */
#define AWC_EBUSY   (-EBUSY)   /* every frame or slot is pinned; or close with pins held */
#define AWC_EIO     (-EIO)     /* the backing file's I/O failed */
#define AWC_ENOSPC  (-ENOSPC)  /* the backing file's disk is full */
#define AWC_ENOENT  (-ENOENT)  /* no such backing file (and AWC_CREATE not given) */
#define AWC_EEXIST  (-EEXIST)  /* the file exists and AWC_EXCL was given */
#define AWC_EACCES  (-EACCES)  /* permission denied; or a write on a read-only cache */
#define AWC_EDEADLK (-EDEADLK) /* this thread already holds the page exclusively */
#define AWC_EPERM                                                                                  \
    (-EPERM)                   /* the OS gives this process no AWE frames (Windows: the "Lock      \
                                * pages in memory" privilege is not held; the message says         \
                                * how to grant it) */
#define AWC_ECHECKSUM  (-1001) /* a page read back torn or corrupted */
#define AWC_EBADFILE   (-1002) /* not an awecache file, another version, or a corrupt header */
#define AWC_ENOTPINNED (-1003) /* unpin of a page that is not pinned */
#define AWC_ECLOSED    (-1004) /* the cache was closed */
#define AWC_ELOCKED    (-1005) /* another process has the backing file open for writing */

/* A short English description of an AWC_E* (or AWE_E*) code; never NULL. */
AWC_API const char *awc_strerror(int err);

/* ---- Opening and closing ----------------------------------------------------------------- */

#define AWC_CREATE    0x01u /* create the backing file if it does not exist */
#define AWC_EXCL      0x02u /* with AWC_CREATE: fail with AWC_EEXIST if it exists */
#define AWC_READONLY  0x04u /* no writes: exclusive pins and dirty unpins are AWC_EACCES */
#define AWC_NO_DIRECT 0x08u /* buffered I/O even where O_DIRECT would work */
#define AWC_NO_URING  0x10u /* pread/pwrite even where io_uring would work */
/* The frame policy exactly libCacheSim's Clock, for trace replay. Every cache's is today; this
 * flag keeps it so for this cache should the default policy change. */
#define AWC_CLOCK_COMPAT 0x20u

struct awc_config {
    const char *path;       /* the backing file */
    size_t page_size;       /* bytes per page: a power of two from 4096 to 2 MiB */
    uint64_t frame_budget;  /* bytes of RAM for cached pages: at least one page */
    uint64_t window_budget; /* bytes of address space for pinned pages: 1 page to frame_budget */
    unsigned flags;         /* AWC_* above */
};

typedef struct awc awc_t;

/* Opens (or with AWC_CREATE creates) the backing file and sets up the frames and the window.
 * An existing file must have been made by awecache with the same page size. After a crash the
 * file opens as of its last completed flush, plus whatever later writes completed whole.
 * Errors: AWC_EINVAL (config, or a file made with another page size), AWC_ENOENT, AWC_EEXIST,
 * AWC_EACCES, AWC_ELOCKED, AWC_EBADFILE, AWC_ENOMEM (frames or window not to be had), AWC_EPERM
 * (no AWE frames for this process: awc_strerror says how to grant them), AWC_EIO.
 * On error nothing is left open. */
AWC_API int awc_open(const struct awc_config *config, awc_t **cache);

/* Flushes, then releases everything. Pages still pinned: AWC_EBUSY and nothing is closed. If the
 * flush fails the cache is closed all the same and the flush's error is returned (the changes
 * the failed flush could not write are lost, as the error says). */
AWC_API int awc_close(awc_t *cache);

/* ---- Pinning ----------------------------------------------------------------------------- */

#define AWC_SHARED    0 /* read: many shared pins of a page at once */
#define AWC_EXCLUSIVE 1 /* write: no other pin of the page meanwhile */

/* Pins page `page` in `mode` and stores a pointer to its page_size bytes in *ptr, valid until the
 * matching awc_unpin. Waits while another thread holds the page in a conflicting mode. A page past
 * the end of the file reads as zeros (writing it extends the file on write-back).
 * Page numbers run from 0 to the highest page whose file offset fits in 63 bits (2^54 or more
 * pages for 4 KiB pages); beyond it: AWC_EINVAL.
 * Errors: AWC_EINVAL (mode, NULL ptr, page number), AWC_EACCES (exclusive on a read-only cache),
 * AWC_EBUSY (every frame or window slot is pinned), AWC_EDEADLK, AWC_ECHECKSUM, AWC_EIO,
 * AWC_ECLOSED. */
AWC_API int awc_pin(awc_t *cache, uint64_t page, int mode, void **ptr);

/* Releases one pin of `page`. `dirty` nonzero marks the page changed (only for an exclusive pin:
 * AWC_EINVAL otherwise). Errors: AWC_ENOTPINNED, AWC_EINVAL, AWC_ECLOSED. */
AWC_API int awc_unpin(awc_t *cache, uint64_t page, int dirty);

/* Pins pages[0..n) in `mode` and stores their pointers in out[0..n): one map call for all the
 * window changes the batch needs and one batched read for all its misses. Pages must be distinct
 * (AWC_EINVAL) and the batch must fit the window (n <= slots). All or nothing: on error no page
 * of the batch is pinned. Errors: as awc_pin. */
AWC_API int awc_pin_batch(awc_t *cache, const uint64_t *pages, size_t n, int mode, void **out);

/* Reads pages [first, first + count) into frames ahead of use (in batches, without pinning them).
 * Pages already cached are skipped. Errors: as awc_pin, AWC_EINVAL for a count that overflows. */
AWC_API int awc_prefetch(awc_t *cache, uint64_t first, uint64_t count);

/* Writes every dirty page and its checksum and makes them durable (fsync) before it returns.
 * Pages pinned shared are written as they are; a page the calling thread holds exclusively is
 * written as it is now; a page another thread holds exclusively is not waited for (it is being
 * changed: no consistent version of it exists) and is written by a later flush or close once
 * unpinned. Never waits for another thread's pin. Errors: AWC_EIO, AWC_ENOSPC, AWC_ECLOSED. */
AWC_API int awc_flush(awc_t *cache);

/* ---- Information ------------------------------------------------------------------------- */

struct awc_stats {
    uint64_t window_hits;       /* pins served by a page already in the window */
    uint64_t frame_hits;        /* pins of a page in frames but not in the window (window miss) */
    uint64_t misses;            /* pins and prefetches that read the page from the file */
    uint64_t window_evictions;  /* pages taken out of the window (kept in frames) */
    uint64_t frame_evictions;   /* pages dropped from frames */
    uint64_t writebacks;        /* dirty pages written to the file */
    uint64_t map_calls;         /* AWE map calls made */
    uint64_t pages_mapped;      /* pages those calls mapped (pages per call = this / map_calls) */
    uint64_t bytes_read;        /* from the backing file */
    uint64_t bytes_written;     /* to the backing file, checksums and headers included */
    uint64_t checksum_failures; /* pages that read back torn or corrupted */
    uint64_t flushes;           /* completed flushes */
    uint64_t pages_in_file;     /* the file's logical size in pages */
    uint64_t frames;            /* pages the frame pool holds (frame_budget / page_size) */
    uint64_t slots;             /* pages the window holds (after the kernel mapping limit) */
    uint64_t checksum_bytes;    /* RAM held by the checksum table */
    unsigned direct_io;         /* 1 if the file is read and written with O_DIRECT */
    unsigned io_uring;          /* 1 if batches go through io_uring */
};

/* Fills *stats. Errors: AWC_EINVAL (NULL), AWC_ECLOSED. */
AWC_API int awc_get_stats(awc_t *cache, struct awc_stats *stats);

/* ---- Files ------------------------------------------------------------------------------- */

/* What a backing file's header says, read without opening a cache (no lock is taken). The file
 * layout: superblocks, then segments of `segment_pages` pages, each segment a checksum block of
 * `segment_header` bytes followed by its pages; awc_file_page_offset() gives where a page's bytes
 * lie, for tools that read the file by other means (a baseline that maps it, say). */
struct awc_file_info {
    size_t page_size;        /* bytes per page */
    uint64_t pages;          /* the file's logical size in pages (pages_in_file of the stats) */
    uint64_t file_bytes;     /* the file's size in bytes */
    uint64_t data_base;      /* offset of segment 0 */
    uint64_t segment_pages;  /* pages per segment */
    uint64_t segment_header; /* bytes of the checksum block at the start of each segment */
    uint64_t segment_bytes;  /* bytes per segment: segment_header + segment_pages * page_size */
    uint32_t version;        /* the format version */
};

/* Fills *info from the file at `path`. Errors: AWC_EINVAL (NULL), AWC_ENOENT, AWC_EACCES,
 * AWC_EBADFILE (no valid superblock: not an awecache file, or another version), AWC_EIO. */
AWC_API int awc_get_file_info(const char *path, struct awc_file_info *info);

/* The file offset of page `page`'s bytes (under the layout *info describes). */
static inline uint64_t awc_file_page_offset(const struct awc_file_info *info, uint64_t page)
{
    return info->data_base + page / info->segment_pages * info->segment_bytes +
           info->segment_header + page % info->segment_pages * info->page_size;
}

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_ENGINE_AWECACHE_H */
