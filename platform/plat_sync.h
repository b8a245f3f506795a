/*
 * platform/plat_sync.h: the thread services the layers above need: waiting on a 32-bit word,
 * a monotonic clock, the processor count, a mutex and threads.
 *
 * Conventions: as plat.h (0 or a negative PLAT_E* code). These calls are not fault-injection
 * points. The header is C11 only (the wait calls take C11 atomics).
 *
 * Waiting on a word (a futex on Linux, WaitOnAddress on Windows): the waiter loads the word,
 * decides to sleep because of the value it saw, and calls plat_wait with that value; the waker
 * stores a new value and then calls plat_wake. Because plat_wait compares the word with the
 * expected value inside the kernel, a wake between the load and the sleep is never lost. Waits
 * return spuriously too, so a waiter always loops:
 *
 *     uint32_t v;
 *     while ((v = atomic_load(&w)) == BUSY)
 *         plat_wait(&w, v);
 *
 * Waiter and waker must name the word by the same address, in this process.
 */
#ifndef AWECACHE_PLATFORM_PLAT_SYNC_H
#define AWECACHE_PLATFORM_PLAT_SYNC_H

#include "plat.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sleeps until a plat_wake on `addr`, unless *addr != expected when the call looks (then it
 * returns at once). May also return spuriously (signals, ...). Never fails. */
void plat_wait(const _Atomic uint32_t *addr, uint32_t expected);

/* Wakes one thread sleeping in plat_wait on `addr` (all != 0: every such thread). Waking when
 * nobody waits is harmless and cheap. */
void plat_wake(const _Atomic uint32_t *addr, int all);

/* Nanoseconds on a monotonic clock (never goes back; its zero is arbitrary, e.g. boot). */
uint64_t plat_clock_ns(void);

/* Milliseconds since 1970-01-01 UTC on the real-time clock (may jump when the system's time is
 * set; for times that must mean the same after a restart, such as expiry times). */
uint64_t plat_realtime_ms(void);

/* The number of processors this process may run on (its affinity mask, else the online ones);
 * at least 1. */
unsigned plat_cpu_count(void);

/* ---- Mutex -------------------------------------------------------------------------------- */

/* A non-recursive mutex (a pthread mutex on Linux, so ThreadSanitizer follows it). Storage only:
 * its contents belong to the platform. Not copyable or movable once initialised. */
typedef union plat_mutex {
    unsigned char opaque[64];
    uint64_t align_u64_; /* alignment only */
    void *align_ptr_;
} plat_mutex_t;

/* Initialises *m unlocked. Errors: PLAT_ENOMEM (the OS lacks resources). */
int plat_mutex_init(plat_mutex_t *m);

/* Locks *m, waiting while another thread holds it. Locking a mutex this thread holds is a bug
 * (asserted in debug builds). */
void plat_mutex_lock(plat_mutex_t *m);

/* Unlocks *m, which this thread holds. */
void plat_mutex_unlock(plat_mutex_t *m);

/* Destroys *m, which nobody holds; it may be initialised again. */
void plat_mutex_destroy(plat_mutex_t *m);

/* Lock rules checked (debug builds, NDEBUG not defined: the sanitizer builds): a function whose
 * contract says "caller holds m" starts with plat_mutex_assert_held(&m), and one that must not be
 * entered with m held (a lock taken later in the documented order, or I/O that no lock may be
 * held across) with plat_mutex_assert_not_held(&m). In debug builds each mutex records the thread
 * that holds it, and the assertions ask it; release builds record nothing and the assertions
 * vanish (their argument is not evaluated). */
#ifndef NDEBUG
/* Debug builds only: true when the calling thread holds *m. */
bool plat_mutex_held(const plat_mutex_t *m);
#define plat_mutex_assert_held(m)     assert(plat_mutex_held(m))
#define plat_mutex_assert_not_held(m) assert(!plat_mutex_held(m))
#else
#define plat_mutex_assert_held(m)     ((void)sizeof(m))
#define plat_mutex_assert_not_held(m) ((void)sizeof(m))
#endif

/* ---- Threads ------------------------------------------------------------------------------ */

typedef void *(*plat_thread_fn)(void *arg);

/* A thread handle. Storage only: its contents belong to the platform. */
typedef struct plat_thread {
    uint64_t opaque[2];
} plat_thread_t;

/* Starts a thread running fn(arg) and stores its handle in *t. Every started thread must be
 * joined once. Errors: PLAT_EFAULT (t or fn NULL), PLAT_ENOMEM (no memory, or the process or
 * system thread limit). */
int plat_thread_create(plat_thread_t *t, plat_thread_fn fn, void *arg);

/* Waits until the thread `t` finished and stores what fn returned in *ret (ret may be NULL).
 * The handle is then spent. Joining a thread twice, or from itself, is a bug. */
int plat_thread_join(plat_thread_t t, void **ret);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_PLATFORM_PLAT_SYNC_H */
