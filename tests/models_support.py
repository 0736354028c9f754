"""What the dbt tests share: generated raw samples over several UTC days and a month boundary,
the window tables filled from them the way the sinks fill them, and `dbt build` through the
project's own runner (the real dbt, in its own virtualenv, against the fakesnow server)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

import pytest

from analytics.runner import Outcome, run_dbt
from pulse.settings import Settings
from sinks.snowflake.load import chunks, merge_values, values_list
from sinks.tables import CHANNEL_WINDOWS, GAME_TOP_CHANNELS, GAME_WINDOWS, TableSpec, utc_text
from tests import reference
from tests.models_reference import window_tables

GAMES = [("g1", "Just Chatting"), ("g2", "Fortnite"), ("g3", "Age of Empires II"), ("g4", "Chess"),
         ("g5", "Minecraft"), ("", "")]
LANGUAGES = ("en", "en", "es", "de", "ja")

# STREAM_WINDOWS and LANGUAGE_WINDOWS (DESIGN §4) as their migration will create them: a stand-in
# while they are being added to the processor and sinks (IF NOT EXISTS: a no-op once they are).
NEW_WINDOW_TABLES = (
    """CREATE TABLE IF NOT EXISTS STREAM_WINDOWS (
        WINDOW_START TIMESTAMP_NTZ NOT NULL, WINDOW_END TIMESTAMP_NTZ NOT NULL, STREAM_ID VARCHAR NOT NULL,
        USER_ID VARCHAR, USER_LOGIN VARCHAR, USER_NAME VARCHAR, STARTED_AT TIMESTAMP_NTZ, GAME_ID VARCHAR,
        GAME_NAME VARCHAR, GAMES BIGINT, TITLE VARCHAR, LANGUAGE VARCHAR, IS_MATURE BOOLEAN, WATCH_HOURS DOUBLE,
        AIR_HOURS DOUBLE, PEAK_VIEWERS BIGINT, PEAK_AT TIMESTAMP_NTZ, FIRST_SEEN TIMESTAMP_NTZ,
        LAST_SEEN TIMESTAMP_NTZ, SAMPLES BIGINT, KAFKA_PARTITION INTEGER, KAFKA_OFFSET BIGINT,
        INGESTED_AT TIMESTAMP_NTZ)""",
    """CREATE TABLE IF NOT EXISTS LANGUAGE_WINDOWS (
        WINDOW_START TIMESTAMP_NTZ NOT NULL, WINDOW_END TIMESTAMP_NTZ NOT NULL, LANGUAGE VARCHAR NOT NULL,
        WATCH_HOURS DOUBLE, AIR_HOURS DOUBLE, AVG_VIEWERS DOUBLE, AVG_CHANNELS DOUBLE, PEAK_VIEWERS BIGINT,
        PEAK_AT TIMESTAMP_NTZ, PEAK_CHANNELS BIGINT, UNIQUE_CHANNELS BIGINT, NEW_STREAMS BIGINT, RANK INTEGER,
        KAFKA_PARTITION INTEGER, KAFKA_OFFSET BIGINT, INGESTED_AT TIMESTAMP_NTZ)""",
)
_TS, _STR, _F, _I = "timestamp", "string", "float", "int"
STREAM_WINDOWS = TableSpec("STREAM_WINDOWS", (
    ("window_start", _TS), ("window_end", _TS), ("stream_id", _STR), ("user_id", _STR), ("user_login", _STR),
    ("user_name", _STR), ("started_at", _TS), ("game_id", _STR), ("game_name", _STR), ("games", _I),
    ("title", _STR), ("language", _STR), ("is_mature", "boolean"), ("watch_hours", _F), ("air_hours", _F),
    ("peak_viewers", _I), ("peak_at", _TS), ("first_seen", _TS), ("last_seen", _TS), ("samples", _I),
), key=("window_start", "stream_id"))
LANGUAGE_WINDOWS = TableSpec("LANGUAGE_WINDOWS", (
    ("window_start", _TS), ("window_end", _TS), ("language", _STR), ("watch_hours", _F), ("air_hours", _F),
    ("avg_viewers", _F), ("avg_channels", _F), ("peak_viewers", _I), ("peak_at", _TS), ("peak_channels", _I),
    ("unique_channels", _I), ("new_streams", _I), ("rank", _I),
), key=("window_start", "language"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def generate_events(start: datetime, hours: float, interval_s: int, channels: int = 40,
                    seed: int = 7) -> list[dict[str, Any]]:
    """v1 events of `channels` channels polled every `interval_s` from `start`: broadcasts that
    begin and end, games switched mid-stream, languages per broadcast, zero-viewer samples,
    polls a channel is missed in (Δ capped), all in send (poll) order."""
    rnd = random.Random(seed)
    polls = int(hours * 3600 // interval_s)
    live: dict[int, dict[str, Any]] = {}
    resume = {c: rnd.randint(0, polls // 4) for c in range(channels)}
    base = {c: rnd.choice((0, 3, 20, 150, 900, 5000)) for c in range(channels)}
    events: list[dict[str, Any]] = []
    for k in range(polls):
        at = start + timedelta(seconds=k * interval_s)
        for c in range(channels):
            if c not in live:
                if k < resume[c]:
                    continue
                stream = len([e for e in events if e["user_id"] == f"u{c}" and e.get("first")]) + 1
                game = rnd.choice(GAMES)
                live[c] = {"stream_id": f"s{c}-{stream}", "game": game, "language": rnd.choice(LANGUAGES),
                           "title": f"stream {stream} of channel {c}", "mature": rnd.random() < 0.2,
                           "started": at - timedelta(seconds=rnd.randint(0, interval_s + 60)),
                           "ends": k + rnd.randint(3, int(10 * 3600 / interval_s)), "first": True}
            s = live[c]
            if k >= s["ends"]:
                del live[c]
                resume[c] = k + rnd.randint(1, int(6 * 3600 / interval_s))
                continue
            if rnd.random() < 0.04:
                s["game"] = rnd.choice(GAMES)
            if rnd.random() < 0.02:
                s["title"] += "!"
            if rnd.random() < 0.03:
                continue  # this poll missed the channel
            viewers = 0 if rnd.random() < 0.05 else max(0, int(base[c] * rnd.uniform(0.5, 1.5)))
            events.append({"stream_id": s["stream_id"], "user_id": f"u{c}", "user_login": f"user{c}",
                           "user_name": f"User{c}", "game_id": s["game"][0], "game_name": s["game"][1],
                           "viewer_count": viewers, "captured_at": _iso(at), "started_at": _iso(s["started"]),
                           "language": s["language"], "title": s["title"], "is_mature": s["mature"],
                           "first": s.pop("first", False)})
    for event in events:
        event.pop("first")
    return events


def _typed(spec: TableSpec, row: dict[str, Any]) -> list[Any]:
    return [utc_text(row[f]) if kind == "timestamp" else row[f] for f, kind in spec.columns]


def load_windows(conn: Any, events: Sequence[dict[str, Any]], window_s: int, interval_s: int,
                 offset: int = 0, only: Iterable[str] | None = None) -> int:
    """Write the window rows of `events` (the independent reference's) as the sinks do: MERGE on
    the natural key, from Kafka offsets above `offset`; `only`: window starts (RFC 3339) to write.
    Returns the next free offset."""
    cur = conn.cursor()
    for statement in NEW_WINDOW_TABLES:
        cur.execute(statement)
    windows = reference.compute(events, window_s, interval_s, top_n=3)
    extra = window_tables(events, window_s, interval_s)
    tables = ((GAME_WINDOWS, windows["games"].values()), (CHANNEL_WINDOWS, windows["channels"].values()),
              (GAME_TOP_CHANNELS, windows["top_channels"].values()), (STREAM_WINDOWS, extra["streams"]),
              (LANGUAGE_WINDOWS, extra["languages"]))
    keep = set(only) if only is not None else None
    for spec, rows in tables:
        chosen = [r for r in rows if keep is None or r["window_start"] in keep]
        typed = []
        for row in chosen:
            typed.append(_typed(spec, row) + [0, offset])
            offset += 1
        if spec in (STREAM_WINDOWS, LANGUAGE_WINDOWS):
            _insert_or_replace(cur, spec, typed)  # the sinks' MERGE has no boolean kind yet
        else:
            merge_values(cur, spec, typed)
    return offset


def _insert_or_replace(cur: Any, spec: TableSpec, rows: list[list[Any]]) -> None:
    """Replace these rows' windows in a stand-in table: one DELETE, then bound multi-row INSERTs."""
    if not rows:
        return
    starts = sorted({row[0] for row in rows})
    cur.execute(f"DELETE FROM {spec.table} WHERE WINDOW_START IN ({', '.join(['%s::TIMESTAMP_NTZ'] * len(starts))})",
                starts)
    types = {"timestamp": "TIMESTAMP_NTZ", "boolean": "BOOLEAN", "string": "VARCHAR", "float": "DOUBLE",
             "int": "BIGINT"}
    casts = [f"column{i + 1}::{types[kind]}" for i, (_, kind) in enumerate(spec.columns)]
    n = len(casts)
    names = ", ".join(f.upper() for f in spec.fields)
    for part in chunks(rows):
        cur.execute(f"INSERT INTO {spec.table} ({names}, KAFKA_PARTITION, KAFKA_OFFSET, INGESTED_AT) "
                    f"SELECT {', '.join(casts)}, column{n + 1}, column{n + 2}, SYSDATE() "
                    f"FROM VALUES {values_list(len(part), n + 2)}", [v for row in part for v in row])


def build(settings: Settings, *args: str) -> Outcome:
    """`dbt build` (or `args`) through the project's runner; fails the test with dbt's words."""
    lines: list[str] = []
    outcome = run_dbt(settings, list(args) or ["build"], say=lines.append, colors=False)
    if outcome.code != 0:
        pytest.fail(f"{outcome.summary}\n" + "\n".join(lines[-60:]))
    return outcome


def build_platform_models(settings: Settings) -> Outcome:
    """PLATFORM_HOURLY and PLATFORM_DAILY, the models the dashboard reads, from the window tables."""
    return build(settings, "run", "--select", "platform_hourly", "platform_daily")

