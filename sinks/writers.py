"""The sinks (DESIGN §6, issue 5 §1, §2): Kafka batches -> rows, written exactly once by the
warehouse on top of Quix Streams' at-least-once delivery (`sinks.base` keeps the rest):

- `RawSink` -> STREAM_LOGS, one row per stream object of each chunk: the rows and the
  partition's offset high-water mark (SINK_OFFSETS) are written in one transaction; rows at or
  below the mark are skipped (a batch holds whole messages, so a chunk lands whole or not at
  all). A crash before the commit loses nothing (Kafka replays), after it duplicates nothing.
- `MergeSink` -> GAME_WINDOWS, CHANNEL_WINDOWS, GAME_TOP_CHANNELS, STREAM_WINDOWS,
  LANGUAGE_WINDOWS, ALERTS: one upsert (MERGE) per topic at each checkpoint, all its partitions'
  batches in one statement, on the natural key from a de-duplicated source (the latest offset
  per key); a row is only replaced by a record from a later offset. Replays rewrite nothing
  and add nothing.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import msgspec
from quixstreams.sinks import SinkBatch

from pulse import outputs
from pulse.events import ChunkError, v1_events
from pulse.kafka import broker_topic
from pulse.settings import Settings

from . import metrics
from .base import WarehouseSink
from .tables import BY_TOPIC, STREAM_LOGS, TableSpec, utc_text
from .warehouse import RawRow, Warehouse

log = logging.getLogger(__name__)


class RawSink(WarehouseSink):
    """`twitch.streams` (schema v2 chunks) -> STREAM_LOGS, one row per stream object.

    RAW_DATA is the v1 event (`pulse.events.v1_events`: the stream object with its chunk's
    `captured_at`, `poll_id` and `schema`), so the first seed's queries and STG_TWITCH_STREAMS
    keep working; the position is (partition, offset, CHUNK_INDEX). A message that is not a
    chunk, and a stream object that fails `full_stream_error` (the processor's own check: it
    sends those to the DLQ), are counted and skipped; the rest of the chunk is written. Empty
    chunks (a key with nothing this poll, the final chunks) write nothing, but their offsets
    count like any other: a batch holds whole messages, so the per-partition offset mark stays
    exact.
    """

    label = "raw"

    def __init__(self, settings: Settings, warehouse: Warehouse, method: Optional[str] = None,
                 sink_name: str = "sink-raw") -> None:
        super().__init__(settings, warehouse, method)
        self.sink_name = sink_name

    def rows(self, batch: SinkBatch) -> tuple[list[RawRow], int]:
        """The batch's rows (v1 event JSON, captured_at UTC text, offset, index in chunk) and its last offset."""
        rows: list[RawRow] = []
        last = -1
        invalid_streams = 0
        first_reason = ""
        for item in batch:
            last = max(last, item.offset)
            try:
                chunk, events, rejected = v1_events(item.value)
            except ChunkError as exc:
                metrics.RECORDS_SKIPPED.labels(STREAM_LOGS, "invalid").inc()
                log.warning("raw sink: %s[%d]@%d is not a chunk (%s); skipped", batch.topic, batch.partition,
                            item.offset, exc)
                continue
            captured = utc_text(chunk.captured_at)
            rows.extend((event, captured, item.offset, index) for index, event in events)
            if rejected:
                invalid_streams += len(rejected)
                first_reason = first_reason or f"{item.offset}[{rejected[0].position}]: {rejected[0].reason}"
        if invalid_streams:
            metrics.RECORDS_SKIPPED.labels(STREAM_LOGS, "invalid").inc(invalid_streams)
            log.warning("raw sink: %s[%d]: %d invalid stream objects skipped (first at %s)", batch.topic,
                        batch.partition, invalid_streams, first_reason)
        return rows, last

    def write_batch(self, cur: Any, batches: list[SinkBatch]) -> tuple[Optional[str], int]:
        (batch,) = batches  # one partition a write: its offset mark goes in the same transaction
        topic, partition = batch.topic, batch.partition
        rows, last = self.rows(batch)
        if last < 0:
            return None, 0
        written = self.warehouse.write_raw(cur, self.sink_name, topic, partition, rows, last, self.method,
                                           self.workdir)
        if len(rows) > written:
            metrics.RECORDS_SKIPPED.labels(STREAM_LOGS, "duplicate").inc(len(rows) - written)
        return STREAM_LOGS, written


class MergeSink(WarehouseSink):
    """Window and alert topics -> their tables, one MERGE per partition batch (see module doc).

    Each value is decoded straight into its output record (`pulse.outputs`), which checks
    every field's type; a value that is not one is counted and skipped."""

    label = "windows"

    def __init__(self, settings: Settings, warehouse: Warehouse, topic_names: list[str],
                 method: Optional[str] = None, label: str = "windows") -> None:
        super().__init__(settings, warehouse, method)
        self.label = label
        # a batch names its topic as the broker does: on Quix the workspace's topic id
        self.specs: dict[str, TableSpec] = {
            **{settings.topic(name): BY_TOPIC[name] for name in topic_names},
            **{broker_topic(settings, name): BY_TOPIC[name] for name in topic_names},
        }
        self.decoders = {spec.table: outputs.decoder(spec.record) for spec in self.specs.values()}

    def together(self, batches: list[SinkBatch]) -> list[list[SinkBatch]]:
        """A topic's partitions in one MERGE: P times fewer statements, each P times larger, where
        each statement's fixed cost weighs (fakesnow MERGEs 10k-12k rows/s in batches of 5,000
        rows, 18k-20k in batches of 20,000). The MERGE de-duplicates its source by natural key and
        a row carries its partition, so rows from several partitions load as they would one
        partition at a time."""
        by_topic: dict[str, list[SinkBatch]] = {}
        for batch in batches:
            by_topic.setdefault(batch.topic, []).append(batch)
        return list(by_topic.values())

    def write_batch(self, cur: Any, batches: list[SinkBatch]) -> tuple[Optional[str], int]:
        spec = self.specs[batches[0].topic]
        decoder = self.decoders[spec.table]
        rows: list[list[Any]] = []
        for batch in batches:
            for item in batch:
                row = table_row(spec, decoder, item.value)
                if row is None:
                    metrics.RECORDS_SKIPPED.labels(spec.table, "invalid").inc()
                    log.warning("%s sink: %s[%d]@%d does not match %s; skipped",
                                self.label, batch.topic, batch.partition, item.offset, spec.table)
                    continue
                row.extend((batch.partition, item.offset))
                rows.append(row)
        if not rows:
            return None, 0
        written = self.warehouse.merge(cur, spec, rows, self.method, self.workdir)
        if len(rows) > written:
            metrics.RECORDS_SKIPPED.labels(spec.table, "duplicate").inc(len(rows) - written)
        return spec.table, written


def table_row(spec: TableSpec, decoder: msgspec.json.Decoder, value: Any) -> Optional[list[Any]]:
    """A topic value -> the row of `spec` (timestamps as UTC text), or None if it is not a record."""
    if not isinstance(value, (bytes, bytearray, memoryview, str)):
        return None
    try:
        return spec.row(decoder.decode(value))
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        return None
