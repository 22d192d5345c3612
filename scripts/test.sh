#!/usr/bin/env bash
# Runs hookworker's tests against a real Redis and a real PostgreSQL without
# touching anyone's data.
#
# By default it starts a throwaway redis-server and PostgreSQL from this
# machine's binaries, in a temporary directory on free loopback ports, and
# stops and removes them at exit. The tests own that Redis (they lease its
# databases 1-15 and run in parallel) and create a database each in that
# PostgreSQL.
#
# An existing server is used only when a variable names it:
#   TEST_REDIS_URL=redis://host:port/N   the tests use database N only, one
#       test at a time, only while it holds no key they did not write, and
#       delete what they wrote; nothing else on that server is read or
#       flushed (Redis pub/sub channels are server-wide, though).
#   TEST_DATABASE_URL=postgres://...     the tests create databases of their
#       own (hwtest_...) and drop them; the role needs CREATEDB.
# REDIS_URL and DATABASE_URL (the worker's settings) are never used, nor are
# services that happen to listen on 6379/5432.
# TEST_THROWAWAY=1 ignores TEST_REDIS_URL / TEST_DATABASE_URL too.
#
# Usage: scripts/test.sh [go test arguments]   (default: -race ./...)
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "test.sh: Go is not installed (https://go.dev/dl/)" >&2; exit 1; }

tmp=""
pids=()
cleanup() {
  local rc=$? # the tests' status: what cleanup does last must not replace it
  trap '' INT TERM # a second Ctrl-C must not leave a server behind
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  if [ -n "${pg_ctl:-}" ] && [ -n "$tmp" ] && [ -d "$tmp/pg" ]; then
    $pg_as "$pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  [ -n "$tmp" ] && rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mktmp() { [ -n "$tmp" ] || tmp=$(mktemp -d /tmp/hookworker-test.XXXXXX); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)); }

redis_cmd() { # port command...: sends one inline command, prints the reply line
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  shift
  printf '%s\r\n' "$*" >&3
  read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  printf '%s\n' "${reply%$'\r'}"
}
redis_answers() { [[ "$(redis_cmd "$1" PING 2>/dev/null)" == +PONG* ]]; }

if [ "${TEST_THROWAWAY:-}" = 1 ]; then
  unset TEST_REDIS_URL TEST_DATABASE_URL
fi
unset TEST_REDIS_THROWAWAY # only this script may say a server is throwaway

# --- Redis -------------------------------------------------------------------
if [ -n "${TEST_REDIS_URL:-}" ]; then
  echo "test.sh: using only the database named in TEST_REDIS_URL; the Redis tests take turns on it" >&2
else
  command -v redis-server >/dev/null || {
    echo "test.sh: redis-server is not installed (apt-get install redis-server), or set TEST_REDIS_URL=redis://host:port/N to lend the tests database N of an existing Redis" >&2
    exit 1
  }
  mktmp
  for attempt in 1 2 3 4 5; do # another process may take the free port first
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
      --logfile "$tmp/redis.log" --daemonize no >/dev/null &
    pid=$!
    for _ in $(seq 100); do redis_answers "$port" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    redis_answers "$port" && break
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  done
  [ -n "$pid" ] || { echo "test.sh: throwaway redis-server did not start:" >&2; cat "$tmp/redis.log" >&2; exit 1; }
  pids+=("$pid")
  # Mark it as the tests' own: internal/testenv leases all its databases
  # only when the server holds this token.
  TEST_REDIS_THROWAWAY=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  [ "$(redis_cmd "$port" SET hookworker:test:throwaway "$TEST_REDIS_THROWAWAY")" = "+OK" ] \
    || { echo "test.sh: could not mark the throwaway Redis" >&2; exit 1; }
  TEST_REDIS_URL=redis://127.0.0.1:$port/0
  export TEST_REDIS_THROWAWAY
  echo "test.sh: started a throwaway Redis on 127.0.0.1:$port" >&2
fi

# --- PostgreSQL ----------------------------------------------------------------
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "test.sh: using the PostgreSQL in TEST_DATABASE_URL; the tests create and drop databases of their own (hwtest_...)" >&2
else
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$bindir" ] || bindir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")
  if [ ! -x "$bindir/initdb" ]; then
    echo "test.sh: PostgreSQL is not installed (apt-get install postgresql), or set TEST_DATABASE_URL to a server where the tests may create databases" >&2
    exit 1
  fi
  mktmp
  pg_ctl="$bindir/pg_ctl"
  pg_as=""
  if [ "$(id -u)" = 0 ]; then # initdb refuses to run as root
    chown postgres "$tmp" 2>/dev/null || chmod 777 "$tmp"
    pg_as="runuser -u postgres --"
  fi
  $pg_as "$bindir/initdb" -D "$tmp/pg" -U postgres --auth=trust >"$tmp/initdb.log" 2>&1 \
    || { echo "test.sh: initdb failed:" >&2; cat "$tmp/initdb.log" >&2; exit 1; }
  started=""
  for attempt in 1 2 3 4 5; do # another process may take the free port first
    port=$(free_port)
    if $pg_as "$pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w \
      -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null; then
      started=1
      break
    fi
  done
  [ -n "$started" ] || { echo "test.sh: PostgreSQL did not start:" >&2; cat "$tmp/pg.log" >&2; exit 1; }
  TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "test.sh: started a throwaway PostgreSQL on 127.0.0.1:$port" >&2
fi

export TEST_REDIS_URL TEST_DATABASE_URL
[ $# -gt 0 ] || set -- -race ./...
echo "test.sh: go test -count=1 -timeout 25m $*" >&2
go test -count=1 -timeout 25m "$@"
