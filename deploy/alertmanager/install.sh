#!/usr/bin/env sh
# Alertmanager and amtool from Debian's package when missing (tests/integration/test_alertmanager.py).
exec "$(dirname "$0")/../apt-install.sh" prometheus-alertmanager prometheus-alertmanager amtool
