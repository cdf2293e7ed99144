#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the test suite in .pg/ (git-ignored), listening
# on 127.0.0.1 only, and prints its connection URL as the last line of stdout.
# Idempotent: a cluster that already exists is reused, a running server is left running
# (npm test starts it and leaves it up so the next run starts faster).
#   bash scripts/pg-setup.sh          set up / start, print the URL
#   bash scripts/pg-setup.sh --stop   stop the server (keeps the data; rm -rf .pg to drop it)
# SWITCHBOARD_PG_PORT picks the port (default 54329); use the same value with --stop.
# Progress goes to stderr so callers can take stdout's last line as the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

PORT="${SWITCHBOARD_PG_PORT:-54329}"
ROLE=switchboard
PASS=switchboard
DB=switchboard_test

say() { echo "pg-setup: $*" >&2; }
die() { echo "pg-setup: error: $*" >&2; exit 1; }
. "$ROOT/scripts/lib/apt-install.sh"

find_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
  return 0
}

BIN="$(find_bindir)"
if [ -z "$BIN" ]; then
  apt_install "PostgreSQL server binaries are" postgresql
  BIN="$(find_bindir)"
  [ -n "$BIN" ] || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found"
fi

# initdb and postgres refuse to run as root: use the package's system user then.
if [ "$(id -u)" = 0 ]; then
  getent passwd postgres >/dev/null || die "running as root but there is no 'postgres' system user to run the server as"
  # From / so psql and pg_ctl do not complain about a working directory they cannot enter.
  as_pg() { (cd / && runuser -u postgres -- "$@"); }
  OWNER=postgres
else
  as_pg() { "$@"; }
  OWNER="$(id -un)"
fi

# The server runs as `postgres`, which must reach the data folder: a checkout under a
# private home directory (mode 700) is out of its reach, so the cluster lives in /var/tmp then.
PGDIR="$ROOT/.pg"
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
  PGDIR="/var/tmp/switchboard-pg-$(printf %s "$ROOT" | sha256sum | cut -c1-12)"
fi
DATA="$PGDIR/data"
SOCK="$PGDIR/run"
LOG="$PGDIR/server.log"

is_running() { [ -f "$DATA/PG_VERSION" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

if [ "${1:-}" = "--stop" ]; then
  if is_running; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    say "stopped"
  else
    say "not running"
  fi
  exit 0
fi
[ -z "${1:-}" ] || die "unknown option '$1' (only --stop)"

URL="postgresql://$ROLE:$PASS@127.0.0.1:$PORT/$DB"
PSQL="$BIN/psql"
[ -x "$PSQL" ] || PSQL="$(command -v psql || true)"
[ -n "$PSQL" ] || die "psql not found"

# Another checkout's test server (e.g. the CI clone next to a working tree) may already hold
# the port: it was made by this script, so the same role works there; use it.
usable_elsewhere() {
  ! is_running && PGPASSWORD="$PASS" PGCONNECT_TIMEOUT=3 "$PSQL" -X -q -tA -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" \
    -c 'SELECT 1' >/dev/null 2>&1
}
if usable_elsewhere; then
  say "a test server of another checkout already answers on 127.0.0.1:$PORT; using it"
  echo "$URL"
  exit 0
fi

mkdir -p "$PGDIR"
if [ "$OWNER" = postgres ]; then
  chown postgres: "$PGDIR"
  as_pg test -x "$PGDIR" || die "user 'postgres' cannot reach $PGDIR (a parent folder is not traversable)"
fi
as_pg mkdir -p "$SOCK"
as_pg chmod 700 "$SOCK"

if [ ! -f "$DATA/PG_VERSION" ]; then
  say "creating cluster in $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --no-locale >/dev/null || die "initdb failed"
  # Settings live in the cluster so a plain pg_ctl restart keeps them. Durability is not
  # wanted for a test database; speed is.
  as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOF
# added by scripts/pg-setup.sh
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if is_running; then
  # It may have been started with another SWITCHBOARD_PG_PORT: talk to it where it is.
  running_port="$(as_pg sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$running_port" ] && [ "$running_port" != "$PORT" ]; then
    say "the server of this checkout already runs on port $running_port (not $PORT); using it"
    PORT="$running_port"
    URL="postgresql://$ROLE:$PASS@127.0.0.1:$PORT/$DB"
  fi
  say "server already running on 127.0.0.1:$PORT"
else
  say "starting server on 127.0.0.1:$PORT"
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $PORT" -w -t 60 start >/dev/null \
    || { tail -n 20 "$LOG" >&2 || true; die "server did not start (log: $LOG); if port $PORT is taken, set SWITCHBOARD_PG_PORT"; }
fi

psql_admin() { as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d postgres -tA "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
  say "creating role $ROLE"
  # CREATEDB: the test helper makes a fresh database per test store.
  psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASS'"
fi
# No autovacuum: its workers run without a role, and DROP DATABASE ... WITH (FORCE) by a
# non-superuser fails ("must be a member of the role whose process is being terminated";
# "permission denied to terminate process" on newer servers) when one is working on the
# database being dropped: the tests' cleanup, right after a burst of writes. Test
# databases live for seconds; they need no vacuuming. ALTER SYSTEM so clusters made by an
# older version of this script get it too; the setting needs only a reload.
if [ "$(psql_admin -c "SHOW autovacuum")" != off ]; then
  psql_admin -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  say "creating database $DB"
  psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
fi

echo "$URL"
