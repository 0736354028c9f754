"""Kafka side of a poll, shared by live polling and replay: a poll's chunks (DESIGN §3, schema v2).

Messages: one chunk each (`pulse.events.cut_poll`), key = the chunk key as text (so a channel
always reaches the same partition), value = the encoded chunk, message timestamp =
captured_at, on an idempotent producer (`enable.idempotence`: no duplicates or reordering
from librdkafka's own retries) with lz4 compression. `twitch.streams` is created with
`compression.type=lz4` too, so the broker keeps the batches as they come.

A poll is sent (`send`), then settled (`settle`): the producer is flushed and every
delivery report checked; failed chunks are produced again (up to `RETRY_ROUNDS`), each
failure counted, and whatever is still undelivered is counted (in streams) and logged as an
error. Only then is the next poll sent, so a poll's chunks never overtake the previous
poll's on a partition. Replay prepares the next poll while the previous one is on its way.

The local queue is bounded (`QUEUE_KBYTES`): a producer that outruns the broker waits
instead of growing without limit.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, NamedTuple, Optional

import orjson
from confluent_kafka import Producer

from pulse import topics
from pulse.events import MAX_CHUNK_BYTES, Chunk, ChunkError, cut_poll, final_chunks, format_ts
from pulse.kafka import broker_topic, client_config, ensure_topics
from pulse.settings import Settings

from . import metrics
from .sharding import Shard
from .sweep import Polled

log = logging.getLogger("producers.emitter")
RETRY_ROUNDS = 3
FLUSH_TIMEOUT = 120.0
QUEUE_KBYTES = 131_072  # 128 MB of messages waiting for the broker: more than a 250k-stream poll
TOPIC_CONFIG = {"compression.type": "lz4"}
MAX_STREAM_BYTES = MAX_CHUNK_BYTES - 1024  # what `cut_poll` accepts for one stream object


class Message(NamedTuple):
    """One chunk ready to produce; `streams` is how many stream objects it carries."""

    key: bytes
    value: bytes
    streams: int


def messages(chunks: Iterable[tuple[Chunk, bytes]]) -> Iterator[Message]:
    """(chunk, encoded) pairs -> messages (the chunk objects, and their streams, can go)."""
    for chunk, value in chunks:
        yield Message(chunk.message_key, value, len(chunk.streams))


@dataclass
class Pending:
    """A poll sent but not yet settled."""

    captured_at_ms: int
    chunks: int = 0
    streams: int = 0


@dataclass
class EmitReport:
    produced: int = 0  # stream objects sent
    failed: int = 0  # stream objects still undelivered after every round
    chunks: int = 0  # messages sent
    failed_chunks: int = 0


class Emitter:
    def __init__(self, settings: Settings, shard: Shard, create_topics: bool = True,
                 stop: Optional[threading.Event] = None) -> None:
        self.settings = settings
        self.shard = shard
        self.stop = stop or threading.Event()  # set: stop waiting for deliveries (SIGTERM in an outage)
        self.topic = broker_topic(settings, topics.STREAMS)  # on Quix: the workspace's topic id
        if create_topics:
            ensure_topics(settings, [self.topic, settings.topic(topics.STREAMS_DLQ)],
                          configs={self.topic: TOPIC_CONFIG})
        self.producer = Producer(client_config(
            settings,
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "partitioner": "murmur2_random",  # the Java client's partitioner: same key, same partition
                "queue.buffering.max.messages": 100_000,
                "queue.buffering.max.kbytes": QUEUE_KBYTES,
                "delivery.timeout.ms": 120_000,
                "client.id": f"twitch-pulse-producer-{shard.name}",
            },
        ))
        self._failed: list[tuple[Message, int]] = []
        self._lock = threading.Lock()

    def _delivered(self, message: Message, timestamp: int) -> Any:
        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                metrics.PRODUCE_ERRORS.inc()
                with self._lock:
                    self._failed.append((message, timestamp))
                log.warning("delivery failed: %s", err)
        return on_delivery

    def _produce(self, message: Message, timestamp: int) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value=message.value, key=message.key, timestamp=timestamp,
                                      on_delivery=self._delivered(message, timestamp))
                return
            except BufferError:  # local queue full: let deliveries drain
                if self.stop.is_set():  # stopping while the broker is away: count it undelivered
                    with self._lock:
                        self._failed.append((message, timestamp))
                    return
                self.producer.poll(0.05)

    def _flush(self) -> None:
        """Wait up to FLUSH_TIMEOUT for deliveries, a second at a time, so a stop request
        (SIGTERM while the broker is away) is honoured within a second."""
        deadline = time.monotonic() + FLUSH_TIMEOUT
        remaining = self.producer.flush(1.0)
        while remaining and not self.stop.is_set() and time.monotonic() < deadline:
            remaining = self.producer.flush(1.0)
        if remaining:
            log.error("%d messages still in flight after %.0fs flush", remaining, FLUSH_TIMEOUT)

    def send(self, batch: Iterable[Message], captured_at_ms: int) -> Pending:
        """Produce one poll's messages without waiting; `settle` waits for them."""
        pending = Pending(captured_at_ms)
        for message in batch:
            self._produce(message, captured_at_ms)
            pending.chunks += 1
            pending.streams += message.streams
        self.producer.poll(0)
        return pending

    def settle(self, pending: Pending) -> EmitReport:
        """Wait for every delivery of the poll sent last, re-producing failures."""
        report = EmitReport(produced=pending.streams, chunks=pending.chunks)
        self._flush()
        for round_ in range(RETRY_ROUNDS):
            with self._lock:
                failed, self._failed = self._failed, []
            if not failed:
                break
            log.warning("re-producing %d failed chunks (round %d)", len(failed), round_ + 1)
            for message, ts in failed:
                self._produce(message, ts)
            self._flush()
        with self._lock:
            lost, self._failed = self._failed, []
        report.failed_chunks = len(lost)
        report.failed = sum(message.streams for message, _ in lost)
        if lost:
            metrics.RECORDS_LOST.inc(report.failed)
            log.error("%d chunks (%d streams) of poll %s undelivered after %d rounds", len(lost), report.failed,
                      format_ts(pending.captured_at_ms), RETRY_ROUNDS)
        else:
            metrics.LAST_POLL.set(pending.captured_at_ms / 1000)
        metrics.STREAMS_EMITTED.inc(report.produced - report.failed)
        metrics.CHUNKS.inc(report.chunks - report.failed_chunks)
        return report

    def emit(self, chunks: Iterable[tuple[Chunk, bytes]], captured_at_ms: int) -> EmitReport:
        """Produce a poll's chunks and wait for every delivery (retrying failures)."""
        return self.settle(self.send(messages(chunks), captured_at_ms))

    def finish(self, captured_at_ms: int) -> EmitReport:
        """The end of the source (a finite run, a replay): one empty `final` chunk per key."""
        poll_id = poll_id_of(self.shard, captured_at_ms)
        report = self.emit(final_chunks(captured_at_ms, poll_id, self.shard.name, self.shard.count,
                                        self.settings.chunk_keys), captured_at_ms)
        if report.failed_chunks:
            log.error("%d final chunks could not be delivered", report.failed_chunks)
        return report

    def close(self) -> None:
        self._flush()


def poll_id_of(shard: Shard, captured_at_ms: int) -> str:
    """A poll's id, unique per poll and shard, the same live and replayed."""
    return f"{shard.name}@{format_ts(captured_at_ms)}"


def cut(settings: Settings, shard: Shard, polled: Polled, captured_at_ms: int) -> Iterator[tuple[Chunk, bytes]]:
    """A poll's stream objects -> its chunks, with this deployment's chunk settings.

    A stream object too large to fit in a chunk alone (never seen from Helix) is dropped from
    `polled` and counted in `polled.malformed`; the check costs nothing when none is.
    """
    def chunks() -> Iterator[tuple[Chunk, bytes]]:
        return cut_poll(polled.streams, captured_at_ms, poll_id_of(shard, captured_at_ms), shard.name, shard.count,
                        settings.chunk_keys, settings.chunk_streams)

    cutting = chunks()
    try:
        first = next(cutting)  # cut_poll encodes (and size-checks) every stream before its first chunk
    except ChunkError:
        fitting = [s for s in polled.streams if len(orjson.dumps(s)) <= MAX_STREAM_BYTES]
        log.warning("poll %s: %d stream objects too large for a chunk; dropped", format_ts(captured_at_ms),
                    len(polled.streams) - len(fitting))
        polled.malformed += len(polled.streams) - len(fitting)
        polled.streams = fitting
        cutting = chunks()
        first = next(cutting)
    return itertools.chain((first,), cutting)
