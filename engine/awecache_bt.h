/*
 * engine/awecache_bt.h: an ordered key-value store (a B+-tree) on the awecache page cache.
 *
 * The tree lives in a page-cache file (awecache.h) and reaches its pages only through awc_pin and
 * awc_unpin: a node is a page, nodes name each other by page number, and a pointer into a node
 * never outlives its pin. Keys are byte strings compared as memcmp does, a shorter key first when
 * one is a prefix of the other. engine/README.md section 11 is the design.
 *
 * Conventions: as awecache.h. Every fallible function returns AWC_OK (0) or a negative AWC_E*
 * code (awc_strerror describes it); a failed call changes nothing the caller can observe. A
 * handle stays valid after awc_bt_close (calls return AWC_ECLOSED).
 *
 * Sizes: keys 1 byte to AWC_BT_MAX_KEY (1 KiB); a key and its value together at most the tree's
 * max_item (AWC_BT_MAX_ITEM of its node size: 1328 bytes for 4 KiB pages, so a 1 KiB key takes a
 * value of up to 304 bytes; 5424 bytes for 16 KiB pages). Larger items are refused with
 * AWC_E2BIG (no overflow pages in this version).
 *
 * Durability: awc_bt_flush (and awc_bt_close) make every put and delete completed before it
 * durable. After a crash (kill -9, power loss) at any point, awc_bt_open gives exactly the tree
 * of the last completed flush: changes after it are gone, none of them half there (README 11.5:
 * copy-on-write per flush, two meta pages).
 *
 * Damage: every page carries the page cache's checksum; a tree page that reads back torn or
 * damaged makes the call that meets it fail with AWC_ECHECKSUM, and a page whose checksum holds
 * but whose contents are not a well-formed node (a file written by another client, say) with
 * AWC_EBADFILE; never a crash or a wrong answer from that page.
 *
 * Threads: every function is thread-safe; gets, cursors, puts and deletes of many threads run at
 * once (latch coupling on the page cache's shared and exclusive pins, README 11.4). A flush
 * waits for the calls in progress and for references to be released, and holds new calls back
 * while it runs. A thread holding a reference (awc_bt_get_ref) may read (get, more references,
 * cursors) but not put, delete, flush, close, check or read the stats: those return AWC_EDEADLK
 * (each could wait for the thread's own reference). Other threads' writes never wait for a
 * reference, except to a tree that is a single leaf (README 11.4.5).
 */
#ifndef AWECACHE_ENGINE_AWECACHE_BT_H
#define AWECACHE_ENGINE_AWECACHE_BT_H

#include "awecache.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AWC_BT_MAX_KEY    1024u /* bytes */
#define AWC_BT_MAX_HEIGHT 32u   /* levels; a tree this high would need more pages than exist */
/* The largest key + value a tree whose nodes are `node_bytes` (the page size by default) holds:
 * a node keeps room for three of them, so that every split and merge works in place. */
#define AWC_BT_MAX_ITEM(node_bytes) (((node_bytes)-64u) / 3u - 16u)

struct awc_bt_config {
    const char *path;       /* the backing file */
    size_t page_size;       /* as struct awc_config; 0: 4096 */
    uint64_t frame_budget;  /* as struct awc_config: RAM for cached pages */
    uint64_t window_budget; /* as struct awc_config (0: its default). Each call pins up to
                             * 2 * height + 3 pages at once, a reference one more */
    unsigned flags;         /* AWC_CREATE, AWC_EXCL, AWC_READONLY, AWC_NO_DIRECT, AWC_NO_URING */
    /* Bytes of each page a node uses: 0 for the whole page, else a multiple of 8 from 512 to
     * page_size. Less than a page makes nodes of fewer keys and deeper trees (for tests); it is
     * fixed when the tree is created (0 or the tree's own when opening). */
    size_t node_bytes;
};

typedef struct awc_bt awc_bt_t;

/* Opens (or with AWC_CREATE creates) a tree in the page-cache file config->path. A new file, or
 * an existing one with no tree page ever written (what a crash while creating leaves), becomes an
 * empty tree with AWC_CREATE; an existing tree must have the same page size. Opening reads the
 * tree's inner nodes once to find its free pages (README 11.5).
 * Errors: AWC_EINVAL (NULL, budgets or node_bytes out of range, another page size or node size
 * than the file's), AWC_ENOENT, AWC_EEXIST, AWC_EACCES, AWC_ELOCKED, AWC_EBADFILE (not a tree:
 * a page-cache file holding other data, a foreign file), AWC_ECHECKSUM (an inner node or both
 * meta pages damaged), AWC_ENOMEM, AWC_EPERM, AWC_EIO, AWC_ENOSPC. On error nothing is left
 * open. */
AWC_API int awc_bt_open(const struct awc_bt_config *config, awc_bt_t **bt);

/* Flushes and releases everything. Cursors or references still open: AWC_EBUSY and nothing is
 * closed. If the flush fails the tree is closed all the same and its error returned (the tree
 * reopens as of the last completed flush). Errors: AWC_EINVAL, AWC_ECLOSED, AWC_EBUSY,
 * AWC_EDEADLK, and the flush's. */
AWC_API int awc_bt_close(awc_bt_t *bt);

/* Stores value[0..value_len) under key[0..key_len), replacing any earlier value. value may be
 * NULL when value_len is 0. Errors: AWC_EINVAL (NULL bt or key, key_len 0, NULL value with
 * value_len > 0), AWC_E2BIG (key over AWC_BT_MAX_KEY, or key and value over max_item),
 * AWC_EACCES (read-only), AWC_EDEADLK (this thread holds references), AWC_ECHECKSUM,
 * AWC_EBADFILE (a damaged node on the way), AWC_EBUSY (the window is full of pins), AWC_EIO,
 * AWC_ENOSPC, AWC_EFBIG, AWC_ENOMEM, AWC_ECLOSED. */
AWC_API int awc_bt_put(awc_bt_t *bt, const void *key, size_t key_len, const void *value,
                       size_t value_len);

/* Copies the key's value into buf[0..buf_len) and stores its length in *value_len. buf may be
 * NULL when buf_len is 0 (to ask for the size). Errors: AWC_ENOTFOUND, AWC_ERANGE (buf_len too
 * small: *value_len says how much is needed; buf is unspecified), AWC_EINVAL (NULL arguments,
 * key_len 0), AWC_E2BIG (key over AWC_BT_MAX_KEY), AWC_ECHECKSUM, AWC_EBADFILE, AWC_EBUSY,
 * AWC_EIO, AWC_ECLOSED. */
AWC_API int awc_bt_get(awc_bt_t *bt, const void *key, size_t key_len, void *buf, size_t buf_len,
                       size_t *value_len);

/* A value read in place: value[0..value_len) stays readable, unchanged, until awc_bt_release
 * (its leaf stays pinned shared meanwhile; other threads' puts and deletes to that leaf copy it
 * to a new page instead of waiting, or wait when the leaf is the whole tree: README 11.4.5). */
struct awc_bt_ref {
    const void *value;
    size_t value_len;
    uint64_t priv_[3]; /* private to the library */
};

/* Looks the key up and keeps its value in place (zero copy) in *ref. Errors: as awc_bt_get (no
 * AWC_ERANGE), AWC_ENOMEM. */
AWC_API int awc_bt_get_ref(awc_bt_t *bt, const void *key, size_t key_len, struct awc_bt_ref *ref);

/* Releases a reference, once, from the thread that took it. Errors: AWC_EINVAL (NULL, not a live
 * reference of this tree, another thread's), AWC_ECLOSED. */
AWC_API int awc_bt_release(awc_bt_t *bt, struct awc_bt_ref *ref);

/* Removes the key. Errors: AWC_ENOTFOUND (not there; nothing changed), AWC_EINVAL, AWC_E2BIG
 * (key size), and as awc_bt_put. */
AWC_API int awc_bt_delete(awc_bt_t *bt, const void *key, size_t key_len);

/* Stores the number of keys in *count. Errors: AWC_EINVAL, AWC_ECLOSED. */
AWC_API int awc_bt_count(awc_bt_t *bt, uint64_t *count);

/* Makes every put and delete completed before the call durable (README 11.5). Errors:
 * AWC_EDEADLK (this thread holds references), AWC_EACCES (read-only), AWC_EIO, AWC_ENOSPC,
 * AWC_EFBIG, AWC_ENOMEM, AWC_ECLOSED. After an error the tree holds what it held, and a later
 * flush tries again. */
AWC_API int awc_bt_flush(awc_bt_t *bt);

/* ---- Cursors ----------------------------------------------------------------------------- */
/*
 * A cursor is a position: the key it is on. It holds no pin between calls, so it never blocks a
 * writer and survives every concurrent split, merge or flush: each move finds its place again
 * from the root by key (README 11.6). next goes to the first key greater than the cursor's, prev
 * to the last key less than it, whatever was put or deleted meanwhile. A cursor is used by one
 * thread at a time.
 */
typedef struct awc_bt_cursor awc_bt_cursor_t;

/* Opens an unpositioned cursor. Errors: AWC_EINVAL, AWC_ENOMEM, AWC_ECLOSED. */
AWC_API int awc_bt_cursor_open(awc_bt_t *bt, awc_bt_cursor_t **cursor);

/* Positions the cursor on the first key >= key (key_len 0, key may be NULL: the first key).
 * Errors: AWC_ENOTFOUND (no such key: the cursor is unpositioned), AWC_EINVAL, AWC_E2BIG,
 * AWC_ECHECKSUM, AWC_EBADFILE, AWC_EBUSY, AWC_EIO, AWC_ENOMEM, AWC_ECLOSED. */
AWC_API int awc_bt_cursor_seek(awc_bt_cursor_t *cursor, const void *key, size_t key_len);

/* Positions the cursor on the last key. Errors: as awc_bt_cursor_seek. */
AWC_API int awc_bt_cursor_last(awc_bt_cursor_t *cursor);

/* Moves to the next (prev: previous) key. Errors: AWC_ENOTFOUND (none: the cursor is
 * unpositioned), AWC_EINVAL (unpositioned), and as awc_bt_cursor_seek. */
AWC_API int awc_bt_cursor_next(awc_bt_cursor_t *cursor);
AWC_API int awc_bt_cursor_prev(awc_bt_cursor_t *cursor);

/* The key and value the cursor is on, as they were when it moved there: pointers into the
 * cursor's own copy, valid until its next move or close. Either out-pointer pair may be NULL.
 * Errors: AWC_EINVAL (NULL cursor, unpositioned). */
AWC_API int awc_bt_cursor_get(awc_bt_cursor_t *cursor, const void **key, size_t *key_len,
                              const void **value, size_t *value_len);

/* Closes the cursor. Errors: AWC_EINVAL (NULL). */
AWC_API int awc_bt_cursor_close(awc_bt_cursor_t *cursor);

/* ---- Information and checking ------------------------------------------------------------ */

struct awc_bt_stats {
    uint64_t count;                             /* keys */
    uint32_t height;                            /* levels (1: the root is a leaf) */
    uint64_t pages_by_level[AWC_BT_MAX_HEIGHT]; /* nodes at each level, 0 = leaves */
    uint64_t pages;                             /* nodes in all */
    uint64_t leaf_fill_pct;                     /* bytes used in leaves, % of their node bytes */
    uint64_t inner_fill_pct;                    /* the same for inner nodes */
    uint64_t free_pages;                        /* pages free for new nodes now */
    uint64_t pending_pages;                     /* pages freed, free after the next flush */
    uint64_t file_pages;                        /* pages the tree has used (meta pages too) */
    uint64_t splits;                            /* node splits since open */
    uint64_t merges;                            /* node merges since open */
    uint64_t copies;                            /* nodes copied before a change (README 11.5) */
    uint64_t generation;                        /* the last completed flush's */
    size_t node_bytes;                          /* bytes of each page a node uses */
    size_t max_item;                            /* the largest key + value */
    struct awc_stats cache;                     /* the page cache underneath */
};

/* Fills *stats; walks the whole tree (reads every node: a cost in proportion to the tree, and
 * the nodes it reads take frames as any read does). Errors: AWC_EINVAL, AWC_EDEADLK (this thread
 * holds references), AWC_ECHECKSUM, AWC_EBADFILE, AWC_EBUSY, AWC_EIO, AWC_ECLOSED. */
AWC_API int awc_bt_get_stats(awc_bt_t *bt, struct awc_bt_stats *stats);

/* Fills *stats with what the tree counts as it goes, in constant time, reading no node: every
 * field but those only a walk finds (pages_by_level, pages, leaf_fill_pct and inner_fill_pct
 * are 0). For monitoring while the tree serves; may be called with references held. Errors:
 * AWC_EINVAL (NULL), AWC_ECLOSED. */
AWC_API int awc_bt_get_counters(awc_bt_t *bt, struct awc_bt_stats *stats);

/* Checks the whole tree's structure (README 11.7): every node well formed, keys in order within
 * and across nodes and within their parents' bounds, every leaf at one depth, fill bounds, the
 * key count, no page reachable twice nor free; the page cache checks each page's checksum as it
 * is read. Writes a one-line description of the first fault into msg[0..msg_len) (may be NULL).
 * Errors: AWC_EBADFILE (a structural fault), AWC_ECHECKSUM (a damaged page), AWC_EINVAL,
 * AWC_EDEADLK (this thread holds references), AWC_EBUSY, AWC_EIO, AWC_ENOMEM, AWC_ECLOSED. */
AWC_API int awc_bt_check(awc_bt_t *bt, char *msg, size_t msg_len);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_ENGINE_AWECACHE_BT_H */
