#!/bin/sh
# bench/http.sh - HTTP API figures for the closing notes.
#  1. cached GET /api/automation/usage: wrk, 50 keep-alive connections,
#     daemon pinned to CPU 0 and wrk to CPU 1 (as in shared/NOTES.md);
#  2. force_refresh with one hung provider: latency vs endpoint_timeout.
# Needs: a built tree (make), wrk (apt-get install wrk), curl, taskset.
# Usage: bench/http.sh [seconds]   (default 10)
set -eu
cd "$(dirname "$0")/.."
DUR=${1:-10}
command -v wrk >/dev/null || { echo "bench/http.sh: install wrk (apt-get install wrk)" >&2; exit 1; }
[ -x ./meterd ] || { echo "bench/http.sh: run make first" >&2; exit 1; }
W=$(mktemp -d /tmp/meterd-bench.XXXXXX)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT INT TERM
ROOT=$(pwd)

# Six providers in three families plus one that hangs forever.
for i in 1 2 3 4 5 6; do
cat >"$W/p$i.sh" <<S
#!/bin/sh
echo '{"status":"ok","metrics":[{"id":"five_hour","label":"5 h window","kind":"quota_window","unit":"percent","utilization":$((i * 11)),"window_seconds":18000,"resets_at":"2030-01-01T00:00:00Z"},{"id":"seven_day","kind":"quota_window","unit":"percent","utilization":$((i * 7))},{"id":"requests","kind":"usage","unit":"requests","used":$((i * 100))}],"notes":["bench provider $i"]}'
S
chmod +x "$W/p$i.sh"
done
cat >"$W/aliases.yaml" <<Y
families:
  openai: [p1, p2]
  claude: [p3, p4]
  gemini: [p5, p6]
Y
{
  echo "listen: 127.0.0.1:0"
  echo "state_dir: $W/state"
  echo "plugin_dir: $ROOT/plugins"
  echo "aliases: aliases.yaml"
  echo "endpoint_timeout: 2s"
  echo "min_refresh_interval: 1s"
  echo "providers:"
  for i in 1 2 3 4 5 6; do
    printf '  p%s:\n    plugin: exec\n    interval: 1h\n    command: ["%s/p%s.sh"]\n' "$i" "$W" "$i"
  done
  printf '  hung:\n    plugin: %s/t/plugins/hang.so\n    interval: 1h\n    timeout: 50m\n' "$ROOT"
} >"$W/meterd.yaml"

taskset -c 0 ./meterd -c "$W/meterd.yaml" 2>"$W/log" &
PID=$!
for _ in $(seq 100); do grep -q "listening on" "$W/log" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$W/log" | head -1)
[ -n "$ADDR" ] || { cat "$W/log"; exit 1; }
sleep 1 # let the exec providers collect
URL="http://$ADDR/api/automation/usage"
BYTES=$(curl -s "$URL" | wc -c)
echo "response size: $BYTES bytes (7 providers, 4 families)"

echo "== cached GET, 50 keep-alive connections, ${DUR}s, daemon on CPU 0, wrk on CPU 1"
taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency "$URL" | sed -n '/Latency/p;/50%/p;/90%/p;/99%/p;/Requests\/sec/p;/Non-2xx/p;/Socket errors/p'
RSS=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
echo "daemon RSS after load: ${RSS} kB"

echo "== force_refresh with one hung provider (endpoint_timeout 2s; target <= 2.100 s)"
for i in 1 2 3 4 5; do
  sleep 1.1 # min_refresh_interval
  curl -s -o "$W/r.json" -w "  run $i: %{time_total}s HTTP %{http_code}" "$URL?force_refresh=true"
  printf ' data_source=%s\n' "$(sed -n 's/.*"data_source": *"\([a-z_]*\)".*/\1/p' "$W/r.json")"
done
