/*
 * awe/compat/include/tchar.h: "generic text" names for Windows programs built on non-Windows
 * systems with tools/awecc (see awe/compat/README.md).
 *
 * ANSI by default: _T("x") is "x", TCHAR is char, _tprintf is printf, _tmain is main.
 * Wide when UNICODE or _UNICODE is defined before the first include (the same switch as our
 * <windows.h>): _T("x") is L"x", TCHAR is wchar_t, _tprintf is wprintf, and _tmain is wmain,
 * which libawewin32 (the static library) calls from its own main() with the arguments converted
 * to wide strings in the user's locale. wmain is not declared here, so that a program may define
 * it with or without parameters; a C++ program gives it C linkage itself (extern "C").
 *
 * Our own file; no text from any Windows SDK or C runtime.
 */
#ifndef AWECACHE_COMPAT_TCHAR_H
#define AWECACHE_COMPAT_TCHAR_H

#include <stdio.h>
#include <string.h>
#include <wchar.h>

#if defined(UNICODE) || defined(_UNICODE)

#ifndef AWEWIN32_TCHAR_DEFINED
#define AWEWIN32_TCHAR_DEFINED
typedef wchar_t TCHAR;
#endif
typedef wchar_t _TCHAR;
typedef wchar_t _TSCHAR;
typedef wchar_t _TUCHAR;
typedef wint_t _TINT;
#define _TEOF WEOF

#define AWEWIN32_T_(s) L##s
#define _tmain         wmain
#define _tprintf       wprintf
#define _ftprintf      fwprintf
#define _vtprintf      vwprintf
#define _vftprintf     vfwprintf
#define _fputts        fputws
#define _tcslen        wcslen
#define _tcscmp        wcscmp
#define _tcsncmp       wcsncmp
#define _tcscpy        wcscpy
#define _tcsncpy       wcsncpy
#define _tcscat        wcscat
#define _tcschr        wcschr
#define _tcsrchr       wcsrchr
#define _tcsstr        wcsstr
#define _tcstol        wcstol
#define _tcstoul       wcstoul

#else /* ANSI */

#ifndef AWEWIN32_TCHAR_DEFINED
#define AWEWIN32_TCHAR_DEFINED
typedef char TCHAR;
#endif
typedef char _TCHAR;
typedef signed char _TSCHAR;
typedef unsigned char _TUCHAR;
typedef int _TINT;
#define _TEOF EOF

#define AWEWIN32_T_(s) s
#define _tmain         main
#define _tprintf       printf
#define _ftprintf      fprintf
#define _vtprintf      vprintf
#define _vftprintf     vfprintf
#define _fputts        fputs
#define _tcslen        strlen
#define _tcscmp        strcmp
#define _tcsncmp       strncmp
#define _tcscpy        strcpy
#define _tcsncpy       strncpy
#define _tcscat        strcat
#define _tcschr        strchr
#define _tcsrchr       strrchr
#define _tcsstr        strstr
#define _tcstol        strtol
#define _tcstoul       strtoul

#endif

#define _T(s)    AWEWIN32_T_(s)
#define _TEXT(s) AWEWIN32_T_(s)
#define __T(s)   AWEWIN32_T_(s)

#endif /* AWECACHE_COMPAT_TCHAR_H */
