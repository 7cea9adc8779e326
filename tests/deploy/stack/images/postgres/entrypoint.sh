#!/bin/sh
# The official image's first start, in short: an empty data directory gets a cluster whose
# superuser is POSTGRES_USER with POSTGRES_PASSWORD (password auth over TCP) and POSTGRES_DB.
set -eu
if [ "${1:-}" = "postgres" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  initdb -D "$PGDATA" --username "$POSTGRES_USER" --pwfile /tmp/pwfile \
    --auth-local trust --auth-host scram-sha-256 --encoding UTF8 --locale C.UTF-8 >/dev/null
  rm -f /tmp/pwfile
  echo "CREATE DATABASE \"$POSTGRES_DB\";" | postgres --single -D "$PGDATA" -j postgres >/dev/null
fi
if [ "${1:-}" = "postgres" ]; then
  shift
  exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
