/*
 * engine/hash_avx2.c: XXH3-64 with AVX2, for the page checksums (README 5.2). CMake compiles
 * this file alone with -mavx2 on x86 (and defines AWECACHE_AVX2_HASH for the engine); file.c
 * calls it only when the processor says it has AVX2. XXH3's value does not depend on the code
 * that computes it: the SSE2 build of xxhash.h (the x86-64 baseline) and this one agree, so a
 * file written on one machine verifies on any other.
 */
#include "internal.h"

#ifdef AWECACHE_AVX2_HASH
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

uint64_t eng_xxh3_avx2(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}
#else
typedef int eng_no_avx2_hash; /* (an empty translation unit is not ISO C) */
#endif
