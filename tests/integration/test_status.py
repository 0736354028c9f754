"""`twitch-pulse status` against the real test broker and warehouse, and against closed ports."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from pulse import topics
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings
from pulse.status import Lag, ago, lag_state
from tests.pipeline import closed_port, run_status, status_lines

ROOT = Path(__file__).resolve().parents[2]


def test_status_reports_topics_lag_and_newest_window(wh_settings: Settings) -> None:
    settings = wh_settings
    streams = settings.topic(topics.STREAMS)
    ensure_topics(settings, [streams], partitions=2)
    producer = Producer(client_config(settings))
    for i in range(5):
        producer.produce(streams, key=b"u1", value=b"{}", partition=0)
    assert producer.flush(30) == 0
    # the processor's group has consumed 2 of the 5 records of partition 0: lag 3
    group = settings.group("processor")
    consumer = Consumer(client_config(settings, **{"group.id": group, "enable.auto.commit": False}))
    consumer.commit(offsets=[TopicPartition(streams, 0, 2)], asynchronous=False)
    consumer.close()

    from sinks.snowflake import connect

    conn = connect(settings)
    cur = conn.cursor()
    cur.execute("CREATE TABLE GAME_WINDOWS (WINDOW_START TIMESTAMP_NTZ, WINDOW_END TIMESTAMP_NTZ, GAME_ID VARCHAR)")
    cur.execute("INSERT INTO GAME_WINDOWS VALUES ('2024-05-01 10:00:00', '2024-05-01 10:10:00', 'g1'), "
                "('2024-05-01 10:10:00', '2024-05-01 10:20:00', 'g1')")
    conn.close()

    result = run_status(settings, "--sample", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert status_lines(out, "broker")[0].split()[1] == "ok"
    topic_lines = {line.split()[2].rstrip(":"): line for line in status_lines(out, "topic")}
    assert set(topic_lines) == {settings.topic(t) for t in (*topics.ALL, *topics.PROCESSOR_INTERNAL)}
    assert "2 partition(s)" in topic_lines[streams] and " ok " in topic_lines[streams]
    assert " missing " in topic_lines[settings.topic(topics.ALERTS)]
    groups = {line.split()[2].rstrip(":"): line for line in status_lines(out, "group")}
    assert f"lag 3 ({streams} 3)" in groups[group]
    assert "no committed offsets" in groups[settings.group("sink-raw")]
    assert " ok " in status_lines(out, "warehouse")[0]
    windows = {line.split()[2].rstrip(":"): line for line in status_lines(out, "window")}
    line = windows["GAME_WINDOWS"]  # how long ago is ago()'s (its own test below)
    assert "newest window 2024-05-01T10:10:00Z .. 2024-05-01T10:20:00Z, ended " in line, line
    assert line.endswith(" ago (2 rows)"), line
    assert windows["GAME_WINDOWS"].split()[1] == "old"  # far more than three windows ago
    assert "no such table" in windows["CHANNEL_WINDOWS"]
    assert result.stderr == ""


@pytest.mark.parametrize("down", ["kafka", "warehouse"])
def test_status_on_a_closed_port_says_so_in_one_line_and_fails(settings: Settings, down: str) -> None:
    port = str(closed_port())
    if down == "kafka":
        result = run_status(settings, "--skip", "warehouse", "--timeout", "3", KAFKA_BOOTSTRAP=f"127.0.0.1:{port}")
        expected = f"broker     DOWN     unreachable at 127.0.0.1:{port}"
    else:
        result = run_status(settings, "--skip", "kafka", "--timeout", "3", SNOWFLAKE_PORT=port)
        expected = f"warehouse  DOWN     unreachable at 127.0.0.1:{port}"
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 1, result.stdout
    assert result.stdout.startswith(expected), result.stdout
    assert result.stderr == "", result.stderr


def test_status_with_everything_down_prints_one_line_per_part(settings: Settings) -> None:
    result = run_status(settings, "--timeout", "2", KAFKA_BOOTSTRAP=f"127.0.0.1:{closed_port()}",
                     SNOWFLAKE_PORT=str(closed_port()))
    assert result.returncode == 1
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [["broker", "DOWN"], ["warehouse", "DOWN"]]
    assert result.stderr == ""


# --- lag over time (issue 20, defect 13) ---------------------------------------------------------


def _committed_at(settings: Settings, group: str, topic: str, offset: int) -> None:
    consumer = Consumer(client_config(settings, **{"group.id": group, "enable.auto.commit": False}))
    consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    consumer.close()


def _produce(settings: Settings, topic: str, count: int) -> None:
    producer = Producer(client_config(settings))
    for _ in range(count):
        producer.produce(topic, key=b"u1", value=b"{}", partition=0)
    assert producer.flush(30) == 0


@pytest.mark.parametrize("meanwhile, state, says", [
    ("produce", "BEHIND", "grew by 40 in 2 s (wrote 0, 40 arrived)"),
    ("commit", "catching", "down 30 in 2 s (wrote 30, 0 arrived); at this pace caught up in about 1 s"),
    ("nothing", "ok", "lag 0"),
])
def test_status_samples_each_groups_lag_twice(settings: Settings, meanwhile: str, state: str, says: str) -> None:
    """The lag of the sink-raw group is measured at the start and the end of `--sample 2`;
    between the two, the test produces (the sink writes nothing: its lag grows), commits (it
    catches up) or leaves it alone (nothing to write: ok)."""
    streams = settings.topic(topics.STREAMS)
    ensure_topics(settings, [streams], partitions=1)
    group = settings.group("sink-raw")
    _produce(settings, streams, 50)
    _committed_at(settings, group, streams, 50 if meanwhile == "nothing" else 10)
    env = {**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent"}
    proc = subprocess.Popen([sys.executable, "-m", "pulse", "status", "--skip", "warehouse", "--sample", "2"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_line = ""
    while "measuring" not in first_line:  # the first sample is taken: now change the lag
        first_line = proc.stdout.readline()
        assert first_line or proc.poll() is None, proc.stderr.read()
    if meanwhile == "produce":
        _produce(settings, streams, 40)
    elif meanwhile == "commit":
        _committed_at(settings, group, streams, 40)
    out, err = proc.communicate(timeout=60)
    line = next(line for line in out.splitlines() if f"{group}:" in line)
    assert line.split()[1] == state, line
    assert says in line, line
    assert proc.returncode == (1 if state == "BEHIND" else 0), out + err
    assert err == ""


@pytest.mark.parametrize("before, after, state", [
    (Lag(0, 0), Lag(0, 0), "ok"),
    (Lag(200, 200), Lag(200, 260), "ok"),          # no commit in the sample, but less behind than it brought
    (Lag(100, 200), Lag(100, 400), "BEHIND"),      # wrote nothing while 200 arrived
    (Lag(100, 200), Lag(150, 400), "BEHIND"),      # wrote 50, 200 arrived
    (Lag(100, 5000), Lag(2100, 5000), "catching"),  # 4900 -> 2900
    (Lag(100, 300), Lag(300, 300), "ok"),          # caught up
])
def test_lag_state(before: Lag, after: Lag, state: str) -> None:
    assert lag_state(before, after, 10.0)[0] == state


@pytest.mark.parametrize("seconds, text", [
    (0, "just now"), (42, "42 s ago"), (125, "2 min ago"), (3 * 3600 + 1000, "3 h 16 min ago"),
    (2 * 86400 + 7200, "2 days 2 h ago"), (-90, "1 min ahead of this clock"),
])
def test_ago(seconds: float, text: str) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert ago(now - timedelta(seconds=seconds), now) == text
