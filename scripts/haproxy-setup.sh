#!/usr/bin/env bash
# Makes sure HAProxy is there for the load-balancer test (test/e2e/haproxy.test.ts) and
# prints its path as the last line of stdout. As root it installs Debian's `haproxy`
# package (apt-get) when missing; otherwise it fails saying what to install.
# Progress goes to stderr so callers can take stdout's last line as the path.
set -euo pipefail
say() { echo "haproxy-setup: $*" >&2; }
die() { echo "haproxy-setup: error: $*" >&2; exit 1; }
. "$(dirname "$0")/lib/apt-install.sh"

find_haproxy() {
  if command -v haproxy >/dev/null 2>&1; then command -v haproxy; return 0; fi
  # Debian installs it in /usr/sbin, which a non-login root shell may not have on PATH.
  if [ -x /usr/sbin/haproxy ]; then echo /usr/sbin/haproxy; fi
  return 0
}

BIN="$(find_haproxy)"
if [ -z "$BIN" ]; then
  # The package's own service is not wanted: the test runs its own haproxy process.
  apt_install "HAProxy is" haproxy
  BIN="$(find_haproxy)"
  [ -n "$BIN" ] || die "haproxy is still missing after apt-get install"
fi
echo "$BIN"
