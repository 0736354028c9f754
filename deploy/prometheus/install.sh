#!/usr/bin/env sh
# Prometheus and promtool from Debian's package when missing (tests/integration/test_prometheus.py).
exec "$(dirname "$0")/../apt-install.sh" prometheus prometheus promtool
