#!/bin/sh
# tests/wincompat/awecc_test.sh: builds Windows programs with tools/awecc and runs them.
#
#   awecc_test.sh <source root> <work dir> <C compiler> [<C flags> [<CMake toolchain file>]]
#
# The C flags (-m32 in the 32-bit build) go with the compiler (CC="<compiler> <flags>"), and the
# toolchain file (cmake/i386.cmake) to the libraries' configure (AWECC_CMAKE_ARGS), so that the
# programs and libraries are built for the same target as the build that runs the test.
#
# 1. From the source tree: awe_example.c in ANSI and in UNICODE mode (-Werror), then compiled
#    with -c and linked from two objects; each program must exit 0 and say it succeeded.
# 2. From an installed prefix: installs the awecc build into <work dir>/prefix and builds the
#    example again with <prefix>/bin/awecc (headers and libraries from the prefix only).
# The libraries are built once in <work dir>/awecc-build (AWECC_BUILD_DIR), without sanitizers.
set -eu

root=$1
work=$2
CC="$3${4:+ $4}"
export CC
if [ -n "${5:-}" ]; then
    AWECC_CMAKE_ARGS="-DCMAKE_TOOLCHAIN_FILE=$5"
    export AWECC_CMAKE_ARGS
fi
AWECC_BUILD_DIR=$work/awecc-build
export AWECC_BUILD_DIR
mkdir -p "$work"
src=$root/tests/wincompat

# run <program>: runs it, shows its output, fails unless it exited 0 and reported success.
run() {
    echo "== $1"
    if ! out=$("$1"); then
        echo "$out"
        echo "FAIL: $1 exited with an error" >&2
        exit 1
    fi
    echo "$out"
    case "$out" in
    *"all steps succeeded"*) ;;
    *)
        echo "FAIL: $1 did not report success" >&2
        exit 1
        ;;
    esac
}

# Step 1: the source tree.
"$root/tools/awecc" -O2 -g -Wall -Wextra -Werror "$src/awe_example.c" -o "$work/awe_example"
run "$work/awe_example"
"$root/tools/awecc" -Wall -Wextra -Werror -DUNICODE -D_UNICODE "$src/awe_example.c" \
    -o "$work/awe_example_wide"
run "$work/awe_example_wide"
"$root/tools/awecc" -c -Wall -Wextra -Werror "$src/awe_example.c" -o "$work/example.o"
"$root/tools/awecc" -c -Wall -Wextra -Werror "$src/header_check.c" -o "$work/header_check.o"
"$root/tools/awecc" "$work/example.o" "$work/header_check.o" -o "$work/awe_example_objs"
run "$work/awe_example_objs"

# Step 2: an installed prefix (awecc, headers and libraries installed by `cmake --install`).
cmake --build "$AWECC_BUILD_DIR" >"$work/install-build.log" 2>&1 || {
    cat "$work/install-build.log" >&2
    exit 1
}
rm -rf "$work/prefix"
cmake --install "$AWECC_BUILD_DIR" --prefix "$work/prefix" >"$work/install.log" 2>&1 || {
    cat "$work/install.log" >&2
    exit 1
}
env -u AWECC_BUILD_DIR "$work/prefix/bin/awecc" -O2 -Wall -Werror "$src/awe_example.c" \
    -o "$work/awe_example_installed"
run "$work/awe_example_installed"
echo "awecc: all builds and runs succeeded"
