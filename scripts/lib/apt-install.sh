# Sourced by the scripts that install what a test needs from Debian's packages
# (scripts/*-setup.sh). They define say and die first.
# apt_install WHAT PACKAGE...: installs PACKAGE... as root, or fails saying what to install.
apt_install() {
  local what="$1"
  shift
  [ "$(id -u)" = 0 ] || die "$what missing and this is not root: install Debian's $* package(s)"
  say "installing Debian's $* (apt-get)…"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}
