"""`twitch-pulse config`: the effective configuration."""

from __future__ import annotations

import argparse

from pulse.cli import Formatter
from pulse.settings import load_settings


def _config(args: argparse.Namespace) -> int:
    settings = load_settings()
    for name, value in settings:
        print(f"{name.upper()}={value}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("config", help="print the effective configuration (secrets shown as **********)",
                       description="Load settings from the environment and .env, validate them and print them. "
                                   "Exit 2 with one line naming the variable when a value is bad.",
                       formatter_class=Formatter)
    c.set_defaults(handler=_config)
