#!/usr/bin/env bash
# idle-cost.sh: what an idle worker costs — Redis commands/s, Redis CPU and
# worker CPU over SECONDS_TO_MEASURE (default 10) — with the worker's settings taken from
# the environment (WORKER_FETCHERS, TASK_CHECK_INTERVAL, …). It uses the
# Redis at REDIS_URL (default redis://127.0.0.1:6379/0, outside the test
# suite's databases 1–15; nothing is flushed,
# only the worker's own keys are written) and the embedded SQLite database in
# a temp dir. Needs redis-cli.
#
#   scripts/idle-cost.sh
#   WORKER_FETCHERS=2 TASK_CHECK_INTERVAL=10ms scripts/idle-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_TO_MEASURE:-10}
url=${REDIS_URL:-redis://127.0.0.1:6379/0}
command -v redis-cli >/dev/null || { echo "idle-cost.sh: needs redis-cli (apt install redis-tools)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/worker" ./cmd/worker
(cd "$tmp" && REDIS_URL=$url HTTP_ADDR=off LOG_LEVEL=warn exec ./worker) >"$tmp/log" 2>&1 &
pid=$!
rcli() { redis-cli -u "$url" "$@" | tr -d '\r'; }
stat() { rcli info "$1" | awk -F: -v k="$2" '$1==k {print $2}'; }
cpu() { echo "$(stat cpu used_cpu_sys) + $(stat cpu used_cpu_user)" | bc -l; }
sleep 3 # start-up: migrations, servers, subscriptions
kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; exit 1; }
c0=$(stat stats total_commands_processed); r0=$(cpu); w0=$(awk '{print $14+$15}' "/proc/$pid/stat")
sleep "$seconds"
c1=$(stat stats total_commands_processed); r1=$(cpu); w1=$(awk '{print $14+$15}' "/proc/$pid/stat")
ticks=$(getconf CLK_TCK)
printf 'idle worker (WORKER_FETCHERS=%s TASK_CHECK_INTERVAL=%s) over %ss: Redis %d commands/s, Redis CPU %.1f %% of a core, worker CPU %.1f %% of a core\n' \
  "${WORKER_FETCHERS:-default}" "${TASK_CHECK_INTERVAL:-default}" "$seconds" \
  $(( (c1 - c0) / seconds )) "$(echo "($r1 - $r0) * 100 / $seconds" | bc -l)" "$(echo "($w1 - $w0) * 100 / $ticks / $seconds" | bc -l)"
