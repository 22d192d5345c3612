#!/usr/bin/env bash
# idle-cost.sh: what idle workers cost — Redis commands/s, Redis CPU, worker
# CPU and the queue UI's server rows over SECONDS_TO_MEASURE (default 10) —
# with the worker's settings taken from the environment (WORKER_FETCHERS,
# TASK_CHECK_INTERVAL, …). IDLE_WORKERS (default 1) worker processes run at
# once, each with its own embedded SQLite database in a temp dir.
#
# Redis: a throwaway redis-server on a free loopback port (so nothing else
# counts in its figures), or the one at REDIS_URL if set (then other
# clients' commands count too; nothing is flushed, only the workers' own
# keys are written). Needs redis-cli, and redis-server without REDIS_URL.
#
#   scripts/idle-cost.sh
#   IDLE_WORKERS=8 scripts/idle-cost.sh
#   WORKER_FETCHERS=2 TASK_CHECK_INTERVAL=10ms scripts/idle-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_TO_MEASURE:-10}
workers=${IDLE_WORKERS:-1}
command -v redis-cli >/dev/null || { echo "idle-cost.sh: needs redis-cli (apt install redis-tools)" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
redis_pid=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ -n "${REDIS_URL:-}" ]; then
  url=$REDIS_URL
else
  command -v redis-server >/dev/null || { echo "idle-cost.sh: needs redis-server, or set REDIS_URL" >&2; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  url=redis://127.0.0.1:$port/0
  for _ in $(seq 50); do redis-cli -u "$url" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
go build -o "$tmp/worker" ./cmd/worker
for i in $(seq "$workers"); do
  mkdir "$tmp/w$i"
  (cd "$tmp/w$i" && REDIS_URL=$url HTTP_ADDR=off LOG_LEVEL=warn exec ../worker) >"$tmp/w$i/log" 2>&1 &
  pids+=($!)
done
rcli() { redis-cli -u "$url" "$@" | tr -d '\r'; }
stat() { rcli info "$1" | awk -F: -v k="$2" '$1==k {print $2}'; }
cpu() { echo "$(stat cpu used_cpu_sys) + $(stat cpu used_cpu_user)" | bc -l; }
wcpu() { local t=0; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
sleep 4 # start-up: migrations, servers, subscriptions, and a first scale-down
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { cat "$tmp"/w*/log >&2; exit 1; }; done
c0=$(stat stats total_commands_processed); r0=$(cpu); w0=$(wcpu)
sleep "$seconds"
c1=$(stat stats total_commands_processed); r1=$(cpu); w1=$(wcpu)
rows=$(rcli zcard asynq:servers)
ticks=$(getconf CLK_TCK)
printf 'idle workers: %d (WORKER_FETCHERS=%s TASK_CHECK_INTERVAL=%s) over %ss: Redis %d commands/s, Redis CPU %.1f %% of a core, worker CPU %.2f %% of a core per worker, server rows %d\n' \
  "$workers" "${WORKER_FETCHERS:-default}" "${TASK_CHECK_INTERVAL:-default}" "$seconds" \
  $(( (c1 - c0) / seconds )) "$(echo "($r1 - $r0) * 100 / $seconds" | bc -l)" \
  "$(echo "($w1 - $w0) * 100 / $ticks / $seconds / $workers" | bc -l)" "$rows"
