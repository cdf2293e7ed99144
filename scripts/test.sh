#!/usr/bin/env bash
# The whole test suite: build, start the local PostgreSQL test server (scripts/pg-setup.sh),
# then every test file under dist/test once, with vitest. Suites that loop over testBackends() run on
# SQLite and on that PostgreSQL server. A failed PostgreSQL setup fails the run, unless
# SWITCHBOARD_SKIP_PG=1 asks for SQLite only. The server is left running for the next run.
# The stock-client suite (test/e2e) needs root and tailscaled, tailscale and derper in
# $SWITCHBOARD_TAILSCALE_BIN (default ../shared/tailscale/bin); without them it says it
# is skipped, unless SWITCHBOARD_E2E=required (as in CI) makes that a failure.
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
# Headless Chromium for the page tests (scripts/chromium-setup.sh installs Debian's package
# as root); SWITCHBOARD_SKIP_BROWSER=1 skips them.
if [ "${SWITCHBOARD_SKIP_BROWSER:-}" = 1 ]; then
  echo "test: SWITCHBOARD_SKIP_BROWSER=1: browser tests are skipped" >&2
  unset SWITCHBOARD_CHROMIUM
else
  SWITCHBOARD_CHROMIUM="$(bash scripts/chromium-setup.sh | tail -n 1)"
  export SWITCHBOARD_CHROMIUM
fi
# vitest (vitest.config.mjs) runs the compiled tests: project `main`, then `e2e`, which
# drives the stock Tailscale client one file at a time. Extra arguments go to both runs
# (e.g. a file filter: `npm test -- limits`).
[ -n "$(find dist/test -name '*.test.js' -print -quit)" ] || { echo "test: no test files under dist/test" >&2; exit 1; }
# A filter may match files of one project only; without one, both must find files.
filtered=()
[ "$#" -gt 0 ] && filtered=(--passWithNoTests)
npx vitest run --project main "${filtered[@]}" "$@"
echo "test: stock-client suite (tailscaled from ${SWITCHBOARD_TAILSCALE_BIN:-../shared/tailscale/bin})" >&2
npx vitest run --project e2e "${filtered[@]}" "$@"
