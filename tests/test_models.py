"""The dbt project (dbt/, DESIGN §10) built by the real dbt against the fakesnow server: every
mart equals an independent DuckDB computation from the raw samples (tests/models_reference.py),
a second build with no new data changes no row, and a window rewritten by a late MERGE reaches
the next incremental build, which recomputes only the periods it touches."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest
from snowflake.connector.constants import FIELD_TYPES

from analytics.runner import run_dbt
from pulse.settings import Settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap
from tests.models_reference import marts
from tests.models_support import build, generate_events, load_windows
from tests.sqlguard import sql_guard  # noqa: F401

pytestmark = pytest.mark.usefixtures("sql_guard")

W_S, I_S = 3600, 600  # hour windows, 10-minute polls: 57 hours in ~3k polls' worth of rows
START = datetime(2026, 1, 30, 18, 0)  # two UTC days, a month boundary, and a day after it
HOURS = 57
KEYS = {"broadcasts": ("STREAM_ID",), "game_daily": ("PERIOD_START", "GAME_ID"),
        "game_monthly": ("PERIOD_START", "GAME_ID"), "language_daily": ("PERIOD_START", "LANGUAGE"),
        "channel_daily": ("PERIOD_START", "USER_ID"), "channel_monthly": ("PERIOD_START", "USER_ID")}
WINDOW_TABLES = ("GAME_WINDOWS", "CHANNEL_WINDOWS", "GAME_TOP_CHANNELS", "STREAM_WINDOWS", "LANGUAGE_WINDOWS")
MODELS = (*KEYS, "game_hourly", "channel_hourly", "platform_hourly", "platform_daily", "int_channel_games_daily")


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    return make_settings(poll_interval_seconds=I_S)


def _rows(cur: Any, table: str) -> list[dict[str, Any]]:
    """Every row as a dict. The fakesnow server sends a NULL timestamp as 1970-01-01 (real
    Snowflake sends NULL): each timestamp column comes with its IS NULL, to read it as None."""
    cur.execute(f"SELECT * FROM {table} LIMIT 0")
    names = [d[0] for d in cur.description]
    stamps = [d[0] for d in cur.description if FIELD_TYPES[d[1]].name.startswith("TIMESTAMP")]
    cur.execute(f"SELECT *, {', '.join(f'{c} IS NULL' for c in stamps) or 'NULL'} FROM {table}")
    rows = []
    for row in cur.fetchall():
        record = dict(zip(names, row))
        record.update({c: None for c, null in zip(stamps, row[len(names):]) if null})
        rows.append(record)
    return rows


def _same(actual: Any, expected: Any) -> bool:
    """Hours are added in picohours (dbt/macros/rollups.sql `hours_sum`): within 1e-9 h of the
    reference's floating-point sums; everything else exactly."""
    if isinstance(expected, float) and actual is not None:
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return actual == expected


def assert_marts_equal(cur: Any, expected: dict[str, dict[tuple, dict]], skip: set[tuple] = frozenset()) -> None:
    """Every mart row equals the reference's, column by column; no row missing or extra."""
    for mart, key in KEYS.items():
        got = {tuple(r[k] for k in key): r for r in _rows(cur, mart)}
        want = expected[mart]
        assert set(got) == set(want), (mart, sorted(set(got) ^ set(want), key=str)[:5])
        assert len(got) > 3, mart
        for k, row in want.items():
            bad = {c: (got[k][c.upper()], v) for c, v in row.items()
                   if (mart, k, c) not in skip and not _same(got[k][c.upper()], v)}
            assert not bad, (mart, k, bad)


def _snapshot(cur: Any) -> dict[str, list[tuple]]:
    return {m: sorted((tuple(r.values()) for r in _rows(cur, m)), key=repr) for m in MODELS}


def _loaded(settings: Settings) -> tuple[Any, list[dict[str, Any]], int]:
    """A bootstrapped schema holding the window rows of 57 hours of samples, written (as far as
    INGESTED_AT tells) as each window closed, as live sinks write them; the connection, the
    events and the next Kafka offset."""
    conn = connect(settings)
    bootstrap(conn)
    events = generate_events(START, HOURS, I_S)
    offset = load_windows(conn, events, W_S, I_S)
    cur = conn.cursor()
    for table in WINDOW_TABLES:
        cur.execute(f"UPDATE {table} SET INGESTED_AT = WINDOW_END")
    return conn, events, offset


def test_every_mart_equals_the_reference_and_a_second_build_changes_nothing(wh_settings: Settings) -> None:
    conn, events, _ = _loaded(wh_settings)
    first = build(wh_settings)
    assert first.counts.get("error", 0) == first.counts.get("fail", 0) == 0
    assert first.counts["pass"] >= 100 and first.counts["success"] == len(MODELS) + 1  # + stg_twitch_streams
    cur = conn.cursor()
    expected = marts(events, W_S, I_S)
    assert_marts_equal(cur, expected)
    days = {k[0] for k in expected["game_daily"]}
    assert len(days) == 4 and len({k[0] for k in expected["game_monthly"]}) == 2
    assert any(r["rank_change"] not in (None, 0) for r in expected["game_daily"].values())
    assert {r["ended"] for r in expected["broadcasts"].values()} == {True, False}
    before = _snapshot(cur)
    build(wh_settings)
    assert _snapshot(cur) == before
    conn.close()


def test_a_window_rewritten_by_a_late_merge_reaches_the_next_build(wh_settings: Settings) -> None:
    conn, events, offset = _loaded(wh_settings)
    build(wh_settings, "run")  # the models only: the build below runs every test
    cur = conn.cursor()
    # A canary on a day the late data does not touch: an incremental build leaves it alone.
    cur.execute("UPDATE GAME_DAILY SET GAME_NAME = 'canary' WHERE PERIOD_START = '2026-01-30' AND GAME_ID = 'g1'")
    assert cur.rowcount == 1 or cur.fetchone()[0] == 1
    # Late samples of a new, popular channel in one window of Jan 31 (it tops that day's
    # ranking, so ranks and the next day's rank changes move), rewritten by the sinks' MERGE.
    window = datetime(2026, 1, 31, 10)
    late = [{"stream_id": "late-1", "user_id": "u999", "user_login": "late", "user_name": "Late", "game_id": "g3",
             "game_name": "Age of Empires II", "viewer_count": 400_000, "language": "fr", "title": "late",
             "is_mature": False, "captured_at": (window + timedelta(seconds=k * I_S)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
             "started_at": "2026-01-31T09:55:00Z"} for k in range(6)]
    events = events + late
    load_windows(conn, events, W_S, I_S, offset=offset, only=["2026-01-31T10:00:00.000Z"])
    build(wh_settings)
    expected = marts(events, W_S, I_S)
    canary = (datetime(2026, 1, 30), "g1")
    assert_marts_equal(cur, expected, skip={("game_daily", canary, "game_name")})
    cur.execute("SELECT GAME_NAME FROM GAME_DAILY WHERE PERIOD_START = '2026-01-30' AND GAME_ID = 'g1'")
    assert cur.fetchone() == ("canary",)  # the untouched day was not recomputed
    assert expected["channel_daily"][(datetime(2026, 1, 31), "u999")]["rank"] == 1
    assert expected["language_daily"][(datetime(2026, 1, 31), "fr")]["watch_hours"] > 0
    # the singular test notices a daily sum that is not its windows' sum
    cur.execute("UPDATE CHANNEL_DAILY SET WATCH_HOURS = WATCH_HOURS + 0.001 "
                "WHERE PERIOD_START = '2026-01-31' AND USER_ID = 'u999'")
    tampered = run_dbt(wh_settings, ["test", "--select", "period_sums_match_windows"], say=lambda line: None)
    assert tampered.code == 1 and "period_sums_match_windows: Got 1 result" in tampered.summary, tampered.summary
    conn.close()
