#!/bin/sh
# bench/history.sh - the history database under load (figures, not a test).
#
#  1. writes a usage.json holding two years of synthetic usage for 5
#     providers x 5 models (each provider busy 12 hours a day, every model
#     in every busy 15-minute slot: DAYS*48*25 cells) and lets the daemon
#     migrate it into meterd.db (time printed);
#  2. times POST /api/telemetry, one event per request, answered after the
#     commit (client-side round trip: an upper bound of the commit time),
#     prints p50/p90/p99/max and the WAL's size after them; target < 5 ms;
#     then the same number of POSTs from PARALLEL posters at once (each
#     waits for its answer before the next): the requests queued behind a
#     commit share the next one (group commit), so the round trip stays
#     near one commit instead of growing with the queue; prints the
#     commits /healthz counted (ingest_commits for ingest_requests);
#  3. generates a 1 GiB Claude log tree (bench/gen-logs; TREE= reuses one
#     made with --seed 1), runs `meterd report daily` on it once (cold,
#     builds the plugin's state), then times the warm runs (unchanged
#     tree, the whole command: best and median of RUNS) in UTC, with
#     --json and in Europe/Berlin; target < 30 ms; and, for scale, a bare
#     stat walk of the tree (find) - the part a warm scan cannot skip;
#  4. prints meterd.db's size and the size per provider-year.
# Usage: bench/history.sh [SIZE]   (log tree size, default 1G)
# Environment: DAYS=730 RUNS=5 POSTS=500 PARALLEL=8 METERD=./meterd TREE=<dir>
#   REPORT=0 stops after the POSTs (no log tree, no report timings)
#   USAGE_JSON=<file> (a usage.json this script wrote before: saves its
#   generation, minutes on a loaded machine)
#   PRIO="chrt -f 10" runs the daemon, curl and the reports at a real-time
#   priority (root): on a machine shared with builds it takes their CPU
#   contention out of the figures, not the disk's.
#   METERD_B=<binary> times the warm reports of a second build too, the
#   two alternating run by run (A, B, A, B, ...: a shared machine's load
#   changes hit both alike), each on its own copy of the state (the probe
#   cache is keyed by the binary), and checks their outputs are
#   byte-identical.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
SIZE=${1:-1G}
DAYS=${DAYS:-730}
RUNS=${RUNS:-5}
POSTS=${POSTS:-500}
PARALLEL=${PARALLEL:-8}
REPORT=${REPORT:-1}
PRIO=${PRIO:-}
METERD=${METERD:-$TOP/meterd}
[ -x "$METERD" ] || { echo "bench/history.sh: build first (make)" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "bench/history.sh: needs sqlite3" >&2; exit 2; }
W=$(mktemp -d /tmp/meterd-history.XXXXXX)
PID=
cleanup() { [ -z "$PID" ] || kill "$PID" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 2' INT TERM
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
# timed LABEL CMD...: best and median wall time of RUNS runs of CMD.
timed() {
	label=$1
	shift
	: >"$W/times"
	for i in $(seq "$RUNS"); do
		t0=$(date +%s%N)
		$PRIO "$@" >"$W/out.txt"
		t1=$(date +%s%N)
		echo $(( (t1 - t0) / 1000 )) >>"$W/times"
	done
	sort -n "$W/times" | awk -v l="$label" -v n="$RUNS" '{ a[NR] = $1 } END {
		printf "  %s: best %.1f ms, median %.1f ms (%d runs)\n", l, a[1] / 1e3, a[int((NR + 1) / 2)] / 1e3, n }'
}

S=$W/state
# meterd refuses a state_dir or config open to others (StrictModes)
mkdir -p "$S" && chmod 700 "$S"
umask 077
echo "== synthetic history: $DAYS days, 5 providers x 5 models"
if [ -n "${USAGE_JSON:-}" ]; then cp "$USAGE_JSON" "$S/usage.json"; else
perl -MJSON::PP -e '
  my ($days, $out) = @ARGV;
  my $now = int(time / 900) * 900; my $start = $now - $days * 86400;
  $start -= $start % 86400;
  open my $fh, ">", $out or die;
  print $fh "{\"schema\":\"meterd.usage.v1\",\"saved_at\":\"2026-01-01T00:00:00Z\",\"providers\":[";
  for my $p (1 .. 5) {
    print $fh "," if $p > 1;
    print $fh "{\"name\":\"prov$p\",\"generation\":\"1\",\"models\":[\"model-1\",\"model-2\",\"model-3\",\"model-4\",\"model-5\"],\"cells\":[";
    my $first = 1;
    for (my $t = $start; $t < $now; $t += 900) {
      my $h = int(($t % 86400) / 3600);
      next if $h < 6 || $h >= 18;
      for my $m (0 .. 4) {
        my $in = 1000 + ($t / 900 + $m) % 997;
        print $fh "," unless $first; $first = 0;
        printf $fh "[%d,%d,0,%d,%d,null,%d,0,%d,%.3f,3]", $t, $m, $in, 5 * $in, $in / 4, 6 * $in + $in / 4, $in / 1e4;
      }
    }
    print $fh "]}";
  }
  print $fh "]}\n";
' "$DAYS" "$S/usage.json"
fi
echo "  usage.json: $(du -m "$S/usage.json" | cut -f1) MiB"

cat >"$W/meterd.yaml" <<Y
listen: 127.0.0.1:0
state_dir: $S
plugin_dir: $TOP/plugins
usage_retention: 800d
providers:
  claude_logs:
    plugin: claude_logs
    interval: 1h
    timeout: 300s
    roots: ["$W/tree"]
  prov1:
    plugin: exec
    enabled: false
    command: ["/bin/true"]
Y
mkdir -p "$W/tree"
t0=$(date +%s%N)
$PRIO "$METERD" -c "$W/meterd.yaml" >"$W/log" 2>&1 &
touch "$W/log"
PID=$!
i=0
until grep -q 'listening on' "$W/log"; do
	i=$((i + 1)); [ $i -lt 6000 ] || { cat "$W/log"; exit 1; }
	sleep 0.05
done
t1=$(date +%s%N)
ADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$W/log" | head -n 1)
echo "  migration + start: $(ms "$t0" "$t1") ms; cells: $(sqlite3 "$S/meterd.db" 'SELECT count(*) FROM usage_cell')"

echo "== POST /api/telemetry, one event each, $POSTS requests"
# curl sends headers and body in one segment (a client that writes them
# apart meets Nagle + delayed ACK: ~40 ms that are not the server's).
i=0
: >"$W/posts"
while [ $i -lt "$POSTS" ]; do
	i=$((i + 1))
	at=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)
	$PRIO curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
		--data "{\"provider\":\"prov1\",\"route\":\"chat\",\"dialect\":\"openai\",\"model\":\"model-1\",\"at\":\"$at\",\"usage\":{\"prompt_tokens\":$((100 + i)),\"completion_tokens\":7}}" \
		"http://$ADDR/api/telemetry" >>"$W/posts"
done
grep -vc '^200 ' "$W/posts" | grep -q '^0$' || { echo "  some POSTs failed:"; grep -v '^200 ' "$W/posts" | head -3; }
sort -k2 -n "$W/posts" | awk '{ t[NR] = $2 * 1000 } END {
	printf "  round trip (commit included): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		t[int(NR / 2) + 1], t[int(NR * 0.9) + 1], t[int(NR * 0.99) + 1], t[NR] }'
echo "  WAL after the POSTs: $(stat -c %s "$S/meterd.db-wal" 2>/dev/null || echo 0) bytes"

echo "== POST /api/telemetry, $PARALLEL parallel posters, $POSTS requests in all"
# Where group commit shows: the requests that queue behind a commit share
# the next one (one fsync for all of them) instead of one fsync each.
: >"$W/pposts"
POSTERS=
t0=$(date +%s%N)
for p in $(seq "$PARALLEL"); do
	(
	i=0
	while [ $i -lt $((POSTS / PARALLEL)) ]; do
		i=$((i + 1))
		at=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)
		$PRIO curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
			--data "{\"provider\":\"prov1\",\"route\":\"chat\",\"dialect\":\"openai\",\"model\":\"model-1\",\"at\":\"$at\",\"id\":\"par-$p-$i\",\"usage\":{\"prompt_tokens\":$((100 + i)),\"completion_tokens\":7}}" \
			"http://$ADDR/api/telemetry"
	done >"$W/pposts.$p"
	) &
	POSTERS="$POSTERS $!"
done
wait $POSTERS   # not the daemon, also a child of this shell
t1=$(date +%s%N)
cat "$W/pposts".* >"$W/pposts"
grep -vc '^200 ' "$W/pposts" | grep -q '^0$' || { echo "  some POSTs failed:"; grep -v '^200 ' "$W/pposts" | head -3; }
sort -k2 -n "$W/pposts" | awk -v ms="$(ms "$t0" "$t1")" '{ t[NR] = $2 * 1000 } END {
	printf "  round trip (commit included): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; %d requests in %.0f ms (%.0f/s)\n",
		t[int(NR / 2) + 1], t[int(NR * 0.9) + 1], t[int(NR * 0.99) + 1], t[NR], NR, ms, NR * 1000 / ms }'
H=$(curl -s "http://$ADDR/healthz")
echo "  /healthz history: $(printf '%s' "$H" | perl -MJSON::PP -e 'my $h = eval { decode_json(join "", <STDIN>) } || {}; my $x = $h->{history} || {};
	printf "ingest_commits %s, ingest_requests %s", $x->{ingest_commits} // "n/a", $x->{ingest_requests} // "n/a"')"
kill "$PID"; wait "$PID" || true; PID=
[ "$REPORT" = 1 ] || exit 0

echo "== meterd report daily on a $SIZE Claude log tree with that history"
if [ -n "${TREE:-}" ]; then
	sed -i "s|$W/tree|$TREE|" "$W/meterd.yaml"
else
	TREE=$W/tree
	GEN=$TOP/bench/gen-logs
	[ -x "$GEN" ] || { GEN=$W/gen-logs; ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$GEN" bench/gen-logs.c; }
	rm -rf "$TREE"
	"$GEN" --kind claude --size "$SIZE" --seed 1 --out "$TREE" 2>/dev/null
fi
echo "  tree: $(find "$TREE" -type f | wc -l) files, $(find "$TREE" -type d | wc -l) directories"
t0=$(date +%s%N)
$PRIO "$METERD" report daily -c "$W/meterd.yaml" --tz UTC >"$W/cold.txt"
t1=$(date +%s%N)
echo "  cold (scan of the tree): $(ms "$t0" "$t1") ms, $(wc -l <"$W/cold.txt") lines"
if [ -z "${METERD_B:-}" ]; then
timed "warm, table, --tz UTC (whole command)" "$METERD" report daily -c "$W/meterd.yaml" --tz UTC
cmp -s "$W/cold.txt" "$W/out.txt" || echo "  warm table differs from the cold one"
timed "warm, --json, --tz UTC" "$METERD" report daily -c "$W/meterd.yaml" --tz UTC --json
timed "warm, table, --tz Europe/Berlin" "$METERD" report daily -c "$W/meterd.yaml" --tz Europe/Berlin
else
# A/B: B gets a copy of the state the cold run left, and one run of its
# own to write its probe cache entry.
cp -a "$S" "$S.b"
sed "s|state_dir: $S\$|state_dir: $S.b|" "$W/meterd.yaml" >"$W/meterd-b.yaml"
$PRIO "$METERD_B" report daily -c "$W/meterd-b.yaml" --tz UTC >"$W/cold-b.txt"
cmp -s "$W/cold.txt" "$W/cold-b.txt" || echo "  B's first table differs from A's cold one"
# timed_ab LABEL ARGS...: RUNS alternating runs of A and B, best and median
# of each, and whether their last outputs are byte-identical.
timed_ab() {
	label=$1
	shift
	: >"$W/times.a"
	: >"$W/times.b"
	for i in $(seq "$RUNS"); do
		for ab in a b; do
			if [ $ab = a ]; then bin=$METERD cfg=$W/meterd.yaml; else bin=$METERD_B cfg=$W/meterd-b.yaml; fi
			t0=$(date +%s%N)
			$PRIO "$bin" report daily -c "$cfg" "$@" >"$W/out.$ab"
			t1=$(date +%s%N)
			echo $(( (t1 - t0) / 1000 )) >>"$W/times.$ab"
		done
	done
	for ab in a b; do
		sort -n "$W/times.$ab" | awk -v l="$label" -v w="$ab" -v n="$RUNS" '{ a[NR] = $1 } END {
			printf "  %s [%s]: best %.1f ms, median %.1f ms (%d runs)\n", l, toupper(w), a[1] / 1e3, a[int((NR + 1) / 2)] / 1e3, n }'
	done
	cmp -s "$W/out.a" "$W/out.b" || echo "  $label: A and B print different reports"
}
echo "  A = $METERD, B = $METERD_B, alternating"
timed_ab "warm, table, --tz UTC (whole command)" --tz UTC
cmp -s "$W/cold.txt" "$W/out.a" || echo "  warm table differs from the cold one"
timed_ab "warm, --json, --tz UTC" --tz UTC --json
timed_ab "warm, table, --tz Europe/Berlin" --tz Europe/Berlin
fi
timed "for scale: find stat walk of the tree" find "$TREE" -printf '%s %T@ %i\n'

echo "== size"
B=$(sqlite3 "$S/meterd.db" 'SELECT page_count * page_size FROM pragma_page_count, pragma_page_size')
echo "  meterd.db: $B bytes; per provider-year (5 models, 12 busy hours a day): $(awk -v b="$B" -v d="$DAYS" 'BEGIN { printf "%.1f MiB", b / (5 * d / 365) / 1048576 }')"
