#!/usr/bin/env bash
# A throwaway PostgreSQL server for the registry tests: installs Debian's package when the
# machine has none, then starts (or reuses) a cluster that listens on loopback only.
#   scripts/postgres.sh start | stop | status
set -euo pipefail
PGPORT=${DSC_TEST_PG_PORT:-54329}
PGDIR=${DSC_TEST_PG_DIR:-/tmp/opendsc-pg-$PGPORT}

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

as_pg() {  # the server refuses to run as root: use the package's postgres user then
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_server() {
  [ -n "$(bindir)" ] && return 0
  echo "postgres.sh: installing Debian's postgresql package" >&2
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}

start() {
  install_server
  local bin; bin=$(bindir)
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
    echo "postgres.sh: server already up on 127.0.0.1:$PGPORT"; return 0
  fi
  rm -rf "$PGDIR"; mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGDIR"
  as_pg "$bin/initdb" -D "$PGDIR/data" -A trust -U postgres --no-sync >/dev/null
  as_pg "$bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
      -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres opendsc_test
  echo "postgres.sh: server up on 127.0.0.1:$PGPORT"
}

stop() {
  local bin; bin=$(bindir)
  [ -n "$bin" ] && [ -d "$PGDIR/data" ] && as_pg "$bin/pg_ctl" -D "$PGDIR/data" -m fast stop || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) "$(bindir)/pg_isready" -h 127.0.0.1 -p "$PGPORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
