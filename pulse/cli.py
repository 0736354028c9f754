"""`twitch-pulse`: one command line for every worker and the local stack.

Each area registers its own subcommands (`devstack.cli`, `producers.cli`, `processors.cli`,
`sinks.cli`, `dashboard.cli`), so a behaviour's command lives next to its code. Handlers import their heavy
dependencies lazily, keeping `--help` fast. User mistakes (bad configuration, a service
that will not start) print one line and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import signal
import sys
from typing import Optional, Sequence

AREAS = ("devstack.cli", "producers.cli", "processors.cli", "sinks.cli", "pulse.ops", "pulse.status",
         "dashboard.cli")


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults in --help and keeps descriptions' line breaks."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twitch-pulse",
        description="Real-time Twitch viewership analytics: Helix -> Kafka -> Quix Streams -> Snowflake + Slack.",
        formatter_class=Formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in AREAS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name in (module_name, module_name.split(".")[0]):  # the area is not installed
                continue
            raise
        module.register(sub)
    return parser


def _stop_while_starting(signum: int, _frame: object) -> None:
    """A SIGTERM before a worker has its own handler: nothing runs yet, so stop at once, cleanly."""
    raise SystemExit(0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop_while_starting)  # workers install their own as they start
    from devstack.service import ServiceError
    from pulse.settings import ConfigError

    # `kill -USR1 <pid>` prints every thread's stack to stderr: for a worker that seems stuck
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"twitch-pulse: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"twitch-pulse: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
