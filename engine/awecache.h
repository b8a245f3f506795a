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

/* The error codes, each listed once: XX(name, value, text) is the code AWC_<name> == value (a
 * negated errno value, or one of the library's own from -1001 down; AWC_OK is 0) and text is what
 * awc_strerror() says. The values never change (they are ABI). The comment above each entry says
 * when it happens. Any X-macro of three arguments walks the list. */
#define AWC_ERROR_MAP(XX)                                                                          \
    XX(OK, 0, "success")                                                                           \
    /* bad argument or configuration (the call's documentation says which) */                      \
    XX(EINVAL, -EINVAL, "invalid argument or configuration")                                       \
    /* no memory for the engine's tables, frames or window */                                      \
    XX(ENOMEM, -ENOMEM, "not enough memory, frames or address space")                              \
    /* every frame or slot is pinned; or a close with pins or references held */                   \
    XX(EBUSY, -EBUSY, "every frame or window slot is pinned (or pages are pinned at close)")       \
    /* the backing file's I/O failed */                                                            \
    XX(EIO, -EIO, "I/O error on the backing file")                                                 \
    /* the backing file's disk is full */                                                          \
    XX(ENOSPC, -ENOSPC, "no space left for the backing file")                                      \
    /* no such backing file (and AWC_CREATE not given) */                                          \
    XX(ENOENT, -ENOENT, "no such backing file")                                                    \
    /* the file exists and AWC_EXCL was given */                                                   \
    XX(EEXIST, -EEXIST, "the backing file already exists")                                         \
    /* permission denied; or a write on a read-only cache */                                       \
    XX(EACCES, -EACCES, "permission denied (or a write on a read-only cache)")                     \
    /* this thread already holds the page exclusively (or holds key-value references) */           \
    XX(EDEADLK, -EDEADLK, "this thread already holds the page exclusively")                        \
    /* no AWE frames for this process (Windows: "Lock pages in memory"; the text says how) */      \
    XX(EPERM, -EPERM,                                                                              \
       "AWE frames are not available to this process: the \"Lock pages in memory\" privilege "     \
       "(SeLockMemoryPrivilege) is not held; grant it with secpol.msc > Local Policies > User "    \
       "Rights Assignment > Lock pages in memory, then log off and on again (or the system "       \
       "implements AWE only as stubs, as Wine does)")                                              \
    /* a page read back torn or corrupted */                                                       \
    XX(ECHECKSUM, -1001, "the page read back torn or corrupted (checksum mismatch)")               \
    /* not an awecache file, another version, or a corrupt header */                               \
    XX(EBADFILE, -1002, "not an awecache file, another format version, or a corrupt header")       \
    /* unpin of a page that is not pinned */                                                       \
    XX(ENOTPINNED, -1003, "the page is not pinned")                                                \
    /* the cache was closed */                                                                     \
    XX(ECLOSED, -1004, "the cache is closed")                                                      \
    /* another process has the backing file open for writing (its write lock) */                   \
    XX(ELOCKED, -1005, "another process has the backing file open for writing")                    \
    /* key-value cache: a key, value or item over its limit */                                     \
    XX(E2BIG, -E2BIG,                                                                              \
       "key, value or item over its size limit (key 4 KiB, value 64 MiB, item the capacity; a "    \
       "reference: the window)")                                                                   \
    /* key-value cache: no such key (or it expired) */                                             \
    XX(ENOTFOUND, -1006, "no such key (or it expired)")                                            \
    /* key-value cache: the caller's buffer is too small */                                        \
    XX(ERANGE, -ERANGE, "the buffer is too small for the value (its size is returned)")            \
    /* the page lies past the largest file the file system, or the process's limit, allows */      \
    XX(EFBIG, -EFBIG,                                                                              \
       "the page lies past the largest file the backing file's file system (or the process's "     \
       "file size limit) allows")

/* The codes: AWC_OK, AWC_EINVAL, AWC_ENOMEM, AWC_EBUSY, AWC_EIO, AWC_ENOSPC, AWC_ENOENT,
 * AWC_EEXIST, AWC_EACCES, AWC_EDEADLK, AWC_EPERM, AWC_ECHECKSUM, AWC_EBADFILE, AWC_ENOTPINNED,
 * AWC_ECLOSED, AWC_ELOCKED, AWC_E2BIG, AWC_ENOTFOUND, AWC_ERANGE, AWC_EFBIG. */
enum awc_error {
#define AWC_ERROR_ENUM_(name, value, text) AWC_##name = (value),
    AWC_ERROR_MAP(AWC_ERROR_ENUM_)
#undef AWC_ERROR_ENUM_
};

/* A short English description of an AWC_E* (or AWE_E*) code, or "unknown error"; never NULL. */
AWC_API const char *awc_strerror(int err);

/* The name of an AWC_E* (or AWE_E*) code ("AWC_EBUSY"), or "unknown" for any other value; never
 * NULL. */
AWC_API const char *awc_err_name(int err);

/* ---- Opening and closing ----------------------------------------------------------------- */

#define AWC_CREATE    0x01u /* create the backing file if it does not exist */
#define AWC_EXCL      0x02u /* with AWC_CREATE: fail with AWC_EEXIST if it exists */
#define AWC_READONLY  0x04u /* no writes: exclusive pins and dirty unpins are AWC_EACCES */
#define AWC_NO_DIRECT 0x08u /* buffered I/O even where O_DIRECT would work */
#define AWC_NO_URING  0x10u /* pread/pwrite even where io_uring would work */
/* The frame policy exactly libCacheSim's Clock, for trace replay. Every cache's is today; this
 * flag keeps it so for this cache should the default policy change. */
#define AWC_CLOCK_COMPAT 0x20u
/* Window changes remap frames into the window (as Windows' AWE does) even where the platform can
 * copy a page in and out of the window instead (Linux; the default there when the window is
 * smaller than the frames, engine/README.md 4.3, because a copy costs a few microseconds less than
 * a remap and flushes no TLB). */
#define AWC_MAP_WINDOW 0x40u

struct awc_config {
    const char *path;       /* the backing file */
    size_t page_size;       /* bytes per page: a power of two from 4096 to 2 MiB */
    uint64_t frame_budget;  /* bytes of RAM for cached pages: at least one page */
    uint64_t window_budget; /* bytes of address space for pinned pages: 1 page to frame_budget;
                             * 0: the cache's default, frame_budget up to 64 MiB, else
                             * min(frame_budget / 4, 64 MiB) (engine/README.md 1.1) */
    unsigned flags;         /* AWC_* above */
};

typedef struct awc awc_t;

/* Opens (or with AWC_CREATE creates) the backing file and sets up the frames and the window.
 * An existing file must have been made by awecache with the same page size. After a crash the
 * file opens as of its last completed flush, plus whatever later writes completed whole.
 * Errors: AWC_EINVAL (config, or a file made with another page size), AWC_ENOENT, AWC_EEXIST,
 * AWC_EACCES, AWC_ELOCKED, AWC_EBADFILE (not an awecache file: a foreign or corrupt header, an
 * empty file opened read-only, a directory, a device other than a block device), AWC_ENOMEM
 * (frames or window not to be had), AWC_EPERM
 * (no AWE frames for this process: awc_strerror says how to grant them), AWC_EIO.
 * On error nothing is left open. */
AWC_API int awc_open(const struct awc_config *config, awc_t **cache);

/* Flushes, then releases everything. Pages still pinned: AWC_EBUSY and nothing is closed. If the
 * flush fails the cache is closed all the same and the flush's error is returned: every page
 * that could be written is durable, and only the pages whose writes failed are lost (they read
 * back, after a reopen, as their last durable version or as AWC_ECHECKSUM, never as garbage). */
AWC_API int awc_close(awc_t *cache);

/* ---- Pinning ----------------------------------------------------------------------------- */

#define AWC_SHARED    0 /* read: many shared pins of a page at once */
#define AWC_EXCLUSIVE 1 /* write: no other pin of the page meanwhile */
/* As AWC_EXCLUSIVE, for a page whose old contents are not wanted: a page not in frames is not
 * read (nor its checksum checked) but starts as zeros, so a page that reads back damaged can be
 * written anew. A page in frames keeps its contents. */
#define AWC_OVERWRITE 2

/* Pins page `page` in `mode` and stores a pointer to its page_size bytes in *ptr, valid until the
 * matching awc_unpin. Waits while another thread holds the page in a conflicting mode. A page past
 * the end of the file that was never written reads as zeros (writing it extends the file on
 * write-back); a page the file should hold but does not (a truncated file) is AWC_ECHECKSUM.
 * Page numbers run from 0 to the highest page whose file offset fits in 63 bits (2^54 or more
 * pages for 4 KiB pages); beyond it: AWC_EINVAL. Below that, a page past what the backing file's
 * file system lets the file hold (ext4 with 4 KiB blocks: 16 TiB; RLIMIT_FSIZE too) is
 * AWC_EFBIG: awc_stats.page_limit says where that starts.
 * Errors: AWC_EINVAL (mode, NULL ptr, page number), AWC_EFBIG, AWC_EACCES (exclusive on a
 * read-only cache), AWC_EBUSY (every frame or window slot is pinned), AWC_EDEADLK, AWC_ECHECKSUM
 * (the page read back torn, damaged or missing), AWC_EIO, AWC_ECLOSED. A pin of a page in frames
 * does no I/O; a pin that must read the page needs a frame, and when every unpinned frame holds a
 * dirty page that cannot be written (a full disk), it fails with the write's error (AWC_ENOSPC,
 * AWC_EIO): pages already in frames stay readable meanwhile. */
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
 * unpinned. Never waits for another thread's pin. A page whose write fails (a full disk) does not
 * stop the others: every page that can be written is, and made durable; the failing ones stay
 * dirty (a later flush tries them again) and the first failure's error is returned.
 * Errors: AWC_EIO, AWC_ENOSPC, AWC_EFBIG, AWC_ENOMEM, AWC_ECLOSED. */
AWC_API int awc_flush(awc_t *cache);

/* Writes every dirty page that no one has pinned, in batches, and returns without waiting for
 * durability (no fsync): a flush's first half. Pages written this way are clean, so that their
 * frames can later be reused without a write. Errors: AWC_EIO, AWC_ENOSPC, AWC_ENOMEM,
 * AWC_ECLOSED. */
AWC_API int awc_writeback(awc_t *cache);

/* As awc_writeback, for the pages first .. first + count - 1 only (count UINT64_MAX: to the last
 * page): pages outside the range stay dirty, and no pin of theirs waits for this write-back (a
 * writer still filling the page after the range is not held up). Errors: as awc_writeback. */
AWC_API int awc_writeback_range(awc_t *cache, uint64_t first, uint64_t count);

/* ---- Information ------------------------------------------------------------------------- */

struct awc_stats {
    uint64_t window_hits;       /* pins served by a page already in the window */
    uint64_t frame_hits;        /* pins of a page in frames but not in the window (window miss) */
    uint64_t misses;            /* pins and prefetches that read the page from the file */
    uint64_t window_evictions;  /* pages taken out of the window (kept in frames) */
    uint64_t frame_evictions;   /* pages dropped from frames */
    uint64_t writebacks;        /* dirty pages written to the file */
    uint64_t writebacks_ahead;  /* of those, written ahead of their eviction, in a victim's batch
                                 * (README 4.2.7) */
    uint64_t map_calls;         /* AWE map calls made */
    uint64_t pages_mapped;      /* pages those calls mapped (pages per call = this / map_calls) */
    uint64_t bytes_read;        /* from the backing file */
    uint64_t bytes_written;     /* to the backing file, checksums and headers included */
    uint64_t checksum_failures; /* pages that read back torn or corrupted */
    uint64_t flushes;           /* completed flushes */
    uint64_t pages_in_file;     /* the file's logical size in pages */
    uint64_t page_limit;        /* page numbers run below this: the most pages the backing file's
                                 * file system (and the process's file size limit) lets it hold;
                                 * a pin past it is AWC_EFBIG */
    uint64_t frames;            /* pages the frame pool holds (frame_budget / page_size) */
    uint64_t slots;             /* pages the window holds (after the kernel mapping limit) */
    uint64_t checksum_bytes;    /* RAM held by the checksum table */
    uint64_t window_copies;     /* pages copied into or out of the window (copy mode) */
    unsigned copy_window;       /* 1 in copy mode: the window's slots own frames (README 4.3) */
    unsigned identity_window;   /* 1 when the window shows every frame, each in its own slot, and
                                 * never changes (window = frames; README 4.4) */
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
 * AWC_EBADFILE (no valid superblock: not an awecache file, or another version; an empty file, a
 * directory, a device other than a block device), AWC_EIO. */
AWC_API int awc_get_file_info(const char *path, struct awc_file_info *info);

/* The file offset of page `page`'s bytes (under the layout *info describes). */
static inline uint64_t awc_file_page_offset(const struct awc_file_info *info, uint64_t page)
{
    return info->data_base + page / info->segment_pages * info->segment_bytes +
           info->segment_header + page % info->segment_pages * info->page_size;
}

/* ---- The key-value cache ----------------------------------------------------------------- */
/*
 * A cache of items (key -> value) whose capacity is the backing file, far larger than RAM: items
 * are appended to a circular log in the file, read through the page cache above (frames and
 * window), and found through an index in RAM that costs a fixed number of bytes per item
 * whatever the key's length (keys stay on the pages and are compared there in full).
 *
 * Semantics. A get returns the latest value put for the key, or AWC_ENOTFOUND: never a stale,
 * partial or foreign value (every item carries an XXH3 checksum, checked on every read; keys
 * are compared in full, so hash collisions cannot mix items up). When the log is full, its
 * oldest region (a large unit: 1/64 of the capacity, at least a page) is reclaimed and the items
 * that start in it drop out (counted as evictions); a put fails for lack of room only when the
 * item alone is larger than the capacity. Items with a time-to-live read as not-found once it
 * has passed (counted as expired).
 *
 * Sizes: keys 1 byte to AWC_KV_MAX_KEY (4 KiB); values 0 bytes to AWC_KV_MAX_VALUE (64 MiB); a
 * value may span many pages. An item takes 48 bytes of header + key + value, rounded up to 8,
 * in the log; an item that fits in a page never straddles two.
 *
 * Index memory: one 16-byte slot per item (the key's 64-bit XXH3 hash and the item's place in
 * the log), in an open-addressing table that doubles at 3/4 full and halves below 3/16 full:
 * 21.3 to 42.7 bytes per item in steady growth, 85.3 at most (and a 1,024-slot floor), plus
 * 24 bytes per region; allocated with jemalloc where the build has it. awc_kv_get_stats reports
 * it. The page cache underneath adds its checksum table: about 17 bytes per page of file written
 * (awc_stats: checksum_bytes), besides the frames.
 *
 * Durability. awc_kv_flush makes every put and delete before it durable; awc_kv_close flushes.
 * After a crash (kill -9, power loss) at any point, reopening succeeds, every item whose put
 * was covered by a completed flush is there and intact (unless a later put or delete replaced
 * it), and later puts are there only if they and everything before them in the log reached the
 * disk whole.
 *
 * Restart. The index is checkpointed into the file (past the log, in two alternating areas,
 * each with its own XXH3 digest) at close, and at flushes once the log written since the last
 * checkpoint is twice the checkpoint's size (16 bytes per item): a reopen after a clean close
 * loads it (about 16 bytes read per item) instead of reading the log; after a crash it loads the
 * last whole checkpoint and reads only the log written after it. A checkpoint that is damaged,
 * torn, of another file or version, or that no longer describes the log is not used: the reopen
 * reads the whole log from its oldest region (one sequential read of the used part of the file),
 * with the same result. awc_kv_get_stats says which the last open did (open_index). Taking a
 * checkpoint holds a copy of the index in RAM meanwhile (16 bytes per item), and the file grows
 * by up to twice the largest checkpoint. Files made before checkpoints (meta version 1) open by
 * reading the log and take checkpoints from then on; older versions of the library refuse a file
 * with checkpoints as AWC_EBADFILE.
 *
 * Damage (a page of the file that fails its checksum, is zeroed, or is cut off): the cache may
 * drop items, but a get never returns a value older than the latest put or delete of its key
 * that a completed flush covered. A reopen that meets damage in the flushed part of the log
 * drops every item before it (a put or delete lost in it may have replaced or removed any of
 * them; awc_kv_get_stats counts them in dropped_damaged) and keeps the items after it; past the
 * flushed part, damage ends the log as a crash does. A get that meets damage drops the item and
 * returns AWC_ECHECKSUM. When a meta page (which says how far the log was flushed) is itself
 * damaged, damage anywhere after the older meta page's point is treated the same way
 * (engine/README.md, 9.5).
 *
 * Threads: every function is thread-safe. Gets run in parallel; puts and deletes are serialised
 * (one log head) but do not block gets. A reference (awc_kv_get_ref) holds its pages shared,
 * and a put that must write one of them waits for its release; so that this can never wait
 * for ever, a thread holding references into a cache may get and take more references there
 * but not put, delete, flush or close it: those return AWC_EDEADLK (AWC_EBUSY for close).
 * A handle stays valid after awc_kv_close (calls return AWC_ECLOSED), as for awc_t.
 */

#define AWC_KV_MAX_KEY   4096u                 /* bytes */
#define AWC_KV_MAX_VALUE (64u * 1024u * 1024u) /* bytes */

/* Flags of struct awc_kv_config (besides AWC_CREATE, AWC_EXCL, AWC_NO_DIRECT, AWC_NO_URING). */
#define AWC_KV_WEAK_HASH                                                                           \
    0x100u /* keep 6 bits of each hash: every key collides with many others.                       \
            * Slow; for tests of the full key comparison only. */

struct awc_kv_config {
    const char *path;       /* the backing file */
    uint64_t capacity;      /* bytes of log, 64 pages to 4 TiB (else AWC_EINVAL), rounded
                             * down to whole pages; the file grows as the log is written, to
                             * about 0.4 % more than this. 0 when opening an existing file: the
                             * file's. Otherwise it must equal the file's (AWC_EINVAL) */
    size_t page_size;       /* as struct awc_config; 0: 4096 */
    uint64_t frame_budget;  /* as struct awc_config: RAM for cached pages */
    uint64_t window_budget; /* as struct awc_config (0: its default) */
    unsigned flags;         /* AWC_CREATE, AWC_EXCL, AWC_NO_DIRECT, AWC_NO_URING, AWC_KV_* */
    /* Milliseconds since 1970 for time-to-live; NULL: the system's real-time clock. For tests
     * and simulations; it must never go backwards and be callable from any thread. */
    uint64_t (*clock_ms)(void *arg);
    void *clock_arg;
};

typedef struct awc_kv awc_kv_t;

/* Opens (or with AWC_CREATE creates) a key-value cache. A new file holds no items. An existing
 * file must be a key-value cache made with the same page size; after a crash it opens as
 * described above (never fails because of the crash). An existing file that holds no page (of
 * no bytes, or a page-cache file with nothing written: what a crash while creating the file
 * leaves) becomes a new cache only with AWC_CREATE and a capacity; otherwise it is AWC_EBADFILE.
 * Errors: AWC_EINVAL (config: NULL path or cache, capacity below 64 pages or not the file's, or
 * 0 for a file to be created; budgets as awc_open), AWC_ENOENT, AWC_EEXIST, AWC_EACCES,
 * AWC_ELOCKED, AWC_EBADFILE (not an awecache key-value file: a page-cache file, empty or not, a
 * foreign or corrupt file; its contents are left as they were), AWC_ENOMEM (memory, or no
 * thread to be had), AWC_EPERM, AWC_EIO, AWC_ENOSPC (creating the file). On error nothing is
 * left open or created. An open cache runs one thread of its own, which writes the log's filled
 * pages back to the file while puts go on (without a sync: durability is still the flush's);
 * close stops it. */
AWC_API int awc_kv_open(const struct awc_kv_config *config, awc_kv_t **kv);

/* Flushes, takes a checkpoint of the index (see Restart) and releases everything. References
 * still held (by any thread): AWC_EBUSY and nothing is closed. If the flush or the checkpoint
 * fails (AWC_ENOSPC: a full disk) the cache is closed all the same and the error returned; the
 * next open then uses the older checkpoint, or reads the log. */
AWC_API int awc_kv_close(awc_kv_t *kv);

/* Stores value[0..value_len) under key[0..key_len), replacing any earlier value. ttl_ms > 0: the
 * item expires ttl_ms milliseconds from now; 0: never. value may be NULL when value_len is 0.
 * Errors: AWC_EINVAL (NULL key or kv, key_len 0, NULL value with value_len > 0), AWC_E2BIG (key
 * over AWC_KV_MAX_KEY, value over AWC_KV_MAX_VALUE, or the item larger than the capacity),
 * AWC_EDEADLK (this thread holds references: see Threads), AWC_EIO, AWC_ENOSPC (the disk is
 * full), AWC_ECHECKSUM, AWC_ECLOSED.
 * On error the cache holds what it held before for this key (the log may have reclaimed old
 * regions to make room, as any put may). */
AWC_API int awc_kv_put(awc_kv_t *kv, const void *key, size_t key_len, const void *value,
                       size_t value_len, uint64_t ttl_ms);

/* Copies the key's value into buf[0..buf_len) and stores its length in *value_len.
 * buf may be NULL when buf_len is 0 (to ask for the size).
 * Errors: AWC_ENOTFOUND (no such key, or expired), AWC_ERANGE (buf_len < the value's length:
 * *value_len says how much is needed, buf is unspecified), AWC_EINVAL (NULL arguments, key_len
 * 0), AWC_E2BIG (key over AWC_KV_MAX_KEY), AWC_EIO, AWC_ECLOSED. An item that reads back
 * corrupted (its value, or its header no longer there) is reported as AWC_ECHECKSUM and is
 * dropped. On a full disk gets go on from
 * the pages in frames; a get that must read a page when every unpinned frame holds a dirty page
 * that cannot be written returns that write's error (AWC_ENOSPC, AWC_EIO), the item untouched. */
AWC_API int awc_kv_get(awc_kv_t *kv, const void *key, size_t key_len, void *buf, size_t buf_len,
                       size_t *value_len);

/* Gets n items at once, each as awc_kv_get would get it: item i's key is keys[i] (key_lens[i]
 * bytes), its value goes to bufs[i] (buf_lens[i] bytes); results[i] becomes what that call
 * would return (AWC_OK, AWC_ENOTFOUND, AWC_ERANGE, AWC_E2BIG, ...) and value_lens[i] the value's
 * length (0 when there is none). The items go in rounds of up to 64 (fewer with a window of
 * under 128 slots): a round pins the pages where its records start in one batch (one map call
 * and one batched read for the pages not in frames: awc_pin_batch) and the later pages of the
 * records that go on past their first page in one more. An item whose key shares its hash with
 * another item's, or whose record does not fit beside the round's in the window, is read as by
 * awc_kv_get. The same key may appear more than once. Returns AWC_OK when every item has its
 * result (n 0 included); otherwise no item was looked up: AWC_EINVAL (a NULL array with n > 0),
 * AWC_ECLOSED. */
AWC_API int awc_kv_get_batch(awc_kv_t *kv, size_t n, const void *const *keys,
                             const size_t *key_lens, void *const *bufs, const size_t *buf_lens,
                             size_t *value_lens, int *results);

/* A pinned value: its bytes stay in place, readable, until awc_kv_release. They are in
 * `nfrags` pieces frags[0..nfrags) in order (one piece per page the value touches: a value
 * within one page is one piece; `value` then points at it, else it is NULL). The struct must
 * stay where it is (not be copied) until released: frags may point into it. */
struct awc_kv_frag {
    const void *data;
    size_t len;
};
struct awc_kv_ref {
    const void *value;               /* the whole value when nfrags <= 1, else NULL */
    size_t value_len;                /* bytes */
    size_t nfrags;                   /* pieces (0 for an empty value) */
    const struct awc_kv_frag *frags; /* the pieces */
    /* Private to the library. */
    struct awc_kv_frag inline_frags_[2];
    uint64_t priv_[6];
};

/* Looks the key up and pins its value's pages (zero copy) into *ref. Each page pinned holds a
 * window slot until the release: a value needing more slots than the window has is AWC_E2BIG
 * (read it with awc_kv_get), and when other pins hold the slots, AWC_EBUSY.
 * Errors: as awc_kv_get (no AWC_ERANGE), AWC_EBUSY, AWC_E2BIG, AWC_ENOMEM. */
AWC_API int awc_kv_get_ref(awc_kv_t *kv, const void *key, size_t key_len, struct awc_kv_ref *ref);

/* Releases a reference taken by awc_kv_get_ref, once, by the thread that took it (a thread
 * holding references may not write, and that count is the thread's own). Errors: AWC_EINVAL
 * (NULL, not a live reference of this cache, or another thread's reference: it stays live, for
 * its thread to release), AWC_ECLOSED. */
AWC_API int awc_kv_release(awc_kv_t *kv, struct awc_kv_ref *ref);

/* Removes the key. Errors: AWC_ENOTFOUND (it was not there), AWC_EINVAL, AWC_E2BIG (key size),
 * AWC_EDEADLK, AWC_EIO, AWC_ENOSPC, AWC_ECLOSED. */
AWC_API int awc_kv_delete(awc_kv_t *kv, const void *key, size_t key_len);

/* Makes every put and delete completed before the call durable. Errors: AWC_EIO, AWC_ENOSPC,
 * AWC_EDEADLK (this thread holds references), AWC_ECLOSED. */
AWC_API int awc_kv_flush(awc_kv_t *kv);

struct awc_kv_stats {
    uint64_t items;           /* live items (expired ones count until a get finds them) */
    uint64_t bytes;           /* their keys' and values' bytes */
    uint64_t hits;            /* gets (and get_refs) that found the key */
    uint64_t misses;          /* gets that did not (expired ones included) */
    uint64_t puts;            /* successful puts */
    uint64_t deletes;         /* successful deletes */
    uint64_t evictions;       /* items dropped when their region was reclaimed */
    uint64_t expired;         /* items a get found past their time-to-live */
    uint64_t index_bytes;     /* RAM held by the index (table and region counters) */
    uint64_t index_slots;     /* the index table's slots */
    uint64_t capacity;        /* bytes of log */
    uint64_t log_used;        /* bytes of log in use (live, dead and padding) */
    uint64_t region_bytes;    /* the reclaim unit */
    uint64_t reclaims;        /* regions reclaimed */
    uint64_t recovered;       /* items the last open found (its checkpoint's and scan's) */
    uint64_t dropped_damaged; /* items the last open's scan dropped because the log after them
                               * was damaged (see Damage above) */
    /* How the last open built its index (see Restart above). */
    unsigned open_index;               /* AWC_KV_INDEX_NEW, _SCAN or _CHECKPOINT */
    unsigned open_checkpoint_rejected; /* 1: the file named a checkpoint that could not be used
                                        * (damaged, torn, stale, another file's or version's):
                                        * the open scanned the whole log instead */
    uint64_t open_loaded;              /* items the checkpoint gave (before the scan after it) */
    uint64_t open_scanned;             /* bytes of log the open scanned */
    uint64_t checkpoints;              /* checkpoints this handle wrote (durable, named) */
    uint64_t checkpoint_bytes;         /* the last one's size */
    struct awc_stats cache;            /* the page cache underneath */
};

/* awc_kv_stats.open_index: how the last open built its index. */
#define AWC_KV_INDEX_NEW        0 /* a new cache: nothing to load */
#define AWC_KV_INDEX_SCAN       1 /* scanned the whole log (no usable checkpoint) */
#define AWC_KV_INDEX_CHECKPOINT 2 /* loaded a checkpoint and scanned only the log after it */

/* Fills *stats. Errors: AWC_EINVAL (NULL), AWC_ECLOSED. */
AWC_API int awc_kv_get_stats(awc_kv_t *kv, struct awc_kv_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_ENGINE_AWECACHE_H */
