/*
 * fuzz/fuzz_bt_tree.h: what the B+-tree harnesses (fuzz_bt_file, fuzz_bt_raw) share: their keys
 * and values, the valid tree each makes once per process, and the models of what it holds.
 *
 * Key `id` is "bt-<id>" with five digits, so that the keys' order (memcmp) is the ids' order;
 * ids below FUZZ_BT_KEYS are put by the harnesses, from it on never. The value of key `id` at
 * version `v` is fuzz_kv_value's self-describing bytes (fuzz_kv_value.h), of a length drawn from
 * (id, v), so that a value read back says which put made it.
 *
 * The valid tree: 4 KiB pages with 512-byte nodes (engine/README.md 11.1.2), so that 300 keys
 * make a tree three levels deep (about 50 leaves, 150 pages: small enough that an input runs in
 * tens of milliseconds). Three flushed phases: all keys put; overwrites and deletes; more of
 * them and a run of deletes (merges), then the close. The models are the trees of the last two
 * flushes: a damaged newer meta page makes open take the older one (README 11.1.1), whose pages
 * nothing wrote since (11.5.3).
 */
#ifndef AWECACHE_FUZZ_BT_TREE_H
#define AWECACHE_FUZZ_BT_TREE_H

#include "awecache_bt.h"
#include "fuzz_kv_value.h"

#define FUZZ_BT_PAGE 4096u
#define FUZZ_BT_NODE 512u
#define FUZZ_BT_KEYS 300u
#define FUZZ_BT_KEY  16u /* bytes a key buffer needs */
#define FUZZ_BT_VMAX 96u /* the longest value the harnesses put (at most max_item - key) */

/* The valid tree, made by fuzz_bt_make_valid. */
struct fuzz_bt_valid {
    uint8_t *bytes; /* the closed file */
    size_t len;
    struct awc_file_info layout; /* its page-cache layout (awc_get_file_info) */
    /* The models: [0] the tree of the next-to-last flush, [1] of the close; each key's version
     * there (0: not in the tree). */
    uint32_t version[2][FUZZ_BT_KEYS];
    uint64_t gen[2];       /* their generations */
    uint64_t count[2];     /* their key counts */
    uint64_t file_pages;   /* pages the tree has used, meta pages too */
    uint32_t height;       /* of the last tree */
    const char *work_path; /* the scratch file each input's copy goes to */
};

/* The configuration the harnesses open with (AWC_NO_DIRECT | flags). */
struct awc_bt_config fuzz_bt_config(const char *path, unsigned flags);

/* Key id's bytes into buf[0..FUZZ_BT_KEY); returns the length. */
size_t fuzz_bt_key(uint32_t id, char *buf);

/* Parses a key read back: its id, or false when it is not a key fuzz_bt_key makes. */
bool fuzz_bt_key_id(const void *key, size_t len, uint32_t *id);

/* The value of key id at version v (v > 0) into b[0..FUZZ_BT_VMAX); returns its length. */
size_t fuzz_bt_value(uint32_t id, uint32_t v, uint8_t *b);

/* True when b[0..len) is exactly the value of key id at version v. */
bool fuzz_bt_value_is(const void *b, size_t len, uint32_t id, uint32_t v);

/* Makes the valid tree in a scratch file (fuzz_path("valid.bt")) and fills *v; aborts with
 * fuzz_fail when any step fails. */
void fuzz_bt_make_valid(struct fuzz_bt_valid *v);

/* Writes to v->work_path a copy of the valid file damaged by the operations `in` holds
 * (fuzz_damage: op 7's writes go to logical[0..*nlogical) when logical is not NULL). */
void fuzz_bt_write_damaged(const struct fuzz_bt_valid *v, struct fuzz_in *in,
                           struct fuzz_logical *logical, size_t *nlogical);

/* Opens v->work_path (fuzz_bt_config(v->work_path, flags)). Returns NULL when awc_bt_open fails
 * with a code it documents for a damaged file (AWC_EBADFILE, AWC_ECHECKSUM, AWC_EINVAL, AWC_EIO,
 * AWC_ENOMEM); any other code is a failure (fuzz_fail). */
awc_bt_t *fuzz_bt_open_damaged(const struct fuzz_bt_valid *v, unsigned flags);

#endif /* AWECACHE_FUZZ_BT_TREE_H */
