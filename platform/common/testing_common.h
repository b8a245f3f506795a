/*
 * platform/common/testing_common.h: what the test hooks of every OS share (private to platform/,
 * test-only: awecache_testing, never libawecache). common/testing_common.c keeps the count of OS
 * calls and the armed failure of plat_testing.h; each OS's testing_<os>.c sets the gate's hook
 * of its os_<os>.h to a function that asks testing_count_call and speaks its OS's errors.
 */
#ifndef AWECACHE_PLATFORM_COMMON_TESTING_COMMON_H
#define AWECACHE_PLATFORM_COMMON_TESTING_COMMON_H

/* Counts one OS call: 0 to let it go ahead, or the errno (> 0) it must fail with, once armed
 * (plat_testing_fail_nth_os_call). */
int testing_count_call(void);

/* Defined by testing_<os>.c: sets the gate's hook (idempotent). Until it is set no OS call is
 * counted; plat_testing_fail_nth_os_call and plat_testing_os_calls set it first. */
void testing_hook_set(void);

#endif /* AWECACHE_PLATFORM_COMMON_TESTING_COMMON_H */
