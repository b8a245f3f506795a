/*
 * platform/plat_testing.h: fault injection at the platform boundary, for tests only.
 *
 * Every operating-system call the platform makes (mmap, munmap, fallocate, memfd_create, ...)
 * passes through one gate. A test arms the gate so that the n-th OS call from now fails with a
 * chosen error, as if the kernel had refused it, and then checks that the AWE call that made it
 * left everything exactly as it was. Calls made to roll back a failed operation pass the gate
 * without being counted, so a rollback never fails by injection.
 *
 * Test scaffolding, not part of libawecache: these functions are in awecache_testing, a static
 * library of the build tree that only tests link (with awecache_internal, the library's objects
 * with every name reachable: platform/CMakeLists.txt, awe/CMakeLists.txt). In the library the
 * gate is a hook that nothing sets; the first call of plat_testing_fail_nth_os_call or
 * plat_testing_os_calls sets it, and counting starts there. Not installed. Not for concurrent
 * use: arm, call, check, from one thread.
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

/* The number of counted OS calls made by this process since the first call of this function
 * or of plat_testing_fail_nth_os_call (injected failures included): a test compares two of its
 * values. */
uint64_t plat_testing_os_calls(void);

/* Overrides the kernel mapping budget AWE may use (0 restores the computed one), so that tests
 * can reach the budget without thousands of mappings. */
void plat_testing_set_vma_budget(uint64_t budget);

/* Linux: on = 1 makes frame copies (awe_frames_read, awe_frames_write) go through pread and
 * pwrite of the frames' memfd, one counted OS call per run of consecutive frames, instead of a
 * memcpy from the platform's private view of the frames, so that a test can fail one; on = 0
 * goes back. Windows: no effect (its AWE cannot copy frames). */
void plat_testing_copy_frames_by_os(int on);

/* Windows only: the AWE calls (frame allocation and freeing, mapping, MEM_PHYSICAL windows)
 * go to an emulation instead of the OS (platform/windows/emu_windows.c), so that the platform's
 * AWE bookkeeping and the layers above it run where the OS has no AWE (Wine: stubs). A frame is
 * a heap page; mapping copies it into committed memory at the page and unmapping copies it back:
 * exact for one thread at a time, not AWE's speed. Arm it (on = 1) or disarm it (on = 0) only
 * while the process holds no frame and no window. Linux has nothing to emulate (its AWE needs no
 * privilege): no effect. */
void plat_testing_emulate_awe(int on);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_PLATFORM_PLAT_TESTING_H */
