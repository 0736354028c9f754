"""The processor: one Quix Streams `Application` with three keyed stages.

    twitch.streams (key user_id) ──► stage 1 `samples`  (Δ, channel alerts, tick → markers)
        │                               ├──► twitch.alerts
        ▼                               ▼
    twitch.processor.samples (key window start) ──► stage 2 `assembler` (window close, ranks)
        │                               ├──► twitch.windows.games / .channels / .top_channels
        ▼                               ▼
    twitch.processor.game_polls (one key) ──► stage 3 `game_alerts` ──► twitch.alerts

Exactly-once processing (Kafka transactions) covers all three stages and their state.
Invalid input goes to `twitch.streams.dlq` with the reason in a header and never stops the
worker.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import orjson
from confluent_kafka import Producer
from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.models.topics import Topic, TopicConfig

from pulse import topics
from pulse.events import TICK_HEADER, TICK_KEY, is_tick, validate
from pulse.kafka import client_config, connection_config, ensure_topics, partition_count
from pulse.settings import Settings

from . import metrics
from .assembler import assemble
from .config import ProcessorConfig
from .game_alerts import detect
from .samples import process_event, process_tick
from .serializers import RowSerializer

log = logging.getLogger(__name__)

SAMPLES = "twitch.processor.samples"
GAME_POLLS = "twitch.processor.game_polls"
DLQ_REASON_HEADER = "x-pulse-dlq-reason"
_TICK_KEY = TICK_KEY.encode()


class DeadLetters:
    """Records that fail the schema go to the DLQ, with the reason and their origin in headers.

    Sent synchronously (flushed per record): they are rare, and none may be lost.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        self._topic = topic
        self._producer = Producer(client_config(settings, **{"enable.idempotence": True, "linger.ms": 0}))

    def send(self, value: Optional[bytes], key: Optional[bytes], reason: str) -> None:
        ctx = message_context()
        metrics.DROPPED.labels("invalid").inc()
        log.warning("to DLQ: %s (%s[%d]@%d)", reason, ctx.topic, ctx.partition, ctx.offset)
        self._producer.produce(self._topic, value=value, key=key, headers=[
            (DLQ_REASON_HEADER, reason.encode()),
            ("x-pulse-source", f"{ctx.topic}[{ctx.partition}]@{ctx.offset}".encode()),
        ])
        if self._producer.flush(30) > 0:
            raise RuntimeError("DLQ delivery did not complete within 30 s")


def _is_tick(key: Optional[bytes], headers: Any) -> bool:
    if key == _TICK_KEY:
        return True
    return any(name == TICK_HEADER for name, _ in headers or ())


def stage_one(cfg: ProcessorConfig, dlq: DeadLetters) -> Callable[..., list[dict[str, Any]]]:
    def process(value: Optional[bytes], key: Optional[bytes], timestamp: int, headers: Any, state: Any):
        try:
            record = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError:
            dlq.send(value, key, "value is not JSON")
            return []
        if _is_tick(key, headers):
            if not is_tick(record) or not isinstance(record.get("captured_at"), str):
                dlq.send(value, key, "malformed tick")
                return []
            try:
                return list(process_tick(cfg, record, message_context().partition, state))
            except ValueError:
                dlq.send(value, key, "malformed tick")
                return []
        reason = validate(record)
        if reason is None and (key or b"").decode("utf-8", "replace") != record["user_id"]:
            reason = "message key is not the event's user_id"
        if reason is not None:
            dlq.send(value, key, reason)
            return []
        metrics.EVENT_AGE.observe(max(0.0, time.time() - timestamp / 1000))
        return list(process_event(cfg, record, message_context().partition, state))

    return process


def _lag_from_stats(stats_json: str) -> None:
    """librdkafka statistics -> consumer lag gauge per topic partition.

    Under exactly-once the offsets are committed through the producer's transaction, so
    librdkafka's own `consumer_lag` stays -1; the lag is the last stable offset (what a
    read_committed consumer can reach) minus the next offset this consumer will read.
    """
    stats = orjson.loads(stats_json)
    for topic_name, topic in (stats.get("topics") or {}).items():
        for pid, part in (topic.get("partitions") or {}).items():
            if pid == "-1" or part.get("fetch_state") in (None, "none", "stopped"):
                continue
            end = part.get("ls_offset", -1)
            position = part.get("app_offset", -1)
            if end >= 0 and position >= 0:
                metrics.CONSUMER_LAG.labels(topic_name, pid).set(max(0, end - position))


def build(settings: Settings, commit_interval: float = 1.0) -> Application:
    """Create the topics the processor needs and wire the three stages."""
    out = {name: settings.topic(name) for name in topics.ALL}
    ensure_topics(settings, list(out.values()))
    partitions = partition_count(settings, out[topics.STREAMS])
    cfg = ProcessorConfig.from_settings(settings, partitions)

    app = Application(
        broker_address=connection_config(settings),
        consumer_group=settings.group("processor"),
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=commit_interval,
        state_dir=str(settings.state_dir / "processor"),
        consumer_extra_config={"statistics.interval.ms": 5000, "stats_cb": _lag_from_stats},
        loglevel=settings.log_level,
    )
    internal = TopicConfig(num_partitions=partitions, replication_factor=settings.topic_replication)

    def output(name: str) -> Topic:
        return app.topic(out[name], key_serializer="str", value_serializer=RowSerializer())

    streams = app.topic(out[topics.STREAMS], key_deserializer="bytes", value_deserializer="bytes")
    samples = app.topic(settings.topic(SAMPLES), key_serializer="str", key_deserializer="str", config=internal)
    game_polls = app.topic(settings.topic(GAME_POLLS), key_serializer="str", key_deserializer="str",
                           value_serializer=RowSerializer(), config=internal)
    routes = {
        "s": samples, "m": samples, "p": game_polls, "a": output(topics.ALERTS),
        "g": output(topics.WINDOWS_GAMES), "c": output(topics.WINDOWS_CHANNELS),
        "t": output(topics.WINDOWS_TOP_CHANNELS),
    }

    def route(value: dict[str, Any], *_: Any) -> Topic:
        return routes[value["k"]]

    def route_key(value: dict[str, Any]) -> str:
        return value["key"] if "key" in value else str(value["w"])

    dlq = DeadLetters(settings, out[topics.STREAMS_DLQ])
    (app.dataframe(streams)
        .apply(stage_one(cfg, dlq), stateful=True, expand=True, metadata=True)
        .to_topic(route, key=route_key))
    (app.dataframe(samples)
        .apply(lambda record, state: assemble(cfg, record, state), stateful=True, expand=True)
        .to_topic(route, key=route_key))
    (app.dataframe(game_polls)
        .apply(lambda window, state: detect(cfg, window, state), stateful=True, expand=True)
        .to_topic(route, key=route_key))
    log.info("processor: %d input partitions, window %ss, grace %ss, interval %ss", partitions,
             settings.window_seconds, settings.window_grace_seconds, settings.poll_interval_seconds)
    return app


def run(settings: Settings) -> None:
    from pulse.metrics import start_metrics_server

    app = build(settings)
    server = start_metrics_server(settings.metrics_port)
    try:
        app.run()  # handles SIGTERM/SIGINT: finishes the batch, commits, closes
    finally:
        if server:
            server.stop()
