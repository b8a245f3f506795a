/*
 * engine/bt.h: the B+-tree's structures, shared by bt.c (the API: descents, put, delete,
 * cursors, flush, open), bt_node.c (the node layout on a page) and bt_walk.c (the whole-tree
 * walk: check, stats, free pages at open). engine/README.md section 11 is the design; section
 * numbers below point into it.
 *
 * The backing file is a page cache (awc_t) whose pages are used as follows (README 11.1):
 *
 *   page 0, page 1   two meta pages; the flush of generation g writes page g % 2
 *   pages 2 ..       nodes, and free pages
 *
 * A node (README 11.2), in the first C bytes of its page (C = node_bytes, the page size unless a
 * test asks for less):
 *
 *   0        40         40 + 4n                          lo                       C
 *   | header | slot[0..n) | free                          | cells (any order) ......|
 *
 *   header:  u32 magic "AWBN" | u8 kind (1 leaf, 2 inner) | u8 level (0 = leaf) | u16 0 |
 *            u32 n | u32 lo | u64 gen (the epoch that wrote the node, 11.5) | u64 child0 (inner:
 *            the leftmost child) | u32 cell bytes (live cells; dead ones lie between) | u32 0
 *   slot i:  u32 offset of cell i; cells are in key order through the slots
 *   leaf cell:  u16 key_len | u32 value_len | key | value
 *   inner cell: u64 child | u16 key_len | key   (cell i: separator key i, child i + 1)
 *
 * Integers are stored in the machine's byte order (little-endian on every supported target).
 */
#ifndef AWECACHE_ENGINE_BT_H
#define AWECACHE_ENGINE_BT_H

#include "awecache_bt.h"
#include "plat_sync.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- Nodes (README 11.2) ----------------------------------------------------------------- */

#define BT_META_PAGES 2u
#define BT_NODE_MAGIC 0x4e425741u /* "AWBN" */
#define BT_LEAF       1u
#define BT_INNER      2u
#define BT_HDR        40u
#define BT_SLOT       4u
#define BT_LEAF_CELL  6u  /* bytes of a leaf cell before its key */
#define BT_INNER_CELL 10u /* bytes of an inner cell before its key */
#define BT_MIN_NODE   512u

/* Bytes a leaf entry (cell and slot) takes. */
static inline uint32_t bt_leaf_size(size_t key_len, size_t value_len)
{
    return (uint32_t)(BT_SLOT + BT_LEAF_CELL + key_len + value_len);
}

/* Bytes an inner entry (cell and slot) takes. */
static inline uint32_t bt_inner_size(size_t key_len)
{
    return (uint32_t)(BT_SLOT + BT_INNER_CELL + key_len);
}

/* Header offsets (the diagram above). */
#define BT_H_MAGIC  0u
#define BT_H_KIND   4u
#define BT_H_LEVEL  5u
#define BT_H_N      8u
#define BT_H_LO     12u
#define BT_H_GEN    16u
#define BT_H_CHILD0 24u
#define BT_H_CELLS  32u

/* Unaligned loads of the node's integers (machine byte order). */
static inline uint16_t bt_ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint32_t bt_ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t bt_ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* The node accessors below are inline: every search step and every cursor step uses them
 * (README 11.2.5). */

/* Header fields. */
static inline uint32_t bt_n(const uint8_t *node)
{
    return bt_ld32(node + BT_H_N);
}

static inline uint32_t bt_level(const uint8_t *node)
{
    return node[BT_H_LEVEL];
}

static inline bool bt_is_leaf(const uint8_t *node)
{
    return node[BT_H_KIND] == BT_LEAF;
}

/* The offset of cell i (slot i). */
static inline uint32_t bt_slot(const uint8_t *node, uint32_t i)
{
    return bt_ld32(node + BT_HDR + (size_t)i * BT_SLOT);
}

/* Key i (0 <= i < n) of a leaf (bt_leaf_key_at), an inner node (bt_inner_key_at) or either. */
static inline const uint8_t *bt_leaf_key_at(const uint8_t *node, uint32_t i, size_t *len)
{
    const uint8_t *c = node + bt_slot(node, i);

    *len = bt_ld16(c);
    return c + BT_LEAF_CELL;
}

static inline const uint8_t *bt_inner_key_at(const uint8_t *node, uint32_t i, size_t *len)
{
    const uint8_t *c = node + bt_slot(node, i);

    *len = bt_ld16(c + 8);
    return c + BT_INNER_CELL;
}

static inline const uint8_t *bt_key_at(const uint8_t *node, uint32_t i, size_t *len)
{
    return bt_is_leaf(node) ? bt_leaf_key_at(node, i, len) : bt_inner_key_at(node, i, len);
}

/* Value i of a leaf. */
static inline const uint8_t *bt_value_at(const uint8_t *node, uint32_t i, size_t *len)
{
    const uint8_t *c = node + bt_slot(node, i);

    assert(bt_is_leaf(node));
    *len = bt_ld32(c + 2);
    return c + BT_LEAF_CELL + bt_ld16(c);
}

/* Key and value i of a leaf, from one read of the slot and the cell (a cursor's step). */
static inline void bt_leaf_entry(const uint8_t *node, uint32_t i, const uint8_t **key,
                                 size_t *key_len, const uint8_t **value, size_t *value_len)
{
    const uint8_t *c = node + bt_slot(node, i);
    size_t klen = bt_ld16(c);

    *key = c + BT_LEAF_CELL;
    *key_len = klen;
    *value = c + BT_LEAF_CELL + klen;
    *value_len = bt_ld32(c + 2);
}

/* Child j (0 <= j <= n) of an inner node. */
static inline uint64_t bt_child(const uint8_t *node, uint32_t j)
{
    assert(!bt_is_leaf(node) && j <= bt_n(node));
    return j == 0 ? bt_ld64(node + BT_H_CHILD0) : bt_ld64(node + bt_slot(node, j - 1));
}

/* A key: bytes and length. len 0 with inf set is +infinity (after every key); len 0 without it
 * is the empty key (before every key). */
struct bt_key {
    const uint8_t *p;
    size_t len;
};

/* memcmp order, a shorter key first on a tie. */
int bt_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* The epoch that wrote the node. */
uint64_t bt_gen(const uint8_t *node);
void bt_set_gen(uint8_t *node, uint64_t gen);

/* Starts an empty node of `cap` bytes, of `kind` at `level`, written in epoch `gen`. */
void bt_node_init(uint8_t *node, uint32_t cap, unsigned kind, unsigned level, uint64_t gen);

/* Rewrites the node of `cap` bytes with its cells packed at the end (scratch: cap bytes), so
 * that all its free bytes are one gap. */
void bt_compact(uint8_t *node, uint32_t cap, uint8_t *scratch);

/* Copies node src (well formed, of `cap` bytes) into dst: the header, the slots and the cell
 * area; the gap between them is left as dst had it (README 11.2.5). */
void bt_copy_node(uint8_t *dst, const uint8_t *src, uint32_t cap);

/* Bytes free between the slots and the cells (what an insert can use without bt_compact). */
uint32_t bt_gap(const uint8_t *node);

/* Replaces child j (0 <= j <= n) of an inner node. */
void bt_set_child(uint8_t *node, uint32_t j, uint64_t child);

/* Bytes of the entry i (cell and slot). */
uint32_t bt_entry_size(const uint8_t *node, uint32_t i);

/* Bytes the node holds: header, slots, live cells. */
uint32_t bt_used(const uint8_t *node);

/* The first index whose key is >= key (leaf search; *found: equal). */
uint32_t bt_lower_bound(const uint8_t *node, const uint8_t *key, size_t len, bool *found);

/* The child of an inner node whose range holds key: the number of separators <= key. */
uint32_t bt_route(const uint8_t *node, const uint8_t *key, size_t len);

/* True when child j is the one bt_route gives for key (separator j - 1 <= key < separator j): two
 * compares, to check a guess (README 11.6.4). */
bool bt_routes_to(const uint8_t *node, const uint8_t *key, size_t len, uint32_t j);

/* Inserts a leaf entry at index i of a node of `cap` bytes; the caller made sure it fits
 * (bt_used + bt_leaf_size <= cap). */
void bt_leaf_insert(uint8_t *node, uint32_t cap, uint32_t i, const uint8_t *key, size_t key_len,
                    const uint8_t *value, size_t value_len);

/* Inserts separator `key` with right child `child` at index i of an inner node (the caller made
 * sure it fits). */
void bt_inner_insert(uint8_t *node, uint32_t cap, uint32_t i, const uint8_t *key, size_t key_len,
                     uint64_t child);

/* Removes entry i (a leaf's entry, or an inner node's separator i with child i + 1). */
void bt_remove(uint8_t *node, uint32_t i);

/* Copies entries [from, to) of src to the end of dst (same kind; the caller made sure they
 * fit). */
void bt_append(uint8_t *dst, uint32_t cap, const uint8_t *src, uint32_t from, uint32_t to);

/* Splits node `full` (of up to 2 * cap bytes, in a scratch buffer) into `left` and `right`
 * (fresh nodes of cap bytes, written in epoch gen); the separator that goes up is copied into
 * sep[0..AWC_BT_MAX_KEY) with its length in *sep_len. At about half its bytes with `at`
 * BT_SPLIT_MIDDLE; else `at` is the index of a new entry at the tree's edge (README 11.3.2): the
 * last entry goes alone to the right, or the first alone stays to the left, so that keys put in
 * increasing or decreasing order leave full nodes behind them. */
#define BT_SPLIT_MIDDLE UINT32_MAX
void bt_split(const uint8_t *full, uint8_t *left, uint8_t *right, uint32_t cap, uint64_t gen,
              uint32_t at, uint8_t *sep, size_t *sep_len);

/* True when the node's keys are strictly increasing (bt_node_valid's step 3; a leaf split checks
 * it again, README 11.2.4). The node must be well formed. */
bool bt_keys_ascending(const uint8_t *node);

/* 0 when the node is well formed for a node of `cap` bytes at `level` (a negative level: any),
 * else AWC_EBADFILE (README 11.2.4). Checks the header, every slot and every cell's bounds, and
 * every entry's size (at most max_item), and the key order. bt_node_header_valid
 * checks the header alone (step 1). */
int bt_node_valid(const uint8_t *node, uint32_t cap, int level);
int bt_node_header_valid(const uint8_t *node, uint32_t cap, int level);

/* ---- The tree (README 11.1) -------------------------------------------------------------- */

/* A leaf page held by references or about to be pinned exclusively by a writer that holds its
 * parent shared (README 11.4.5): never both at once. */
struct bt_mark {
    uint64_t page;
    uint32_t refs;    /* references holding it (each a shared pin) */
    uint32_t writers; /* optimistic writers pinning it exclusively, or holding it so */
};

/* The pages whose cells bt_node_valid has checked since the open (README 11.2.4): a bit per
 * page in chunks of 2^BT_CHECKED_SHIFT pages, made on first use; pages past the last chunk are
 * checked at every pin. */
#define BT_CHECKED_SHIFT  19u
#define BT_CHECKED_CHUNKS 4096u
typedef _Atomic uint64_t bt_word_t;

/* The epoch lock's reader counts (README 11.4.1): a thread counts itself in one of these, each
 * on its own cache line, so that readers of different threads do not write one word. A slot's
 * count may wrap (a reference released by another thread than took it): their sum is what
 * counts. The same line holds the slot's references (README 11.4.5): their number, and up to
 * BT_SLOT_REFS of their leaves' pages (0: a free place), so that a reference writes only its
 * own thread's line. */
#define BT_EL_SLOTS  16u
#define BT_SLOT_REFS 2u
/* README 11.4.6: a reader slot's copies of nodes one level above the leaves, a place per page
 * number modulo `n`, each tagged with the shape it was copied at; used like the root's copy, by
 * the slot's copy_busy holder. */
struct bt_inner_copies {
    uint32_t n;          /* places: a power of two */
    uint32_t stable;     /* descents in a row that found the shape at last_shape (saturating) */
    uint64_t last_shape; /* the shape the last descent found */
    uint64_t *page;      /* n: the page copied in each place (0: none) */
    uint64_t *shape;     /* n: the shape it was copied at */
    uint8_t *node;       /* n * cap bytes, made on the first copy */
};

struct bt_el_slot {
    _Alignas(64) _Atomic uint32_t readers; /* the struct is one line, 32-bit builds too */
    /* The slot's copy of the root (README 11.4.6), used and refreshed by one thread at a time
     * (copy_busy, taken by an exchange; a thread that finds it taken descends from the root). */
    _Atomic uint32_t copy_busy;
    _Atomic uint32_t refs; /* live references taken by this slot's threads (their sum: 11.4.5) */
    bool copy_valid;
    uint64_t copy_shape, copy_page;          /* the shape when copied, and the root's page */
    uint8_t *copy;                           /* cap bytes, made on first use */
    struct bt_inner_copies *inner;           /* copies one level above the leaves (11.4.6) */
    _Atomic uint64_t ref_page[BT_SLOT_REFS]; /* leaves the slot's references hold (11.4.5) */
};
_Static_assert(sizeof(struct bt_el_slot) == 64, "a reader slot is one cache line");

#define BT_MAGIC UINT64_C(0x45455254425f4341) /* "AC_BTREE" */
#define BT_DEAD  UINT64_C(0x444145445f544241)

struct awc_bt {
    uint64_t magic;              /* BT_MAGIC while open, BT_DEAD once closed */
    awc_t *cache;                /* the page cache */
    uint32_t cap;                /* node bytes */
    uint32_t max_item;           /* AWC_BT_MAX_ITEM(cap) */
    size_t page_size;            /* the cache's */
    bool readonly;               /* opened with AWC_READONLY */
    _Atomic uint64_t root;       /* the root's page; changes only under its exclusive pin */
    _Atomic uint32_t height;     /* levels; changes only under the root's exclusive pin */
    _Atomic uint64_t epoch;      /* gen of nodes written now: the durable generation + 1 */
    _Atomic uint32_t epoch_lock; /* README 11.4.1: BT_EL_WAIT | BT_EL_WRITER | a change count */
    _Atomic uint64_t shape;      /* bumped when a page leaves the tree and when a leaf splits: while
                                  * it stays, a leaf keeps its page and its key range (README 11.6.2) */
    _Atomic uint32_t writer_marks; /* writers' marks in `marks` (README 11.4.5) */
    /* The fields above are read by every call; those below are written by writes, cursors and
     * flushes. Apart, so that lookups of two threads do not pass a line between them. */
    char read_mostly_end[64];
    _Atomic uint64_t count; /* keys */
    _Atomic bool changed;   /* a put or delete since the last flush */
    _Atomic uint64_t splits, merges, copies;
    _Atomic uint64_t writes_begun, writes_done; /* puts and deletes begun, ended (11.6.3) */
    _Atomic uint64_t cursors;                   /* open cursors */
    plat_mutex_t fmu;                           /* flushes and closes, one at a time */
    plat_mutex_t amu;                           /* the page allocator below (README 11.5.3) */
    _Atomic uint64_t pages; /* pages [0, pages) are the tree's (the high-water mark) */
    uint64_t *free;         /* free pages (a stack) */
    size_t nfree, free_cap;
    uint64_t *pending; /* pages freed in this epoch: free after the next flush */
    size_t npending, pending_cap;
    plat_mutex_t rmu;           /* the marks below (README 11.4.5) */
    struct bt_mark *marks;      /* leaves being written in place, and references that found no
                                 * place in their reader slot (README 11.4.5); a short list */
    size_t nmarks, marks_cap;   /* (entries live only while their pins are held) */
    uint32_t mark_waiters;      /* get_ref calls waiting for a writer's mark to go (under rmu) */
    _Atomic uint32_t mark_seq;  /* bumped when a writer's mark goes and someone waits */
    struct awc_bt *next_closed; /* closed handles stay reachable (awecache.h) */
    /* Made at open and freed at close (the handle itself stays, so it must stay small): */
    _Atomic(bt_word_t *) *checked; /* BT_CHECKED_CHUNKS chunks' pointers (README 11.2.4) */
    struct bt_el_slot *el_slots;   /* BT_EL_SLOTS: the epoch lock's readers (11.4.1) */
};

/* The epoch lock's word (README 11.4.1). */
#define BT_EL_WRITER 0x80000000u
#define BT_EL_WAIT   0x40000000u
#define BT_EL_COUNT  0x3fffffffu /* bumped by a reader that leaves while a writer waits */

/* Takes and drops the epoch lock shared (every call that pins a node) or exclusively (flush,
 * check, stats; the caller holds fmu). */
void bt_epoch_enter(struct awc_bt *bt);
void bt_epoch_exit(struct awc_bt *bt);
void bt_epoch_lock(struct awc_bt *bt);
void bt_epoch_unlock(struct awc_bt *bt);

/* AWC_OK for an open handle, AWC_EINVAL for NULL, AWC_ECLOSED for a closed one. */
int bt_check_handle(const struct awc_bt *bt);

/* AWC_EDEADLK when this thread holds references into any tree (README 11.4.5). */
int bt_check_no_refs(void);

/* Grows list *v (of *cap entries) to hold n entries. Errors: AWC_ENOMEM. */
int bt_reserve(uint64_t **v, size_t *cap, size_t n);

/* Pins node `page` in `mode` and checks that it is a well-formed node at `level` (negative: any);
 * a malformed node is unpinned and AWC_EBADFILE. */
int bt_pin_node(struct awc_bt *bt, uint64_t page, int mode, int level, uint8_t **node);

/* The live references (awc_bt_get_ref), summed over the reader slots (README 11.4.5). */
uint32_t bt_refs_live(struct awc_bt *bt);

/* Frees the record of checked pages (awc_bt.checked) and the root's copies (el_slots), at
 * close. */
void bt_free_caches(struct awc_bt *bt);

/* ---- The whole-tree walk (README 11.7) --------------------------------------------------- */

struct bt_walk {
    /* Inputs. */
    bool check;     /* check order, bounds and fill (else only count and collect) */
    bool leaves;    /* read the leaves too (check and stats; open's walk does not) */
    uint8_t *seen;  /* NULL, or a bitmap of bt->pages bits: pages reached (set by the walk) */
    uint64_t nbits; /* bits in seen */
    char *msg;      /* where the first fault is described */
    size_t msg_len; /* its size */
    /* Outputs. */
    uint64_t keys;                        /* keys in the leaves */
    uint64_t by_level[AWC_BT_MAX_HEIGHT]; /* nodes per level */
    uint64_t used_by_kind[3];             /* bytes used, per kind */
};

/* Walks the tree from its root depth first (shared pins, one path at a time) and fills *w.
 * Returns AWC_OK, AWC_EBADFILE (a fault, described in w->msg), or a pin's error. The caller
 * holds the epoch lock (any mode) or has the tree to itself. */
int bt_walk(struct awc_bt *bt, struct bt_walk *w);

#endif /* AWECACHE_ENGINE_BT_H */
