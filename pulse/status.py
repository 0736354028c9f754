"""`twitch-pulse status`: is this deployment healthy, in one screen.

Checks, in order, each printed as one line:
  broker     reachable? (bootstrap servers, number of brokers)
  topic      every topic of DESIGN §1 and the processor's internal topics: partitions, or missing
  group      every consumer group of this deployment (CONSUMER_GROUP_PREFIX-*): committed lag
  warehouse  reachable? (database.schema, schema version)
  window     newest window in GAME_WINDOWS, CHANNEL_WINDOWS, GAME_TOP_CHANNELS; newest alert

Exit 0 when the broker and the warehouse answer, 1 when one of them is down (its line says
why, in one line; the checks that need it are skipped). Missing topics, groups that never
committed and empty tables are reported but are not failures: a fresh deployment has them.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TextIO

from pulse import topics

# The processor's repartition topics (processors/app.py SAMPLES, GAME_POLLS): named here so
# `status` does not import the processor (and Quix Streams) just to print a table.
PROCESSOR_INTERNAL_TOPICS = topics.PROCESSOR_INTERNAL

# Consumer groups of this deployment, by worker (Settings.group(worker)).
WORKER_GROUPS = ("processor", "sink-raw", "sink-windows", "sink-alerts", "slack-alerts")

# DESIGN §6 window tables and their newest-row column; ALERTS by capture time.
WINDOW_TABLES = (
    ("GAME_WINDOWS", "WINDOW_START", "WINDOW_END"),
    ("CHANNEL_WINDOWS", "WINDOW_START", "WINDOW_END"),
    ("GAME_TOP_CHANNELS", "WINDOW_START", "WINDOW_END"),
    ("ALERTS", "CAPTURED_AT", None),
)


@dataclass
class Report:
    """Lines of the report, and whether a component is down."""

    out: TextIO = sys.stdout
    down: list[str] = field(default_factory=list)

    def line(self, kind: str, state: str, text: str) -> None:
        print(f"{kind:<10} {state:<8} {text}", file=self.out, flush=True)

    def fail(self, kind: str, text: str) -> None:
        self.down.append(kind)
        self.line(kind, "DOWN", text)


def _one_line(exc: Any) -> str:
    if hasattr(exc, "args") and exc.args and hasattr(exc.args[0], "str"):
        exc = exc.args[0]  # KafkaException -> KafkaError
    text = exc.str() if hasattr(exc, "str") and callable(exc.str) else str(exc)
    text = text.strip() or exc.__class__.__name__
    return " ".join(text.split())[:300]


def _quiet_logger() -> logging.Logger:
    """librdkafka logs connection failures to stderr on its own; route them nowhere so a
    down broker is the one line we print."""
    logger = logging.getLogger("pulse.status.rdkafka")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger




def _admin(settings: Any):
    from confluent_kafka.admin import AdminClient

    from pulse.kafka import client_config

    return AdminClient(client_config(settings, logger=_quiet_logger(), **{"log_level": 0}))


# --- Kafka ---------------------------------------------------------------------------


def expected_topics(settings: Any) -> list[str]:
    return [settings.topic(name) for name in (*topics.ALL, *PROCESSOR_INTERNAL_TOPICS)]


def check_kafka(settings: Any, report: Report, timeout: float) -> None:
    from confluent_kafka import KafkaException, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    admin = _admin(settings)
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        report.fail("broker", f"unreachable at {settings.kafka_bootstrap}: {_one_line(exc)}")
        return
    report.line("broker", "ok", f"{settings.kafka_bootstrap} ({len(meta.brokers)} broker(s))")

    for name in expected_topics(settings):
        tmeta = meta.topics.get(name)
        if tmeta is None or tmeta.error is not None:
            report.line("topic", "missing", f"{name} (created when its first worker starts)")
        else:
            report.line("topic", "ok", f"{name}: {len(tmeta.partitions)} partition(s)")

    groups = _deployment_groups(admin, settings, timeout)
    for group in groups:
        try:
            committed = _committed(admin, group, timeout)
        except KafkaException as exc:
            report.line("group", "error", f"{group}: {_one_line(exc)}")
            continue
        if not committed:
            report.line("group", "idle", f"{group}: no committed offsets (worker not started yet)")
            continue
        try:
            latest = _latest(admin, list(committed), timeout, OffsetSpec, TopicPartition)
        except KafkaException as exc:
            report.line("group", "error", f"{group}: {_one_line(exc)}")
            continue
        per_topic: dict[str, int] = {}
        for tp, offset in committed.items():
            end = latest.get(tp, offset)
            per_topic[tp[0]] = per_topic.get(tp[0], 0) + max(0, end - max(offset, 0))
        total = sum(per_topic.values())
        detail = ", ".join(f"{topic} {lag}" for topic, lag in sorted(per_topic.items()))
        report.line("group", "ok", f"{group}: lag {total} ({detail})")


def _deployment_groups(admin: Any, settings: Any, timeout: float) -> list[str]:
    """The known worker groups, plus any other group under this deployment's prefix
    (e.g. a sink started with another name)."""
    known = [settings.group(worker) for worker in WORKER_GROUPS]
    prefix = settings.group("")
    try:
        listed = admin.list_consumer_groups(request_timeout=timeout).result(timeout)
        others = sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix) and g.group_id not in known)
    except Exception:  # listing is a nicety; the known groups are still checked
        others = []
    return known + others


def _committed(admin: Any, group: str, timeout: float) -> dict[tuple[str, int], int]:
    from confluent_kafka import ConsumerGroupTopicPartitions

    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
    result = futures[group].result(timeout)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or []
            if tp.error is None and tp.offset >= 0}


def _latest(admin: Any, partitions: list[tuple[str, int]], timeout: float, OffsetSpec: Any,
            TopicPartition: Any) -> dict[tuple[str, int], int]:
    request = {TopicPartition(topic, partition): OffsetSpec.latest() for topic, partition in partitions}
    futures = admin.list_offsets(request, request_timeout=timeout)
    return {(tp.topic, tp.partition): future.result(timeout).offset for tp, future in futures.items()}


# --- Warehouse -------------------------------------------------------------------------


def check_warehouse(settings: Any, report: Report, timeout: float) -> None:
    where = f"{settings.snowflake_database}.{settings.snowflake_schema}"
    if settings.uses_local_warehouse:
        # A closed local port would make the connector retry until its timeout: probe first.
        try:
            socket.create_connection((settings.snowflake_host, settings.snowflake_port), timeout=timeout).close()
        except OSError as exc:
            report.fail("warehouse", f"unreachable at {settings.snowflake_host}:{settings.snowflake_port} "
                                     f"(local fakesnow): {exc.strerror or exc}")
            return
        target = f"{settings.snowflake_host}:{settings.snowflake_port} (local fakesnow)"
    else:
        target = f"account {settings.snowflake_account}"
    from pulse.settings import ConfigError
    from pulse.warehouse import connect

    quick = settings.model_copy(update={"snowflake_network_timeout": max(1, int(timeout))})
    try:
        conn = connect(quick)
    except ConfigError:
        raise
    except Exception as exc:
        report.fail("warehouse", f"unreachable at {target}: {_one_line(exc)}")
        return
    try:
        cur = conn.cursor()
        version = _scalar(cur, "SELECT MAX(VERSION) FROM SCHEMA_VERSION")
        state = f"schema version {version}" if version is not None else "schema not bootstrapped (run: twitch-pulse bootstrap)"
        report.line("warehouse", "ok", f"{where} at {target}: {state}")
        for table, start, end in WINDOW_TABLES:
            _newest(cur, report, table, start, end)
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


def _newest(cur: Any, report: Report, table: str, start: str, end: Optional[str]) -> None:
    columns = f"MAX({start}), COUNT(*)" + (f", MAX({end})" if end else "")
    try:
        cur.execute(f"SELECT {columns} FROM {table}")
        row = cur.fetchone()
    except Exception as exc:
        message = _one_line(exc)
        if "does not exist" in message.lower() or "not found" in message.lower():
            report.line("window", "missing", f"{table}: no such table (run: twitch-pulse bootstrap)")
        else:
            report.line("window", "error", f"{table}: {message}")
        return
    if not row or row[1] == 0:
        report.line("window", "empty", f"{table}: no rows yet")
    elif end:
        report.line("window", "ok", f"{table}: newest window {_fmt(row[0])} .. {_fmt(row[2])} ({row[1]} rows)")
    else:
        report.line("window", "ok", f"{table}: newest alert at {_fmt(row[0])} ({row[1]} rows)")


# --- Command -----------------------------------------------------------------------------


def run_status(settings: Any, out: TextIO = sys.stdout, timeout: float = 5.0,
               checks: tuple[str, ...] = ("kafka", "warehouse")) -> int:
    report = Report(out)
    steps: dict[str, Callable[[Any, Report, float], None]] = {"kafka": check_kafka, "warehouse": check_warehouse}
    for name in checks:
        steps[name](settings, report, timeout)
    return 1 if report.down else 0


def _status(args: argparse.Namespace) -> int:
    from pulse.settings import load_settings

    settings = load_settings()
    checks = tuple(c for c in ("kafka", "warehouse") if c not in (args.skip or []))
    return run_status(settings, timeout=args.timeout, checks=checks)


def register(sub: argparse._SubParsersAction) -> None:
    from pulse.cli import Formatter

    p = sub.add_parser("status", help="check the deployment: broker, topics, consumer lag, warehouse, newest windows",
                       description=__doc__, formatter_class=Formatter)
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for the broker and the warehouse before calling them down")
    p.add_argument("--skip", action="append", choices=("kafka", "warehouse"), default=None,
                   help="leave out a check (repeatable)")
    p.set_defaults(handler=_status)
