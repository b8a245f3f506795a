/*
 * platform/common/testing_common.c: the test hooks of plat_testing.h whose rules do not depend on
 * the OS, for tests only: the count of OS calls and the armed failure (the OS's testing_<os>.c
 * turns it into its own error at the gate), and the override of the kernel mapping budget.
 *
 * Not part of libawecache: built into awecache_testing, the test-only library that the tests link
 * (platform/CMakeLists.txt). The counter and the armed failure are process-wide atomics: a gate
 * check is one atomic add and one load. It reaches the platform's AWE state through
 * awe_common.h, as common/awe_entry.c does.
 */
#include "testing_common.h"

#include "awe_common.h"
#include "plat_testing.h"

#include <errno.h>
#include <stdatomic.h>

static atomic_uint_fast64_t gate_calls;   /* counted OS calls since the hook was set */
static atomic_uint_fast64_t gate_fail_at; /* fail the call with this count; 0: disarmed */
static atomic_int gate_fail_errno;        /* the errno an injected failure reports */

int testing_count_call(void)
{
    uint_fast64_t n = atomic_fetch_add_explicit(&gate_calls, 1, memory_order_relaxed) + 1;
    uint_fast64_t at = atomic_load_explicit(&gate_fail_at, memory_order_relaxed);

    if (at != 0 && n == at &&
        atomic_compare_exchange_strong_explicit(&gate_fail_at, &at, 0, memory_order_relaxed,
                                                memory_order_relaxed))
        return atomic_load_explicit(&gate_fail_errno, memory_order_relaxed);
    return 0;
}

void plat_testing_fail_nth_os_call(uint64_t n, int os_errno)
{
    testing_hook_set();
    atomic_store_explicit(&gate_fail_errno, os_errno > 0 ? os_errno : EIO, memory_order_relaxed);
    atomic_store_explicit(&gate_fail_at, n == 0 ? 0 : atomic_load(&gate_calls) + n,
                          memory_order_relaxed);
}

uint64_t plat_testing_os_calls(void)
{
    testing_hook_set();
    return atomic_load_explicit(&gate_calls, memory_order_relaxed);
}

/* Where the OS has no mapping budget (Windows), the override is shown in the caps and enforces
 * nothing. */
void plat_testing_set_vma_budget(uint64_t budget)
{
    if (ensure_init() != 0)
        return;
    map_lock();
    plat_core.caps.vma_budget = budget != 0 ? budget : plat_core.vma_budget_default;
    map_unlock();
}
