/*
 * tests/wincompat/awe_example.c: a Windows AWE program, written the way Windows programs are, that
 * must build unchanged with tools/awecc and run on the Windows-compatible API.
 *
 * It enables the lock-pages privilege, asks how big a page is, allocates physical pages into a
 * frame-number array taken from the process heap, reserves a window, maps the pages, writes a
 * pattern through the window and reads it back, unmaps, frees the pages and the window, and
 * says what it did at each step. Exit status 0 only when every step worked.
 *
 * Our own program (the sequence of calls is the documented AWE usage pattern).
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>

#define WINDOW_BYTES (256 * 1024) /* how much memory the program maps at once */

/* Turns SeLockMemoryPrivilege on (bTurnOn TRUE) or off for this process. Returns TRUE only when
 * the token really has the privilege in the wanted state. */
static BOOL SetLockPagesPrivilege(HANDLE hProcess, BOOL bTurnOn)
{
    struct {
        DWORD Count;
        LUID_AND_ATTRIBUTES Privilege[1];
    } Request;
    HANDLE hToken;
    BOOL bResult;

    if (!OpenProcessToken(hProcess, TOKEN_ADJUST_PRIVILEGES, &hToken)) {
        _tprintf(_T("OpenProcessToken failed, error %u\n"), (unsigned)GetLastError());
        return FALSE;
    }

    Request.Count = 1;
    Request.Privilege[0].Attributes = bTurnOn ? SE_PRIVILEGE_ENABLED : 0;
    if (!LookupPrivilegeValue(NULL, SE_LOCK_MEMORY_NAME, &Request.Privilege[0].Luid)) {
        _tprintf(_T("LookupPrivilegeValue failed, error %u\n"), (unsigned)GetLastError());
        CloseHandle(hToken);
        return FALSE;
    }

    /* AdjustTokenPrivileges can return TRUE without granting anything: the last error says. */
    bResult = AdjustTokenPrivileges(hToken, FALSE, (PTOKEN_PRIVILEGES)&Request, 0, NULL, NULL);
    if (!bResult || GetLastError() != ERROR_SUCCESS) {
        _tprintf(_T("AdjustTokenPrivileges did not adjust the privilege, error %u\n"),
                 (unsigned)GetLastError());
        bResult = FALSE;
    }

    if (!CloseHandle(hToken)) {
        _tprintf(_T("CloseHandle failed, error %u\n"), (unsigned)GetLastError());
        bResult = FALSE;
    }
    return bResult;
}

int _cdecl _tmain(void)
{
    SYSTEM_INFO sysInfo;
    ULONG_PTR ulPagesWanted, ulPages, ulPageWords, i, w;
    ULONG_PTR *pPfns;
    SIZE_T cbPfns;
    PVOID pWindow;
    ULONG_PTR *pWords;
    int nFailures = 0;

    GetSystemInfo(&sysInfo);
    _tprintf(_T("Page size %u bytes, allocation granularity %u bytes, %u processors\n"),
             (unsigned)sysInfo.dwPageSize, (unsigned)sysInfo.dwAllocationGranularity,
             (unsigned)sysInfo.dwNumberOfProcessors);

    ulPagesWanted = WINDOW_BYTES / sysInfo.dwPageSize;
    cbPfns = ulPagesWanted * sizeof(ULONG_PTR);
    pPfns = (ULONG_PTR *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, cbPfns);
    if (pPfns == NULL) {
        _tprintf(_T("HeapAlloc of %u bytes failed\n"), (unsigned)cbPfns);
        return 1;
    }

    if (!SetLockPagesPrivilege(GetCurrentProcess(), TRUE)) {
        _tprintf(_T("Cannot enable the lock-pages privilege\n"));
        HeapFree(GetProcessHeap(), 0, pPfns);
        return 1;
    }

    ulPages = ulPagesWanted;
    if (!AllocateUserPhysicalPages(GetCurrentProcess(), &ulPages, pPfns)) {
        _tprintf(_T("AllocateUserPhysicalPages failed, error %u\n"), (unsigned)GetLastError());
        HeapFree(GetProcessHeap(), 0, pPfns);
        return 1;
    }
    if (ulPages != ulPagesWanted) {
        _tprintf(_T("Only %u of %u pages were allocated\n"), (unsigned)ulPages,
                 (unsigned)ulPagesWanted);
        nFailures++;
    }
    _tprintf(_T("Allocated %u physical pages\n"), (unsigned)ulPages);

    pWindow = VirtualAlloc(NULL, WINDOW_BYTES, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE);
    if (pWindow == NULL) {
        _tprintf(_T("VirtualAlloc of the window failed, error %u\n"), (unsigned)GetLastError());
        nFailures++;
    } else if (!MapUserPhysicalPages(pWindow, ulPages, pPfns)) {
        _tprintf(_T("MapUserPhysicalPages failed, error %u\n"), (unsigned)GetLastError());
        nFailures++;
    } else {
        /* Fresh pages read as zeros; then every word gets a value of its own. */
        pWords = (ULONG_PTR *)pWindow;
        ulPageWords = ulPages * sysInfo.dwPageSize / sizeof(ULONG_PTR);
        for (i = 0; i < ulPageWords; i++) {
            if (pWords[i] != 0) {
                _tprintf(_T("A new page is not zero at word %u\n"), (unsigned)i);
                nFailures++;
                break;
            }
        }
        for (i = 0; i < ulPageWords; i++)
            pWords[i] = i * 2654435761u + 17;
        for (i = 0, w = 0; i < ulPageWords; i++) {
            if (pWords[i] != i * 2654435761u + 17)
                w++;
        }
        if (w != 0) {
            _tprintf(_T("%u words read back wrong\n"), (unsigned)w);
            nFailures++;
        } else {
            _tprintf(_T("Wrote and read back %u bytes through the window\n"),
                     (unsigned)(ulPageWords * sizeof(ULONG_PTR)));
        }

        if (!MapUserPhysicalPages(pWindow, ulPages, NULL)) {
            _tprintf(_T("Unmapping failed, error %u\n"), (unsigned)GetLastError());
            nFailures++;
        }
    }

    if (!FreeUserPhysicalPages(GetCurrentProcess(), &ulPages, pPfns)) {
        _tprintf(_T("FreeUserPhysicalPages failed, error %u\n"), (unsigned)GetLastError());
        nFailures++;
    }
    if (pWindow != NULL && !VirtualFree(pWindow, 0, MEM_RELEASE)) {
        _tprintf(_T("VirtualFree failed, error %u\n"), (unsigned)GetLastError());
        nFailures++;
    }
    if (!HeapFree(GetProcessHeap(), 0, pPfns)) {
        _tprintf(_T("HeapFree failed, error %u\n"), (unsigned)GetLastError());
        nFailures++;
    }
    SetLockPagesPrivilege(GetCurrentProcess(), FALSE);

    _tprintf(nFailures == 0 ? _T("AWE example: all steps succeeded\n")
                            : _T("AWE example: some steps failed\n"));
    return nFailures == 0 ? 0 : 1;
}
