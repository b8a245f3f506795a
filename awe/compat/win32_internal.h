/*
 * awe/compat/win32_internal.h: what the files of libawewin32 share. Not installed.
 *
 * Conventions: every Win32 entry point returns its Windows result (BOOL TRUE/FALSE, a pointer or
 * NULL) and reports failures through the calling thread's last error, set by awewin32_fail*()
 * right before returning. A successful call leaves the last error alone unless its Windows
 * documentation says otherwise (AdjustTokenPrivileges).
 *
 * Lock: one process-wide mutex (awewin32_lock) guards the token list (win32_token.c) and the
 * registry of plain reservations (win32_virtual.c). The AWE calls never take it: the awe_*
 * layer serializes itself. Never call a function that takes the lock while holding it.
 */
#ifndef AWECACHE_COMPAT_WIN32_INTERNAL_H
#define AWECACHE_COMPAT_WIN32_INTERNAL_H

#include "windows.h"

#include "awe.h"

/* The one translation from awe/platform error codes to Win32 error codes (win32_error.c).
 * AWE_OK gives ERROR_SUCCESS; a code not in the table gives ERROR_IO_DEVICE. */
DWORD awewin32_error_from_awe(int err);

/* Sets the last error to `code` and returns FALSE: `return awewin32_fail(ERROR_X);`. */
BOOL awewin32_fail(DWORD code);

/* Sets the last error to the translation of `err` (an AWE_E* code) and returns FALSE. */
BOOL awewin32_fail_awe(int err);

/* True when `h` names this process: the pseudo handle GetCurrentProcess() returns. */
BOOL awewin32_is_current_process(HANDLE h);

/* True when the emulated SeLockMemoryPrivilege is enabled now (win32_token.c). */
BOOL awewin32_lock_memory_enabled(void);

/* The process-wide compat lock (see above). */
void awewin32_lock(void);
void awewin32_unlock(void);

#endif /* AWECACHE_COMPAT_WIN32_INTERNAL_H */
