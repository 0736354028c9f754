"""The warehouse-neutral sink base: a Quix Streams `BatchingSink` (DESIGN §6, issue 5 §1, §5).

Quix Streams keeps one batch per topic partition and, at each checkpoint, flushes them and
commits the Kafka offsets only after every sink's flush succeeded. A subclass says which of a
checkpoint's batches one write takes (`together`: each alone, or a topic's partitions in one
statement), turns them into rows and hands those to its `Warehouse` (`sinks.warehouse`;
Snowflake's is `sinks.snowflake.SNOWFLAKE`), which loads them idempotently. This base keeps
the connection (reconnecting and bootstrapping the schema on every new session), retries a
batch at once after a lost session, and turns
transient warehouse errors into `SinkBackpressureError` (Quix pauses, seeks back, retries) and
permanent ones into `PermanentSinkError`, which ends the worker; it keeps `healthy` for
`/healthz` and the batch metrics.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from typing import Any, Optional

from quixstreams.sinks import BatchingSink, SinkBackpressureError, SinkBatch

from pulse.errors import first_line
from pulse.settings import Settings

from . import metrics
from .errors import PermanentSinkError, permanent
from .warehouse import Warehouse

log = logging.getLogger(__name__)


class WarehouseSink(BatchingSink):
    """Connection handling, retry and backpressure, health and metrics shared by the sinks; what
    is the warehouse's own (connecting, classifying errors, loading) comes from `warehouse`."""

    label = "warehouse"

    def __init__(self, settings: Settings, warehouse: Warehouse, method: Optional[str] = None) -> None:
        super().__init__(on_client_connect_success=self._connected, on_client_connect_failure=self._failed)
        self.settings = settings
        self.warehouse = warehouse
        self.method = method or settings.sink.load_method
        self._conn: Any = None
        self._workdir: Optional[str] = None
        self.healthy: tuple[bool, str] = (True, "starting")

    # --- lifecycle ----------------------------------------------------------------------
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
            self._conn = self.warehouse.connect(self.settings)
            if self.settings.sink.bootstrap:
                # on every new session: cheap when up to date, and it recreates what a
                # warehouse that lost its objects (e.g. a wiped local server) no longer has
                self.warehouse.bootstrap(self._conn)
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
        if self.warehouse.is_transient(exc):
            metrics.BACKPRESSURE.labels(self.label).inc()
            reason = f"warehouse unavailable ({doing}): {first_line(exc)}"
            self.healthy = (False, reason)
            log.warning("%s sink: %s; retrying in %.0fs", self.label, reason, self.settings.sink.retry_seconds)
            raise SinkBackpressureError(retry_after=self.settings.sink.retry_seconds) from exc
        error = permanent(f"{self.label} sink: warehouse refused ({doing})", exc)
        self.healthy = (False, str(error))
        raise error from exc

    @property
    def workdir(self) -> str:
        """A scratch directory for the warehouse's load files, removed on close."""
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="pulse-sink-")
        return self._workdir

    # --- the batch ----------------------------------------------------------------------
    def flush(self) -> None:
        """Write the checkpoint's batches, as many at a time as `together` says, then drop them
        all, as `BatchingSink.flush` does: a write that fails ends the flush, and Quix Streams
        replays every partition from its last commit."""
        try:
            for batches in self.together(list(self._batches.values())):
                self.write_batches(batches)
        finally:
            self._batches.clear()

    def together(self, batches: list[SinkBatch]) -> list[list[SinkBatch]]:
        """Which of a checkpoint's batches (one per topic partition) one write takes: each its own."""
        return [[batch] for batch in batches]

    def write(self, batch: SinkBatch) -> None:
        self.write_batches([batch])

    def write_batches(self, batches: list[SinkBatch]) -> None:
        """One write of `batches` in the warehouse, retried at once after a lost session."""
        started = time.perf_counter()
        for attempt in (1, 2):
            conn = self._ensure_connection()
            cur = conn.cursor()
            try:
                table, written = self.write_batch(cur, batches)
                break
            except Exception as exc:
                self.warehouse.rollback(cur)
                if self.warehouse.is_transient(exc):
                    self._conn_failed()
                if attempt == 1 and self.warehouse.lost_session(exc):
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
            metrics.BATCH_ROWS.labels(table).observe(sum(batch.size for batch in batches))
            metrics.ROWS_WRITTEN.labels(table).inc(written)
            metrics.LAST_WRITE.labels(table).set_to_current_time()

    def write_batch(self, cur: Any, batches: list[SinkBatch]) -> tuple[Optional[str], int]:
        """Write the batches `together` grouped; returns (table, rows written)."""
        raise NotImplementedError
