#!/usr/bin/env bash
# tests/install/install_test.sh: the install smoke test (ctest name install_smoke, label install).
#
# 1. `cmake --install <build> --prefix <work>/prefix` into an empty scratch prefix.
# 2. Checks the installed layout: header, shared library with its soname links, static library,
#    awecache.pc, the find_package files; and (symbols_test.sh) that both libraries' global names
#    are exactly the public API the installed headers declare, and libawewin32.so's the
#    Windows-compatible API's.
# 3. Builds tests/install/consumer.c with `pkg-config --cflags --libs awecache` and runs it.
# 4. Configures tests/install/consumer/ (find_package(awecache)), builds it against
#    awecache::awecache and awecache::awecache_static, and runs both.
# 5. Runs the installed bin/awecache (--version, info --json).
# In sanitizer builds the consumers are compiled and linked with the same -fsanitize flags, as any
# program linking a sanitized library must be; the build's own C flags (-m32 in the 32-bit build)
# and toolchain file (cmake/i386.cmake) are passed on too. Exit status: 0 pass, 1 fail, 77 skipped.
set -euo pipefail

build_dir="" work_dir="" cmake_cmd=cmake generator="" cc=cc libdir=lib san_flags="" c_flags=""
toolchain=""
for arg in "$@"; do
    case "$arg" in
    --build-dir=*) build_dir=${arg#*=} ;;
    --work-dir=*) work_dir=${arg#*=} ;;
    --cmake=*) cmake_cmd=${arg#*=} ;;
    --generator=*) generator=${arg#*=} ;;
    --cc=*) cc=${arg#*=} ;;
    --libdir=*) libdir=${arg#*=} ;;
    --sanitize-flags=*) san_flags=${arg#*=} ;;
    --c-flags=*) c_flags=${arg#*=} ;;
    --toolchain-file=*) toolchain=${arg#*=} ;;
    *)
        echo "install_test: unknown argument: $arg" >&2
        exit 2
        ;;
    esac
done
if [[ -z $build_dir || -z $work_dir ]]; then
    echo "usage: install_test.sh --build-dir=DIR --work-dir=DIR [--cmake=CMAKE] [--generator=G]" \
        "[--cc=CC] [--libdir=lib] [--sanitize-flags='-fsanitize=...'] [--c-flags=FLAGS]" \
        "[--toolchain-file=FILE]" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=$work_dir/prefix
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

if ! command -v pkg-config >/dev/null; then
    echo "SKIP: pkg-config is not installed (package pkg-config)"
    exit 77
fi

# Step 1: install into a scratch prefix.
rm -rf "$work_dir"
mkdir -p "$work_dir"
echo "== cmake --install $build_dir --prefix $prefix"
"$cmake_cmd" --install "$build_dir" --prefix "$prefix" >"$work_dir/install.log"
sed 's/^/   /' "$work_dir/install.log"

# Step 2: the layout.
echo "== installed layout"
soversion_files=("$prefix/$libdir"/libawecache.so.*)
for f in "$prefix/include/awecache/awe.h" "$prefix/$libdir/libawecache.so" \
    "$prefix/$libdir/libawecache.a" "$prefix/$libdir/pkgconfig/awecache.pc" \
    "$prefix/$libdir/cmake/awecache/awecacheConfig.cmake" \
    "$prefix/$libdir/cmake/awecache/awecacheConfigVersion.cmake" \
    "$prefix/$libdir/cmake/awecache/awecacheTargets.cmake"; do
    [[ -e $f ]] || fail "not installed: ${f#"$prefix"/}"
done
[[ ${#soversion_files[@]} -ge 2 && -e ${soversion_files[0]} ]] ||
    fail "the soname links libawecache.so.N and libawecache.so.N.M.P are not both installed"
[[ -L $prefix/$libdir/libawecache.so ]] || fail "libawecache.so is not a link to the soname"
if [[ -e $prefix/$libdir/libawecache.so && -e $prefix/$libdir/libawecache.a ]]; then
    # The global names: exactly the public API of the installed headers (symbols_test.sh).
    compat=()
    [[ -e $prefix/$libdir/libawewin32.so ]] &&
        compat=("--compat-shared=$prefix/$libdir/libawewin32.so"
            "--compat-static=$prefix/$libdir/libawewin32.a"
            "$prefix/include/awecache/win32/windows.h")
    rc=0
    bash "$here/symbols_test.sh" "--static=$prefix/$libdir/libawecache.a" \
        "--shared=$prefix/$libdir/libawecache.so" "$prefix/include/awecache/awe.h" \
        "$prefix/include/awecache/awecache.h" "$prefix/include/awecache/awecache_bt.h" \
        ${compat[@]+"${compat[@]}"} || rc=$?
    ((rc == 0 || rc == 77)) || fail "the installed libraries' global names are not the public API"
fi
echo "   awecache.pc:"
sed 's/^/     /' "$prefix/$libdir/pkgconfig/awecache.pc"

# Step 3: pkg-config consumer.
echo "== pkg-config consumer"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pc_flags=$(pkg-config --cflags --libs awecache)
echo "   pkg-config --cflags --libs awecache: $pc_flags"
# shellcheck disable=SC2086 # the flags are words
if "$cc" $c_flags $san_flags -o "$work_dir/consumer_pc" "$here/consumer.c" $pc_flags; then
    if out=$(LD_LIBRARY_PATH="$prefix/$libdir" "$work_dir/consumer_pc"); then
        echo "   $out"
    else
        fail "the pkg-config consumer failed: $out"
    fi
else
    fail "the pkg-config consumer did not build"
fi

# Step 4: find_package consumer.
echo "== find_package(awecache) consumer"
gen_args=()
[[ -n $generator ]] && gen_args=(-G "$generator")
[[ -n $toolchain ]] && gen_args+=("-DCMAKE_TOOLCHAIN_FILE=$toolchain")
if "$cmake_cmd" -S "$here/consumer" -B "$work_dir/consumer-build" "${gen_args[@]}" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="$c_flags $san_flags" -DCMAKE_EXE_LINKER_FLAGS="$c_flags $san_flags" \
    >"$work_dir/consumer-configure.log" 2>&1 &&
    "$cmake_cmd" --build "$work_dir/consumer-build" >"$work_dir/consumer-build.log" 2>&1; then
    for exe in consumer_shared consumer_static; do
        if out=$("$work_dir/consumer-build/$exe"); then
            echo "   $exe: $out"
        else
            fail "$exe failed: $out"
        fi
    done
    if command -v readelf >/dev/null; then
        readelf -d "$work_dir/consumer-build/consumer_shared" | grep -q 'NEEDED.*libawecache\.so' ||
            fail "consumer_shared is not linked to libawecache.so"
        ! readelf -d "$work_dir/consumer-build/consumer_static" | grep -q 'NEEDED.*libawecache' ||
            fail "consumer_static depends on libawecache.so; it should hold libawecache.a"
    fi
else
    cat "$work_dir/consumer-configure.log" "$work_dir/consumer-build.log" 2>/dev/null || true
    fail "the find_package(awecache) consumer did not configure or build"
fi

# Step 5: the installed awecache tool runs from the prefix.
echo "== bin/awecache"
if [[ -x $prefix/bin/awecache ]]; then
    if out=$("$prefix/bin/awecache" --version) && "$prefix/bin/awecache" info --json >/dev/null; then
        echo "   $out; awecache info --json ran"
    else
        fail "bin/awecache --version or info failed: $out"
    fi
else
    fail "not installed: bin/awecache"
fi

if ((failures > 0)); then
    echo "install_smoke: $failures check(s) failed" >&2
    exit 1
fi
echo "install_smoke: passed"
