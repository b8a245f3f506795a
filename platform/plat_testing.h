/*
 * platform/plat_testing.h: fault injection at the platform boundary, for tests only.
 *
 * Every operating-system call the platform makes (mmap, munmap, fallocate, memfd_create, ...)
 * passes through one gate. A test arms the gate so that the n-th OS call from now fails with a
 * chosen error, as if the kernel had refused it, and then checks that the AWE call that made it
 * left everything exactly as it was. Calls made to roll back a failed operation pass the gate
 * without being counted, so a rollback never fails by injection.
 *
 * Not installed; the symbols are in the static library only. Not for concurrent use: arm, call,
 * check, from one thread.
 */
#ifndef AWECACHE_PLATFORM_PLAT_TESTING_H
#define AWECACHE_PLATFORM_PLAT_TESTING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the n-th counted OS call from now (n >= 1) fail with errno `os_errno` (ENOMEM, say),
 * once. n == 0 disarms. */
void plat_testing_fail_nth_os_call(uint64_t n, int os_errno);

/* The number of counted OS calls made so far by this process (injected failures included). */
uint64_t plat_testing_os_calls(void);

/* Overrides the kernel mapping budget AWE may use (0 restores the computed one), so that tests
 * can reach the budget without thousands of mappings. */
void plat_testing_set_vma_budget(uint64_t budget);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_PLATFORM_PLAT_TESTING_H */
