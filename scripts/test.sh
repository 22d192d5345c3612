#!/usr/bin/env bash
# Runs hookworker's tests against a real Redis and a real PostgreSQL.
#
# It finds what the tests need, in this order:
#   1. TEST_REDIS_URL / TEST_DATABASE_URL, else REDIS_URL / DATABASE_URL;
#   2. the local services on 127.0.0.1:6379 and 127.0.0.1:5432 if they answer;
#   3. a throwaway redis-server / PostgreSQL started from this machine's
#      binaries in a temporary directory (stopped and removed at exit);
#   4. otherwise it stops and says what to install.
# TEST_THROWAWAY=1 skips 1 and 2 (to check the fallback itself).
# Tests lease Redis databases 1-15 and create a schema each in PostgreSQL,
# so never point these variables at production.
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
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  if [ -n "${pg_ctl:-}" ] && [ -n "$tmp" ] && [ -d "$tmp/pg" ]; then
    $pg_as "$pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  [ -n "$tmp" ] && rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
mktmp() { [ -n "$tmp" ] || tmp=$(mktemp -d /tmp/hookworker-test.XXXXXX); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)); }

redis_answers() { # host port
  local reply=""
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  [[ "$reply" == +PONG* || "$reply" == -NOAUTH* ]]
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# --- Redis -------------------------------------------------------------------
if [ "${TEST_THROWAWAY:-}" = 1 ]; then
  unset TEST_REDIS_URL TEST_DATABASE_URL REDIS_URL DATABASE_URL
  skip_local=1
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
  if [ -n "${REDIS_URL:-}" ]; then
    TEST_REDIS_URL=$REDIS_URL
  elif [ -z "${skip_local:-}" ] && redis_answers 127.0.0.1 6379; then
    TEST_REDIS_URL=redis://127.0.0.1:6379/0
  elif command -v redis-server >/dev/null; then
    mktmp
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
      --logfile "$tmp/redis.log" --daemonize no >/dev/null &
    pids+=($!)
    for _ in $(seq 100); do redis_answers 127.0.0.1 "$port" && break; sleep 0.05; done
    redis_answers 127.0.0.1 "$port" || { echo "test.sh: throwaway redis-server did not start:" >&2; cat "$tmp/redis.log" >&2; exit 1; }
    TEST_REDIS_URL=redis://127.0.0.1:$port/0
    echo "test.sh: started a throwaway Redis on 127.0.0.1:$port" >&2
  else
    echo "test.sh: no Redis: set TEST_REDIS_URL, start Redis on 127.0.0.1:6379, or install redis-server (apt-get install redis-server)" >&2
    exit 1
  fi
fi

# --- PostgreSQL ----------------------------------------------------------------
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if [ -n "${DATABASE_URL:-}" ]; then
    TEST_DATABASE_URL=$DATABASE_URL
  elif [ -z "${skip_local:-}" ] && port_open 127.0.0.1 5432 && { ! command -v pg_isready >/dev/null || pg_isready -q -h 127.0.0.1 -p 5432; }; then
    TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  else
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$bindir" ] || bindir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")
    if [ ! -x "$bindir/initdb" ]; then
      echo "test.sh: no PostgreSQL: set TEST_DATABASE_URL, start PostgreSQL on 127.0.0.1:5432, or install it (apt-get install postgresql)" >&2
      exit 1
    fi
    mktmp
    pg_ctl="$bindir/pg_ctl"
    pg_as=""
    if [ "$(id -u)" = 0 ]; then # initdb refuses to run as root
      chown postgres "$tmp" 2>/dev/null || chmod 777 "$tmp"
      pg_as="runuser -u postgres --"
    fi
    port=$(free_port)
    $pg_as "$bindir/initdb" -D "$tmp/pg" -U postgres --auth=trust >"$tmp/initdb.log" 2>&1 \
      || { echo "test.sh: initdb failed:" >&2; cat "$tmp/initdb.log" >&2; exit 1; }
    $pg_as "$pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w \
      -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
      || { echo "test.sh: PostgreSQL did not start:" >&2; cat "$tmp/pg.log" >&2; exit 1; }
    TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
    echo "test.sh: started a throwaway PostgreSQL on 127.0.0.1:$port" >&2
  fi
fi

export TEST_REDIS_URL TEST_DATABASE_URL
[ $# -gt 0 ] || set -- -race ./...
echo "test.sh: go test -count=1 -timeout 25m $*" >&2
go test -count=1 -timeout 25m "$@"
