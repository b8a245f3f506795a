/*
 * platform/linux/testing_linux.c: fault injection on Linux (plat_testing.h), for tests only.
 *
 * Not part of libawecache: built into awecache_testing, the test-only library that the tests link
 * (platform/CMakeLists.txt). The gate's hook (os_linux.h) asks common/testing_common.c whether
 * the call is the armed one and fails it with the errno the test chose.
 */
#include "os_linux.h"

#include "common/testing_common.h"
#include "plat_testing.h"

#include <stdatomic.h>

/* The hook: 0 to go ahead, or the negative errno the call fails with. */
static int gate_hook(void)
{
    return -testing_count_call();
}

void testing_hook_set(void)
{
    atomic_store_explicit(&os_gate_hook, gate_hook, memory_order_release);
}

void plat_testing_copy_frames_by_os(int on)
{
    atomic_store_explicit(&os_copy_by_call, on != 0, memory_order_relaxed);
}

void plat_testing_emulate_awe(int on)
{
    (void)on; /* Windows only: Linux's AWE needs no privilege, so there is nothing to emulate */
}
