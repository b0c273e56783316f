#!/bin/sh
# bench/http.sh - HTTP API figures for the closing notes.
#  1. cached GET /api/automation/usage: wrk, 50 keep-alive connections,
#     every thread of the daemon pinned to CPU 0 and wrk to CPU 1;
#  2. the same body as a static file from nginx, pinned the same way, in
#     the same run: the yardstick for p99 (skipped when nginx is missing);
#     steps 1 and 2 alternate RUNS times (default 3; the order flips
#     every run) and end with one summary line per server and run
#     (req/s, p50, p99) and the median ratio of the two p99s;
#  3. force_refresh with one hung provider: latency vs endpoint_timeout;
#  4. cached GET /metrics (Prometheus text), pinned as in 1: a scrape
#     should cost what a cached usage query costs.
# Needs: a built tree (make), wrk, curl, taskset; nginx for step 2
# (apt-get install wrk nginx; see bench/README).
# Usage: [RUNS=n] bench/http.sh [seconds]   (default 10 s, 3 runs)
set -eu
cd "$(dirname "$0")/.."
DUR=${1:-10}
RUNS=${RUNS:-3}
# Seconds of idle before each wrk run (GAP=10): without it the second
# server of a pair starts right after 10 s of full load on both CPUs.
GAP=${GAP:-0}
command -v wrk >/dev/null || { echo "bench/http.sh: install wrk (apt-get install wrk)" >&2; exit 1; }
[ -x ./meterd ] || { echo "bench/http.sh: run make first" >&2; exit 1; }
# Not under /tmp: run as root, meterd refuses a config whose directory has
# a group- or world-writable ancestor (StrictModes, meterd.yaml(5)).
W=$(mktemp -d "$(pwd)/bench/.http.XXXXXX")
NGINX_PID=
cleanup() {
  kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
  [ -n "$NGINX_PID" ] && { kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }
  rm -rf "$W"
}
trap cleanup EXIT INT TERM
PID=
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

# MHD starts its threads after the daemon is up: pin all of them.
taskset -a -pc 0 "$PID" >/dev/null
WRK_FILTER='/Latency/p;/50%/p;/90%/p;/99%/p;/Requests\/sec/p;/Non-2xx/p;/Socket errors/p'

echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
NURL=
if [ -n "$NGINX" ]; then
  # The same body as a static file; nginx on its own loopback port, its
  # own prefix and config, one worker, pinned to CPU 0 like meterd.
  mkdir -p "$W/nginx/logs" "$W/nginx/html"
  curl -s "$URL" >"$W/nginx/html/usage.json"
  NPORT=$(( 20000 + $$ % 20000 ))
  cat >"$W/nginx/nginx.conf" <<N
daemon off;
master_process off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $W/nginx/tmp_body;
  proxy_temp_path $W/nginx/tmp_proxy;
  fastcgi_temp_path $W/nginx/tmp_fcgi;
  uwsgi_temp_path $W/nginx/tmp_uwsgi;
  scgi_temp_path $W/nginx/tmp_scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NPORT;
    root $W/nginx/html;
    location / { default_type application/json; add_header Cache-Control no-store; }
  }
}
N
  taskset -c 0 "$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" 2>"$W/nginx/logs/stderr" &
  NGINX_PID=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NPORT/usage.json" >/dev/null && break; sleep 0.1; done
  taskset -a -pc 0 "$NGINX_PID" >/dev/null
  NURL="http://127.0.0.1:$NPORT/usage.json"
else
  echo "== nginx not installed: no side-by-side figure (apt-get install nginx)"
fi

# "run server req/s p50 p99" from wrk's output
summary() {
  awk -v run="$1" -v who="$2" '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2}
       END {printf "  run %s  %-6s %10s req/s  p50 %8s  p99 %8s\n", run, who, r, p50, p99}' "$3"
}
: >"$W/summary"
# "NAME" -> run wrk against it and record one summary line
run_meterd() {
  echo "== run $1/$RUNS meterd: cached GET, 50 keep-alive connections, ${DUR}s, daemon on CPU 0, wrk on CPU 1"
  sleep "$GAP"
  taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency "$URL" >"$W/wrk.m"
  sed -n "$WRK_FILTER" "$W/wrk.m"
  summary "$1" meterd "$W/wrk.m" >>"$W/summary"
}
run_nginx() {
  [ -n "$NURL" ] || return 0
  echo "== run $1/$RUNS nginx: the same body as a static file, same connections, nginx on CPU 0, wrk on CPU 1"
  sleep "$GAP"
  taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency "$NURL" >"$W/wrk.n"
  sed -n "$WRK_FILTER" "$W/wrk.n"
  summary "$1" nginx "$W/wrk.n" >>"$W/summary"
}
# The order alternates (meterd first in odd runs, nginx first in even
# ones) so that neither server always runs on the warmer or the noisier
# half of a run.
for run in $(seq "$RUNS"); do
  if [ $((run % 2)) -eq 1 ]; then run_meterd "$run"; run_nginx "$run"
  else run_nginx "$run"; run_meterd "$run"; fi
done
RSS=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
echo "daemon RSS after load: ${RSS} kB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== summary"
sort -k2,2n -k3,3 "$W/summary"
# p99 of meterd over nginx's per run, and the median of those ratios:
# the figure the target (no worse than nginx, i.e. <= 1.00) is read from.
if [ -n "$NURL" ]; then
  awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
       { p[$2 " " $3] = us($9) }
       END { n = 0
             for (k in p) { split(k, a, " "); if (a[2] == "meterd" && ((a[1] " nginx") in p)) r[++n] = p[k] / p[a[1] " nginx"] }
             for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
             line = ""; for (i = 1; i <= n; i++) line = line sprintf(" %.2f", r[i])
             if (n) printf "  p99 meterd/nginx per run (sorted):%s; median %.2f\n", line, (n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2)
             # odd runs had meterd first: an order effect shows as two groups
             lo = ""; hi = ""
             for (k in p) { split(k, a, " "); if (a[2] == "meterd" && ((a[1] " nginx") in p)) {
                 v = sprintf(" %.2f", p[k] / p[a[1] " nginx"]); if (a[1] % 2) lo = lo v; else hi = hi v } }
             if (n) printf "  by order: meterd first%s; nginx first%s\n", lo, hi }' "$W/summary"
fi
echo "== meterd: cached GET /metrics, same connections and pinning as the usage query"
echo "metrics size: $(curl -s "http://$ADDR/metrics" | wc -c) bytes"
taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency "http://$ADDR/metrics" | sed -n "$WRK_FILTER"
echo "== meterd: cached GET /api/automation/usage again, right after (same conditions)"
taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency "$URL" | sed -n "$WRK_FILTER"
if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; NGINX_PID=; fi

echo "== force_refresh with one hung provider (endpoint_timeout 2s; target <= 2.100 s)"
for i in 1 2 3 4 5; do
  sleep 1.1 # min_refresh_interval
  curl -s -o "$W/r.json" -w "  run $i: %{time_total}s HTTP %{http_code}" "$URL?force_refresh=true"
  printf ' data_source=%s\n' "$(sed -n 's/.*"data_source": *"\([a-z_]*\)".*/\1/p' "$W/r.json")"
done
