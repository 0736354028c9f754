"""Every dashboard page rendered by Streamlit's AppTest against the real fakesnow server: the
numbers shown equal the seeded table values, an empty warehouse explains itself, and bad input
in the pickers and search boxes gives a sentence, not an error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import ui
from devstack.pipeline import LocalPipeline
from dashboard.format import human
from pulse.settings import Settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap

from . import dashboard_support as data
from .dashboard_support import free_port, healthy
from .models_support import build_platform_models

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture
def app_env(wh_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The app reads its warehouse from the environment, as `twitch-pulse dashboard` passes it."""
    for name, value in wh_settings.as_env().items():
        monkeypatch.setenv(name, value)
    yield wh_settings
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def empty(app_env: Settings) -> Settings:
    conn = connect(app_env)
    bootstrap(conn)
    conn.close()
    return app_env


@pytest.fixture
def seeded(empty: Settings) -> Settings:
    conn = connect(empty)
    data.seed(conn)
    conn.close()
    build_platform_models(empty)
    return empty


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception[0].value
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def rows(at: AppTest, index: int) -> list[dict]:
    frame = at.table[index].value
    return frame.to_dict("records")


# --- Overview -------------------------------------------------------------------------------


def test_overview_shows_the_latest_complete_window(seeded):
    at = open_page("views/overview.py")
    assert "Latest complete window: 2026-03-01 12:10 – 12:20 UTC" in texts(at.subheader)
    w1 = sorted((g for g in data.GAMES if g[0] == data.W1), key=lambda g: g[-1])
    shown = metrics(at)
    assert shown["Top game"] == "Just Chatting"
    assert shown["Top game's watch hours"] == human(w1[0][3]) == "12.3k"
    assert shown["All games' watch hours"] == human(sum(g[3] for g in w1))
    assert shown["Viewers (all games)"] == human(sum(g[4] for g in w1))

    games = rows(at, 0)
    assert [(r["#"], r["Game"], r["Watch hours"], r["Avg viewers"], r["Peak viewers"], r["Channels"]) for r in games] == [
        (g[-1], ui.link(g[2], "game", "game", g[1]), human(g[3]), human(g[4]), human(g[5]), human(g[6])) for g in w1]
    assert [r["Change"] for r in games] == ["▲1", "▼1", "new"]  # ranks in W0: 2, 1, absent

    channels = rows(at, 1)
    c1 = sorted((c for c in data.CHANNELS if c[0] == data.W1), key=lambda c: c[-1])
    assert [(r["#"], r["Channel"], r["Game"], r["Watch hours"], r["Peak viewers"]) for r in channels] == [
        (c[-1], ui.link(c[3], "channel", "channel", c[1]), c[5], human(c[6]), human(c[8])) for c in c1]
    assert [r["Change"] for r in channels] == ["▲1", "▼1", "new", "new"]


def test_overview_platform_totals_hourly_and_daily(seeded):
    at = open_page("views/overview.py")
    total = human(sum(c[6] for c in data.CHANNELS))  # every row lies in the last 24 h of data
    assert metrics(at)["Watch hours in range"] == total
    assert metrics(at)["Most channels live in an hour"] == "4"  # u1..u4 in 12:00-13:00
    assert len(at.get("vega_lite_chart")) >= 3
    at.radio(key="platform_grain").set_value("daily").run()
    assert not at.exception
    assert metrics(at)["Watch hours in range"] == total
    assert metrics(at)["Most channels live in a day"] == "4"


def test_empty_warehouse_says_what_will_happen(empty):
    for page in ("views/overview.py", "views/game.py", "views/channel.py", "views/alerts.py"):
        at = open_page(page)
        assert ui.NO_WINDOW in texts(at.info), page
        assert not at.error and not at.metric


def test_missing_tables_say_the_sinks_create_them(app_env):
    at = open_page("views/overview.py")
    assert ui.NO_TABLES in texts(at.info)


def test_unreachable_warehouse_is_one_sentence(app_env, monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_PORT", "1")
    monkeypatch.setenv("SNOWFLAKE_NETWORK_TIMEOUT", "2")
    at = open_page("views/alerts.py")
    assert "cannot reach the warehouse at 127.0.0.1:1" in texts(at.error)


# --- time range -----------------------------------------------------------------------------


def test_custom_range_outside_the_data_and_reversed_dates(seeded):
    at = open_page("views/overview.py")
    at.selectbox(key="range_choice").set_value("Custom dates").run()
    at.date_input(key="range_dates").set_value((date(2026, 2, 1), date(2026, 2, 2))).run()
    assert not at.exception
    assert "No window in this time range" in texts(at.info)
    at.date_input(key="range_dates").set_value((date(2026, 3, 1), date(2026, 2, 28))).run()
    assert not at.exception
    assert "swapped" in texts(at.warning)
    assert metrics(at)["Watch hours in range"] == human(sum(c[6] for c in data.CHANNELS))


def test_short_range_leaves_out_older_windows(seeded):
    at = open_page("views/game.py", game="21779")
    at.selectbox(key="range_choice").set_value("Last 6 hours").run()
    assert metrics(at)["Watch hours"] == human(9500.0 + 7500.0)


# --- Game -----------------------------------------------------------------------------------


def test_game_page_history_and_top_channels(seeded):
    at = open_page("views/game.py", game="509658")
    assert at.selectbox(key="game_pick").value == "509658"
    rows_ = [g for g in data.GAMES if g[1] == "509658"]
    shown = metrics(at)
    assert shown["Watch hours"] == human(sum(g[3] for g in rows_))
    assert shown["Peak viewers"] == human(max(g[5] for g in rows_))
    assert shown["Average viewers"] == human(sum(g[4] for g in rows_) / len(rows_))
    assert shown["Best rank"] == "#1"
    assert len(at.get("vega_lite_chart")) == 2
    assert at.selectbox(key="game_window").value == data.W1  # the latest complete window
    top = rows(at, 0)
    expected = [t for t in data.TOP_CHANNELS if t[0] == data.W1]
    assert [(r["#"], r["Channel"], r["Watch hours"], r["Peak viewers"]) for r in top] == [
        (t[3], ui.link(t[6], "channel", "channel", t[4]), human(t[7]), human(t[9])) for t in expected]
    at.selectbox(key="game_window").set_value(data.W2).run()
    assert "No top channels were written for this window yet" in texts(at.info)


def test_game_search_by_name(seeded):
    at = open_page("views/game.py")
    at.text_input(key="game_search").input("LEGENDS").run()
    assert at.selectbox(key="game_pick").options == ["League of Legends"]
    assert metrics(at)["Watch hours"] == human(9500.0 + 7500.0)


@pytest.mark.parametrize("text", ["%", "_", "'; DROP TABLE GAME_WINDOWS; --", "zzz", "ñ" * 100])
def test_game_search_bad_input(seeded, text):
    at = open_page("views/game.py")
    at.text_input(key="game_search").input(text).run()
    assert not at.exception and not at.error
    assert "No game whose name contains" in texts(at.info)
    at.text_input(key="game_search").input("").run()
    assert len(at.selectbox(key="game_pick").options) == 3  # the table is intact


def test_game_link_to_an_unknown_game_falls_back(seeded):
    at = open_page("views/game.py", game="no-such-game")
    assert at.selectbox(key="game_pick").value in {g[1] for g in data.GAMES}


# --- Channel --------------------------------------------------------------------------------


def test_channel_page_history_and_games(seeded):
    at = open_page("views/channel.py", channel="u4")
    assert at.selectbox(key="channel_pick").value == "u4"
    history = [c for c in data.CHANNELS if c[1] == "u4"]
    shown = metrics(at)
    assert shown["Watch hours"] == human(sum(c[6] for c in history))
    assert shown["Peak viewers"] == human(max(c[8] for c in history))
    assert shown["Best global rank"] == "#1"
    assert shown["Windows live"] == "2"
    assert "twitch.tv/ninja" in texts(at.caption)
    assert len(at.get("vega_lite_chart")) == 3
    games = rows(at, 0)
    assert [(r["Game"], r["Watch hours"], r["Windows live"]) for r in games] == [
        ("[Fortnite](game?game=33214)", human(sum(c[6] for c in history)), "2")]


def test_channel_search_by_login_or_name(seeded):
    at = open_page("views/channel.py")
    assert at.selectbox(key="channel_pick").value == "u1"  # latest window's top channel
    at.text_input(key="channel_search").input("IBA").run()
    assert at.selectbox(key="channel_pick").options == ["Ibai (ibai)"]
    shown = metrics(at)
    assert shown["Watch hours"] == human(4000.0) and shown["Best global rank"] == "#3"


@pytest.mark.parametrize("text", ["%", "' OR 1=1 --", "nobody"])
def test_channel_search_bad_input(seeded, text):
    at = open_page("views/channel.py")
    at.text_input(key="channel_search").input(text).run()
    assert not at.exception and not at.error
    assert "No channel whose login or name contains" in texts(at.info)


# --- Alerts ---------------------------------------------------------------------------------


def test_alerts_page_lists_the_latest_with_links(seeded):
    at = open_page("views/alerts.py")
    shown = metrics(at)
    assert shown["Alerts"] == "2"
    assert shown["Biggest spike"] == human(310000, "viewers")
    frame = at.dataframe[0].value
    assert list(frame["SUBJECT_NAME"]) == ["Fortnite", "KaiCenat"]  # newest first
    assert list(frame["URL"]) == [a[-1] for a in reversed(data.ALERTS)]
    assert list(frame["PAGE"]) == ["game?game=33214", "channel?channel=u1"]
    assert list(frame["VIEWERS_H"]) == [human(310000), human(52000)]
    at.multiselect(key="alert_kinds").set_value(["threshold"]).run()
    assert metrics(at)["Alerts"] == "1"
    at.multiselect(key="alert_kinds").set_value([]).run()
    assert not at.exception
    assert "No alert of the kinds picked" in texts(at.info)


# --- the command ----------------------------------------------------------------------------


def _dashboard_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pulse", "dashboard", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def test_command_port_taken_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _dashboard_command("--port", str(port), env={})
    assert done.returncode == 1
    assert done.stderr.strip() == f"twitch-pulse: dashboard: port 127.0.0.1:{port} is taken; choose another with --port"


def test_command_bad_setting_is_one_line():
    done = _dashboard_command("--port", "1", env={"SNOWFLAKE_NETWORK_TIMEOUT": "soon"})
    assert done.returncode == 2
    assert done.stderr.startswith("twitch-pulse: invalid configuration: SNOWFLAKE_NETWORK_TIMEOUT")
    assert "Traceback" not in done.stderr


def test_local_pipeline_serves_the_dashboard(make_settings, warehouse_server, tmp_path: Path):
    """`twitch-pulse run`'s wiring: the pipeline starts the dashboard worker, waits until it
    listens, and stops it cleanly with the rest."""
    pipeline = LocalPipeline(make_settings(), tmp_path, dashboard_port=free_port())
    try:
        pipeline.start(only=["dashboard"])
        assert healthy(pipeline.dashboard_url)
        assert pipeline.metrics_ports == list(range(9101, 9107))  # the dashboard takes no metrics port
    finally:
        codes = pipeline.stop()
    assert codes == {"dashboard": 0}
