"""`twitch-pulse producer | simulate | record | replay`: the source side of the pipeline.

Configuration comes from the environment / .env (see `twitch-pulse config`): credentials
(TWITCH_CLIENT_ID/SECRET or client_id/client_secret, TWITCH_CREDENTIALS for more),
TWITCH_API_URL/TWITCH_AUTH_URL (point them at the simulator), filters (TWITCH_GAME_IDS,
TWITCH_GAME_NAMES, TWITCH_LANGUAGES, TWITCH_USER_LOGINS; none = all live streams),
POLL_INTERVAL_SECONDS, CLOCK_SPEED/CLOCK_ANCHOR, PRODUCER_SHARD/PRODUCER_SPLIT/PRODUCER_CONCURRENCY.

A sped-up local demo, in two terminals:
  twitch-pulse simulate --port 8780 --speed 60
  CLOCK_SPEED=60 TWITCH_API_URL=http://127.0.0.1:8780/helix TWITCH_AUTH_URL=http://127.0.0.1:8780/oauth2 \\
    TWITCH_CLIENT_ID=demo TWITCH_CLIENT_SECRET=demo-secret twitch-pulse producer
(the producer adopts the simulator's clock anchor from its Pulse-Clock header: one poll per real second).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("producers.cli")




def _stop_on_signals() -> threading.Event:
    """SIGTERM and SIGINT set an event the workers check between steps."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping after the current step", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _settings(args: argparse.Namespace):
    from pulse.logs import setup_logging
    from pulse.settings import load_settings

    overrides = {}
    if getattr(args, "shard", None):
        overrides["producer_shard"] = args.shard
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.secret_values)
    return settings


def _unreachable(exc: Exception, settings) -> Exception:
    from devstack.service import ServiceError

    return ServiceError(f"Twitch API not usable at {settings.twitch_auth_url} / {settings.twitch_api_url}: {exc}")


def _poll_command(args: argparse.Namespace, record: bool) -> int:
    from confluent_kafka import KafkaException

    from pulse.metrics import start_metrics_server
    from pulse.resilience import BrokerProbe, combine
    from pulse.settings import ConfigError

    from .helix import HelixError
    from .poller import Poller, check_config
    from .recording import Recorder

    settings = _settings(args)
    check_config(settings)  # a configuration mistake is reported before waiting for anything
    stop = _stop_on_signals()
    if record and args.file.suffix not in (".jsonl", ".gz", ".json", ".ndjson") and args.file.suffix:
        raise ConfigError(f"record: {args.file} should end in .jsonl or .jsonl.gz")
    recorder = Recorder(args.file) if record else None
    poller = None
    produce = not record or args.produce
    probe = BrokerProbe(settings) if produce else None
    checks = ([probe] if probe else []) + [lambda: poller.health() if poller is not None else (False, "starting")]
    # bound first, so a port clash is one line before anything else happens
    server = start_metrics_server(settings.metrics_port, combine(*checks))
    try:
        if server is not None:
            log.info("metrics on :%d/metrics", server.port)
        if probe is not None:
            # a broker that is down at start is waited for (issue 10 §10), and shown on /healthz
            probe.start()
            if not probe.check()[0]:
                log.warning("kafka broker %s not reachable; waiting", settings.kafka_bootstrap)
                if not probe.wait_reachable(stop):
                    return 0
                log.info("kafka broker reachable")
        poller = Poller(settings, stop=stop, recorder=recorder, produce=produce)
        poller.start()
        polls = poller.run(args.polls)
        log.info("stopped after %d polls", polls)
    except HelixError as exc:
        raise _unreachable(exc, settings) from None
    except KafkaException as exc:
        from devstack.service import ServiceError

        raise ServiceError(f"Kafka not usable at {settings.kafka_bootstrap}: {exc}") from None
    finally:
        if poller is not None:
            poller.close()
        elif recorder is not None:
            recorder.close()
        if server is not None:
            server.stop()
        if probe is not None:
            probe.stop()
    return 0


def _producer(args: argparse.Namespace) -> int:
    return _poll_command(args, record=False)


def _record(args: argparse.Namespace) -> int:
    return _poll_command(args, record=True)


def _replay(args: argparse.Namespace) -> int:
    from pulse.metrics import start_metrics_server
    from pulse.settings import ConfigError

    from .recording import RecordingError
    from .replay import replay

    settings = _settings(args)
    if not args.file.is_file():
        raise ConfigError(f"replay: no such file {args.file}")
    stop = _stop_on_signals()
    start_metrics_server(settings.metrics_port)
    try:
        report = replay(settings, args.file, args.speed, stop)
    except RecordingError as exc:
        raise ConfigError(str(exc)) from None
    print(f"replayed {report.polls} polls, {report.events} events in {report.seconds:.1f}s "
          f"({report.events_per_second:.0f} events/s)")
    return 1 if report.undelivered else 0


def simulator_config(args: argparse.Namespace):
    from pulse.settings import ConfigError

    from .simulator import Faults, SimulatorConfig

    clients = {}
    for item in args.client or []:
        client_id, sep, secret = item.partition(":")
        if not sep or not client_id or not secret:
            raise ConfigError("simulate --client: use CLIENT_ID:SECRET")
        clients[client_id] = secret
    faults = Faults(drift=args.drift, loop_back=args.loop_back, ia_cursor=args.ia_cursor,
                    invalid_cursor=args.invalid_cursor, short_pages=args.short_pages,
                    malformed=args.malformed, server_errors=args.server_errors, revoke_every=args.revoke_every)
    for name in ("drift", "invalid_cursor", "short_pages", "malformed", "server_errors"):
        if not 0 <= getattr(faults, name) <= 1:
            raise ConfigError(f"simulate --{name.replace('_', '-')}: a probability between 0 and 1")
    if args.channels < 1 or args.games < 1 or args.speed <= 0 or args.rate_limit < 1:
        raise ConfigError("simulate: --channels, --games, --rate-limit must be >= 1 and --speed > 0")
    return SimulatorConfig(host=args.host, port=args.port, channels=args.channels, games=args.games,
                           seed=args.seed, speed=args.speed, anchor=args.anchor, step_seconds=args.step_seconds,
                           frozen=args.frozen, rate_limit=args.rate_limit, token_ttl=args.token_ttl,
                           clients=clients, faults=faults)


def _simulate(args: argparse.Namespace) -> int:
    import orjson

    from devstack.service import ServiceError
    from pulse.logs import setup_logging
    from pulse.settings import ConfigError

    from .simulator import SimulatorServer

    setup_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    config = simulator_config(args)
    try:
        server = SimulatorServer(config)
    except OSError as exc:
        raise ServiceError(f"simulate: cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    if args.spikes:
        try:
            for spike in orjson.loads(Path(args.spikes).read_bytes()):
                status, _, body = server.helix.admin("POST", "/admin/spike", {
                    **spike, "at": spike.get("at", server.helix.clock.now() + float(spike.pop("after_seconds", 0)))})
                if status != 200:
                    raise ConfigError(f"simulate --spikes: {body.decode()}")
        except (OSError, orjson.JSONDecodeError, TypeError, AttributeError) as exc:
            raise ConfigError(f"simulate --spikes {args.spikes}: {exc}") from None
    stop = _stop_on_signals()
    server.start()
    clock = server.helix.clock
    log.info("Helix simulator on %s: %d channels, %d games, seed %d, clock speed %s anchor %.3f; "
             "set TWITCH_API_URL=%s TWITCH_AUTH_URL=%s", server.url, config.channels, config.games, config.seed,
             clock.speed, clock.anchor, server.api_url, server.auth_url)
    stop.wait()
    server.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from pulse.cli import Formatter

    p = sub.add_parser("producer", help="poll Helix every interval and produce snapshot chunks to Kafka (long-running)",
                       description="Poll GET /helix/streams on the interval grid (POLL_INTERVAL_SECONDS, on the "
                                   "CLOCK_SPEED clock), de-duplicate, cut each poll into schema v2 chunks (at least one "
                                   "per chunk key, CHUNK_KEYS; at most CHUNK_STREAMS streams each), produce them to "
                                   "twitch.streams keyed by chunk key and flush. Stops cleanly on SIGTERM/SIGINT; "
                                   "metrics on METRICS_PORT.\n\n" + (__doc__ or ""),
                       formatter_class=Formatter)
    p.add_argument("--polls", type=int, default=None, help="stop after this many polls, then send the final chunks so every window closes (default: run until stopped)")
    p.add_argument("--shard", default=None, help="this process's shard k/S (overrides PRODUCER_SHARD)")
    p.set_defaults(handler=_producer)

    r = sub.add_parser("record", help="poll Helix like the producer and write each poll to a JSON Lines file",
                       description="Poll like `producer` and append every poll to FILE as one JSON line "
                                   "{\"captured_at\": ..., \"data\": [Helix stream objects as returned]} "
                                   "(gzipped when FILE ends in .gz). Share the file or backfill with `replay`.",
                       formatter_class=Formatter)
    r.add_argument("file", type=Path, metavar="FILE", help="output .jsonl or .jsonl.gz (appended to)")
    r.add_argument("--polls", type=int, default=None, help="stop after this many polls (default: until stopped)")
    r.add_argument("--produce", action="store_true", help="also produce the chunks to Kafka, as `producer` does")
    r.add_argument("--shard", default=None, help="this process's shard k/S (overrides PRODUCER_SHARD)")
    r.set_defaults(handler=_record)

    y = sub.add_parser("replay", help="feed a recorded file into Kafka, then send the final chunks",
                       description="Stream FILE (JSON Lines, .gz allowed; one poll in memory at a time), normalise, "
                                   "de-duplicate and cut every poll into chunks exactly as live polling does, produce "
                                   "them to twitch.streams, and end with one final chunk per chunk key so every "
                                   "window closes.",
                       formatter_class=Formatter)
    y.add_argument("file", type=Path, metavar="FILE", help="a recording made by `record`")
    y.add_argument("--speed", type=float, default=None,
                   help="replay at this many times the recorded pace (default: as fast as possible)")
    y.add_argument("--shard", default=None, help="producer shard used for poll ids and the chunks' producer name (k/S)")
    y.set_defaults(handler=_replay)

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
    s.set_defaults(handler=_simulate)
