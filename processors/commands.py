"""The handler of `twitch-pulse processor` (arguments: `processors.cli`)."""

from __future__ import annotations

import argparse

from pulse.logs import setup_logging
from pulse.settings import load_settings

from .app import run


def processor(args: argparse.Namespace) -> int:
    overrides = {"metrics_port": args.metrics_port} if args.metrics_port is not None else {}
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.secret_values, settings.log_format)
    run(settings)
    return 0
