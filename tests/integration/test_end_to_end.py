"""The whole pipeline, every worker its own process: simulator -> producer -> processor ->
sinks -> fakesnow, on an accelerated clock. The warehouse's window tables must equal an
independent DuckDB computation of DESIGN §4 over what the raw sink stored in STREAM_LOGS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from devstack.pipeline import WORKERS_WITH_METRICS, LocalPipeline
from devstack.service import free_port
from pulse import topics
from pulse.kafka import ensure_topics
from sinks.choice import chosen
from sinks.snowflake import connect
from tests import reference
from tests.pipeline import TopicReader
from tests.reference import assert_rows_equal
from tests.sink_support import TABLES, table_rows

POLLS = 25  # 2.5 windows of 10 simulated minutes, 25 real seconds at x60


def stored_events(cur: Any) -> list[dict]:
    cur.execute("SELECT RAW_DATA FROM STREAM_LOGS ORDER BY KAFKA_PARTITION, KAFKA_OFFSET, CHUNK_INDEX")
    return [json.loads(raw) if isinstance(raw, str) else raw for (raw,) in cur.fetchall()]


PIPELINE = dict(clock_speed=60, window_seconds=600, poll_interval_seconds=60, topic_partitions=2,
                alert_threshold_viewers=20_000, surge_min_viewers=500)


@pytest.mark.slow
def test_pipeline_end_to_end(make_settings, warehouse_server, tmp_path: Path) -> None:
    settings = make_settings(**PIPELINE)
    try:
        run_and_compare(settings, tmp_path)
    finally:
        conn = connect(settings)
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS {settings.snowflake.database}.{settings.snowflake.schema_name} CASCADE")
        conn.close()


@pytest.mark.slow
def test_pipeline_end_to_end_on_bigquery(bq_settings, tmp_path: Path) -> None:
    """The same pipeline into bqemulator (WAREHOUSE=bigquery): the windows read back from
    BigQuery equal the DuckDB computation over the raw rows read back from BigQuery."""
    run_and_compare(bq_settings.replace(**PIPELINE), tmp_path)


def run_and_compare(settings, tmp_path: Path) -> None:
    """Run every worker until the producer's polls are in the warehouse, then compare."""
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    pipeline = LocalPipeline(settings, tmp_path, simulator_port=free_port(), channels=300,
                             first_metrics_port=free_port(len(WORKERS_WITH_METRICS)),
                             extra_args={"producer": ["--polls", str(POLLS)]},
                             extra_env={"SINK_SESSION_TIMEOUT_MS": "6000"})
    alerts = TopicReader(settings, [settings.topic(topics.ALERTS)])
    pipeline.start()
    conn = None
    try:
        producer = pipeline.worker("producer").proc
        deadline = time.monotonic() + 150
        while producer.poll() is None and time.monotonic() < deadline:
            pipeline.check(finite=("producer",))
            time.sleep(0.5)
        assert producer.returncode == 0, "the producer did not finish its polls"

        conn = chosen(settings).connect(settings)
        cur = conn.cursor()
        deadline = time.monotonic() + 180
        while True:
            pipeline.check(finite=("producer",))
            try:
                events = stored_events(cur)
                expected = reference.compute(events, 600, 60, settings.processor.top_n)
                got = {name: table_rows(cur, table, key) for name, (table, key) in TABLES.items()}
                polls = {e["captured_at"] for e in events}
                if len(polls) == POLLS and all(len(got[n]) >= len(expected[n]) for n in TABLES):
                    time.sleep(2)  # the last poll's rows may still be loading: compare a settled table
                    if len(stored_events(cur)) == len(events):
                        break
            except Exception as exc:  # tables appear once the sinks have bootstrapped
                if "does not exist" not in str(exc) and "Not found" not in str(exc):
                    raise
            assert time.monotonic() < deadline, "the warehouse did not fill within 180 s"
            time.sleep(2)

        # every sample of every poll arrived once, and each window table equals the batch computation
        assert len(events) == len({(e["captured_at"], e["stream_id"]) for e in events})
        assert len({e["captured_at"] for e in events}) == POLLS
        windows = {row["window_start"] for row in expected["games"].values()}
        assert len(windows) >= 3  # 25 polls span 3 or 4 windows, depending on where the first falls
        for name in TABLES:
            fields = set(next(iter(expected[name].values())))
            trimmed = {k: {f: v for f, v in row.items() if f in fields} for k, row in got[name].items()}
            assert_rows_equal(expected[name], trimmed, name)

        # alerts: the ALERTS table holds exactly what the processor raised, once each
        alerts.poll_until(lambda r: True, timeout=10, settle=2)
        raised = {key for key, _, _ in alerts.records.get(settings.topic(topics.ALERTS), [])}
        deadline = time.monotonic() + 60
        while True:
            cur.execute("SELECT ALERT_ID FROM ALERTS")
            stored = [row[0] for row in cur.fetchall()]
            if set(stored) == raised or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert sorted(stored) == sorted(raised)
    finally:
        alerts.close()
        codes = pipeline.stop()
        if conn is not None:
            conn.close()
    assert all(code == 0 for name, code in codes.items()), f"workers did not stop cleanly: {codes}"
