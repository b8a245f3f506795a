/*
 * engine/latch.c: content latches and waiting for BUSY buffers (README 3.7, 3.4).
 *
 * A latch is one 32-bit word: a reader count, a writer bit and a waiters bit. Blocked threads
 * sleep on the word (plat_wait) and the releaser wakes them when it leaves the latch free or
 * readable. The exclusive holder's thread id is kept beside it so that a thread asking again for
 * a page it holds exclusively gets AWC_EDEADLK instead of waiting for itself forever.
 */
#include "internal.h"

#include <assert.h>

static _Atomic uint32_t next_thread_id = 1;
static _Thread_local uint32_t this_thread_id;

uint32_t eng_thread_id(void)
{
    if (this_thread_id == 0)
        this_thread_id = atomic_fetch_add(&next_thread_id, 1);
    return this_thread_id;
}

int latch_acquire(struct buf *b, int mode)
{
    uint32_t self = eng_thread_id();
    uint32_t v = atomic_load_explicit(&b->latch, memory_order_relaxed);

    for (;;) {
        bool free_for_me = mode == AWC_SHARED ? (v & LATCH_WRITER) == 0
                                              : (v & (LATCH_WRITER | LATCH_READERS)) == 0;

        if (free_for_me) {
            uint32_t want = mode == AWC_SHARED ? v + 1 : (v | LATCH_WRITER);

            if (atomic_compare_exchange_weak_explicit(&b->latch, &v, want, memory_order_acquire,
                                                      memory_order_relaxed)) {
                if (mode == AWC_EXCLUSIVE)
                    atomic_store_explicit(&b->xowner, self, memory_order_relaxed);
                return AWC_OK;
            }
            continue;
        }
        if ((v & LATCH_WRITER) != 0 &&
            atomic_load_explicit(&b->xowner, memory_order_relaxed) == self)
            return AWC_EDEADLK;
        if ((v & LATCH_WAITERS) == 0 &&
            !atomic_compare_exchange_weak_explicit(&b->latch, &v, v | LATCH_WAITERS,
                                                   memory_order_relaxed, memory_order_relaxed))
            continue;
        plat_wait(&b->latch, v | LATCH_WAITERS);
        v = atomic_load_explicit(&b->latch, memory_order_relaxed);
    }
}

bool latch_try_shared(struct buf *b)
{
    uint32_t v = atomic_load_explicit(&b->latch, memory_order_relaxed);

    while ((v & LATCH_WRITER) == 0) {
        if (atomic_compare_exchange_weak_explicit(&b->latch, &v, v + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

void latch_release(struct buf *b)
{
    uint32_t v = atomic_load_explicit(&b->latch, memory_order_relaxed), want;

    /* The writer forgets itself before it lets go: afterwards the next writer may already have
     * stored its own id, which must not be wiped. */
    if ((v & LATCH_WRITER) != 0)
        atomic_store_explicit(&b->xowner, 0, memory_order_relaxed);
    do {
        if ((v & LATCH_WRITER) != 0)
            want = 0;
        else
            want = (v & LATCH_READERS) == 1 ? 0 : v - 1;
    } while (!atomic_compare_exchange_weak_explicit(&b->latch, &v, want, memory_order_release,
                                                    memory_order_relaxed));
    if ((v & LATCH_WAITERS) != 0 && (want & LATCH_READERS) == 0)
        plat_wake(&b->latch, 1);
}

/* A wake word: a counter bumped at each event, and a bit that says someone sleeps on it, so that
 * an event makes a system call only when a thread waits (README 3.4, 3.8). */
#define WAKE_WAITERS UINT32_C(0x80000000)
#define WAKE_COUNT   UINT32_C(0x7fffffff)

void wake_word_bump(_Atomic uint32_t *w)
{
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);

    while (!atomic_compare_exchange_weak_explicit(w, &v, (v + 1) & WAKE_COUNT, memory_order_acq_rel,
                                                  memory_order_relaxed))
        ;
    if ((v & WAKE_WAITERS) != 0)
        plat_wake(w, 1);
}

/* Sleeps until the counter differs from `seen` (returns at once if it already does). */
void wake_word_wait(_Atomic uint32_t *w, uint32_t seen)
{
    for (;;) {
        uint32_t v = atomic_load_explicit(w, memory_order_acquire);

        if ((v & WAKE_COUNT) != (seen & WAKE_COUNT))
            return;
        if ((v & WAKE_WAITERS) == 0 &&
            !atomic_compare_exchange_weak_explicit(w, &v, v | WAKE_WAITERS, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        plat_wait(w, v | WAKE_WAITERS);
    }
}

void buf_wait_unbusy(struct buf *b, uint32_t seen_wake)
{
    if ((atomic_load_explicit(&b->state, memory_order_acquire) & ST_BUSY) != 0)
        wake_word_wait(&b->wake, seen_wake);
}

void buf_publish(struct buf *b, uint64_t s)
{
    /* The BUSY rule (README 3.4, 3.5): the thread that took the buffer BUSY gives it back. No
     * other thread writes busy_by while the buffer is BUSY, so this thread reads it unlocked. */
    assert((atomic_load_explicit(&b->state, memory_order_relaxed) & ST_BUSY) != 0);
    assert(b->busy_by == eng_thread_id());
    atomic_store_explicit(&b->state, s & ~ST_BUSY, memory_order_release);
    wake_word_bump(&b->wake);
}
