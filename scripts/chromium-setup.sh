#!/usr/bin/env bash
# Makes sure headless Chromium is there for the page tests (test/web/*.browser.test.ts) and
# prints its path as the last line of stdout. As root it installs Debian's `chromium`
# package (apt-get) when missing; otherwise it fails saying what to install.
# Progress goes to stderr so callers can take stdout's last line as the path.
set -euo pipefail
say() { echo "chromium-setup: $*" >&2; }
die() { echo "chromium-setup: error: $*" >&2; exit 1; }
. "$(dirname "$0")/lib/apt-install.sh"

find_chromium() {
  local c
  for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 0
}

BIN="$(find_chromium)"
if [ -z "$BIN" ]; then
  apt_install "Chromium is" chromium
  BIN="$(find_chromium)"
  [ -n "$BIN" ] || die "chromium is still missing after apt-get install"
fi
echo "$BIN"
