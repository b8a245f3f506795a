#!/usr/bin/env bash
# tests/cli/test_cli_files.sh: `awecache create`, `awecache check` and `awecache info`, and what
# they do with bad input.
#
# Usage: test_cli_files.sh TOOL ROOT TMPDIR
#   TOOL    the built awecache binary
#   ROOT    the repository root (unused: everything is made here)
#   TMPDIR  a scratch directory for this test: made afresh, removed when every check passed
#
# (a) create files of 4 KiB pages (8 MiB, with the default and a small frame budget, and 1.5 MiB
#     to round a fractional size) and of 64 KiB pages; check finds every page ok;
# (b) one byte flipped in page 3's data: check exits 1, names page 3, counts 1 checksum failure;
#     check --btree on a data file: exit 1, one line, not a tree (test_bt checks real trees);
# (c) both superblocks overwritten: check fails with one line saying it is not an awecache file;
# (d) create on an existing file: fails, the file's bytes unchanged;
# (e) bad input: exit 2 and exactly one line on stderr for sizes and flags, exit 1 and one line
#     for a missing directory or file; no file left behind by a failed create;
# (f) SIGTERM during a create: exit 1, one line, no file left;
# (g) info and info --json (for the directory and for a file) print their keys;
# (h) --help for create, check and info exits 0 and prints the usage.
# Stops at the first failure with a message saying what was expected.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# expect_code CODE ARGS...: the tool exits CODE (whatever it prints).
expect_code() {
    local code=$1
    shift
    run "$@"
    [ "$RC" -eq "$code" ] || fail "awecache $*: expected exit $code, got $RC"
}

# expect_fail CODE ARGS...: the tool exits CODE with exactly one line on stderr, which starts
# with "awecache <subcommand>: ".
expect_fail() {
    local code=$1 lines
    shift
    run "$@"
    [ "$RC" -eq "$code" ] || fail "awecache $*: expected exit $code, got $RC"
    lines=$(wc -l <"$ERR")
    [ "$lines" -eq 1 ] || fail "awecache $*: expected one line on stderr, got $lines"
    grep -q "^awecache $1: " "$ERR" || fail "awecache $*: stderr does not start 'awecache $1: '"
}

# has FILE PATTERN WHAT: FILE matches the extended regular expression PATTERN.
has() {
    grep -Eq -- "$2" "$1" || fail "$3: expected /$2/ in $(basename "$1")"
}

# absent PATH WHAT: nothing is at PATH.
absent() {
    [ ! -e "$1" ] || fail "$2: $1 was left behind"
}

# flip_byte FILE OFFSET: inverts the bits of the byte at OFFSET in place.
flip_byte() {
    local b
    b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' \n')
    [ -n "$b" ] || fail "cannot read byte $2 of $1"
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $((b ^ 255)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc status=none || fail "cannot write byte $2 of $1"
}

# ---- (a) create and check -----------------------------------------------------------------

F4="$WORK/data4k.awc"
step "create 8 MiB of 4 KiB pages"
expect_ok create "$F4" --size 8M
has "$OUT" "2048 pages" "create summary"
step "check it: all 2048 pages ok"
expect_ok check "$F4"
has "$OUT" "result: OK" "check result"
expect_ok check "$F4" --json --quiet
has "$OUT" '"pages": 2048' "check --json pages"
has "$OUT" '"ok": 2048' "check --json ok"
has "$OUT" '"checksum_failures": 0' "check --json checksum_failures"
has "$OUT" '"mismatched": 0' "check --json mismatched"
[ -s "$ERR" ] && fail "check --json --quiet: expected nothing on stderr"

FS="$WORK/small-frames.awc"
step "create 8 MiB with a 256 KiB frame budget (pages written back as frames run out)"
expect_ok create "$FS" --size 8M --frames 256K --quiet
step "check it with a 128 KiB frame budget: all pages ok"
expect_ok check "$FS" --frames 128K --json --quiet
has "$OUT" '"ok": 2048' "check --json ok"

FF="$WORK/fraction.awc"
step "create 1.5M (a fractional size): 384 pages"
expect_ok create "$FF" --size 1.5M --quiet
has "$OUT" "384 pages" "create summary"
expect_ok check "$FF" --json --quiet
has "$OUT" '"ok": 384' "check --json ok"

F64="$WORK/data64k.awc"
step "create 8 MiB of 64 KiB pages"
expect_ok create "$F64" --size 8M --page-size 64K --frames 1M
has "$OUT" "128 pages" "create summary"
step "check it: all 128 pages ok"
expect_ok check "$F64" --json --quiet
has "$OUT" '"page_size": 65536' "check --json page_size"
has "$OUT" '"ok": 128' "check --json ok"

# ---- (b) a corrupt page -------------------------------------------------------------------

BAD="$WORK/bad-page.awc"
cp "$F4" "$BAD" || fail "cannot copy $F4"
# Layout for 4 KiB pages: two 4 KiB superblocks, then segment 0's 4 KiB checksum block, then
# its pages: page 3's data starts at 8192 + 4096 + 3 * 4096.
step "flip one byte in page 3's data: check exits 1 naming page 3, 1 checksum failure"
flip_byte "$BAD" $((8192 + 4096 + 3 * 4096 + 100))
expect_code 1 check "$BAD"
has "$OUT" "(^|[^0-9])3 \(checksum failure\)" "check names page 3"
expect_code 1 check "$BAD" --json --quiet
has "$OUT" '"checksum_failures": 1' "check --json checksum_failures"
has "$OUT" '"ok": 2047' "check --json ok"
tr -d ' \n' <"$OUT" | grep -q '"bad_pages":\[3\]' || fail "check --json: bad_pages is not [3]"
step "--checksums-only still reports the checksum failure"
expect_code 1 check "$BAD" --checksums-only --json --quiet
has "$OUT" '"checksum_failures": 1' "check --checksums-only"

step "a zeroed page (written once, covered by create's flush): check exits 1 naming it"
ZERO="$WORK/zero-page.awc"
cp "$F4" "$ZERO" || fail "cannot copy $F4"
dd if=/dev/zero of="$ZERO" bs=4096 seek=$(((8192 + 4096) / 4096 + 5)) count=1 conv=notrunc \
    status=none
expect_code 1 check "$ZERO" --json --quiet
has "$OUT" '"checksum_failures": 1' "check on a zeroed page"
tr -d ' \n' <"$OUT" | grep -q '"bad_pages":\[5\]' || fail "check --json: bad_pages is not [5]"

step "a truncated file: check exits 1, says truncated, the missing pages fail"
CUT="$WORK/cut.awc"
cp "$F4" "$CUT" || fail "cannot copy $F4"
# 2048 pages are 9 segments of 255 (1 MiB each with 4 KiB pages): cut after page 265.
truncate -s $((8192 + 1048576 + 4096 + 11 * 4096)) "$CUT"
expect_code 1 check "$CUT"
has "$OUT" "truncated: the file is" "check on a truncated file"
has "$OUT" "result: BAD" "check on a truncated file"
expect_code 1 check "$CUT" --json --quiet
has "$OUT" '"checksum_failures": 1782' "check --json on a truncated file"
has "$OUT" '"ok": 266' "check --json on a truncated file: the pages before the cut"
[ "$(stat -c %s "$CUT")" -eq $((8192 + 1048576 + 4096 + 11 * 4096)) ] ||
    fail "check changed the truncated file's size"

step "check --btree on a data file that is not a tree: exit 1, one line; with --checksums-only: 2"
expect_fail 1 check "$F4" --btree
has "$ERR" "not a B\+-tree" "check --btree on a data file"
expect_fail 2 check "$F4" --btree --checksums-only

# ---- (c) corrupt superblocks --------------------------------------------------------------

HDR="$WORK/bad-header.awc"
cp "$F4" "$HDR" || fail "cannot copy $F4"
step "overwrite both superblocks: check fails, one line, not an awecache file"
yes "not a superblock" | head -c 8192 | dd of="$HDR" conv=notrunc status=none
expect_fail 1 check "$HDR"
has "$ERR" "not an awecache file" "check on a corrupt header"
[ -s "$OUT" ] && fail "check on a corrupt header: expected nothing on stdout"

# ---- (d) create never overwrites ----------------------------------------------------------

step "create on an existing file: exit 1, one line, the file unchanged"
cp "$F4" "$WORK/copy.awc" || fail "cannot copy $F4"
expect_fail 1 create "$F4" --size 1M
has "$ERR" "exists" "create on an existing file"
cmp -s "$F4" "$WORK/copy.awc" || fail "create changed the existing file"
rm -f "$WORK/copy.awc"

# ---- (e) bad input ------------------------------------------------------------------------

X="$WORK/never.awc"
step "create --size 12Q: exit 2, one line, no file"
expect_fail 2 create "$X" --size 12Q
has "$ERR" "12Q" "create --size 12Q"
absent "$X" "create --size 12Q"
step "create --size -1: exit 2, one line, no file"
expect_fail 2 create "$X" --size -1
absent "$X" "create --size -1"
step "create --size 0: exit 2, one line, no file"
expect_fail 2 create "$X" --size 0
absent "$X" "create --size 0"
step "create --page-size 1000: exit 2, one line, no file"
expect_fail 2 create "$X" --size 8M --page-size 1000
has "$ERR" "page-size" "create --page-size 1000"
absent "$X" "create --page-size 1000"
step "create --bogus: exit 2, one line, no file"
expect_fail 2 create "$X" --size 8M --bogus
has "$ERR" "bogus" "create --bogus"
absent "$X" "create --bogus"
step "create without FILE: exit 2, one line"
expect_fail 2 create --size 8M
step "create without --size: exit 2, one line, no file"
expect_fail 2 create "$X"
absent "$X" "create without --size"
step "create --frames beyond the machine's RAM: exit 2, one line, no file"
expect_fail 2 create "$X" --size 8M --frames 1000T
absent "$X" "create --frames 1000T"
step "create in a missing directory: exit 1, one line"
expect_fail 1 create "$WORK/no/such/dir/x.awc" --size 1M
absent "$WORK/no" "create in a missing directory"
step "check a missing file: exit 1, one line"
expect_fail 1 check "$WORK/missing.awc"
step "check --bogus: exit 2, one line"
expect_fail 2 check "$F4" --bogus
step "check --frames junk: exit 2, one line"
expect_fail 2 check "$F4" --frames lots
step "check without FILE: exit 2, one line"
expect_fail 2 check
step "info on a missing path: exit 1, one line"
expect_fail 1 info "$WORK/missing-dir"
step "info --bogus: exit 2, one line"
expect_fail 2 info --bogus

# ---- (f) an interrupted create ------------------------------------------------------------

SIG="$WORK/interrupted.awc"
step "SIGTERM during create: exit 1, one line, no file left"
"$TOOL" create "$SIG" --size 1G --frames 16M --quiet >"$OUT" 2>"$ERR" &
pid=$!
# Wait for the file to appear (the handlers are in place before it does), then a little more.
for _ in $(seq 1 100); do
    [ -e "$SIG" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
sleep 0.2
kill -TERM "$pid" 2>/dev/null
wait "$pid"
RC=$?
if [ "$RC" -eq 0 ]; then
    echo "   (skipped: the create finished before the signal)"
    rm -f "$SIG"
else
    [ "$RC" -eq 1 ] || fail "interrupted create: expected exit 1, got $RC"
    [ "$(wc -l <"$ERR")" -eq 1 ] || fail "interrupted create: expected one line on stderr"
    has "$ERR" "interrupted" "interrupted create"
    absent "$SIG" "interrupted create"
fi

# ---- (g) info -----------------------------------------------------------------------------

step "info on the scratch directory: exit 0, every key, no probe file left"
expect_ok info "$WORK"
for key in "page size" "allocation granularity" "huge page size" "huge frames free" \
    "frame limit" "VMA budget" "vm.max_map_count" "processors" "RAM total" "RAM available" \
    "locked-memory limit" "path" "O_DIRECT" "io_uring" "memory cgroup"; do
    has "$OUT" "^$key: " "info"
done
for f in "$WORK"/.awecache-probe-*; do
    [ -e "$f" ] && fail "info left its probe file $f"
done
step "info --json on a file: exit 0, every key"
expect_ok info "$F4" --json
for key in page_size alloc_granularity huge_page_size huge_frames_free frame_limit vma_budget \
    max_map_count processors ram_total ram_available locked_memory_limit path o_direct \
    direct_align io_uring memory_cgroup memory_cgroup_reason; do
    has "$OUT" "\"$key\": " "info --json"
done
if command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$OUT" >/dev/null || fail "info --json: not valid JSON"
    expect_code 1 check "$BAD" --json --quiet
    python3 -m json.tool "$OUT" >/dev/null || fail "check --json: not valid JSON"
fi

# ---- (h) --help ---------------------------------------------------------------------------

for cmd in create check info; do
    step "$cmd --help: exit 0, prints the usage"
    expect_ok "$cmd" --help
    has "$OUT" "usage" "$cmd --help"
done

rm -rf "$WORK"
echo "all checks passed"
exit 0
