#!/usr/bin/env sh
# Install Alertmanager and amtool from the distribution's package when they are missing
# (Debian's prometheus-alertmanager). Used by the tests on a fresh machine; never starts the
# packaged service (tests/test_alertmanager.py starts its own Alertmanager on loopback).
# Exit 0 when prometheus-alertmanager and amtool are on PATH afterwards, 3 when they cannot be.
set -eu

if command -v prometheus-alertmanager >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-alertmanager: apt-get not available; install Alertmanager yourself" >&2
    exit 3
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-alertmanager: not root and no passwordless sudo; run: apt-get install -y prometheus-alertmanager" >&2
        exit 3
    fi
fi
echo "install-alertmanager: apt-get install prometheus-alertmanager (Debian package, includes amtool)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends prometheus-alertmanager >&2
command -v prometheus-alertmanager >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1
