"""`twitch-pulse run`: the whole pipeline on the embedded defaults, in one terminal."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from devstack.cli import broker, warehouse

    for part in (broker(args), warehouse(args)):
        part.start()
        print(part.status())
    print("local stack is up (the pipeline workers join as they land)")
    return 0


def _config(args: argparse.Namespace) -> int:
    from pulse.settings import load_settings

    settings = load_settings()
    for name, value in settings:
        print(f"{name.upper()}={value}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from devstack.cli import add_stack_arguments
    from pulse.cli import Formatter

    p = sub.add_parser("run", help="run the whole pipeline locally on the embedded defaults",
                       description=__doc__, formatter_class=Formatter)
    add_stack_arguments(p)
    p.set_defaults(handler=_run)
    c = sub.add_parser("config", help="print the effective configuration (secrets shown as **********)",
                       description="Load settings from the environment and .env, validate them and print them. "
                                   "Exit 2 with one line naming the variable when a value is bad.",
                       formatter_class=Formatter)
    c.set_defaults(handler=_config)
