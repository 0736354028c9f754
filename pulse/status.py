"""The broker side of `twitch-pulse status` (the command itself, with its warehouse checks,
is `sinks.status`): a report of one line per check, and the Kafka checks.

  broker     reachable? (bootstrap servers, number of brokers)
  topic      every topic of DESIGN §1 and the processor's internal topics: partitions, or missing
  group      every consumer group of this deployment (CONSUMER_GROUP_PREFIX-*): committed lag,
             measured twice `sample` seconds apart, so a group that falls behind is not "ok"
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, NamedTuple, Sequence, TextIO

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from pulse import topics
from pulse.kafka import client_config

# Consumer groups of this deployment, by worker (Settings.group(worker)).
WORKER_GROUPS = ("processor", "sink-raw", "sink-windows", "sink-alerts", "slack-alerts")


@dataclass
class Report:
    """Lines of the report, and whether a component is down or falling behind."""

    out: TextIO = sys.stdout
    down: list[str] = field(default_factory=list)
    behind: list[str] = field(default_factory=list)
    sample: float = 0.0  # seconds between the two measurements of each group's lag (0: one)

    def line(self, kind: str, state: str, text: str) -> None:
        print(f"{kind:<10} {state:<8} {text}", file=self.out, flush=True)

    def fail(self, kind: str, text: str) -> None:
        self.down.append(kind)
        self.line(kind, "DOWN", text)


def span(seconds: int) -> str:
    """A duration for people, two units at most: `42 s`, `2 min`, `3 h 16 min`, `2 days 2 h`."""
    days, rest = divmod(abs(int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min" if minutes else f"{secs} s"


def ago(moment: datetime, now: datetime) -> str:
    """How long ago `moment` was: `42 s ago`, `3 h 16 min ago`; a moment ahead of `now`
    (`make run`'s accelerated clock) says so."""
    seconds = (now - moment).total_seconds()
    if abs(seconds) < 1:
        return "just now"
    return f"{span(int(seconds))} ago" if seconds > 0 else f"{span(int(-seconds))} ahead of this clock"


class Lag(NamedTuple):
    """A group's position at one moment, over the partitions it has committed: the sum of its
    committed offsets (messages written) and of those partitions' end offsets (arrived)."""

    committed: int
    end: int

    @property
    def messages(self) -> int:
        return max(0, self.end - self.committed)


def lag_state(before: Lag, after: Lag, seconds: float) -> tuple[str, str]:
    """A group's state from two measurements `seconds` apart.

    ok: no lag, or less than what arrived during the sample (a worker that commits every few
    seconds is that far behind between commits); catching (up): the lag shrank; BEHIND: it did
    not shrink and is more than the sample brought, so the group writes slower than messages
    arrive (or not at all)."""
    lag, wrote, arrived = after.messages, after.committed - before.committed, after.end - before.end
    counts = f"(wrote {wrote:,}, {arrived:,} arrived)"
    if lag == 0 or lag <= arrived:
        return "ok", f"lag {lag:,}; wrote {wrote:,}, {arrived:,} arrived in {seconds:g} s"
    change = lag - before.messages
    if change >= 0:
        return "BEHIND", f"lag {lag:,}, grew by {change:,} in {seconds:g} s {counts}"
    pace = -change / seconds
    return "catching", (f"lag {lag:,}, down {-change:,} in {seconds:g} s {counts}; at this pace caught up in "
                        f"about {span(max(1, round(lag / pace)))}")


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
    first = {group: _position(admin, group, timeout) for group in groups}
    if report.sample > 0 and any(isinstance(p, Position) for p in first.values()):
        report.line("lag", "", f"measuring each group's lag twice, {report.sample:g} s apart (--sample)")
        time.sleep(report.sample)
    for group in groups:
        before = first[group]
        after = _position(admin, group, timeout) if report.sample > 0 and isinstance(before, Position) else before
        if isinstance(after, str):
            report.line("group", "idle" if after.startswith("no committed") else "error", f"{group}: {after}")
            continue
        detail = ", ".join(f"{topic} {lag:,}" for topic, lag in sorted(after.per_topic.items()))
        if isinstance(before, Position) and after is not before:
            state, text = lag_state(before.total, after.total, report.sample)
        else:
            state, text = "ok", f"lag {after.total.messages:,}"
        if state == "BEHIND":
            report.behind.append(group)
        report.line("group", state, f"{group}: {text} ({detail})")


class Position(NamedTuple):
    """A group's committed position against its topics' ends, now."""

    total: Lag
    per_topic: dict[str, int]  # lag per topic


def _position(admin: Any, group: str, timeout: float) -> "Position | str":
    """The group's position, or why there is none (one line)."""
    try:
        committed = _committed(admin, group, timeout)
        if not committed:
            return "no committed offsets (worker not started yet)"
        latest = _latest(admin, list(committed), timeout)
    except KafkaException as exc:
        return one_line(exc)
    per_topic: dict[str, int] = {}
    done = end_total = 0
    for tp, offset in committed.items():
        end = max(latest.get(tp, offset), offset)
        per_topic[tp[0]] = per_topic.get(tp[0], 0) + end - offset
        done, end_total = done + offset, end_total + end
    return Position(Lag(done, end_total), per_topic)


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


def run_status(settings: Any, steps: Sequence[Check], out: TextIO = sys.stdout, timeout: float = 5.0,
               sample: float = 0.0) -> int:
    """Run the checks in order; 1 when one of them found a component down or a group behind."""
    report = Report(out, sample=sample)
    for step in steps:
        step(settings, report, timeout)
    return 1 if report.down or report.behind else 0
