/*
 * awe/compat/win32_token.c: the current process handle, access tokens and the emulated
 * SeLockMemoryPrivilege.
 *
 * Windows lets a process allocate AWE frames only while SeLockMemoryPrivilege is *enabled* in its
 * token; programs enable it with OpenProcessToken + LookupPrivilegeValue + AdjustTokenPrivileges
 * and then check GetLastError() == ERROR_SUCCESS (AdjustTokenPrivileges returns TRUE even when it
 * could not enable the privilege). We keep the same dance with one process-wide state:
 *
 *   DISABLED --Adjust(SE_PRIVILEGE_ENABLED)--> ENABLED --Adjust(0) or DisableAll--> DISABLED
 *   any --Adjust(SE_PRIVILEGE_REMOVED)--> REMOVED (for good: enabling it again reports
 *   ERROR_NOT_ALL_ASSIGNED, as Windows does for a privilege the token does not hold)
 *
 * Every process starts DISABLED. The privilege is "held" by everyone (there is no account
 * database here); what matters, as on Windows, is that the program enables it.
 *
 * Tokens are small heap objects on a list guarded by the compat lock; a handle is valid while it
 * is on the list, so CloseHandle and AdjustTokenPrivileges never dereference a stale pointer.
 */
#include "win32_internal.h"

#include <stdatomic.h>
#include <stdlib.h>

/* The pseudo handle of the current process (the value Windows uses). */
#define CURRENT_PROCESS ((HANDLE)(intptr_t)-1)

/* The LUID of SeLockMemoryPrivilege (SE_LOCK_MEMORY_PRIVILEGE is 4 on Windows). */
#define LOCK_MEMORY_LUID_LOW 4u

enum privilege_state {
    PRIV_DISABLED = 0, /* held, not enabled: allocation fails with ERROR_PRIVILEGE_NOT_HELD */
    PRIV_ENABLED = 1,  /* allocation allowed */
    PRIV_REMOVED = 2,  /* removed from the token; cannot come back */
};

/* The privilege's state. Written under the compat lock, read without it. */
static atomic_int lock_memory_state = PRIV_DISABLED;

#define TOKEN_MAGIC 0x6b6f7431u /* "tok1" */

struct token {
    unsigned magic;     /* TOKEN_MAGIC while open */
    DWORD access;       /* TOKEN_* rights asked for in OpenProcessToken */
    struct token *next; /* next open token */
};

/* Open tokens. Guarded by the compat lock. */
static struct token *open_tokens;

BOOL awewin32_is_current_process(HANDLE h)
{
    return h == CURRENT_PROCESS;
}

BOOL awewin32_lock_memory_enabled(void)
{
    return atomic_load_explicit(&lock_memory_state, memory_order_acquire) == PRIV_ENABLED;
}

AWEWIN32_API HANDLE WINAPI GetCurrentProcess(void)
{
    return CURRENT_PROCESS;
}

AWEWIN32_API BOOL WINAPI OpenProcessToken(HANDLE ProcessHandle, DWORD DesiredAccess,
                                          PHANDLE TokenHandle)
{
    struct token *t;

    if (TokenHandle == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    if (!awewin32_is_current_process(ProcessHandle))
        return awewin32_fail(ERROR_INVALID_HANDLE);
    t = malloc(sizeof(*t));
    if (t == NULL)
        return awewin32_fail(ERROR_NOT_ENOUGH_MEMORY);
    t->magic = TOKEN_MAGIC;
    t->access = DesiredAccess;
    awewin32_lock();
    t->next = open_tokens;
    open_tokens = t;
    awewin32_unlock();
    *TokenHandle = (HANDLE)t;
    return TRUE;
}

/* The open token `h`, or NULL. Needs the compat lock. */
static struct token *token_find(HANDLE h)
{
    struct token *t;

    for (t = open_tokens; t != NULL; t = t->next) {
        if ((HANDLE)t == h)
            return t->magic == TOKEN_MAGIC ? t : NULL;
    }
    return NULL;
}

AWEWIN32_API BOOL WINAPI CloseHandle(HANDLE hObject)
{
    struct token **link;
    struct token *t = NULL;

    /* Closing the pseudo handle is allowed and does nothing, as on Windows. */
    if (awewin32_is_current_process(hObject))
        return TRUE;
    awewin32_lock();
    for (link = &open_tokens; *link != NULL; link = &(*link)->next) {
        if ((HANDLE)*link == hObject) {
            t = *link;
            *link = t->next;
            break;
        }
    }
    awewin32_unlock();
    if (t == NULL)
        return awewin32_fail(ERROR_INVALID_HANDLE);
    t->magic = 0;
    free(t);
    return TRUE;
}

/* ---- Privilege names ---------------------------------------------------------------------- */

static const char lock_memory_name[] = "SeLockMemoryPrivilege";

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Privilege names compare without regard to case, as on Windows. `wide` says which of the two
 * pointers holds the name. */
static BOOL is_lock_memory_name(const char *narrow, const wchar_t *wide)
{
    size_t i;

    for (i = 0;; i++) {
        int want = (unsigned char)lock_memory_name[i];
        long got = narrow != NULL ? (long)(unsigned char)narrow[i] : (long)wide[i];

        if (got < 0 || got > 127 || ascii_lower((int)got) != ascii_lower(want))
            return FALSE;
        if (want == 0)
            return TRUE;
    }
}

/* Shared by the A and W forms. Only the local system (NULL or "") is known. */
static BOOL lookup_privilege(BOOL system_given, const char *narrow, const wchar_t *wide, PLUID luid)
{
    if ((narrow == NULL && wide == NULL) || luid == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    if (system_given)
        return awewin32_fail(ERROR_NOT_SUPPORTED);
    if (!is_lock_memory_name(narrow, wide))
        return awewin32_fail(ERROR_NO_SUCH_PRIVILEGE);
    luid->LowPart = LOCK_MEMORY_LUID_LOW;
    luid->HighPart = 0;
    return TRUE;
}

AWEWIN32_API BOOL WINAPI LookupPrivilegeValueA(LPCSTR lpSystemName, LPCSTR lpName, PLUID lpLuid)
{
    BOOL system_given = lpSystemName != NULL && lpSystemName[0] != '\0';

    if (lpName == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    return lookup_privilege(system_given, lpName, NULL, lpLuid);
}

AWEWIN32_API BOOL WINAPI LookupPrivilegeValueW(LPCWSTR lpSystemName, LPCWSTR lpName, PLUID lpLuid)
{
    BOOL system_given = lpSystemName != NULL && lpSystemName[0] != L'\0';

    if (lpName == NULL)
        return awewin32_fail(ERROR_NOACCESS);
    return lookup_privilege(system_given, NULL, lpName, lpLuid);
}

static BOOL is_lock_memory_luid(const LUID *l)
{
    return l->LowPart == LOCK_MEMORY_LUID_LOW && l->HighPart == 0;
}

/*
 * AdjustTokenPrivileges, in steps:
 *   1. Find the token (ERROR_INVALID_HANDLE) and check its rights: TOKEN_ADJUST_PRIVILEGES, and
 *      TOKEN_QUERY when the previous state is asked for (ERROR_ACCESS_DENIED).
 *   2. Work out the new state of SeLockMemoryPrivilege from DisableAllPrivileges or from the
 *      entries of NewState; any other LUID, or enabling a removed privilege, cannot be assigned.
 *   3. If PreviousState is wanted, check the buffer (ERROR_INSUFFICIENT_BUFFER with the size
 *      needed in *ReturnLength, nothing changed) and fill it with the privileges that change.
 *   4. Apply the new state; the last error becomes ERROR_SUCCESS, or ERROR_NOT_ALL_ASSIGNED when
 *      step 2 found something it could not assign. Either way the call returns TRUE.
 */
AWEWIN32_API BOOL WINAPI AdjustTokenPrivileges(HANDLE TokenHandle, BOOL DisableAllPrivileges,
                                               PTOKEN_PRIVILEGES NewState, DWORD BufferLength,
                                               PTOKEN_PRIVILEGES PreviousState, PDWORD ReturnLength)
{
    struct token *t;
    int old_state, new_state;
    BOOL not_all_assigned = FALSE;
    DWORD i, changed, needed;

    awewin32_lock();
    /* Step 1 */
    t = token_find(TokenHandle);
    if (t == NULL) {
        awewin32_unlock();
        return awewin32_fail(ERROR_INVALID_HANDLE);
    }
    if ((t->access & TOKEN_ADJUST_PRIVILEGES) == 0 ||
        (PreviousState != NULL && (t->access & TOKEN_QUERY) == 0)) {
        awewin32_unlock();
        return awewin32_fail(ERROR_ACCESS_DENIED);
    }
    if ((!DisableAllPrivileges && NewState == NULL) ||
        (PreviousState != NULL && ReturnLength == NULL)) {
        awewin32_unlock();
        return awewin32_fail(ERROR_NOACCESS);
    }

    /* Step 2 */
    old_state = atomic_load_explicit(&lock_memory_state, memory_order_relaxed);
    new_state = old_state;
    if (DisableAllPrivileges) {
        if (old_state == PRIV_ENABLED)
            new_state = PRIV_DISABLED;
    } else {
        for (i = 0; i < NewState->PrivilegeCount; i++) {
            const LUID_AND_ATTRIBUTES *e = &NewState->Privileges[i];

            if (!is_lock_memory_luid(&e->Luid)) {
                not_all_assigned = TRUE;
            } else if (new_state == PRIV_REMOVED) {
                if (e->Attributes & SE_PRIVILEGE_ENABLED)
                    not_all_assigned = TRUE;
            } else if (e->Attributes & SE_PRIVILEGE_REMOVED) {
                new_state = PRIV_REMOVED;
            } else if (e->Attributes & SE_PRIVILEGE_ENABLED) {
                new_state = PRIV_ENABLED;
            } else {
                new_state = PRIV_DISABLED;
            }
        }
    }

    /* Step 3: a removed privilege is not reported, as on Windows. */
    changed = (new_state != old_state && new_state != PRIV_REMOVED) ? 1 : 0;
    if (PreviousState != NULL) {
        needed =
            (DWORD)(offsetof(TOKEN_PRIVILEGES, Privileges) + changed * sizeof(LUID_AND_ATTRIBUTES));
        *ReturnLength = needed;
        if (BufferLength < needed) {
            awewin32_unlock();
            return awewin32_fail(ERROR_INSUFFICIENT_BUFFER);
        }
        PreviousState->PrivilegeCount = changed;
        if (changed) {
            PreviousState->Privileges[0].Luid.LowPart = LOCK_MEMORY_LUID_LOW;
            PreviousState->Privileges[0].Luid.HighPart = 0;
            PreviousState->Privileges[0].Attributes =
                old_state == PRIV_ENABLED ? SE_PRIVILEGE_ENABLED : 0;
        }
    }

    /* Step 4 */
    atomic_store_explicit(&lock_memory_state, new_state, memory_order_release);
    awewin32_unlock();
    SetLastError(not_all_assigned ? ERROR_NOT_ALL_ASSIGNED : ERROR_SUCCESS);
    return TRUE;
}
