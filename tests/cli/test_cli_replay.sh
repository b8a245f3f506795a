#!/usr/bin/env bash
# tests/cli/test_cli_replay.sh: `awecache replay` on traces whose outcome is known.
#
# Usage: test_cli_replay.sh TOOL ROOT TMPDIR
#   TOOL    the built awecache binary
#   ROOT    the repository root (the real trace is ROOT/../shared/traces/cloudPhysicsIO.txt)
#   TMPDIR  a scratch directory for this test: made afresh, removed when every check passed
#
# (a) small synthetic traces with outcomes derived by hand (the numbers are in the comments),
#     checking the JSON report's keys and the table report;
# (b) the real trace, if it can be read (otherwise the reason is printed and only this part is
#     skipped): for 100, 1000 and 5000 frames under --policy clock-compat, the misses must equal
#     those of a reference Clock written below in awk from the trace README's description of
#     libCacheSim's Clock (nothing hard-coded);
# (c) bad input: one line on stderr, exit 2 for a usage error and 1 for a trace or I/O error,
#     nothing on stdout, and nothing left in the directory the tool's TMPDIR points at;
# (d) --help exits 0.
# The tool's temporary cache files go to $WORK/tmp (its TMPDIR), which must be empty after
# every run.
set -u

TOOL=${1:?usage: test_cli_replay.sh TOOL ROOT TMPDIR}
ROOT=${2:?usage: test_cli_replay.sh TOOL ROOT TMPDIR}
WORK=${3:?usage: test_cli_replay.sh TOOL ROOT TMPDIR}

rm -rf "$WORK"
TMPD="$WORK/tmp"
mkdir -p "$TMPD" || exit 1
export TMPDIR="$TMPD"

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() {
    echo "ok: $*"
}

# jget KEY FILE: the value of KEY in the JSON object in FILE (strings without their quotes).
jget() {
    sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\} *[,}]\{0,1\} *$/\1/p" "$2" | head -n 1
}

# tmp_empty LABEL: fails LABEL when the tool left something in its TMPDIR ($TMPD).
tmp_empty() {
    local left
    left=$(ls -A "$TMPD")
    if [ -n "$left" ]; then
        fail "$1: left behind in TMPDIR: $left"
        rm -rf "${TMPD:?}"/* "${TMPD:?}"/.[!.]* 2>/dev/null
    fi
}

# replay_json LABEL ARGS...: runs `awecache replay ARGS... --json --quiet` into $WORK/out.json;
# returns non-zero (with the failure counted) unless it exited 0 with nothing on stderr.
replay_json() {
    local label=$1 rc
    shift
    "$TOOL" replay "$@" --json --quiet >"$WORK/out.json" 2>"$WORK/err.txt"
    rc=$?
    tmp_empty "$label"
    if [ $rc -ne 0 ]; then
        fail "$label: exit $rc: $(cat "$WORK/err.txt")"
        return 1
    fi
    if [ -s "$WORK/err.txt" ]; then
        fail "$label: stderr not empty under --quiet: $(cat "$WORK/err.txt")"
        return 1
    fi
    return 0
}

# expect LABEL KEY=VALUE...: each KEY of $WORK/out.json must hold VALUE (compared as text).
expect() {
    local label=$1 kv key want got ok=1
    shift
    for kv in "$@"; do
        key=${kv%%=*}
        want=${kv#*=}
        got=$(jget "$key" "$WORK/out.json")
        if [ "$got" != "$want" ]; then
            fail "$label: $key is '$got', expected '$want'"
            ok=0
        fi
    done
    [ $ok -eq 1 ] && pass "$label"
}

# expect_num LABEL KEY VALUE: KEY must equal VALUE as a number (for ratios printed as reals).
expect_num() {
    local got
    got=$(jget "$2" "$WORK/out.json")
    if ! awk -v a="$got" -v b="$3" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-9 && d > -1e-9) }'
    then
        fail "$1: $2 is '$got', expected $3"
    fi
}

# ---- (a) synthetic traces -----------------------------------------------------------------

# A cyclic scan of k + 1 = 5 pages through k = 4 frames, 10 rounds: under Clock every slot's bit
# stays clear (no hit ever happens), so each miss evicts the page that comes next: 50 misses.
for _ in $(seq 1 10); do printf '0\n1\n2\n3\n4\n'; done >"$WORK/scan5.txt"
if replay_json "scan of 5 pages through 4 frames" "$WORK/scan5.txt" --frames 4 \
    --policy clock-compat; then
    expect "scan of 5 pages through 4 frames" requests=50 misses=50 hits=0 window_hits=0 \
        frame_hits=0 distinct_pages=5 frames=4 window_slots=4 policy=clock-compat \
        page_size=4096
    expect_num "scan of 5 pages through 4 frames" miss_ratio 1
    expect_num "scan of 5 pages through 4 frames" window_miss_ratio 1
fi

# 3 distinct pages repeated 10 times through 10 frames: the 3 compulsory misses, then hits in
# the window (which defaults to min(frames, 4096) = 10 slots). The policy defaults to "default".
for _ in $(seq 1 10); do printf '7\n8\n9\n'; done >"$WORK/three.txt"
if replay_json "3 pages through 10 frames" "$WORK/three.txt" --frames 10; then
    expect "3 pages through 10 frames" requests=30 misses=3 hits=27 window_hits=27 \
        frame_hits=0 distinct_pages=3 frames=10 window_slots=10 policy=default
    expect_num "3 pages through 10 frames" miss_ratio 0.1
    expect_num "3 pages through 10 frames" window_miss_ratio 0.1
fi

# The same through a window of 2 slots: the frames still miss 3 times, but 3 pages cycling
# through 2 window slots under CLOCK miss the window every time: 27 frame hits, no window hit.
if replay_json "3 pages through a window of 2" "$WORK/three.txt" --frames 10 --window 2 \
    --policy default; then
    expect "3 pages through a window of 2" requests=30 misses=3 hits=27 window_hits=0 \
        frame_hits=27 window_slots=2 policy=default
    expect_num "3 pages through a window of 2" miss_ratio 0.1
    expect_num "3 pages through a window of 2" window_miss_ratio 1
fi

# Clock's second chance, 3 frames, trace 1 2 3 1 4 2 1 3:
#   1 2 3 fill slots 0-2 (3 misses, bits clear); 1 hits (bit 0 set);
#   4: the hand clears slot 0's bit, takes slot 1 (page 2), hand -> 2;
#   2: takes slot 2 (page 3), hand -> 0;  1 hits (bit 0 set again);
#   3: the hand clears slot 0's bit, takes slot 1 (page 4).  6 misses, 2 hits.
printf '1\n2\n3\n1\n4\n2\n1\n3\n' >"$WORK/second.txt"
if replay_json "Clock's second chance" "$WORK/second.txt" --frames 3 --policy clock-compat; then
    expect "Clock's second chance" requests=8 misses=6 hits=2 distinct_pages=4
fi

# Blank lines and blanks around numbers are skipped: 3 requests of 2 pages.
printf '\n  7  \n\n7\r\n\t8\n\n' >"$WORK/blanks.txt"
if replay_json "blank lines" "$WORK/blanks.txt" --frames 2; then
    expect "blank lines" requests=3 distinct_pages=2 misses=2 hits=1
fi

# Sizes with a unit are bytes: 40K of 4 KiB pages is 10 frames, 8K a window of 2; with 64 KiB
# pages, 1M is 16 frames.
if replay_json "sizes with units" "$WORK/three.txt" --frames 40K --window 8K; then
    expect "sizes with units" frames=10 window_slots=2 page_size=4096 misses=3
fi
if replay_json "64 KiB pages" "$WORK/three.txt" --frames 1M --page-size 64K; then
    expect "64 KiB pages" frames=16 window_slots=16 page_size=65536 misses=3
fi

# Large, scattered page numbers (far past the empty file's end, within what any file system
# here holds: ext4 with 4 KiB blocks stops at 2^32 pages) are used as they are.
printf '1000000000\n5\n1000000000\n3000000000\n5\n' >"$WORK/far.txt"
if replay_json "far pages" "$WORK/far.txt" --frames 8; then
    expect "far pages" requests=5 distinct_pages=3 misses=3 hits=2
fi

# The table report (no --json): the counts appear on stdout, progress and notes on stderr only.
"$TOOL" replay "$WORK/three.txt" --frames 10 --window 2 >"$WORK/table.txt" 2>"$WORK/err.txt"
rc=$?
tmp_empty "table"
if [ $rc -ne 0 ]; then
    fail "table: exit $rc: $(cat "$WORK/err.txt")"
else
    ok=1
    for want in "requests" "distinct pages" "window slots" "frames" "misses" "miss ratio"; do
        if ! grep -q "$want" "$WORK/table.txt"; then
            fail "table: no '$want' in the report"
            ok=0
        fi
    done
    # requests 30, distinct pages 3: on their rows.
    grep -q "^requests  *30$" "$WORK/table.txt" || { fail "table: no 'requests 30' row"; ok=0; }
    grep -q "^distinct pages  *3$" "$WORK/table.txt" ||
        { fail "table: no 'distinct pages 3' row"; ok=0; }
    if grep -q '^{' "$WORK/table.txt"; then
        fail "table: JSON printed without --json"
        ok=0
    fi
    [ $ok -eq 1 ] && pass "table report"
fi

# --json without --quiet: stdout is the JSON object alone (the progress goes to stderr).
"$TOOL" replay "$WORK/three.txt" --frames 10 --json >"$WORK/out.json" 2>"$WORK/err.txt"
rc=$?
tmp_empty "json with progress"
if [ $rc -ne 0 ]; then
    fail "json with progress: exit $rc"
elif [ "$(head -c 1 "$WORK/out.json")" != "{" ] || [ "$(tail -n 1 "$WORK/out.json")" != "}" ]; then
    fail "json with progress: stdout is not one JSON object: $(head -n 3 "$WORK/out.json")"
else
    expect "json with progress" requests=30 misses=3
fi

# ---- (b) the real trace against a reference Clock -----------------------------------------

# The reference, from ../shared/traces/README.md ("How libCacheSim counts"): unit-size objects,
# every request counts; one bit per object, a new object enters with its bit clear, a hit sets
# it; slots fill in arrival order with the hand at slot 0; a miss with the cache full sweeps
# from the hand clearing set bits and replaces the first slot whose bit is clear, and the hand
# moves one past it. Ids are kept as strings (no precision lost). Prints "requests distinct
# misses".
reference_clock() {
    awk -v cap="$1" '
        # Start from numbers: an unset variable is the empty string, and slot "" is not slot 0.
        BEGIN { n = 0; distinct = 0; misses = 0; used = 0; hand = 0 }
        NF == 0 { next }
        {
            id = $1
            n++
            if (!(id in seen)) { seen[id] = 1; distinct++ }
            if (id in where) { bit[where[id]] = 1; next }
            misses++
            if (used < cap) {
                s = used++
            } else {
                while (bit[hand]) { bit[hand] = 0; hand = (hand + 1) % cap }
                s = hand
                delete where[slot[s]]
                hand = (hand + 1) % cap
            }
            slot[s] = id
            bit[s] = 0
            where[id] = s
        }
        END { printf "%d %d %d\n", n, distinct, misses }
    ' "$2"
}

TRACE="$ROOT/../shared/traces/cloudPhysicsIO.txt"
if [ ! -r "$TRACE" ]; then
    echo "skipped (b): the trace $TRACE cannot be read"
else
    for frames in 100 1000 5000; do
        label="cloudPhysicsIO, $frames frames"
        read -r ref_n ref_distinct ref_misses < <(reference_clock "$frames" "$TRACE")
        if replay_json "$label" "$TRACE" --frames "$frames" --policy clock-compat; then
            expect "$label" requests="$ref_n" distinct_pages="$ref_distinct" \
                misses="$ref_misses" frames="$frames" policy=clock-compat
            h=$(jget hits "$WORK/out.json")
            wh=$(jget window_hits "$WORK/out.json")
            fh=$(jget frame_hits "$WORK/out.json")
            [ "$((wh + fh))" = "$h" ] || fail "$label: hits $h != window $wh + frames $fh"
            [ "$((h + ref_misses))" = "$ref_n" ] || fail "$label: hits + misses != requests"
            echo "   $label: $ref_misses misses of $ref_n (reference Clock $ref_misses)," \
                "replayed in $(jget seconds "$WORK/out.json") s"
        fi
    done
fi

# ---- (c) bad input ------------------------------------------------------------------------

# bad WANT_RC LABEL ARGS...: `awecache replay ARGS...` must exit WANT_RC with exactly one line
# on stderr (starting "awecache replay: "), nothing on stdout and nothing left in TMPDIR.
# The stderr line is left in $WORK/err.txt for further checks.
bad() {
    local want=$1 label=$2 rc lines
    shift 2
    "$TOOL" replay "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
    rc=$?
    tmp_empty "$label"
    lines=$(wc -l <"$WORK/err.txt")
    if [ $rc -ne "$want" ]; then
        fail "$label: exit $rc, expected $want ($(cat "$WORK/err.txt"))"
    elif [ "$lines" -ne 1 ]; then
        fail "$label: $lines lines on stderr, expected 1: $(cat "$WORK/err.txt")"
    elif ! grep -q '^awecache replay: ' "$WORK/err.txt"; then
        fail "$label: stderr does not start with 'awecache replay: ': $(cat "$WORK/err.txt")"
    elif [ -s "$WORK/out.txt" ]; then
        fail "$label: stdout not empty: $(head -n 2 "$WORK/out.txt")"
    else
        pass "bad input: $label: $(cat "$WORK/err.txt")"
        return 0
    fi
    return 1
}

printf '1\n2\nthree\n4\n' >"$WORK/junk.txt"
printf '1\n\n2\n-5\n' >"$WORK/negative.txt"
printf '1\n99999999999999999999999\n' >"$WORK/huge.txt"
printf '1\n2 3\n' >"$WORK/two.txt"
: >"$WORK/empty.txt"
printf '\n\n  \n' >"$WORK/blank-only.txt"
printf '1\n18446744073709551615\n' >"$WORK/beyond.txt"
mkdir -p "$WORK/a-directory"

bad 1 "missing trace" "$WORK/no-such-trace.txt" --frames 10
bad 1 "a directory as the trace" "$WORK/a-directory" --frames 10
if bad 1 "a word in the trace" "$WORK/junk.txt" --frames 10; then
    grep -q "line 3" "$WORK/err.txt" || fail "a word in the trace: the line (3) is not named"
fi
if bad 1 "a negative number" "$WORK/negative.txt" --frames 10; then
    grep -q "line 4" "$WORK/err.txt" || fail "a negative number: the line (4) is not named"
fi
if bad 1 "a number beyond 64 bits" "$WORK/huge.txt" --frames 10; then
    grep -q "line 2" "$WORK/err.txt" || fail "a number beyond 64 bits: the line is not named"
fi
bad 1 "two numbers on a line" "$WORK/two.txt" --frames 10
bad 1 "empty trace" "$WORK/empty.txt" --frames 10
bad 1 "blank lines only" "$WORK/blank-only.txt" --frames 10
# The cache exists when this one fails (page 2^64 - 1 is past any file): it must still go.
bad 1 "a page past the largest" "$WORK/beyond.txt" --frames 10
TMPDIR="$WORK/no-such-dir" bad 1 "TMPDIR missing" "$WORK/three.txt" --frames 10
[ -e "$WORK/no-such-dir" ] && fail "TMPDIR missing: the directory was created"

bad 2 "no --frames" "$WORK/three.txt"
bad 2 "--frames 0" "$WORK/three.txt" --frames 0
bad 2 "--frames junk" "$WORK/three.txt" --frames lots
bad 2 "--frames below a page" "$WORK/three.txt" --frames 1K
bad 2 "--frames without a value" "$WORK/three.txt" --frames
bad 2 "--window above --frames" "$WORK/three.txt" --frames 10 --window 11
bad 2 "--window 0" "$WORK/three.txt" --frames 10 --window 0
bad 2 "unknown policy" "$WORK/three.txt" --frames 10 --policy lru
bad 2 "bad page size" "$WORK/three.txt" --frames 10 --page-size 1000
bad 2 "unknown flag" "$WORK/three.txt" --frames 10 --bogus
bad 2 "no trace" --frames 10
bad 2 "two traces" "$WORK/three.txt" "$WORK/scan5.txt" --frames 10
bad 2 "more frames than memory" "$WORK/three.txt" --frames 1000000T

# ---- (d) --help ---------------------------------------------------------------------------

"$TOOL" replay --help >"$WORK/help.txt" 2>"$WORK/err.txt"
rc=$?
if [ $rc -ne 0 ]; then
    fail "--help: exit $rc"
elif ! grep -q -- "--frames" "$WORK/help.txt" || ! grep -q -- "--policy" "$WORK/help.txt"; then
    fail "--help: the options are not listed: $(cat "$WORK/help.txt")"
else
    pass "--help"
fi
tmp_empty "--help"

# ---- Result -------------------------------------------------------------------------------

if [ $failures -ne 0 ]; then
    echo "$failures check(s) failed; scratch files kept in $WORK"
    exit 1
fi
rm -rf "$WORK"
echo "all checks passed"
exit 0
