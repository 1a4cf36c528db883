#!/usr/bin/env bash
# Set up a local PostgreSQL for the store tests (Debian/Ubuntu, run as root). Idempotent.
#
#   eval "$(.ci/postgres.sh)"     # installs/starts PostgreSQL and exports NBMLOPS_TEST_PG_URL
#
# Progress goes to stderr; the only line on stdout is the export, so `eval` is safe.
set -euo pipefail

PG_USER="${PG_USER:-nbmlops}"
PG_PASSWORD="${PG_PASSWORD:-nbmlops}"
PG_DB="${PG_DB:-nbmlops_test}"
PG_PORT="${PG_PORT:-5432}"

say() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "run as root (it installs and starts a system service)"; exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
    say "installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

start_cluster() {
    if command -v pg_lsclusters >/dev/null 2>&1; then
        # pg_lsclusters: Ver Cluster Port Status Owner Data Log
        local line
        line="$(pg_lsclusters --no-header | head -n1)"
        if [ -z "$line" ]; then
            say "no cluster found; creating one"
            local ver
            ver="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
            pg_createcluster "$ver" main --port "$PG_PORT" >&2
            line="$(pg_lsclusters --no-header | head -n1)"
        fi
        set -- $line
        if [ "$4" != "online" ]; then
            say "starting cluster $1/$2"
            pg_ctlcluster "$1" "$2" start >&2
        fi
        PG_PORT="$3"
    else
        service postgresql start >&2
    fi
}
start_cluster

# wait until the server accepts connections
for _ in $(seq 1 30); do
    if su postgres -s /bin/sh -c "psql -p $PG_PORT -qAtc 'select 1'" >/dev/null 2>&1; then break; fi
    sleep 1
done

psql_admin() { su postgres -s /bin/sh -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qAt -c \"$1\""; }

if [ "$(psql_admin "select 1 from pg_roles where rolname = '$PG_USER'")" != 1 ]; then
    say "creating role $PG_USER"
    psql_admin "create role $PG_USER login password '$PG_PASSWORD' createdb" >&2
else
    psql_admin "alter role $PG_USER login password '$PG_PASSWORD' createdb" >&2
fi
if [ "$(psql_admin "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]; then
    say "creating database $PG_DB"
    psql_admin "create database $PG_DB owner $PG_USER" >&2
fi

say "ready"
echo "export NBMLOPS_TEST_PG_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
