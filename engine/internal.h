/*
 * engine/internal.h: the engine's data structures, shared by its files. engine/README.md is the
 * design; section numbers in comments below point into it.
 *
 * Memory layout of one cache:
 *
 *   frames (AWE, committed at open)        window (one AWE window)
 *   +--------+--------+-----+----------+   +--------+--------+-----+--------+---------------+
 *   | buf 0  | buf 1  | ... | buf B-1  |   | slot 0 | slot 1 | ... | slot S-1 | staging (T) |
 *   +--------+--------+-----+----------+   +--------+--------+-----+--------+---------------+
 *     k = P / 4 KiB consecutive frames       a slot shows one buffer (k frames, one map call);
 *     per buffer                             staging slots: the remapping window's flush only
 *
 *   bufs[B]   descriptors: state word, page, content latch (section 2.3, 2.4)
 *   slots[S]  descriptors: buffer shown, reference bit (4.1)
 *   table     page table: page -> buffer, lock-free lookups (2.5)
 *   ck[]      checksum records, one per page of the file (5.2)
 */
#ifndef AWECACHE_ENGINE_INTERNAL_H
#define AWECACHE_ENGINE_INTERNAL_H

#include "awe.h"
#include "awecache.h"
#include "plat_io.h"
#include "plat_sync.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The buffer state word (README 2.4). */
#define ST_REF_MASK   UINT64_C(0x3ffff)   /* bits 0-17: pins */
#define ST_USAGE_ONE  (UINT64_C(1) << 18) /* bits 18-19: the frame CLOCK's usage count */
#define ST_USAGE_MASK (UINT64_C(3) << 18) /* (README 4.2: at most 3, 1 with CLOCK_COMPAT) */
#define ST_VALID      (UINT64_C(1) << 20)
#define ST_DIRTY      (UINT64_C(1) << 21)
#define ST_MAPPED     (UINT64_C(1) << 22)
#define ST_BUSY       (UINT64_C(1) << 23)
#define ST_SLOTNEW                                                                                 \
    (UINT64_C(1) << 24) /* copy mode: the slot holds a newer version than the                      \
                         * buffer's own frames (README 4.3) */
#define USAGE_MAX     3 /* the usage count's ceiling (GCLOCK, README 4.2; CLOCK_COMPAT: 1) */
#define ST_SLOT_SHIFT 32
#define ST_SLOT(s)    ((uint64_t)(s) >> ST_SLOT_SHIFT)

_Static_assert(ST_REF_MASK < ST_USAGE_ONE, "the pin count must not reach the flags");

/* The content latch (README 3.7). */
#define LATCH_WRITER  UINT32_C(0x80000000)
#define LATCH_WAITERS UINT32_C(0x40000000)
#define LATCH_READERS UINT32_C(0x3fffffff)

#define NO_BUF  UINT32_MAX
#define NO_PAGE UINT64_MAX

/* Buffer descriptor. Invariants: refcount > 0 implies VALID, MAPPED, not BUSY at the time each pin
 * was taken, and the buffer is neither evicted nor unmapped until the count is 0 again; `page` is
 * changed only under the cache lock while BUSY is held. */
struct buf {
    _Atomic uint64_t state;  /* README 2.4 */
    _Atomic uint64_t page;   /* the page it holds, NO_PAGE if none */
    _Atomic uint32_t latch;  /* readers | WRITER | WAITERS */
    _Atomic uint32_t xowner; /* thread id holding it exclusively (0: none) */
    _Atomic uint32_t wake;   /* bumped each time BUSY is cleared; waiters sleep on it */
    uint32_t busy_by;        /* the thread that last set BUSY (under the cache lock); only it
                              * clears BUSY (buf_publish) */
};

/* Window slot descriptor: `buf` under the cache lock, `ref` set by pins without it. */
struct slot {
    uint32_t buf;         /* the buffer mapped here, NO_BUF if none (or a stale mapping) */
    uint32_t reserved_by; /* the thread whose batch has taken it, 0 if none (cache lock) */
    _Atomic uint8_t ref;  /* the slot CLOCK's reference bit */
};

/* Checksum record of one page (README 5.2): {0, 0} never written; {CK_LOST, CK_LOST} unknown
 * (its checksum block was damaged or cut off: every read fails until the page is written anew);
 * {h, h} written and settled; {h2, h1} written after the last flush (h1 0: never before). */
struct ckrec {
    uint64_t cur;  /* checksum of the latest version written */
    uint64_t prev; /* checksum of the version before it */
};
#define CK_LOST UINT64_MAX

/* A hit counter per thread stripe, on its own cache line. */
struct stripe {
    _Atomic uint64_t hits;
    char pad[56];
};
#define STRIPES 16

#define AWC_MAGIC 0x41574343u /* "AWCC" while open */
#define AWC_DEAD  0x44454144u /* "DEAD" after close */

struct awc {
    uint32_t magic;          /* AWC_MAGIC or AWC_DEAD */
    struct awc *next_closed; /* the list of closed handles (they are never freed) */
    unsigned flags;          /* AWC_* */
    size_t page_size;        /* P */
    unsigned page_shift;     /* log2 P */
    size_t k;                /* AWE frames per page */
    size_t awe_page;         /* bytes of one AWE frame */
    uint64_t nbuf;           /* B */
    uint64_t nslot;          /* S (after the VMA clamp) */
    uint64_t nstage;         /* T staging slots after the window */
    char *window;            /* the window's base */
    awe_frame_t *frames;     /* nbuf * k frame numbers, then (copy mode) nslot * k of the slots */
    size_t nframes;          /* frames allocated */
    unsigned copy;           /* copy mode (README 4.3): slots own frames, changes are copies */
    unsigned identity;       /* identity mode (README 4.4): buffer i shown in slot i for good */
    uint64_t usage_max;      /* the highest usage count, in ST_USAGE_ONE units (README 4.2) */
    struct buf *bufs;        /* nbuf descriptors */
    struct slot *slots;      /* nslot descriptors */

    plat_mutex_t mu;       /* the cache lock: table writes, CLOCK hands, slots, layout */
    plat_mutex_t flush_mu; /* one flush at a time (owns the staging slots) */
    plat_mutex_t ck_mu;    /* checksum records; never held across I/O but a flush's */

    /* Page table (README 2.5): entries of table.c, written under mu, read without it. */
    struct tent *table;
    uint64_t tmask; /* table size - 1 */

    uint64_t fill;       /* buffers never used yet: [fill, nbuf) (under mu) */
    uint64_t frame_hand; /* the frame CLOCK hand (under mu) */
    uint64_t slot_fill;  /* slots never used yet: [slot_fill, nslot) (under mu) */
    uint64_t slot_hand;  /* the slot CLOCK hand (under mu) */

    /* The backing file (README 5). */
    struct plat_file *file;
    uint64_t seg_bytes;   /* one segment: checksum block + 255 pages */
    uint64_t max_page;    /* the highest page whose file offset fits in a signed 64 bits */
    uint64_t fs_max_page; /* the highest page the file system lets the file hold (<= max_page) */
    uint64_t file_bytes;  /* the file's size (under ck_mu) */
    uint64_t nseg;        /* segments with records in RAM (under ck_mu) */
    uint64_t lost_below;  /* pages past the records and below this are lost (a cut file) */
    struct ckrec *ck;     /* nseg * 255 records (under ck_mu) */
    uint8_t *ck_flags;    /* per page: CKF_* (file.c) (under ck_mu) */
    uint8_t *seg_flags;   /* per segment: SEGF_* (file.c) (under ck_mu) */
    uint64_t *dirty_segs; /* the segments with SEGF_DIRTY, ndirty of them (under ck_mu) */
    uint64_t ndirty;
    void *ck_free;            /* free checksum block buffers, a list through their first word */
    uint64_t ck_writers;      /* write-backs between taking their blocks and their end (ck_mu) */
    bool ck_syncing;          /* a flush waits for them, then settles: new ones wait (ck_mu) */
    _Atomic uint32_t ck_wake; /* bumped when a write-back or flush ends (README 5.4) */
    uint64_t pages;           /* logical size in pages (under ck_mu) */
    uint64_t generation;      /* of the newest superblock */
    uint8_t file_id[16];      /* the file's UUID */
    void *iobuf;              /* one aligned block for superblocks and checksum blocks */

    /* Counters (relaxed atomics; hits are striped). */
    struct stripe stripe[STRIPES];
    _Atomic uint64_t frame_hits, misses, window_evictions, frame_evictions, writebacks;
    _Atomic uint64_t map_calls, pages_mapped, bytes_read, bytes_written, checksum_failures;
    _Atomic uint64_t flushes, window_copies, writebacks_ahead;
    unsigned direct_io, io_uring;
    /* The error of the last page write that failed, AWC_OK once a later write succeeds: while set,
     * reads take clean buffers only (README 4.2.6). */
    _Atomic int wb_error;

    /* Bumped whenever reservations are released (a batch ends or undoes, a flush lets go): a
     * batch that found every candidate reserved by others waits on it (README 3.8). */
    _Atomic uint32_t progress;
};

/* engine/table.c: the page table. Lookups need no lock; the rest need c->mu. */
uint32_t table_lookup(const struct awc *c, uint64_t page);
int table_insert(struct awc *c, uint64_t page, uint32_t buf);
void table_remove(struct awc *c, uint64_t page);
int table_init(struct awc *c);
void table_free(struct awc *c);

/* engine/clock.c: the two CLOCKs (README 4). Both need c->mu. */
#define NO_SLOT UINT64_MAX

/* Which victims clock_take_buffer may take (README 4.2.6). */
enum pick {
    PICK_ANY,   /* the CLOCK's victim */
    PICK_CLEAN, /* a read while write-backs fail: clean buffers only */
    PICK_DIRTY, /* a write while write-backs fail: dirty buffers only (the clean stay for reads) */
};

/* Takes a victim buffer for a new page, BUSY now; NO_BUF if none (README 4.2). *transient: one
 * was passed over only because another operation has it BUSY; *skipped: one was passed over
 * for being of the kind `pick` excludes. */
uint32_t clock_take_buffer(struct awc *c, bool *transient, enum pick pick, bool *skipped);
/* Cleaning ahead (README 4.2.7): with a dirty victim, up to CLEAN_AHEAD more dirty buffers among
 * the next CLEAN_SCAN from the frame hand are written in the same batch. */
#define CLEAN_AHEAD 15
#define CLEAN_SCAN  64
/* Takes up to max such buffers, BUSY with DIRTY cleared, into out[]; returns how many. */
size_t clock_take_dirty(struct awc *c, uint32_t *out, size_t max);
/* Takes a window slot (README 4.1), `hint` first if it is free to take; its occupant, BUSY now,
 * goes to *occupant (NO_BUF if none); NO_SLOT if every slot is pinned or reserved. */
uint64_t clock_take_slot(struct awc *c, uint64_t hint, uint32_t *occupant, bool *transient);

/* engine/file.c: the backing file's format, checksums and I/O (README 5, 6). */
int file_open(struct awc *c, const struct awc_config *cfg);
void file_close(struct awc *c);
uint64_t file_page_offset(const struct awc *c, uint64_t page);
/* Reads n pages into addrs[] and verifies them; rc[i] per page; returns the first error. */
int file_read_pages(struct awc *c, const uint64_t *pages, void *const *addrs, size_t n, int *rc);
/* Writes n pages from addrs[] with their checksums (records first, then data): every page it
 * can; prc[i] (NULL: not wanted) gets each page's result; returns the first error. */
int file_write_pages(struct awc *c, const uint64_t *pages, void *const *addrs, size_t n, int *prc);
/* RAM held by the checksum records. */
uint64_t file_checksum_bytes(struct awc *c);
/* Durability point: every write before it is on disk, then a new superblock (README 5.5). */
int file_sync(struct awc *c);

/* engine/pin.c */
/* Where buffer bi's data is written from (README 4.3 item 4): its slot, or in copy mode, for a
 * buffer in no slot, a copy of its frames in `bounce` (one page-aligned page; no mapping
 * changes). AWC_OK with *at set; AWC_ENOMEM (bounce NULL) or the copy's error otherwise. The
 * caller holds the buffer BUSY or pinned, and not the cache lock. */
int eng_write_source(struct awc *c, uint32_t bi, char *bounce, void **at);

/* engine/latch.c */
/* A number for the calling thread, never 0 and never reused (the latches' owner, busy_by). */
uint32_t eng_thread_id(void);
int latch_acquire(struct buf *b, int mode);
void latch_release(struct buf *b);
/* Takes the latch shared if no writer holds it, without waiting. */
bool latch_try_shared(struct buf *b);
void buf_wait_unbusy(struct buf *b, uint32_t seen_wake);
/* Stores state s with BUSY clear and wakes whoever waits for the buffer. The buffer is BUSY and
 * the calling thread is the one that set it (busy_by): every path that takes a buffer BUSY gives
 * it back itself (asserted in debug builds). */
void buf_publish(struct buf *b, uint64_t s);
/* A wake word: a counter and a waiters bit (the system call happens only with waiters). */
void wake_word_bump(_Atomic uint32_t *w);
void wake_word_wait(_Atomic uint32_t *w, uint32_t seen);

/* The engine's own helpers carry eng_, never awc_: awc_* is the public API (awecache.h), the only
 * engine names libawecache.a and libawecache.so leave global (awe/CMakeLists.txt). */

/* Maps an AWE or platform error code to the engine's. */
int eng_err(int rc);

/* AWC_OK for an open cache, AWC_EINVAL for NULL, AWC_ECLOSED for a closed one. */
int eng_check(const struct awc *c);

/* Stores n * each in *bytes and returns true when the product fits a size_t; false when it does
 * not (in a 32-bit build a table sized from 64-bit counts may not fit the address space: the
 * caller answers AWC_ENOMEM rather than allocate a truncated size). */
static inline bool eng_size_mul(uint64_t n, uint64_t each, size_t *bytes)
{
    if (each != 0 && n > SIZE_MAX / each)
        return false;
    *bytes = (size_t)(n * each);
    return true;
}

#ifdef AWECACHE_AVX2_HASH
/* XXH3-64 of p[0..n) computed with AVX2 (hash_avx2.c); only where the processor has AVX2. */
uint64_t eng_xxh3_avx2(const void *p, size_t n);
#endif

#endif /* AWECACHE_ENGINE_INTERNAL_H */
