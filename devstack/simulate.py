"""`twitch-pulse simulate` (arguments in `devstack.cli`): the Helix simulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import orjson

from pulse.logs import setup_logging
from pulse.resilience import StopSignal
from pulse.settings import ConfigError

from .service import ServiceError
from .simulator import Faults, SimulatorConfig, SimulatorServer

log = logging.getLogger(__name__)


def simulator_config(args: argparse.Namespace) -> SimulatorConfig:
    """`simulate`'s arguments -> the simulator's configuration; a bad value is a ConfigError."""
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


def simulate_command(args: argparse.Namespace) -> int:
    setup_logging(os.environ.get("LOG_LEVEL", "INFO").upper(),
                  fmt="json" if os.environ.get("LOG_FORMAT", "").strip().lower() == "json" else "text")
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
    stop = StopSignal().event
    server.start()
    clock = server.helix.clock
    log.info("Helix simulator on %s: %d channels, %d games, seed %d, clock speed %s anchor %.3f; "
             "set TWITCH_API_URL=%s TWITCH_AUTH_URL=%s", server.url, config.channels, config.games, config.seed,
             clock.speed, clock.anchor, server.api_url, server.auth_url)
    stop.wait()
    server.stop()
    return 0
