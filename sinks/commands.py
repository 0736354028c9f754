"""The handlers of `twitch-pulse sink`, `alerts`, `bootstrap` and `prune` (arguments: `sinks.cli`)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from typing import Any

from pulse.logs import setup_logging
from pulse.settings import ConfigError, Settings, load_settings

from .errors import PermanentSinkError, permanent
from .slack import SlackError, run_alerts
from .worker import WAREHOUSE, run_sink

_AGE = re.compile(r"\s*(\d+)\s*([smhdw])\s*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> timedelta:
    """`7d`, `36h`, `90m` -> a timedelta (the `prune --older-than` and RAW_RETENTION format)."""
    match = _AGE.fullmatch(str(text).lower())
    if not match:
        raise ValueError(f"not an age like 7d, 36h or 90m: {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "method", None):
        overrides["sink_load_method"] = args.method
    if getattr(args, "no_bootstrap", False):
        overrides["sink_bootstrap"] = False
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.secret_values)
    return settings


def _fail(message: str) -> int:
    print(f"twitch-pulse: {message}", file=sys.stderr, flush=True)
    return 1


def sink(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        return run_sink(settings, args.kind)
    except PermanentSinkError as exc:
        return _fail(str(exc))


def alerts(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        return run_alerts(settings)
    except SlackError as exc:
        return _fail(str(exc))


def _connect(settings: Settings) -> Any:
    try:
        return WAREHOUSE.connect(settings)
    except ConfigError:
        raise
    except Exception as exc:
        raise permanent("warehouse", exc) from None


def bootstrap(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        conn = _connect(settings)
        applied = WAREHOUSE.bootstrap(conn)
        version = WAREHOUSE.current_version(conn)
        conn.close()
    except PermanentSinkError as exc:
        return _fail(str(exc))
    where = f"{settings.snowflake_database}.{settings.snowflake_schema}"
    if applied:
        print(f"{where}: applied {', '.join(f'{v:03d}' for v in applied)}; schema version {version}")
    else:
        print(f"{where}: up to date at schema version {version}")
    return 0


def prune(args: argparse.Namespace) -> int:
    settings = _settings(args)
    text = args.older_than or settings.raw_retention
    try:
        age = parse_age(text)
    except ValueError as exc:
        raise ConfigError(f"--older-than: {exc}") from None
    try:
        conn = _connect(settings)
        try:
            deleted = WAREHOUSE.prune(conn, age)
        except Exception as exc:
            raise permanent("prune", exc) from None
        conn.close()
    except PermanentSinkError as exc:
        return _fail(str(exc))
    print(f"pruned {deleted} STREAM_LOGS rows captured more than {text} ago")
    return 0
