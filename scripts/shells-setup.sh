#!/usr/bin/env bash
# Makes sure zsh and fish are there for the completion tests (test/cli/completion.test.ts),
# which run the generated scripts in the real shells. As root it installs Debian's `zsh` and
# `fish` packages (apt-get) when missing; otherwise it fails saying what to install.
set -euo pipefail
say() { echo "shells-setup: $*" >&2; }
die() { echo "shells-setup: error: $*" >&2; exit 1; }

missing=()
for s in zsh fish; do command -v "$s" >/dev/null 2>&1 || missing+=("$s"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || die "missing ${missing[*]} and this is not root: install Debian's ${missing[*]} package(s)"
say "installing Debian's ${missing[*]} (apt-get)…"
apt-get update -qq >/dev/null || die "apt-get update failed"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
for s in "${missing[@]}"; do command -v "$s" >/dev/null 2>&1 || die "$s is still missing after apt-get install"; done
