/*
 * platform/linux/sync_linux.c: thread services on Linux (platform/plat_sync.h): futex waits, the
 * monotonic clock, the processor count, pthread mutexes and threads.
 *
 * plat_mutex_t and plat_thread_t are storage the size of the pthread objects or larger; the
 * static asserts below keep them so. Debug builds use error-checking mutexes, so that locking a
 * held mutex or unlocking one held elsewhere is caught by an assertion, and keep the holder of
 * each mutex beside it for plat_mutex_held (release builds never touch that field).
 */
#include "plat_sync.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* What plat_mutex_t holds on Linux. */
struct linux_mutex {
    pthread_mutex_t mu;
    _Atomic uintptr_t owner; /* debug builds: the holder's thread_tag(), 0 when free */
};

static_assert(sizeof(struct linux_mutex) <= sizeof(plat_mutex_t), "plat_mutex_t is too small");
static_assert(alignof(struct linux_mutex) <= alignof(plat_mutex_t), "plat_mutex_t is misaligned");
static_assert(sizeof(pthread_t) <= sizeof(plat_thread_t), "plat_thread_t is too small");

static struct linux_mutex *lm(plat_mutex_t *m)
{
    return (struct linux_mutex *)(void *)m->opaque;
}

static pthread_mutex_t *pm(plat_mutex_t *m)
{
    return &lm(m)->mu;
}

#ifndef NDEBUG
/* A number that names the calling thread among the living ones: the address of its own copy of
 * a thread-local variable. */
static uintptr_t thread_tag(void)
{
    static _Thread_local char tag;

    return (uintptr_t)&tag;
}
#endif

/* ---- Waiting on a word -------------------------------------------------------------------- */

void plat_wait(const _Atomic uint32_t *addr, uint32_t expected)
{
    /* EAGAIN (the word differs), EINTR and spurious returns are all "return": the caller loops. */
    syscall(SYS_futex, (const void *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void plat_wake(const _Atomic uint32_t *addr, int all)
{
    syscall(SYS_futex, (const void *)addr, FUTEX_WAKE_PRIVATE, all ? INT_MAX : 1, NULL, NULL, 0);
}

/* ---- Clock and processors ----------------------------------------------------------------- */

uint64_t plat_clock_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t plat_realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec < 0 ? 0 : (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

unsigned plat_cpu_count(void)
{
    cpu_set_t set;
    long n;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ---- Mutex -------------------------------------------------------------------------------- */

int plat_mutex_init(plat_mutex_t *m)
{
    pthread_mutexattr_t attr;
    int rc;

    memset(m, 0, sizeof(*m));
    if (pthread_mutexattr_init(&attr) != 0)
        return PLAT_ENOMEM;
#ifndef NDEBUG
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
    rc = pthread_mutex_init(pm(m), &attr);
    pthread_mutexattr_destroy(&attr);
    atomic_init(&lm(m)->owner, 0);
    return rc == 0 ? 0 : PLAT_ENOMEM;
}

void plat_mutex_lock(plat_mutex_t *m)
{
    int rc = pthread_mutex_lock(pm(m));

    assert(rc == 0); /* EDEADLK: this thread holds it already */
    (void)rc;
#ifndef NDEBUG
    atomic_store_explicit(&lm(m)->owner, thread_tag(), memory_order_relaxed);
#endif
}

void plat_mutex_unlock(plat_mutex_t *m)
{
    int rc;

#ifndef NDEBUG
    /* Forgotten before the unlock: afterwards the next holder may already have stored itself. */
    atomic_store_explicit(&lm(m)->owner, 0, memory_order_relaxed);
#endif
    rc = pthread_mutex_unlock(pm(m));
    assert(rc == 0); /* EPERM: this thread does not hold it */
    (void)rc;
}

#ifndef NDEBUG
bool plat_mutex_held(const plat_mutex_t *m)
{
    const struct linux_mutex *x = (const struct linux_mutex *)(const void *)m->opaque;

    return atomic_load_explicit(&x->owner, memory_order_relaxed) == thread_tag();
}
#endif

void plat_mutex_destroy(plat_mutex_t *m)
{
    int rc = pthread_mutex_destroy(pm(m));

    assert(rc == 0); /* EBUSY: somebody holds it */
    (void)rc;
}

/* ---- Threads ------------------------------------------------------------------------------ */

int plat_thread_create(plat_thread_t *t, plat_thread_fn fn, void *arg)
{
    pthread_t th;
    int rc;

    if (t == NULL || fn == NULL)
        return PLAT_EFAULT;
    rc = pthread_create(&th, NULL, fn, arg);
    if (rc != 0)
        return rc == EAGAIN || rc == ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    memset(t, 0, sizeof(*t));
    memcpy(t->opaque, &th, sizeof(th));
    return 0;
}

int plat_thread_join(plat_thread_t t, void **ret)
{
    pthread_t th;
    void *r = NULL;
    int rc;

    memcpy(&th, t.opaque, sizeof(th));
    rc = pthread_join(th, &r);
    assert(rc == 0); /* ESRCH, EINVAL, EDEADLK: joined twice, not joinable, or itself */
    if (rc != 0)
        return PLAT_EINVAL;
    if (ret != NULL)
        *ret = r;
    return 0;
}
