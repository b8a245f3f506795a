#!/usr/bin/env bash
# tests/packaging/packaging_test.sh: the Debian packaging test (ctest name packaging_debian, label
# packaging). Usage: packaging_test.sh <source root>
#
# 1. Skips (exit 77, the reason on stdout) when not root, when dpkg-buildpackage (dpkg-dev) or
#    dh (debhelper) is missing, when a build dependency of debian/control is not installed, or
#    when a package of the same name as ours is installed and this test did not install it.
# 2. Copies the source tree (tracked and new files that git does not ignore; everything but
#    build directories where it is not a git checkout) into a scratch directory, so that the
#    repository is never changed, and checks that debian/changelog's version is the one
#    CMakeLists.txt's project() names.
# 3. Builds the packages there: dpkg-buildpackage -us -uc -b -j2; checks that each of
#    libawecache0, libawecache-dev and awecache-tools holds what it should.
# 4. Installs the three with dpkg -i, then, against what they installed and nothing else:
#    builds consumer.c with `pkg-config --cflags --libs awecache` and runs it; builds
#    tests/install/consumer/ (the install test's find_package(awecache) project, no prefix given)
#    against the shared and the static library and runs both; runs
#    `awecache --version` and `awecache info`; builds tests/wincompat/awe_example.c with the
#    installed awecc and runs it; finds the manual pages with man -w (where man is installed).
# 5. Purges the packages and checks that nothing of them is left. The packages are purged on
#    every way out (a failure, Ctrl-C, SIGTERM) by an EXIT trap; one run at a time (flock).
#    Should a run be killed outright (SIGKILL), its marker file lets the next run tell the
#    packages it left from a real installation, purge them and remove its scratch directory.
# Environment: AWECACHE_PACKAGING_KEEP=1 keeps the scratch directory (its path is printed);
# TMPDIR (default /var/tmp) is where it goes. Exit status: 0 pass, 1 fail, 77 skipped.
set -uo pipefail

if (($# != 1)); then
    echo "usage: packaging_test.sh <source root>" >&2
    exit 2
fi
root=$(cd "$1" && pwd) || exit 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
packages=(libawecache0 libawecache-dev awecache-tools)
# Packages are removed dependents first.
purge_order=(awecache-tools libawecache-dev libawecache0)
marker=/var/tmp/awecache-packaging-test.state
lock=/var/tmp/awecache-packaging-test.lock
t0=$SECONDS

skip() {
    echo "SKIP: $*"
    exit 77
}
die() {
    echo "FAIL: $*" >&2
    exit 1
}
step() {
    echo "== $* ($((SECONDS - t0)) s)"
}

# Step 1: what the test needs.
((EUID == 0)) || skip "not root: installing packages with dpkg -i needs root"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage is missing (package dpkg-dev)"
command -v dh >/dev/null || skip "dh is missing (package debhelper)"
command -v dpkg-checkbuilddeps >/dev/null || skip "dpkg-checkbuilddeps is missing (package dpkg-dev)"
command -v pkg-config >/dev/null || skip "pkg-config is missing (package pkg-config)"
command -v cmake >/dev/null || skip "cmake is missing"
command -v cc >/dev/null || skip "cc is missing (package build-essential)"
[[ -f $root/debian/control ]] || die "no debian/control under $root"
if ! unmet=$(cd "$root" && dpkg-checkbuilddeps 2>&1); then
    skip "build dependencies of debian/control missing (tools/deps installs them): $unmet"
fi

# One run at a time: the packages are installed system-wide.
if command -v flock >/dev/null; then
    exec 9>"$lock" || die "cannot open the lock file $lock"
    flock -w 1800 9 || die "another packaging test held $lock for 30 minutes"
fi

# installed <package>: whether dpkg has it installed in any state but "not installed" and
# "config files only".
installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
    [[ ${status:1:1} != n && ${status:1:1} != c && -n ${status:1:1} ]]
}

purge_ours() {
    local p present=()
    for p in "${purge_order[@]}"; do
        installed "$p" && present+=("$p")
    done
    if ((${#present[@]} > 0)); then
        echo "   dpkg --purge ${present[*]}"
        local out
        out=$(dpkg --purge "${present[@]}" 2>&1) || { echo "$out"; return 1; }
    fi
}

# The marker of a run that was killed (under the lock, a marker is never a running test's): its
# scratch directory, and whether it had installed the packages.
if [[ -f $marker ]]; then
    if grep -qx installed "$marker"; then
        echo "   packages left by an earlier run of this test that was killed: purging them"
        purge_ours || die "could not purge the packages an earlier run left"
    fi
    old_work=$(sed -n 's/^work=//p' "$marker")
    if [[ $old_work == */awecache-packaging.* && -d $old_work ]]; then
        rm -rf "$old_work"
    fi
    rm -f "$marker"
fi
for p in "${packages[@]}"; do
    if installed "$p"; then
        skip "the package $p is installed on this machine (not by this test): remove it first"
    fi
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/awecache-packaging.XXXXXX") || die "mktemp failed"
echo "work=$work" >"$marker"
cleanup() {
    local rc=$?
    trap - EXIT
    if grep -qx installed "$marker" 2>/dev/null; then
        echo "== purging the packages (exit path)"
        purge_ours || { echo "FAIL: dpkg --purge failed" >&2; rc=1; }
    fi
    if [[ ${AWECACHE_PACKAGING_KEEP:-0} == 1 ]]; then
        echo "   scratch directory kept: $work"
    else
        rm -rf "$work"
    fi
    rm -f "$marker"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Step 2: the copy of the source tree.
step "copying the source tree into $work/src"
src=$work/src
mkdir -p "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            [[ -e $f ]] && printf '%s\0' "$f" # listed but deleted in the working tree
        done | tar --null -T - -cf -) | tar -xf - -C "$src" || die "copying the tree failed"
else
    (cd "$root" && tar --exclude=./build --exclude='./build-*' --exclude='./obj-*' -cf - .) |
        tar -xf - -C "$src" || die "copying the tree failed"
fi
project_version=$(sed -n 's/^project(awecache VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb_version=$(cd "$src" && dpkg-parsechangelog -S Version)
[[ -n $project_version ]] || die "no project(awecache VERSION ...) line in CMakeLists.txt"
[[ ${deb_version%%-*} == "$project_version" ]] ||
    die "debian/changelog says $deb_version, CMakeLists.txt says $project_version: add a changelog entry"
echo "   version $deb_version"

# Step 3: build the packages.
step "dpkg-buildpackage -us -uc -b -j2"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b -j2) >"$work/build.log" 2>&1; then
    tail -60 "$work/build.log"
    die "dpkg-buildpackage failed (the log's end is above)"
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
debs=()
for p in "${packages[@]}"; do
    f=$work/${p}_${deb_version}_${arch}.deb
    [[ -f $f ]] || die "dpkg-buildpackage made no $(basename "$f")"
    debs+=("$f")
done
# expect_in <package> <path>...: every path is in the package's file list.
expect_in() {
    local p=$1 f list
    shift
    list=$(dpkg-deb -c "$work/${p}_${deb_version}_${arch}.deb" | awk '{print $6}' | sed 's|^\./|/|')
    for f in "$@"; do
        grep -qx -- "$f" <<<"$list" || die "$p does not hold $f"
    done
}
lib=/usr/lib/$multiarch
expect_in libawecache0 "$lib/libawecache.so.0" "$lib/libawewin32.so.0"
expect_in libawecache-dev /usr/include/awecache/awe.h /usr/include/awecache/awecache.h \
    /usr/include/awecache/win32/windows.h "$lib/libawecache.so" "$lib/libawecache.a" \
    "$lib/libawewin32.a" "$lib/pkgconfig/awecache.pc" "$lib/cmake/awecache/awecacheConfig.cmake" \
    /usr/share/man/man3/awe.3.gz /usr/share/man/man3/awecache.3.gz \
    /usr/share/man/man3/awc_pin.3.gz /usr/share/man/man3/awe_map.3.gz
expect_in awecache-tools /usr/bin/awecache /usr/bin/awecc /usr/share/man/man1/awecache.1.gz \
    /usr/share/man/man1/awecc.1.gz
for p in "${packages[@]}"; do
    echo "   $p: $(dpkg-deb -c "$work/${p}_${deb_version}_${arch}.deb" | grep -vc '/$') files," \
        "depends: $(dpkg-deb -f "$work/${p}_${deb_version}_${arch}.deb" Depends)"
done

# Step 4: install and use them.
step "dpkg -i ${packages[*]}"
echo installed >>"$marker"
if ! dpkg -i "${debs[@]}" >"$work/install.log" 2>&1; then
    cat "$work/install.log"
    die "dpkg -i failed"
fi

step "pkg-config consumer"
mkdir -p "$work/run"
flags=$(pkg-config --cflags --libs awecache) || die "pkg-config does not know awecache"
echo "   pkg-config --cflags --libs awecache: $flags"
# shellcheck disable=SC2086 # the flags are words
cc -std=c11 -Wall -Wextra -Werror "$here/consumer.c" $flags -o "$work/consumer_pc" ||
    die "the pkg-config consumer did not build"
mkdir -p "$work/run/pc"
"$work/consumer_pc" "$work/run/pc" || die "the pkg-config consumer failed"

step "find_package(awecache) consumer (tests/install/consumer)"
if ! cmake -S "$here/../install/consumer" -B "$work/consumer-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$work/consumer.log" 2>&1 ||
    ! cmake --build "$work/consumer-build" -j2 >>"$work/consumer.log" 2>&1; then
    cat "$work/consumer.log"
    die "the find_package(awecache) consumer did not configure or build"
fi
for exe in consumer_shared consumer_static; do
    "$work/consumer-build/$exe" || die "$exe failed"
done
if command -v readelf >/dev/null; then
    readelf -d "$work/consumer-build/consumer_shared" | grep -q 'NEEDED.*libawecache\.so\.0' ||
        die "consumer_shared is not linked to libawecache.so.0"
fi

step "awecache --version, awecache info"
out=$(/usr/bin/awecache --version) || die "awecache --version failed"
[[ $out == *"$project_version"* ]] || die "awecache --version says '$out', not $project_version"
echo "   $out"
(cd "$work/run" && /usr/bin/awecache info) || die "awecache info failed"

if [[ -f $src/tests/wincompat/awe_example.c ]]; then
    step "awecc: a Windows AWE program built with the installed awecc"
    /usr/bin/awecc -O2 -Wall -Wextra -Werror "$src/tests/wincompat/awe_example.c" \
        -o "$work/awe_example" || die "awecc could not build awe_example.c"
    out=$("$work/awe_example") || { echo "$out"; die "awe_example failed"; }
    [[ $out == *"all steps succeeded"* ]] || { echo "$out"; die "awe_example did not succeed"; }
    echo "   awe_example: all steps succeeded"
fi

if command -v man >/dev/null; then
    for page in "1 awecache" "1 awecc" "3 awe" "3 awecache" "3 awc_kv_get" "3 awe_map_scatter"; do
        # shellcheck disable=SC2086 # section and name
        man -w $page >/dev/null 2>&1 || die "man -w $page finds no page"
    done
    echo "   man -w finds awecache(1), awecc(1), awe(3), awecache(3) and the function names"
fi

# Step 5: remove them.
step "dpkg --purge ${purge_order[*]}"
purge_ours || die "dpkg --purge failed"
sed -i '/^installed$/d' "$marker"
for p in "${packages[@]}"; do
    installed "$p" && die "$p is still installed after the purge"
done
for f in /usr/include/awecache "$lib/libawecache.so.0" /usr/bin/awecache /usr/bin/awecc; do
    [[ -e $f ]] && die "$f is left after the purge"
done

echo "packaging_debian: passed ($((SECONDS - t0)) s)"
