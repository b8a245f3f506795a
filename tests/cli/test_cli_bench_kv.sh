#!/usr/bin/env bash
# tests/cli/test_cli_bench_kv.sh: `awecache-bench --kv`: the key-value benchmark, its sides, its
# outputs, and what it does with bad input. Small and short: 4 MiB of values (about 2,000
# items), a 2 MiB RAM budget, 2 threads, runs of 0.5 to 1 s after a warm-up of 200 operations.
#
# Usage: test_cli_bench_kv.sh TOOL ROOT TMPDIR
#   TOOL    the built awecache-bench binary
#   ROOT    the repository root (unused)
#   TMPDIR  a scratch directory for this test: made afresh, removed when every check passed
# Environment: AWC_KV_BUILT, a comma list of the baselines CMake found (rocksdb, lmdb): each
# must then run; the others must say they are not built.
#
# (a) a plain run: exit 0, the configuration line, a table with every column and an awecache
#     row at 1.00x, no store left in $TMPDIR;
# (b) --compare --json --batch 8: one result per side, awecache, rocksdb and lmdb in that
#     order; a side built in ran with its batched gets (ok, ops_per_s > 0, found_ratio 1: every
#     value checked), one not built says "not built"; the table of --compare has a row per side;
# (c) --csv: a header and one row; --dist uniform; --value-size with one size;
# (d) --ttl 1ms: awecache's items expire, so most gets miss (found_ratio below 0.5);
# (e) --keep --dir: the stores are kept where --dir says;
# (f) SIGTERM during a run: exit 1, one line on stderr saying "interrupted", no store left;
# (g) bad input: exit 1 or 2 (2 for usage), exactly one line on stderr, no store left;
# (h) --help (awecache-bench --kv --help, and awecache-bench --help naming --kv);
# (i) --repeat 2 --compare: each side's medians with min-max in the table ("N (MIN-MAX)"), in
#     the JSON (NAME_median, _min, _max, _runs of two runs; the ratios from the medians) and in
#     the CSV (a median row and a row per run);
# (j) --medium ram (skipped, with the reason printed, when not root, without a loop device or
#     mkfs.ext4, or when the program falls back to the disk, as under ThreadSanitizer): every
#     side runs on the RAM disk, which is gone after the run;
# (k) --kv-reopen with 2,000 and 5,000 items: a section and a table row for each, the clean
#     reopen and the one after kill -9 load the checkpoint, the damaged one scans, no file left;
#     too few items or an unknown option: one line on stderr, exit 1 or 2.
# Under ThreadSanitizer every side runs too (RocksDB and LMDB are not instrumented: only the
# program's own accesses are checked); the runs are as short.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SMALL=(--kv --data-size 4M --frames 2M --threads 2 --duration 1s --warmup 200)
BUILT=",${AWC_KV_BUILT:-},"

LEFT='awecache-kv-*'

# json_results: "side built ok ops_per_s found_ratio" for each result of the JSON on stdout.
json_results() {
    tr -d '\n' <"$OUT" | grep -o '"results": *\[.*' | grep -oE '\{[^{}]*\}' |
        awk '{
            n = split("side built ok ops_per_s found_ratio", keys, " ")
            line = ""
            for (i = 1; i <= n; i++) {
                v = "?"
                if (match($0, "\"" keys[i] "\": *(\"[^\"]*\"|[^,}]*)")) {
                    v = substr($0, RSTART, RLENGTH)
                    sub(/^"[^"]*": */, "", v)
                    gsub(/"/, "", v)
                }
                line = line (i > 1 ? " " : "") v
            }
            print line
        }'
}

# ---- (a) a plain run ----------------------------------------------------------------------------

step "(a) plain run"
expect_ok "${SMALL[@]}"
grep -q '^items .*RAM budget 2 MiB' "$OUT" || fail "(a) expected the configuration line"
for col in 'load/s' 'ops/s' 'gets/s' 'puts/s' 'found' 'RAM hit' 'meta B/item' 'RAM used' \
    'RSS +' 'vs awecache' 'notes'; do
    grep -q "$col" "$OUT" || fail "(a) expected the column '$col'"
done
grep -Eq '^awecache +[0-9].* 100\.0% .* 1\.00x' "$OUT" ||
    fail "(a) expected an awecache row, every get found, at 1.00x of itself"
expect_none_left "(a)"

# ---- (b) --compare ------------------------------------------------------------------------------

step "(b) --compare --json --batch 8"
expect_ok "${SMALL[@]}" --quiet --compare --json --batch 8
RESULTS=$(json_results)
[ "$(echo "$RESULTS" | awk '{ printf "%s ", $1 }')" = "awecache rocksdb lmdb " ] ||
    fail "(b) expected results for awecache, rocksdb, lmdb (got: $RESULTS)"
for side in awecache rocksdb lmdb; do
    line=$(echo "$RESULTS" | awk -v s="$side" '$1 == s')
    if [ "$side" = awecache ] || [ "${BUILT#*,"$side",}" != "$BUILT" ]; then
        echo "$line" | awk '$2 == "true" && $3 == "true" && $4 + 0 > 0 && $5 + 0 == 1 {
            ok = 1 } END { exit !ok }' ||
            fail "(b) expected $side to run, ok, every get found (got: $line)"
    elif echo "$line" | awk '$2 == "true" { exit 0 } { exit 1 }'; then
        echo "$line" | awk '$3 == "true" && $4 + 0 > 0 { ok = 1 } END { exit !ok }' ||
            fail "(b) $side is built in (though CMake did not say so) but failed (got: $line)"
    else
        grep -q "\"note\": *\"not built" "$OUT" || fail "(b) expected $side to say 'not built'"
    fi
done
expect_none_left "(b)"

step "(b) --compare table"
expect_ok "${SMALL[@]}" --quiet --compare --duration 500ms
for side in awecache rocksdb lmdb; do
    grep -Eq "^$side +([0-9]|- .*not built)" "$OUT" || fail "(b) expected a table row for $side"
done
expect_none_left "(b) table"

# ---- (c) --csv and the options ------------------------------------------------------------------

step "(c) --csv, --dist uniform, --value-size 512"
expect_ok "${SMALL[@]}" --quiet --csv --dist uniform --value-size 512 --duration 500ms
head -n 1 "$OUT" | grep -q '^side,built,ok,error,load_items,.*ops_per_s,.*found_ratio,.*note$' ||
    fail "(c) expected the CSV header"
[ "$(wc -l <"$OUT")" -eq 2 ] || fail "(c) expected a header and one row"
sed -n 2p "$OUT" | grep -q '^awecache,true,true,,8192,' ||
    fail "(c) expected the awecache row, ok, 8192 items of 512 bytes"

# ---- (d) --ttl ----------------------------------------------------------------------------------

step "(d) --ttl 1ms"
expect_ok "${SMALL[@]}" --quiet --json --ttl 1ms --duration 500ms
json_results | awk '$1 == "awecache" && $3 == "true" && $5 + 0 < 0.5 { ok = 1 }
    END { exit !ok }' || fail "(d) expected most gets to miss once the items expired"

# ---- (e) --keep --dir ---------------------------------------------------------------------------

step "(e) --keep --dir"
mkdir -p "$WORK/kept"
expect_ok "${SMALL[@]}" --quiet --keep --dir "$WORK/kept" --duration 500ms
[ -n "$(find "$WORK/kept" -maxdepth 1 -name 'awecache-kv-*.awc')" ] ||
    fail "(e) expected the awecache store kept in $WORK/kept"
expect_none_left "(e) nothing in \$TMPDIR itself"
rm -rf "$WORK/kept"

# ---- (f) SIGTERM --------------------------------------------------------------------------------

step "(f) SIGTERM during a run"
expect_sigterm "(f)" "${SMALL[@]}" --quiet --duration 60s

# ---- (g) bad input ------------------------------------------------------------------------------

step "(g) bad input"
expect_bad "--bogus" "${SMALL[@]}" --bogus
[ "$RC" -eq 2 ] || fail "--bogus: expected exit 2 (usage), got $RC"
expect_bad "--items 0" "${SMALL[@]}" --items 0
expect_bad "--items and --data-size" "${SMALL[@]}" --items 100
expect_bad "--value-size 8-100" "${SMALL[@]}" --value-size 8-100
expect_bad "--value-size 200-100" "${SMALL[@]}" --value-size 200-100
expect_bad "--value-size 1-2-3" "${SMALL[@]}" --value-size 1-2-3
expect_bad "--value-size 65M" "${SMALL[@]}" --value-size 65M
expect_bad "--dist seq" "${SMALL[@]}" --dist seq
expect_bad "--dist zipf:-1" "${SMALL[@]}" --dist zipf:-1
expect_bad "--reads 2" "${SMALL[@]}" --reads 2
expect_bad "--frames 10X" "${SMALL[@]}" --frames 10X
expect_bad "--frames 1000T" "${SMALL[@]}" --frames 1000T
expect_bad "--window > --frames" "${SMALL[@]}" --window 4M
expect_bad "--page-size 3K" "${SMALL[@]}" --page-size 3K
expect_bad "--threads 0" "${SMALL[@]}" --threads 0
expect_bad "--batch 0" "${SMALL[@]}" --batch 0
expect_bad "--batch 257" "${SMALL[@]}" --batch 257
expect_bad "--duration 0" "${SMALL[@]}" --duration 0
expect_bad "--ttl 0" "${SMALL[@]}" --ttl 0
expect_bad "--json --csv" "${SMALL[@]}" --json --csv
expect_bad "--sweep" "${SMALL[@]}" --sweep window=1M
expect_bad "positional" "${SMALL[@]}" extra
expect_bad "--dir missing" "${SMALL[@]}" --dir "$WORK/no/such/dir"
for bad in "--repeat 0" "--repeat 101" "--repeat x" "--medium bogus" "--medium ram --keep"; do
    # shellcheck disable=SC2086 # the words of $bad are the options
    expect_bad "$bad" "${SMALL[@]}" $bad
    [ "$RC" -eq 2 ] || fail "$bad: expected exit 2 (usage), got $RC"
done
expect_bad "--medium ram --dir" "${SMALL[@]}" --medium ram --dir "$WORK"
[ "$RC" -eq 2 ] || fail "--medium ram --dir: expected exit 2 (usage), got $RC"
expect_bad "--frames 1M (no frames beside the index)" --kv --items 200k --frames 1M \
    --duration 1s --quiet
[ "$RC" -eq 1 ] || fail "--frames 1M: expected exit 1 (the side cannot run), got $RC"

# ---- (h) --help ---------------------------------------------------------------------------------

step "(h) --help"
expect_ok --kv --help
grep -q 'usage: awecache-bench --kv' "$OUT" || fail "(h) expected the usage"
for opt in --items --data-size --value-size --frames --window --page-size --dist --reads \
    --threads --duration --ops --warmup --seed --ttl --dir --batch --medium --repeat --keep \
    --compare --json --csv --no-direct; do
    grep -q -- "$opt" "$OUT" || fail "(h) expected $opt in the help"
done
expect_ok --help
grep -q -- '--kv' "$OUT" || fail "(h) expected --kv in awecache-bench --help"

# ---- (i) --repeat 2 -----------------------------------------------------------------------------

# built SIDE: awecache, or a baseline built in.
built() {
    [ "$1" = awecache ] || [ "${BUILT#*,"$1",}" != "$BUILT" ]
}

MEDIAN='[0-9.]+( [kMG])? \([0-9.]+( [kMG])?-[0-9.]+( [kMG])?\)'

step "(i) --repeat 2 --compare"
expect_ok "${SMALL[@]}" --quiet --compare --repeat 2 --duration 300ms
grep -q 'repeat 2 (median, min-max), medium disk' "$OUT" ||
    fail "(i) expected 'repeat 2 (median, min-max), medium disk' in the configuration line"
for side in awecache rocksdb lmdb; do
    built "$side" || continue
    grep -Eq "^$side +$MEDIAN +$MEDIAN +$MEDIAN +$MEDIAN +100\.0% " "$OUT" ||
        fail "(i) expected $side's load/s, ops/s, gets/s and puts/s as 'MEDIAN (MIN-MAX)'"
done
expect_none_left "(i) table"

step "(i) --repeat 2 --compare --json"
expect_ok "${SMALL[@]}" --quiet --compare --repeat 2 --duration 300ms --json
for key in ops_per_s_median ops_per_s_min ops_per_s_max ops_per_s_runs load_per_s_runs \
    gets_per_s_median puts_per_s_max load_ratio_vs_awecache repeat medium; do
    grep -q "\"$key\"" "$OUT" || fail "(i) expected the key \"$key\" in the JSON"
done
expect_json_medians "(i)" load_per_s:load_ratio_vs_awecache ops_per_s:ratio_vs_awecache \
    gets_per_s puts_per_s
json_results | awk -v built="$BUILT" '{ b = index(built, "," $1 ",") || $1 == "awecache" }
    b && ($2 != "true" || $3 != "true" || $5 + 0 != 1) || !b && $3 != "false" { bad = 1 }
    END { exit bad || NR != 3 }' || fail "(i) expected every side built in to run, every get found"

step "(i) --repeat 2 --csv"
expect_ok "${SMALL[@]}" --quiet --repeat 2 --duration 300ms --csv
head -n 1 "$OUT" | grep -q ',ratio_vs_awecache,load_ratio_vs_awecache,run,repeat,medium,.*,puts_per_s_max,note$' ||
    fail "(i) expected the CSV's run, repeat, medium, min and max columns"
[ "$(wc -l <"$OUT")" -eq 4 ] || fail "(i) expected a header, a median row and a row per run"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { run[NR] = $col["run"]; ok = ok && $col["repeat"] == 2 && $col["medium"] == "disk" &&
      $col["side"] == "awecache" && $col["ok"] == "true" }
    NR == 2 { ok = 1; lo = $col["ops_per_s_min"]; hi = $col["ops_per_s_max"]
              med = $col["ops_per_s"] }
    NR > 2 { v[NR] = $col["ops_per_s"] }
    END { exit !(ok && run[2] == "median" && run[3] == 1 && run[4] == 2 && lo <= med &&
                 med <= hi && (v[3] == lo || v[3] == hi) && (v[4] == lo || v[4] == hi)) }' \
    "$OUT" || fail "(i) expected the median row, then runs 1 and 2 within its min and max"

# ---- (j) --medium ram ---------------------------------------------------------------------------

step "(j) --medium ram"
MKFS=$(command -v mkfs.ext4)
for f in /usr/sbin/mkfs.ext4 /sbin/mkfs.ext4; do
    [ -n "$MKFS" ] || [ ! -x "$f" ] || MKFS=$f
done
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP (j): not root (a RAM disk needs a loop device and a mount)"
elif [ ! -e /dev/loop-control ]; then
    echo "SKIP (j): no loop devices here (/dev/loop-control is missing)"
elif [ -z "$MKFS" ]; then
    echo "SKIP (j): no mkfs.ext4 (e2fsprogs)"
else
    expect_ok "${SMALL[@]}" --quiet --compare --repeat 2 --duration 300ms --medium ram --json
    if grep -q '"medium": *"disk"' "$OUT"; then
        WHY=$(grep -o '"medium_detail": *"[^"]*"' "$OUT" | sed 's/^"medium_detail": *//')
        echo "SKIP (j): the program could not make the RAM disk: $WHY"
    else
        LOOPDEV=$(grep -o '"medium_detail": *"ext4 on /dev/loop[0-9]*' "$OUT" |
            grep -o '/dev/loop[0-9]*')
        [ -n "$LOOPDEV" ] || fail "(j) expected the loop device in \"medium_detail\""
        for side in awecache rocksdb lmdb; do
            built "$side" || continue
            json_results | awk -v s="$side" '$1 == s && $3 == "true" && $4 + 0 > 0 &&
                $5 + 0 == 1 { ok = 1 } END { exit !ok }' ||
                fail "(j) expected $side to run on the RAM disk, every get found"
        done
        ! grep -q "^$LOOPDEV " /proc/mounts || fail "(j) $LOOPDEV is mounted after the run"
        expect_ok "${SMALL[@]}" --quiet --duration 300ms --medium ram
        grep -q ', medium ram (ext4 on /dev/loop' "$OUT" ||
            fail "(j) expected the medium in the configuration line"
    fi
fi
expect_none_left "(j)"

# ---- (k) --kv-reopen ----------------------------------------------------------------------------

step "(k) --kv-reopen"
LEFT='awecache-reopen-*'
expect_ok --kv-reopen --items 2000,5000 --dir "$WORK" --frame-budget 4194304
for n in 2000 5000; do
    grep -q "^$n items" "$OUT" || fail "(k) expected a section for $n items"
    grep -q "^| $n | " "$OUT" || fail "(k) expected a table row for $n items"
done
[ "$(grep -c 'clean reopen .*index: checkpoint' "$OUT")" -eq 2 ] ||
    fail "(k) expected each clean reopen to load the checkpoint"
[ "$(grep -c 'after kill -9 (1 %) .*index: checkpoint' "$OUT")" -eq 2 ] ||
    fail "(k) expected each reopen after kill -9 to load the checkpoint"
[ "$(grep -c 'no checkpoint (scan) .*index: scan' "$OUT")" -eq 2 ] ||
    fail "(k) expected each reopen without a checkpoint to scan the log"
expect_none_left "(k)"
expect_bad "(k) --items below the 1,000 items read back" --kv-reopen --items 5 --dir "$WORK"
expect_bad "(k) an unknown option" --kv-reopen --bogus

rm -rf "$WORK"
echo "PASS"
