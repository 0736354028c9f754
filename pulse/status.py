"""The broker side of `twitch-pulse status` (the command itself, with its warehouse checks,
is `sinks.status`): a report of one line per check, and the Kafka checks.

  broker     reachable? (bootstrap servers, number of brokers)
  topic      every topic of DESIGN §1 and the processor's internal topics: partitions, or missing
  group      every consumer group of this deployment (CONSUMER_GROUP_PREFIX-*): committed lag
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TextIO

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from pulse import topics
from pulse.kafka import client_config

# Consumer groups of this deployment, by worker (Settings.group(worker)).
WORKER_GROUPS = ("processor", "sink-raw", "sink-windows", "sink-alerts", "slack-alerts")


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


def one_line(exc: Any) -> str:
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


def _admin(settings: Any) -> AdminClient:
    return AdminClient(client_config(settings, logger=_quiet_logger(), **{"log_level": 0}))


# --- Kafka ---------------------------------------------------------------------------


def expected_topics(settings: Any) -> list[str]:
    return [settings.topic(name) for name in (*topics.ALL, *topics.PROCESSOR_INTERNAL)]


def check_kafka(settings: Any, report: Report, timeout: float) -> None:
    admin = _admin(settings)
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        report.fail("broker", f"unreachable at {settings.kafka.bootstrap}: {one_line(exc)}")
        return
    report.line("broker", "ok", f"{settings.kafka.bootstrap} ({len(meta.brokers)} broker(s))")

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
            report.line("group", "error", f"{group}: {one_line(exc)}")
            continue
        if not committed:
            report.line("group", "idle", f"{group}: no committed offsets (worker not started yet)")
            continue
        try:
            latest = _latest(admin, list(committed), timeout)
        except KafkaException as exc:
            report.line("group", "error", f"{group}: {one_line(exc)}")
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
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
    result = futures[group].result(timeout)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or []
            if tp.error is None and tp.offset >= 0}


def _latest(admin: Any, partitions: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], int]:
    request = {TopicPartition(topic, partition): OffsetSpec.latest() for topic, partition in partitions}
    futures = admin.list_offsets(request, request_timeout=timeout)
    return {(tp.topic, tp.partition): future.result(timeout).offset for tp, future in futures.items()}


Check = Callable[[Any, Report, float], None]


def run_status(settings: Any, steps: Sequence[Check], out: TextIO = sys.stdout, timeout: float = 5.0) -> int:
    """Run the checks in order; 1 when one of them found a component down."""
    report = Report(out)
    for step in steps:
        step(settings, report, timeout)
    return 1 if report.down else 0
