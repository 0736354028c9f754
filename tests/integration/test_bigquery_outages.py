"""Outages of the local BigQuery stand-in (issue 23 §5, like test_outages for fakesnow): the
emulator keeps every row across a stop, a start and a SIGKILL (its data on disk), and a sink
rides out the emulator restarted mid-stream or stopped for a while: /healthz says 503 with
the reason, and afterwards every record is in BigQuery exactly once.

The tests run an emulator of their own (ports next to the session's are never touched).
FAULT_BIGQUERY_OUTAGE_SECONDS sets how long it stays down (the suite: 15 s, enough for the
sink's writes to fail, back off and retry several times; the issue's 60 s by hand:
`FAULT_BIGQUERY_OUTAGE_SECONDS=60 pytest tests/integration/test_bigquery_outages.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import psutil
import pytest

from devstack.bigquery import BigQueryServer
from devstack.service import free_port, port_open
from pulse import topics
from pulse.settings import Settings
from tests.pipeline import HEALTH_DEADLINE, health
from tests.sink_support import Worker, alert, committed_all, produce, query, stays_up, wait_for

BIGQUERY_OUTAGE = float(os.environ.get("FAULT_BIGQUERY_OUTAGE_SECONDS", 15))
ENV = {"SINK_BATCH_ROWS": 50, "SINK_COMMIT_INTERVAL_SECONDS": 0.3, "SINK_RETRY_SECONDS": 1,
       "SINK_SESSION_TIMEOUT_MS": 6000, "BIGQUERY_TIMEOUT": 10}


@pytest.fixture
def own_bigquery(tmp_path: Path) -> Iterator[BigQueryServer]:
    port = free_port(2)
    server = BigQueryServer(tmp_path / "bq", port=port, grpc_port=port + 1)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings_on(make_settings: Callable[..., Settings], unique: str) -> Callable[[BigQueryServer], Settings]:
    def make(server: BigQueryServer) -> Settings:
        return make_settings(warehouse="bigquery", bigquery_port=server.port, bigquery_dataset=f"t_{unique}")
    return make


def _alert_ids(settings: Settings) -> list[str]:
    try:
        return [r[0] for r in query(settings, "SELECT ALERT_ID FROM ALERTS")]
    except Exception:
        return []


def test_emulator_keeps_rows_and_schema_across_restarts(settings_on: Callable[[BigQueryServer], Settings],
                                                       own_bigquery: BigQueryServer) -> None:
    from sinks.bigquery import BIGQUERY
    from sinks.bigquery.schema import migrations

    settings = settings_on(own_bigquery)
    insert = "INSERT INTO SINK_OFFSETS (SINK, KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET) VALUES ('s', 't', 0, %(o)s)"
    conn = BIGQUERY.connect(settings)
    BIGQUERY.bootstrap(conn)
    conn.cursor().execute(insert, {"o": 41})
    conn.close()
    own_bigquery.stop()
    own_bigquery.start()
    conn = BIGQUERY.connect(settings)
    conn.cursor().execute(insert, {"o": 42})
    conn.close()
    os.kill(own_bigquery.service.pid(), 9)  # no clean shutdown: DuckDB's write-ahead log must do
    wait_for(lambda: own_bigquery.service.pid() is None and not port_open(own_bigquery.host, own_bigquery.port),
             30, "the emulator to die")
    own_bigquery.start()
    assert query(settings, "SELECT KAFKA_OFFSET FROM SINK_OFFSETS ORDER BY 1") == [(41,), (42,)]
    conn = BIGQUERY.connect(settings)
    assert BIGQUERY.current_version(conn) == max(m.version for m in migrations())
    conn.close()


@pytest.mark.parametrize("outage", [0.0, BIGQUERY_OUTAGE], ids=["restart", "stopped"])
def test_sink_rides_out_an_emulator_outage(settings_on: Callable[[BigQueryServer], Settings],
                                           own_bigquery: BigQueryServer, outage: float, tmp_path: Path) -> None:
    """The emulator stops mid-stream (records still coming), stays down for `outage` seconds and
    comes back on the same files: /healthz 503 within 10 s, the sink's writes fail as
    transient, it backs off, and every record is there exactly once."""
    settings = settings_on(own_bigquery)
    records = [(f"u{i}", alert(i)) for i in range(3000)]
    produce(settings, topics.ALERTS, records[:1500])
    metrics = free_port()
    with Worker(settings, ["sink", "alerts"], tmp_path / "sink.log", METRICS_PORT=metrics, **ENV) as worker:
        wait_for(lambda: _alert_ids(settings), 90, "the sink to write")
        own_bigquery.stop()
        # the second half arrives while the emulator is down, so the sink has writes that fail
        # (produced before the stop, the sink could write them all first and only its probe would fail)
        produce(settings, topics.ALERTS, records[1500:])
        if outage:
            status, reason = wait_for(lambda: (h := health(metrics))[0] == 503 and h, HEALTH_DEADLINE,
                                      "/healthz 503 after the emulator stopped")
            assert "warehouse" in reason, reason
            wait_for(lambda: "warehouse unavailable (" in worker.log(), 60, "a failed write, logged as transient")
            assert stays_up(worker, outage), f"the sink exited during the outage:\n{worker.log()[-3000:]}"
        own_bigquery.start()
        try:
            wait_for(lambda: committed_all(settings, "sink-alerts", [topics.ALERTS]), 240, "the sink to catch up")
        except AssertionError as exc:  # what the sink was doing, and what the emulator said
            raise AssertionError(f"{exc}\nsink:\n{worker.log()[-4000:]}\nemulator:\n"
                                 f"{own_bigquery.service.log_file.read_text(errors='replace')[-2000:]}") from None
        wait_for(lambda: health(metrics)[0] == 200, 30, "/healthz 200 again")
        assert worker.stop() == 0, worker.log()[-3000:]
    ids = _alert_ids(settings)
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(v["alert_id"] for _, v in records)
    assert "Traceback" not in worker.log()


def test_stop_finds_an_emulator_its_pid_file_lost_track_of(own_bigquery: BigQueryServer) -> None:
    """`stack stop` and the fixtures stop the emulator of their data directory even when the pid
    file no longer leads to it (it happened: an emulator outlived its test, serving on)."""
    pid = own_bigquery.service.pid()
    own_bigquery.service.pid_file.unlink()
    assert own_bigquery.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not port_open(own_bigquery.host, own_bigquery.port)
