/*
 * awe/compat/win32_error.c: the calling thread's last error, and the one table that turns the
 * native layer's error codes into Win32 error codes (libuv's src/win/error.c is the model: one
 * table, and no other place in libawewin32 knows which AWE_E* becomes which ERROR_*).
 */
#include "win32_internal.h"

#include <assert.h>
#include <pthread.h>

/* The last error of each thread, as Windows keeps it in the thread's TEB. */
static _Thread_local DWORD last_error;

/* awe.h error code -> GetLastError() value: awe.h's AWE_ERROR_MAP gives each code's Win32 number
 * and name, and this table is made from it. docs/awe-semantics.md gives the Windows rules behind
 * each row: e.g. ENOMEM means "not one frame could be had" (Windows: ERROR_NO_SYSTEM_RESOURCES,
 * not ERROR_NOT_ENOUGH_MEMORY) and EDQUOT "the per-process frame limit is already reached". */
static const struct {
    int awe;     /* an AWE_E* code */
    DWORD win32; /* what GetLastError() reports for it */
} error_table[] = {
#define AWE_WIN32_ROW_(name, value, win32, win32_name, text) {AWE_##name, ERROR_##win32_name},
    AWE_ERROR_MAP(AWE_WIN32_ROW_)
#undef AWE_WIN32_ROW_
};

/* The names in the list must be this API's windows.h constants of the numbers it gives. */
#define AWE_WIN32_SAME_(name, value, win32, win32_name, text)                                      \
    static_assert(ERROR_##win32_name == (win32),                                                   \
                  "AWE_" #name ": ERROR_" #win32_name " is not " #win32);
AWE_ERROR_MAP(AWE_WIN32_SAME_)
#undef AWE_WIN32_SAME_

DWORD awewin32_error_from_awe(int err)
{
    size_t i;

    for (i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++) {
        if (error_table[i].awe == err)
            return error_table[i].win32;
    }
    return ERROR_IO_DEVICE; /* the contracts allow no other code: treat it as an OS failure */
}

BOOL awewin32_fail(DWORD code)
{
    last_error = code;
    return FALSE;
}

BOOL awewin32_fail_awe(int err)
{
    return awewin32_fail(awewin32_error_from_awe(err));
}

AWEWIN32_API DWORD WINAPI GetLastError(void)
{
    return last_error;
}

AWEWIN32_API void WINAPI SetLastError(DWORD dwErrCode)
{
    last_error = dwErrCode;
}

/* ---- The compat lock ---------------------------------------------------------------------- */

/* A pthread mutex rather than C11 mtx_t: ThreadSanitizer (gcc 12, clang 14) does not intercept
 * the C11 thread functions, so it would not see this lock and would report false races. */
static pthread_mutex_t compat_mutex = PTHREAD_MUTEX_INITIALIZER;

void awewin32_lock(void)
{
    pthread_mutex_lock(&compat_mutex);
}

void awewin32_unlock(void)
{
    pthread_mutex_unlock(&compat_mutex);
}
