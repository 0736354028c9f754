"""Kafka side of a poll, shared by live polling and replay: events, then ticks.

Records: key `user_id`, value orjson, message timestamp = captured_at, on an idempotent
producer (`enable.idempotence`: no duplicates or reordering from librdkafka's own
retries). After a poll's records are produced the producer is flushed and every delivery
report checked; failed records are produced again (up to `RETRY_ROUNDS`), each failure
counted, and whatever is still undelivered is counted and logged as an error. Only then
the tick goes to every partition (explicit `partition=p`), so a tick never overtakes
the records it vouches for.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional

import orjson
from confluent_kafka import KafkaException, Producer

from pulse import topics
from pulse.events import TICK_HEADER, TICK_KEY, tick
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings

from . import metrics
from .sharding import Shard

log = logging.getLogger("producers.emitter")
RETRY_ROUNDS = 3
FLUSH_TIMEOUT = 120.0


@dataclass
class EmitReport:
    produced: int = 0
    failed: int = 0  # still undelivered after every round


class Emitter:
    def __init__(self, settings: Settings, shard: Shard, create_topics: bool = True) -> None:
        self.settings = settings
        self.shard = shard
        self.topic = settings.topic(topics.STREAMS)
        if create_topics:
            ensure_topics(settings, [self.topic, settings.topic(topics.STREAMS_DLQ)])
        self.producer = Producer(client_config(
            settings,
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "compression.type": "lz4",
                "partitioner": "murmur2_random",  # the Java client's partitioner: same key, same partition
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "delivery.timeout.ms": 120_000,
                "client.id": f"twitch-pulse-producer-{shard.name}",
            },
        ))
        self._failed: list[tuple[bytes, bytes, int]] = []
        self._lock = threading.Lock()
        self.partitions = self._partitions()

    def _partitions(self) -> list[int]:
        meta = self.producer.list_topics(self.topic, timeout=30).topics.get(self.topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise KafkaException(f"topic {self.topic} is not available")
        return sorted(meta.partitions)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            metrics.PRODUCE_ERRORS.inc()
            with self._lock:
                self._failed.append((msg.key(), msg.value(), msg.timestamp()[1]))
            log.warning("delivery failed: %s", err)

    def _produce(self, key: bytes, value: bytes, timestamp: int, **kwargs: Any) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=key, timestamp=timestamp,
                                      on_delivery=self._on_delivery, **kwargs)
                return
            except BufferError:  # local queue full: let deliveries drain
                self.producer.poll(0.1)

    def _flush(self) -> None:
        remaining = self.producer.flush(FLUSH_TIMEOUT)
        if remaining:
            log.error("%d records still in flight after %.0fs flush", remaining, FLUSH_TIMEOUT)

    def emit(self, events: list[dict[str, Any]], captured_at_ms: int) -> EmitReport:
        """Produce a poll's events and wait for every delivery (retrying failures)."""
        report = EmitReport()
        for event in events:
            self._produce(event["user_id"].encode(), orjson.dumps(event), captured_at_ms)
            report.produced += 1
        self._flush()
        for round_ in range(RETRY_ROUNDS):
            with self._lock:
                failed, self._failed = self._failed, []
            if not failed:
                break
            log.warning("re-producing %d failed records (round %d)", len(failed), round_ + 1)
            for key, value, ts in failed:
                self._produce(key, value, ts)
            self._flush()
        with self._lock:
            report.failed, self._failed = len(self._failed), []
        if report.failed:
            metrics.RECORDS_LOST.inc(report.failed)
            log.error("%d records of poll %d undelivered after %d rounds", report.failed, captured_at_ms,
                      RETRY_ROUNDS)
        metrics.STREAMS_EMITTED.inc(report.produced - report.failed)
        return report

    def ticks(self, captured_at_ms: int, final: bool = False) -> None:
        """One tick per partition of the streams topic (never skipped, even for an empty poll)."""
        try:
            self.partitions = self._partitions()  # partitions may have been added
        except KafkaException as exc:
            log.warning("could not refresh partitions (%s); using %d known", exc, len(self.partitions))
        value = orjson.dumps(tick(captured_at_ms, producer=self.shard.name, shards=self.shard.count, final=final))
        for attempt in range(RETRY_ROUNDS + 1):
            for p in self.partitions:
                self._produce(TICK_KEY.encode(), value, captured_at_ms, partition=p,
                              headers=[(TICK_HEADER, b"1")])
            self._flush()
            with self._lock:
                failed, self._failed = len(self._failed), []
            if not failed:
                metrics.TICKS.inc(len(self.partitions))
                metrics.LAST_POLL.set(captured_at_ms / 1000)
                return
            log.warning("%d ticks failed; sending the poll's ticks again", failed)
        log.error("ticks for %d could not be delivered", captured_at_ms)

    def close(self) -> None:
        self._flush()
