/*
 * platform/windows/sync_windows.c: thread services on Windows (platform/plat_sync.h):
 * WaitOnAddress waits, the performance counter, the processor count, SRW-lock mutexes and
 * threads.
 *
 * plat_mutex_t holds an SRWLOCK and the id of the thread that holds it. An SRW lock taken twice
 * by one thread deadlocks without a word, so the owner is kept (in every build: one store per
 * lock and unlock) and debug builds assert on a relock or a foreign unlock, as the Linux side's
 * error-checking mutexes do; plat_mutex_held (debug builds) reads the same owner. plat_thread_t
 * holds the thread's handle and the small block the new thread writes its result into.
 * WaitOnAddress needs Windows 8 (the Synchronization library).
 */
#include "plat_sync.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* What plat_mutex_t holds on Windows. */
struct win_mutex {
    SRWLOCK lock;                /* exclusive use only */
    _Atomic unsigned long owner; /* id of the holding thread, 0 when free (ids are never 0) */
};

static_assert(sizeof(struct win_mutex) <= sizeof(plat_mutex_t), "plat_mutex_t is too small");
static_assert(alignof(struct win_mutex) <= alignof(plat_mutex_t), "plat_mutex_t is misaligned");

/* What a started thread needs, and where it leaves its result. */
struct win_thread {
    plat_thread_fn fn;
    void *arg;
    void *ret; /* written by the thread before it ends; read after the join */
};

static_assert(sizeof(HANDLE) + sizeof(struct win_thread *) <= sizeof(plat_thread_t),
              "plat_thread_t is too small");

static struct win_mutex *wm(plat_mutex_t *m)
{
    return (struct win_mutex *)(void *)m->opaque;
}

/* ---- Waiting on a word -------------------------------------------------------------------- */

void plat_wait(const _Atomic uint32_t *addr, uint32_t expected)
{
    /* WaitOnAddress compares the word with `expected` and sleeps only while they are equal; it
     * returns spuriously too, which the caller's loop absorbs. */
    WaitOnAddress((volatile void *)(uintptr_t)addr, &expected, sizeof(expected), INFINITE);
}

void plat_wake(const _Atomic uint32_t *addr, int all)
{
    if (all)
        WakeByAddressAll((void *)(uintptr_t)addr);
    else
        WakeByAddressSingle((void *)(uintptr_t)addr);
}

/* ---- Clock and processors ----------------------------------------------------------------- */

uint64_t plat_clock_ns(void)
{
    static _Atomic uint64_t freq; /* counts per second; never changes after boot */
    LARGE_INTEGER c, f;
    uint64_t hz = freq, n;

    if (hz == 0) {
        QueryPerformanceFrequency(&f); /* cannot fail since Windows XP */
        hz = (uint64_t)f.QuadPart;
        freq = hz;
    }
    QueryPerformanceCounter(&c);
    n = (uint64_t)c.QuadPart;
    /* Split so that n * 1e9 cannot overflow. */
    return n / hz * 1000000000u + n % hz * 1000000000u / hz;
}

uint64_t plat_realtime_ms(void)
{
    FILETIME ft;
    uint64_t t;

    GetSystemTimeAsFileTime(&ft); /* 100 ns units since 1601-01-01 */
    t = (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
    /* 11,644,473,600 s between 1601 and 1970. */
    return t < UINT64_C(116444736000000000) ? 0 : (t - UINT64_C(116444736000000000)) / 10000u;
}

unsigned plat_cpu_count(void)
{
    DWORD_PTR proc, sys;
    SYSTEM_INFO si;
    unsigned n = 0;

    if (GetProcessAffinityMask(GetCurrentProcess(), &proc, &sys)) {
        for (; proc != 0; proc &= proc - 1)
            n++;
        if (n > 0)
            return n;
    }
    GetSystemInfo(&si);
    return si.dwNumberOfProcessors > 0 ? si.dwNumberOfProcessors : 1;
}

/* ---- Mutex -------------------------------------------------------------------------------- */

int plat_mutex_init(plat_mutex_t *m)
{
    memset(m, 0, sizeof(*m));
    InitializeSRWLock(&wm(m)->lock);
    atomic_init(&wm(m)->owner, 0);
    return 0;
}

void plat_mutex_lock(plat_mutex_t *m)
{
    struct win_mutex *x = wm(m);

    assert(atomic_load_explicit(&x->owner, memory_order_relaxed) != GetCurrentThreadId());
    AcquireSRWLockExclusive(&x->lock); /* (the assertion: this thread holds it already) */
    atomic_store_explicit(&x->owner, GetCurrentThreadId(), memory_order_relaxed);
}

void plat_mutex_unlock(plat_mutex_t *m)
{
    struct win_mutex *x = wm(m);

    assert(atomic_load_explicit(&x->owner, memory_order_relaxed) == GetCurrentThreadId());
    atomic_store_explicit(&x->owner, 0, memory_order_relaxed); /* (held by another, or none) */
    ReleaseSRWLockExclusive(&x->lock);
}

#ifndef NDEBUG
bool plat_mutex_held(const plat_mutex_t *m)
{
    const struct win_mutex *x = (const struct win_mutex *)(const void *)m->opaque;

    return atomic_load_explicit(&x->owner, memory_order_relaxed) == GetCurrentThreadId();
}
#endif

void plat_mutex_destroy(plat_mutex_t *m)
{
    assert(atomic_load(&wm(m)->owner) == 0); /* somebody holds it */
    (void)m;                                 /* an SRW lock needs no destruction */
}

/* ---- Threads ------------------------------------------------------------------------------ */

static DWORD WINAPI thread_start(LPVOID p)
{
    struct win_thread *t = p;

    t->ret = t->fn(t->arg);
    return 0;
}

int plat_thread_create(plat_thread_t *t, plat_thread_fn fn, void *arg)
{
    struct win_thread *w;
    HANDLE h;

    if (t == NULL || fn == NULL)
        return PLAT_EFAULT;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return PLAT_ENOMEM;
    w->fn = fn;
    w->arg = arg;
    h = CreateThread(NULL, 0, thread_start, w, 0, NULL);
    if (h == NULL) {
        free(w);
        return PLAT_ENOMEM; /* no memory, or the process or system thread limit */
    }
    memset(t, 0, sizeof(*t));
    memcpy(&t->opaque[0], &h, sizeof(h));
    memcpy(&t->opaque[1], &w, sizeof(w));
    return 0;
}

int plat_thread_join(plat_thread_t t, void **ret)
{
    struct win_thread *w;
    HANDLE h;
    DWORD rc;

    memcpy(&h, &t.opaque[0], sizeof(h));
    memcpy(&w, &t.opaque[1], sizeof(w));
    rc = WaitForSingleObject(h, INFINITE);
    assert(rc == WAIT_OBJECT_0); /* a bad handle: joined twice */
    if (rc != WAIT_OBJECT_0)
        return PLAT_EINVAL;
    CloseHandle(h);
    if (ret != NULL)
        *ret = w->ret;
    free(w);
    return 0;
}
