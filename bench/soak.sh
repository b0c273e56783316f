#!/bin/bash
# bench/soak.sh - the daemon under everything at once for SOAK_SECONDS
# (default 600), watching for what only time shows: memory or descriptors
# that grow, requests that start failing, processes left behind.
#
# All of this at once, loopback only, for SOAK_SECONDS:
#  - wrk on the cached GET /api/automation/usage, 4 keep-alive connections;
#  - GET /api/automation/usage?force_refresh=true every second (curl);
#  - 50 exec providers every 1 s; every fifth one leaves a child (its own
#    process group's) and every tenth a setsid() grandchild that outlive
#    the collection, so the helper's clean-up has work to do;
#  - a SIGHUP every 10 s, alternating two configs (five providers swapped,
#    one interval changed), so each reload really changes things;
#  - 4 POST /api/telemetry per second, unique ids, two dialects, with
#    rate-limit headers;
#  - 200 idle TCP connections held open (re-opened as the daemon's
#    http_request_timeout closes them), from 127.0.0.2-127.0.0.5, 50
#    each: under the default per-address limit (128), so they never
#    starve the traffic above from 127.0.0.1, and 200 + 4 + a few stay
#    under the default http_max_connections (512).  The limits are the
#    defaults on purpose: a soak of the shipped configuration.
# It samples the daemon's VmRSS, open descriptors (sockets apart) and
# live descendants after a 20 s warm-up, every 30 s and at the end, stops
# the daemon with SIGTERM and looks for any process whose command line
# names the scratch directory or the marker.  Prints the figures and PASS/FAIL lines; exits
# 1 on any FAIL.
#
# Needs: a built tree (make), wrk, curl, perl.  wrk is for benchmarks
# only: tools/setup does not install it (apt-get install wrk).
# Usage: [SOAK_SECONDS=600] [SOAK_KEEP=1] [SOAK_WRAP=cmd] bench/soak.sh
# (KEEP: leave the scratch directory, daemon log included, for a look
# afterwards; WRAP: run the daemon under cmd, e.g. "valgrind
# --tool=massif --massif-out-file=/some/file", with a 60 s start and stop
# allowance; the RSS figures are then the wrapper's)
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SOAK=${SOAK_SECONDS:-600}
WARMUP=20
EVERY=30
case $SOAK in ''|*[!0-9]*) echo "bench/soak.sh: SOAK_SECONDS must be a number" >&2; exit 2;; esac
[ "$SOAK" -ge $((WARMUP + 10)) ] || { echo "bench/soak.sh: SOAK_SECONDS must be >= $((WARMUP + 10))" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench/soak.sh: wrk is missing (bench only, not in tools/setup: apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/soak.sh: curl is missing" >&2; exit 1; }
[ -x ./meterd ] || { echo "bench/soak.sh: run make first" >&2; exit 1; }

# Not under /tmp: run as root, meterd refuses a config whose directory has
# a group- or world-writable ancestor (StrictModes, meterd.yaml(5)).
W=$(mktemp -d "$ROOT/bench/.soak.XXXXXX") || exit 1
chmod 700 "$W"
# sleep adds its arguments: "sleep 30 0.00NNNNN" sleeps 30 s and names us.
MARK=$(printf '0.00%05d9' $(($$ % 100000)))
PID=
JOBS=
cleanup() {
  for j in $JOBS; do kill "$j" 2>/dev/null; done
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null
  if [ -n "${SOAK_KEEP:-}" ]; then echo "soak: kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- providers: 50 exec scripts, two configs ------------------------------
cat >"$W/kid.sh" <<S
#!/bin/sh
# outlives the collection that started it; the helper must end it
sleep 30 $MARK
:
S
chmod +x "$W/kid.sh"
provider_script() { # name n
  {
    echo '#!/bin/sh'
    if [ $(($2 % 10)) -eq 0 ]; then
      echo "setsid $W/kid.sh </dev/null >/dev/null 2>&1 &"
    elif [ $(($2 % 5)) -eq 0 ]; then
      echo "$W/kid.sh </dev/null >/dev/null 2>&1 &"
    fi
    # a value that moves, so every collection changes the view
    echo 'u=$(( $(date +%s) % 100 ))'
    echo "echo '{\"status\":\"ok\",\"metrics\":[{\"id\":\"five_hour\",\"kind\":\"quota_window\",\"unit\":\"percent\",\"utilization\":'\$u',\"window_seconds\":18000,\"resets_at\":\"2030-01-01T00:00:00Z\"},{\"id\":\"requests\",\"kind\":\"usage\",\"unit\":\"requests\",\"used\":$2}],\"notes\":[\"soak $1\"]}'"
  } >"$W/$1.sh"
  chmod +x "$W/$1.sh"
}
for i in $(seq -w 1 50); do provider_script "p$i" "$((10#$i))"; done
for i in 1 2 3 4 5; do provider_script "q0$i" "$((i + 50))"; done
cat >"$W/aliases.yaml" <<Y
families:
  openai: [p01, p02, p03]
  claude: [p04, p05, p06]
Y
config() { # A|B
  echo "listen: 127.0.0.1:0"
  echo "state_dir: $W/state"
  echo "plugin_dir: $ROOT/plugins"
  echo "aliases: aliases.yaml"
  echo "endpoint_timeout: 2s"
  echo "timeout: 900ms"
  echo "min_refresh_interval: 500ms"
  echo "max_concurrent_collections: 64"
  echo "providers:"
  for i in $(seq -w 1 50); do
    name=p$i
    # B swaps p46-p50 for q1-q5 and slows p01 down
    if [ "$1" = B ] && [ "$((10#$i))" -gt 45 ]; then name=q$(printf %02d $((10#$i - 45))); fi
    iv=1s; [ "$1" = B ] && [ "$i" = 01 ] && iv=2s
    printf '  %s:\n    plugin: exec\n    interval: %s\n    command: ["%s/%s.sh"]\n' "$name" "$iv" "$W" "$name"
  done
}
config A >"$W/A.yaml"
config B >"$W/B.yaml"
cp "$W/A.yaml" "$W/meterd.yaml"
mkdir -m 700 "$W/state"

# SOAK_WRAP: a command to run the daemon under (valgrind --tool=massif ...);
# word-split on purpose.  Its VmRSS is then the wrapper's, not the daemon's.
# shellcheck disable=SC2086
${SOAK_WRAP:-} ./meterd -c "$W/meterd.yaml" 2>"$W/log" &
PID=$!
STARTWAIT=100; [ -n "${SOAK_WRAP:-}" ] && STARTWAIT=600
for _ in $(seq $STARTWAIT); do grep -q "listening on" "$W/log" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$W/log" | head -1)
[ -n "$ADDR" ] || { echo "bench/soak.sh: the daemon did not start:" >&2; cat "$W/log" >&2; exit 1; }
PORT=${ADDR##*:}
URL="http://$ADDR/api/automation/usage"
echo "soak: ${SOAK}s against $URL (pid $PID, scratch $W, marker $MARK)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
START=$(date +%s)
DEADLINE=$((START + SOAK))

# ---- the load --------------------------------------------------------------
wrk -t1 -c4 -d"${SOAK}s" --timeout 5s --latency "$URL" >"$W/wrk.out" 2>&1 &
JOBS="$JOBS $!"

# forced refresh, one started every second however long the last one
# takes (each waits at most endpoint_timeout for 50 collections): the HTTP
# status of each into force.codes, 000 for no answer within 10 s
( while [ "$(date +%s)" -lt "$DEADLINE" ]; do
    curl -s -o /dev/null --max-time 10 -w "%{http_code} %{time_total} %{exitcode} $(date +%s) %{time_connect} %{time_pretransfer} %{time_starttransfer} %{size_download}\n" "$URL?force_refresh=true" >>"$W/force.codes" &
    sleep 1
  done
  wait ) &
JOBS="$JOBS $!"

# ingest: 4 POSTs started a second (not waiting for the last), unique ids, OpenAI and Anthropic usage shapes
( n=0
  while [ "$(date +%s)" -lt "$DEADLINE" ]; do
    n=$((n + 1))
    at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    if [ $((n % 2)) -eq 0 ]; then
      body="{\"provider\":\"p02\",\"dialect\":\"openai\",\"model\":\"gpt-5.2\",\"id\":\"soak-$$-$n\",\"at\":\"$at\",\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":300,\"prompt_tokens_details\":{\"cached_tokens\":1920}},\"headers\":{\"x-ratelimit-limit-requests\":\"60\",\"x-ratelimit-remaining-requests\":\"$((n % 60))\",\"x-ratelimit-reset-requests\":\"6m0s\"}}"
    else
      body="{\"provider\":\"p05\",\"dialect\":\"anthropic\",\"model\":\"claude-sonnet-4-5\",\"id\":\"soak-$$-$n\",\"at\":\"$at\",\"usage\":{\"input_tokens\":4,\"cache_read_input_tokens\":13920,\"output_tokens\":412},\"headers\":{\"anthropic-ratelimit-unified-5h-utilization\":\"0.5\",\"anthropic-ratelimit-unified-5h-reset\":\"1773162000\"}}"
    fi
    curl -s -o /dev/null --max-time 10 -w "%{http_code} %{time_total} %{exitcode} $(date +%s)\n" -H 'Content-Type: application/json' \
      --data-binary "$body" "http://$ADDR/api/telemetry" >>"$W/ingest.codes" &
    sleep 0.25
  done
  wait ) &
JOBS="$JOBS $!"

# SIGHUP every 10 s, alternating the two configs
( next=B
  while [ "$(date +%s)" -lt $((DEADLINE - 10)) ]; do
    sleep 10
    cp "$W/$next.yaml" "$W/meterd.yaml.new" && mv "$W/meterd.yaml.new" "$W/meterd.yaml"
    kill -HUP "$PID" && echo "$next $(date +%s)" >>"$W/hups"
    if [ $next = B ]; then next=A; else next=B; fi
  done ) &
JOBS="$JOBS $!"

# 200 idle connections, 50 from each of 127.0.0.2-5; each one the daemon
# closes is re-opened at once.  Prints opens and failed connects at the end.
perl -MIO::Socket::INET -MIO::Select -e '
  my ($port, $end) = @ARGV; my $sel = IO::Select->new; my ($opens, $fails) = (0, 0);
  my $open = sub { my $src = "127.0.0." . (2 + $_[0] % 4);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port,
                                  LocalAddr => $src, Timeout => 5);
    if ($s) { $opens++; ${*$s}{slot} = $_[0]; $sel->add($s) } else { $fails++ } };
  $SIG{TERM} = sub { print "$opens $fails\n"; exit 0 };
  $open->($_) for 0 .. 199;
  while (time < $end) {
    for my $s ($sel->can_read(0.5)) { my $k = ${*$s}{slot}; my $buf;
      if (!sysread($s, $buf, 4096)) { $sel->remove($s); close $s; $open->($k) } }
    $open->(int rand 200) while $sel->count < 200 && time < $end && !select(undef, undef, undef, 0.05);
  }
  print "$opens $fails\n";' "$PORT" "$DEADLINE" >"$W/idle.out" &
IDLE=$!
JOBS="$JOBS $IDLE"

# ---- samples -----------------------------------------------------------------
# live processes descended from the daemon (not counting itself)
descendants() {
  ps -e -o pid=,ppid=,stat= | awk -v root="$PID" '
    { ppid[$1] = $2; st[$1] = $3 }
    END { n = 0
          for (p in ppid) { if (st[p] ~ /^Z/) continue
            for (q = ppid[p]; q != "" && q > 1; q = ppid[q]) if (q == root) { n++; break } }
          print n }'
}
sample() { # label
  local rss fds socks
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null)
  fds=$(ls "/proc/$PID/fd" 2>/dev/null | wc -l)
  # sockets apart: the 200 idle connections time out together every 5 s
  # and swing the total by ~250; the other descriptors (pipes to helpers,
  # files, the database) are where a leak per collection would show
  socks=$(find "/proc/$PID/fd" -lname 'socket:*' 2>/dev/null | wc -l)
  printf '%-6s %4ds  rss %6s kB  fds %4s (%4s sockets)  descendants %3s  load %s\n' "$1" \
    $(( $(date +%s) - START )) "${rss:-?}" "$fds" "$socks" "$(descendants)" "$(cut -d' ' -f1 /proc/loadavg)"
  echo "$1 ${rss:-0} $((fds - socks)) $socks $(( $(date +%s) - START ))" >>"$W/samples"
}
# collections over all current providers: "runs failures providers"
providers_figures() {
  curl -s --max-time 10 "http://$ADDR/api/providers" | perl -MJSON::PP -e '
    my $d = eval { decode_json(join "", <STDIN>) } or do { print "? ? ?\n"; exit };
    my @p = ref $d eq "ARRAY" ? @$d : @{ $d->{providers} // [] };
    my ($r, $f, %e) = (0, 0); for (@p) { $r += $_->{runs} // 0; $f += $_->{failures} // 0;
      my $e = $_->{error}; $e = ($e->{class} // "?") . ": " . ($e->{message} // "") if ref $e; $e{$e}++ if defined $e }
    printf "%d %d %d\n", $r, $f, scalar @p;
    printf "  last error of %d provider(s): %s\n", $e{$_}, $_ for sort { $e{$b} <=> $e{$a} } keys %e;'
}
sleep "$WARMUP"
sample start
# the end sample is taken 2 s before the load stops, all of it still on
while :; do
  left=$((DEADLINE - 2 - $(date +%s)))
  [ "$left" -le 0 ] && break
  if [ "$left" -le "$EVERY" ]; then sleep "$left"; break; fi
  sleep "$EVERY"
  sample mid
done
sample end
providers_figures >"$W/providers"
kill -0 "$PID" 2>/dev/null || { echo "FAIL the daemon died during the soak:"; tail -20 "$W/log"; exit 1; }

# ---- stop --------------------------------------------------------------------
kill "$IDLE" 2>/dev/null
for j in $JOBS; do wait "$j" 2>/dev/null; done
JOBS=
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$PID"
for _ in $(seq $STARTWAIT); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then echo "FAIL the daemon did not exit within 10 s of SIGTERM"; STUCK=1; else STUCK=0; fi
wait "$PID" 2>/dev/null; RC=$?
PID=
sleep 1
# leftovers: a live process naming the scratch directory or the marker
LEFT=$(for c in /proc/[0-9]*/cmdline; do
  p=${c#/proc/}; p=${p%/cmdline}
  [ "$p" = $$ ] && continue
  cmd=$( { tr '\0' ' ' <"$c"; } 2>/dev/null)
  case $cmd in *"$W"*|*"$MARK"*) ;; *) continue;; esac
  grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && continue
  echo "$p $cmd"
done)
NLEFT=$(printf '%s' "$LEFT" | grep -c .)

# ---- figures -----------------------------------------------------------------
wrk_field() { sed -n "$1" "$W/wrk.out" | head -1; }
REQS=$(awk '/requests in/ {print $1}' "$W/wrk.out")
NON2XX=$(awk '/Non-2xx/ {print $NF}' "$W/wrk.out")
SOCKERR=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$W/wrk.out")
set -- ${SOCKERR:-0 0 0 0}
W_CONNECT=$1 W_READ=$2 W_WRITE=$3 W_TIMEOUT=$4
count() { [ -f "$1" ] && awk -v want="$2" '($1 ~ /^2/) == want {n++} END {print n + 0}' "$1" || echo 0; }
F_OK=$(count "$W/force.codes" 1) F_BAD=$(count "$W/force.codes" 0)
I_OK=$(count "$W/ingest.codes" 1) I_BAD=$(count "$W/ingest.codes" 0)
read -r IDLE_OPENS IDLE_FAILS <"$W/idle.out" 2>/dev/null || { IDLE_OPENS=?; IDLE_FAILS=?; }
HUPS=$(wc -l <"$W/hups" 2>/dev/null || echo 0)
read -r _ RSS0 FD0 SOCK0 _ < <(grep '^start ' "$W/samples")
read -r _ RSS1 FD1 SOCK1 _ < <(grep '^end ' "$W/samples")
RSSMAX=$(awk '$2 > m {m = $2} END {print m}' "$W/samples")
FDMAX=$(awk '$3 > m {m = $3} END {print m}' "$W/samples")
SOCKMAX=$(awk '$4 > m {m = $4} END {print m}' "$W/samples")

echo "== requests"
echo "wrk cached usage:   ${REQS:-0} requests, non-2xx ${NON2XX:-0}, socket errors connect $W_CONNECT read $W_READ write $W_WRITE timeout $W_TIMEOUT"
wrk_field '/Requests\/sec/p'
wrk_field '/^ *99%/p' | sed 's/^ *99% */  p99 /'
read -r P_RUNS P_FAILS P_N <"$W/providers"
echo "collections:        $P_RUNS runs, $P_FAILS failed, over the $P_N providers configured at the end"
sed 1d "$W/providers"
echo "force_refresh:      $((F_OK + F_BAD)) requests, $F_BAD not 2xx"
echo "ingest POST:        $((I_OK + I_BAD)) requests, $I_BAD not 2xx"
# round trip of the answered ones (commit included: a 200 is durable)
[ -s "$W/ingest.codes" ] && awk '$1 ~ /^2/ {print $2 * 1000}' "$W/ingest.codes" | sort -n | awk '{ t[NR] = $1 } END {
  if (NR) printf "  ingest round trip: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    t[int(NR * 0.5) + 1], t[int(NR * 0.9) + 1], t[int(NR * 0.99) + 1], t[NR] }'
# the failed ones: status (000: no answer), seconds taken, curl exit, started at
for f in force ingest; do
  awk -v f="$f" -v t0="$START" '$1 !~ /^2/ {printf "  %s failed: status %s after %ss, curl exit %s, at +%ds (connected %s, sent %s, first byte %s, %s bytes)\n", f, $1, $2, $3, $4 - t0, $5, $6, $7, $8}' "$W/$f.codes" 2>/dev/null | head -5
done
echo "idle connections:   $IDLE_OPENS opened (200 held), $IDLE_FAILS connects failed"
echo "SIGHUP reloads:     $HUPS"
echo "== daemon"
echo "RSS kB:  start $RSS0  end $RSS1  max $RSSMAX"
echo "fds (not sockets): start $FD0  end $FD1  max $FDMAX"
echo "sockets: start $SOCK0  end $SOCK1  max $SOCKMAX"
echo "exit status after SIGTERM: $RC; leftover processes: $NLEFT"
[ "$NLEFT" -gt 0 ] && printf '  %s\n' "$LEFT" | head -20
grep -E '(ERROR|error|crit)' "$W/log" | grep -v 'status.*error' | head -5 | sed 's/^/  log: /'

echo "== verdict"
FAIL=0
verdict() { # ok? text
  if [ "$1" -eq 1 ]; then echo "PASS $2"; else echo "FAIL $2"; FAIL=1; fi
}
# RSS: the caches fill during the first minutes (SQLite's page caches up
# to their caps, the HTTP threads' malloc arenas, the remembered ingest
# ids up to their bound), so a sample taken after 20 s is below the
# plateau of a daemon that does not leak.  A leak - one allocation per
# request, collection or reload - grows with time, so it shows in the
# second half of the run: the end may not exceed the sample nearest half
# time by more than 1 MiB or 5 %.  The start-to-end figure is printed too.
RSS_MID=$(awk -v h=$((SOAK / 2)) '$1 == "mid" || $1 == "start" {d = $5 - h; if (d < 0) d = -d; if (b == "" || d < b) {b = d; r = $2}} END {print r + 0}' "$W/samples")
RSS_TOL=$(( RSS_MID / 20 > 1024 ? RSS_MID / 20 : 1024 ))
verdict $(( RSS1 <= RSS_MID + RSS_TOL )) "RSS flat: end $RSS1 kB <= half-time $RSS_MID kB + $RSS_TOL kB (max(1 MiB, 5 %)); start $RSS0 kB"
# fds other than sockets: helpers in flight (three pipes each, up to
# max_concurrent_collections) move one sample by tens, a leak of one per
# request, reload or collection raises the floor.  The lowest sample of
# the second half may not exceed the lowest of the first by more than 16.
FD_FLOOR1=$(awk -v h=$((SOAK / 2)) '($1 == "start" || $1 == "mid") && $5 <= h {if (m == "" || $3 < m) m = $3} END {print m + 0}' "$W/samples")
FD_FLOOR2=$(awk -v h=$((SOAK / 2)) '($1 == "mid" || $1 == "end") && $5 > h {if (m == "" || $3 < m) m = $3} END {print m + 0}' "$W/samples")
FD_TOL=16
verdict $(( FD_FLOOR2 <= FD_FLOOR1 + FD_TOL )) "fd flat: lowest of the second half $FD_FLOOR2 <= lowest of the first $FD_FLOOR1 + $FD_TOL descriptors other than sockets"
SOCK_CAP=$((512 + 16))
verdict $(( SOCKMAX <= SOCK_CAP )) "sockets bounded: max $SOCKMAX <= $SOCK_CAP (http_max_connections + listening)"
BAD=$(( ${NON2XX:-0} + W_TIMEOUT + W_CONNECT + W_READ + W_WRITE + F_BAD + I_BAD ))
verdict $(( BAD == 0 )) "0 failed requests: wrk non-2xx + wrk socket errors (connect, read, write, timeout) + force_refresh not 2xx + ingest not 2xx = $BAD"
verdict $(( NLEFT == 0 && STUCK == 0 )) "0 leftover processes after SIGTERM ($NLEFT)"
verdict $(( RC == 0 )) "clean exit after SIGTERM (status $RC)"
exit $FAIL
