"""Snowflake sinks as Quix Streams `BatchingSink`s (DESIGN §6, issue 5 §1, §2, §5).

Quix Streams hands `write()` one batch per topic partition at each checkpoint and commits
the Kafka offsets only after every sink's flush succeeded. Exactly once in the warehouse on
top of that at-least-once delivery:

- `RawSink` -> STREAM_LOGS, one row per stream object of each chunk: rows and the partition's
  offset high-water mark (SINK_OFFSETS) are written in one transaction; rows at or below the
  mark are skipped in SQL (a batch holds whole messages, so a chunk lands whole or not at all). A crash
  before the commit loses nothing (Kafka replays), after it duplicates nothing (the mark).
- `MergeSink` -> GAME_WINDOWS, CHANNEL_WINDOWS, GAME_TOP_CHANNELS, ALERTS: one MERGE per
  batch on the natural key from a de-duplicated source (the latest offset per key); a row is
  only replaced by a record from a later offset. Replays rewrite nothing and add nothing.

Transient warehouse errors raise `SinkBackpressureError` (Quix pauses, seeks back, retries);
permanent ones raise `PermanentSinkError`, which ends the worker.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import Any, Callable, Optional

import orjson
from quixstreams.sinks import BatchingSink, SinkBackpressureError, SinkBatch

from pulse.events import ChunkError, decode_chunk, full_stream_error, v1_event
from pulse.kafka import broker_topic
from pulse.settings import Settings

from . import load, metrics
from .errors import PermanentSinkError, first_line, is_transient, lost_session, permanent
from .tables import BY_TOPIC, STREAM_LOGS, TableSpec

log = logging.getLogger(__name__)


class WarehouseSink(BatchingSink):
    """Connection handling, error classification and metrics shared by the Snowflake sinks."""

    label = "warehouse"

    def __init__(self, settings: Settings, method: Optional[str] = None,
                 connect: Optional[Callable[[], Any]] = None) -> None:
        super().__init__(on_client_connect_success=self._connected, on_client_connect_failure=self._failed)
        self.settings = settings
        self.method = method or settings.sink_load_method
        self._connect = connect or self._default_connect
        self._conn: Any = None
        self._workdir: Optional[str] = None
        self.healthy: tuple[bool, str] = (True, "starting")

    # --- lifecycle ----------------------------------------------------------------------
    def _default_connect(self) -> Any:
        from sinks.snowflake import connect

        return connect(self.settings)

    def setup(self) -> None:
        """Connect and bootstrap the schema; a warehouse that is down now is retried on write."""
        try:
            self._ensure_connection()
        except SinkBackpressureError:
            pass

    def _connected(self) -> None:
        log.info("%s sink ready (load method %s)", self.label, self.method)

    def _failed(self, exc: Optional[Exception]) -> None:
        raise exc if exc is not None else PermanentSinkError(f"{self.label} sink: setup failed")

    def close(self) -> None:
        self._conn_failed()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _ensure_connection(self) -> Any:
        if self._conn is not None:
            return self._conn
        try:
            self._conn = self._connect()
            if self.settings.sink_bootstrap:
                # on every new session: cheap when up to date, and it recreates what a
                # warehouse that lost its objects (e.g. a wiped local server) no longer has
                from .schema import bootstrap

                bootstrap(self._conn)
        except Exception as exc:
            self._conn_failed()
            self._raise(exc, "connect")
        self.healthy = (True, "ok")
        return self._conn

    def _conn_failed(self) -> None:
        """Drop the connection (closing it if possible); the next write reconnects."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None

    def _raise(self, exc: BaseException, doing: str) -> None:
        if isinstance(exc, PermanentSinkError):
            self.healthy = (False, str(exc))
            raise exc
        if is_transient(exc):
            metrics.BACKPRESSURE.labels(self.label).inc()
            reason = f"warehouse unavailable ({doing}): {first_line(exc)}"
            self.healthy = (False, reason)
            log.warning("%s sink: %s; retrying in %.0fs", self.label, reason, self.settings.sink_retry_seconds)
            raise SinkBackpressureError(retry_after=self.settings.sink_retry_seconds) from exc
        error = permanent(f"{self.label} sink: warehouse refused ({doing})", exc)
        self.healthy = (False, str(error))
        raise error from exc

    @property
    def workdir(self) -> str:
        if self._workdir is None:
            self._workdir = load.workdir()
        return self._workdir

    # --- the batch ----------------------------------------------------------------------
    def write(self, batch: SinkBatch) -> None:
        started = time.perf_counter()
        for attempt in (1, 2):
            conn = self._ensure_connection()
            cur = conn.cursor()
            try:
                table, written = self.write_batch(cur, batch)
                break
            except Exception as exc:
                self._rollback(cur)
                if is_transient(exc):
                    self._conn_failed()
                if attempt == 1 and lost_session(exc):
                    # the warehouse is back but forgot our session (a restarted server, an
                    # expired token): log in again and retry now rather than after a pause;
                    # the batch is idempotent (offset marks / MERGE)
                    log.info("%s sink: session lost (%s); logging in again", self.label, first_line(exc))
                    continue
                self._raise(exc, "write")
                return
            finally:
                cur.close()
        if table:
            metrics.BATCH_SECONDS.labels(table, self.method).observe(time.perf_counter() - started)
            metrics.BATCH_ROWS.labels(table).observe(batch.size)
            metrics.ROWS_WRITTEN.labels(table).inc(written)
            metrics.LAST_WRITE.labels(table).set_to_current_time()

    def write_batch(self, cur: Any, batch: SinkBatch) -> tuple[Optional[str], int]:
        """Write one partition's batch; returns (table, rows written)."""
        raise NotImplementedError

    def _rollback(self, cur: Any) -> None:
        try:
            cur.execute("ROLLBACK")
        except Exception:
            pass


class RawSink(WarehouseSink):
    """`twitch.streams` (schema v2 chunks) -> STREAM_LOGS, one row per stream object.

    RAW_DATA is the v1 event (`pulse.events.v1_event`: the stream object with its chunk's
    `captured_at`, `poll_id` and `schema`), so the first seed's queries and STG_TWITCH_STREAMS
    keep working; the position is (partition, offset, CHUNK_INDEX). A message that is not a
    chunk, and a stream object that fails `full_stream_error` (the processor's own check: it
    sends those to the DLQ), are counted and skipped; the rest of the chunk is written. Empty
    chunks (a key with nothing this poll, the final chunks) write nothing, but their offsets
    count like any other: a batch holds whole messages, so the per-partition offset mark stays
    exact.
    """

    label = "raw"

    def __init__(self, settings: Settings, method: Optional[str] = None,
                 connect: Optional[Callable[[], Any]] = None, sink_name: str = "sink-raw") -> None:
        super().__init__(settings, method, connect)
        self.sink_name = sink_name

    def rows(self, batch: SinkBatch) -> tuple[list[tuple[bytes, str, int, int]], int]:
        """The batch's rows (v1 event JSON, captured_at NTZ, offset, index in chunk) and its last offset."""
        rows: list[tuple[bytes, str, int, int]] = []
        last = -1
        invalid_streams = 0
        first_reason = ""
        for item in batch:
            last = max(last, item.offset)
            try:
                chunk = decode_chunk(item.value)
            except ChunkError as exc:
                metrics.RECORDS_SKIPPED.labels(STREAM_LOGS, "invalid").inc()
                log.warning("raw sink: %s[%d]@%d is not a chunk (%s); skipped", batch.topic, batch.partition,
                            item.offset, exc)
                continue
            captured = load.ntz_from_ms(chunk.captured_at_ms)
            for index, stream in enumerate(chunk.streams):
                reason = full_stream_error(stream)
                if reason is not None:
                    invalid_streams += 1
                    first_reason = first_reason or f"{item.offset}[{index}]: {reason}"
                    continue
                rows.append((orjson.dumps(v1_event(stream, chunk)), captured, item.offset, index))
        if invalid_streams:
            metrics.RECORDS_SKIPPED.labels(STREAM_LOGS, "invalid").inc(invalid_streams)
            log.warning("raw sink: %s[%d]: %d invalid stream objects skipped (first at %s)", batch.topic,
                        batch.partition, invalid_streams, first_reason)
        return rows, last

    def write_batch(self, cur: Any, batch: SinkBatch) -> tuple[Optional[str], int]:
        topic, partition = batch.topic, batch.partition
        rows, last = self.rows(batch)
        if last < 0:
            return None, 0
        if self.method == "copy" and rows:
            load_id = load.new_load_id()
            load.stage_lines(cur, load_id, (load.raw_line(load_id, o, i, c, r) for r, c, o, i in rows),
                             self.workdir)
            try:
                cur.execute("BEGIN")
                written = load.insert_raw_from_landing(cur, self.sink_name, topic, partition, load_id)
                load.advance_mark(cur, self.sink_name, topic, partition, last)
                load.clear_landing(cur, load_id)
                cur.execute("COMMIT")
            except Exception:
                self._rollback(cur)
                _quietly(load.clear_landing, cur, load_id)
                raise
        else:
            cur.execute("BEGIN")
            written = load.insert_raw_values(
                cur, self.sink_name, topic, partition, [(r.decode(), c, o, i) for r, c, o, i in rows])
            load.advance_mark(cur, self.sink_name, topic, partition, last)
            cur.execute("COMMIT")
        if len(rows) > written:
            metrics.RECORDS_SKIPPED.labels(STREAM_LOGS, "duplicate").inc(len(rows) - written)
        return STREAM_LOGS, written


class MergeSink(WarehouseSink):
    """Window and alert topics -> their tables, one MERGE per partition batch (see module doc)."""

    label = "windows"

    def __init__(self, settings: Settings, topic_names: list[str], method: Optional[str] = None,
                 connect: Optional[Callable[[], Any]] = None, label: str = "windows") -> None:
        super().__init__(settings, method, connect)
        self.label = label
        # a batch names its topic as the broker does: on Quix the workspace's topic id
        self.specs: dict[str, TableSpec] = {
            **{settings.topic(name): BY_TOPIC[name] for name in topic_names},
            **{broker_topic(settings, name): BY_TOPIC[name] for name in topic_names},
        }

    def write_batch(self, cur: Any, batch: SinkBatch) -> tuple[Optional[str], int]:
        spec = self.specs[batch.topic]
        rows: list[list[Any]] = []
        for item in batch:
            row = _row(spec, item.value)
            if row is None:
                metrics.RECORDS_SKIPPED.labels(spec.table, "invalid").inc()
                log.warning("%s sink: %s[%d]@%d does not match %s; skipped",
                            self.label, batch.topic, batch.partition, item.offset, spec.table)
                continue
            row.extend((batch.partition, item.offset))
            rows.append(row)
        if not rows:
            return None, 0
        if self.method == "copy":
            load_id = load.new_load_id()
            names = spec.fields
            lines = (orjson.dumps({"l": load_id, **dict(zip(names, row)), "p": row[-2], "o": row[-1]}) + b"\n"
                     for row in rows)
            load.stage_lines(cur, load_id, lines, self.workdir)
            try:
                written = load.merge_from_landing(cur, spec, load_id)
            finally:
                _quietly(load.clear_landing, cur, load_id)
        else:
            written = load.merge_values(cur, spec, rows)
        if len(rows) > written:
            metrics.RECORDS_SKIPPED.labels(spec.table, "duplicate").inc(len(rows) - written)
        return spec.table, written


def _decode(value: Any) -> Optional[dict]:
    if isinstance(value, dict):
        return value
    if not isinstance(value, (bytes, bytearray, memoryview, str)):
        return None
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _row(spec: TableSpec, value: Any) -> Optional[list[Any]]:
    record = _decode(value)
    if record is None:
        return None
    row: list[Any] = []
    try:
        for field, kind in spec.columns:
            v = record[field]
            if kind == "TIMESTAMP_NTZ":
                v = load.ts_ntz(v)
            elif kind == "BIGINT" and v is not None:
                v = int(v)
            elif kind == "DOUBLE" and v is not None:
                v = float(v)
            elif kind == "VARCHAR" and v is not None:
                v = str(v)
            row.append(v)
    except (KeyError, TypeError, ValueError):
        return None
    return row


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # the landing rows are only garbage: never mask the real error
        log.debug("cleanup failed: %s", first_line(exc))
