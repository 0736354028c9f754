"""The handlers of `twitch-pulse sink`, `alerts`, `bootstrap` and `prune` (arguments: `sinks.cli`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pulse.logs import setup_logging
from pulse.settings import ConfigError, Settings, load_settings, parse_age

from .choice import chosen, where
from .errors import PermanentSinkError, permanent
from .slack import SlackError, run_alerts
from .worker import run_sink


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "method", None):
        overrides["sink_load_method"] = args.method
    if getattr(args, "no_bootstrap", False):
        overrides["sink_bootstrap"] = False
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.secret_values, settings.log_format)
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
        return chosen(settings).connect(settings)
    except ConfigError:
        raise
    except Exception as exc:
        raise permanent("warehouse", exc) from None


def bootstrap(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        conn = _connect(settings)
        applied = chosen(settings).bootstrap(conn)
        version = chosen(settings).current_version(conn)
        conn.close()
    except PermanentSinkError as exc:
        return _fail(str(exc))
    if applied:
        print(f"{where(settings)}: applied {', '.join(f'{v:03d}' for v in applied)}; schema version {version}")
    else:
        print(f"{where(settings)}: up to date at schema version {version}")
    return 0


def prune(args: argparse.Namespace) -> int:
    settings = _settings(args)
    text = args.older_than or settings.sink.raw_retention
    try:
        age = parse_age(text)
    except ValueError as exc:
        raise ConfigError(f"--older-than: {exc}") from None
    try:
        conn = _connect(settings)
        try:
            deleted = chosen(settings).prune(conn, age)
        except Exception as exc:
            raise permanent("prune", exc) from None
        conn.close()
    except PermanentSinkError as exc:
        return _fail(str(exc))
    print(f"pruned {deleted} STREAM_LOGS rows captured more than {text} ago")
    return 0
