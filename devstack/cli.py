"""`twitch-pulse stack start|stop|status|fetch`: the embedded local Kafka and warehouse."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pulse.cli import Formatter

from .kafka import KafkaBroker, fetch
from .warehouse import WarehouseServer


def default_run_dir() -> Path:
    return Path(os.environ.get("TWITCH_PULSE_RUN_DIR", ".local"))


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=default_run_dir(),
                        help="where data, pid files and logs live (env TWITCH_PULSE_RUN_DIR)")
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("LOCAL_KAFKA_PORT", 9092)),
                        help="local broker port; the KRaft controller uses the next one (env LOCAL_KAFKA_PORT)")
    parser.add_argument("--warehouse-port", type=int, default=int(os.environ.get("SNOWFLAKE_PORT", 8765)),
                        help="local fakesnow server port (env SNOWFLAKE_PORT)")


def broker(args: argparse.Namespace) -> KafkaBroker:
    return KafkaBroker(args.run_dir, port=args.kafka_port)


def warehouse(args: argparse.Namespace) -> WarehouseServer:
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
    print(f"Kafka jars in {fetch()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
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


def register_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run the whole pipeline locally on the embedded defaults",
        description="Start the local Kafka and warehouse, then the Helix simulator, producer, processor, "
                    "every sink, the alerts worker and the dashboard as separate processes, with an "
                    "accelerated clock; print the dashboard's address, then the latest window's top games and "
                    "channels and the latest alerts from the warehouse until Ctrl-C. Workers are supervised "
                    "like containers: a crashed one is restarted after 1, 2, 4 ... 30 s and the console says "
                    "so; after 5 crashes within 5 minutes, or a configuration error (exit 2), run stops "
                    "everything and prints that worker's log tail. The dbt models (broadcasts, daily and "
                    "monthly rankings, language split) are built every --models-every seconds.",
        formatter_class=Formatter)
    add_stack_arguments(p)
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per real second (env CLOCK_SPEED wins if set)")
    p.add_argument("--channels", type=int, default=3000, help="live channels in the simulator")
    p.add_argument("--simulator-port", type=int, default=8780, help="Helix simulator port")
    p.add_argument("--refresh", type=float, default=5.0, help="seconds between console board refreshes")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = until Ctrl-C)")
    p.add_argument("--dashboard-port", type=int, default=os.environ.get("DASHBOARD_PORT", "8501"),
                   help="port of the viewership dashboard started alongside (0 = do not start it; env DASHBOARD_PORT)")
    p.add_argument("--models-every", type=float, default=180.0, metavar="SECONDS",
                   help="real seconds between two `models build` runs (the first after a minute; 0 = never)")
    p.set_defaults(handler="devstack.run:run_command")


def register_simulate(sub: argparse._SubParsersAction) -> None:
    """`twitch-pulse simulate` (handler: `devstack.simulate`)."""
    s = sub.add_parser("simulate", help="run the Helix simulator (a local fake Twitch) in the foreground",
                       description="Serve /oauth2/token, /oauth2/validate, /helix/streams, /helix/games (and "
                                   "/admin/* for tests) with a simulated live population. Every DESIGN §8 "
                                   "behaviour can be switched on here or at run time with POST /admin/faults.",
                       formatter_class=Formatter)
    s.add_argument("--host", default="127.0.0.1", help="listen address")
    s.add_argument("--port", type=int, default=int(os.environ.get("HELIX_SIM_PORT", 8780)),
                   help="listen port, 0 = any (env HELIX_SIM_PORT)")
    s.add_argument("--channels", type=int, default=3000, help="live channels at any time (120000 = a busy hour)")
    s.add_argument("--games", type=int, default=2000, help="number of games (categories)")
    s.add_argument("--seed", type=int, default=1, help="seed of the population and of every fault decision")
    s.add_argument("--speed", type=float, default=float(os.environ.get("CLOCK_SPEED", 1)),
                   help="clock speed: simulated seconds per real second (env CLOCK_SPEED)")
    s.add_argument("--anchor", type=float, default=float(os.environ.get("CLOCK_ANCHOR", 0)),
                   help="epoch second where simulated = real time; 0 = now (env CLOCK_ANCHOR)")
    s.add_argument("--step-seconds", type=float, default=60.0, help="simulated seconds between population changes")
    s.add_argument("--frozen", action="store_true", help="never change the population (exact-set tests)")
    s.add_argument("--rate-limit", type=int, default=800, help="rate-limit points per simulated minute per client id")
    s.add_argument("--token-ttl", type=int, default=5_184_000, help="token lifetime in simulated seconds")
    s.add_argument("--client", action="append", metavar="ID:SECRET",
                   help="accepted credential (repeatable); none given = any id/secret is accepted")
    s.add_argument("--spikes", metavar="FILE", default=None,
                   help="JSON list of spikes: {user_login|game_name|game_id, viewers, after_seconds|at, duration_seconds}")
    faults = s.add_argument_group("faults (DESIGN §8)")
    faults.add_argument("--drift", type=float, default=0.0, help="probability a page boundary drifts (dups/misses)")
    faults.add_argument("--loop-back", action="store_true", help="the last page's cursor leads back to page 1")
    faults.add_argument("--ia-cursor", action="store_true", help="single-page results carry the cursor \"IA\"")
    faults.add_argument("--invalid-cursor", type=float, default=0.0, help="probability of 400 invalid cursor")
    faults.add_argument("--short-pages", type=float, default=0.0, help="probability a page is cut short")
    faults.add_argument("--malformed", type=float, default=0.0, help="probability a page's JSON is broken")
    faults.add_argument("--server-errors", type=float, default=0.0, help="probability of a 503")
    faults.add_argument("--revoke-every", type=int, default=0, help="expire all tokens every N Helix requests (401)")
    s.set_defaults(handler="devstack.simulate:simulate_command")
