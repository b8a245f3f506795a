#!/usr/bin/env bash
# tests/cli/test_cli_bench_bt.sh: `awecache-bench --btree`: the B+-tree benchmark, its sides, its
# outputs, and what it does with bad input. Small and short: a 2 MiB RAM budget (about 5,900
# items of 100-byte values with --data-size fit), parts of 200 ms after a warm-up of 200
# operations.
#
# Usage: test_cli_bench_bt.sh TOOL ROOT TMPDIR
#   TOOL    the built awecache-bench binary
#   ROOT    the repository root (unused)
#   TMPDIR  a scratch directory for this test: made afresh, removed when every check passed
# Environment: AWC_KV_BUILT, a comma list of the baselines CMake found (rocksdb, lmdb): each
# must then run; the others must say they are not built.
#
# (a) a plain run: exit 0, the configuration line, the rates table with every operation at 1
#     and 2 threads and the memory table, no store left in $TMPDIR;
# (b) --json: a result per operation and side, awecache, lmdb and rocksdb in that order; a side
#     built in ran every operation (ok, per_s > 0), one not built says "not built";
# (c) --csv --repeat 2 --threads 1: a header and a row per operation and side (the loads and the
#     four parts at 1 thread), every built side's over 2 runs with min <= median <= max;
# (d) --data-size 4x: more items than the budget holds (the configuration line says so);
# (e) --keep --dir: the randomly loaded stores are kept where --dir says;
# (f) SIGTERM during a run: exit 1, one line on stderr saying "interrupted", no store left;
# (g) bad input: exit 1 or 2 (2 for usage), exactly one line on stderr, no store left;
# (h) --help (awecache-bench --btree --help, and awecache-bench --help naming --btree);
# (i) LMDB given less address space than its map wants (ulimit -v, as a 32-bit process has for
#     a tree over a few GiB): its side takes the largest map it can get, its load fails with
#     LMDB's own MDB_MAP_FULL in its row, every awecache figure is still printed, exit 1, no
#     store left. Only where LMDB is built and RocksDB is not (a RocksDB side would run under
#     the same limit), and skipped where the program cannot start under it (a sanitizer build
#     reserves terabytes of address space).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SMALL=(--btree --frames 2M --duration 200ms --warmup 200)
BUILT=",${AWC_KV_BUILT:-},"
OPS=("load random" "load sorted" "lookup uniform" "lookup zipf:0.99" "scan 100"
    "90/10 lookup/update")

LEFT='awecache-bt-*'

# built SIDE: true when SIDE runs in this build (awecache always).
built() {
    [ "$1" = awecache ] || [ "${BUILT#*,"$1",}" != "$BUILT" ]
}

# ---- (a) a plain run ----------------------------------------------------------------------------

step "(a) plain run"
expect_ok "${SMALL[@]}" --quiet
grep -q '^items .*RAM budget 2 MiB.*threads 1 and 2' "$OUT" ||
    fail "(a) expected the configuration line"
for col in 'operation' 'awecache/s' 'lmdb/s' 'rocksdb/s' 'awc/lmdb' 'awc/rocksdb' 'hit awecache' \
    'RAM used' 'RSS +' 'meta B/item' 'notes'; do
    grep -q "$col" "$OUT" || fail "(a) expected the column '$col'"
done
for op in "${OPS[@]}"; do
    grep -Eq "^$op +1 +[0-9]" "$OUT" || fail "(a) expected a row '$op' at 1 thread with a rate"
done
for op in "${OPS[@]:2}"; do
    grep -Eq "^$op +2 +[0-9]" "$OUT" || fail "(a) expected a row '$op' at 2 threads"
done
grep -Eq '^awecache +[0-9.]+ [KMG]iB' "$OUT" || fail "(a) expected awecache's memory row"
expect_none_left "(a)"

# ---- (b) --json ---------------------------------------------------------------------------------

step "(b) --json"
expect_ok "${SMALL[@]}" --quiet --json
python3 - "$OUT" "$BUILT" <<'EOF' || fail "(b) the JSON results"
import json, sys
doc = json.load(open(sys.argv[1]))
built = sys.argv[2]
assert doc["config"]["mode"] == "btree", doc["config"]
res = doc["results"]
assert len(res) == 10 * 3, len(res)
assert [r["side"] for r in res[:3]] == ["awecache", "lmdb", "rocksdb"], res[:3]
for r in res:
    if r["side"] == "awecache" or "," + r["side"] + "," in built:
        assert r["ok"] and r["per_s"] > 0, r
    elif not r["built"]:
        side = [s for s in doc["sides"] if s["side"] == r["side"]][0]
        assert side["note"].startswith("not built"), side
for r in res:
    if r["side"] == "awecache" and r["ok"]:
        assert abs(r["awecache_ratio"] - 1.0) < 1e-9, r
EOF
expect_none_left "(b)"

# ---- (c) --csv --repeat 2 --threads 1 -----------------------------------------------------------

step "(c) --csv --repeat 2 --threads 1"
expect_ok "${SMALL[@]}" --quiet --csv --repeat 2 --threads 1
head -n 1 "$OUT" | grep -q '^operation,threads,side,built,ok,per_s,per_s_min,per_s_max,runs,' ||
    fail "(c) expected the CSV header"
[ "$(wc -l <"$OUT")" -eq $((1 + 6 * 3)) ] || fail "(c) expected a header and 18 rows"
for side in awecache lmdb rocksdb; do
    built "$side" || continue
    awk -F, -v s="$side" '$3 == s { n++; if ($5 != "true" || $9 != 2 || $7 > $6 || $6 > $8)
        bad = 1 } END { exit bad || n != 6 }' "$OUT" ||
        fail "(c) expected 6 rows of $side, each over 2 runs with min <= median <= max"
done

# ---- (d) --data-size 4x -------------------------------------------------------------------------

step "(d) --data-size 4x"
expect_ok "${SMALL[@]}" --quiet --data-size 4x --threads 1 --duration 100ms
grep -q '^items .*4x the budget' "$OUT" || fail "(d) expected '4x the budget' in the line"
grep -Eq '^lookup uniform +1 +[0-9]' "$OUT" || fail "(d) expected the lookups' row"

# ---- (e) --keep --dir ---------------------------------------------------------------------------

step "(e) --keep --dir"
mkdir -p "$WORK/kept"
expect_ok "${SMALL[@]}" --quiet --keep --dir "$WORK/kept" --threads 1 --duration 100ms
[ -n "$(find "$WORK/kept" -maxdepth 1 -name 'awecache-bt-*.awc')" ] ||
    fail "(e) expected the awecache store kept in $WORK/kept"
[ -z "$(find "$WORK/kept" -maxdepth 1 -name 'awecache-bt-*-sorted*')" ] ||
    fail "(e) expected the sorted loads' stores removed"
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
expect_bad "--items and --data-size" "${SMALL[@]}" --items 100 --data-size 4x
expect_bad "--data-size 3x" "${SMALL[@]}" --data-size 3x
expect_bad "--data-size 0" "${SMALL[@]}" --data-size 0
expect_bad "--value-size 2K (over a node's item)" "${SMALL[@]}" --value-size 2K
expect_bad "--value-size 8" "${SMALL[@]}" --value-size 8
expect_bad "--repeat 0" "${SMALL[@]}" --repeat 0
expect_bad "--medium bogus" "${SMALL[@]}" --medium bogus
expect_bad "--medium ram --keep" "${SMALL[@]}" --medium ram --keep
expect_bad "--window > --frames" "${SMALL[@]}" --window 4M
expect_bad "--page-size 3K" "${SMALL[@]}" --page-size 3K
expect_bad "--threads 0" "${SMALL[@]}" --threads 0
expect_bad "--duration 0" "${SMALL[@]}" --duration 0
expect_bad "--json --csv" "${SMALL[@]}" --json --csv
expect_bad "--dist (not --btree's)" "${SMALL[@]}" --dist uniform
expect_bad "positional" "${SMALL[@]}" extra
expect_bad "--dir missing" "${SMALL[@]}" --dir "$WORK/no/such/dir"

# ---- (h) --help ---------------------------------------------------------------------------------

step "(h) --help"
expect_ok --btree --help
grep -q 'usage: awecache-bench --btree' "$OUT" || fail "(h) expected the usage"
for opt in --items --data-size --value-size --frames --window --page-size --threads --duration \
    --ops --warmup --seed --dir --medium --repeat --keep --json --csv --no-direct; do
    grep -q -- "$opt" "$OUT" || fail "(h) expected $opt in the help"
done
expect_ok --help
grep -q -- '--btree' "$OUT" || fail "(h) expected --btree in awecache-bench --help"

# ---- (i) LMDB's map larger than the address space -------------------------------------------

step "(i) LMDB's map larger than the address space"
VLIMIT=122880 # KiB: 120 MiB of address space (a map of 48 MiB here), where LMDB wants 386 MiB
if ! built lmdb || built rocksdb; then
    echo "(i) skipped: needs LMDB built and RocksDB not (AWC_KV_BUILT=${AWC_KV_BUILT:-})"
elif ! (ulimit -v "$VLIMIT" && "$TOOL" --help >/dev/null 2>&1); then
    echo "(i) skipped: the program cannot start with ulimit -v $VLIMIT (a sanitizer build?)"
else
    (
        ulimit -v "$VLIMIT"
        run --btree --frames 32M --data-size 32M --value-size 1000 --threads 1 \
            --duration 100ms --warmup 100 --quiet
        exit "$RC"
    )
    RC=$?
    [ "$RC" -eq 1 ] || fail "(i) expected exit 1 (LMDB's side failed), got $RC"
    grep -Eq '^lmdb .*FAILED: mdb_(put|txn_commit).*MDB_MAP_FULL: .*of the load.*a map of [0-9]+ MiB, all this address space gave' "$OUT" ||
        fail "(i) expected LMDB's row with its MDB_MAP_FULL, the item and the map"
    grep -q 'lmdb: .*MDB_MAP_FULL' "$ERR" || fail "(i) expected LMDB's error on stderr"
    for op in "${OPS[@]}"; do
        grep -Eq "^$op +1 +[0-9.]+( [kMG])? +- " "$OUT" ||
            fail "(i) expected awecache's rate and no LMDB figure in the row '$op'"
    done
    expect_none_left "(i)"
fi

rm -rf "$WORK"
echo "PASS"
