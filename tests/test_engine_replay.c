/*
 * tests/test_engine_replay.c: replaying a real trace with AWC_CLOCK_COMPAT counts exactly the
 * misses of libCacheSim's Clock.
 *
 * The trace is ../shared/traces/cloudPhysicsIO.txt from the project root (one page number per
 * line; 113,872 requests; its README says how libCacheSim counts). Without it the test is
 * skipped (exit 77, with the reason). For frame budgets of 100, 1000, 5000 and 20000 pages of
 * 4 KiB (window: min(frames, 256) slots; a fresh, empty and so sparse file), every request is a
 * shared pin and an unpin, and the cache's `misses` must equal, miss for miss, those of a
 * reference Clock written here from the README's rules:
 *   1. unit-size objects: a cache of N holds N distinct ids; every request counts;
 *   2. one reference bit per object; a new object enters with the bit clear; a hit sets it;
 *   3. slots fill in arrival order with the hand at slot 0;
 *   4. a miss with the cache full sweeps from the hand, clearing set bits and advancing, and
 *      replaces the first slot whose bit is clear; the hand then moves one past that slot.
 * The miss ratios are printed.
 */
#include "engine_util.h"
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef AWC_PROJECT_SOURCE_DIR
#error "AWC_PROJECT_SOURCE_DIR must be defined"
#endif

#define TRACE_REL      "/../shared/traces/cloudPhysicsIO.txt"
#define TRACE_REQUESTS 113872u /* as the trace's README says */
#define TRACE_DISTINCT 48974u

static uint64_t *trace; /* the page numbers, in order */
static uint32_t *dense; /* each request's id, renumbered 0..ndistinct */
static size_t nreq, ndistinct;

/* ---- Loading the trace ------------------------------------------------------------------- */

/* An insert-only open-addressing map from page number to dense id. */
struct idmap {
    uint64_t *keys; /* page + 1; 0 empty */
    uint32_t *vals;
    size_t mask;
};

static uint32_t idmap_get(struct idmap *m, uint64_t key, size_t *next)
{
    size_t i = (size_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & m->mask;

    for (;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key + 1)
            return m->vals[i];
        if (m->keys[i] == 0) {
            m->keys[i] = key + 1;
            m->vals[i] = (uint32_t)(*next)++;
            return m->vals[i];
        }
    }
}

/* Reads the trace; false (with the reason printed) when it is not there. */
static bool load_trace(const char *file)
{
    FILE *f = fopen(file, "r");
    size_t cap = 1 << 17;
    unsigned long long v;
    struct idmap m;

    if (f == NULL) {
        printf("skipped: the trace %s cannot be read\n", file);
        return false;
    }
    trace = malloc(cap * sizeof(*trace));
    assert_non_null(trace);
    while (fscanf(f, "%llu", &v) == 1) {
        if (nreq == cap) {
            cap *= 2;
            trace = realloc(trace, cap * sizeof(*trace));
            assert_non_null(trace);
        }
        trace[nreq++] = v;
    }
    assert_true(feof(f)); /* nothing but numbers in it */
    fclose(f);

    m.mask = (1u << 18) - 1;
    m.keys = calloc(m.mask + 1, sizeof(*m.keys));
    m.vals = calloc(m.mask + 1, sizeof(*m.vals));
    dense = malloc(nreq * sizeof(*dense));
    assert_non_null(m.keys);
    assert_non_null(m.vals);
    assert_non_null(dense);
    for (size_t i = 0; i < nreq; i++) {
        dense[i] = idmap_get(&m, trace[i], &ndistinct);
        assert_true(ndistinct < m.mask / 2);
    }
    free(m.keys);
    free(m.vals);
    return true;
}

/* ---- The reference Clock (the README's rules, steps in the file comment) ------------------ */

static uint64_t reference_clock_misses(size_t cap)
{
    uint32_t *slot_id = malloc(cap * sizeof(*slot_id));
    uint8_t *bit = calloc(cap, 1);
    int32_t *where = malloc(ndistinct * sizeof(*where));
    size_t used = 0, hand = 0;
    uint64_t misses = 0;

    assert_non_null(slot_id);
    assert_non_null(bit);
    assert_non_null(where);
    for (size_t d = 0; d < ndistinct; d++)
        where[d] = -1;
    for (size_t i = 0; i < nreq; i++) {
        uint32_t id = dense[i];
        size_t s;

        if (where[id] >= 0) { /* step 2: a hit sets the bit */
            bit[where[id]] = 1;
            continue;
        }
        misses++;
        if (used < cap) { /* step 3: fill in arrival order, the hand stays at 0 */
            s = used++;
        } else { /* step 4: sweep, clearing set bits; take the first clear one */
            while (bit[hand]) {
                bit[hand] = 0;
                hand = hand + 1 == cap ? 0 : hand + 1;
            }
            s = hand;
            where[slot_id[s]] = -1;
            hand = hand + 1 == cap ? 0 : hand + 1;
        }
        slot_id[s] = id;
        bit[s] = 0; /* step 2: a new object enters with its bit clear */
        where[id] = (int32_t)s;
    }
    free(slot_id);
    free(bit);
    free(where);
    return misses;
}

/* ---- The replay -------------------------------------------------------------------------- */

static void test_trace_shape(void **state)
{
    (void)state;
    print_message("%zu requests, %zu distinct pages\n", nreq, ndistinct);
    assert_int_equal(nreq, TRACE_REQUESTS);
    assert_int_equal(ndistinct, TRACE_DISTINCT);
}

static void test_replay(void **state)
{
    const uint64_t frames = *(const uint64_t *)*state;
    const uint64_t slots = frames < 256 ? frames : 256;
    char path[1024], name[64];
    struct awc_config cfg;
    struct awc_stats st;
    uint64_t want;
    awc_t *c;
    void *p;

    snprintf(name, sizeof(name), "replay-%llu", (unsigned long long)frames);
    et_path(path, sizeof(path), name);
    et_unlink(path);
    cfg = et_cfg(path, 4096, frames, slots, AWC_CREATE | AWC_EXCL | AWC_CLOCK_COMPAT);
    c = et_open(&cfg);
    st = et_stats(c);
    assert_int_equal(st.frames, frames);
    for (size_t i = 0; i < nreq; i++) {
        int rc = awc_pin(c, trace[i], AWC_SHARED, &p);

        if (rc != AWC_OK)
            fail_msg("request %zu (page %llu): awc_pin returned %d (%s)", i,
                     (unsigned long long)trace[i], rc, awc_strerror(rc));
        ET_EXPECT(awc_unpin(c, trace[i], 0), AWC_OK);
    }
    st = et_stats(c);
    want = reference_clock_misses((size_t)frames);
    print_message("frames %6llu (window %3llu): misses %llu, reference Clock %llu; miss ratio "
                  "%.4f; window hits %llu, frame hits %llu, map calls %llu\n",
                  (unsigned long long)frames, (unsigned long long)st.slots,
                  (unsigned long long)st.misses, (unsigned long long)want,
                  (double)st.misses / (double)nreq, (unsigned long long)st.window_hits,
                  (unsigned long long)st.frame_hits, (unsigned long long)st.map_calls);
    assert_int_equal(st.window_hits + st.frame_hits + st.misses, nreq);
    assert_int_equal(st.misses, want);
    assert_int_equal(st.frame_evictions, want > frames ? want - frames : 0);
    assert_int_equal(st.checksum_failures, 0);
    et_close(c);
    et_unlink(path);
}

static const uint64_t f100 = 100, f1000 = 1000, f5000 = 5000, f20000 = 20000;

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_shape),
        cmocka_unit_test_prestate(test_replay, (void *)&f100),
        cmocka_unit_test_prestate(test_replay, (void *)&f1000),
        cmocka_unit_test_prestate(test_replay, (void *)&f5000),
        cmocka_unit_test_prestate(test_replay, (void *)&f20000),
    };
    int rc;

    tu_init();
    if (!load_trace(AWC_PROJECT_SOURCE_DIR TRACE_REL))
        return 77;
    et_init("test_engine_replay");
    rc = cmocka_run_group_tests_name("engine_replay", tests, NULL, NULL);
    et_cleanup();
    free(trace);
    free(dense);
    return rc;
}
