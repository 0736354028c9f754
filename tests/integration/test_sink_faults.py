"""Warehouse faults: transient ones pause and retry with nothing lost, permanent ones end the
worker with one line and a non-zero exit. The shared warehouse server is never stopped: the
sink reaches it through a local TCP relay the test opens late."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from devstack.service import free_port
from pulse import topics
from pulse.settings import Settings
from pulse.watchdog import EXIT_STALLED
from sinks.snowflake.errors import is_transient
from tests.conftest import BIGQUERY_PORT, WAREHOUSE_PORT
from tests.pipeline import health
from tests.sink_support import (
    Worker,
    assert_raw_exact,
    chunked,
    committed_all,
    count,
    produce,
    stream,
    streams_chunked,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("sql_guard")

ENV = {"SINK_BATCH_ROWS": 100, "SINK_COMMIT_INTERVAL_SECONDS": 0.3, "SINK_RETRY_SECONDS": 1,
       "SINK_SESSION_TIMEOUT_MS": 6000, "SNOWFLAKE_NETWORK_TIMEOUT": 3}


class Relay:
    """A TCP relay from `port` to the warehouse server, opened on demand."""

    def __init__(self, port: int, target: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_unreachable_warehouse_backpressures_then_recovers(warehouse_settings: Settings, tmp_path: Path) -> None:
    chunks = streams_chunked(0, 300, final=True)
    produce(warehouse_settings, topics.STREAMS, chunks.records)
    port = free_port()  # nothing listens here yet: connection refused
    bigquery = warehouse_settings.warehouse == "bigquery"
    env = dict(ENV, **({"BIGQUERY_PORT": port, "BIGQUERY_TIMEOUT": 3} if bigquery else {"SNOWFLAKE_PORT": port}))
    with Worker(warehouse_settings, ["sink", "raw"], tmp_path / "f.log", **env) as worker:
        wait_for(lambda: worker.log().count("warehouse unavailable") >= 2, 90, "backpressure to be reported twice")
        assert worker.alive()
        assert not committed_all(warehouse_settings, "sink-raw", [topics.STREAMS])
        relay = Relay(port, BIGQUERY_PORT if bigquery else WAREHOUSE_PORT)
        try:
            wait_for(lambda: committed_all(warehouse_settings, "sink-raw", [topics.STREAMS]), 120, "recovery")
            assert worker.stop() == 0, worker.log()
        finally:
            relay.close()
    assert_raw_exact(warehouse_settings, chunks.expected, len(chunks.records))


def test_missing_table_or_privilege_ends_the_worker(wh_settings: Settings, tmp_path: Path) -> None:
    """Without bootstrap on an empty schema Snowflake answers 'does not exist or not authorized':
    retrying cannot help, so the worker stops with one line and exit 1, committing nothing."""
    produce(wh_settings, topics.STREAMS, chunked({0: [stream(1)]}).records)
    worker = Worker(wh_settings, ["sink", "raw", "--no-bootstrap"], tmp_path / "p.log", **ENV)
    assert worker.wait(90) == 1, worker.log()
    lines = [line for line in worker.log().splitlines() if line.startswith("twitch-pulse:")]
    assert len(lines) == 1 and "raw sink: warehouse refused" in lines[0], worker.log()
    assert "Traceback" not in worker.log()
    assert count(wh_settings, "STREAM_LOGS") == -1
    assert not committed_all(wh_settings, "sink-raw", [topics.STREAMS])


class BlackHole:
    """A warehouse that accepts connections and never answers: a sink's call into it blocks
    for as long as its client's timeout allows."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_a_sink_whose_main_loop_is_blocked_ends_for_a_restart_with_its_stacks(make_settings, tmp_path: Path) -> None:
    """The main thread blocked in a call that does not return within SINK_STALL_SECONDS (here a
    login to a warehouse that never answers, with a longer client timeout; in the wild a Kafka
    commit that hung): /healthz says so, then the worker exits 70 with every thread's stack in
    its log, for its supervisor to restart it."""
    hole = BlackHole()
    metrics = free_port()
    try:
        settings = make_settings(snowflake_port=hole.port)
        produce(settings, topics.ALERTS, [("a", {"alert_id": "x"})])
        worker = Worker(settings, ["sink", "alerts"], tmp_path / "stall.log", METRICS_PORT=metrics,
                        SINK_STALL_SECONDS=30, SNOWFLAKE_NETWORK_TIMEOUT=600)
        reason = wait_for(lambda: (h := health(metrics))[0] == 503 and "main loop stalled" in h[1] and h[1], 60,
                          "/healthz to report the stall")
        assert "restarting at 30s" in reason
        assert worker.wait(90) == EXIT_STALLED, worker.log()[-3000:]
        log = worker.log()
        assert "sink alerts: main loop stalled for 3" in log and "Current thread" in log
        assert "snowflake/connector" in log  # where the main thread was: the connector, waiting on the hole
    finally:
        hole.close()


def test_classification_of_connector_errors() -> None:
    from snowflake.connector import errors as sf

    assert is_transient(sf.OperationalError(msg="Could not connect to Snowflake backend", errno=250001))
    assert is_transient(sf.ServiceUnavailableError(msg="503"))
    assert is_transient(sf.TooManyRequests(msg="429"))
    assert is_transient(sf.ProgrammingError(msg="Statement reached its statement or warehouse timeout", errno=625))
    assert is_transient(sf.ProgrammingError(msg="TransactionContext Error: Conflict on update"))
    assert not is_transient(sf.DatabaseError(msg="Incorrect username or password was specified.", errno=390100))
    assert not is_transient(sf.ProgrammingError(msg="Insufficient privileges to operate on table", errno=3001))
    assert not is_transient(sf.ProgrammingError(msg="SQL compilation error: syntax error", errno=1003))
    assert not is_transient(ValueError("a bug"))
