"""`twitch-pulse`: one command line for every worker and the local stack.

Each area registers its own subcommands in its `cli.py` (`devstack`, `producers`, `processors`,
`sinks`, `dashboard`; `config` is `pulse.ops`), so a behaviour's command lives next to its
code. Registering only declares arguments; heavy handlers (the areas' `commands.py`,
`sinks.status`, `devstack.run`, `devstack.simulate`) are imported only when their command runs
(`AREAS`, `resolve`), keeping `--help` fast. User mistakes (bad configuration, a service that
will not start) print one line and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import signal
import sys
from typing import Any, Callable, Optional, Sequence, Union

from pulse import catch_early_sigterm, logs
from pulse.settings import ConfigError

# Every area's command registrations ("module:function"), in `--help` order: the one place the
# shared package names the areas, so `pulse` itself imports none of them. A registration only
# declares arguments; a command whose module is heavy to import names its handler as
# "module:function" too, imported by `main` only when that command runs, so `--help` stays fast.
AREAS = ("devstack.cli:register", "producers.cli:register", "devstack.cli:register_simulate", "processors.cli:register",
         "sinks.cli:register", "devstack.cli:register_run", "pulse.ops:register", "sinks.cli:register_status",
         "dashboard.cli:register", "analytics.cli:register")


EXIT_RESTART = 70  # EX_SOFTWARE: the worker ended itself for its supervisor to restart it


class CommandError(Exception):
    """A command cannot go on for a reason the user can act on (a port taken, a service that
    will not start): the CLI prints the message as one line and exits with `exit_code`."""

    exit_code = 1


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults in --help and keeps descriptions' line breaks."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twitch-pulse",
        description="Real-time Twitch viewership analytics: Helix -> Kafka -> Quix Streams -> Snowflake + Slack.",
        formatter_class=Formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for ref in AREAS:
        try:
            register = resolve(ref)
        except ModuleNotFoundError as exc:
            if exc.name == ref.split(".")[0]:  # the area is not installed
                continue
            raise
        register(sub)
    return parser


def resolve(ref: Union[str, Callable[..., Any]]) -> Callable[..., Any]:
    """"module:function" -> the function, importing its module now."""
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    catch_early_sigterm()  # workers install their own handlers as they start
    # `kill -USR1 <pid>` prints every thread's stack to stderr: for a worker that seems stuck
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    # the worker's name in JSON log lines: the command, with the sink's kind (`sink raw` -> sink-raw)
    logs.WORKER = "-".join(str(part) for part in (args.command, getattr(args, "kind", None)) if part)
    try:
        return int(resolve(args.handler)(args) or 0)
    except ConfigError as exc:
        print(f"twitch-pulse: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"twitch-pulse: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
