/*
 * engine/bt_node.c: the B+-tree's node layout on a page (README 11.2, bt.h's diagram): reading
 * keys, values and children, searching, inserting, removing, compacting, splitting, and the
 * well-formedness check every pin of a node makes. Nothing here pins or locks: the caller holds
 * the node's page pinned, exclusively for every change.
 */
#include "bt.h"

#include <assert.h>
#include <string.h>

/* Header offsets (bt.h). */
#define H_MAGIC  BT_H_MAGIC
#define H_KIND   BT_H_KIND
#define H_LEVEL  BT_H_LEVEL
#define H_N      BT_H_N
#define H_LO     BT_H_LO
#define H_GEN    BT_H_GEN
#define H_CHILD0 BT_H_CHILD0
#define H_CELLS  BT_H_CELLS

#define ld16    bt_ld16
#define ld32    bt_ld32
#define ld64    bt_ld64
#define slot    bt_slot
#define is_leaf bt_is_leaf

static void st16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void st32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void st64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

/* The index of the first byte that differs between the eight at a and the eight at b, which
 * differ (x and y: those bytes as loaded). */
static inline size_t first_diff(const uint8_t *a, const uint8_t *b, uint64_t x, uint64_t y)
{
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) &&                        \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (void)a;
    (void)b;
    return (size_t)__builtin_ctzll(x ^ y) / 8; /* the lowest byte comes first in memory */
#else
    size_t i = 0;

    (void)x;
    (void)y;
    while (a[i] == b[i])
        i++;
    return i;
#endif
}

/* README 11.2.5: compares a[0..alen) with b[0..blen) from byte `from` on (the bytes before it are
 * known to be equal), eight bytes at a time, then byte by byte; *same is where they first
 * differ (or the shorter length). Reads nothing outside either key, whatever `from` is (a node out
 * of order breaks the premise, and then only the answer). */
static inline int cmp_from(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                           size_t from, size_t *same)
{
    size_t n = alen < blen ? alen : blen, i = from;
    uint64_t x, y;

    for (; i + 8 <= n; i += 8) {
        x = bt_ld64(a + i);
        y = bt_ld64(b + i);
        if (x != y)
            goto differ;
    }
    while (i < n && a[i] == b[i])
        i++;
    *same = i;
    if (i < n)
        return a[i] < b[i] ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
differ:
    i += first_diff(a + i, b + i, x, y);
    *same = i;
    return a[i] < b[i] ? -1 : 1;
}

int bt_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t same;

    return cmp_from(a, alen, b, blen, 0, &same);
}

uint64_t bt_gen(const uint8_t *node)
{
    return ld64(node + H_GEN);
}

void bt_set_gen(uint8_t *node, uint64_t gen)
{
    st64(node + H_GEN, gen);
}

void bt_node_init(uint8_t *node, uint32_t cap, unsigned kind, unsigned level, uint64_t gen)
{
    memset(node, 0, BT_HDR);
    st32(node + H_MAGIC, BT_NODE_MAGIC);
    node[H_KIND] = (uint8_t)kind;
    node[H_LEVEL] = (uint8_t)level;
    st32(node + H_LO, cap);
    st64(node + H_GEN, gen);
}

void bt_set_child(uint8_t *node, uint32_t j, uint64_t child)
{
    assert(!is_leaf(node) && j <= bt_n(node));
    st64(j == 0 ? node + H_CHILD0 : node + slot(node, j - 1), child);
}

uint32_t bt_entry_size(const uint8_t *node, uint32_t i)
{
    const uint8_t *c = node + slot(node, i);

    if (is_leaf(node))
        return bt_leaf_size(ld16(c), ld32(c + 2));
    return bt_inner_size(ld16(c + 8));
}

uint32_t bt_used(const uint8_t *node)
{
    return BT_HDR + bt_n(node) * BT_SLOT + ld32(node + H_CELLS);
}

uint32_t bt_gap(const uint8_t *node)
{
    return ld32(node + H_LO) - BT_HDR - bt_n(node) * BT_SLOT;
}

/* README 11.2.5: a binary search that remembers how many leading bytes the search key shares
 * with the keys bounding the range left (lo - 1 below it, hi at or above it); every key between
 * them shares the smaller count, so each compare starts there. `leaf` is a constant where it is
 * inlined, so that the key's place in the cell is too. */
static inline uint32_t search(const uint8_t *node, const uint8_t *key, size_t len, bool *found,
                              bool leaf)
{
    uint32_t lo = 0, hi = bt_n(node);
    size_t same_lo = 0, same_hi = 0;

    *found = false;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        size_t klen, same;
        const uint8_t *k =
            leaf ? bt_leaf_key_at(node, mid, &klen) : bt_inner_key_at(node, mid, &klen);
        int c = cmp_from(k, klen, key, len, same_lo < same_hi ? same_lo : same_hi, &same);

        if (c < 0) {
            lo = mid + 1;
            same_lo = same;
        } else {
            if (c == 0)
                *found = true;
            hi = mid;
            same_hi = same;
        }
    }
    return lo;
}

uint32_t bt_lower_bound(const uint8_t *node, const uint8_t *key, size_t len, bool *found)
{
    return is_leaf(node) ? search(node, key, len, found, true)
                         : search(node, key, len, found, false);
}

uint32_t bt_route(const uint8_t *node, const uint8_t *key, size_t len)
{
    bool found;
    uint32_t i = bt_lower_bound(node, key, len, &found);

    return found ? i + 1 : i; /* separators are unique: at most one equals key */
}

bool bt_routes_to(const uint8_t *node, const uint8_t *key, size_t len, uint32_t j)
{
    uint32_t n = bt_n(node);
    size_t klen;
    const uint8_t *k;

    assert(!is_leaf(node));
    if (j > n)
        return false;
    if (j < n) {
        k = bt_inner_key_at(node, j, &klen);
        if (bt_cmp(k, klen, key, len) <= 0)
            return false;
    }
    if (j > 0) {
        k = bt_inner_key_at(node, j - 1, &klen);
        if (bt_cmp(k, klen, key, len) > 0)
            return false;
    }
    return true;
}

/* Makes room for a slot at index i and a cell of `bytes` bytes (the gap holds both); returns
 * the cell's offset. */
static uint32_t open_entry(uint8_t *node, uint32_t i, uint32_t bytes)
{
    uint32_t n = bt_n(node), lo = ld32(node + H_LO) - bytes;
    uint8_t *s = node + BT_HDR + (size_t)i * BT_SLOT;

    assert(bt_gap(node) >= bytes + BT_SLOT && i <= n);
    memmove(s + BT_SLOT, s, (size_t)(n - i) * BT_SLOT);
    st32(s, lo);
    st32(node + H_N, n + 1);
    st32(node + H_LO, lo);
    st32(node + H_CELLS, ld32(node + H_CELLS) + bytes);
    return lo;
}

void bt_leaf_insert(uint8_t *node, uint32_t cap, uint32_t i, const uint8_t *key, size_t key_len,
                    const uint8_t *value, size_t value_len)
{
    uint32_t bytes = bt_leaf_size(key_len, value_len) - BT_SLOT;
    uint8_t *c;

    (void)cap;
    assert(is_leaf(node) && bt_used(node) + bytes + BT_SLOT <= cap);
    c = node + open_entry(node, i, bytes);
    st16(c, (uint16_t)key_len);
    st32(c + 2, (uint32_t)value_len);
    memcpy(c + BT_LEAF_CELL, key, key_len);
    if (value_len > 0)
        memcpy(c + BT_LEAF_CELL + key_len, value, value_len);
}

void bt_inner_insert(uint8_t *node, uint32_t cap, uint32_t i, const uint8_t *key, size_t key_len,
                     uint64_t child)
{
    uint32_t bytes = bt_inner_size(key_len) - BT_SLOT;
    uint8_t *c;

    (void)cap;
    assert(!is_leaf(node) && bt_used(node) + bytes + BT_SLOT <= cap);
    c = node + open_entry(node, i, bytes);
    st64(c, child);
    st16(c + 8, (uint16_t)key_len);
    memcpy(c + BT_INNER_CELL, key, key_len);
}

void bt_remove(uint8_t *node, uint32_t i)
{
    uint32_t n = bt_n(node), bytes = bt_entry_size(node, i) - BT_SLOT;
    uint8_t *s = node + BT_HDR + (size_t)i * BT_SLOT;

    assert(i < n);
    memmove(s, s + BT_SLOT, (size_t)(n - i - 1) * BT_SLOT);
    st32(node + H_N, n - 1);
    st32(node + H_CELLS, ld32(node + H_CELLS) - bytes);
}

void bt_append(uint8_t *dst, uint32_t cap, const uint8_t *src, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++) {
        uint32_t bytes = bt_entry_size(src, i) - BT_SLOT;
        uint32_t off;

        (void)cap;
        assert(bt_used(dst) + bytes + BT_SLOT <= cap && bt_gap(dst) >= bytes + BT_SLOT);
        off = open_entry(dst, bt_n(dst), bytes);
        memcpy(dst + off, src + slot(src, i), bytes);
    }
}

void bt_copy_node(uint8_t *dst, const uint8_t *src, uint32_t cap)
{
    uint32_t head = BT_HDR + bt_n(src) * BT_SLOT, lo = ld32(src + H_LO);

    assert(head <= lo && lo <= cap);
    memcpy(dst, src, head);
    memcpy(dst + lo, src + lo, cap - lo);
}

void bt_compact(uint8_t *node, uint32_t cap, uint8_t *scratch)
{
    memcpy(scratch, node, cap);
    bt_node_init(node, cap, scratch[H_KIND], scratch[H_LEVEL], bt_gen(scratch));
    st64(node + H_CHILD0, ld64(scratch + H_CHILD0));
    bt_append(node, cap, scratch, 0, bt_n(scratch));
}

/* The split index of node `full` (README 11.3.2): past its last entry but one when the new
 * edge entry `at` is its last, past its first when it is its first, else the first entry past
 * half its entries' bytes; kept so that each side has an entry (an inner node: a separator each,
 * besides the one that goes up). */
static uint32_t split_point(const uint8_t *full, uint32_t at)
{
    uint32_t n = bt_n(full), total = bt_used(full) - BT_HDR, acc = 0, m = 0;
    uint32_t lo = 1, hi = is_leaf(full) ? n - 1 : n - 2;

    if (at == n - 1)
        m = n - 1;
    else if (at == 0)
        m = 1;
    else
        while (m < n && acc < total / 2)
            acc += bt_entry_size(full, m++);
    return m < lo ? lo : m > hi ? hi : m;
}

void bt_split(const uint8_t *full, uint8_t *left, uint8_t *right, uint32_t cap, uint64_t gen,
              uint32_t at, uint8_t *sep, size_t *sep_len)
{
    uint32_t n = bt_n(full), m;
    unsigned kind = full[H_KIND], level = full[H_LEVEL];
    size_t alen, blen, lcp = 0;
    const uint8_t *a, *b;

    assert(n >= (kind == BT_LEAF ? 2u : 3u));
    m = split_point(full, at);
    bt_node_init(left, cap, kind, level, gen);
    bt_node_init(right, cap, kind, level, gen);
    if (kind == BT_LEAF) {
        /* Step 1 (leaf): [0, m) left, [m, n) right; the separator is the shortest prefix of
         * key m greater than key m - 1 (README 11.3.2). */
        bt_append(left, cap, full, 0, m);
        bt_append(right, cap, full, m, n);
        a = bt_key_at(full, m - 1, &alen);
        b = bt_key_at(full, m, &blen);
        while (lcp < alen && lcp < blen && a[lcp] == b[lcp])
            lcp++;
        assert(lcp < blen);
        *sep_len = lcp + 1;
        memcpy(sep, b, *sep_len);
        return;
    }
    /* Step 2 (inner): [0, m) left, separator m goes up, its child starts the right node, which
     * takes (m, n). */
    st64(left + H_CHILD0, ld64(full + H_CHILD0));
    bt_append(left, cap, full, 0, m);
    st64(right + H_CHILD0, bt_child(full, m + 1));
    bt_append(right, cap, full, m + 1, n);
    b = bt_key_at(full, m, &blen);
    *sep_len = blen;
    memcpy(sep, b, blen);
}

bool bt_keys_ascending(const uint8_t *node)
{
    size_t plen, klen;
    const uint8_t *prev = bt_n(node) > 0 ? bt_key_at(node, 0, &plen) : NULL;

    for (uint32_t i = 1; i < bt_n(node); i++) {
        const uint8_t *k = bt_key_at(node, i, &klen);

        if (bt_cmp(prev, plen, k, klen) >= 0)
            return false;
        prev = k;
        plen = klen;
    }
    return true;
}

int bt_node_header_valid(const uint8_t *node, uint32_t cap, int level)
{
    uint32_t n = bt_n(node), lo = ld32(node + H_LO), cells = ld32(node + H_CELLS);
    bool leaf = is_leaf(node);
    uint32_t head = leaf ? BT_LEAF_CELL : BT_INNER_CELL;

    if (ld32(node + H_MAGIC) != BT_NODE_MAGIC || (!leaf && node[H_KIND] != BT_INNER))
        return AWC_EBADFILE;
    if (leaf != (node[H_LEVEL] == 0) || (level >= 0 && node[H_LEVEL] != (unsigned)level) ||
        node[H_LEVEL] >= AWC_BT_MAX_HEIGHT)
        return AWC_EBADFILE;
    if (n > (cap - BT_HDR) / (BT_SLOT + head + 1) || lo > cap || lo < BT_HDR + n * BT_SLOT ||
        cells > cap - lo)
        return AWC_EBADFILE;
    return AWC_OK;
}

int bt_node_valid(const uint8_t *node, uint32_t cap, int level)
{
    uint32_t n = bt_n(node), lo = ld32(node + H_LO), cells = ld32(node + H_CELLS);
    uint64_t sum = 0;
    bool leaf = is_leaf(node);
    uint32_t head = leaf ? BT_LEAF_CELL : BT_INNER_CELL, max_item = AWC_BT_MAX_ITEM(cap);

    /* Step 1: the header. */
    if (bt_node_header_valid(node, cap, level) != AWC_OK)
        return AWC_EBADFILE;
    /* Step 2: every cell inside the cell area, with a key of 1 to AWC_BT_MAX_KEY bytes, and a
     * key and value (an inner node: a separator, a prefix of a key) of at most max_item bytes:
     * no put makes a larger one, and a split relies on the bound (README 11.2.3; a larger entry
     * would overflow a half: found by fuzz/fuzz_bt_raw). */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t off = slot(node, i), klen;
        uint64_t item, bytes;

        if (off < lo || off > cap - head)
            return AWC_EBADFILE;
        klen = ld16(node + off + (leaf ? 0 : 8));
        if (klen == 0 || klen > AWC_BT_MAX_KEY)
            return AWC_EBADFILE;
        item = (uint64_t)klen + (leaf ? ld32(node + off + 2) : 0);
        bytes = head + item;
        if (item > max_item || bytes > cap - off)
            return AWC_EBADFILE;
        sum += bytes;
    }
    if (sum != cells)
        return AWC_EBADFILE;
    /* Step 3: the keys strictly increasing (README 11.2.4). */
    return bt_keys_ascending(node) ? AWC_OK : AWC_EBADFILE;
}
