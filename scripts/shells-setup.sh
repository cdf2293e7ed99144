#!/usr/bin/env bash
# Makes sure zsh and fish are there for the completion tests (test/cli/completion.test.ts),
# which run the generated scripts in the real shells. As root it installs Debian's `zsh` and
# `fish` packages (apt-get) when missing; otherwise it fails saying what to install.
set -euo pipefail
say() { echo "shells-setup: $*" >&2; }
die() { echo "shells-setup: error: $*" >&2; exit 1; }
. "$(dirname "$0")/lib/apt-install.sh"

missing=()
for s in zsh fish; do command -v "$s" >/dev/null 2>&1 || missing+=("$s"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
apt_install "${missing[*]}" "${missing[@]}"
for s in "${missing[@]}"; do command -v "$s" >/dev/null 2>&1 || die "$s is still missing after apt-get install"; done
