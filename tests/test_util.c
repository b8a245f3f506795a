/*
 * tests/test_util.c: helpers shared by the native test programs (contracts in test_util.h).
 */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg.h, stddef.h, setjmp.h and stdint.h */

struct awe_caps tu_caps;

void tu_init(void)
{
    int rc = awe_get_caps(&tu_caps);

    if (rc != AWE_OK) {
        fprintf(stderr, "awe_get_caps failed: %s\n", awe_strerror(rc));
        exit(1);
    }
}

size_t tu_page(void)
{
    return tu_caps.page_size;
}

/* ---- Fault probes ------------------------------------------------------------------------- */

/* The handler is installed while at least one thread probes (probe_users > 0); a fault in a
 * thread that is not probing goes to the handler that was there before (cmocka's, or the
 * default action, which kills the process as it should). */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned probe_users;      /* threads inside a probe; guarded by probe_lock */
static struct sigaction old_segv; /* what probe_enter replaced; guarded by probe_lock */
static struct sigaction old_bus;  /* likewise for SIGBUS */
/* Where this thread's probe resumes (NULL: not probing). volatile, and fenced, so that the
 * compiler neither drops nor moves the stores around the probing access. */
static _Thread_local sigjmp_buf *volatile probe_jmp;

static void probe_handler(int sig, siginfo_t *info, void *uctx)
{
    sigjmp_buf *jb = probe_jmp;
    const struct sigaction *old;

    if (jb != NULL) {
        probe_jmp = NULL;
        siglongjmp(*jb, 1);
    }
    /* Not a probe: chain to the previous handler, or let the default action happen. */
    old = sig == SIGSEGV ? &old_segv : &old_bus;
    if ((old->sa_flags & SA_SIGINFO) != 0 && old->sa_sigaction != NULL) {
        old->sa_sigaction(sig, info, uctx);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL); /* returning re-executes the access, which now kills us */
    }
}

static void probe_enter(void)
{
    struct sigaction sa;

    pthread_mutex_lock(&probe_lock);
    if (probe_users++ == 0) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = probe_handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &old_segv);
        sigaction(SIGBUS, &sa, &old_bus);
    }
    pthread_mutex_unlock(&probe_lock);
}

static void probe_leave(void)
{
    pthread_mutex_lock(&probe_lock);
    if (--probe_users == 0) {
        sigaction(SIGSEGV, &old_segv, NULL);
        sigaction(SIGBUS, &old_bus, NULL);
    }
    pthread_mutex_unlock(&probe_lock);
}

/* The probing loads are written in assembly where we can: they test what the MMU shows, not the
 * C memory model, so ThreadSanitizer must not see them (a reader that races a remap on purpose,
 * as the TLB test does, is the point, not a bug). The "memory" clobber keeps them in place. */
static uint64_t raw_load_u64(const void *p)
{
    uint64_t v;

#if defined(__x86_64__)
    __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(p) : "memory");
#elif defined(__aarch64__)
    __asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"(p) : "memory");
#else
    v = *(const volatile uint64_t *)p;
#endif
    return v;
}

static void raw_touch(const void *p)
{
#if defined(__x86_64__)
    unsigned v;

    __asm__ volatile("movzbl (%1), %0" : "=r"(v) : "r"(p) : "memory");
    (void)v;
#elif defined(__aarch64__)
    unsigned v;

    __asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(p) : "memory");
    (void)v;
#else
    (void)*(const volatile char *)p;
#endif
}

bool tu_try_read_u64(const void *p, uint64_t *out)
{
    sigjmp_buf jb;
    volatile bool ok = false;

    probe_enter();
    if (sigsetjmp(jb, 1) == 0) {
        uint64_t v;

        probe_jmp = &jb;
        atomic_signal_fence(memory_order_seq_cst);
        v = raw_load_u64(p);
        atomic_signal_fence(memory_order_seq_cst);
        probe_jmp = NULL;
        *out = v;
        ok = true;
    }
    probe_leave();
    return ok;
}

bool page_faults(const void *p)
{
    sigjmp_buf jb;
    volatile bool faulted = true;

    probe_enter();
    if (sigsetjmp(jb, 1) == 0) {
        probe_jmp = &jb;
        atomic_signal_fence(memory_order_seq_cst);
        raw_touch(p);
        atomic_signal_fence(memory_order_seq_cst);
        probe_jmp = NULL;
        faulted = false;
    }
    probe_leave();
    return faulted;
}

/* ---- Page contents ------------------------------------------------------------------------ */

#define TU_MIX 0x9E3779B97F4A7C15ull

void tu_fill(void *p, size_t len, uint64_t tag)
{
    uint64_t *w = p;
    size_t n = len / sizeof(uint64_t);

    for (size_t i = 0; i < n; i++)
        w[i] = tag ^ (i * TU_MIX);
}

bool tu_check(const void *p, size_t len, uint64_t tag)
{
    const uint64_t *w = p;
    size_t n = len / sizeof(uint64_t);

    for (size_t i = 0; i < n; i++) {
        if (w[i] != (tag ^ (i * TU_MIX)))
            return false;
    }
    return true;
}

bool tu_is_zero(const void *p, size_t len)
{
    const uint64_t *w = p;
    size_t n = len / sizeof(uint64_t);

    for (size_t i = 0; i < n; i++) {
        if (w[i] != 0)
            return false;
    }
    return true;
}

uint64_t tu_tag_of(const void *p)
{
    return *(const uint64_t *)p;
}

/* ---- Tracked resources -------------------------------------------------------------------- */

static awe_frame_t *tracked_frames; /* frames to free at teardown (may hold freed ones) */
static size_t tracked_nframes;
static size_t tracked_cap;
static void **tracked_windows; /* window bases to release at teardown */
static size_t tracked_nwindows;
static awe_frame_t **owned_arrays; /* arrays tu_alloc returned, freed at teardown */
static size_t owned_narrays;

void tu_track_frames(const awe_frame_t *frames, size_t n)
{
    if (tracked_nframes + n > tracked_cap) {
        size_t cap = tracked_cap ? tracked_cap : 256;

        while (cap < tracked_nframes + n)
            cap *= 2;
        tracked_frames = realloc(tracked_frames, cap * sizeof(*tracked_frames));
        assert_non_null(tracked_frames);
        tracked_cap = cap;
    }
    memcpy(tracked_frames + tracked_nframes, frames, n * sizeof(*frames));
    tracked_nframes += n;
}

awe_frame_t *tu_alloc(size_t n)
{
    awe_frame_t *frames = calloc(n ? n : 1, sizeof(*frames));
    size_t count = n;
    int rc;

    assert_non_null(frames);
    owned_arrays = realloc(owned_arrays, (owned_narrays + 1) * sizeof(*owned_arrays));
    assert_non_null(owned_arrays);
    owned_arrays[owned_narrays++] = frames;
    rc = awe_frames_alloc(&count, frames, 0, -1);
    if (rc != AWE_OK)
        fail_msg("awe_frames_alloc(%zu): %s", n, awe_strerror(rc));
    tu_track_frames(frames, count);
    assert_int_equal(count, n);
    return frames;
}

void tu_track_window(void *base)
{
    tracked_windows = realloc(tracked_windows, (tracked_nwindows + 1) * sizeof(void *));
    assert_non_null(tracked_windows);
    tracked_windows[tracked_nwindows++] = base;
}

char *tu_reserve(size_t pages)
{
    void *base = NULL;
    int rc = awe_window_reserve(NULL, pages * tu_page(), 0, &base);

    if (rc != AWE_OK)
        fail_msg("awe_window_reserve(%zu pages): %s", pages, awe_strerror(rc));
    assert_non_null(base);
    tu_track_window(base);
    return base;
}

void tu_release_all(void)
{
    size_t i = 0;

    /* Free in batches; skip an entry the test already freed (ENXIO stops at it). */
    while (i < tracked_nframes) {
        size_t count = tracked_nframes - i;
        int rc = awe_frames_free(&count, tracked_frames + i);

        if (rc == AWE_OK)
            break;
        if (rc != AWE_ENXIO)
            break;
        i += count + 1;
    }
    for (size_t w = 0; w < tracked_nwindows; w++)
        (void)awe_window_release(tracked_windows[w]);
    for (size_t a = 0; a < owned_narrays; a++)
        free(owned_arrays[a]);
    free(owned_arrays);
    owned_arrays = NULL;
    owned_narrays = 0;
    free(tracked_windows);
    tracked_windows = NULL;
    tracked_nwindows = 0;
    free(tracked_frames);
    tracked_frames = NULL;
    tracked_nframes = 0;
    tracked_cap = 0;
}

struct awe_stats tu_stats(void)
{
    struct awe_stats st;

    assert_int_equal(awe_get_stats(&st), AWE_OK);
    return st;
}

awe_frame_t tu_query(const void *va)
{
    awe_frame_t f = (awe_frame_t)-1;
    int rc = awe_query(va, &f);

    if (rc != AWE_OK)
        fail_msg("awe_query(%p): %s", va, awe_strerror(rc));
    return f;
}

void tu_assert_baseline(void)
{
    struct awe_stats st = tu_stats();

    assert_int_equal(st.frames_allocated, 0);
    assert_int_equal(st.windows, 0);
    assert_int_equal(st.vmas_in_use, 0);
}

int tu_setup(void **state)
{
    (void)state;
    tu_assert_baseline();
    return 0;
}

int tu_teardown(void **state)
{
    (void)state;
    tu_release_all();
    (void)awe_set_frame_limit(tu_caps.frame_limit);
    tu_assert_baseline();
    return 0;
}

/* ---- /proc ------------------------------------------------------------------------------- */

/* Calls fn(lo, hi, ctx) for every line of /proc/self/maps. Reads through a stack buffer so that
 * it maps nothing itself. Returns the number of lines, or -1. */
static long maps_walk(void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx)
{
    char buf[16384];
    size_t have = 0;
    long lines = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t got = read(fd, buf + have, sizeof(buf) - 1 - have);
        char *line;
        char *nl;

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            close(fd);
            return -1;
        }
        have += (size_t)got;
        buf[have] = '\0';
        line = buf;
        while ((nl = strchr(line, '\n')) != NULL) {
            char *end;
            uintptr_t lo = (uintptr_t)strtoull(line, &end, 16);
            uintptr_t hi = (uintptr_t)strtoull(end + 1, NULL, 16);

            fn(lo, hi, ctx);
            lines++;
            line = nl + 1;
        }
        /* Keep the partial line; a line longer than the buffer is cut (its address survives). */
        have = (size_t)(buf + have - line);
        if (have == sizeof(buf) - 1)
            have = 0; /* no line is this long; drop it rather than loop */
        memmove(buf, line, have);
        if (got == 0)
            break;
    }
    close(fd);
    return lines;
}

struct count_ctx {
    const struct tu_range *r;
    size_t n;
    long count;
};

static void count_overlaps(uintptr_t lo, uintptr_t hi, void *ctx)
{
    struct count_ctx *c = ctx;

    for (size_t i = 0; i < c->n; i++)
        c->count += lo < c->r[i].hi && c->r[i].lo < hi;
}

long tu_maps_count(const struct tu_range *r, size_t n)
{
    struct count_ctx c = {r, n, 0};

    if (maps_walk(count_overlaps, &c) < 0)
        return -1;
    return c.count;
}

long long tu_read_sysctl(const char *path)
{
    char buf[64];
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = '\0';
    return strtoll(buf, NULL, 10);
}

/* ---- Child processes ---------------------------------------------------------------------- */

int tu_run_child(int (*fn)(void *), void *arg)
{
    pid_t pid;
    int status;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* A crash in the child must end the child, not resume cmocka's runner in it */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        _exit(fn(arg) & 0xff);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

uint64_t tu_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
