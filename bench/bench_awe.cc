/*
 * bench/bench_awe.cc: what one AWE mapping call costs next to the raw Linux way of doing it.
 *
 * Every case runs twice, side by side in this one binary:
 *   awe  the public C API (awe/awe.h): awe_map, awe_unmap, awe_map_scatter on a window;
 *   raw  the same page moves done by hand, one mmap(MAP_FIXED) per page on a memfd over a
 *        PROT_NONE reservation: what a layer without run coalescing, validation or bookkeeping
 *        costs. The ratio awe/raw is therefore awe's overhead (below 1) or its gain (above 1).
 *
 * Operations (bench/README.md says the same at more length):
 *   map_replace      the batch's pages already hold frames; each iteration maps the other of two
 *                    disjoint frame sets over them (the engine's pattern: map over an old frame).
 *   map_empty        map a batch into unmapped pages (timed), then unmap it (not timed).
 *   unmap            map a batch (not timed), then unmap it (timed).
 *   scatter_replace  as map_replace through awe_map_scatter, entries in shuffled page order for
 *                    scattered frames and in sorted order for contiguous frames.
 * Frames: "scattered" gives page p the frame perm[p] of a random permutation in which no two
 * adjacent pages get consecutive frames (every page is its own run, one mmap each);
 * "contiguous" gives page p the frame p (the whole batch is one run).
 *
 * After the runs a markdown table compares the two (see make_table); --markdown=FILE also
 * writes it to FILE and --table-only prints nothing else on stdout. Unless the command line sets
 * --benchmark_min_time, it is 0.05 s per case so that the whole run stays short.
 *
 * Kernel mapping budget (vm.max_map_count, 65530 by default): a window of 16384 scattered pages
 * holds 16384 VMAs, so at most one such batch is mapped at a time: each case maps its batch into
 * the first pages of the one awe window (or of the one raw reservation) and leaves it unmapped.
 */
#include "awe.h"

#include "bench_main.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
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
#include <tuple>
#include <vector>

namespace
{

constexpr size_t kMaxBatch = 16384;             /* the largest batch, in pages */
constexpr size_t kGap = 64;                     /* frames kept unused between the two sets */
constexpr size_t kSetStride = kMaxBatch + kGap; /* set s starts at frame index s * stride */
constexpr size_t kPoolFrames = 2 * kSetStride;  /* frames (and raw memfd pages) in all */
constexpr const char *kDefaultMinTime = "0.05"; /* seconds per case unless told otherwise */
constexpr uint64_t kSeed = 0x5eed5eedULL;       /* fixed, so every run shuffles alike */
constexpr size_t kBatches[] = {1, 4, 16, 64, 256, 1024, 4096, 16384};

enum Op { OP_MAP_REPLACE, OP_MAP_EMPTY, OP_UNMAP, OP_SCATTER, OP_COUNT };
enum Layout { LAYOUT_SCATTERED, LAYOUT_CONTIGUOUS, LAYOUT_COUNT };
enum Impl { IMPL_AWE, IMPL_RAW, IMPL_COUNT };

const char *const kOpNames[OP_COUNT] = {"map_replace", "map_empty", "unmap", "scatter_replace"};
const char *const kOpTitles[OP_COUNT] = {"map (replace)", "map (into empty)", "unmap",
                                         "scatter (replace)"};
const char *const kLayoutNames[LAYOUT_COUNT] = {"scattered", "contiguous"};
const char *const kImplNames[IMPL_COUNT] = {"awe", "raw"};

/* What every case shares, set up once in main. */
struct Env {
    size_t page = 0;                 /* bytes per page */
    uint64_t vma_budget = 0;         /* awe's kernel mapping budget (0: none) */
    uint64_t max_map_count = 0;      /* the kernel's per-process limit */
    std::vector<awe_frame_t> frames; /* kPoolFrames frames, sorted; set s frame i at s*stride+i */
    void *awe_win = nullptr;         /* awe window of kMaxBatch pages */
    char *raw_win = nullptr;         /* PROT_NONE reservation of kMaxBatch pages */
    int raw_fd = -1;                 /* memfd of kPoolFrames pages: raw frame k at offset k*page */
};
Env g_env;

struct Case {
    Op op;
    Layout layout;
    Impl impl;
    size_t n; /* batch size in pages */
};

/*
 * The arrays one case works from, in "entry order": page order for awe_map and the raw map loop,
 * and the scatter array's order for scatter_replace. Entry k moves page pages[k].
 */
struct Plan {
    std::vector<size_t> pages;              /* window page index of entry k */
    std::vector<awe_frame_t> awe_frames[2]; /* set s: the awe frame entry k receives */
    std::vector<off_t> raw_offsets[2];      /* set s: the memfd offset entry k receives */
    std::vector<void *> awe_vas;            /* entry k's address in the awe window */
};

/* A random permutation of [0, n) in which no two neighbours differ by one, so that no two
 * adjacent pages receive consecutive frames (in either direction) and nothing coalesces.
 * 1. Shuffle.  2. Sweep: wherever perm[p] and perm[p+1] are consecutive, swap perm[p+1] with a
 * random entry.  3. Repeat the sweep until one finds nothing (n >= 4 always has a solution). */
std::vector<size_t> scattered_perm(size_t n, std::mt19937_64 &rng)
{
    assert(n != 2 && n != 3); /* no such permutation exists */
    std::vector<size_t> perm(n);
    std::iota(perm.begin(), perm.end(), size_t{0});
    std::shuffle(perm.begin(), perm.end(), rng); /* Step 1 */
    auto touching = [&perm](size_t p) {
        return perm[p] + 1 == perm[p + 1] || perm[p + 1] + 1 == perm[p];
    };
    for (bool clean = false; !clean && n > 1;) { /* Step 3 */
        clean = true;
        for (size_t p = 0; p + 1 < n; p++) { /* Step 2 */
            if (touching(p)) {
                clean = false;
                std::swap(perm[p + 1], perm[rng() % n]);
            }
        }
    }
    return perm;
}

Plan make_plan(const Case &c)
{
    /* A seed per batch size: every case of one size sees the same permutation. */
    std::mt19937_64 rng(kSeed + c.n);
    std::vector<size_t> frame_of_page(c.n);
    if (c.layout == LAYOUT_SCATTERED)
        frame_of_page = scattered_perm(c.n, rng);
    else
        std::iota(frame_of_page.begin(), frame_of_page.end(), size_t{0});

    Plan plan;
    plan.pages.resize(c.n);
    std::iota(plan.pages.begin(), plan.pages.end(), size_t{0});
    if (c.op == OP_SCATTER && c.layout == LAYOUT_SCATTERED)
        std::shuffle(plan.pages.begin(), plan.pages.end(), rng);

    for (int s = 0; s < 2; s++) {
        plan.awe_frames[s].resize(c.n);
        plan.raw_offsets[s].resize(c.n);
        for (size_t k = 0; k < c.n; k++) {
            size_t idx = s * kSetStride + frame_of_page[plan.pages[k]];
            plan.awe_frames[s][k] = g_env.frames[idx];
            plan.raw_offsets[s][k] = static_cast<off_t>(idx * g_env.page);
        }
    }
    plan.awe_vas.resize(c.n);
    for (size_t k = 0; k < c.n; k++)
        plan.awe_vas[k] = static_cast<char *>(g_env.awe_win) + plan.pages[k] * g_env.page;
    return plan;
}

/* ---- The raw baseline ------------------------------------------------------------------- */

/* One mmap(MAP_FIXED | MAP_SHARED) of the memfd per entry, in entry order. */
bool raw_map(const Plan &plan, int set)
{
    for (size_t k = 0; k < plan.pages.size(); k++) {
        void *va = g_env.raw_win + plan.pages[k] * g_env.page;
        if (mmap(va, g_env.page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, g_env.raw_fd,
                 plan.raw_offsets[set][k]) == MAP_FAILED)
            return false;
    }
    return true;
}

/* The reservation's own state: inaccessible, no memory behind it, merged with its neighbours. */
void *raw_reserve_at(void *va, size_t bytes)
{
    return mmap(va, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
                0);
}

/* The raw unmap: one PROT_NONE mmap per page, putting the reservation back (munmap would leave
 * a hole that another thread's mmap could take, which no window may allow). */
bool raw_unmap_per_page(size_t n)
{
    for (size_t p = 0; p < n; p++)
        if (raw_reserve_at(g_env.raw_win + p * g_env.page, g_env.page) == MAP_FAILED)
            return false;
    return true;
}

/* Untimed clean-up: the first n pages back to the reservation in one call. */
bool raw_reset(size_t n)
{
    return raw_reserve_at(g_env.raw_win, n * g_env.page) != MAP_FAILED;
}

/* ---- The awe side ---------------------------------------------------------------------- */

uint64_t awe_os_calls()
{
    struct awe_stats st;
    if (awe_get_stats(&st) != AWE_OK)
        return 0;
    return st.runs;
}

/* One call of the operation under test on set `set` (for the map-like ops). */
int awe_do_map(const Case &c, const Plan &plan, int set)
{
    if (c.op == OP_SCATTER)
        return awe_map_scatter(plan.awe_vas.data(), c.n, plan.awe_frames[set].data());
    return awe_map(g_env.awe_win, c.n, plan.awe_frames[set].data());
}

/* ---- The benchmark body ---------------------------------------------------------------- */

using Clock = std::chrono::steady_clock;

void fail(benchmark::State &state, const char *what, int awe_rc)
{
    char msg[256];
    if (awe_rc != 0)
        snprintf(msg, sizeof(msg), "%s: %s (%d; awe vma_budget %" PRIu64 ")", what,
                 awe_strerror(awe_rc), awe_rc, g_env.vma_budget);
    else
        snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
    state.SkipWithError(msg);
}

/* map_replace and scatter_replace: prime with set 0, then each iteration maps the other set
 * over the pages, so every call replaces the frames the previous one put there. */
void run_replace(benchmark::State &state, const Case &c, const Plan &plan)
{
    uint64_t calls = 0;
    int set = 1;
    if (c.impl == IMPL_AWE) {
        int rc = awe_do_map(c, plan, 0);
        if (rc != AWE_OK)
            return fail(state, "awe prime", rc);
        uint64_t calls0 = awe_os_calls();
        for (auto _ : state) {
            rc = awe_do_map(c, plan, set);
            if (rc != AWE_OK) {
                fail(state, "awe map", rc);
                break;
            }
            set ^= 1;
        }
        calls = awe_os_calls() - calls0;
        rc = awe_unmap(g_env.awe_win, c.n);
        if (rc != AWE_OK && !state.error_occurred())
            fail(state, "awe clean-up", rc);
    } else {
        if (!raw_map(plan, 0))
            return fail(state, "raw prime", 0);
        for (auto _ : state) {
            if (!raw_map(plan, set)) {
                fail(state, "raw map", 0);
                break;
            }
            set ^= 1;
        }
        calls = static_cast<uint64_t>(state.iterations()) * c.n;
        raw_reset(c.n);
    }
    state.counters["os_calls"] =
        benchmark::Counter(static_cast<double>(calls), benchmark::Counter::kAvgIterations);
}

/* map_empty and unmap: each iteration maps set 0 into the unmapped pages and unmaps it again;
 * only the operation under test is timed (manual time, one steady_clock read on each side). */
void run_pair(benchmark::State &state, const Case &c, const Plan &plan)
{
    const bool time_map = c.op == OP_MAP_EMPTY;
    uint64_t calls = 0;
    for (auto _ : state) {
        Clock::time_point map0, map1, unmap0, unmap1;
        bool ok;
        int rc = AWE_OK;
        if (c.impl == IMPL_AWE) {
            uint64_t calls0 = awe_os_calls();
            map0 = Clock::now();
            rc = awe_map(g_env.awe_win, c.n, plan.awe_frames[0].data());
            map1 = Clock::now();
            uint64_t calls1 = awe_os_calls();
            if (rc == AWE_OK) {
                unmap0 = Clock::now();
                rc = awe_unmap(g_env.awe_win, c.n);
                unmap1 = Clock::now();
            }
            calls += time_map ? calls1 - calls0 : awe_os_calls() - calls1;
            ok = rc == AWE_OK;
        } else {
            map0 = Clock::now();
            ok = raw_map(plan, 0);
            map1 = Clock::now();
            if (ok && time_map) {
                ok = raw_reset(c.n);
            } else if (ok) {
                unmap0 = Clock::now();
                ok = raw_unmap_per_page(c.n);
                unmap1 = Clock::now();
            }
            calls += c.n;
        }
        if (!ok) {
            fail(state, c.impl == IMPL_AWE ? "awe map/unmap" : "raw map/unmap", rc);
            break;
        }
        auto timed = time_map ? map1 - map0 : unmap1 - unmap0;
        state.SetIterationTime(std::chrono::duration<double>(timed).count());
    }
    state.counters["os_calls"] =
        benchmark::Counter(static_cast<double>(calls), benchmark::Counter::kAvgIterations);
}

void run_case(benchmark::State &state, Case c)
{
    const Plan plan = make_plan(c); /* not timed: before the loop */
    if (c.op == OP_MAP_REPLACE || c.op == OP_SCATTER)
        run_replace(state, c, plan);
    else
        run_pair(state, c, plan);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.n));
}

void register_cases()
{
    for (int op = 0; op < OP_COUNT; op++)
        for (int layout = 0; layout < LAYOUT_COUNT; layout++)
            for (size_t n : kBatches)
                for (int impl = 0; impl < IMPL_COUNT; impl++) {
                    Case c{static_cast<Op>(op), static_cast<Layout>(layout),
                           static_cast<Impl>(impl), n};
                    std::string name = std::string(kOpNames[op]) + "/" + kLayoutNames[layout] +
                                       "/" + kImplNames[impl];
                    benchmark::internal::Benchmark *b =
                        benchmark::RegisterBenchmark(name.c_str(), run_case, c);
                    b->Arg(static_cast<int64_t>(n))->Unit(benchmark::kMicrosecond);
                    if (op == OP_MAP_EMPTY || op == OP_UNMAP)
                        b->UseManualTime();
                    else
                        b->UseRealTime();
                }
}

/* ---- The table ------------------------------------------------------------------------- */

/* One implementation's result for one (op, layout, batch). */
struct Result : BenchResult {
    double os_calls = 0; /* OS mapping calls per batch */
};

using RowKey = std::tuple<int, int, size_t>; /* op, layout, batch */

/* The console reporter, also keeping every run's pages/s for the table. */
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

    std::map<RowKey, std::array<Result, IMPL_COUNT>> rows;
    bool any_error = false;

  private:
    static int index_of(const std::string &s, const char *const *names, int count)
    {
        for (int i = 0; i < count; i++)
            if (s == names[i])
                return i;
        return -1;
    }

    void collect(const Run &r)
    {
        /* function_name is "<op>/<layout>/<impl>", args is the batch size. */
        std::vector<std::string> parts;
        std::stringstream ss(r.run_name.function_name);
        for (std::string part; std::getline(ss, part, '/');)
            parts.push_back(part);
        if (parts.size() != 3)
            return;
        int op = index_of(parts[0], kOpNames, OP_COUNT);
        int layout = index_of(parts[1], kLayoutNames, LAYOUT_COUNT);
        int impl = index_of(parts[2], kImplNames, IMPL_COUNT);
        if (op < 0 || layout < 0 || impl < 0)
            return;
        Result &res = rows[RowKey(op, layout, std::stoull(r.run_name.args))][impl];
        any_error |= r.error_occurred;
        if (!res.record(r))
            return;
        auto calls = r.counters.find("os_calls");
        if (calls != r.counters.end())
            res.os_calls = calls->second.value;
    }
};

std::string cell(const Result &r)
{
    if (!r.seen)
        return "-";
    if (!r.error.empty())
        return "error";
    return si(r.rate());
}

/* The markdown table: one row per (operation, frames, batch), awe next to raw. */
std::string make_table(const TableReporter &rep)
{
    std::ostringstream out;
    out << "| operation | frames | batch (pages) | awe pages/s | raw mmap-per-page pages/s "
           "| awe/raw | awe mmap calls/batch |\n";
    out << "|---|---|---:|---:|---:|---:|---:|\n";
    for (const auto &row : rep.rows) {
        const Result &awe = row.second[IMPL_AWE];
        const Result &raw = row.second[IMPL_RAW];
        std::string ratio = "-";
        if (awe.seen && raw.seen && awe.error.empty() && raw.error.empty() && raw.rate() > 0) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%.2f", awe.rate() / raw.rate());
            ratio = buf;
        }
        std::string calls = "-";
        if (awe.seen && awe.error.empty()) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%.0f", awe.os_calls);
            calls = buf;
        }
        out << "| " << kOpTitles[std::get<0>(row.first)] << " | "
            << kLayoutNames[std::get<1>(row.first)] << " | " << std::get<2>(row.first) << " | "
            << cell(awe) << " | " << cell(raw) << " | " << ratio << " | " << calls << " |\n";
    }
    /* The failures, one line each, after a blank line. */
    bool first_error = true;
    for (const auto &row : rep.rows)
        for (int impl = 0; impl < IMPL_COUNT; impl++) {
            const Result &r = row.second[impl];
            if (r.error.empty())
                continue;
            out << (first_error ? "\n" : "") << kOpNames[std::get<0>(row.first)] << "/"
                << kLayoutNames[std::get<1>(row.first)] << "/" << kImplNames[impl] << "/"
                << std::get<2>(row.first) << ": " << r.error << "\n";
            first_error = false;
        }
    return out.str();
}

/* ---- Set-up ---------------------------------------------------------------------------- */

bool env_init()
{
    struct awe_caps caps;
    int rc = awe_get_caps(&caps);
    if (rc != AWE_OK) {
        fprintf(stderr, "bench_awe: awe_get_caps: %s\n", awe_strerror(rc));
        return false;
    }
    g_env.page = caps.page_size;
    g_env.vma_budget = caps.vma_budget;
    g_env.max_map_count = caps.max_map_count;

    /* Frames: both sets in one pool; the contiguous cases need consecutive numbers. */
    g_env.frames.assign(kPoolFrames, 0);
    size_t count = kPoolFrames;
    rc = awe_frames_alloc(&count, g_env.frames.data(), 0, -1);
    if (rc != AWE_OK || count != kPoolFrames) {
        fprintf(stderr, "bench_awe: awe_frames_alloc(%zu): %s (got %zu)\n", kPoolFrames,
                awe_strerror(rc), count);
        return false;
    }
    std::sort(g_env.frames.begin(), g_env.frames.end());
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 1; i < kMaxBatch; i++)
            if (g_env.frames[s * kSetStride + i] != g_env.frames[s * kSetStride + i - 1] + 1) {
                fprintf(stderr, "bench_awe: the frame pool is not consecutive; the contiguous "
                                "cases need it to be\n");
                return false;
            }

    rc = awe_window_reserve(nullptr, kMaxBatch * g_env.page, 0, &g_env.awe_win);
    if (rc != AWE_OK) {
        fprintf(stderr, "bench_awe: awe_window_reserve: %s\n", awe_strerror(rc));
        return false;
    }

    g_env.raw_fd = memfd_create("bench_awe_raw", MFD_CLOEXEC);
    if (g_env.raw_fd < 0 ||
        ftruncate(g_env.raw_fd, static_cast<off_t>(kPoolFrames * g_env.page)) != 0) {
        perror("bench_awe: memfd");
        return false;
    }
    void *raw = mmap(nullptr, kMaxBatch * g_env.page, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        perror("bench_awe: reserve");
        return false;
    }
    g_env.raw_win = static_cast<char *>(raw);
    return true;
}

void env_fini()
{
    if (g_env.awe_win != nullptr)
        awe_window_release(g_env.awe_win);
    size_t count = g_env.frames.size();
    if (count > 0 && g_env.frames[0] != 0)
        awe_frames_free(&count, g_env.frames.data());
    if (g_env.raw_win != nullptr)
        munmap(g_env.raw_win, kMaxBatch * g_env.page);
    if (g_env.raw_fd >= 0)
        close(g_env.raw_fd);
}

} // namespace

int main(int argc, char **argv)
{
    BenchArgs args;

    if (!bench_parse(
            argc, argv, kDefaultMinTime, [](const char *) { return false; }, args))
        return 1;
    if (!env_init()) {
        env_fini();
        return 1;
    }
    register_cases();

    TableReporter reporter(bench_console_options(args));
    bench_run(reporter, args);
    struct awe_stats st;
    if (awe_get_stats(&st) == AWE_OK)
        fprintf(stderr,
                "bench_awe: awe kernel mappings: peak %" PRIu64 " of a budget of %" PRIu64
                " (vm.max_map_count %" PRIu64 ")\n",
                st.vmas_peak, g_env.vma_budget, g_env.max_map_count);
    benchmark::Shutdown();
    env_fini();
    return bench_finish("bench_awe", reporter.rows.empty() ? "" : make_table(reporter), args,
                        reporter.any_error);
}
