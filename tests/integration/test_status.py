"""`twitch-pulse status` against the real test broker and warehouse, and against closed ports."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from pulse import topics
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings
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

    result = run_status(settings)
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
    assert "newest window 2024-05-01T10:10:00Z .. 2024-05-01T10:20:00Z (2 rows)" in windows["GAME_WINDOWS"]
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
