"""The window and alert sinks: MERGE on natural keys, exactly once across crashes."""

from __future__ import annotations

from pathlib import Path

import orjson

import pytest

from pulse import outputs, topics
from pulse.settings import Settings
from sinks import tables
from tests.sink_support import (Worker, alert, assert_table_holds, channel_window, committed_all, game_window, produce,
                                query, top_channel, wait_for)
from tests.sqlguard import sql_guard  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("sql_guard")

SINK_ENV = {"SINK_BATCH_ROWS": 150, "SINK_COMMIT_INTERVAL_SECONDS": 0.3, "SINK_RETRY_SECONDS": 1,
            "SINK_SESSION_TIMEOUT_MS": 6000}


def _produce_windows(settings: Settings, windows: range, version: int = 0) -> dict[str, list[dict]]:
    games = [game_window(w, g, version) for w in windows for g in range(8)]
    channels = [channel_window(w, u, version) for w in windows for u in range(20)]
    tops = [top_channel(w, g, r) for w in windows for g in range(3) for r in range(1, 4)]
    produce(settings, topics.WINDOWS_GAMES, [(key(outputs.GameWindow, r), r) for r in games])
    produce(settings, topics.WINDOWS_CHANNELS, [(key(outputs.ChannelWindow, r), r) for r in channels])
    produce(settings, topics.WINDOWS_TOP_CHANNELS, [(key(outputs.TopChannel, r), r) for r in tops])
    return {"GAME_WINDOWS": games, "CHANNEL_WINDOWS": channels, "GAME_TOP_CHANNELS": tops}


def key(record: type[outputs.OutputRecord], row: dict) -> str:
    return outputs.key_of(record(**row))


def _ts(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"


def _assert_games(settings: Settings, expected: list[dict]) -> None:
    rows = query(settings, "SELECT WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, WATCH_HOURS, AIR_HOURS, "
                           "AVG_VIEWERS, AVG_CHANNELS, PEAK_VIEWERS, PEAK_AT, PEAK_CHANNELS, UNIQUE_CHANNELS, "
                           "NEW_STREAMS, RANK FROM GAME_WINDOWS")
    got = sorted((_ts(r[0]), _ts(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], _ts(r[9]), r[10], r[11], r[12],
                  r[13]) for r in rows)
    want = sorted(tuple(g[f] for f in ("window_start", "window_end", "game_id", "game_name", "watch_hours",
                                       "air_hours", "avg_viewers", "avg_channels", "peak_viewers", "peak_at",
                                       "peak_channels", "unique_channels", "new_streams", "rank")) for g in expected)
    assert got == want


def _keys(settings: Settings, table: str, cols: str) -> list[tuple]:
    return query(settings, f"SELECT {cols} FROM {table}")


@pytest.mark.parametrize("method", ["copy", "insert"])
def test_windows_exactly_once_after_crash(wh_settings: Settings, tmp_path: Path, method: str) -> None:
    """SIGKILL right after the 2nd MERGE, replay, then newer versions of some keys: latest wins, one row each."""
    first = _produce_windows(wh_settings, range(0, 6))
    env = dict(SINK_ENV, SINK_LOAD_METHOD=method)
    crashed = Worker(wh_settings, ["sink", "windows"], tmp_path / "w1.log", PULSE_TEST_CRASH_AFTER="MERGE:2", **env)
    assert crashed.wait(120) == -9, crashed.log()
    newer = _produce_windows(wh_settings, range(4, 8), version=1)  # windows 4, 5 re-emitted with new values
    with Worker(wh_settings, ["sink", "windows"], tmp_path / "w2.log", **env) as worker:
        wait_for(lambda: committed_all(wh_settings, "sink-windows", list(topics.WINDOW_TOPICS)), 120,
                 "every window offset committed")
        assert worker.stop() == 0, worker.log()
    latest = {key(outputs.GameWindow, g): g for g in first["GAME_WINDOWS"] + newer["GAME_WINDOWS"]}
    _assert_games(wh_settings, list(latest.values()))
    channels = _keys(wh_settings, "CHANNEL_WINDOWS", "WINDOW_START, USER_ID, WATCH_HOURS")
    assert len(channels) == len({(c[0], c[1]) for c in channels}) == 8 * 20
    want = {(c["window_start"], c["user_id"]): c["watch_hours"]
            for c in first["CHANNEL_WINDOWS"] + newer["CHANNEL_WINDOWS"]}
    assert {(_ts(c[0]), c[1]): c[2] for c in channels} == want
    assert_table_holds(wh_settings, tables.CHANNEL_WINDOWS, first["CHANNEL_WINDOWS"] + newer["CHANNEL_WINDOWS"])
    assert_table_holds(wh_settings, tables.GAME_TOP_CHANNELS, first["GAME_TOP_CHANNELS"] + newer["GAME_TOP_CHANNELS"])


def test_replay_of_old_record_never_regresses_a_row(wh_settings: Settings, tmp_path: Path) -> None:
    """A key written at a later offset keeps its value when an older offset is loaded again."""
    from quixstreams.sinks import SinkBatch

    from sinks.snowflake import SNOWFLAKE
    from sinks.tables import GAME_WINDOWS
    from sinks.writers import MergeSink

    sink = MergeSink(wh_settings, SNOWFLAKE, [topics.WINDOWS_GAMES], method="insert")
    topic = wh_settings.topic(topics.WINDOWS_GAMES)
    old, new = game_window(0, 1, version=0), game_window(0, 1, version=5)
    for offset, record in ((10, old), (11, new), (10, old)):
        batch = SinkBatch(topic, 0)
        batch.append(value=orjson.dumps(record), key=b"k", timestamp=0, headers=[], offset=offset)
        sink.write(batch)
    # the same key twice in one batch: the source is de-duplicated, the later offset wins
    batch = SinkBatch(topic, 0)
    for offset, record in ((12, game_window(0, 1, version=7)), (13, game_window(0, 1, version=8))):
        batch.append(value=orjson.dumps(record), key=b"k", timestamp=0, headers=[], offset=offset)
    sink.write(batch)
    sink.close()
    rows = query(wh_settings, f"SELECT WATCH_HOURS, KAFKA_OFFSET FROM {GAME_WINDOWS.table}")
    assert rows == [(game_window(0, 1, version=8)["watch_hours"], 13)]


def test_alerts_table(wh_settings: Settings, tmp_path: Path) -> None:
    records = [alert(i, kind) for i, kind in enumerate(["threshold", "surge", "game_surge"] * 4)]
    produce(wh_settings, topics.ALERTS, [(a["alert_id"], a) for a in records + records[:3]])  # redelivered too
    with Worker(wh_settings, ["sink", "alerts"], tmp_path / "a.log", **SINK_ENV) as worker:
        wait_for(lambda: committed_all(wh_settings, "sink-alerts", [topics.ALERTS]), 120, "alerts committed")
        assert worker.stop() == 0, worker.log()
    rows = query(wh_settings, "SELECT ALERT_ID, KIND, VIEWERS, BASELINE, CAPTURED_AT, URL FROM ALERTS")
    assert sorted((r[0], r[1], r[2], r[3], _ts(r[4]), r[5]) for r in rows) == sorted(
        (a["alert_id"], a["kind"], a["viewers"], a["baseline"], a["captured_at"], a["url"]) for a in records)
