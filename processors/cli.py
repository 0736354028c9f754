"""`twitch-pulse processor`: the long-running Quix Streams worker."""

from __future__ import annotations

import argparse

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


def _run(args: argparse.Namespace) -> int:
    from pulse.logs import setup_logging
    from pulse.settings import load_settings

    overrides = {"metrics_port": args.metrics_port} if args.metrics_port is not None else {}
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.secret_values)
    from .app import run

    run(settings)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from pulse.cli import Formatter

    p = sub.add_parser("processor", help="run the Quix Streams processor (windows, ranks, alerts)",
                       description=DESCRIPTION, formatter_class=Formatter)
    p.add_argument("--metrics-port", type=int, default=None,
                   help="Prometheus /metrics and /healthz port (default: METRICS_PORT, 0 disables)")
    p.set_defaults(handler=_run)
