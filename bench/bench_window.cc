/*
 * bench/bench_window.cc: a cost model of window changes on Linux (engine/README.md section 10).
 *
 * Every way the kernel offers to make a page of memory appear at (or leave) an address, timed per
 * page, at engine page sizes of 4 KiB, 64 KiB and 2 MiB, each twice: alone (busy:0) and with a
 * second thread of this process spinning on the other CPU (busy:1). A TLB shootdown only
 * interrupts CPUs that run the process, so "alone" is the best case and "busy" what a
 * multi-threaded program (any real user of the cache) pays. The main thread is pinned to the
 * first CPU the process may use, the spinner to the second (sched_setaffinity); the spinner's
 * share of its CPU over the case is reported (`spin_cpu`), since on a shared machine it may be
 * descheduled.
 *
 * This file measures the kernel's mechanisms themselves, so it makes raw system calls (mmap,
 * munmap, pread, userfaultfd ioctls) on a memfd and anonymous memory of its own, as
 * awe_linux.c does inside the AWE layer; the AWE API (awe/awe.h) is used for the cases that are
 * the project's own path (the awe cases). An engine page of P bytes is P / 4 KiB consecutive 4 KiB
 * pages of the memfd, mapped by one call, as the engine maps a buffer (engine/README.md 2.1); no
 * huge page (hugetlb, shmem THP) is used for the memfd, as the engine's default frames are small.
 * Anonymous memory for UFFDIO_MOVE asks for transparent huge pages at 2 MiB (MADV_HUGEPAGE); the
 * `thp` counter says whether it got them.
 *
 * Cases: <mechanism>/<variant>/n:<pages per call>/page_kib:<P>/busy:<0|1>
 *   replace/touch        mmap(MAP_FIXED|MAP_SHARED) of a memfd page over a slot that maps another
 *                        (present: touched), then a read of every 4 KiB of it
 *   empty/touch          the same into a slot holding the PROT_NONE reservation (no present page;
 *                        the untimed reset puts the reservation back), then the reads
 *   empty/populate       as empty/touch with MAP_POPULATE
 *   unmap/<how>_<layout> one call taking n present slots away: how = munmap (the hole is closed
 *                        again untimed) or reserve (mmap PROT_NONE MAP_FIXED over them, what AWE
 *                        does); layout = scattered (every slot its own VMA) or contiguous (one VMA)
 *   uffd_move/scattered  one UFFDIO_MOVE of one page between two anonymous regions (ping-pong)
 *   uffd_move/contiguous one UFFDIO_MOVE of a run of n pages; both then read every 4 KiB moved
 *   copy/pread           pread of one page from the memfd into a present buffer page
 *   copy/memcpy          memcpy of one page from a permanent read-only view of the memfd
 *   awe/map_replace      awe_map of one buffer (P / 4 KiB frames) over a slot holding another,
 *                        then the reads: the engine's window miss
 *   awe/scatter_empty    awe_map_scatter of n buffers into empty slots, then the reads
 * Every case reports `per_page` (seconds per P-byte page), `wall_per_page` and items/s (pages
 * per second). Only the operation is timed, by hand (manual time): by default the main thread's
 * CPU time (CLOCK_THREAD_CPUTIME_ID) around it, since on a shared machine the wall clock also
 * counts the time other processes hold the CPU, while everything the kernel does for the call
 * (faults, page tables, spinning on a shootdown's acknowledgements) is CPU time of this thread;
 * --wall times by the wall clock instead. The cost of reading the clocks is measured at start
 * and subtracted. After the runs a markdown table gives the median per-page cost of each case
 * alone and busy. --markdown=FILE and --table-only as in bench_awe.
 *
 * Linux only (memfd, userfaultfd); elsewhere main() says so and returns 0.
 */
#if defined(__linux__)

#include "awe.h"

#include "bench_main.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

/* UFFDIO_MOVE (Linux 6.8) is missing from older uapi headers (Debian 12's). */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move;
};
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE  _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

namespace
{

constexpr size_t kSmall = 4096;                     /* the base page */
constexpr size_t kMemfdBytes = size_t{256} << 20;   /* the frames memfd, all committed */
constexpr size_t kReserveBytes = size_t{256} << 20; /* the raw window reservation */
constexpr size_t kSlots = 64;                       /* slots cycled by the single-page cases */
constexpr size_t kCopyBytes = size_t{32} << 20;     /* destination of the copy cases */
constexpr size_t kPageSizes[] = {4096, 65536, 2097152};
constexpr size_t kUnmapRuns[] = {1, 16, 256};
constexpr size_t kMoveRuns[] = {16, 256};
constexpr size_t kMaxBytesPerCall = size_t{64} << 20; /* runs above this are left out (2 MiB) */
constexpr const char *kDefaultMinTime = "0.05";

enum Mech {
    M_REPLACE,
    M_EMPTY,
    M_EMPTY_POPULATE,
    M_MUNMAP_SCATTERED,
    M_MUNMAP_CONTIG,
    M_RESERVE_SCATTERED,
    M_RESERVE_CONTIG,
    M_UFFD_SCATTERED,
    M_UFFD_CONTIG,
    M_COPY_PREAD,
    M_COPY_MEMCPY,
    M_AWE_REPLACE,
    M_AWE_SCATTER,
    M_COUNT
};

const char *const kMechNames[M_COUNT] = {"replace/touch",
                                         "empty/touch",
                                         "empty/populate",
                                         "unmap/munmap_scattered",
                                         "unmap/munmap_contiguous",
                                         "unmap/reserve_scattered",
                                         "unmap/reserve_contiguous",
                                         "uffd_move/scattered",
                                         "uffd_move/contiguous",
                                         "copy/pread",
                                         "copy/memcpy",
                                         "awe/map_replace",
                                         "awe/scatter_empty"};

struct Case {
    Mech m;
    size_t n;    /* pages per call */
    size_t page; /* P, bytes */
    int busy;
};

/* What every case shares, set up once in main. */
struct Env {
    int fd = -1;                /* memfd of kMemfdBytes, committed: frame f at f * P */
    const char *view = nullptr; /* the whole memfd mapped read-only, populated */
    char *win = nullptr;        /* PROT_NONE reservation of kReserveBytes, 2 MiB aligned */
    int cpu[2] = {-1, -1};      /* the main thread's CPU and the spinner's (-1: none) */
    bool uffd_ok = false;       /* UFFDIO_MOVE available */
    std::string uffd_why;       /* why not */
};
Env g_env;

using Clock = std::chrono::steady_clock;

/* ---- Helpers --------------------------------------------------------------------------- */

/* Reads one byte of every 4 KiB of [p, p + len): the first touch of a mapping. */
inline void touch(const char *p, size_t len)
{
    unsigned sum = 0;
    for (size_t off = 0; off < len; off += kSmall)
        sum += static_cast<unsigned char>(*static_cast<const volatile char *>(p + off));
    benchmark::DoNotOptimize(sum);
}

inline bool map_frame(char *va, size_t len, size_t frame_off, int extra = 0)
{
    return mmap(va, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | extra, g_env.fd,
                static_cast<off_t>(frame_off)) != MAP_FAILED;
}

inline bool reserve_at(char *va, size_t len)
{
    return mmap(va, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
                0) != MAP_FAILED;
}

/* Slot i's frame index in a scattered layout: i * 5 mod m. With m a power of two (here) the
 * indexes of slots below m are distinct and no two neighbouring slots hold consecutive frames,
 * so every slot stays its own VMA (the kernel merges neighbours with consecutive offsets). */
inline size_t scattered(size_t i, size_t m)
{
    return (i * 5) % m;
}

double seconds(Clock::duration d)
{
    return std::chrono::duration<double>(d).count();
}

double thread_cpu()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/* Both clocks at the two ends of a timed part: the wall clock and this thread's CPU time. */
struct Stamp {
    Clock::time_point wall;
    double cpu;
};

inline Stamp stamp_start()
{
    Stamp s;
    s.wall = Clock::now();
    s.cpu = thread_cpu();
    return s;
}

inline Stamp stamp_end()
{
    Stamp s;
    s.cpu = thread_cpu();
    s.wall = Clock::now();
    return s;
}

/* What a case's timed parts add up to. The manual time is the thread's CPU time (less the cost
 * of reading that clock, measured at start-up), because on a shared machine the wall clock also
 * counts the time other processes hold this CPU; the kernel's work (faults, page-table changes,
 * waiting for a shootdown's acknowledgements, which spins) is all CPU time of this thread.
 * --wall uses the wall clock instead; the wall time per page is reported either way. */
struct Laps {
    double wall = 0;          /* seconds, summed */
    double overhead = 0;      /* CPU seconds one stamp_start + stamp_end pair adds */
    double overhead_wall = 0; /* wall seconds it adds */
    bool use_wall = false;

    void lap(benchmark::State &state, const Stamp &t0, const Stamp &t1)
    {
        double w = std::max(seconds(t1.wall - t0.wall) - overhead_wall, 1e-9);
        double c = std::max(t1.cpu - t0.cpu - overhead, 1e-9);
        wall += w;
        state.SetIterationTime(use_wall ? w : c);
    }
};
Laps g_laps;

/* The median CPU and wall time of an empty timed part, into g_laps. */
void stamp_overhead()
{
    std::vector<double> c(2001), w(2001);
    for (size_t i = 0; i < c.size(); i++) {
        Stamp a = stamp_start();
        Stamp b = stamp_end();
        c[i] = b.cpu - a.cpu;
        w[i] = seconds(b.wall - a.wall);
    }
    std::nth_element(c.begin(), c.begin() + 1000, c.end());
    std::nth_element(w.begin(), w.begin() + 1000, w.end());
    g_laps.overhead = c[1000];
    g_laps.overhead_wall = w[1000];
}

void fail(benchmark::State &state, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
    state.SkipWithError(msg);
}

void fail_awe(benchmark::State &state, const char *what, int rc)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s (%d)", what, awe_strerror(rc), rc);
    state.SkipWithError(msg);
}

bool pin_self(int cpu)
{
    if (cpu < 0)
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0; /* 0: the calling thread */
}

/* AnonHugePages of the whole process, kB (-1 if unreadable). */
long anon_huge_kb()
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (f == nullptr)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f) != nullptr)
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- The busy thread ------------------------------------------------------------------- */

/* A second thread of this process spinning on the other CPU for the life of a case. Its CPU
 * share (thread CPU time over wall time) says whether it really ran there. */
class Spinner
{
  public:
    explicit Spinner(bool on) : on_(on)
    {
        if (!on_)
            return;
        t_ = std::thread([this] {
            pinned_ = pin_self(g_env.cpu[1]);
            started_.store(true, std::memory_order_release);
            uint64_t spins = 0;
            while (!stop_.load(std::memory_order_relaxed))
                spins++;
            benchmark::DoNotOptimize(spins);
        });
        while (!started_.load(std::memory_order_acquire))
            std::this_thread::yield();
        pthread_getcpuclockid(t_.native_handle(), &clk_);
        cpu0_ = cpu_now();
        wall0_ = Clock::now();
    }

    /* Stops the thread; returns its CPU share since the start (0 when off). */
    double stop()
    {
        if (!on_ || !t_.joinable())
            return 0;
        double cpu = cpu_now() - cpu0_;
        double wall = seconds(Clock::now() - wall0_);
        stop_.store(true, std::memory_order_relaxed);
        t_.join();
        return wall > 0 ? cpu / wall : 0;
    }

    bool pinned() const
    {
        return pinned_;
    }

    ~Spinner()
    {
        stop();
    }

  private:
    double cpu_now() const
    {
        struct timespec ts;
        if (clock_gettime(clk_, &ts) != 0)
            return 0;
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }

    bool on_;
    std::thread t_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> started_{false};
    bool pinned_ = false;
    clockid_t clk_{};
    double cpu0_ = 0;
    Clock::time_point wall0_;
};

/* ---- The raw memfd cases --------------------------------------------------------------- */

/* replace/touch: kSlots slots; slot i holds frame set s at index s * kSlots + scattered(i).
 * Priming maps set 0 everywhere (touched); each iteration maps the other set over the next slot
 * and reads it. */
void run_replace(benchmark::State &state, const Case &c)
{
    const size_t P = c.page;
    std::vector<int> set(kSlots, 0);
    for (size_t i = 0; i < kSlots; i++) {
        if (!map_frame(g_env.win + i * P, P, scattered(i, kSlots) * P))
            return fail(state, "prime mmap");
        touch(g_env.win + i * P, P);
    }
    size_t i = 0;
    for (auto _ : state) {
        char *va = g_env.win + i * P;
        int s = set[i] ^ 1;
        size_t off = (static_cast<size_t>(s) * kSlots + scattered(i, kSlots)) * P;
        Stamp t0 = stamp_start();
        bool ok = map_frame(va, P, off);
        if (ok)
            touch(va, P);
        Stamp t1 = stamp_end();
        if (!ok)
            return fail(state, "mmap");
        set[i] = s;
        g_laps.lap(state, t0, t1);
        i = (i + 1) % kSlots;
    }
}

/* empty/touch, empty/populate: the slot holds the reservation; map, read, put it back. */
void run_empty(benchmark::State &state, const Case &c)
{
    const size_t P = c.page;
    const int extra = c.m == M_EMPTY_POPULATE ? MAP_POPULATE : 0;
    size_t i = 0;
    for (auto _ : state) {
        char *va = g_env.win + i * P;
        Stamp t0 = stamp_start();
        bool ok = map_frame(va, P, scattered(i, kSlots) * P, extra);
        if (ok)
            touch(va, P);
        Stamp t1 = stamp_end();
        if (!ok || !reserve_at(va, P))
            return fail(state, "mmap");
        g_laps.lap(state, t0, t1);
        i = (i + 1) % kSlots;
    }
}

/* The unmap cases: n present slots (mapped with MAP_POPULATE, untimed), then one call takes them.
 */
void run_unmap(benchmark::State &state, const Case &c)
{
    const size_t P = c.page;
    const bool contiguous = c.m == M_MUNMAP_CONTIG || c.m == M_RESERVE_CONTIG;
    const bool use_munmap = c.m == M_MUNMAP_SCATTERED || c.m == M_MUNMAP_CONTIG;
    const size_t len = c.n * P;
    for (auto _ : state) {
        bool ok = true;
        if (contiguous) {
            ok = map_frame(g_env.win, len, 0, MAP_POPULATE);
        } else {
            for (size_t i = 0; i < c.n && ok; i++)
                ok = map_frame(g_env.win + i * P, P, scattered(i, 2 * c.n) * P, MAP_POPULATE);
        }
        if (!ok)
            return fail(state, "map");
        Stamp t0 = stamp_start();
        ok = use_munmap ? munmap(g_env.win, len) == 0 : reserve_at(g_env.win, len);
        Stamp t1 = stamp_end();
        if (!ok || (use_munmap && !reserve_at(g_env.win, len)))
            return fail(state, "unmap");
        g_laps.lap(state, t0, t1);
    }
}

/* copy/pread, copy/memcpy: page k of the memfd (cycling over all of it) into destination
 * page k mod (kCopyBytes / P) of a present anonymous buffer. */
void run_copy(benchmark::State &state, const Case &c)
{
    const size_t P = c.page;
    const size_t frames = kMemfdBytes / P;
    const size_t dsts = kCopyBytes / P;
    char *dst = static_cast<char *>(mmap(nullptr, kCopyBytes, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    if (dst == MAP_FAILED)
        return fail(state, "mmap buffer");
    size_t k = 0;
    for (auto _ : state) {
        char *d = dst + (k % dsts) * P;
        size_t off = (k % frames) * P;
        Stamp t0 = stamp_start();
        bool ok = true;
        if (c.m == M_COPY_PREAD)
            ok = pread(g_env.fd, d, P, static_cast<off_t>(off)) == static_cast<ssize_t>(P);
        else
            std::memcpy(d, g_env.view + off, P);
        benchmark::ClobberMemory();
        Stamp t1 = stamp_end();
        if (!ok) {
            munmap(dst, kCopyBytes);
            return fail(state, "pread");
        }
        g_laps.lap(state, t0, t1);
        k++;
    }
    munmap(dst, kCopyBytes);
}

/* ---- UFFDIO_MOVE ----------------------------------------------------------------------- */

/* A userfaultfd with the MOVE feature, or -1 with errno set (EOPNOTSUPP: no MOVE). */
int uffd_open()
{
    int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    if (fd < 0)
        return -1;
    struct uffdio_api api;
    std::memset(&api, 0, sizeof(api));
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_MOVE;
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        int e = errno;
        close(fd);
        errno = e == EINVAL ? EOPNOTSUPP : e;
        return -1;
    }
    return fd;
}

/* Two anonymous regions of `bytes` each (2 MiB aligned), registered with one userfaultfd; the
 * first populated. Moves go from side `from` to the other at the same offset. */
struct MovePair {
    int uffd = -1;
    char *raw = nullptr; /* the mapping both regions live in */
    size_t raw_len = 0;
    char *side[2] = {nullptr, nullptr};
    size_t bytes = 0;
    long thp_kb = 0; /* AnonHugePages gained by populating side 0 */

    bool open(size_t len, bool huge)
    {
        bytes = len;
        const size_t align = size_t{2} << 20;
        size_t stride = (len + align - 1) / align * align;
        raw_len = 2 * stride + align;
        void *p = mmap(nullptr, raw_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return false;
        raw = static_cast<char *>(p);
        char *base = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(raw) + align - 1) &
                                              ~(uintptr_t)(align - 1));
        side[0] = base;
        side[1] = base + stride;
        if (huge && madvise(base, 2 * stride, MADV_HUGEPAGE) != 0)
            return false;
        /* Populate first: a registered region's missing pages would fault into the userfaultfd. */
        long before = anon_huge_kb();
        for (size_t off = 0; off < len; off += kSmall)
            side[0][off] = static_cast<char>(off / kSmall + 1);
        thp_kb = anon_huge_kb() - before;
        uffd = uffd_open();
        if (uffd < 0)
            return false;
        for (int s = 0; s < 2; s++) {
            struct uffdio_register reg;
            std::memset(&reg, 0, sizeof(reg));
            reg.range.start = reinterpret_cast<uintptr_t>(side[s]);
            reg.range.len = stride;
            reg.mode = UFFDIO_REGISTER_MODE_MISSING;
            if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
                return false;
        }
        return true;
    }

    /* One UFFDIO_MOVE of [off, off + len) from side `from` to the other side. */
    bool move(int from, size_t off, size_t len)
    {
        struct uffdio_move mv;
        std::memset(&mv, 0, sizeof(mv));
        mv.src = reinterpret_cast<uintptr_t>(side[from] + off);
        mv.dst = reinterpret_cast<uintptr_t>(side[from ^ 1] + off);
        mv.len = len;
        mv.mode = 0;
        return ioctl(uffd, UFFDIO_MOVE, &mv) == 0 && mv.move == static_cast<__s64>(len);
    }

    ~MovePair()
    {
        if (uffd >= 0)
            close(uffd);
        if (raw != nullptr)
            munmap(raw, raw_len);
    }
};

/* uffd_move/scattered: kSlots pages; each iteration moves the next page (in the scattered
 * order) to the other side and reads it; after a sweep the direction turns.
 * uffd_move/contiguous: n pages; each iteration moves the whole run over and reads it. */
void run_uffd(benchmark::State &state, const Case &c)
{
    if (!g_env.uffd_ok) {
        state.SkipWithError(g_env.uffd_why.c_str());
        return;
    }
    const size_t P = c.page;
    const bool contiguous = c.m == M_UFFD_CONTIG;
    const size_t pages = contiguous ? c.n : kSlots;
    MovePair mp;
    if (!mp.open(pages * P, P >= (size_t{2} << 20)))
        return fail(state, "userfaultfd regions");
    int from = 0;
    size_t i = 0;
    for (auto _ : state) {
        size_t off = contiguous ? 0 : scattered(i, kSlots) * P;
        size_t len = contiguous ? pages * P : P;
        Stamp t0 = stamp_start();
        bool ok = mp.move(from, off, len);
        if (ok)
            touch(mp.side[from ^ 1] + off, len);
        Stamp t1 = stamp_end();
        if (!ok)
            return fail(state, "UFFDIO_MOVE");
        g_laps.lap(state, t0, t1);
        if (contiguous || ++i == kSlots) {
            i = 0;
            from ^= 1;
        }
    }
    state.counters["thp"] = static_cast<double>(mp.thp_kb > 0);
}

/* ---- The AWE API ----------------------------------------------------------------------- */

/* Frames for `buffers` buffers of k = P / 4 KiB consecutive frames each, and a window of
 * `slots` slots: one per page size, made on first use and kept to the end (like a cache's). */
struct AweSet {
    std::vector<awe_frame_t> frames;
    void *win = nullptr;
    size_t k = 0;

    int open(size_t buffers, size_t P, size_t slots)
    {
        k = P / kSmall;
        frames.assign(buffers * k, 0);
        size_t count = frames.size();
        int rc = awe_frames_alloc(&count, frames.data(), AWE_FRAMES_POPULATE, -1);
        if (rc != AWE_OK)
            return rc;
        if (count != frames.size()) {
            frames.resize(count);
            return AWE_ENOMEM;
        }
        std::sort(frames.begin(), frames.end());
        for (size_t b = 0; b < buffers; b++)
            for (size_t j = 1; j < k; j++)
                if (frames[b * k + j] != frames[b * k + j - 1] + 1)
                    return AWE_EINVAL; /* a buffer must be one run, as in the engine */
        rc = awe_window_reserve(nullptr, slots * P, 0, &win);
        if (rc != AWE_OK)
            return rc;
        /* Warm every frame once (map, read, unmap): a committed memfd page that was never read
         * is zeroed at its first fault, one 4 KiB fault at a time, which is not what a cache's
         * long-lived frames cost. The raw memfd is warmed by its populated view alike. */
        char *w = static_cast<char *>(win);
        for (size_t b = 0; b < buffers && rc == AWE_OK; b++) {
            rc = awe_map(w, k, buffer(b));
            if (rc == AWE_OK) {
                touch(w, P);
                rc = awe_unmap(w, k);
            }
        }
        return rc;
    }

    const awe_frame_t *buffer(size_t b) const
    {
        return &frames[b * k];
    }

    AweSet() = default;
    AweSet(const AweSet &) = delete;
    AweSet &operator=(const AweSet &) = delete;

    ~AweSet()
    {
        if (win != nullptr)
            awe_window_release(win);
        size_t count = frames.size();
        if (count > 0 && frames[0] != 0)
            awe_frames_free(&count, frames.data());
    }
};

/* Buffers in one awe/scatter_empty call: 256, or 16 where 256 would pass kMaxBytesPerCall. */
size_t awe_scatter_n(size_t P)
{
    return 256 * P > kMaxBytesPerCall ? 16 : 256;
}

std::map<size_t, std::unique_ptr<AweSet>> g_awe; /* by page size */

/* The AweSet of page size P, made on first use (enough for both awe cases); nullptr and *rc
 * on failure. */
AweSet *awe_set(size_t P, int *rc)
{
    auto it = g_awe.find(P);
    if (it != g_awe.end())
        return it->second.get();
    std::unique_ptr<AweSet> a(new AweSet);
    *rc =
        a->open(std::max(2 * kSlots, 2 * awe_scatter_n(P)), P, std::max(kSlots, awe_scatter_n(P)));
    if (*rc != AWE_OK)
        return nullptr;
    return (g_awe[P] = std::move(a)).get();
}

/* awe/map_replace: as replace/touch through awe_map (slot i holds buffer
 * set * kSlots + scattered(i)). */
void run_awe_replace(benchmark::State &state, const Case &c)
{
    const size_t P = c.page;
    int rc = AWE_OK;
    AweSet *a = awe_set(P, &rc);
    if (a == nullptr)
        return fail_awe(state, "awe set-up", rc);
    char *win = static_cast<char *>(a->win);
    std::vector<int> set(kSlots, 0);
    for (size_t i = 0; i < kSlots && rc == AWE_OK; i++) {
        rc = awe_map(win + i * P, a->k, a->buffer(scattered(i, kSlots)));
        if (rc == AWE_OK)
            touch(win + i * P, P);
    }
    size_t i = 0;
    for (auto _ : state) {
        if (rc != AWE_OK)
            break;
        char *va = win + i * P;
        int s = set[i] ^ 1;
        const awe_frame_t *f = a->buffer(static_cast<size_t>(s) * kSlots + scattered(i, kSlots));
        Stamp t0 = stamp_start();
        rc = awe_map(va, a->k, f);
        if (rc == AWE_OK)
            touch(va, P);
        Stamp t1 = stamp_end();
        if (rc != AWE_OK)
            break;
        set[i] = s;
        g_laps.lap(state, t0, t1);
        i = (i + 1) % kSlots;
    }
    if (rc != AWE_OK)
        fail_awe(state, "awe_map", rc);
    rc = awe_unmap(win, kSlots * a->k); /* leave the window empty for the next case */
    if (rc != AWE_OK && !state.error_occurred())
        fail_awe(state, "awe_unmap", rc);
}

/* awe/scatter_empty: one awe_map_scatter of n buffers (scattered: slot i gets buffer
 * scattered(i, 2n)) into unmapped slots, the reads; then (untimed) one awe_unmap of them all. */
void run_awe_scatter(benchmark::State &state, const Case &c)
{
    const size_t P = c.page;
    int rc = AWE_OK;
    AweSet *a = awe_set(P, &rc);
    if (a == nullptr)
        return fail_awe(state, "awe set-up", rc);
    char *win = static_cast<char *>(a->win);
    std::vector<void *> vas(c.n * a->k);
    std::vector<awe_frame_t> fr(c.n * a->k);
    for (size_t i = 0; i < c.n; i++)
        for (size_t j = 0; j < a->k; j++) {
            vas[i * a->k + j] = win + i * P + j * kSmall;
            fr[i * a->k + j] = a->buffer(scattered(i, 2 * c.n))[j];
        }
    for (auto _ : state) {
        Stamp t0 = stamp_start();
        rc = awe_map_scatter(vas.data(), vas.size(), fr.data());
        if (rc == AWE_OK)
            touch(win, c.n * P);
        Stamp t1 = stamp_end();
        if (rc != AWE_OK)
            return fail_awe(state, "awe_map_scatter", rc);
        rc = awe_unmap(win, c.n * a->k);
        if (rc != AWE_OK)
            return fail_awe(state, "awe_unmap", rc);
        g_laps.lap(state, t0, t1);
    }
}

/* ---- The benchmark body ---------------------------------------------------------------- */

void run_case(benchmark::State &state, Case c)
{
    if (c.busy && g_env.cpu[1] < 0) {
        state.SkipWithError("busy:1 needs a second CPU this process may run on");
        return;
    }
    g_laps.wall = 0;
    Spinner spin(c.busy != 0);
    if (c.busy && !spin.pinned()) {
        state.SkipWithError("busy:1: cannot pin the spinner to the second CPU");
        return;
    }
    switch (c.m) {
    case M_REPLACE:
        run_replace(state, c);
        break;
    case M_EMPTY:
    case M_EMPTY_POPULATE:
        run_empty(state, c);
        break;
    case M_MUNMAP_SCATTERED:
    case M_MUNMAP_CONTIG:
    case M_RESERVE_SCATTERED:
    case M_RESERVE_CONTIG:
        run_unmap(state, c);
        break;
    case M_UFFD_SCATTERED:
    case M_UFFD_CONTIG:
        run_uffd(state, c);
        break;
    case M_COPY_PREAD:
    case M_COPY_MEMCPY:
        run_copy(state, c);
        break;
    case M_AWE_REPLACE:
        run_awe_replace(state, c);
        break;
    case M_AWE_SCATTER:
        run_awe_scatter(state, c);
        break;
    case M_COUNT:
        break;
    }
    double share = spin.stop();
    /* Leave the raw window as it was: the reservation everywhere. */
    if (!reserve_at(g_env.win, kReserveBytes) && !state.error_occurred())
        fail(state, "reset");
    if (state.error_occurred())
        return;
    const int64_t pages = state.iterations() * static_cast<int64_t>(c.n);
    state.SetItemsProcessed(pages);
    state.counters["per_page"] =
        benchmark::Counter(static_cast<double>(c.n), benchmark::Counter::kIsIterationInvariantRate |
                                                         benchmark::Counter::kInvert);
    if (c.busy)
        state.counters["spin_cpu"] = share;
    state.counters["wall_per_page"] = benchmark::Counter(g_laps.wall / static_cast<double>(c.n),
                                                         benchmark::Counter::kAvgIterations);
}

std::vector<std::string> g_order; /* table rows (case names less "/busy:N"), registered order */

std::string case_name(const Case &c)
{
    return std::string(kMechNames[c.m]) + "/n:" + std::to_string(c.n) +
           "/page_kib:" + std::to_string(c.page / 1024) + "/busy:" + std::to_string(c.busy);
}

void register_cases()
{
    std::vector<Case> cases;
    for (size_t P : kPageSizes) {
        auto add = [&](Mech m, size_t n) {
            if (n * P > kMaxBytesPerCall && n > 1)
                return;
            for (int busy = 0; busy < 2; busy++)
                cases.push_back(Case{m, n, P, busy});
        };
        add(M_REPLACE, 1);
        add(M_EMPTY, 1);
        add(M_EMPTY_POPULATE, 1);
        for (Mech m : {M_MUNMAP_SCATTERED, M_MUNMAP_CONTIG, M_RESERVE_SCATTERED, M_RESERVE_CONTIG})
            for (size_t n : kUnmapRuns)
                add(m, n);
        add(M_UFFD_SCATTERED, 1);
        for (size_t n : kMoveRuns)
            add(M_UFFD_CONTIG, n);
        add(M_COPY_PREAD, 1);
        add(M_COPY_MEMCPY, 1);
        add(M_AWE_REPLACE, 1);
        add(M_AWE_SCATTER, awe_scatter_n(P));
    }
    for (const Case &c : cases)
        if (c.busy == 0)
            g_order.push_back(case_name(c).substr(0, case_name(c).rfind("/busy:")));
    for (const Case &c : cases)
        benchmark::RegisterBenchmark(case_name(c).c_str(), run_case, c)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
}

/* ---- The table ------------------------------------------------------------------------- */

struct Result : BenchResult {
    double spin = -1; /* the spinner's CPU share (median run) */
    double wall = -1; /* wall seconds per page (median run) */
};

/* Row key: the case name without "/busy:N". */
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

    std::map<std::string, std::pair<Result, Result>> rows; /* alone, busy */
    bool any_error = false;

  private:
    void collect(const Run &r)
    {
        const std::string &name = r.run_name.function_name;
        size_t at = name.rfind("/busy:");
        if (at == std::string::npos)
            return;
        std::string key = name.substr(0, at);
        bool busy = name.compare(at, std::string::npos, "/busy:1") == 0;
        Result &res = busy ? rows[key].second : rows[key].first;
        any_error |= r.error_occurred;
        if (!res.record(r))
            return;
        auto s = r.counters.find("spin_cpu");
        if (s != r.counters.end())
            res.spin = s->second.value;
        auto w = r.counters.find("wall_per_page");
        if (w != r.counters.end())
            res.wall = w->second.value;
    }
};

/* Microseconds per page: the manual time (wall == false) or the wall clock's. */
std::string us_cell(const Result &r, bool wall = false)
{
    if (!r.seen)
        return "-";
    if (!r.error.empty())
        return "skipped";
    double rate = r.rate();
    if (rate <= 0 || (wall && r.wall < 0))
        return "-";
    char buf[32];
    double us = wall ? r.wall * 1e6 : 1e6 / rate;
    snprintf(buf, sizeof(buf), us >= 100 ? "%.0f" : us >= 10 ? "%.1f" : "%.2f", us);
    return buf;
}

std::string make_table(const TableReporter &rep)
{
    std::ostringstream out;
    const char *clock = g_laps.use_wall ? "wall" : "CPU";
    out << "| case (mechanism/variant/n/page) | us/page alone (" << clock << ") | us/page busy ("
        << clock << ") | busy/alone | us/page alone (wall) | us/page busy (wall) | spinner CPU "
        << "share |\n";
    out << "|---|---:|---:|---:|---:|---:|---:|\n";
    for (const std::string &key : g_order) {
        auto it = rep.rows.find(key);
        if (it == rep.rows.end())
            continue;
        const auto &row = it->second;
        std::string ratio = "-";
        if (row.first.error.empty() && row.second.error.empty() && row.first.rate() > 0 &&
            row.second.rate() > 0) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%.1f", row.first.rate() / row.second.rate());
            ratio = buf;
        }
        std::string spin = "-";
        if (row.second.spin >= 0) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%.2f", row.second.spin);
            spin = buf;
        }
        out << "| " << key << " | " << us_cell(row.first) << " | " << us_cell(row.second) << " | "
            << ratio << " | " << us_cell(row.first, true) << " | " << us_cell(row.second, true)
            << " | " << spin << " |\n";
    }
    bool first = true;
    for (const std::string &key : g_order) {
        auto it = rep.rows.find(key);
        if (it == rep.rows.end())
            continue;
        const auto &row = it->second;
        for (int b = 0; b < 2; b++) {
            const Result &r = b ? row.second : row.first;
            if (r.error.empty())
                continue;
            out << (first ? "\n" : "") << key << "/busy:" << b << ": " << r.error << "\n";
            first = false;
        }
    }
    return out.str();
}

/* ---- Set-up ---------------------------------------------------------------------------- */

bool env_init()
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int found = 0;
        for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
            if (CPU_ISSET(cpu, &set))
                g_env.cpu[found++] = cpu;
    }
    if (!pin_self(g_env.cpu[0]))
        fprintf(stderr, "bench_window: cannot pin the main thread; timings may move CPUs\n");

    g_env.fd = memfd_create("bench_window", MFD_CLOEXEC);
    if (g_env.fd < 0 || fallocate(g_env.fd, 0, 0, static_cast<off_t>(kMemfdBytes)) != 0) {
        perror("bench_window: memfd");
        return false;
    }
    void *v = mmap(nullptr, kMemfdBytes, PROT_READ, MAP_SHARED | MAP_POPULATE, g_env.fd, 0);
    if (v == MAP_FAILED) {
        perror("bench_window: view");
        return false;
    }
    g_env.view = static_cast<const char *>(v);

    const size_t align = size_t{2} << 20;
    void *r = mmap(nullptr, kReserveBytes + align, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) {
        perror("bench_window: reserve");
        return false;
    }
    g_env.win = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(r) + align - 1) &
                                         ~(uintptr_t)(align - 1));

    int u = uffd_open();
    if (u >= 0) {
        g_env.uffd_ok = true;
        close(u);
    } else {
        g_env.uffd_why =
            std::string("userfaultfd with UFFD_FEATURE_MOVE: ") +
            (errno == EOPNOTSUPP ? "the kernel has no UFFDIO_MOVE (Linux 6.8+)" : strerror(errno)) +
            (errno == EPERM ? " (vm.unprivileged_userfaultfd is 0: run as root or "
                              "with CAP_SYS_PTRACE)"
                            : "");
    }
    fprintf(stderr, "bench_window: main thread on CPU %d, spinner on CPU %d; UFFDIO_MOVE %s\n",
            g_env.cpu[0], g_env.cpu[1], g_env.uffd_ok ? "available" : g_env.uffd_why.c_str());
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    BenchArgs args;

    if (!bench_parse(
            argc, argv, kDefaultMinTime,
            [](const char *arg) {
                if (std::strcmp(arg, "--wall") != 0)
                    return false;
                g_laps.use_wall = true;
                return true;
            },
            args))
        return 1;
    if (!env_init())
        return 1;
    stamp_overhead();
    fprintf(stderr,
            "bench_window: timing by %s (reading both clocks at both ends costs %.0f ns of CPU "
            "and %.0f ns of wall time: subtracted)\n",
            g_laps.use_wall ? "the wall clock" : "the thread's CPU time", g_laps.overhead * 1e9,
            g_laps.overhead_wall * 1e9);
    register_cases();

    TableReporter reporter(bench_console_options(args));
    bench_run(reporter, args);
    benchmark::Shutdown();
    g_awe.clear();
    return bench_finish("bench_window", reporter.rows.empty() ? "" : make_table(reporter), args,
                        reporter.any_error);
}

#else /* !__linux__ */

#include <cstdio>

int main()
{
    std::printf("bench_window: Linux only (memfd, userfaultfd): skipped\n");
    return 0;
}

#endif
