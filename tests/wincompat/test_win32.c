/*
 * tests/wincompat/test_win32.c: conformance of the Windows-compatible API (libawewin32) with the
 * AWE rules and error codes of docs/awe-semantics.md, called the way Windows programs call it.
 *
 * Two runs of this one program (ctest registers both):
 *   test_win32          every rule that holds in a process that has used AWE already;
 *   test_win32 fresh    the rules of a process that never allocated a frame (Map and Free then
 *                       fail with ERROR_INVALID_PARAMETER), the privilege's initial state, and
 *                       SE_PRIVILEGE_REMOVED (irreversible, so it runs last, in that process).
 *
 * Every test leaves no frame and no window behind (tu_teardown checks the native counters);
 * frames and windows a test makes are tracked so that a failing test does not leak into the
 * next. Faults are observed with test_util's SIGSEGV probe (page_faults).
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>

#include "plat_testing.h"
#include "test_util.h"
#include "win32_internal.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A frame number no process ever owns (frame numbers are small page indexes): 2^40 on 64-bit,
 * 2^28 (1 TiB of 4 KiB pages) where ULONG_PTR is 32 bits. */
#define BOGUS_PFN ((ULONG_PTR)1 << (sizeof(ULONG_PTR) == 4 ? 28 : 40))

static size_t page;

/* ---- Helpers ------------------------------------------------------------------------------ */

/* Asserts that `call` returns FALSE (or NULL) and sets the last error to `code`. The last error
 * is poisoned first so that a stale value cannot pass. */
#define assert_fails(call, code)                                                                   \
    do {                                                                                           \
        SetLastError(0xdeadbeefu);                                                                 \
        assert_false(call);                                                                        \
        assert_int_equal(GetLastError(), (code));                                                  \
    } while (0)
#define assert_alloc_fails(call, code)                                                             \
    do {                                                                                           \
        SetLastError(0xdeadbeefu);                                                                 \
        assert_null(call);                                                                         \
        assert_int_equal(GetLastError(), (code));                                                  \
    } while (0)

/* Enables (or disables) SeLockMemoryPrivilege the documented way; asserts it worked. */
static void set_lock_pages(BOOL on)
{
    TOKEN_PRIVILEGES tp;
    HANDLE token = NULL;

    assert_true(
        OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token));
    tp.PrivilegeCount = 1;
    tp.Privileges[0].Attributes = on ? SE_PRIVILEGE_ENABLED : 0;
    assert_true(LookupPrivilegeValue(NULL, SE_LOCK_MEMORY_NAME, &tp.Privileges[0].Luid));
    SetLastError(1234);
    assert_true(AdjustTokenPrivileges(token, FALSE, &tp, 0, NULL, NULL));
    assert_int_equal(GetLastError(), ERROR_SUCCESS);
    assert_true(CloseHandle(token));
}

/* Allocates exactly n frames through the Win32 API (tracked for teardown). */
static ULONG_PTR *alloc_pfns(size_t n)
{
    ULONG_PTR *pfns = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, n * sizeof(ULONG_PTR));
    ULONG_PTR count = n;

    assert_non_null(pfns);
    SetLastError(4321);
    assert_true(AllocateUserPhysicalPages(GetCurrentProcess(), &count, pfns));
    assert_int_equal(count, n);
    assert_int_equal(GetLastError(), 4321); /* success leaves the last error alone */
    tu_track_frames((const awe_frame_t *)pfns, n);
    return pfns;
}

static void free_pfns_array(ULONG_PTR *pfns)
{
    assert_true(HeapFree(GetProcessHeap(), 0, pfns));
}

/* Frees n frames that must all be owned. */
static void free_frames(ULONG_PTR *pfns, size_t n)
{
    ULONG_PTR count = n;

    assert_true(FreeUserPhysicalPages(GetCurrentProcess(), &count, pfns));
    assert_int_equal(count, n);
}

/* Reserves an AWE window of `pages` pages (tracked for teardown). */
static char *window(size_t pages)
{
    char *w = VirtualAlloc(NULL, pages * page, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE);

    assert_non_null(w);
    tu_track_window(w);
    return w;
}

static void release_window(char *w)
{
    assert_true(VirtualFree(w, 0, MEM_RELEASE));
}

static ULONG_PTR query(const void *va)
{
    awe_frame_t f = (awe_frame_t)-1;

    assert_int_equal(awe_query(va, &f), AWE_OK);
    return f;
}

static int group_setup(void **state)
{
    (void)state;
    tu_init();
    page = tu_page();
    set_lock_pages(TRUE);
    return 0;
}

/* ---- Error codes and the last error ------------------------------------------------------- */

static void test_error_table(void **state)
{
    (void)state;
    assert_int_equal(awewin32_error_from_awe(AWE_OK), ERROR_SUCCESS);
    assert_int_equal(awewin32_error_from_awe(AWE_EINVAL), 87);
    assert_int_equal(awewin32_error_from_awe(AWE_ENXIO), 487);
    assert_int_equal(awewin32_error_from_awe(AWE_EADDRNOTAVAIL), 487);
    assert_int_equal(awewin32_error_from_awe(AWE_EPERM), 1314);
    assert_int_equal(awewin32_error_from_awe(AWE_ENOMEM), 1450);
    assert_int_equal(awewin32_error_from_awe(AWE_EDQUOT), 1455);
    assert_int_equal(awewin32_error_from_awe(AWE_EFAULT), 998);
    assert_int_equal(awewin32_error_from_awe(AWE_ENOTSUP), 50);
    assert_int_equal(awewin32_error_from_awe(AWE_EIO), 1117);
    assert_int_equal(awewin32_error_from_awe(-12345), ERROR_IO_DEVICE);
    /* The table is made from awe.h's list: every code there gives the Win32 number it lists. */
#define WIN32_OF_AWE_(name, value, win32, win32_name, text)                                        \
    assert_int_equal(awewin32_error_from_awe(AWE_##name), (win32));
    AWE_ERROR_MAP(WIN32_OF_AWE_)
#undef WIN32_OF_AWE_
}

struct last_error_arg {
    DWORD mine;         /* the value this thread sets */
    atomic_int *phase;  /* both threads set, then both check */
    DWORD seen;         /* what GetLastError() said after the other thread set its value */
    DWORD seen_failure; /* the last error after a failing call in this thread */
};

static void *last_error_thread(void *p)
{
    struct last_error_arg *a = p;
    ULONG_PTR count = 0;

    SetLastError(a->mine);
    atomic_fetch_add(a->phase, 1);
    while (atomic_load(a->phase) < 2)
        ;
    a->seen = GetLastError();
    (void)FreeUserPhysicalPages(GetCurrentProcess(), &count, NULL); /* fails: 87 */
    a->seen_failure = GetLastError();
    return NULL;
}

static void test_last_error_is_per_thread(void **state)
{
    atomic_int phase = 0;
    struct last_error_arg a = {.mine = 111, .phase = &phase};
    struct last_error_arg b = {.mine = 222, .phase = &phase};
    pthread_t ta, tb;

    (void)state;
    SetLastError(333);
    assert_int_equal(pthread_create(&ta, NULL, last_error_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, last_error_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.seen, 111);
    assert_int_equal(b.seen, 222);
    assert_int_equal(a.seen_failure, ERROR_INVALID_PARAMETER);
    assert_int_equal(GetLastError(), 333); /* the other threads' failures did not touch ours */
}

/* ---- Process, tokens, privilege ----------------------------------------------------------- */

static void test_process_handle(void **state)
{
    (void)state;
    assert_ptr_equal(GetCurrentProcess(), (HANDLE)(intptr_t)-1);
    assert_ptr_equal(GetCurrentProcess(), INVALID_HANDLE_VALUE); /* the same value on Windows */
    assert_true(CloseHandle(GetCurrentProcess())); /* a pseudo handle: closing does nothing */
    assert_fails(CloseHandle(NULL), ERROR_INVALID_HANDLE);
    assert_fails(CloseHandle((HANDLE)(intptr_t)0x1234), ERROR_INVALID_HANDLE);
}

static void test_privilege_lookup(void **state)
{
    LUID a, b, c;

    (void)state;
    assert_true(LookupPrivilegeValueA(NULL, "SeLockMemoryPrivilege", &a));
    assert_true(LookupPrivilegeValueW(NULL, L"SeLockMemoryPrivilege", &b));
    assert_true(LookupPrivilegeValueA("", "selockmemoryprivilege", &c)); /* any case */
    assert_int_equal(a.LowPart, b.LowPart);
    assert_int_equal(a.HighPart, b.HighPart);
    assert_int_equal(a.LowPart, c.LowPart);
    assert_int_equal(a.LowPart, 4); /* SE_LOCK_MEMORY_PRIVILEGE */
    assert_fails(LookupPrivilegeValueA(NULL, "SeDoesNotExistPrivilege", &a),
                 ERROR_NO_SUCH_PRIVILEGE);
    assert_fails(LookupPrivilegeValueW(NULL, L"SeLockMemoryPrivilegeX", &a),
                 ERROR_NO_SUCH_PRIVILEGE);
    assert_fails(LookupPrivilegeValueA(NULL, "SeLockMemoryPrivilege", NULL), ERROR_NOACCESS);
    assert_fails(LookupPrivilegeValueA("otherhost", "SeLockMemoryPrivilege", &a),
                 ERROR_NOT_SUPPORTED);
}

static void test_token_rights_and_results(void **state)
{
    TOKEN_PRIVILEGES tp, prev;
    HANDLE query_only = NULL, adjust = NULL;
    DWORD len = 0;

    (void)state;
    assert_fails(OpenProcessToken(NULL, TOKEN_ADJUST_PRIVILEGES, &adjust), ERROR_INVALID_HANDLE);
    assert_fails(OpenProcessToken((HANDLE)(intptr_t)0x42, TOKEN_QUERY, &adjust),
                 ERROR_INVALID_HANDLE);
    assert_fails(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, NULL), ERROR_NOACCESS);
    assert_true(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &query_only));
    assert_true(OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES, &adjust));

    tp.PrivilegeCount = 1;
    assert_true(LookupPrivilegeValue(NULL, SE_LOCK_MEMORY_NAME, &tp.Privileges[0].Luid));
    tp.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;

    /* Without TOKEN_ADJUST_PRIVILEGES: access denied. Asking for the previous state needs
     * TOKEN_QUERY too. */
    assert_fails(AdjustTokenPrivileges(query_only, FALSE, &tp, 0, NULL, NULL), ERROR_ACCESS_DENIED);
    assert_fails(AdjustTokenPrivileges(adjust, FALSE, &tp, sizeof(prev), &prev, &len),
                 ERROR_ACCESS_DENIED);
    assert_fails(AdjustTokenPrivileges((HANDLE)(intptr_t)0x77, FALSE, &tp, 0, NULL, NULL),
                 ERROR_INVALID_HANDLE);

    /* Success sets ERROR_SUCCESS explicitly (programs check it). */
    SetLastError(999);
    assert_true(AdjustTokenPrivileges(adjust, FALSE, &tp, 0, NULL, NULL));
    assert_int_equal(GetLastError(), ERROR_SUCCESS);

    /* A privilege this process cannot have: TRUE, but ERROR_NOT_ALL_ASSIGNED. */
    tp.Privileges[0].Luid.LowPart = 20;
    SetLastError(999);
    assert_true(AdjustTokenPrivileges(adjust, FALSE, &tp, 0, NULL, NULL));
    assert_int_equal(GetLastError(), ERROR_NOT_ALL_ASSIGNED);

    /* The previous state, with a buffer too small and then one that fits. */
    assert_true(CloseHandle(adjust));
    assert_true(
        OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &adjust));
    tp.Privileges[0].Luid.LowPart = 4;
    tp.Privileges[0].Attributes = 0; /* disable */
    assert_fails(AdjustTokenPrivileges(adjust, FALSE, &tp, 4, &prev, &len),
                 ERROR_INSUFFICIENT_BUFFER);
    assert_int_equal(len, sizeof(TOKEN_PRIVILEGES));
    assert_true(awewin32_lock_memory_enabled()); /* the failed call changed nothing */
    assert_true(AdjustTokenPrivileges(adjust, FALSE, &tp, sizeof(prev), &prev, &len));
    assert_int_equal(GetLastError(), ERROR_SUCCESS);
    assert_int_equal(prev.PrivilegeCount, 1);
    assert_int_equal(prev.Privileges[0].Luid.LowPart, 4);
    assert_int_equal(prev.Privileges[0].Attributes, SE_PRIVILEGE_ENABLED);
    assert_false(awewin32_lock_memory_enabled());

    /* DisableAllPrivileges turns it off too. */
    set_lock_pages(TRUE);
    assert_true(AdjustTokenPrivileges(adjust, TRUE, NULL, 0, NULL, NULL));
    assert_int_equal(GetLastError(), ERROR_SUCCESS);
    assert_false(awewin32_lock_memory_enabled());

    assert_true(CloseHandle(query_only));
    assert_true(CloseHandle(adjust));
    /* A closed token is no longer a handle. */
    assert_fails(CloseHandle(adjust), ERROR_INVALID_HANDLE);
    assert_fails(AdjustTokenPrivileges(adjust, TRUE, NULL, 0, NULL, NULL), ERROR_INVALID_HANDLE);
    set_lock_pages(TRUE);
}

/* ---- Allocation --------------------------------------------------------------------------- */

static void test_alloc_needs_privilege(void **state)
{
    ULONG_PTR pfns[4] = {0}, count = 4;
    char *w;

    (void)state;
    set_lock_pages(FALSE);
    assert_fails(AllocateUserPhysicalPages(GetCurrentProcess(), &count, pfns),
                 ERROR_PRIVILEGE_NOT_HELD);
    assert_int_equal(count, 4); /* untouched */
    assert_fails(AllocateUserPhysicalPagesNuma(GetCurrentProcess(), &count, pfns, 0),
                 ERROR_PRIVILEGE_NOT_HELD);
    assert_int_equal(count, 4);
    assert_int_equal(tu_stats().frames_allocated, 0);
    /* Reserving a window needs no privilege. */
    w = window(2);
    release_window(w);
    set_lock_pages(TRUE);
}

static void test_alloc_arguments(void **state)
{
    ULONG_PTR pfns[2] = {0}, count;

    (void)state;
    assert_fails(AllocateUserPhysicalPages(GetCurrentProcess(), NULL, pfns), ERROR_NOACCESS);
    count = 2;
    assert_fails(AllocateUserPhysicalPages(GetCurrentProcess(), &count, NULL), ERROR_NOACCESS);
    assert_int_equal(count, 2);
    assert_fails(AllocateUserPhysicalPages(NULL, &count, pfns), ERROR_INVALID_HANDLE);
    assert_fails(AllocateUserPhysicalPages((HANDLE)(intptr_t)0x99, &count, pfns),
                 ERROR_INVALID_HANDLE);
    assert_int_equal(count, 2);
    assert_fails(AllocateUserPhysicalPagesNuma(GetCurrentProcess(), &count, pfns, 100000),
                 ERROR_INVALID_PARAMETER);
    assert_int_equal(count, 2);

    /* A count of 0 succeeds and allocates nothing (no array needed). */
    count = 0;
    SetLastError(77);
    assert_true(AllocateUserPhysicalPages(GetCurrentProcess(), &count, NULL));
    assert_int_equal(count, 0);
    assert_int_equal(GetLastError(), 77);
    assert_int_equal(tu_stats().frames_allocated, 0);

    /* The NUMA form: no preference, or node 0. */
    count = 1;
    assert_true(
        AllocateUserPhysicalPagesNuma(GetCurrentProcess(), &count, pfns, NUMA_NO_PREFERRED_NODE));
    assert_int_equal(count, 1);
    count = 1;
    assert_true(AllocateUserPhysicalPagesNuma(GetCurrentProcess(), &count, pfns + 1, 0));
    assert_int_equal(count, 1);
    tu_track_frames((const awe_frame_t *)pfns, 2);
    free_frames(pfns, 2);
}

static void test_alloc_frames_distinct_and_zeroed(void **state)
{
    const size_t n = 16;
    ULONG_PTR *pfns = alloc_pfns(n), *again;
    char *w = window(n);
    size_t i, j;

    (void)state;
    for (i = 0; i < n; i++) {
        assert_int_not_equal(pfns[i], 0);
        for (j = 0; j < i; j++)
            assert_int_not_equal(pfns[i], pfns[j]);
    }
    assert_true(MapUserPhysicalPages(w, n, pfns));
    assert_true(tu_is_zero(w, n * page));
    for (i = 0; i < n; i++)
        tu_fill(w + i * page, page, 0x1000 + i);
    free_frames(pfns, n); /* mapped frames are unmapped first */
    for (i = 0; i < n; i++)
        assert_true(page_faults(w + i * page));

    /* New frames (the numbers may come back) read as zeros again. */
    again = alloc_pfns(n);
    assert_true(MapUserPhysicalPages(w, n, again));
    assert_true(tu_is_zero(w, n * page));
    free_frames(again, n);
    release_window(w);
    free_pfns_array(pfns);
    free_pfns_array(again);
}

static void test_alloc_fewer_then_commitment_limit(void **state)
{
    ULONG_PTR pfns[5] = {0}, more[2] = {0}, count = 5;

    (void)state;
    assert_int_equal(awe_set_frame_limit(3), AWE_OK);
    /* Fewer than asked: TRUE and a smaller count. */
    assert_true(AllocateUserPhysicalPages(GetCurrentProcess(), &count, pfns));
    assert_int_equal(count, 3);
    tu_track_frames((const awe_frame_t *)pfns, 3);
    /* The limit already reached: ERROR_COMMITMENT_LIMIT, count untouched. */
    count = 2;
    assert_fails(AllocateUserPhysicalPages(GetCurrentProcess(), &count, more),
                 ERROR_COMMITMENT_LIMIT);
    assert_int_equal(count, 2);
    assert_int_equal(awe_set_frame_limit(tu_caps.frame_limit), AWE_OK);
    free_frames(pfns, 3);
}

/* ---- Freeing ------------------------------------------------------------------------------- */

static void test_free_arguments(void **state)
{
    ULONG_PTR one = 0, count;
    ULONG_PTR *pfns = alloc_pfns(1);

    (void)state;
    count = 0;
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, pfns), ERROR_INVALID_PARAMETER);
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), NULL, pfns), ERROR_NOACCESS);
    count = 1;
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, NULL), ERROR_NOACCESS);
    assert_fails(FreeUserPhysicalPages(NULL, &count, pfns), ERROR_INVALID_HANDLE);
    assert_int_equal(count, 1);
    /* Frame 0 is nobody's. */
    count = 1;
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, &one), ERROR_INVALID_ADDRESS);
    assert_int_equal(count, 0);
    free_frames(pfns, 1);
    free_pfns_array(pfns);
}

static void test_free_stops_at_first_bad_entry(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(4);
    ULONG_PTR list[4], count;

    (void)state;
    list[0] = pfns[0];
    list[1] = pfns[1];
    list[2] = BOGUS_PFN;
    list[3] = pfns[2];
    count = 4;
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, list), ERROR_INVALID_ADDRESS);
    assert_int_equal(count, 2); /* the two before the bad entry are freed, no rollback */
    assert_int_equal(tu_stats().frames_allocated, 2);
    /* They are gone: freeing one again stops at once. */
    count = 1;
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, &pfns[0]),
                 ERROR_INVALID_ADDRESS);
    assert_int_equal(count, 0);
    /* The rest are still ours. */
    free_frames(pfns + 2, 2);
    free_pfns_array(pfns);
}

static void test_free_repeated_entry(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(2);
    ULONG_PTR list[3], count = 3;

    (void)state;
    list[0] = pfns[0];
    list[1] = pfns[0];
    list[2] = pfns[1];
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, list), ERROR_INVALID_ADDRESS);
    assert_int_equal(count, 1);
    free_frames(pfns + 1, 1);
    free_pfns_array(pfns);
}

static void test_free_unmaps_but_keeps_window(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(3);
    char *w = window(2);

    (void)state;
    assert_true(MapUserPhysicalPages(w, 2, pfns));
    tu_fill(w, page, 0xa1);
    tu_fill(w + page, page, 0xa2);
    free_frames(pfns, 1);
    assert_true(page_faults(w));
    assert_int_equal(query(w), 0);
    assert_true(tu_check(w + page, page, 0xa2)); /* the other page is untouched */
    /* The window is still there: map another frame where the freed one was. */
    assert_true(MapUserPhysicalPages(w, 1, &pfns[2]));
    assert_true(tu_is_zero(w, page));
    free_frames(pfns + 1, 2);
    release_window(w);
    free_pfns_array(pfns);
}

/* ---- VirtualAlloc / VirtualFree / VirtualProtect on AWE windows --------------------------- */

static void test_window_reserve_rules(void **state)
{
    static const struct {
        DWORD type, prot;
    } bad[] = {
        {MEM_RESERVE | MEM_PHYSICAL | MEM_COMMIT, PAGE_READWRITE},
        {MEM_COMMIT | MEM_PHYSICAL, PAGE_READWRITE},
        {MEM_PHYSICAL, PAGE_READWRITE},
        {MEM_RESERVE | MEM_PHYSICAL | MEM_LARGE_PAGES, PAGE_READWRITE},
        {MEM_RESERVE | MEM_PHYSICAL | MEM_RESET, PAGE_READWRITE},
        {MEM_RESERVE | MEM_PHYSICAL | 0x80000000u, PAGE_READWRITE},
        {MEM_RESERVE | MEM_PHYSICAL, PAGE_READONLY},
        {MEM_RESERVE | MEM_PHYSICAL, PAGE_NOACCESS},
        {MEM_RESERVE | MEM_PHYSICAL, PAGE_EXECUTE_READWRITE},
        {MEM_RESERVE | MEM_PHYSICAL, PAGE_WRITECOPY},
        {MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE | PAGE_NOCACHE},
        {MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE | PAGE_GUARD},
        {MEM_RESERVE | MEM_PHYSICAL, 0},
    };
    size_t i;
    char *w, *w2;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_alloc_fails(VirtualAlloc(NULL, 4 * page, bad[i].type, bad[i].prot),
                           ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, 0, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE),
                       ERROR_INVALID_PARAMETER);
    assert_int_equal(tu_stats().windows, 0);

    /* MEM_TOP_DOWN is accepted; bases are 64 KiB aligned; nothing is mapped at first. */
    w = VirtualAlloc(NULL, 4 * page, MEM_RESERVE | MEM_PHYSICAL | MEM_TOP_DOWN, PAGE_READWRITE);
    assert_non_null(w);
    tu_track_window(w);
    assert_int_equal((uintptr_t)w % 65536, 0);
    for (i = 0; i < 4; i++) {
        assert_true(page_faults(w + i * page));
        assert_int_equal(query(w + i * page), 0);
    }
    /* A wanted address is rounded down to the granularity; a taken one is refused. */
    release_window(w);
    w2 = VirtualAlloc(w + 100, 4 * page, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE);
    assert_ptr_equal(w2, w);
    tu_track_window(w2);
    assert_alloc_fails(VirtualAlloc(w2, page, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE),
                       ERROR_INVALID_ADDRESS);
    release_window(w2);
}

static void test_window_free_rules(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(1);
    char *w = window(4);

    (void)state;
    assert_true(MapUserPhysicalPages(w, 1, pfns));
    tu_fill(w, page, 0xb0);

    assert_fails(VirtualFree(w + page, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualFree(w, 4 * page, MEM_RELEASE), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualFree(w, page, MEM_RELEASE), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualFree(w, 0, MEM_DECOMMIT), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualFree(w, page, MEM_DECOMMIT), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualFree(w, 0, 0), ERROR_INVALID_PARAMETER);
    assert_fails(VirtualFree(w, 0, MEM_RELEASE | MEM_DECOMMIT), ERROR_INVALID_PARAMETER);
    assert_fails(VirtualFree(NULL, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
    /* None of that touched the window or its mapping. */
    assert_true(tu_check(w, page, 0xb0));
    assert_int_equal(query(w), pfns[0]);

    release_window(w);
    assert_fails(VirtualFree(w, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
    assert_int_equal(tu_stats().windows, 0);
    assert_int_equal(tu_stats().frames_allocated, 1); /* releasing a window frees no frame */
    free_frames(pfns, 1);
    free_pfns_array(pfns);
}

static void test_window_release_keeps_frames_and_contents(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(3), swapped[3];
    char *a = window(3), *b;
    size_t i;

    (void)state;
    assert_true(MapUserPhysicalPages(a, 3, pfns));
    for (i = 0; i < 3; i++)
        tu_fill(a + i * page, page, 0xc0 + i);
    release_window(a);
    b = window(3);
    swapped[0] = pfns[2];
    swapped[1] = pfns[0];
    swapped[2] = pfns[1];
    assert_true(MapUserPhysicalPages(b, 3, swapped));
    assert_true(tu_check(b, page, 0xc2));
    assert_true(tu_check(b + page, page, 0xc0));
    assert_true(tu_check(b + 2 * page, page, 0xc1));
    free_frames(pfns, 3);
    release_window(b);
    free_pfns_array(pfns);
}

static void test_window_protect_rules(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(1);
    char *w = window(4);
    DWORD old = 0;

    (void)state;
    assert_true(MapUserPhysicalPages(w, 1, pfns));
    assert_true(VirtualProtect(w, page, PAGE_READWRITE, &old));
    assert_int_equal(old, PAGE_READWRITE);
    assert_true(VirtualProtect(w + page, 3 * page, PAGE_READWRITE, &old));
    assert_fails(VirtualProtect(w, page, PAGE_READONLY, &old), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualProtect(w, page, PAGE_NOACCESS, &old), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualProtect(w, page, PAGE_EXECUTE_READWRITE, &old), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualProtect(w, page, PAGE_READWRITE | PAGE_GUARD, &old), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualProtect(w, 5 * page, PAGE_READWRITE, &old), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualProtect(w, page, PAGE_READWRITE, NULL), ERROR_NOACCESS);
    /* Still read/write. */
    tu_fill(w, page, 0xd0);
    assert_true(tu_check(w, page, 0xd0));
    free_frames(pfns, 1);
    release_window(w);
    free_pfns_array(pfns);
}

/* ---- MapUserPhysicalPages ----------------------------------------------------------------- */

static void test_map_unmap_with_null(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(2);
    char *w = window(4);

    (void)state;
    /* Unmapping what was never mapped succeeds. */
    assert_true(MapUserPhysicalPages(w, 4, NULL));
    assert_true(MapUserPhysicalPages(w + page, 2, pfns));
    tu_fill(w + page, 2 * page, 0xe0);
    assert_true(MapUserPhysicalPages(w, 4, NULL));
    assert_true(page_faults(w + page));
    assert_true(page_faults(w + 2 * page));
    assert_int_equal(tu_stats().frames_allocated, 2); /* the frames stay allocated */
    /* ...and keep their contents: map them back, elsewhere. */
    assert_true(MapUserPhysicalPages(w + 2 * page, 2, pfns));
    assert_true(tu_check(w + 2 * page, 2 * page, 0xe0));
    assert_fails(MapUserPhysicalPages(w, 0, pfns), ERROR_INVALID_PARAMETER);
    assert_fails(MapUserPhysicalPages(w, 0, NULL), ERROR_INVALID_PARAMETER);
    free_frames(pfns, 2);
    release_window(w);
    free_pfns_array(pfns);
}

static void test_map_replaces_at_target(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(2);
    char *w = window(2);

    (void)state;
    assert_true(MapUserPhysicalPages(w, 1, &pfns[0]));
    tu_fill(w, page, 0xf0);
    assert_true(MapUserPhysicalPages(w, 1, &pfns[1]));
    assert_true(tu_is_zero(w, page));
    assert_int_equal(query(w), pfns[1]);
    /* The replaced frame is unmapped now: it can go elsewhere, with its contents. */
    assert_true(MapUserPhysicalPages(w + page, 1, &pfns[0]));
    assert_true(tu_check(w + page, page, 0xf0));
    free_frames(pfns, 2);
    release_window(w);
    free_pfns_array(pfns);
}

static void test_map_rejects_mapped_and_duplicate_frames(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(3), dup[2];
    char *w = window(4);

    (void)state;
    assert_true(MapUserPhysicalPages(w, 1, &pfns[0]));
    tu_fill(w, page, 0x51);
    /* Mapped elsewhere already. */
    assert_fails(MapUserPhysicalPages(w + page, 1, &pfns[0]), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + page));
    /* Mapped at that very address already (this project pins "rejected"). */
    assert_fails(MapUserPhysicalPages(w, 1, &pfns[0]), ERROR_INVALID_PARAMETER);
    assert_true(tu_check(w, page, 0x51));
    /* Listed twice. */
    dup[0] = pfns[1];
    dup[1] = pfns[1];
    assert_fails(MapUserPhysicalPages(w + 2 * page, 2, dup), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + 2 * page));
    assert_true(page_faults(w + 3 * page));
    /* A valid entry before the bad one was not mapped either (all or nothing). */
    dup[0] = pfns[2];
    dup[1] = pfns[0];
    assert_fails(MapUserPhysicalPages(w + 2 * page, 2, dup), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + 2 * page));
    assert_true(MapUserPhysicalPages(w + 3 * page, 1, &pfns[2]));
    free_frames(pfns, 3);
    release_window(w);
    free_pfns_array(pfns);
}

static void test_map_range_rules(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(2);
    char *w = window(4), *other = window(4);
    static char not_a_window[64];

    (void)state;
    /* Running past the end of the window. */
    assert_fails(MapUserPhysicalPages(w + 3 * page, 2, pfns), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + 3 * page));
    assert_fails(MapUserPhysicalPages(not_a_window, 1, pfns), ERROR_INVALID_PARAMETER);
    assert_fails(MapUserPhysicalPages(not_a_window, 1, NULL), ERROR_INVALID_PARAMETER);
    /* An unaligned address means its page. */
    assert_true(MapUserPhysicalPages(w + page + 123, 1, &pfns[0]));
    assert_int_equal(query(w + page), pfns[0]);
    tu_fill(w + page, page, 0x61);
    assert_true(MapUserPhysicalPages(other + 2 * page + page - 1, 1, &pfns[1]));
    assert_int_equal(query(other + 2 * page), pfns[1]);
    assert_true(MapUserPhysicalPages(w + page + 5, 1, NULL));
    assert_true(page_faults(w + page));
    free_frames(pfns, 2);
    release_window(w);
    release_window(other);
    free_pfns_array(pfns);
}

static void test_map_unowned_frames(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(3), list[2], gone;
    char *w = window(4);

    (void)state;
    list[0] = BOGUS_PFN;
    assert_fails(MapUserPhysicalPages(w, 1, list), ERROR_INVALID_ADDRESS);
    /* A freed frame. */
    gone = pfns[2];
    free_frames(&pfns[2], 1);
    assert_fails(MapUserPhysicalPages(w, 1, &gone), ERROR_INVALID_ADDRESS);
    /* All or nothing: the good first entry is not mapped. */
    list[0] = pfns[0];
    list[1] = gone;
    assert_fails(MapUserPhysicalPages(w, 2, list), ERROR_INVALID_ADDRESS);
    assert_true(page_faults(w));
    assert_int_equal(query(w), 0);
    /* A 0 entry unmaps its page (0 is never a frame). */
    assert_true(MapUserPhysicalPages(w, 2, pfns));
    list[0] = 0;
    assert_true(MapUserPhysicalPages(w + page, 1, list));
    assert_int_equal(query(w), pfns[0]);
    assert_true(page_faults(w + page));
    assert_int_equal(query(w + page), 0);
    assert_true(MapUserPhysicalPages(w + 2 * page, 1, &pfns[1])); /* pfns[1] is free to map */
    free_frames(pfns, 2);
    release_window(w);
    free_pfns_array(pfns);
}

/* Two windows side by side do not make one range. */
static void test_map_range_across_adjacent_windows(void **state)
{
    const size_t pages = 65536 / page; /* one allocation granule each */
    ULONG_PTR *pfns = alloc_pfns(2);
    char *a = window(pages), *b;

    (void)state;
    b = VirtualAlloc(a + 65536, 65536, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE);
    if (b == NULL) {
        /* The neighbouring granule is taken (by something else in this process): the rule is
         * still checked against the end of `a` alone. */
        assert_int_equal(GetLastError(), ERROR_INVALID_ADDRESS);
    } else {
        assert_ptr_equal(b, a + 65536);
        tu_track_window(b);
    }
    assert_fails(MapUserPhysicalPages(a + (pages - 1) * page, 2, pfns), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(a + (pages - 1) * page));
    if (b != NULL) {
        assert_true(page_faults(b));
        assert_true(MapUserPhysicalPages(b, 1, &pfns[1]));
        release_window(b);
    }
    free_frames(pfns, 2);
    release_window(a);
    free_pfns_array(pfns);
}

/* ---- MapUserPhysicalPagesScatter ---------------------------------------------------------- */

static void test_scatter_maps_across_windows(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(4), zero[2] = {0, 0};
    char *a = window(4), *b = window(4);
    PVOID vas[4];
    size_t i;

    (void)state;
    assert_true(MapUserPhysicalPagesScatter(NULL, 0, NULL)); /* count 0 succeeds */
    vas[0] = b + 3 * page;
    vas[1] = a;
    vas[2] = b;
    vas[3] = a + 2 * page + 7; /* unaligned: its page */
    assert_true(MapUserPhysicalPagesScatter(vas, 4, pfns));
    assert_int_equal(query(b + 3 * page), pfns[0]);
    assert_int_equal(query(a), pfns[1]);
    assert_int_equal(query(b), pfns[2]);
    assert_int_equal(query(a + 2 * page), pfns[3]);
    for (i = 0; i < 4; i++)
        tu_fill((char *)((uintptr_t)vas[i] & ~(uintptr_t)(page - 1)), page, 0x70 + i);
    /* 0 entries unmap their page. */
    assert_true(MapUserPhysicalPagesScatter(vas, 2, zero));
    assert_true(page_faults(b + 3 * page));
    assert_true(page_faults(a));
    assert_true(tu_check(b, page, 0x72));
    /* A NULL frame array unmaps every listed page. */
    assert_true(MapUserPhysicalPagesScatter(vas + 2, 2, NULL));
    assert_true(page_faults(b));
    assert_true(page_faults(a + 2 * page));
    /* Everything is unmapped and intact: map again in one call, check contents. */
    assert_true(MapUserPhysicalPagesScatter(vas, 4, pfns));
    for (i = 0; i < 4; i++)
        assert_true(tu_check((char *)((uintptr_t)vas[i] & ~(uintptr_t)(page - 1)), page, 0x70 + i));
    free_frames(pfns, 4);
    release_window(a);
    release_window(b);
    free_pfns_array(pfns);
}

static void test_scatter_is_all_or_nothing(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(3), list[3];
    char *w = window(4);
    static char not_a_window[64];
    PVOID vas[3];

    (void)state;
    assert_true(MapUserPhysicalPages(w, 1, &pfns[0]));
    tu_fill(w, page, 0x81);

    /* An unmap (0 entry) must not happen when another entry is bad. */
    vas[0] = w;
    list[0] = 0;
    vas[1] = w + page;
    list[1] = BOGUS_PFN;
    assert_fails(MapUserPhysicalPagesScatter(vas, 2, list), ERROR_INVALID_ADDRESS);
    assert_true(tu_check(w, page, 0x81));
    assert_true(page_faults(w + page));

    /* The same page twice (different frames): rejected. */
    vas[0] = w + page;
    list[0] = pfns[1];
    vas[1] = w + page;
    list[1] = pfns[2];
    assert_fails(MapUserPhysicalPagesScatter(vas, 2, list), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + page));

    /* A page in no window. */
    vas[0] = w + page;
    list[0] = pfns[1];
    vas[1] = not_a_window;
    list[1] = pfns[2];
    assert_fails(MapUserPhysicalPagesScatter(vas, 2, list), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + page));

    /* A frame that is mapped already (at its own target, too). */
    vas[0] = w + page;
    list[0] = pfns[1];
    vas[1] = w + 2 * page;
    list[1] = pfns[0];
    assert_fails(MapUserPhysicalPagesScatter(vas, 2, list), ERROR_INVALID_PARAMETER);
    vas[1] = w;
    assert_fails(MapUserPhysicalPagesScatter(vas, 2, list), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + page));
    assert_true(tu_check(w, page, 0x81));

    /* A frame listed twice. */
    vas[0] = w + page;
    list[0] = pfns[1];
    vas[1] = w + 2 * page;
    list[1] = pfns[1];
    assert_fails(MapUserPhysicalPagesScatter(vas, 2, list), ERROR_INVALID_PARAMETER);
    assert_true(page_faults(w + page));
    assert_true(page_faults(w + 2 * page));

    assert_fails(MapUserPhysicalPagesScatter(NULL, 1, list), ERROR_NOACCESS);
    free_frames(pfns, 3);
    release_window(w);
    free_pfns_array(pfns);
}

static void test_no_system_resources_when_mappings_run_out(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(4), list[3];
    char *w = window(16);
    PVOID vas[3];

    (void)state;
    /* Three isolated pages with unrelated frames need several kernel mappings; allow one. */
    plat_testing_set_vma_budget(tu_stats().vmas_in_use + 1);
    vas[0] = w + 2 * page;
    list[0] = pfns[3];
    vas[1] = w + 6 * page;
    list[1] = pfns[0];
    vas[2] = w + 10 * page;
    list[2] = pfns[2];
    assert_fails(MapUserPhysicalPagesScatter(vas, 3, list), ERROR_NO_SYSTEM_RESOURCES);
    plat_testing_set_vma_budget(0);
    assert_true(page_faults(w + 2 * page));
    assert_true(page_faults(w + 6 * page));
    assert_true(page_faults(w + 10 * page));
    assert_true(MapUserPhysicalPagesScatter(vas, 3, list));
    free_frames(pfns, 4);
    release_window(w);
    free_pfns_array(pfns);
}

/* ---- Visibility to other threads ---------------------------------------------------------- */

struct watcher {
    const char *va;    /* the page the watcher reads */
    atomic_int step;   /* set by the main thread: 1, 2, 3 */
    atomic_int done;   /* set by the watcher when it has checked a step */
    atomic_bool ok[4]; /* the watcher's verdict for each step */
};

static void *watcher_thread(void *p)
{
    struct watcher *wt = p;
    int s;

    for (s = 1; s <= 3; s++) {
        while (atomic_load(&wt->step) < s)
            ;
        if (s == 1)
            atomic_store(&wt->ok[s], tu_check(wt->va, page, 0x91));
        else if (s == 2)
            atomic_store(&wt->ok[s], tu_check(wt->va, page, 0x92));
        else
            atomic_store(&wt->ok[s], page_faults(wt->va));
        atomic_store(&wt->done, s);
    }
    return NULL;
}

/* Another thread that has read the page sees a replacement and an unmap as soon as the call
 * returns (TLB coherence). */
static void test_other_threads_see_changes(void **state)
{
    ULONG_PTR *pfns = alloc_pfns(2);
    char *w = window(1);
    struct watcher wt = {.va = w};
    pthread_t t;

    (void)state;
    assert_true(MapUserPhysicalPages(w, 1, &pfns[1]));
    tu_fill(w, page, 0x92);
    assert_true(MapUserPhysicalPages(w, 1, NULL));
    assert_true(MapUserPhysicalPages(w, 1, &pfns[0]));
    tu_fill(w, page, 0x91);
    assert_int_equal(pthread_create(&t, NULL, watcher_thread, &wt), 0);
    atomic_store(&wt.step, 1);
    while (atomic_load(&wt.done) < 1)
        ;
    assert_true(MapUserPhysicalPages(w, 1, &pfns[1])); /* replaces pfns[0] */
    atomic_store(&wt.step, 2);
    while (atomic_load(&wt.done) < 2)
        ;
    assert_true(MapUserPhysicalPages(w, 1, NULL));
    atomic_store(&wt.step, 3);
    pthread_join(t, NULL);
    assert_true(atomic_load(&wt.ok[1]));
    assert_true(atomic_load(&wt.ok[2]));
    assert_true(atomic_load(&wt.ok[3]));
    free_frames(pfns, 2);
    release_window(w);
    free_pfns_array(pfns);
}

/* ---- Concurrency ------------------------------------------------------------------------- */

/* Several threads at once reserve, commit, protect and free plain regions, reserve and release
 * windows, allocate, map and free frames, and open and close tokens: every call must succeed
 * (the registry and the token list are shared). ThreadSanitizer builds check the locking. */
static void *churn_thread(void *p)
{
    atomic_int *errors = p;
    ULONG_PTR pfns[2], count;
    DWORD old;
    HANDLE token;
    char *r, *w;
    int i;

    for (i = 0; i < 100; i++) {
        r = VirtualAlloc(NULL, 4 * page, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (r == NULL) {
            atomic_fetch_add(errors, 1);
        } else {
            r[page] = (char)i;
            if (!VirtualProtect(r, page, PAGE_READONLY, &old) || old != PAGE_READWRITE ||
                !VirtualFree(r + page, page, MEM_DECOMMIT) || !VirtualFree(r, 0, MEM_RELEASE))
                atomic_fetch_add(errors, 1);
        }
        w = VirtualAlloc(NULL, 2 * page, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE);
        count = 2;
        if (w == NULL || !AllocateUserPhysicalPages(GetCurrentProcess(), &count, pfns) ||
            count != 2) {
            atomic_fetch_add(errors, 1);
            continue;
        }
        if (!MapUserPhysicalPages(w, 2, pfns))
            atomic_fetch_add(errors, 1);
        else
            w[page + 1] = (char)i;
        if (!FreeUserPhysicalPages(GetCurrentProcess(), &count, pfns) ||
            !VirtualFree(w, 0, MEM_RELEASE))
            atomic_fetch_add(errors, 1);
        if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token) || !CloseHandle(token))
            atomic_fetch_add(errors, 1);
    }
    return NULL;
}

static void test_concurrent_calls(void **state)
{
    atomic_int errors = 0;
    pthread_t t[3];
    int i;

    (void)state;
    for (i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &errors), 0);
    for (i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&errors), 0);
}

/* ---- System information and the heap ------------------------------------------------------ */

static void test_system_info(void **state)
{
    SYSTEM_INFO si, native;

    (void)state;
    memset(&si, 0xab, sizeof(si));
    GetSystemInfo(&si);
    assert_int_equal(si.dwPageSize, tu_caps.page_size);
    assert_int_equal(si.dwAllocationGranularity, 65536);
    assert_int_equal(si.dwNumberOfProcessors, tu_caps.processor_count);
    assert_true(si.dwActiveProcessorMask != 0);
    assert_true((uintptr_t)si.lpMinimumApplicationAddress <
                (uintptr_t)si.lpMaximumApplicationAddress);
    assert_int_equal(si.wReserved, 0);
#if defined(__x86_64__)
    assert_int_equal(si.wProcessorArchitecture, PROCESSOR_ARCHITECTURE_AMD64);
    assert_int_equal(si.dwProcessorType, PROCESSOR_AMD_X8664);
    assert_int_equal(si.dwOemId, PROCESSOR_ARCHITECTURE_AMD64); /* the union's other view */
#elif defined(__aarch64__)
    assert_int_equal(si.wProcessorArchitecture, PROCESSOR_ARCHITECTURE_ARM64);
#endif
    GetNativeSystemInfo(&native);
    assert_memory_equal(&si, &native, sizeof(si));
}

static void test_process_heap(void **state)
{
    unsigned char *p;
    size_t i;

    (void)state;
    assert_non_null(GetProcessHeap());
    p = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, 4096);
    assert_non_null(p);
    for (i = 0; i < 4096; i++)
        assert_int_equal(p[i], 0);
    assert_true(HeapFree(GetProcessHeap(), 0, p));
    p = HeapAlloc(GetProcessHeap(), 0, 0); /* zero bytes: still a block */
    assert_non_null(p);
    assert_true(HeapFree(GetProcessHeap(), 0, p));
    assert_null(HeapAlloc((HANDLE)(intptr_t)0x5, 0, 16));
    assert_fails(HeapFree((HANDLE)(intptr_t)0x5, 0, NULL), ERROR_INVALID_HANDLE);
}

/* ---- Plain (non-AWE) virtual memory ------------------------------------------------------- */

static void test_plain_reserve_commit_protect_free(void **state)
{
    char *r, *c, *rc;
    DWORD old = 0;

    (void)state;
    r = VirtualAlloc(NULL, 16 * page, MEM_RESERVE, PAGE_READWRITE);
    assert_non_null(r);
    assert_int_equal((uintptr_t)r % 65536, 0);
    assert_true(page_faults(r));
    /* Not an AWE window. */
    assert_fails(MapUserPhysicalPages(r, 1, NULL), ERROR_INVALID_PARAMETER);

    c = VirtualAlloc(r + page + 10, 2 * page, MEM_COMMIT, PAGE_READWRITE);
    assert_ptr_equal(c, r + page);
    assert_true(tu_is_zero(c, 3 * page)); /* pages 1..3: the range touches three pages */
    tu_fill(c, page, 0x42);
    assert_true(page_faults(r));
    assert_true(page_faults(r + 4 * page));
    /* Committing again keeps the contents. */
    assert_ptr_equal(VirtualAlloc(c, page, MEM_COMMIT, PAGE_READWRITE), c);
    assert_true(tu_check(c, page, 0x42));

    assert_true(VirtualProtect(c, page, PAGE_NOACCESS, &old));
    assert_int_equal(old, PAGE_READWRITE);
    assert_true(page_faults(c));
    assert_true(VirtualProtect(c, page, PAGE_READONLY, &old));
    assert_int_equal(old, PAGE_NOACCESS);
    assert_true(tu_check(c, page, 0x42));
    assert_true(VirtualProtect(c, page, PAGE_READWRITE, &old));
    assert_int_equal(old, PAGE_READONLY);
    assert_fails(VirtualProtect(r, page, PAGE_READWRITE, &old), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualProtect(c, page, 0x3, &old), ERROR_INVALID_PARAMETER);
    assert_fails(VirtualProtect(c, page, PAGE_READWRITE | PAGE_GUARD, &old), ERROR_NOT_SUPPORTED);

    /* MEM_RESET keeps committed memory usable; on reserved pages it is refused. */
    assert_ptr_equal(VirtualAlloc(c, page, MEM_RESET, PAGE_NOACCESS), c);
    assert_alloc_fails(VirtualAlloc(r, page, MEM_RESET, PAGE_NOACCESS), ERROR_INVALID_ADDRESS);
    assert_alloc_fails(VirtualAlloc(c, page, MEM_RESET | MEM_COMMIT, PAGE_READWRITE),
                       ERROR_INVALID_PARAMETER);

    /* Decommit: inaccessible again, zeros when committed again. */
    assert_true(VirtualFree(c, page, MEM_DECOMMIT));
    assert_true(page_faults(c));
    assert_ptr_equal(VirtualAlloc(c, page, MEM_COMMIT, PAGE_READWRITE), c);
    assert_true(tu_is_zero(c, page));

    /* Commit outside any reservation; release rules. */
    assert_alloc_fails(VirtualAlloc(r + 16 * page, page, MEM_COMMIT, PAGE_READWRITE),
                       ERROR_INVALID_ADDRESS);
    assert_alloc_fails(VirtualAlloc(r + 15 * page, 2 * page, MEM_COMMIT, PAGE_READWRITE),
                       ERROR_INVALID_ADDRESS);
    assert_fails(VirtualFree(r, page, MEM_RELEASE), ERROR_INVALID_PARAMETER);
    assert_fails(VirtualFree(r + page, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
    assert_fails(VirtualFree(r + page, 0, MEM_DECOMMIT), ERROR_INVALID_ADDRESS);
    assert_true(VirtualFree(r, 0, MEM_DECOMMIT)); /* the whole region */
    assert_true(page_faults(c));
    assert_true(VirtualFree(r, 0, MEM_RELEASE));
    assert_fails(VirtualFree(r, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);

    /* Reserve and commit in one call; MEM_COMMIT alone at no address does both too. */
    rc = VirtualAlloc(NULL, 3 * page, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    assert_non_null(rc);
    assert_true(tu_is_zero(rc, 3 * page));
    tu_fill(rc, 3 * page, 0x43);
    assert_true(VirtualFree(rc, 0, MEM_RELEASE));
    rc = VirtualAlloc(NULL, page, MEM_COMMIT, PAGE_READONLY);
    assert_non_null(rc);
    assert_true(tu_is_zero(rc, page));
    assert_true(VirtualFree(rc, 0, MEM_RELEASE));
}

static void test_plain_flag_rules(void **state)
{
    (void)state;
    assert_alloc_fails(VirtualAlloc(NULL, page, 0, PAGE_READWRITE), ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_TOP_DOWN, PAGE_READWRITE),
                       ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_RESERVE | 0x4, PAGE_READWRITE),
                       ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, 0, MEM_RESERVE, PAGE_READWRITE), ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_RESERVE, 0), ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_RESERVE, PAGE_EXECUTE_WRITECOPY),
                       ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_RESERVE, PAGE_WRITECOPY),
                       ERROR_INVALID_PARAMETER);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_RESERVE, PAGE_NOACCESS | PAGE_NOCACHE),
                       ERROR_INVALID_PARAMETER);
    assert_alloc_fails(
        VirtualAlloc(NULL, page, MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES, PAGE_READWRITE),
        ERROR_NOT_SUPPORTED);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_RESERVE | MEM_WRITE_WATCH, PAGE_READWRITE),
                       ERROR_NOT_SUPPORTED);
    assert_alloc_fails(VirtualAlloc(NULL, page, MEM_RESERVE, PAGE_READWRITE | PAGE_GUARD),
                       ERROR_NOT_SUPPORTED);
}

/* ---- The fresh-process run ---------------------------------------------------------------- */

/* In a process that never allocated a frame, Map and Free fail with ERROR_INVALID_PARAMETER,
 * whatever the frame numbers. */
static void test_fresh_never_allocated(void **state)
{
    ULONG_PTR bogus = BOGUS_PFN, count = 1;
    PVOID va;
    char *w;

    (void)state;
    assert_int_equal(tu_stats().frames_peak, 0); /* really nothing allocated so far */
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, &bogus),
                 ERROR_INVALID_PARAMETER);
    w = window(2); /* needs no privilege, and does not count as allocating */
    assert_fails(MapUserPhysicalPages(w, 1, &bogus), ERROR_INVALID_PARAMETER);
    va = w;
    assert_fails(MapUserPhysicalPagesScatter(&va, 1, &bogus), ERROR_INVALID_PARAMETER);
    release_window(w);
}

/* The privilege starts disabled. */
static void test_fresh_privilege_starts_disabled(void **state)
{
    ULONG_PTR pfn = 0, count = 1;

    (void)state;
    assert_false(awewin32_lock_memory_enabled());
    assert_fails(AllocateUserPhysicalPages(GetCurrentProcess(), &count, &pfn),
                 ERROR_PRIVILEGE_NOT_HELD);
    assert_int_equal(count, 1);
}

/* After the first allocation, the same bogus number is "not owned" (487), not 87. */
static void test_fresh_after_first_allocation(void **state)
{
    ULONG_PTR *pfns, bogus = BOGUS_PFN, count = 1;
    char *w;

    (void)state;
    set_lock_pages(TRUE);
    pfns = alloc_pfns(1);
    assert_fails(FreeUserPhysicalPages(GetCurrentProcess(), &count, &bogus), ERROR_INVALID_ADDRESS);
    w = window(1);
    assert_fails(MapUserPhysicalPages(w, 1, &bogus), ERROR_INVALID_ADDRESS);
    release_window(w);
    free_frames(pfns, 1);
    free_pfns_array(pfns);
}

/* SE_PRIVILEGE_REMOVED is for good: enabling afterwards gives ERROR_NOT_ALL_ASSIGNED. */
static void test_fresh_privilege_removed(void **state)
{
    TOKEN_PRIVILEGES tp;
    HANDLE token = NULL;
    ULONG_PTR pfn = 0, count = 1;

    (void)state;
    assert_true(OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES, &token));
    tp.PrivilegeCount = 1;
    assert_true(LookupPrivilegeValue(NULL, SE_LOCK_MEMORY_NAME, &tp.Privileges[0].Luid));
    tp.Privileges[0].Attributes = SE_PRIVILEGE_REMOVED;
    assert_true(AdjustTokenPrivileges(token, FALSE, &tp, 0, NULL, NULL));
    assert_int_equal(GetLastError(), ERROR_SUCCESS);
    tp.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    assert_true(AdjustTokenPrivileges(token, FALSE, &tp, 0, NULL, NULL));
    assert_int_equal(GetLastError(), ERROR_NOT_ALL_ASSIGNED);
    assert_fails(AllocateUserPhysicalPages(GetCurrentProcess(), &count, &pfn),
                 ERROR_PRIVILEGE_NOT_HELD);
    assert_true(CloseHandle(token));
}

static int fresh_setup(void **state)
{
    (void)state;
    tu_init();
    page = tu_page();
    return 0;
}

static int fresh_teardown(void **state)
{
    (void)state;
    tu_release_all();
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_error_table, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_last_error_is_per_thread, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_process_handle, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_privilege_lookup, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_token_rights_and_results, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_needs_privilege, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_arguments, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_frames_distinct_and_zeroed, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_fewer_then_commitment_limit, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_free_arguments, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_free_stops_at_first_bad_entry, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_free_repeated_entry, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_free_unmaps_but_keeps_window, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_window_reserve_rules, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_window_free_rules, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_window_release_keeps_frames_and_contents, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_window_protect_rules, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_unmap_with_null, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_replaces_at_target, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_rejects_mapped_and_duplicate_frames, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_range_rules, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_range_across_adjacent_windows, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_map_unowned_frames, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_scatter_maps_across_windows, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_scatter_is_all_or_nothing, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_no_system_resources_when_mappings_run_out, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_other_threads_see_changes, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_calls, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_system_info, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_process_heap, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_plain_reserve_commit_protect_free, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_plain_flag_rules, tu_setup, tu_teardown),
    };
    /* Order matters: each relies on the state the previous one left. */
    const struct CMUnitTest fresh_tests[] = {
        cmocka_unit_test(test_fresh_never_allocated),
        cmocka_unit_test(test_fresh_privilege_starts_disabled),
        cmocka_unit_test(test_fresh_after_first_allocation),
        cmocka_unit_test(test_fresh_privilege_removed),
    };

    if (argc > 1 && strcmp(argv[1], "fresh") == 0)
        return cmocka_run_group_tests_name("win32_fresh_process", fresh_tests, fresh_setup,
                                           fresh_teardown);
    return cmocka_run_group_tests_name("win32", tests, group_setup, NULL);
}
