"""`twitch-pulse stack start|stop|status|fetch`: the embedded local Kafka and warehouse."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def default_run_dir() -> Path:
    return Path(os.environ.get("TWITCH_PULSE_RUN_DIR", ".local"))


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=default_run_dir(),
                        help="where data, pid files and logs live (env TWITCH_PULSE_RUN_DIR)")
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("LOCAL_KAFKA_PORT", 9092)),
                        help="local broker port; the KRaft controller uses the next one (env LOCAL_KAFKA_PORT)")
    parser.add_argument("--warehouse-port", type=int, default=int(os.environ.get("SNOWFLAKE_PORT", 8765)),
                        help="local fakesnow server port (env SNOWFLAKE_PORT)")


def broker(args: argparse.Namespace):
    from .kafka import KafkaBroker

    return KafkaBroker(args.run_dir, port=args.kafka_port)


def warehouse(args: argparse.Namespace):
    from .warehouse import WarehouseServer

    return WarehouseServer(args.run_dir, port=args.warehouse_port)


def _start(args: argparse.Namespace) -> int:
    for part in (broker(args), warehouse(args)):
        started = part.start()
        print(("started " if started else "already running: ") + part.status())
    return 0


def _stop(args: argparse.Namespace) -> int:
    for part in (warehouse(args), broker(args)):
        print(("stopped " if part.stop() else "was not running: ") + part.service.name)
    return 0


def _status(args: argparse.Namespace) -> int:
    parts = (broker(args), warehouse(args))
    for part in parts:
        print(part.status())
    return 0 if all(p.service.running() for p in parts) else 1


def _fetch(args: argparse.Namespace) -> int:
    from .kafka import fetch

    print(f"Kafka jars in {fetch()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from pulse.cli import Formatter

    stack = sub.add_parser("stack", help="the embedded local Kafka broker and warehouse (no Docker)",
                           description=__doc__, formatter_class=Formatter)
    actions = stack.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("start", _start, "fetch Kafka once, then start the broker and the fakesnow server (idempotent)"),
        ("stop", _stop, "stop both cleanly"),
        ("status", _status, "say whether each is running; exit 1 if one is not"),
        ("fetch", _fetch, "only fetch the Kafka jars from Maven Central into the cache"),
    ):
        p = actions.add_parser(name, help=text, description=text, formatter_class=Formatter)
        add_stack_arguments(p)
        p.set_defaults(handler=handler)
