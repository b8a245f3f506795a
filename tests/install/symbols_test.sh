#!/usr/bin/env bash
# tests/install/symbols_test.sh: the libraries' global names are exactly the public API (ctest
# name install_symbols, label install, on the build tree's libraries; install_test.sh runs it on
# the installed ones too).
#
#   symbols_test.sh [--nm=NM] --static=libawecache.a --shared=libawecache.so
#                   [--compat-shared=libawewin32.so] [--compat-static=libawewin32.a] HEADER...
#
# The public API is what the headers declare with AWE_API or AWC_API (awe.h, awecache.h) and, for
# the Windows-compatible API, AWEWIN32_API (awe/compat/include/windows.h): the first name followed
# by "(" on such a line, the rule that makes the Windows build's module-definition file
# (awe/CMakeLists.txt). Checked:
#   1. libawecache.a defines as global names exactly the AWE_API and AWC_API functions: no
#      internal name (the platform's plat_*, the engine's eng_*, table_*...), nothing of the test
#      scaffolding (plat_testing.h), and no public function missing. The i386 build's PC thunks
#      (__x86.get_pc_thunk.*, COMDAT group signatures the linker must match) are allowed.
#   2. libawecache.so exports exactly the same names (ELF bookkeeping names aside).
#   3. libawewin32.so, when given, exports exactly the AWEWIN32_API functions.
#   4. libawewin32.a, when given, defines as global names exactly the AWEWIN32_API functions and
#      the main() of its wmain shim: its own helpers (awewin32_*) are local.
# Exit status: 0 pass, 1 fail, 77 skipped (no nm).
set -euo pipefail

nm_cmd=nm static="" shared="" compat_shared="" compat_static="" headers=()
for arg in "$@"; do
    case "$arg" in
    --nm=*) nm_cmd=${arg#*=} ;;
    --static=*) static=${arg#*=} ;;
    --shared=*) shared=${arg#*=} ;;
    --compat-shared=*) compat_shared=${arg#*=} ;;
    --compat-static=*) compat_static=${arg#*=} ;;
    -*)
        echo "symbols_test: unknown argument: $arg" >&2
        exit 2
        ;;
    *) headers+=("$arg") ;;
    esac
done
if [[ -z $static || -z $shared || ${#headers[@]} -eq 0 ]]; then
    echo "usage: symbols_test.sh [--nm=NM] --static=LIB.a --shared=LIB.so" \
        "[--compat-shared=LIBAWEWIN32.so] [--compat-static=LIBAWEWIN32.a] HEADER..." >&2
    exit 2
fi
if ! command -v "$nm_cmd" >/dev/null; then
    echo "SKIP: $nm_cmd is not installed (package binutils)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# api <macro regex>: the functions the headers declare with one of those macros, sorted.
api() {
    cat "${headers[@]}" | grep -E "^($1) " |
        awk 'match($0, /[A-Za-z_][A-Za-z0-9_]*\(/) { print substr($0, RSTART, RLENGTH - 1) }' |
        sort -u
}

# compare <what> <expected file> <actual file>: both lists sorted; prints the differences.
compare() {
    local extra missing
    extra=$(comm -13 "$2" "$3")
    missing=$(comm -23 "$2" "$3")
    if [[ -n $extra ]]; then
        echo "FAIL: $1 has global names the public headers do not declare:" \
            "$(echo "$extra" | head -40 | tr '\n' ' ')" >&2
        failures=$((failures + 1))
    fi
    if [[ -n $missing ]]; then
        echo "FAIL: $1 lacks public functions the headers declare:" \
            "$(echo "$missing" | tr '\n' ' ')" >&2
        failures=$((failures + 1))
    fi
    if [[ -z $extra && -z $missing ]]; then
        echo "   $1: $(wc -l <"$3") global names, exactly the public API"
    fi
}

# exported <library>: the dynamic symbols a shared library defines, ELF bookkeeping aside.
exported() {
    "$nm_cmd" -D --defined-only "$1" | awk 'NF == 3 { print $3 }' |
        grep -v -E '^(_init|_fini|_edata|_end|__bss_start|__bss_start__|_bss_end__|__end__)$' |
        sort -u || true
}

# static_globals <library.a>: the global names its members define, the i386 build's PC thunks
# aside, sorted.
static_globals() {
    "$nm_cmd" -g --defined-only "$1" | awk 'NF == 3 { print $3 }' |
        grep -v -E '^__x86\.get_pc_thunk\.' | sort -u || true
}

api 'AWE_API|AWC_API' >"$work/api"
if [[ ! -s $work/api ]]; then
    echo "FAIL: no AWE_API or AWC_API declaration found in ${headers[*]}" >&2
    exit 1
fi
echo "   the headers declare $(wc -l <"$work/api") public functions"

# Step 1: the static library (nm prints its members' names and, per member, its symbols).
static_globals "$static" >"$work/static"
compare "$(basename "$static")" "$work/api" "$work/static"

# Step 2: the shared library.
exported "$shared" >"$work/shared"
compare "$(basename "$shared")" "$work/api" "$work/shared"

# Step 3: the Windows-compatible API's shared library.
if [[ -n $compat_shared ]]; then
    api 'AWEWIN32_API' >"$work/compat_api"
    exported "$compat_shared" >"$work/compat_shared"
    compare "$(basename "$compat_shared")" "$work/compat_api" "$work/compat_shared"
fi

# Step 4: the Windows-compatible API's static library, with its wmain shim's main().
if [[ -n $compat_static ]]; then
    { api 'AWEWIN32_API' && echo main; } | sort -u >"$work/compat_static_api"
    static_globals "$compat_static" >"$work/compat_static"
    compare "$(basename "$compat_static")" "$work/compat_static_api" "$work/compat_static"
fi

if ((failures > 0)); then
    echo "symbols_test: $failures check(s) failed" >&2
    exit 1
fi
echo "symbols_test: passed"
