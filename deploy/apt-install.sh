#!/usr/bin/env sh
# Install Debian packages when the commands they provide are missing, for the tests on a fresh
# machine (never starts a packaged service: the tests start their own on loopback).
#   deploy/apt-install.sh "PACKAGE..." COMMAND...
# Exit 0 when every COMMAND is on PATH afterwards, 3 when they cannot be installed (no apt-get,
# not root and no passwordless sudo, or the install failed); the reason goes to stderr.
set -eu
packages="$1"
shift
missing() {
    for command in "$@"; do command -v "$command" >/dev/null 2>&1 || return 0; done
    return 1
}
missing "$@" || exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-install: apt-get not available; install $packages yourself" >&2
    exit 3
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "apt-install: not root and no passwordless sudo; run: apt-get install -y $packages" >&2
        exit 3
    fi
fi
echo "apt-install: apt-get install $packages (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # the package list is meant to split
$SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q --no-install-recommends $packages >&2 || exit 3
missing "$@" && exit 3
exit 0
