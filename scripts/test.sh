#!/usr/bin/env bash
# The whole test suite: build, then every test file under dist/test, once on SQLite and
# once more (the database-backed suites) on a real PostgreSQL server started on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
node --test --test-concurrency=2 dist/test/
