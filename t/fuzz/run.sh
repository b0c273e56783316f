#!/bin/sh
# t/fuzz/run.sh NAME SECONDS WORKDIR ARTIFACTDIR - run one harness.
#
# First every committed input (t/fuzz/regress/NAME, t/fuzz/corpus/NAME)
# once, then SECONDS of fuzzing that starts from the corpus; new inputs go
# to WORKDIR, never into the committed corpus.  Prints one line
#   NAME: <execs> execs in <s> s (<execs/s> execs/s), <n> corpus inputs
# and exits 0, or prints the reproducer's path and exits 1 on a crash,
# leak, timeout or sanitizer report.
set -u
name=$1 secs=$2 work=$3 art=$4
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/t/fuzz/bin/$name
[ -x "$bin" ] || { echo "$name: harness t/fuzz/bin/$name not built" >&2; exit 1; }
mkdir -p "$work" "$art" || exit 1
log=$work/../$name.log
dict=
[ -f "$top/t/fuzz/dict/$name.dict" ] && dict=-dict=$top/t/fuzz/dict/$name.dict
seeds=
for d in "$top/t/fuzz/regress/$name" "$top/t/fuzz/corpus/$name"; do
    [ -d "$d" ] && seeds="$seeds $d"
done
common="-timeout=10 -rss_limit_mb=2048 -artifact_prefix=$art/$name- -print_final_stats=1"
reproducer() {
    f=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "$name: FAILED; reproducer: ${f:-(none written)}; log: $log" >&2
    grep -E 'ERROR: |runtime error|SUMMARY' "$log" | head -n 5 >&2
}
# shellcheck disable=SC2086
if [ -n "$seeds" ]; then
    "$bin" $common -runs=0 $seeds >"$log" 2>&1 || { reproducer; exit 1; }
fi
# shellcheck disable=SC2086
"$bin" $common $dict -max_total_time="$secs" "$work" $seeds >"$log" 2>&1 ||
    { reproducer; exit 1; }
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
n=$(ls "$work" | wc -l)
echo "$name: ${execs:-?} execs in $secs s (${rate:-?} execs/s), $n new inputs"
