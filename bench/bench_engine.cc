/*
 * bench/bench_engine.cc: what each path of the page cache (engine/awecache.h) costs, next to a
 * baseline that does the same work by hand, both in this one binary and the same run.
 *
 * Cases (bench/README.md says the same at more length), named <path>/<variant>/<side>/<n> with
 * side "engine" (the awc_* API) or "raw" (the baseline):
 *   hit/shared, hit/exclusive_dirty   pin + unpin of a page already in the window, uniformly at
 *       random over n = 256 resident pages, one thread. raw: index a descriptor array and do one
 *       atomic increment and one decrement: the least a pin can cost. Issue target: 15 M/s.
 *   wmiss/single     the page is in frames but not in the window (working set = the frames, a
 *       random cyclic order over them, so every pin misses the window): awc_pin + awc_unpin.
 *       raw: one mmap(MAP_FIXED | MAP_SHARED) of a scattered memfd page into a reservation.
 *       Issue target: within 1.3x of raw per page.
 *   wmiss/batch      awc_pin_batch of n contiguous pages that are in frames but not in the
 *       window, then n unpins. raw: one mmap of the n-page memfd run. Target: 1 M pages/s.
 *   fmiss/batch      awc_pin_batch of n random pages of a file many times the frame budget
 *       (nearly every page is read from the file), then n unpins. raw: the same file read with
 *       O_DIRECT at the same offsets, n at a time through plat_file_read_batch (queue depth n).
 *       Issue target: 80 % of raw.
 *   flush/dirty      n random resident pages pinned exclusive and unpinned dirty (not timed),
 *       then awc_flush (timed). raw: n pwrites of 4 KiB at the same offsets of a scratch file of
 *       the same size and layout, then fdatasync (timed).
 *
 * Files live in $AWC_BENCH_DIR (default ./awc-bench.tmp/, created and removed; not /tmp, which
 * may be tmpfs where O_DIRECT does not exist). The backing file (--file-mib, 1 GiB by default) is
 * written through the engine at start: batches of exclusive pins, every page filled with a
 * pattern derived from its number, then a flush. --keep-file keeps it for the next run, which
 * reuses it if it opens and is large enough.
 *
 * After the runs a markdown table compares each figure with its baseline and its target (see
 * make_table); --markdown=FILE also writes it to FILE and --table-only prints nothing else on
 * stdout. Unless the command line sets --benchmark_min_time, it is 0.1 s per case (0.5 s for
 * the frame-miss and flush cases, whose calls take up to milliseconds).
 *
 * Each case group has its own cache, opened when the run reaches the group's first case and
 * brought into the state its cases assume (warm): hit: the 256 pages pinned once, so that they
 * are all in the window; wmiss and flush: pages [0, frames) pinned twice in batches, the second
 * pass checking that none is read again; fmiss: a frame budget's worth of random pages read, so
 * that every later miss evicts. The engine cases report the engine's own counters over the timed
 * part (window hits, frame hits, misses, map calls), so that the table shows each case measured
 * the path it names; the frame-miss case also checks the first word of every page it reads.
 */
#include "awecache.h"
#include "plat_io.h"

#include "bench_main.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace
{

constexpr size_t kPage = 4096;                 /* the engine's page size in every case */
constexpr uint64_t kHitPages = 256;            /* resident pages of the hit cases */
constexpr uint64_t kWindowPages = 1024;        /* slots of the other caches (4 MiB) */
constexpr uint64_t kFillBatch = 256;           /* pages per pin batch when filling or warming */
constexpr size_t kOrderLen = size_t{1} << 16;  /* precomputed random hit order */
constexpr uint64_t kSeed = 0x5eed5eedULL;      /* fixed, so every run draws alike */
constexpr uint64_t kMix = 0x9e3779b97f4a7c15u; /* page pattern: word w of page p is p*kMix+w */
constexpr const char *kDefaultMinTime = "0.1"; /* seconds per case unless told otherwise */
constexpr double kIoMinTime = 0.5;        /* seconds per frame-miss and flush case, same rule */
constexpr double kHitTarget = 15e6;       /* issue: pin + unpin pairs per second */
constexpr double kWmissRatio = 1.0 / 1.3; /* issue: within 1.3x of one raw mmap per page */
constexpr double kBatchTarget = 1e6;      /* issue: batched window misses, pages/s */
constexpr double kFmissRatio = 0.8;       /* issue: within 80 % of raw O_DIRECT reads */
constexpr size_t kWmissBatches[] = {16, 64, 256};
constexpr size_t kFmissBatches[] = {1, 32, 128};
constexpr size_t kFlushPages[] = {256, 4096};

/* The file layout of engine/README.md 5.1: two 4 KiB superblocks, then segments of one 4 KiB
 * checksum block and 256 pages. The raw cases use it to touch the same bytes as the engine. */
constexpr uint64_t kDataBase = 8192;
constexpr uint64_t kSegPages = 256;
constexpr uint64_t kCkBlock = 4096;

uint64_t page_offset(uint64_t page)
{
    return kDataBase + page / kSegPages * (kCkBlock + kSegPages * kPage) + kCkBlock +
           page % kSegPages * kPage;
}

enum Kind { K_HIT_SHARED, K_HIT_EXCL, K_WMISS_SINGLE, K_WMISS_BATCH, K_FMISS, K_FLUSH };
enum Side { S_ENGINE, S_RAW };
/* Which cache a case needs; the holder reopens the file when the group changes. */
enum Group { G_NONE, G_HIT, G_WMISS, G_FMISS, G_FLUSH };

const char *const kKindNames[] = {"hit/shared",  "hit/exclusive_dirty", "wmiss/single",
                                  "wmiss/batch", "fmiss/batch",         "flush/dirty"};
const char *const kSideNames[] = {"engine", "raw"};

struct Options {
    uint64_t file_mib = 1024;
    uint64_t frames_mib = 64;
    bool keep_file = false;
};

/* What every case shares, set up once in main. */
struct Env {
    Options opt;
    std::string dir; /* where the files are */
    bool dir_created = false;
    bool default_dir = false;           /* no $AWC_BENCH_DIR: ./awc-bench.tmp */
    std::string path;                   /* the engine's backing file */
    std::string raw_path;               /* the raw flush's scratch file */
    uint64_t file_pages = 0;            /* pages written into the backing file */
    uint64_t frames = 0;                /* pages of frames of the big caches */
    std::vector<uint64_t> hit_order;    /* kOrderLen pages in [0, kHitPages) */
    std::vector<uint64_t> frame_perm;   /* a permutation of [0, frames) */
    std::vector<uint64_t> file_perm;    /* a permutation of [0, file_pages) */
    int memfd = -1;                     /* raw frames: `frames` pages */
    char *raw_win = nullptr;            /* raw window: PROT_NONE reservation of kWindowPages */
    struct plat_file *raw_rd = nullptr; /* the backing file, read-only, direct */
    struct plat_file_info raw_rd_info = {};
    char *raw_buf = nullptr; /* aligned scratch: max(batch, flush) pages */
    size_t raw_buf_pages = 0;
    int raw_wr = -1; /* the raw flush file, O_DIRECT when the FS allows */
    bool raw_wr_direct = false;
    /* The cursors the cases of one path share, so that a later case goes on where the earlier
     * one stopped (the frame-miss cases must not revisit pages an earlier case just read). */
    uint64_t fmiss_cursor[2] = {0, 0};
    uint64_t flush_cursor[2] = {0, 0};
    uint64_t hit_cursor = 0;
    uint64_t wmiss_cursor[2] = {0, 0};
    bool min_time_given = false; /* --benchmark_min_time on the command line */
};
Env g_env;

struct Case {
    Kind kind;
    Side side;
    size_t n;                      /* pages per batch (hit: resident pages) */
    std::vector<uint64_t> batches; /* wmiss/batch: a permutation of the batch indices */
    uint64_t cursor = 0;
};
std::vector<Case> g_cases;

/* ---- The cache holder -------------------------------------------------------------------- */

struct Holder {
    awc_t *cache = nullptr;
    Group group = G_NONE;
};
Holder g_holder;

std::string awc_msg(const char *what, int rc)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s: %s (%d)", what, awc_strerror(rc), rc);
    return buf;
}

int open_cache(uint64_t frame_pages, uint64_t window_pages, unsigned flags, awc_t **out)
{
    struct awc_config cfg = {};
    cfg.path = g_env.path.c_str();
    cfg.page_size = kPage;
    cfg.frame_budget = frame_pages * kPage;
    cfg.window_budget = window_pages * kPage;
    cfg.flags = flags;
    return awc_open(&cfg, out);
}

awc_stats stats_of(awc_t *c)
{
    awc_stats st = {};
    awc_get_stats(c, &st);
    return st;
}

/* Pins pages[0..n) shared in batches of at most kFillBatch (and the window) and unpins them. */
int touch_pages(awc_t *c, const uint64_t *pages, uint64_t n)
{
    awc_stats st = stats_of(c);
    uint64_t chunk = std::min<uint64_t>(kFillBatch, st.slots);
    std::vector<void *> out(chunk);
    for (uint64_t i = 0; i < n; i += chunk) {
        size_t m = static_cast<size_t>(std::min<uint64_t>(chunk, n - i));
        int rc = awc_pin_batch(c, pages + i, m, AWC_SHARED, out.data());
        if (rc != AWC_OK)
            return rc;
        for (size_t j = 0; j < m; j++)
            if ((rc = awc_unpin(c, pages[i + j], 0)) != AWC_OK)
                return rc;
    }
    return AWC_OK;
}

/* Brings the group's cache into the state its cases assume. */
std::string warm(awc_t *c, Group g)
{
    awc_stats st = stats_of(c);
    std::vector<uint64_t> pages;
    int rc;

    if (g == G_HIT) {
        /* Steps: pin every resident page once (read from the file), so that all are in the
         * window: frames == slots == kHitPages. */
        if (st.slots < kHitPages || st.frames < kHitPages)
            return "the hit cache got fewer than 256 slots";
        pages.resize(kHitPages);
        std::iota(pages.begin(), pages.end(), uint64_t{0});
        rc = touch_pages(c, pages.data(), pages.size());
        return rc == AWC_OK ? "" : awc_msg("warm-up pin", rc);
    }
    if (g == G_FMISS) {
        /* Fill the frames with pages from the cursor on, so that eviction is in steady state
         * when the timing starts. */
        uint64_t &cur = g_env.fmiss_cursor[S_ENGINE];
        pages.resize(st.frames);
        for (uint64_t &p : pages) {
            p = g_env.file_perm[cur];
            cur = cur + 1 == g_env.file_pages ? 0 : cur + 1;
        }
        rc = touch_pages(c, pages.data(), pages.size());
        return rc == AWC_OK ? "" : awc_msg("warm-up pin", rc);
    }
    /* G_WMISS, G_FLUSH: pages [0, frames) fill the frames exactly (a fresh cache fills its
     * buffers in order, so buffer b holds page b). A second pass must find them all there. */
    if (st.frames != g_env.frames)
        return "the cache has another number of frames than asked";
    pages.resize(st.frames);
    std::iota(pages.begin(), pages.end(), uint64_t{0});
    for (int pass = 0; pass < 2; pass++) {
        awc_stats before = stats_of(c);
        rc = touch_pages(c, pages.data(), pages.size());
        if (rc != AWC_OK)
            return awc_msg("warm-up pin", rc);
        uint64_t misses = stats_of(c).misses - before.misses;
        if (pass == 1 && misses != 0)
            return "pages [0, frames) do not stay in frames: " + std::to_string(misses) +
                   " misses on the second pass";
    }
    return "";
}

/* The cache for group g, opened fresh (and warmed) when the group changes. */
awc_t *cache_for(Group g, benchmark::State &state)
{
    if (g_holder.group == g && g_holder.cache != nullptr)
        return g_holder.cache;
    if (g_holder.cache != nullptr) {
        int rc = awc_close(g_holder.cache);
        g_holder.cache = nullptr;
        g_holder.group = G_NONE;
        if (rc != AWC_OK) {
            state.SkipWithError(awc_msg("awc_close", rc).c_str());
            return nullptr;
        }
    }
    uint64_t frames = g == G_HIT ? kHitPages : g_env.frames;
    uint64_t window = g == G_HIT ? kHitPages : kWindowPages;
    awc_t *c = nullptr;
    int rc = open_cache(frames, window, 0, &c);
    /* Copy mode (engine/README.md 4.3) gives the slots frames of their own out of the budget:
     * the window-miss and flush groups need exactly `frames` buffers (warm), so they ask for
     * the slots' frames on top. */
    if (rc == AWC_OK && (g == G_WMISS || g == G_FLUSH)) {
        awc_stats st = stats_of(c);
        if (st.copy_window && st.frames < frames) {
            awc_close(c);
            c = nullptr;
            rc = open_cache(frames + st.slots, window, 0, &c);
        }
    }
    if (rc != AWC_OK) {
        state.SkipWithError(awc_msg("awc_open", rc).c_str());
        return nullptr;
    }
    std::string err = warm(c, g);
    if (!err.empty()) {
        awc_close(c);
        state.SkipWithError(err.c_str());
        return nullptr;
    }
    g_holder.cache = c;
    g_holder.group = g;
    return c;
}

int close_holder()
{
    int rc = AWC_OK;
    if (g_holder.cache != nullptr)
        rc = awc_close(g_holder.cache);
    g_holder.cache = nullptr;
    g_holder.group = G_NONE;
    return rc;
}

/* ---- Counters ---------------------------------------------------------------------------- */

double pct(uint64_t part, uint64_t whole)
{
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

/* The engine's counters over the timed part, per pin (pct) and per iteration. */
void engine_counters(benchmark::State &state, const awc_stats &a, const awc_stats &b, uint64_t pins)
{
    auto d = [](uint64_t x, uint64_t y) { return static_cast<double>(y - x); };
    double iters = static_cast<double>(std::max<int64_t>(state.iterations(), 1));
    state.counters["win_hit_pct"] = pct(b.window_hits - a.window_hits, pins);
    state.counters["frame_hit_pct"] = pct(b.frame_hits - a.frame_hits, pins);
    state.counters["miss_pct"] = pct(b.misses - a.misses, pins);
    state.counters["maps_per_iter"] = d(a.map_calls, b.map_calls) / iters;
    state.counters["direct"] = b.direct_io;
    state.counters["uring"] = b.io_uring;
}

void fail(benchmark::State &state, const std::string &what)
{
    state.SkipWithError(what.c_str());
}

/* ---- 1. Hits ----------------------------------------------------------------------------- */

void engine_hit(benchmark::State &state, Case &cs)
{
    awc_t *c = cache_for(G_HIT, state);
    if (c == nullptr)
        return;
    const bool excl = cs.kind == K_HIT_EXCL;
    const int mode = excl ? AWC_EXCLUSIVE : AWC_SHARED;
    const uint64_t *order = g_env.hit_order.data();
    uint64_t i = g_env.hit_cursor;
    awc_stats a = stats_of(c);
    for (auto _ : state) {
        uint64_t p = order[i++ & (kOrderLen - 1)];
        void *ptr;
        int rc = awc_pin(c, p, mode, &ptr);
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_pin", rc));
            break;
        }
        benchmark::DoNotOptimize(ptr);
        rc = awc_unpin(c, p, excl);
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_unpin", rc));
            break;
        }
    }
    g_env.hit_cursor = i;
    engine_counters(state, a, stats_of(c), static_cast<uint64_t>(state.iterations()));
    state.SetItemsProcessed(state.iterations());
}

/* The least a pin can cost: the page's descriptor, one atomic add, one atomic subtract. */
struct MiniDesc {
    std::atomic<uint64_t> state{0};
    uint64_t page = 0;
};

void raw_hit(benchmark::State &state, Case &)
{
    static MiniDesc desc[kHitPages];
    const uint64_t *order = g_env.hit_order.data();
    char *base = g_env.raw_win;
    uint64_t i = 0;
    for (auto _ : state) {
        uint64_t p = order[i++ & (kOrderLen - 1)];
        desc[p].state.fetch_add(1, std::memory_order_acquire);
        char *ptr = base + p * kPage;
        benchmark::DoNotOptimize(ptr);
        desc[p].state.fetch_sub(1, std::memory_order_release);
    }
    state.SetItemsProcessed(state.iterations());
}

/* ---- 2. Window misses, frame resident ------------------------------------------------------ */

void engine_wmiss_single(benchmark::State &state, Case &)
{
    awc_t *c = cache_for(G_WMISS, state);
    if (c == nullptr)
        return;
    const uint64_t n = g_env.frames;
    const uint64_t *perm = g_env.frame_perm.data();
    uint64_t &cur = g_env.wmiss_cursor[S_ENGINE];
    awc_stats a = stats_of(c);
    for (auto _ : state) {
        uint64_t p = perm[cur];
        cur = cur + 1 == n ? 0 : cur + 1;
        void *ptr;
        int rc = awc_pin(c, p, AWC_SHARED, &ptr);
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_pin", rc));
            break;
        }
        benchmark::DoNotOptimize(ptr);
        rc = awc_unpin(c, p, 0);
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_unpin", rc));
            break;
        }
    }
    engine_counters(state, a, stats_of(c), static_cast<uint64_t>(state.iterations()));
    state.SetItemsProcessed(state.iterations());
}

/* One mmap of a scattered memfd page into the slot page % S, replacing what was there. */
void raw_wmiss_single(benchmark::State &state, Case &)
{
    const uint64_t n = g_env.frames;
    const uint64_t *perm = g_env.frame_perm.data();
    uint64_t &cur = g_env.wmiss_cursor[S_RAW];
    for (auto _ : state) {
        uint64_t p = perm[cur];
        cur = cur + 1 == n ? 0 : cur + 1;
        void *va = g_env.raw_win + (p % kWindowPages) * kPage;
        void *got = mmap(va, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, g_env.memfd,
                         static_cast<off_t>(p * kPage));
        if (got == MAP_FAILED) {
            fail(state, std::string("mmap: ") + strerror(errno));
            break;
        }
        benchmark::DoNotOptimize(got);
    }
    state.SetItemsProcessed(state.iterations());
}

void engine_wmiss_batch(benchmark::State &state, Case &cs)
{
    awc_t *c = cache_for(G_WMISS, state);
    if (c == nullptr)
        return;
    const size_t b = cs.n;
    std::vector<uint64_t> pages(b);
    std::vector<void *> out(b);
    awc_stats a = stats_of(c);
    for (auto _ : state) {
        uint64_t k = cs.batches[cs.cursor];
        cs.cursor = cs.cursor + 1 == cs.batches.size() ? 0 : cs.cursor + 1;
        for (size_t j = 0; j < b; j++)
            pages[j] = k * b + j;
        int rc = awc_pin_batch(c, pages.data(), b, AWC_SHARED, out.data());
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_pin_batch", rc));
            break;
        }
        benchmark::DoNotOptimize(out.data());
        for (size_t j = 0; j < b && rc == AWC_OK; j++)
            rc = awc_unpin(c, pages[j], 0);
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_unpin", rc));
            break;
        }
    }
    engine_counters(state, a, stats_of(c), static_cast<uint64_t>(state.iterations()) * b);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b));
}

/* One mmap of the batch's n-page memfd run at an n-aligned place of the window. */
void raw_wmiss_batch(benchmark::State &state, Case &cs)
{
    const size_t b = cs.n;
    for (auto _ : state) {
        uint64_t k = cs.batches[cs.cursor];
        cs.cursor = cs.cursor + 1 == cs.batches.size() ? 0 : cs.cursor + 1;
        void *va = g_env.raw_win + (k * b) % kWindowPages * kPage;
        void *got = mmap(va, b * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, g_env.memfd,
                         static_cast<off_t>(k * b * kPage));
        if (got == MAP_FAILED) {
            fail(state, std::string("mmap: ") + strerror(errno));
            break;
        }
        benchmark::DoNotOptimize(got);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b));
}

/* ---- 3. Frame misses ----------------------------------------------------------------------- */

/* The next n pages of the file permutation (distinct: n <= file_pages). */
void next_file_pages(uint64_t &cur, uint64_t *pages, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        pages[j] = g_env.file_perm[cur];
        cur = cur + 1 == g_env.file_pages ? 0 : cur + 1;
    }
}

void engine_fmiss(benchmark::State &state, Case &cs)
{
    awc_t *c = cache_for(G_FMISS, state);
    if (c == nullptr)
        return;
    const size_t b = cs.n;
    std::vector<uint64_t> pages(b);
    std::vector<void *> out(b);
    uint64_t bad = 0;
    awc_stats a = stats_of(c);
    for (auto _ : state) {
        next_file_pages(g_env.fmiss_cursor[S_ENGINE], pages.data(), b);
        int rc = awc_pin_batch(c, pages.data(), b, AWC_SHARED, out.data());
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_pin_batch", rc));
            break;
        }
        for (size_t j = 0; j < b; j++) { /* the page was just read: its first word is there */
            uint64_t w;
            memcpy(&w, out[j], sizeof(w));
            bad += w != pages[j] * kMix;
        }
        for (size_t j = 0; j < b && rc == AWC_OK; j++)
            rc = awc_unpin(c, pages[j], 0);
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_unpin", rc));
            break;
        }
    }
    if (bad != 0 && !state.error_occurred())
        fail(state, std::to_string(bad) + " pages read back with the wrong contents");
    engine_counters(state, a, stats_of(c), static_cast<uint64_t>(state.iterations()) * b);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b));
}

/* The same pages' bytes read with O_DIRECT through plat_file_read_batch: queue depth n. */
void raw_fmiss(benchmark::State &state, Case &cs)
{
    const size_t b = cs.n;
    std::vector<uint64_t> pages(b);
    std::vector<plat_io> ios(b);
    for (auto _ : state) {
        next_file_pages(g_env.fmiss_cursor[S_RAW], pages.data(), b);
        for (size_t j = 0; j < b; j++) {
            ios[j].buf = g_env.raw_buf + j * kPage;
            ios[j].len = kPage;
            ios[j].off = page_offset(pages[j]);
            ios[j].result = 0;
        }
        int rc = plat_file_read_batch(g_env.raw_rd, ios.data(), b);
        if (rc != 0) {
            fail(state, std::string("plat_file_read_batch: ") + plat_io_strerror(rc));
            break;
        }
        benchmark::DoNotOptimize(g_env.raw_buf);
    }
    state.counters["direct"] = g_env.raw_rd_info.direct;
    state.counters["uring"] = g_env.raw_rd_info.uring;
    state.counters["qdepth"] = std::min<double>(g_env.raw_rd_info.queue_depth, b);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b));
}

/* ---- 4. Flush ------------------------------------------------------------------------------ */

using Clock = std::chrono::steady_clock;

/* The next n resident pages to dirty, sorted (distinct: n <= frames). */
void next_flush_pages(uint64_t &cur, std::vector<uint64_t> &pages)
{
    for (uint64_t &p : pages) {
        p = g_env.frame_perm[cur];
        cur = cur + 1 == g_env.frames ? 0 : cur + 1;
    }
    std::sort(pages.begin(), pages.end());
}

void engine_flush(benchmark::State &state, Case &cs)
{
    awc_t *c = cache_for(G_FLUSH, state);
    if (c == nullptr)
        return;
    const size_t n = cs.n;
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(kFillBatch, stats_of(c).slots));
    std::vector<uint64_t> pages(n);
    std::vector<void *> out(chunk);
    uint64_t tag = 0;
    awc_stats a = stats_of(c);
    for (auto _ : state) {
        /* Not timed: dirty n pages (exclusive pins, one word written, dirty unpins). */
        next_flush_pages(g_env.flush_cursor[S_ENGINE], pages);
        tag++;
        int rc = AWC_OK;
        for (size_t i = 0; i < n && rc == AWC_OK; i += chunk) {
            size_t m = std::min(chunk, n - i);
            rc = awc_pin_batch(c, pages.data() + i, m, AWC_EXCLUSIVE, out.data());
            if (rc != AWC_OK)
                break;
            for (size_t j = 0; j < m; j++) {
                memcpy(static_cast<char *>(out[j]) + 8, &tag, sizeof(tag));
                if (rc == AWC_OK)
                    rc = awc_unpin(c, pages[i + j], 1);
            }
        }
        if (rc != AWC_OK) {
            fail(state, awc_msg("dirtying", rc));
            break;
        }
        /* Timed: the flush. */
        Clock::time_point t0 = Clock::now();
        rc = awc_flush(c);
        Clock::time_point t1 = Clock::now();
        if (rc != AWC_OK) {
            fail(state, awc_msg("awc_flush", rc));
            break;
        }
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    }
    awc_stats b = stats_of(c);
    double data = static_cast<double>(state.iterations()) * static_cast<double>(n * kPage);
    state.counters["write_amp"] =
        data > 0 ? static_cast<double>(b.bytes_written - a.bytes_written) / data : 0.0;
    state.counters["writebacks_per_page"] =
        data > 0 ? static_cast<double>(b.writebacks - a.writebacks) * kPage / data : 0.0;
    state.counters["direct"] = b.direct_io;
    state.counters["uring"] = b.io_uring;
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

/* n pwrites of 4 KiB at the same offsets (sorted) of the scratch file, then fdatasync. */
void raw_flush(benchmark::State &state, Case &cs)
{
    const size_t n = cs.n;
    std::vector<uint64_t> pages(n);
    uint64_t tag = 0;
    for (auto _ : state) {
        next_flush_pages(g_env.flush_cursor[S_RAW], pages);
        tag++;
        for (size_t j = 0; j < n; j++)
            memcpy(g_env.raw_buf + j * kPage + 8, &tag, sizeof(tag));
        bool ok = true;
        Clock::time_point t0 = Clock::now();
        for (size_t j = 0; j < n && ok; j++)
            ok = pwrite(g_env.raw_wr, g_env.raw_buf + j * kPage, kPage,
                        static_cast<off_t>(page_offset(pages[j]))) == static_cast<ssize_t>(kPage);
        ok = ok && fdatasync(g_env.raw_wr) == 0;
        Clock::time_point t1 = Clock::now();
        if (!ok) {
            fail(state, std::string("pwrite/fdatasync: ") + strerror(errno));
            break;
        }
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    }
    state.counters["direct"] = g_env.raw_wr_direct;
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

/* ---- Registration ---------------------------------------------------------------------------- */

void run_case(benchmark::State &state, size_t idx)
{
    Case &cs = g_cases[idx];
    switch (cs.kind) {
    case K_HIT_SHARED:
    case K_HIT_EXCL:
        return cs.side == S_ENGINE ? engine_hit(state, cs) : raw_hit(state, cs);
    case K_WMISS_SINGLE:
        return cs.side == S_ENGINE ? engine_wmiss_single(state, cs) : raw_wmiss_single(state, cs);
    case K_WMISS_BATCH:
        return cs.side == S_ENGINE ? engine_wmiss_batch(state, cs) : raw_wmiss_batch(state, cs);
    case K_FMISS:
        return cs.side == S_ENGINE ? engine_fmiss(state, cs) : raw_fmiss(state, cs);
    case K_FLUSH:
        return cs.side == S_ENGINE ? engine_flush(state, cs) : raw_flush(state, cs);
    }
}

std::string case_name(const Case &cs)
{
    return std::string(kKindNames[cs.kind]) + "/" + kSideNames[cs.side];
}

void add_case(Kind kind, Side side, size_t n)
{
    Case cs{kind, side, n, {}, 0};
    if (kind == K_WMISS_BATCH) {
        cs.batches.resize(g_env.frames / n);
        std::iota(cs.batches.begin(), cs.batches.end(), uint64_t{0});
        std::mt19937_64 rng(kSeed + n);
        std::shuffle(cs.batches.begin(), cs.batches.end(), rng);
    }
    g_cases.push_back(cs);
}

void register_cases()
{
    add_case(K_HIT_SHARED, S_ENGINE, kHitPages);
    add_case(K_HIT_EXCL, S_ENGINE, kHitPages);
    add_case(K_HIT_SHARED, S_RAW, kHitPages);
    add_case(K_WMISS_SINGLE, S_ENGINE, 1);
    add_case(K_WMISS_SINGLE, S_RAW, 1);
    for (size_t n : kWmissBatches) {
        add_case(K_WMISS_BATCH, S_ENGINE, n);
        add_case(K_WMISS_BATCH, S_RAW, n);
    }
    for (size_t n : kFmissBatches) {
        add_case(K_FMISS, S_ENGINE, n);
        add_case(K_FMISS, S_RAW, n);
    }
    for (size_t n : kFlushPages) {
        add_case(K_FLUSH, S_ENGINE, n);
        add_case(K_FLUSH, S_RAW, n);
    }
    for (size_t i = 0; i < g_cases.size(); i++) {
        const Case &cs = g_cases[i];
        benchmark::internal::Benchmark *b =
            benchmark::RegisterBenchmark(case_name(cs).c_str(), run_case, i);
        b->Arg(static_cast<int64_t>(cs.n));
        if (cs.kind == K_FLUSH)
            b->UseManualTime()->Unit(benchmark::kMillisecond);
        else
            b->UseRealTime()->Unit(cs.kind == K_FMISS || cs.kind == K_WMISS_BATCH
                                       ? benchmark::kMicrosecond
                                       : benchmark::kNanosecond);
        /* The I/O cases take up to milliseconds per call and vary with the disk: give them
         * more time, unless the command line says how long. */
        if ((cs.kind == K_FLUSH || cs.kind == K_FMISS) && !g_env.min_time_given)
            b->MinTime(kIoMinTime);
    }
}

/* ---- The table ------------------------------------------------------------------------------- */

/* One case's result. */
struct Result : BenchResult {
    std::map<std::string, double> counters;

    bool ok() const
    {
        return seen && error.empty() && rate() > 0;
    }
    double counter(const char *name) const
    {
        auto it = counters.find(name);
        return it == counters.end() ? 0.0 : it->second;
    }
};

/* The console reporter, also keeping every run's items/s for the table. */
class TableReporter : public benchmark::ConsoleReporter
{
  public:
    explicit TableReporter(OutputOptions opts) : ConsoleReporter(opts) {}

    void ReportRuns(const std::vector<Run> &reports) override
    {
        ConsoleReporter::ReportRuns(reports);
        for (const Run &r : reports)
            collect(r);
    }

    std::map<std::string, Result> results; /* by "<function_name>/<n>" */
    bool any_error = false;

  private:
    void collect(const Run &r)
    {
        Result &res = results[r.run_name.function_name + "/" + r.run_name.args];
        any_error |= r.error_occurred;
        if (!res.record(r))
            return;
        for (const auto &kv : r.counters)
            res.counters[kv.first] = kv.second.value;
    }
};

std::string fmt(const char *f, double v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), f, v);
    return buf;
}

std::string cell(const Result &r)
{
    if (!r.seen)
        return "-";
    if (!r.error.empty())
        return "error";
    return si(r.rate());
}

std::string key(Kind k, Side s, size_t n)
{
    return std::string(kKindNames[k]) + "/" + kSideNames[s] + "/" + std::to_string(n);
}

/* The engine-side detail the reader needs to trust the row (did the case hit what it meant to). */
std::string detail(Kind k, const Result &e, const Result &r)
{
    if (!e.ok())
        return "";
    switch (k) {
    case K_HIT_SHARED:
    case K_HIT_EXCL:
        return "window hits " + fmt("%.1f %%", e.counter("win_hit_pct"));
    case K_WMISS_SINGLE:
    case K_WMISS_BATCH:
        return "frame hits " + fmt("%.1f %%", e.counter("frame_hit_pct")) + ", misses " +
               fmt("%.1f %%", e.counter("miss_pct")) + ", map calls/call " +
               fmt("%.2f", e.counter("maps_per_iter"));
    case K_FMISS: {
        std::string s = "misses " + fmt("%.1f %%", e.counter("miss_pct")) + ", map calls/call " +
                        fmt("%.2f", e.counter("maps_per_iter")) + "; engine " +
                        (e.counter("direct") > 0 ? "O_DIRECT" : "buffered") +
                        (e.counter("uring") > 0 ? "+io_uring" : "+pread");
        if (r.ok())
            s += std::string(", raw ") + (r.counter("direct") > 0 ? "O_DIRECT" : "buffered") +
                 (r.counter("uring") > 0 ? "+io_uring" : "+pread") + " depth " +
                 fmt("%.0f", r.counter("qdepth"));
        return s;
    }
    case K_FLUSH:
        return "bytes written/data bytes " + fmt("%.2f", e.counter("write_amp")) + "; engine " +
               (e.counter("direct") > 0 ? "O_DIRECT" : "buffered") +
               (e.counter("uring") > 0 ? "+io_uring" : "+pwrite") + ", raw " +
               (r.counter("direct") > 0 ? "O_DIRECT" : "buffered");
    }
    return "";
}

struct Row {
    Kind kind;
    size_t n;
    std::string what;        /* the figure */
    std::string baseline;    /* what the baseline does */
    double target_abs = 0;   /* the figure must reach this many items/s (0: none) */
    double target_ratio = 0; /* figure / baseline must reach this (0: none) */
    std::string target;      /* the target in words */
};

std::vector<Row> table_rows()
{
    std::vector<Row> rows;
    rows.push_back({K_HIT_SHARED, kHitPages, "hit: pin(shared) + unpin, 256 resident pages",
                    "array index + atomic inc/dec", kHitTarget, 0, ">= 15 M/s (issue)"});
    rows.push_back({K_HIT_EXCL, kHitPages, "hit: pin(exclusive) + unpin(dirty)",
                    "array index + atomic inc/dec", 0, 0, "-"});
    rows.push_back({K_WMISS_SINGLE, 1, "window miss, frame resident: pin + unpin",
                    "1 raw mmap of a scattered memfd page", 0, kWmissRatio,
                    "within 1.3x of raw (ratio >= 0.77)"});
    for (size_t n : kWmissBatches)
        rows.push_back({K_WMISS_BATCH, n,
                        "window miss: pin_batch of " + std::to_string(n) + " contiguous pages",
                        "1 raw mmap of the " + std::to_string(n) + "-page run", kBatchTarget, 0,
                        ">= 1 M pages/s"});
    for (size_t n : kFmissBatches)
        rows.push_back(
            {K_FMISS, n, "frame miss: pin_batch of " + std::to_string(n) + " random pages",
             "raw O_DIRECT reads, depth " + std::to_string(n), 0, kFmissRatio, ">= 80 % of raw"});
    for (size_t n : kFlushPages)
        rows.push_back({K_FLUSH, n, "flush of " + std::to_string(n) + " dirty random pages",
                        std::to_string(n) + " pwrite + fdatasync", 0, 0, "-"});
    return rows;
}

std::string make_table(const TableReporter &rep)
{
    static const Result none;
    auto find = [&rep](const std::string &k) -> const Result & {
        auto it = rep.results.find(k);
        return it == rep.results.end() ? none : it->second;
    };
    std::ostringstream out;
    out << "| case | figure (items/s) | baseline | baseline (items/s) | figure/baseline | target "
           "| met | engine detail |\n";
    out << "|---|---:|---|---:|---:|---|---|---|\n";
    for (const Row &row : table_rows()) {
        const Result &e = find(key(row.kind, S_ENGINE, row.n));
        /* Both hit rows compare with the one atomic baseline. */
        Kind bk = row.kind == K_HIT_EXCL ? K_HIT_SHARED : row.kind;
        const Result &r = find(key(bk, S_RAW, row.n));
        if (!e.seen && !r.seen)
            continue;
        std::string ratio = "-", met = "-";
        if (e.ok() && r.ok())
            ratio = fmt("%.2f", e.rate() / r.rate());
        if (row.target_abs > 0 && e.ok())
            met = e.rate() >= row.target_abs ? "yes" : "**no**";
        if (row.target_ratio > 0 && e.ok() && r.ok())
            met = e.rate() / r.rate() >= row.target_ratio ? "yes" : "**no**";
        out << "| " << row.what << " | " << cell(e) << " | " << row.baseline << " | " << cell(r)
            << " | " << ratio << " | " << row.target << " | " << met << " | "
            << detail(row.kind, e, r) << " |\n";
    }
    bool first_error = true;
    for (const auto &kv : rep.results)
        if (!kv.second.error.empty()) {
            out << (first_error ? "\n" : "") << kv.first << ": " << kv.second.error << "\n";
            first_error = false;
        }
    return out.str();
}

/* ---- Set-up ---------------------------------------------------------------------------- */

using Seconds = std::chrono::duration<double>;

/* Fills page p with the pattern: word w is p * kMix + w. */
void fill_page(void *ptr, uint64_t p)
{
    uint64_t *w = static_cast<uint64_t *>(ptr);
    for (size_t i = 0; i < kPage / sizeof(uint64_t); i++)
        w[i] = p * kMix + i;
}

/* Writes the backing file through the engine: batches of exclusive pins of consecutive pages,
 * each filled with its pattern and unpinned dirty (evictions write them back), then a flush.
 * An existing file that opens and holds enough pages is reused. */
bool make_backing_file()
{
    awc_t *c = nullptr;
    struct stat sb;
    if (stat(g_env.path.c_str(), &sb) == 0) {
        int rc = open_cache(g_env.frames, kWindowPages, 0, &c);
        if (rc == AWC_OK) {
            uint64_t have = stats_of(c).pages_in_file;
            awc_close(c);
            if (have >= g_env.file_pages) {
                fprintf(stderr, "bench_engine: reusing %s (%" PRIu64 " pages)\n",
                        g_env.path.c_str(), have);
                return true;
            }
        }
        unlink(g_env.path.c_str());
    }
    Clock::time_point t0 = Clock::now();
    int rc = open_cache(g_env.frames, kWindowPages, AWC_CREATE | AWC_EXCL, &c);
    if (rc != AWC_OK) {
        fprintf(stderr, "bench_engine: awc_open(%s): %s\n", g_env.path.c_str(), awc_strerror(rc));
        return false;
    }
    const uint64_t chunk = std::min<uint64_t>(kFillBatch, stats_of(c).slots);
    std::vector<uint64_t> pages(chunk);
    std::vector<void *> out(chunk);
    for (uint64_t first = 0; first < g_env.file_pages && rc == AWC_OK; first += chunk) {
        size_t m = static_cast<size_t>(std::min(chunk, g_env.file_pages - first));
        std::iota(pages.begin(), pages.begin() + static_cast<ptrdiff_t>(m), first);
        rc = awc_pin_batch(c, pages.data(), m, AWC_EXCLUSIVE, out.data());
        for (size_t j = 0; j < m && rc == AWC_OK; j++) {
            fill_page(out[j], pages[j]);
            rc = awc_unpin(c, pages[j], 1);
        }
    }
    if (rc == AWC_OK)
        rc = awc_flush(c);
    awc_stats st = stats_of(c);
    int crc = awc_close(c);
    if (rc == AWC_OK)
        rc = crc;
    if (rc != AWC_OK) {
        fprintf(stderr, "bench_engine: writing the backing file: %s\n", awc_strerror(rc));
        return false;
    }
    double secs = Seconds(Clock::now() - t0).count();
    fprintf(stderr,
            "bench_engine: wrote %s: %" PRIu64 " pages of 4 KiB in %.2f s (%.0f MiB/s; %s%s)\n",
            g_env.path.c_str(), st.pages_in_file, secs,
            static_cast<double>(g_env.file_pages * kPage) / (1 << 20) / secs,
            st.direct_io ? "O_DIRECT" : "buffered", st.io_uring ? ", io_uring" : "");
    if (st.pages_in_file < g_env.file_pages) {
        fprintf(stderr, "bench_engine: the file holds %" PRIu64 " pages, not %" PRIu64 "\n",
                st.pages_in_file, g_env.file_pages);
        return false;
    }
    return true;
}

/* The raw flush's scratch file: as long as the backing file's first `frames` pages, written
 * once (so that the timed writes land on allocated blocks, as the engine's do). */
bool make_raw_flush_file()
{
    const uint64_t bytes = page_offset(g_env.frames);
    int fd = open(g_env.raw_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror("bench_engine: raw flush file");
        return false;
    }
    std::vector<char> block(1 << 20, 0x5a);
    for (uint64_t off = 0; off < bytes; off += block.size()) {
        size_t len = static_cast<size_t>(std::min<uint64_t>(block.size(), bytes - off));
        if (pwrite(fd, block.data(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) {
            perror("bench_engine: raw flush file");
            close(fd);
            return false;
        }
    }
    if (fdatasync(fd) != 0) {
        perror("bench_engine: raw flush file");
        close(fd);
        return false;
    }
    close(fd);
    g_env.raw_wr = open(g_env.raw_path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    g_env.raw_wr_direct = g_env.raw_wr >= 0;
    if (g_env.raw_wr < 0 && errno == EINVAL) /* no O_DIRECT here (tmpfs): buffered */
        g_env.raw_wr = open(g_env.raw_path.c_str(), O_WRONLY | O_CLOEXEC);
    if (g_env.raw_wr < 0) {
        perror("bench_engine: raw flush file");
        return false;
    }
    return true;
}

bool env_init()
{
    Options &o = g_env.opt;
    g_env.frames = o.frames_mib * (1 << 20) / kPage;
    g_env.file_pages = o.file_mib * (1 << 20) / kPage;
    if (g_env.frames < kWindowPages || g_env.frames % kFillBatch != 0 ||
        g_env.file_pages < 2 * g_env.frames) {
        fprintf(stderr, "bench_engine: need --frames-mib >= 4 and --file-mib >= 2 x frames\n");
        return false;
    }

    /* The directory: $AWC_BENCH_DIR, else ./awc-bench.tmp (created, and removed at the end). */
    const char *dir = getenv("AWC_BENCH_DIR");
    g_env.default_dir = dir == nullptr || dir[0] == '\0';
    g_env.dir = g_env.default_dir ? "awc-bench.tmp" : dir;
    if (mkdir(g_env.dir.c_str(), 0700) == 0) {
        g_env.dir_created = true;
    } else if (errno != EEXIST) {
        fprintf(stderr, "bench_engine: mkdir %s: %s\n", g_env.dir.c_str(), strerror(errno));
        return false;
    }
    g_env.path = g_env.dir + "/bench_engine.awc";
    g_env.raw_path = g_env.dir + "/bench_engine.raw";

    std::mt19937_64 rng(kSeed);
    g_env.hit_order.resize(kOrderLen);
    for (uint64_t &p : g_env.hit_order)
        p = rng() % kHitPages;
    g_env.frame_perm.resize(g_env.frames);
    std::iota(g_env.frame_perm.begin(), g_env.frame_perm.end(), uint64_t{0});
    std::shuffle(g_env.frame_perm.begin(), g_env.frame_perm.end(), rng);
    g_env.file_perm.resize(g_env.file_pages);
    std::iota(g_env.file_perm.begin(), g_env.file_perm.end(), uint64_t{0});
    std::shuffle(g_env.file_perm.begin(), g_env.file_perm.end(), rng);

    if (!make_backing_file() || !make_raw_flush_file())
        return false;

    /* Raw frames and window: a memfd as large as the frames (allocated, as the engine's frames
     * are committed) and a PROT_NONE reservation as large as the engine's window. */
    g_env.memfd = memfd_create("bench_engine_raw", MFD_CLOEXEC);
    if (g_env.memfd < 0 ||
        fallocate(g_env.memfd, 0, 0, static_cast<off_t>(g_env.frames * kPage)) != 0) {
        perror("bench_engine: memfd");
        return false;
    }
    void *win = mmap(nullptr, kWindowPages * kPage, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (win == MAP_FAILED) {
        perror("bench_engine: reserve");
        return false;
    }
    g_env.raw_win = static_cast<char *>(win);

    /* Raw I/O: the backing file read-only with direct I/O, and a page-aligned buffer. */
    int rc =
        plat_file_open(g_env.path.c_str(), PLAT_FILE_READONLY | PLAT_FILE_DIRECT, &g_env.raw_rd);
    if (rc == 0)
        rc = plat_file_get_info(g_env.raw_rd, &g_env.raw_rd_info);
    if (rc != 0) {
        fprintf(stderr, "bench_engine: plat_file_open: %s\n", plat_io_strerror(rc));
        return false;
    }
    g_env.raw_buf_pages =
        std::max<size_t>(*std::max_element(std::begin(kFmissBatches), std::end(kFmissBatches)),
                         *std::max_element(std::begin(kFlushPages), std::end(kFlushPages)));
    void *buf = mmap(nullptr, g_env.raw_buf_pages * kPage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED) {
        perror("bench_engine: buffer");
        return false;
    }
    g_env.raw_buf = static_cast<char *>(buf);
    for (size_t j = 0; j < g_env.raw_buf_pages; j++)
        fill_page(g_env.raw_buf + j * kPage, j);
    return true;
}

void env_fini()
{
    int rc = close_holder();
    if (rc != AWC_OK)
        fprintf(stderr, "bench_engine: awc_close: %s\n", awc_strerror(rc));
    if (g_env.raw_rd != nullptr)
        plat_file_close(g_env.raw_rd);
    if (g_env.raw_wr >= 0)
        close(g_env.raw_wr);
    if (g_env.memfd >= 0)
        close(g_env.memfd);
    if (g_env.raw_win != nullptr)
        munmap(g_env.raw_win, kWindowPages * kPage);
    if (g_env.raw_buf != nullptr)
        munmap(g_env.raw_buf, g_env.raw_buf_pages * kPage);
    if (!g_env.raw_path.empty())
        unlink(g_env.raw_path.c_str());
    if (!g_env.opt.keep_file && !g_env.path.empty())
        unlink(g_env.path.c_str());
    /* Our own directory goes (rmdir: only if nothing else was put there); $AWC_BENCH_DIR stays. */
    if ((g_env.dir_created || g_env.default_dir) && !g_env.opt.keep_file)
        rmdir(g_env.dir.c_str());
}

bool parse_u64(const char *arg, const char *prefix, uint64_t *out)
{
    size_t len = strlen(prefix);
    if (strncmp(arg, prefix, len) != 0)
        return false;
    char *end = nullptr;
    unsigned long long v = strtoull(arg + len, &end, 10);
    if (end == arg + len || *end != '\0' || v == 0) {
        fprintf(stderr, "bench_engine: bad value in %s\n", arg);
        exit(2);
    }
    *out = v;
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    BenchArgs args;
    auto own = [](const char *arg) {
        if (std::strcmp(arg, "--keep-file") == 0) {
            g_env.opt.keep_file = true;
            return true;
        }
        return parse_u64(arg, "--file-mib=", &g_env.opt.file_mib) ||
               parse_u64(arg, "--frames-mib=", &g_env.opt.frames_mib);
    };

    if (!bench_parse(argc, argv, kDefaultMinTime, own, args))
        return 1;
    g_env.min_time_given = args.min_time_given;
    if (!env_init()) {
        env_fini();
        return 1;
    }
    register_cases();

    TableReporter reporter(bench_console_options(args));
    bench_run(reporter, args);
    benchmark::Shutdown();
    env_fini();
    return bench_finish("bench_engine", reporter.results.empty() ? "" : make_table(reporter), args,
                        reporter.any_error);
}
