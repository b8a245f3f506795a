# shellcheck shell=bash
# tests/cli/lib.sh: what the shell tests of the awecache tool and awecache-bench share; sourced
# after `set -u` by a test script called as `bash <script> TOOL ROOT TMPDIR` (tests/CMakeLists.txt;
# TOOL is the program under test). Sets TOOL, ROOT, WORK (a fresh scratch directory), OUT and
# ERR (the last run's stdout and stderr) and RC (its exit status), and defines step, fail, run
# and expect_ok.

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
