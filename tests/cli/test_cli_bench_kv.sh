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
# (h) --help (awecache-bench --kv --help, and awecache-bench --help naming --kv).
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
expect_bad "--frames 1M (no frames beside the index)" --kv --items 200k --frames 1M \
    --duration 1s --quiet
[ "$RC" -eq 1 ] || fail "--frames 1M: expected exit 1 (the side cannot run), got $RC"

# ---- (h) --help ---------------------------------------------------------------------------------

step "(h) --help"
expect_ok --kv --help
grep -q 'usage: awecache-bench --kv' "$OUT" || fail "(h) expected the usage"
for opt in --items --data-size --value-size --frames --window --page-size --dist --reads \
    --threads --duration --ops --warmup --seed --ttl --dir --keep --compare --json --csv \
    --no-direct; do
    grep -q -- "$opt" "$OUT" || fail "(h) expected $opt in the help"
done
expect_ok --help
grep -q -- '--kv' "$OUT" || fail "(h) expected --kv in awecache-bench --help"

rm -rf "$WORK"
echo "PASS"
