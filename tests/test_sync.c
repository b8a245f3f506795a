/*
 * tests/test_sync.c: the platform's thread services (platform/plat_sync.h).
 *
 * - plat_wait / plat_wake: a waiter sleeps until woken (it is still waiting after 50 ms); a wait
 *   with a stale expected value returns at once; wake-all wakes every waiter; a wake with nobody
 *   waiting is harmless; two threads hand a token back and forth 20,000 times with no lost wake.
 * - plat_clock_ns is monotonic and moves with real time.
 * - plat_cpu_count is at least 1 and at most the configured processors.
 * - plat_mutex_t under contention: N threads increment a plain counter; no update is lost.
 * - plat_mutex_held (debug builds: what plat_mutex_assert_held asks) is true in the thread that
 *   holds the mutex while it holds it, and false before, after and in any other thread.
 * - plat_thread_create / plat_thread_join pass the argument and the return value.
 * TSan-clean: every shared variable is an atomic or is guarded by the mutex.
 */
#include "plat_sync.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MS 1000000ull /* nanoseconds */

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- Wait and wake ------------------------------------------------------------------------ */

struct waiter {
    _Atomic uint32_t *word;
    atomic_int started;
    atomic_int woken;
};

/* Waits until *word != 0, the way plat_sync.h says a waiter loops. */
static void *wait_nonzero(void *arg)
{
    struct waiter *w = arg;
    uint32_t v;

    atomic_fetch_add(&w->started, 1);
    while ((v = atomic_load(w->word)) == 0)
        plat_wait(w->word, v);
    atomic_fetch_add(&w->woken, 1);
    return NULL;
}

static void test_waiter_sleeps_until_woken(void **state)
{
    _Atomic uint32_t word = 0;
    struct waiter w = {&word, 0, 0};
    plat_thread_t t;

    (void)state;
    assert_int_equal(plat_thread_create(&t, wait_nonzero, &w), 0);
    while (atomic_load(&w.started) == 0)
        sleep_ns(MS);
    sleep_ns(50 * MS);
    assert_int_equal(atomic_load(&w.woken), 0); /* still asleep: nobody woke it */
    atomic_store(&word, 1);
    plat_wake(&word, 0);
    assert_int_equal(plat_thread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&w.woken), 1);
}

static void test_stale_expected_returns_at_once(void **state)
{
    _Atomic uint32_t word = 5;
    uint64_t t0 = plat_clock_ns();

    (void)state;
    for (int i = 0; i < 1000; i++)
        plat_wait(&word, 4); /* *addr != expected: must not sleep */
    assert_true(plat_clock_ns() - t0 < 1000 * MS);
}

static void test_wake_all(void **state)
{
    enum { N = 4 };
    _Atomic uint32_t word = 0;
    struct waiter w = {&word, 0, 0};
    plat_thread_t t[N];

    (void)state;
    for (int i = 0; i < N; i++)
        assert_int_equal(plat_thread_create(&t[i], wait_nonzero, &w), 0);
    while (atomic_load(&w.started) < N)
        sleep_ns(MS);
    sleep_ns(20 * MS);
    assert_int_equal(atomic_load(&w.woken), 0);
    atomic_store(&word, 1);
    plat_wake(&word, 1);
    for (int i = 0; i < N; i++)
        assert_int_equal(plat_thread_join(t[i], NULL), 0);
    assert_int_equal(atomic_load(&w.woken), N);
}

static void test_wake_without_waiters(void **state)
{
    _Atomic uint32_t word = 0;

    (void)state;
    plat_wake(&word, 0);
    plat_wake(&word, 1);
    assert_int_equal(atomic_load(&word), 0);
}

/* Ping-pong: the token word says whose turn it is (0: main, 1: the other thread). */
enum { ROUNDS = 20000 };

static void *pong(void *arg)
{
    _Atomic uint32_t *turn = arg;

    for (int i = 0; i < ROUNDS; i++) {
        uint32_t v;

        while ((v = atomic_load(turn)) != 1)
            plat_wait(turn, v);
        atomic_store(turn, 0);
        plat_wake(turn, 0);
    }
    return (void *)(uintptr_t)0x600d;
}

static void test_ping_pong(void **state)
{
    _Atomic uint32_t turn = 0;
    plat_thread_t t;
    void *ret = NULL;

    (void)state;
    assert_int_equal(plat_thread_create(&t, pong, &turn), 0);
    for (int i = 0; i < ROUNDS; i++) {
        uint32_t v;

        while ((v = atomic_load(&turn)) != 0)
            plat_wait(&turn, v);
        atomic_store(&turn, 1);
        plat_wake(&turn, 0);
    }
    assert_int_equal(plat_thread_join(t, &ret), 0);
    assert_ptr_equal(ret, (void *)(uintptr_t)0x600d);
    assert_int_equal(atomic_load(&turn), 0);
}

/* ---- Clock and processors ----------------------------------------------------------------- */

static void test_clock_monotonic(void **state)
{
    uint64_t prev = plat_clock_ns(), t0 = prev;

    (void)state;
    for (int i = 0; i < 200000; i++) {
        uint64_t now = plat_clock_ns();

        assert_true(now >= prev);
        prev = now;
    }
    t0 = plat_clock_ns();
    sleep_ns(20 * MS);
    prev = plat_clock_ns() - t0;
    assert_true(prev >= 20 * MS);
    assert_true(prev < 10000 * MS);
}

static void test_cpu_count(void **state)
{
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    unsigned n = plat_cpu_count();

    (void)state;
    assert_true(n >= 1);
    if (conf > 0)
        assert_true(n <= (unsigned)conf);
}

/* ---- Mutex and threads -------------------------------------------------------------------- */

enum { THREADS = 4, INCREMENTS = 50000 };

struct counter {
    plat_mutex_t mu;
    uint64_t value; /* guarded by mu */
};

static void *increment(void *arg)
{
    struct counter *c = arg;

    for (int i = 0; i < INCREMENTS; i++) {
        plat_mutex_lock(&c->mu);
        c->value++;
        plat_mutex_unlock(&c->mu);
    }
    return arg;
}

static void test_mutex_contention(void **state)
{
    struct counter c;
    plat_thread_t t[THREADS];

    (void)state;
    assert_int_equal(plat_mutex_init(&c.mu), 0);
    c.value = 0;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(plat_thread_create(&t[i], increment, &c), 0);
    for (int i = 0; i < THREADS; i++) {
        void *ret = NULL;

        assert_int_equal(plat_thread_join(t[i], &ret), 0);
        assert_ptr_equal(ret, &c);
    }
    plat_mutex_lock(&c.mu);
    assert_int_equal(c.value, (uint64_t)THREADS * INCREMENTS);
    plat_mutex_unlock(&c.mu);
    plat_mutex_destroy(&c.mu);
    /* A destroyed mutex may be initialised again. */
    assert_int_equal(plat_mutex_init(&c.mu), 0);
    plat_mutex_destroy(&c.mu);
}

#ifndef NDEBUG
static void *held_here(void *arg)
{
    return plat_mutex_held(arg) ? arg : NULL;
}

static void test_mutex_held(void **state)
{
    plat_mutex_t mu;
    plat_thread_t t;
    void *ret = &ret;

    (void)state;
    assert_int_equal(plat_mutex_init(&mu), 0);
    assert_false(plat_mutex_held(&mu));
    plat_mutex_lock(&mu);
    assert_true(plat_mutex_held(&mu));
    assert_int_equal(plat_thread_create(&t, held_here, &mu), 0);
    assert_int_equal(plat_thread_join(t, &ret), 0);
    assert_null(ret); /* another thread does not hold it */
    plat_mutex_unlock(&mu);
    assert_false(plat_mutex_held(&mu));
    plat_mutex_lock(&mu); /* taken again: held again */
    assert_true(plat_mutex_held(&mu));
    plat_mutex_unlock(&mu);
    plat_mutex_destroy(&mu);
}
#endif

static void *return_arg(void *arg)
{
    return arg;
}

static void test_thread_args(void **state)
{
    plat_thread_t t;
    int x = 7;
    void *ret = NULL;

    (void)state;
    assert_int_equal(plat_thread_create(NULL, return_arg, &x), PLAT_EFAULT);
    assert_int_equal(plat_thread_create(&t, NULL, &x), PLAT_EFAULT);
    assert_int_equal(plat_thread_create(&t, return_arg, &x), 0);
    assert_int_equal(plat_thread_join(t, &ret), 0);
    assert_ptr_equal(ret, &x);
    assert_int_equal(plat_thread_create(&t, return_arg, NULL), 0);
    assert_int_equal(plat_thread_join(t, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiter_sleeps_until_woken),
        cmocka_unit_test(test_stale_expected_returns_at_once),
        cmocka_unit_test(test_wake_all),
        cmocka_unit_test(test_wake_without_waiters),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_clock_monotonic),
        cmocka_unit_test(test_cpu_count),
        cmocka_unit_test(test_mutex_contention),
#ifndef NDEBUG
        cmocka_unit_test(test_mutex_held),
#endif
        cmocka_unit_test(test_thread_args),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
