"""Kafka side of a poll, shared by live polling and replay: a poll's chunks (DESIGN §3, schema v2).

Messages: one chunk each (`pulse.events.cut_poll`), key = the chunk key as text (so a channel
always reaches the same partition), value = the encoded chunk, message timestamp =
captured_at, on an idempotent producer with lz4 compression. `twitch.streams` is created with
`compression.type=lz4` too, so the broker keeps the batches as they come.

Order is the promise (DESIGN §3: every sample of a channel reaches its partition in poll
order), through an outage of any length:

- librdkafka's idempotent producer keeps each partition's messages in order across its own
  retries, and with `delivery.timeout.ms=0` it never gives a message up on time: a broker
  that is away for minutes only makes the messages wait in the producer's queue.
- A poll is sent (`send`), then settled (`settle`): every delivery report is waited for, and
  the next poll is sent only after that. So a poll never overtakes the one before it.
- A delivery that fails all the same (a permanent error, or a fatal one that ends the
  producer instance) is not given up either: `settle` holds everything newer back, waits,
  and produces the failed chunks again in their original order (on a fresh producer after a
  fatal error) until they are in. While it waits, `health()` says why (on `/healthz`).
- Only a stop request (SIGTERM) ends the wait: what is still undelivered then is counted
  (`records_undelivered_total`) and logged, never sent later out of order. A chunk still in
  the producer's queue at that moment is not lost yet: `close` flushes once more, and only
  what has no delivery report after that is counted. Streams and chunks are counted as
  emitted when the broker acknowledges them, never before.

What that means when the broker is away longer than the local queue holds: the producer
blocks (the poll loop waits in `settle`, replay stops reading), `/healthz` says so, and
nothing is dropped or reordered. A live poll held back this way keeps its `captured_at`
and is credited exactly when it arrives; the grid instants that fell due meanwhile are
skipped and counted by the poll loop (`polls_skipped_total`).

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
from confluent_kafka import KafkaError, Producer

from pulse import topics
from pulse.events import MAX_CHUNK_BYTES, Chunk, ChunkError, cut_poll, final_chunks, format_ts
from pulse.kafka import broker_topic, client_config, ensure_topics
from pulse.settings import Settings

from . import metrics
from .chunk_keys import ChunkKeys
from .sharding import Shard
from .sweep import Polled

log = logging.getLogger("producers.emitter")
QUEUE_KBYTES = 131_072  # 128 MB of messages waiting for the broker: more than a 250k-stream poll
TOPIC_CONFIG = {"compression.type": "lz4"}
MAX_STREAM_BYTES = MAX_CHUNK_BYTES - 1024  # what `cut_poll` accepts for one stream object
WAITING_REPORT_SECONDS = 30.0  # log (and /healthz) a settle that waits longer than this
RETRY_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # before producing failed chunks again


class Message(NamedTuple):
    """One chunk ready to produce; `streams` is how many stream objects it carries."""

    key: bytes
    value: bytes
    streams: int
    partition: int  # -1: the partitioner's choice (a topic placed before `ChunkKeys.placed`)


class Sent(NamedTuple):
    """A message handed to the producer: its place in the poll (to re-send in order) and time."""

    seq: int
    message: Message
    timestamp: int


class Failed(NamedTuple):
    sent: Sent
    error: KafkaError


def messages(chunks: Iterable[tuple[Chunk, bytes]], keys: ChunkKeys) -> Iterator[Message]:
    """(chunk, encoded) pairs -> messages, each to its key's partition (the chunk objects, and
    their streams, can go)."""
    for chunk, value in chunks:
        yield Message(chunk.message_key, value, len(chunk.streams), keys.partition(chunk.key))


@dataclass
class Pending:
    """A poll sent but not yet settled."""

    captured_at_ms: int
    chunks: int = 0
    streams: int = 0


@dataclass
class EmitReport:
    produced: int = 0  # stream objects sent
    failed: int = 0  # stream objects undelivered when a stop request ended the wait
    chunks: int = 0  # messages sent
    failed_chunks: int = 0


class Emitter:
    def __init__(self, settings: Settings, shard: Shard, create_topics: bool = True,
                 stop: Optional[threading.Event] = None, report_after: float = WAITING_REPORT_SECONDS,
                 queue_kbytes: int = QUEUE_KBYTES) -> None:
        self.settings = settings
        self.shard = shard
        self.queue_kbytes = queue_kbytes  # the producer's local queue (tests make it small to fill it)
        self.stop = stop or threading.Event()  # set: stop waiting for deliveries (SIGTERM in an outage)
        self.topic = broker_topic(settings, topics.STREAMS)  # on Quix: the workspace's topic id
        if create_topics:
            ensure_topics(settings, [self.topic, settings.topic(topics.STREAMS_DLQ)],
                          configs={self.topic: TOPIC_CONFIG})
        self.keys = ChunkKeys.for_topic(settings, self.topic, shard.count)
        self.producer = self._new_producer()
        self._seq = itertools.count()
        self._failed: list[Failed] = []
        self._unsent: list[Sent] = []  # given up on because of a stop request, never produced
        self._in_flight: dict[int, Sent] = {}  # produced, no delivery report yet (by `seq`)
        # streams and chunks the broker acknowledged that `_count_acked` has not counted yet
        self._acked_streams = 0
        self._acked_chunks = 0
        self.lost_at_close = 0  # streams still unacknowledged after `close`'s last flush
        self._lock = threading.Lock()
        self.report_after = report_after
        self._waiting: Optional[tuple[float, str]] = None  # (since, what) while deliveries are awaited
        self._full_since: Optional[float] = None  # since when sends have waited for room in the queue
        self._full_reported = 0.0  # when that wait was last logged
        self._failing: Optional[str] = None  # why, while failed chunks are being produced again

    def _new_producer(self) -> Producer:
        return Producer(client_config(
            self.settings,
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                # chunks name their partition (`ChunkKeys.partition`), but on a topic placed before
                # that, the Java client's partitioner: same key, same partition
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": 100_000,
                "queue.buffering.max.kbytes": self.queue_kbytes,
                # never give a message up on time: an outage of any length only delays it, and a
                # timed-out message sent again would land behind newer ones (issue 24)
                "delivery.timeout.ms": 0,
                "client.id": f"twitch-pulse-producer-{self.shard.name}",
            },
        ))

    def health(self) -> tuple[bool, str]:
        """Unhealthy while failed chunks are being produced again, or while a poll's deliveries
        have waited longer than `report_after` seconds (newer polls are held back meanwhile)."""
        if self._failing is not None:
            return False, self._failing
        waiting = self._waiting
        if waiting is not None and time.monotonic() - waiting[0] > self.report_after:
            return False, f"kafka deliveries waiting {time.monotonic() - waiting[0]:.0f}s: {waiting[1]}"
        return True, "ok"

    def _delivered(self, sent: Sent) -> Any:
        def on_delivery(err: Any, _msg: Any) -> None:
            self._in_flight.pop(sent.seq, None)
            if err is not None:
                metrics.PRODUCE_ERRORS.inc()
                with self._lock:
                    self._failed.append(Failed(sent, err))
            else:
                self._acked_streams += sent.message.streams
                self._acked_chunks += 1
        return on_delivery

    def _count_acked(self) -> None:
        """What the broker acknowledged since the last call -> the emitted counters."""
        metrics.STREAMS_EMITTED.inc(self._acked_streams)
        metrics.CHUNKS.inc(self._acked_chunks)
        self._acked_streams = self._acked_chunks = 0

    def _produce(self, sent: Sent) -> None:
        """Hand one message to the producer. While its local queue is full (a poll larger than
        `queue_kbytes` with the broker away) this waits for deliveries to make room, and says so
        on the health check and in the log like `_wait_reports`: nothing is dropped or reordered.
        The wait is timed from the first message that found the queue full until the send ends
        (for failed chunks produced again, until `settle` does), so a queue that drains too
        slowly reads as one long wait."""
        while True:
            try:
                self.producer.produce(self.topic, value=sent.message.value, key=sent.message.key,
                                      partition=sent.message.partition, headers=self.keys.headers,
                                      timestamp=sent.timestamp, on_delivery=self._delivered(sent))
                self._in_flight[sent.seq] = sent
                return
            except BufferError:  # local queue full: let deliveries drain
                if self.stop.is_set():  # stopping while the broker is away: count it undelivered
                    with self._lock:
                        self._unsent.append(sent)
                    return
                self._queue_full()
                self.producer.poll(0.05)

    def _queue_full(self) -> None:
        """Mark (and every `report_after` seconds log) a send waiting for room in the queue."""
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = self._full_reported = now
        self._waiting = (self._full_since, f"the producer's queue is full ({self.queue_kbytes} KB, "
                                           f"{len(self._in_flight)} chunks not yet acknowledged)")
        if now - self._full_reported >= self.report_after:
            self._full_reported = now
            log.warning("the producer's queue (%d KB) has been full for %.0fs with %d chunks waiting for the broker; "
                        "the poll being sent waits, nothing is dropped",
                        self.queue_kbytes, now - self._full_since, len(self._in_flight))

    def _wait_reports(self, what: str) -> int:
        """Wait until every message handed to the producer has its delivery report, a second
        at a time so a stop request is honoured within a second. Returns what is left."""
        began = time.monotonic()
        reported = began
        remaining = self.producer.flush(1.0)
        while remaining and not self.stop.is_set():
            now = time.monotonic()
            self._waiting = (began, f"{remaining} chunks of {what} not yet acknowledged")
            if now - reported >= self.report_after:
                reported = now
                log.warning("%s: %d chunks still waiting for the broker after %.0fs; newer polls are held back",
                            what, remaining, now - began)
            remaining = self.producer.flush(1.0)
        return remaining

    def send(self, batch: Iterable[Message], captured_at_ms: int) -> Pending:
        """Produce one poll's messages without waiting; `settle` waits for them."""
        pending = Pending(captured_at_ms)
        for message in batch:
            self._produce(Sent(next(self._seq), message, captured_at_ms))
            pending.chunks += 1
            pending.streams += message.streams
        if self._full_since is not None:  # every message is in the queue now
            self._full_since = self._waiting = None
        self.producer.poll(0)
        return pending

    def settle(self, pending: Pending) -> EmitReport:
        """Wait until every chunk of the poll sent last is delivered, producing failed ones
        again in their original order, newer polls held back meanwhile (see the module doc)."""
        report = EmitReport(produced=pending.streams, chunks=pending.chunks)
        what = f"poll {format_ts(pending.captured_at_ms)}"
        attempt = 0
        try:
            while True:
                in_flight = self._wait_reports(what)
                with self._lock:
                    failed, self._failed = sorted(self._failed, key=lambda f: f.sent.seq), []
                if not failed or self.stop.is_set():
                    break
                error = failed[0].error
                pause = RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF) - 1)]
                attempt += 1
                self._failing = (f"{len(failed)} chunks of {what} failed ({error.str()}); "
                                 f"producing them again, newer polls held back")
                log.error("%s: %d chunks failed (%s); producing them again in order in %.0fs, newer polls held back",
                          what, len(failed), error.str(), pause)
                if error.fatal():
                    failed = sorted(failed + self._replace_producer(), key=lambda f: f.sent.seq)
                if self.stop.wait(pause):
                    break
                for f in failed:
                    self._produce(f.sent)
        finally:
            self._waiting = self._failing = self._full_since = None
        with self._lock:
            lost = [f.sent for f in failed] + self._unsent
            self._unsent = []
        report.failed_chunks = len(lost)
        report.failed = sum(s.message.streams for s in lost)
        if report.failed_chunks:
            metrics.RECORDS_LOST.inc(report.failed)
            log.error("%s: stopping with %d chunks undelivered (%d streams)", what, report.failed_chunks, report.failed)
        if in_flight and self.stop.is_set():
            log.warning("%s: stopping with %d chunks still in flight; the last flush counts those it does not deliver",
                        what, in_flight)
        elif not report.failed_chunks:
            metrics.LAST_POLL.set(pending.captured_at_ms / 1000)
        self._count_acked()
        return report

    def _replace_producer(self) -> list[Failed]:
        """After a fatal error the producer instance is unusable: a fresh one (a new producer
        id) carries on. Returns what the old one still held (purged), to be produced again."""
        log.warning("replacing the Kafka producer after a fatal error")
        old, self.producer = self.producer, self._new_producer()
        old.purge()
        old.flush(0)  # serves the purged messages' delivery reports
        with self._lock:
            purged, self._failed = self._failed, []
        return purged

    def emit(self, chunks: Iterable[tuple[Chunk, bytes]], captured_at_ms: int) -> EmitReport:
        """Produce a poll's chunks and wait until every one is delivered (see `settle`)."""
        return self.settle(self.send(messages(chunks, self.keys), captured_at_ms))

    def finish(self, captured_at_ms: int) -> EmitReport:
        """The end of the source (a finite run, a replay): one empty `final` chunk per key
        (nothing when no poll was sent: the key count is still undecided)."""
        if self.keys.count is None:
            return EmitReport()
        poll_id = poll_id_of(self.shard, captured_at_ms)
        report = self.emit(final_chunks(captured_at_ms, poll_id, self.shard.name, self.shard.count,
                                        self.keys.count), captured_at_ms)
        if report.failed_chunks:
            log.error("%d final chunks could not be delivered", report.failed_chunks)
        return report

    def close(self) -> None:
        """Wait for the last deliveries (a second at most once stopped); what the broker has not
        acknowledged by then is lost, counted in `lost_at_close` and `records_undelivered_total`."""
        self._wait_reports("the last poll")
        self._count_acked()
        with self._lock:
            lost = [*self._in_flight.values(), *(f.sent for f in self._failed), *self._unsent]
            self._in_flight, self._failed, self._unsent = {}, [], []
        if lost:
            self.lost_at_close = sum(s.message.streams for s in lost)
            metrics.RECORDS_LOST.inc(self.lost_at_close)
            log.error("stopping with %d chunks (%d streams) the broker never acknowledged", len(lost), self.lost_at_close)


def poll_id_of(shard: Shard, captured_at_ms: int) -> str:
    """A poll's id, unique per poll and shard, the same live and replayed."""
    return f"{shard.name}@{format_ts(captured_at_ms)}"


def cut(settings: Settings, shard: Shard, polled: Polled, captured_at_ms: int, keys: int
        ) -> Iterator[tuple[Chunk, bytes]]:
    """A poll's stream objects -> its chunks, in `keys` keys (`Emitter.keys`).

    A stream object too large to fit in a chunk alone (never seen from Helix) is dropped from
    `polled` and counted in `polled.malformed`; the check costs nothing when none is.
    """
    def chunks() -> Iterator[tuple[Chunk, bytes]]:
        return cut_poll(polled.streams, captured_at_ms, poll_id_of(shard, captured_at_ms), shard.name, shard.count,
                        keys, settings.producer.chunk_streams)

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
