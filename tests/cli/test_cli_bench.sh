#!/usr/bin/env bash
# tests/cli/test_cli_bench.sh: awecache-bench (bench/awecache-bench/): its outputs, its sides, its
# workloads, its sweep, and what it does with bad input. Small and short: 32 MiB of data, 8 MiB
# of frames, a 1 MiB window, 2 threads, 1 s per run (a short warm-up).
#
# Usage: test_cli_bench.sh TOOL ROOT TMPDIR
#   TOOL    the built awecache-bench binary
#   ROOT    the repository root (unused: everything is made here)
#   TMPDIR  a scratch directory for this test: made afresh, removed when every check passed
# Environment: AWC_TOOL, the built awecache tool, for (l) (unset: (l) is skipped).
#
# (a) a plain run with the default data file (in $TMPDIR): exit 0, a table with an awecache row,
#     and the data file removed at the end;
# (b) --file PATH: the file is made once and kept, later runs use it;
# (c) --json has "config", "results" and every result field; --csv a header and one row;
# (d) --compare: rows awecache, mmap, pread-pool and direct, each with ops_per_s > 0 (--json);
#     with 16 MiB of frames: at 8 MiB the mmap side's memory cgroup OOM-kills the whole process;
# (e) --batch 16, and every --dist (uniform, zipf:1.2, seq, mix:0.2, trace:FILE);
# (f) --sweep window=512K,1M,2M --out PREFIX: PREFIX.csv with 3 awecache rows and, where gnuplot
#     is installed, PREFIX.png (a PNG); without gnuplot (PATH emptied): exit 1, one line naming
#     gnuplot, the CSV still written;
# (g) bad input: exit 1 or 2, exactly one line on stderr, no data file left behind;
# (h) a file of random bytes as --file: one line, exit 1, the file's bytes unchanged;
# (i) --help exits 0 and prints the usage;
# (j) --repeat 2 --compare: each side's median, min and max (table "N (MIN-MAX)", JSON
#     ops_per_s_median/_min/_max and two runs each, CSV columns), the JSON valid (python3, where
#     installed);
# (k) --medium ram (skipped, with the reason printed, when the tool falls back to the disk: not
#     root, no loop devices, no mkfs.ext4): the run succeeds on ram, and afterwards no loop device
#     of this run (losetup -a, /sys/block), no mount (/proc/mounts) and nothing in /dev/shm is
#     left; then a run killed with SIGKILL, and one stopped with SIGTERM, while they run: the same;
#     --medium ram with --file or --keep, --medium bogus, --repeat 0: exit 2 with one line;
# (l) `awecache bench`, the command the benchmarks had before they moved: exit 2, one line on
#     stderr naming awecache-bench, nothing on stdout.
# Stops at the first failure with a message saying what was expected.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DATA="$WORK/data.dat"
# The run every check starts from: small, short, with a warm-up of a few hundred operations.
SMALL=(--data-size 32M --frames 8M --window 1M --threads 2 --duration 1s --warmup 300)

# The default data files (awecache-bench-*.dat*): none may be left in $WORK.
LEFT='awecache-bench-*'

# expect_table_row SIDE: stdout has a table row for SIDE (its name first, then a number).
expect_table_row() {
    grep -Eq "^$1 +[0-9]" "$OUT" || fail "expected a table row for '$1'"
}

# json_side_ops: "side ops_per_s" pairs from the JSON on stdout, one per line, in order.
json_side_ops() {
    grep -oE '"side": *"[^"]*"|"ops_per_s": *[^,}[:space:]]+' "$OUT" |
        sed -E 's/^"side": *"([^"]*)"$/S \1/; s/^"ops_per_s": *(.*)$/O \1/' |
        awk '$1 == "S" { side = $2 } $1 == "O" { print side, $2 }'
}

# ---- (a) a plain run with the default data file ----------------------------------------------

step "(a) plain run, default data file"
expect_ok "${SMALL[@]}"
grep -q '^side ' "$OUT" || fail "(a) expected a table header starting with 'side'"
for col in 'ops/s' 'MiB/s' 'hit ratio' 'RAM used' 'vs awecache' 'notes'; do
    grep -q "$col" "$OUT" || fail "(a) expected the column '$col'"
done
expect_table_row awecache
grep -Eq '^awecache .* 1\.00x' "$OUT" || fail "(a) expected awecache at 1.00x of itself"
grep -q 'frames' "$OUT" || fail "(a) expected the configuration line before the table"
expect_none_left "(a) the default data file"

# ---- (b) --file: made once, kept --------------------------------------------------------------

step "(b) --file made and kept"
expect_ok "${SMALL[@]}" --quiet --file "$DATA"
[ -f "$DATA" ] || fail "(b) expected $DATA to be kept"
expect_table_row awecache
SIZE_BEFORE=$(wc -c <"$DATA")

# ---- (c) --json and --csv ---------------------------------------------------------------------

step "(c) --json"
expect_ok "${SMALL[@]}" --quiet --file "$DATA" --json
for key in config results side ok error ops reads writes seconds ops_per_s mib_per_s hits \
    misses hit_ratio window_hits frame_hits bytes_read bytes_written mem_bytes \
    ratio_vs_awecache note; do
    grep -q "\"$key\"" "$OUT" || fail "(c) expected the key \"$key\" in the JSON"
done
[ "$(json_side_ops | wc -l)" -eq 1 ] || fail "(c) expected one result in the JSON"

step "(c) --csv"
expect_ok "${SMALL[@]}" --quiet --file "$DATA" --csv
head -n 1 "$OUT" | grep -q '^side,ok,error,ops,.*ops_per_s,.*hit_ratio,.*ratio_vs_awecache,note$' ||
    fail "(c) expected the CSV header"
[ "$(wc -l <"$OUT")" -eq 2 ] || fail "(c) expected a header and one row"
sed -n 2p "$OUT" | grep -q '^awecache,true,' || fail "(c) expected the awecache row, ok"
[ "$(wc -c <"$DATA")" -eq "$SIZE_BEFORE" ] || fail "(b) the kept data file changed size"

# ---- (d) --compare ----------------------------------------------------------------------------

step "(d) --compare"
# 16 MiB of frames here: under an 8 MiB memory cgroup the mmap side is OOM-killed (exit 137).
expect_ok "${SMALL[@]}" --frames 16M --quiet --file "$DATA" --compare --json
PAIRS=$(json_side_ops)
for side in awecache mmap pread-pool direct; do
    echo "$PAIRS" | awk -v s="$side" '$1 == s && $2 + 0 > 0 { found = 1 } END { exit !found }' ||
        fail "(d) expected a result for $side with ops_per_s > 0 (got: $PAIRS)"
done
[ "$(echo "$PAIRS" | wc -l)" -eq 4 ] || fail "(d) expected 4 results (got: $PAIRS)"

# ---- (e) --batch and the workloads ------------------------------------------------------------

step "(e) --batch 16"
expect_ok "${SMALL[@]}" --quiet --file "$DATA" --batch 16
expect_table_row awecache

seq 0 3 30000 >"$WORK/trace.txt"
for dist in uniform zipf:1.2 seq mix:0.2 "trace:$WORK/trace.txt"; do
    step "(e) --dist $dist"
    expect_ok "${SMALL[@]}" --quiet --file "$DATA" --dist "$dist" --ops 5000
    expect_table_row awecache
done

# ---- (f) --sweep --------------------------------------------------------------------------------

step "(f) --sweep window=512K,1M,2M"
rm -f "$WORK/sw.csv" "$WORK/sw.png"
run "${SMALL[@]}" --quiet --file "$DATA" --sweep window=512K,1M,2M --out "$WORK/sw"
[ -f "$WORK/sw.csv" ] || fail "(f) expected $WORK/sw.csv"
[ "$(grep -c '^window,[0-9]*,awecache,' "$WORK/sw.csv")" -eq 3 ] ||
    fail "(f) expected 3 awecache rows in sw.csv"
head -n 1 "$WORK/sw.csv" | grep -q '^param,value_bytes,side,ops_per_s,mib_per_s,hit_ratio' ||
    fail "(f) expected the sweep CSV header"
[ "$(grep -Ec '^(512 KiB|1 MiB|2 MiB) +awecache ' "$OUT")" -eq 3 ] ||
    fail "(f) expected the sweep's table with 3 awecache rows on stdout"
if command -v gnuplot >/dev/null 2>&1; then
    [ "$RC" -eq 0 ] || fail "(f) expected exit 0 with gnuplot installed, got $RC"
    [ "$(head -c 8 "$WORK/sw.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
        fail "(f) expected sw.png to start with the PNG signature"
else
    [ "$RC" -eq 1 ] || fail "(f) expected exit 1 without gnuplot, got $RC"
    [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q gnuplot "$ERR" ||
        fail "(f) expected one line on stderr naming gnuplot"
fi

step "(f) --sweep without gnuplot on the PATH"
rm -f "$WORK/nog.csv" "$WORK/nog.png"
TMPDIR="$WORK" PATH=/nonexistent "$TOOL" "${SMALL[@]}" --quiet --file "$DATA" \
    --sweep window=1M --out "$WORK/nog" >"$OUT" 2>"$ERR"
RC=$?
[ "$RC" -eq 1 ] || fail "(f) expected exit 1 without gnuplot, got $RC"
[ "$(wc -l <"$ERR")" -eq 1 ] && grep -q gnuplot "$ERR" ||
    fail "(f) expected one line on stderr naming gnuplot"
[ "$(grep -c '^window,[0-9]*,awecache,' "$WORK/nog.csv")" -eq 1 ] ||
    fail "(f) expected the CSV to stay without gnuplot"
[ ! -f "$WORK/nog.png" ] || fail "(f) expected no PNG without gnuplot"

# ---- (g) bad input ----------------------------------------------------------------------------

step "(g) bad input"
expect_bad "--frames 10X" "${SMALL[@]}" --frames 10X
expect_bad "--frames 1000T" "${SMALL[@]}" --frames 1000T
expect_bad "--dist foo" "${SMALL[@]}" --dist foo
expect_bad "--dist trace:/nonexistent" "${SMALL[@]}" --dist trace:/nonexistent
expect_bad "--window > --frames" "${SMALL[@]}" --window 16M
expect_bad "--bogus" "${SMALL[@]}" --bogus
[ "$RC" -eq 2 ] || fail "--bogus: expected exit 2 (usage), got $RC"
expect_bad "--threads 0" "${SMALL[@]}" --threads 0
expect_bad "--page-size 3K" "${SMALL[@]}" --page-size 3K
expect_bad "--sweep page=4K,5K" "${SMALL[@]}" --sweep page=4K,5K
expect_bad "--file with another page size" "${SMALL[@]}" --file "$DATA" --page-size 8K
expect_bad "--file too small" "${SMALL[@]}" --file "$DATA" --data-size 64M
[ -f "$WORK/trace.txt" ] && [ "$(wc -c <"$DATA")" -eq "$SIZE_BEFORE" ] ||
    fail "(g) the data file changed"

# ---- (h) a corrupt data file ----------------------------------------------------------------------

step "(h) random bytes as --file"
head -c 1048576 /dev/urandom >"$WORK/random.bin"
cp "$WORK/random.bin" "$WORK/random.copy"
expect_bad "random --file" "${SMALL[@]}" --file "$WORK/random.bin"
[ "$RC" -eq 1 ] || fail "(h) expected exit 1, got $RC"
grep -q 'not an awecache data file' "$ERR" || fail "(h) expected 'not an awecache data file'"
cmp -s "$WORK/random.bin" "$WORK/random.copy" || fail "(h) the file's bytes changed"

# ---- (i) --help ---------------------------------------------------------------------------------

step "(i) --help"
expect_ok --help
grep -q 'usage: awecache-bench \[OPTIONS\]' "$OUT" || fail "(i) expected the usage"
for opt in --file --data-size --page-size --frames --window --dist --reads --threads \
    --duration --ops --warmup --batch --seed --compare --sweep --out --json --csv --keep \
    --no-direct --quiet --medium --repeat; do
    grep -q -- "$opt" "$OUT" || fail "(i) expected $opt in the help"
done

# ---- (j) --repeat -------------------------------------------------------------------------------

step "(j) --repeat 2 --compare"
expect_ok "${SMALL[@]}" --frames 16M --duration 0.3s --quiet --file "$DATA" --compare \
    --repeat 2
for side in awecache mmap pread-pool direct; do
    grep -Eq "^$side +[0-9.]+( [kMG])? \([0-9.]+( [kMG])?-[0-9.]+( [kMG])?\) " "$OUT" ||
        fail "(j) expected $side's row with 'MEDIAN (MIN-MAX)'"
done
grep -q 'repeat 2 (median, min-max)' "$OUT" || fail "(j) expected 'repeat 2' in the header"
expect_ok "${SMALL[@]}" --frames 16M --duration 0.3s --quiet --file "$DATA" --compare \
    --repeat 2 --json
for key in ops_per_s_median ops_per_s_min ops_per_s_max ops_per_s_runs repeat medium; do
    grep -q "\"$key\"" "$OUT" || fail "(j) expected the key \"$key\" in the JSON"
done
[ "$(json_side_ops | awk '{ printf "%s ", $1 }')" = "awecache mmap pread-pool direct " ] ||
    fail "(j) expected results for awecache, mmap, pread-pool and direct"
expect_json_medians "(j)" ops_per_s:ratio_vs_awecache
expect_ok "${SMALL[@]}" --duration 0.3s --quiet --file "$DATA" --repeat 2 --csv
head -n 1 "$OUT" | grep -q ',ops_per_s_median,ops_per_s_min,ops_per_s_max,repeat,medium,' ||
    fail "(j) expected the CSV's median, min, max, repeat and medium columns"
sed -n 2p "$OUT" | grep -Eq '^awecache,true,.*,2,disk,' || fail "(j) expected repeat 2, disk"

step "(j) bad values"
expect_bad "--repeat 0" "${SMALL[@]}" --repeat 0
[ "$RC" -eq 2 ] || fail "--repeat 0: expected exit 2, got $RC"
expect_bad "--medium bogus" "${SMALL[@]}" --medium bogus
[ "$RC" -eq 2 ] || fail "--medium bogus: expected exit 2, got $RC"
expect_bad "--medium ram --file" "${SMALL[@]}" --medium ram --file "$DATA"
[ "$RC" -eq 2 ] || fail "--medium ram --file: expected exit 2, got $RC"
expect_bad "--medium ram --keep" "${SMALL[@]}" --medium ram --keep
[ "$RC" -eq 2 ] || fail "--medium ram --keep: expected exit 2, got $RC"

# ---- (k) --medium ram -------------------------------------------------------------------------

# ours_left PID: what a run with that process id left behind, one line each (none: nothing): a
# loop device bound to its memfd (losetup -a, or /sys/block where losetup is missing), a loop or
# ext4 mount of it in /proc/mounts, a /dev/shm entry of it.
ours_left() {
    local name="awecache-ramdisk-$1" f
    if command -v losetup >/dev/null 2>&1; then
        losetup -a 2>/dev/null | grep -F "$name " || true
    fi
    for f in /sys/block/loop*/loop/backing_file; do
        [ -r "$f" ] && grep -F "$name " "$f" 2>/dev/null | sed "s|^|$f: |"
    done
    grep -F "$name" /proc/mounts || true
    for f in /dev/shm/*"$name"*; do
        [ -e "$f" ] && echo "$f"
    done
}

# wait_gone PID WHAT: waits up to 5 s for ours_left PID to be empty; fails otherwise.
wait_gone() {
    local left
    for _ in $(seq 50); do
        left=$(ours_left "$1")
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    fail "$2: left behind: $left"
}

step "(k) --medium ram"
expect_ok "${SMALL[@]}" --duration 0.5s --quiet --compare --frames 16M --medium ram --json
if grep -q '"medium": *"disk"' "$OUT"; then
    WHY=$(grep -o '"medium_detail": *"[^"]*"' "$OUT" | sed 's/^"medium_detail": *//')
    echo "SKIP (k): no RAM disk here: $WHY"
else
    grep -q '"medium": *"ram"' "$OUT" || fail "(k) expected \"medium\": \"ram\" in the JSON"
    LOOPDEV=$(grep -o '"medium_detail": *"ext4 on /dev/loop[0-9]*' "$OUT" | grep -o '/dev/loop[0-9]*')
    [ -n "$LOOPDEV" ] || fail "(k) expected the loop device in \"medium_detail\""
    [ "$(json_side_ops | awk '$2 + 0 > 0' | wc -l)" -eq 4 ] ||
        fail "(k) expected 4 sides with ops_per_s > 0"
    # The process is gone: nothing of any awecache RAM disk may be left by it. Its pid is not
    # known here, so look for every one of ours that no live process owns.
    for f in /sys/block/loop*/loop/backing_file; do
        [ -r "$f" ] || continue
        pid=$(sed -n 's|.*/memfd:awecache-ramdisk-\([0-9]*\).*|\1|p' "$f")
        [ -z "$pid" ] || [ -d "/proc/$pid" ] || fail "(k) $f: a RAM disk of a dead run is left"
    done
    ! grep -q "^$LOOPDEV " /proc/mounts || fail "(k) $LOOPDEV is mounted after the run"
    expect_ok "${SMALL[@]}" --duration 0.3s --quiet --medium ram
    grep -q '^medium ram (ext4 on /dev/loop' "$OUT" || fail "(k) expected the medium in the header"
    expect_ok "${SMALL[@]}" --duration 0.3s --quiet --medium ram --csv
    sed -n 2p "$OUT" | grep -Eq '^awecache,true,.*,1,ram,' || fail "(k) expected ram in the CSV"

    for sig in KILL TERM; do
        step "(k) --medium ram, SIG$sig while it runs"
        TMPDIR="$WORK" "$TOOL" --data-size 64M --frames 16M --window 4M --threads 2 \
            --duration 30s --quiet --medium ram >"$OUT" 2>"$ERR" &
        PID=$!
        for _ in $(seq 100); do
            [ -n "$(ours_left "$PID")" ] && break
            sleep 0.1
        done
        [ -n "$(ours_left "$PID")" ] || { kill -KILL "$PID"; fail "(k) no RAM disk of $PID seen"; }
        sleep 1
        kill -"$sig" "$PID"
        wait "$PID" 2>/dev/null
        RC=$?
        [ "$RC" -ne 0 ] || fail "(k) SIG$sig: expected a nonzero exit"
        wait_gone "$PID" "(k) SIG$sig"
    done
fi

# ---- (l) `awecache bench` points at awecache-bench ---------------------------------------------

step "(l) awecache bench"
if [ -z "${AWC_TOOL:-}" ]; then
    echo "SKIP (l): AWC_TOOL (the awecache tool) is not set"
else
    for args in "bench" "bench --compare" "help bench"; do
        # shellcheck disable=SC2086 # the words of $args are the arguments
        TMPDIR="$WORK" "$AWC_TOOL" $args >"$OUT" 2>"$ERR"
        RC=$?
        [ "$RC" -eq 2 ] || fail "(l) awecache $args: expected exit 2, got $RC"
        if [ "$(wc -l <"$ERR")" -ne 1 ] || ! grep -q 'awecache-bench' "$ERR"; then
            fail "(l) awecache $args: expected one line on stderr naming awecache-bench"
        fi
        [ ! -s "$OUT" ] || fail "(l) awecache $args: expected nothing on stdout"
    done
fi

expect_none_left "the end"
echo "PASS"
rm -rf "$WORK"
exit 0
