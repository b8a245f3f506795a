#!/usr/bin/env bash
# tests/cli/test_cli_bench.sh: `awecache bench`: its outputs, its sides, its workloads, its sweep,
# and what it does with bad input. Small and short: 32 MiB of data, 8 MiB of frames, a 1 MiB
# window, 2 threads, 1 s per run (a short warm-up).
#
# Usage: test_cli_bench.sh TOOL ROOT TMPDIR
#   TOOL    the built awecache binary
#   ROOT    the repository root (unused: everything is made here)
#   TMPDIR  a scratch directory for this test: made afresh, removed when every check passed
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
# (i) --help exits 0 and prints the usage.
# Stops at the first failure with a message saying what was expected.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DATA="$WORK/data.dat"
# The run every check starts from: small, short, with a warm-up of a few hundred operations.
SMALL=(--data-size 32M --frames 8M --window 1M --threads 2 --duration 1s --warmup 300)

# default_files: the default data files (awecache-bench-*.dat*) in $WORK, one per line.
default_files() {
    find "$WORK" -maxdepth 1 -name 'awecache-bench-*' -print
}

# expect_no_default_files WHAT: no default data file is left in $WORK.
expect_no_default_files() {
    local left
    left=$(default_files)
    [ -z "$left" ] || fail "$1: data file(s) left behind: $left"
}

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

# expect_bad WHAT ARGS...: exit 1 or 2, exactly one line on stderr, no data file left behind.
expect_bad() {
    local what=$1
    shift
    run "$@"
    [ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || fail "$what: expected exit 1 or 2, got $RC"
    [ "$(wc -l <"$ERR")" -eq 1 ] || fail "$what: expected exactly one line on stderr"
    expect_no_default_files "$what"
}

# ---- (a) a plain run with the default data file ----------------------------------------------

step "(a) plain run, default data file"
expect_ok bench "${SMALL[@]}"
grep -q '^side ' "$OUT" || fail "(a) expected a table header starting with 'side'"
for col in 'ops/s' 'MiB/s' 'hit ratio' 'RAM used' 'vs awecache' 'notes'; do
    grep -q "$col" "$OUT" || fail "(a) expected the column '$col'"
done
expect_table_row awecache
grep -Eq '^awecache .* 1\.00x' "$OUT" || fail "(a) expected awecache at 1.00x of itself"
grep -q 'frames' "$OUT" || fail "(a) expected the configuration line before the table"
expect_no_default_files "(a) the default data file"

# ---- (b) --file: made once, kept --------------------------------------------------------------

step "(b) --file made and kept"
expect_ok bench "${SMALL[@]}" --quiet --file "$DATA"
[ -f "$DATA" ] || fail "(b) expected $DATA to be kept"
expect_table_row awecache
SIZE_BEFORE=$(wc -c <"$DATA")

# ---- (c) --json and --csv ---------------------------------------------------------------------

step "(c) --json"
expect_ok bench "${SMALL[@]}" --quiet --file "$DATA" --json
for key in config results side ok error ops reads writes seconds ops_per_s mib_per_s hits \
    misses hit_ratio window_hits frame_hits bytes_read bytes_written mem_bytes \
    ratio_vs_awecache note; do
    grep -q "\"$key\"" "$OUT" || fail "(c) expected the key \"$key\" in the JSON"
done
[ "$(json_side_ops | wc -l)" -eq 1 ] || fail "(c) expected one result in the JSON"

step "(c) --csv"
expect_ok bench "${SMALL[@]}" --quiet --file "$DATA" --csv
head -n 1 "$OUT" | grep -q '^side,ok,error,ops,.*ops_per_s,.*hit_ratio,.*ratio_vs_awecache,note$' ||
    fail "(c) expected the CSV header"
[ "$(wc -l <"$OUT")" -eq 2 ] || fail "(c) expected a header and one row"
sed -n 2p "$OUT" | grep -q '^awecache,true,' || fail "(c) expected the awecache row, ok"
[ "$(wc -c <"$DATA")" -eq "$SIZE_BEFORE" ] || fail "(b) the kept data file changed size"

# ---- (d) --compare ----------------------------------------------------------------------------

step "(d) --compare"
# 16 MiB of frames here: under an 8 MiB memory cgroup the mmap side is OOM-killed (exit 137).
expect_ok bench "${SMALL[@]}" --frames 16M --quiet --file "$DATA" --compare --json
PAIRS=$(json_side_ops)
for side in awecache mmap pread-pool direct; do
    echo "$PAIRS" | awk -v s="$side" '$1 == s && $2 + 0 > 0 { found = 1 } END { exit !found }' ||
        fail "(d) expected a result for $side with ops_per_s > 0 (got: $PAIRS)"
done
[ "$(echo "$PAIRS" | wc -l)" -eq 4 ] || fail "(d) expected 4 results (got: $PAIRS)"

# ---- (e) --batch and the workloads ------------------------------------------------------------

step "(e) --batch 16"
expect_ok bench "${SMALL[@]}" --quiet --file "$DATA" --batch 16
expect_table_row awecache

seq 0 3 30000 >"$WORK/trace.txt"
for dist in uniform zipf:1.2 seq mix:0.2 "trace:$WORK/trace.txt"; do
    step "(e) --dist $dist"
    expect_ok bench "${SMALL[@]}" --quiet --file "$DATA" --dist "$dist" --ops 5000
    expect_table_row awecache
done

# ---- (f) --sweep --------------------------------------------------------------------------------

step "(f) --sweep window=512K,1M,2M"
rm -f "$WORK/sw.csv" "$WORK/sw.png"
run bench "${SMALL[@]}" --quiet --file "$DATA" --sweep window=512K,1M,2M --out "$WORK/sw"
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
TMPDIR="$WORK" PATH=/nonexistent "$TOOL" bench "${SMALL[@]}" --quiet --file "$DATA" \
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
expect_bad "--frames 10X" bench "${SMALL[@]}" --frames 10X
expect_bad "--frames 1000T" bench "${SMALL[@]}" --frames 1000T
expect_bad "--dist foo" bench "${SMALL[@]}" --dist foo
expect_bad "--dist trace:/nonexistent" bench "${SMALL[@]}" --dist trace:/nonexistent
expect_bad "--window > --frames" bench "${SMALL[@]}" --window 16M
expect_bad "--bogus" bench "${SMALL[@]}" --bogus
[ "$RC" -eq 2 ] || fail "--bogus: expected exit 2 (usage), got $RC"
expect_bad "--threads 0" bench "${SMALL[@]}" --threads 0
expect_bad "--page-size 3K" bench "${SMALL[@]}" --page-size 3K
expect_bad "--sweep page=4K,5K" bench "${SMALL[@]}" --sweep page=4K,5K
expect_bad "--file with another page size" bench "${SMALL[@]}" --file "$DATA" --page-size 8K
expect_bad "--file too small" bench "${SMALL[@]}" --file "$DATA" --data-size 64M
[ -f "$WORK/trace.txt" ] && [ "$(wc -c <"$DATA")" -eq "$SIZE_BEFORE" ] ||
    fail "(g) the data file changed"

# ---- (h) a corrupt data file ----------------------------------------------------------------------

step "(h) random bytes as --file"
head -c 1048576 /dev/urandom >"$WORK/random.bin"
cp "$WORK/random.bin" "$WORK/random.copy"
expect_bad "random --file" bench "${SMALL[@]}" --file "$WORK/random.bin"
[ "$RC" -eq 1 ] || fail "(h) expected exit 1, got $RC"
grep -q 'not an awecache data file' "$ERR" || fail "(h) expected 'not an awecache data file'"
cmp -s "$WORK/random.bin" "$WORK/random.copy" || fail "(h) the file's bytes changed"

# ---- (i) --help ---------------------------------------------------------------------------------

step "(i) --help"
expect_ok bench --help
grep -q 'usage: awecache bench' "$OUT" || fail "(i) expected the usage"
for opt in --file --data-size --page-size --frames --window --dist --reads --threads \
    --duration --ops --warmup --batch --seed --compare --sweep --out --json --csv --keep \
    --no-direct --quiet; do
    grep -q -- "$opt" "$OUT" || fail "(i) expected $opt in the help"
done

expect_no_default_files "the end"
echo "PASS"
rm -rf "$WORK"
exit 0
