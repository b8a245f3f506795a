/*
 * platform/windows/testing_windows.c: fault injection on Windows (plat_testing.h), for tests
 * only; the AWE emulation, plat_testing_emulate_awe, is emu_windows.c's.
 *
 * Not part of libawecache: built into awecache_testing, the test-only library that the tests link
 * (platform/CMakeLists.txt). The gate's hook (os_windows.h) asks common/testing_common.c whether
 * the call is the armed one. A test arms a failure with an errno value (plat_testing.h speaks
 * errno, the language of the contract); the hook hands the call the Win32 error that Windows
 * gives for the same condition, so that the failure goes through the same table as a real one.
 */
#include "os_windows.h"

#include "common/testing_common.h"
#include "plat_testing.h"

#include <errno.h>
#include <stdatomic.h>

/* The Win32 error Windows reports for the condition an errno names. */
static DWORD injected_error(int os_errno)
{
    switch (os_errno) {
    case ENOMEM:
        return ERROR_NOT_ENOUGH_MEMORY;
    case ENOSPC:
        return ERROR_DISK_FULL;
    case EACCES:
    case EPERM:
        return ERROR_ACCESS_DENIED;
    case EINVAL:
        return ERROR_INVALID_PARAMETER;
    default:
        return ERROR_GEN_FAILURE; /* EIO and the rest: the device failed */
    }
}

/* The hook: 0 to go ahead, or the Win32 error the call fails with. */
static DWORD gate_hook(void)
{
    int e = testing_count_call();

    return e == 0 ? 0 : injected_error(e);
}

void testing_hook_set(void)
{
    atomic_store_explicit(&os_gate_hook, gate_hook, memory_order_release);
}

void plat_testing_copy_frames_by_os(int on)
{
    (void)on; /* Linux only: Windows' AWE cannot copy frames (plat_frames_copy: not supported) */
}
