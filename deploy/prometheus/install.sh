#!/usr/bin/env sh
# Install Prometheus (and promtool) from the distribution's package when they are missing.
# Used by `make install` (and by the tests on a fresh machine). Debian/Ubuntu only; never
# starts the packaged service (the tests start their own Prometheus on loopback).
# Exit 0 when prometheus and promtool are on PATH afterwards, 3 when they cannot be installed.
set -eu

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-prometheus: apt-get not available; install Prometheus yourself (https://prometheus.io/download/)" >&2
    exit 3
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-prometheus: not root and no passwordless sudo; run: apt-get install -y prometheus" >&2
        exit 3
    fi
fi
echo "install-prometheus: apt-get install prometheus (Debian package, includes promtool)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends prometheus >&2
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
