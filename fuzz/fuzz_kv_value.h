/*
 * fuzz/fuzz_kv_value.h: the key-value harnesses' keys and self-describing values.
 *
 * Key `id` is "key-<id>" (ids below FUZZ_KV_NEVER are put by the harnesses; from it on, never).
 * A value of key `id`, version `v`, `len` bytes (len >= FUZZ_KV_VHDR): id, v and len as 32-bit
 * words, a check word, then bytes of fuzz_mix64; so a value read back says which put made it.
 */
#ifndef AWECACHE_FUZZ_KV_VALUE_H
#define AWECACHE_FUZZ_KV_VALUE_H

#include "fuzz_util.h"

#include <stdio.h>
#include <string.h>

#define FUZZ_KV_VHDR  16u
#define FUZZ_KV_NEVER 1000u

static inline size_t fuzz_kv_key(uint32_t id, char *buf)
{
    return (size_t)snprintf(buf, 16, "key-%u", (unsigned)id);
}

static inline void fuzz_kv_value(uint32_t id, uint32_t v, size_t len, uint8_t *b)
{
    uint32_t w[4] = {id, v, (uint32_t)len, (uint32_t)fuzz_mix64((uint64_t)id << 40 ^ v)};

    memcpy(b, w, FUZZ_KV_VHDR);
    for (size_t i = FUZZ_KV_VHDR; i < len; i++)
        b[i] = (uint8_t)(fuzz_mix64((uint64_t)id << 40 ^ (uint64_t)v << 20 ^ i / 8) >> (i % 8 * 8));
}

/* True when b[0..len) is exactly a value fuzz_kv_value made for key id; *v gets its version. */
static inline bool fuzz_kv_value_ok(const uint8_t *b, size_t len, uint32_t id, uint32_t *v)
{
    static uint8_t want[64 * 1024];
    uint32_t w[4];

    if (len < FUZZ_KV_VHDR || len > sizeof(want))
        return false;
    memcpy(w, b, FUZZ_KV_VHDR);
    if (w[0] != id || w[2] != len)
        return false;
    fuzz_kv_value(id, w[1], len, want);
    *v = w[1];
    return memcmp(b, want, len) == 0;
}

#endif /* AWECACHE_FUZZ_KV_VALUE_H */
