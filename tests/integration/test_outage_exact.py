"""Exact through a broker outage (issue 24): the broker stops mid-stream and comes back, and
every row of every warehouse table still equals the independent DuckDB computation over what
the source produced, values included, and `twitch.streams` holds each producer shard's polls in
order along the offsets of every partition.

Two sources, each with the processor and both warehouse sinks running as their own processes:
- `replay`: a recording replayed at x60 (a poll a second), as a user backfills;
- `live`: the poller against the Helix simulator on a x60 clock (`record --produce`, so the
  file says exactly what each delivered poll saw).

The reference is computed from the source (the recording, de-duplicated per poll as DESIGN §3
says), never from what reached Kafka: reordered input would otherwise be "expected" too.
FAULT_BROKER_OUTAGE_SECONDS sets the outage (default 120 s, the length that broke main).
"""

from __future__ import annotations

import gzip
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from devstack.kafka import KafkaBroker
from devstack.service import free_port, port_open
from devstack.warehouse import WarehouseServer
from pulse import topics
from pulse.cli import EXIT_RESTART
from pulse.events import format_ts
from pulse.kafka import ensure_topics
from pulse.settings import Settings
from sinks.snowflake import connect
from tests import reference
from tests.helix_support import input_in_order, read_topic, source_events
from tests.pipeline import HEALTH_DEADLINE, health, start_worker, stop_worker
from tests.reference import assert_rows_equal
from tests.sink_support import TABLES, table_rows

OUTAGE = float(os.environ.get("FAULT_BROKER_OUTAGE_SECONDS", 120))
POLLS = 40          # four 10-minute windows
CHANNELS = 300
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on the window grid
# SINK_STALL_SECONDS: longer than the outage (a commit may wait for the broker that long), short
# enough that a sink whose main loop hung (pulse.watchdog) is restarted within the test's waits
SINK_ENV = {"SINK_BATCH_ROWS": "2000", "SINK_COMMIT_INTERVAL_SECONDS": "0.5", "SINK_RETRY_SECONDS": "1",
            "SINK_SESSION_TIMEOUT_MS": "6000", "SINK_STALL_SECONDS": str(int(OUTAGE) + 30)}


def write_recording(path: Path) -> None:
    """CHANNELS streams over POLLS polls, as Helix returns them: viewers move, some streams end
    and restart, some change game, and each poll repeats a few objects (page drift)."""
    with gzip.open(path, "wb") as out:
        for k in range(POLLS):
            data = []
            for i in range(CHANNELS):
                if (i + k) % 23 == 0:
                    continue  # offline this poll
                generation = (k + i) // 17  # a new broadcast every 17 polls or so
                game = i % 7 if (k // 5 + i) % 4 else (i + 1) % 7  # some channels switch game now and then
                data.append({
                    "id": f"{i}-{generation}", "user_id": str(1000 + i), "user_login": f"chan{i}",
                    "user_name": f"Chan{i}", "game_id": str(game), "game_name": f"Game {game}", "type": "live",
                    "title": f"title {k}",
                    "viewer_count": (i * 37 + k * 11) % 900 + (5000 if i == 3 else 0),
                    "started_at": format_ts(T0 + ((k + i) // 17 * 17 - i) * 60_000 - 90_000),
                    "language": ("en", "de", "ja", "")[i % 4], "tags": ["x"], "tag_ids": [],
                    "is_mature": i % 5 == 0, "thumbnail_url": "",
                })
            data += data[: 1 + k % 3]  # drifted pages: the first occurrence is kept
            out.write(orjson.dumps({"captured_at": format_ts(T0 + k * 60_000), "data": data}) + b"\n")


def warehouse_rows(settings: Settings) -> tuple[int, dict[str, dict]]:
    conn = connect(settings)
    try:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM STREAM_LOGS")
        raw = int(cur.fetchone()[0])
        return raw, {name: table_rows(cur, table, key) for name, (table, key) in TABLES.items()}
    finally:
        conn.close()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, alive: Callable[[], None]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        alive()
        try:
            result = condition()
        except Exception as exc:  # tables appear once the sinks have bootstrapped
            if "does not exist" not in str(exc):
                raise
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s"
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["replay", "live"])
def test_a_broker_outage_leaves_every_value_exact_and_the_input_in_order(
        source: str, make_settings: Callable[..., Settings], warehouse_server: WarehouseServer,
        own_broker: KafkaBroker, tmp_path: Path) -> None:
    settings = make_settings(kafka_bootstrap=own_broker.bootstrap, window_seconds=600, poll_interval_seconds=60,
                             topic_partitions=2, chunk_keys=16, chunk_streams=40, top_n=5)
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    recording = tmp_path / "polls.jsonl.gz"
    procs: dict[str, Any] = {}
    source_port = free_port()
    env = {"METRICS_PORT": str(source_port)}
    if source == "replay":
        write_recording(recording)
        source_cmd = ["replay", str(recording), "--speed", "60"]
    else:
        sim_port = free_port()
        procs["simulator"] = start_worker(["simulate", "--port", str(sim_port), "--channels", str(CHANNELS),
                                           "--speed", "60", "--drift", "0.3"], settings, tmp_path / "simulator.log")
        env.update(CLOCK_SPEED="60", TWITCH_CLIENT_ID="demo", TWITCH_CLIENT_SECRET="demo-secret",
                   TWITCH_API_URL=f"http://127.0.0.1:{sim_port}/helix",
                   TWITCH_AUTH_URL=f"http://127.0.0.1:{sim_port}/oauth2")
        source_cmd = ["record", str(recording), "--produce", "--polls", str(POLLS)]
    workers = {"processor": (["processor"], {"PROCESSOR_INSTANCE_ID": "0"}),
               "sink-raw": (["sink", "raw"], SINK_ENV), "sink-windows": (["sink", "windows"], SINK_ENV)}
    for name, (args, extra) in workers.items():
        procs[name] = start_worker(args, settings, tmp_path / f"{name}.log", **extra)
    if source == "live":
        wait_for(lambda: port_open("127.0.0.1", sim_port), 30, "the simulator to listen", lambda: None)
    procs["source"] = start_worker(source_cmd, settings, tmp_path / "source.log", **env)

    restarted: list[str] = []

    def alive() -> None:
        """Every worker runs; one that ended itself for a restart (exit 70: a sink's
        `pulse.watchdog`, the processor's `StoreLocked`) is restarted, as its supervisor would,
        and counted; any other exit fails the test."""
        for name, proc in list(procs.items()):
            if proc.poll() is None or (name == "source" and proc.returncode == 0):
                continue
            if name in workers and proc.returncode == EXIT_RESTART:
                restarted.append(name)
                args, extra = workers[name]
                procs[name] = start_worker(args, settings, tmp_path / f"{name}.log", **extra)
                continue
            log = (tmp_path / f"{name}.log").read_text()[-3000:]
            pytest.fail(f"{name} exited with {proc.returncode} during the test:\n{log}")

    def stacks() -> str:
        """Every live worker's threads (`twitch-pulse` dumps them on SIGUSR1) and log tail: what
        a worker that stopped making progress was doing."""
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)
        time.sleep(2)  # faulthandler writes at once; give the log a moment to reach the file
        return "\n".join(f"--- {name}:\n{(tmp_path / f'{name}.log').read_text(errors='replace')[-6000:]}"
                         for name in procs)

    try:
        # the outage starts mid-stream, a window and a bit into the source, chunks in flight
        read_topic(settings, settings.topic(topics.STREAMS), lambda m: (alive(), len(m.polls()) >= 12)[1],
                   timeout=180)
        own_broker.stop()
        wait_for(lambda: health(source_port)[0] == 503, HEALTH_DEADLINE, "the source's /healthz 503", alive)
        outage_end = time.monotonic() + OUTAGE
        while time.monotonic() < outage_end:
            alive()
            time.sleep(1)
        own_broker.start(timeout=120)
        wait_for(lambda: procs["source"].poll() == 0, 300, "the source to finish", alive)

        events = source_events(recording)
        assert len({e["captured_at"] for e in events}) == POLLS
        expected = reference.compute(events, 600, 60, settings.processor.top_n)

        def complete() -> bool:
            raw, got = warehouse_rows(settings)
            return raw == len(events) and all(len(got[n]) >= len(expected[n]) for n in TABLES)

        try:
            wait_for(complete, 300, "every row in the warehouse", alive)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stacks()}") from None
        raw, got = warehouse_rows(settings)
        assert raw == len(events)
        for name in TABLES:
            fields = set(next(iter(expected[name].values())))
            trimmed = {k: {f: v for f, v in row.items() if f in fields} for k, row in got[name].items()}
            assert_rows_equal(expected[name], trimmed, name)
        assert input_in_order(settings) == []
        if restarted:  # the values held through it; say so in the test report
            print(f"restarted for exit {EXIT_RESTART}: {restarted}")
    finally:
        # every worker is stopped (killed if it must be) before any verdict: none outlives the test
        codes = {name: stop_worker(proc) for name, proc in procs.items() if proc.poll() is None}
        unclean = {name: code for name, code in codes.items() if code != 0 and name != "simulator"}
        assert not unclean, "\n".join(f"{name} exited {code}:\n{(tmp_path / f'{name}.log').read_text()[-3000:]}"
                                      for name, code in unclean.items())
        try:
            conn = connect(settings, with_schema=False)
            conn.cursor().execute(f"DROP SCHEMA IF EXISTS {settings.snowflake.database}.{settings.snowflake.schema_name} CASCADE")
            conn.close()
        except Exception:
            pass
    for name in ("processor", "sink-raw", "sink-windows", "source"):
        assert "Traceback" not in (tmp_path / f"{name}.log").read_text(), name
