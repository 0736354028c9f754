"""`twitch-pulse status` (arguments in `sinks.cli`): the broker checks of `pulse.status`, then
the warehouse: reachable, schema version, newest windows and alert."""

from __future__ import annotations

import argparse
import socket
from datetime import datetime, timezone
from typing import Any, Optional

from pulse.settings import ConfigError, load_settings
from pulse.status import Check, Report, ago, check_kafka, one_line, run_status

from .choice import chosen, where
from .dialect import sql

# DESIGN §6 window tables and their newest-row column; ALERTS by capture time.
WINDOW_TABLES = (
    ("GAME_WINDOWS", "WINDOW_START", "WINDOW_END"),
    ("CHANNEL_WINDOWS", "WINDOW_START", "WINDOW_END"),
    ("GAME_TOP_CHANNELS", "WINDOW_START", "WINDOW_END"),
    ("ALERTS", "CAPTURED_AT", None),
)


# --- Warehouse -------------------------------------------------------------------------


def _target(settings: Any) -> tuple[str, Optional[tuple[str, int]]]:
    """What the warehouse is, and the local server's address to probe first (None: a cloud account)."""
    if settings.warehouse == "bigquery":
        if settings.bigquery.uses_local:
            return (f"{settings.bigquery.host}:{settings.bigquery.port} (local bqemulator)",
                    (settings.bigquery.host, settings.bigquery.port))
        return f"project {settings.bigquery.project}", None
    if settings.snowflake.uses_local:
        return (f"{settings.snowflake.host}:{settings.snowflake.port} (local fakesnow)",
                (settings.snowflake.host, settings.snowflake.port))
    return f"account {settings.snowflake.account}", None


def check_warehouse(settings: Any, report: Report, timeout: float) -> None:
    target, local = _target(settings)
    if local is not None:
        # A closed local port would make the client retry until its timeout: probe first.
        try:
            socket.create_connection(local, timeout=timeout).close()
        except OSError as exc:
            report.fail("warehouse", f"unreachable at {target}: {exc.strerror or exc}")
            return
    seconds = max(1, int(timeout))
    quick = settings.replace(SNOWFLAKE_NETWORK_TIMEOUT=seconds, BIGQUERY_TIMEOUT=seconds)
    try:
        conn = chosen(quick).connect(quick)
    except ConfigError:
        raise
    except Exception as exc:
        report.fail("warehouse", f"unreachable at {target}: {one_line(exc)}")
        return
    try:
        cur = conn.cursor()
        version = _scalar(cur, sql("SELECT MAX(VERSION) FROM SCHEMA_VERSION", settings.warehouse))
        state = f"schema version {version}" if version is not None else "schema not bootstrapped (run: twitch-pulse bootstrap)"
        report.line("warehouse", "ok", f"{where(settings)} at {target}: {state}")
        for table, start, end in WINDOW_TABLES:
            _newest(cur, report, table, start, end, settings.warehouse, settings.processor.window_seconds)
    finally:
        conn.close()


def _scalar(cur: Any, sql: str) -> Optional[Any]:
    try:
        cur.execute(sql)
        row = cur.fetchone()
        return row[0] if row else None
    except Exception:
        return None


def _fmt(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(value, "strftime") else str(value)


def _utc(value: Any) -> datetime:
    """The warehouse's TIMESTAMP_NTZ values are UTC without a zone."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _newest(cur: Any, report: Report, table: str, start: str, end: Optional[str], warehouse: str,
            window_seconds: int) -> None:
    columns = f"MAX({start}), COUNT(*)" + (f", MAX({end})" if end else "")
    try:
        cur.execute(sql(f"SELECT {columns} FROM {table}", warehouse))
        row = cur.fetchone()
    except Exception as exc:
        message = one_line(exc)
        if "does not exist" in message.lower() or "not found" in message.lower():
            report.line("window", "missing", f"{table}: no such table (run: twitch-pulse bootstrap)")
        else:
            report.line("window", "error", f"{table}: {message}")
        return
    now = datetime.now(timezone.utc)
    if not row or row[1] == 0:
        report.line("window", "empty", f"{table}: no rows yet")
    elif end:
        ended = _utc(row[2])
        # windows close one poll after their end: three windows without a new one is news
        state = "old" if (now - ended).total_seconds() > 3 * window_seconds else "ok"
        report.line("window", state, f"{table}: newest window {_fmt(row[0])} .. {_fmt(row[2])}, ended "
                                     f"{ago(ended, now)} ({row[1]} rows)")
    else:
        report.line("window", "ok", f"{table}: newest alert at {_fmt(row[0])}, {ago(_utc(row[0]), now)} "
                                    f"({row[1]} rows)")


# --- Command -----------------------------------------------------------------------------


CHECKS: dict[str, Check] = {"kafka": check_kafka, "warehouse": check_warehouse}


def status_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    steps = [step for name, step in CHECKS.items() if name not in (args.skip or [])]
    return run_status(settings, steps, timeout=args.timeout, sample=args.sample)
