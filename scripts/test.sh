#!/usr/bin/env bash
# The whole test suite: build, start the local PostgreSQL test server (scripts/pg-setup.sh),
# then every test file under dist/test once. Suites that loop over testBackends() run on
# SQLite and on that PostgreSQL server. A failed PostgreSQL setup fails the run, unless
# SWITCHBOARD_SKIP_PG=1 asks for SQLite only. The server is left running for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
if [ "${SWITCHBOARD_SKIP_PG:-}" = 1 ]; then
  echo "test: SWITCHBOARD_SKIP_PG=1: PostgreSQL suites are skipped" >&2
  unset SWITCHBOARD_TEST_PG_URL
else
  url="$(bash scripts/pg-setup.sh | tail -n 1)"
  case "$url" in
    postgresql://*) ;;
    *) echo "test: scripts/pg-setup.sh printed no connection URL" >&2; exit 1 ;;
  esac
  export SWITCHBOARD_TEST_PG_URL="$url"
fi
# Only *.test.js: helpers and fixtures under dist/test are modules, not test files.
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
[ "${#files[@]}" -gt 0 ] || { echo "test: no test files under dist/test" >&2; exit 1; }
node --test --test-concurrency=2 "${files[@]}"
