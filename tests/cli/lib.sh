# shellcheck shell=bash
# tests/cli/lib.sh: what the shell tests of the awecache tool and awecache-bench share; sourced
# after `set -u` by a test script called as `bash <script> TOOL ROOT TMPDIR` (tests/CMakeLists.txt;
# TOOL is the program under test). Sets TOOL, ROOT, WORK (a fresh scratch directory), OUT and
# ERR (the last run's stdout and stderr) and RC (its exit status), and defines step, fail, run,
# expect_ok, expect_none_left, expect_bad, expect_sigterm and expect_json_medians.

cli_name=$(basename "$0")
TOOL=${1:?usage: $cli_name TOOL ROOT TMPDIR}
ROOT=${2:?usage: $cli_name TOOL ROOT TMPDIR}
WORK=${3:?usage: $cli_name TOOL ROOT TMPDIR}
: "$ROOT"

rm -rf "$WORK"
mkdir -p "$WORK" || exit 1
OUT="$WORK/stdout.txt"
ERR="$WORK/stderr.txt"
RC=0

# step TEXT: says what the next checks are about.
step() {
    echo "== $*"
}

# fail TEXT: the check failed: says what, shows the last run's output, ends the test.
fail() {
    echo "FAIL: $*"
    echo "--- stdout:"
    cat "$OUT" 2>/dev/null
    echo "--- stderr:"
    cat "$ERR" 2>/dev/null
    exit 1
}

# run ARGS...: runs the tool with TMPDIR=$WORK, stdout into $OUT, stderr into $ERR, the exit
# status into RC.
run() {
    TMPDIR="$WORK" "$TOOL" "$@" >"$OUT" 2>"$ERR"
    RC=$?
}

# expect_ok ARGS...: the tool exits 0.
expect_ok() {
    run "$@"
    [ "$RC" -eq 0 ] || fail "$(basename "$TOOL") $*: expected exit 0, got $RC"
}

# LEFT: a name pattern (find -name) of what the tool's runs must not leave in $WORK (data files,
# stores), for the script to set; empty: nothing is checked.
LEFT=

# expect_none_left WHAT: nothing named $LEFT is left in $WORK.
expect_none_left() {
    local left
    [ -n "$LEFT" ] || return 0
    left=$(find "$WORK" -maxdepth 1 -name "$LEFT" -print)
    [ -z "$left" ] || fail "$1: left behind: $left"
}

# expect_bad WHAT ARGS...: exit 1 or 2, exactly one line on stderr, nothing named $LEFT left.
expect_bad() {
    local what=$1
    shift
    run "$@"
    [ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || fail "$what: expected exit 1 or 2, got $RC"
    [ "$(wc -l <"$ERR")" -eq 1 ] || fail "$what: expected exactly one line on stderr"
    expect_none_left "$what"
}

# expect_sigterm WHAT ARGS...: the tool, run with ARGS in the background, gets SIGTERM after 1.5
# s: exit 1, one line on stderr saying "interrupted", nothing named $LEFT left.
expect_sigterm() {
    local what=$1 pid
    shift
    TMPDIR="$WORK" "$TOOL" "$@" >"$OUT" 2>"$ERR" &
    pid=$!
    sleep 1.5
    kill -TERM "$pid"
    wait "$pid"
    RC=$?
    [ "$RC" -eq 1 ] || fail "$what: expected exit 1 after SIGTERM, got $RC"
    if [ "$(wc -l <"$ERR")" -ne 1 ] || ! grep -q interrupted "$ERR"; then
        fail "$what: expected one line on stderr saying 'interrupted'"
    fi
    expect_none_left "$what"
}

# expect_json_medians WHAT RATE[:RATIO]...: the JSON in $OUT of a run with --repeat 2 on the disk
# has in its config repeat 2 and medium disk, and in every result that is ok, for each RATE:
# RATE_runs of two runs, RATE_min and RATE_max their lowest and highest, RATE_median their mean
# and RATE the median; with :RATIO, RATIO is the first result's RATE over this one's. Without
# python3 nothing is checked.
expect_json_medians() {
    local what=$1
    shift
    command -v python3 >/dev/null 2>&1 || return 0
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["config"]["repeat"] == 2 and d["config"]["medium"] == "disk", d["config"]
first = d["results"][0]
for r in d["results"]:
    if not r["ok"]:
        continue
    for arg in sys.argv[2:]:
        k, _, ratio = arg.partition(":")
        runs = r[k + "_runs"]
        assert len(runs) == 2 and r[k + "_min"] == min(runs) and r[k + "_max"] == max(runs), r
        assert abs(r[k + "_median"] - sum(runs) / 2) <= 1e-6 * max(runs), r
        assert r[k] == r[k + "_median"], r
        if ratio:
            assert abs(r[ratio] - first[k] / r[k]) <= 1e-6 * r[ratio], (ratio, r)
' "$OUT" "$@" || fail "$what: the JSON is not valid, or its medians, min, max or ratios are wrong"
}
