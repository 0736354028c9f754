"""`twitch-pulse processor`: the long-running Quix Streams worker (arguments; the handler,
which imports Quix Streams, is `processors.commands`)."""

from __future__ import annotations

import argparse

from pulse.cli import Formatter

DESCRIPTION = """\
Consume twitch.streams and compute, per tumbling window (WINDOW_SECONDS, default 600):
game watch-hours/peaks/ranks (twitch.windows.games), channel watch-hours with the global
rank (twitch.windows.channels), each game's top channels (twitch.windows.top_channels), and
spike alerts (twitch.alerts). Exactly-once; state in RocksDB under STATE_DIR with changelog
topics. Invalid records go to twitch.streams.dlq. Stops cleanly on SIGTERM/SIGINT.

Configuration comes from the environment / .env (see `twitch-pulse config`): WINDOW_SECONDS,
WINDOW_GRACE_SECONDS, POLL_INTERVAL_SECONDS, TOP_N, ALERT_THRESHOLD_VIEWERS,
SURGE_MIN_VIEWERS, SURGE_RATIO, GAME_SURGE_MIN_VIEWERS, SURGE_BASELINE_SECONDS,
ALERT_COOLDOWN_SECONDS, METRICS_PORT."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("processor", help="run the Quix Streams processor (windows, ranks, alerts)",
                       description=DESCRIPTION, formatter_class=Formatter)
    p.add_argument("--metrics-port", type=int, default=None,
                   help="Prometheus /metrics and /healthz port (default: METRICS_PORT, 0 disables)")
    p.set_defaults(handler="processors.commands:processor")
