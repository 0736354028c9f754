"""Every dashboard page rendered by Streamlit's AppTest against the real fakesnow server: the
numbers shown equal the seeded table values, a window still being written stays out of every
figure, partial periods are said, links stay in the tab, an empty or unreachable warehouse
explains itself, and bad input in the pickers and search boxes gives a sentence, not an error."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import ui
from dashboard.format import duration, human, rank_change, viewers
from devstack.pipeline import LocalPipeline
from devstack.service import free_port
from pulse.settings import Settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap
from tests import dashboard_support as data
from tests.dashboard_support import (
    cards,
    charts,
    healthy,
    link,
    named_to_the_app,
    open_page,
    read_markup,
    tables,
    texts,
)
from tests.models_support import build
from tests.warehouse_template import copy_schema


@pytest.fixture
def app_env(wh_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    yield from named_to_the_app(wh_settings, monkeypatch)


@pytest.fixture
def empty(app_env: Settings) -> Settings:
    conn = connect(app_env)
    bootstrap(conn)
    conn.close()
    return app_env


@pytest.fixture
def seeded_tables(empty: Settings) -> Settings:
    """The sinks' tables seeded, before any dbt build."""
    conn = connect(empty)
    data.seed(conn)
    conn.close()
    return empty


def seed_and_build(settings: Settings) -> None:
    """The seeded warehouse and its dbt models (seeding and `dbt run` take 10-30 s)."""
    conn = connect(settings)
    bootstrap(conn)
    data.seed(conn)
    conn.close()
    build(settings, "run")  # every dbt model: the rollups, the broadcasts, the languages, the rankings


@pytest.fixture
def seeded_own(app_env: Settings, warehouse_template) -> Settings:
    """A copy of the seeded warehouse of this test's own, for a test that adds windows to it."""
    copy_schema(warehouse_template("dashboard", seed_and_build), app_env)
    return app_env


@pytest.fixture(scope="module")
def seeded_once(module_wh_settings: Settings, warehouse_template) -> Settings:
    """A copy of the seeded warehouse for the tests that only read it."""
    copy_schema(warehouse_template("dashboard", seed_and_build), module_wh_settings)
    return module_wh_settings


@pytest.fixture
def seeded(seeded_once: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The shared seeded warehouse (read only)."""
    yield from named_to_the_app(seeded_once, monkeypatch)


def add(settings: Settings, *windows) -> None:
    """More complete windows (`data.seed_window` arguments)."""
    conn = connect(settings)
    for start, games in windows:
        data.seed_window(conn, start, games)
    conn.close()


def page_text(at: AppTest) -> str:
    return "\n".join(texts(at.get(kind)) for kind in ("title", "subheader", "caption", "info", "warning", "error",
                                                      "markdown"))


# --- Overview -------------------------------------------------------------------------------


def test_overview_shows_the_latest_complete_window(seeded):
    at = open_page("views/overview.py")
    data.check_latest_window_cards(at)
    w1 = sorted((g for g in data.GAMES if g[0] == data.W1), key=lambda g: g[-1])

    games, channels = tables(at)[:2]
    assert [(r["#"].text, r["Game"], r["Watch hours"].text, r["Avg viewers"].text, r["Peak viewers"].text,
             r["Channels"].text) for r in games] == [
        (str(g[-1]), link(g[2], "game", "game", g[1]), human(g[3]), viewers(g[4]), viewers(g[5]), human(g[6]))
        for g in w1]
    assert [r["Change"].text for r in games] == ["▲1", "▼1", "new"]  # ranks in W0: 2, 1, absent

    c1 = sorted((c for c in data.CHANNELS if c[0] == data.W1), key=lambda c: c[-1])
    assert [(r["#"].text, r["Channel"], r["Game"].text, r["Watch hours"].text, r["Peak viewers"].text)
            for r in channels] == [
        (str(c[-1]), link(c[3], "channel", "channel", c[1]), c[5], human(c[6]), viewers(c[8])) for c in c1]
    assert [r["Change"].text for r in channels] == ["▲1", "▼1", "new", "new"]


def test_the_window_being_written_is_left_out_and_said(seeded):
    """W2 has a game row whose channel row is not written yet: no figure, table or chart shows
    it, and the page names it (issue 20, defect 5)."""
    at = open_page("views/overview.py")
    assert ("Still being written, so left out of every figure and chart until complete: the window of 12:20 "
            "(1 channel row and 2 game rows so far).") in page_text(at)
    drawn = charts(at)
    assert sorted(drawn["Concurrent viewers per window"].data["T"].dt.strftime("%H:%M")) == ["12:00", "12:10"]
    assert set(drawn["Average viewers"].data["T"].dt.strftime("%H:%M")) == {"12:00", "12:10"}
    assert cards(at)["Watch hours in range"] == human(sum(c[6] for c in data.CHANNELS if c[0] != data.W2))


def test_top_five_games_over_time(seeded):
    """Average viewers per window = the game's watch hours ÷ the window's hours, and its share
    of all games' watch hours; a game without a window row is at zero there."""
    top = charts(open_page("views/overview.py"))["Average viewers"].data
    assert data.games_over_time(top) == data.expected_games_over_time()
    assert list(dict.fromkeys(top["GAME"])) == ["Just Chatting", "League of Legends", "Fortnite"]  # by watch hours


def test_platform_totals_hourly_and_daily(seeded):
    at = open_page("views/overview.py")
    total = human(sum(c[6] for c in data.CHANNELS if c[0] != data.W2))
    assert cards(at)["Watch hours in range"] == total
    assert cards(at)["Most channels live in an hour"] == "5"  # u1..u5 in 12:00-13:00
    assert cards(at)["Hours streamed in range"] == duration(7 / 6)
    at.radio(key="grain").set_value("daily").run()
    assert not at.exception
    assert cards(at)["Watch hours in range"] == total
    assert cards(at)["Most channels live in a day"] == "5"


def test_a_short_range_counts_only_its_windows_whatever_the_grain(seeded_own):
    """"Last 6 hours" with Daily counted the whole day (issue 20, defect 6): an earlier window
    of the same day is outside the range in both grains, and the day is marked partial."""
    early = data.T0 - timedelta(hours=9)  # 03:00, the same day
    add(seeded_own, (early, [("509658", "Just Chatting", [("u1", "KaiCenat", 70000.0)])]))
    at = open_page("views/overview.py")
    at.selectbox(key="range").set_value("Last 6 hours").run()
    in_range = human(sum(c[6] for c in data.CHANNELS if c[0] != data.W2))
    assert cards(at)["Watch hours in range"] == in_range
    at.radio(key="grain").set_value("daily").run()
    assert cards(at)["Watch hours in range"] == in_range
    day = charts(at)["Watch hours, daily"].data
    assert list(day["WHY"]) == ["from 2026-03-01 06:20 (the range starts there); up to 2026-03-01 12:20 (in progress)"]
    assert "Partial periods, drawn faded" in page_text(at)


def test_partial_periods_are_marked(seeded_own):
    """The hour in progress (the newest complete window ends at 12:20) is marked, the whole
    hours before it are not (issue 20, defect 5)."""
    add(seeded_own, *[(data.T0 - timedelta(minutes=10 * i), [("21779", "League of Legends", [("u3", "Faker", 100.0 * i)])])
                  for i in range(1, 7)])  # 11:00 .. 11:50: a whole hour
    at = open_page("views/overview.py")
    hours = charts(at)["Watch hours, hourly"].data
    assert [(t.strftime("%H:%M"), why) for t, why in zip(hours["PERIOD_START"], hours["WHY"])] == [
        ("11:00", ""), ("12:00", "up to 12:20 (in progress)")]
    assert list(hours["VALUE"]) == [2100.0, sum(c[6] for c in data.CHANNELS if c[0] != data.W2)]
    assert "2026-03-01 12:00 up to 12:20 (in progress)" in page_text(at)


def test_bars_carry_their_order_and_whole_names(seeded):
    """The ranking is in the spec (a sort list), not only in the data's row order, so a
    redrawn chart cannot keep an old order; names are drawn whole, over the bars."""
    bars = charts(open_page("views/overview.py"))["Watch hours by game"].spec
    y = bars["layer"][0]["encoding"]["y"]
    assert y["sort"] == ["1. Just Chatting", "2. League of Legends", "3. Fortnite"]
    assert bars["layer"][1]["mark"]["type"] == "text"


def test_the_status_line_says_when_the_data_last_changed(seeded_own):  # written just now
    caption = texts(open_page("views/overview.py").caption)
    # the data changed as the test began: "just now", or a few seconds ago on a loaded machine
    assert re.search(r"Updated (just now|[1-9] s ago) · checked every 1 s", caption), caption


def test_empty_warehouse_says_what_will_happen(empty):
    for page in ("views/overview.py", "views/game.py", "views/channel.py", "views/alerts.py"):
        at = open_page(page)
        assert ui.NO_WINDOW in texts(at.info), page
        assert not at.error and not cards(at)


def test_missing_tables_say_the_sinks_create_them(app_env):
    at = open_page("views/overview.py")
    assert ui.NO_TABLES in texts(at.info)


def test_unreachable_warehouse_is_a_sentence(app_env, monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_PORT", "1")
    at = open_page("views/alerts.py")
    error = texts(at.error)
    assert "The warehouse (127.0.0.1:1) does not answer" in error
    assert "tries again every 1 s and fills in by itself" in error
    assert "250001" not in error  # the connector's words are a caption of their own
    assert "What the connector said:" in texts(at.caption)


# --- time range -----------------------------------------------------------------------------


def test_custom_range_outside_the_data_and_reversed_dates(seeded):
    at = open_page("views/overview.py")
    at.selectbox(key="range").set_value("Custom dates").run()
    at.date_input(key="dates").set_value((date(2026, 2, 1), date(2026, 2, 2))).run()
    assert not at.exception
    assert "No window in this time range" in texts(at.info)
    at.date_input(key="dates").set_value((date(2026, 3, 1), date(2026, 2, 28))).run()
    assert not at.exception
    assert "swapped" in texts(at.warning)
    both_days = data.DAY0_CHANNELS + [c for c in data.CHANNELS if c[0] != data.W2]
    assert cards(at)["Watch hours in range"] == human(sum(c[6] for c in both_days))


def test_short_range_leaves_out_older_windows(seeded_own):
    add(seeded_own, (data.T0 - timedelta(hours=7), [("21779", "League of Legends", [("u3", "Faker", 5000.0)])]))
    at = open_page("views/game.py", game="21779")
    assert cards(at)["Watch hours"] == human(5000.0 + 9500.0 + 7500.0)
    at.selectbox(key="range").set_value("Last 6 hours").run()
    assert cards(at)["Watch hours"] == human(9500.0 + 7500.0)


def test_links_keep_the_range(seeded):
    at = open_page("views/overview.py", range="Last 7 days")
    games = tables(at)[0]
    assert games[0]["Game"] == data.Cell("Just Chatting", "game?game=509658&range=Last+7+days", "_self")


# --- Game -----------------------------------------------------------------------------------


def test_game_page_history_and_top_channels(seeded):
    at = open_page("views/game.py", game="509658")
    assert at.selectbox(key="game_pick_509658").value == "509658"
    rows_ = [g for g in data.GAMES if g[1] == "509658" and g[0] != data.W2]
    shown = cards(at)
    assert shown["Watch hours"] == human(sum(g[3] for g in rows_))
    assert shown["Peak viewers"] == viewers(max(g[5] for g in rows_))
    assert shown["Average viewers"] == viewers(sum(g[4] for g in rows_) / len(rows_))
    assert shown["Hours streamed"] == duration(sum(g[6] for g in rows_) / 6)
    assert shown["Best rank"] == "#1"
    assert set(charts(at)) == {"Watch hours per window", "Viewers per window"}
    assert at.selectbox(key="game_window").value == data.W1  # the latest complete window
    expected = [t for t in data.TOP_CHANNELS if t[0] == data.W1]
    assert [(r["#"].text, r["Channel"], r["Watch hours"].text, r["Streamed"].text, r["Peak viewers"].text)
            for r in tables(at)[0]] == [
        (str(t[3]), link(t[6], "channel", "channel", t[4]), human(t[7]), "10 min", viewers(t[9])) for t in expected]
    at.selectbox(key="game_window").set_value(data.W0).run()
    assert [r["Channel"].text for r in tables(at)[0]] == ["KaiCenat", "xQc"]


def test_a_link_to_a_game_outside_the_top_50_shows_that_game(seeded_own):
    """A link to any game the warehouse knows shows that game, and the URL stays as it is
    (issue 20, defect 3: it showed Just Chatting and rewrote the URL)."""
    small = [(f"g{i}", f"Small Game {i:02}", [(f"s{i}", f"Small{i}", 1.0 + i)]) for i in range(55)]
    add(seeded_own, (data.T0 - timedelta(minutes=30), small))
    at = open_page("views/game.py", game="g0")  # the least watched of 58 games
    assert at.selectbox(key="game_pick_g0").value == "g0"
    assert texts(at.subheader) == "Small Game 00"
    assert cards(at)["Watch hours"] == human(1.0)
    assert at.query_params["game"] == "g0"


def test_a_link_to_an_unknown_game_says_so_and_keeps_the_url(seeded):
    at = open_page("views/game.py", game="no-such-game")
    assert "No game with id 'no-such-game' is in the warehouse" in texts(at.warning)
    assert at.query_params["game"] == "no-such-game"
    assert not cards(at)


def test_game_search_by_name(seeded):
    at = open_page("views/game.py")
    at.text_input(key="game_search").input("LEGENDS").run()
    assert at.selectbox(key="game_pick_21779").options == ["League of Legends"]
    assert cards(at)["Watch hours"] == human(9500.0 + 7500.0)
    assert at.query_params["game"] == "21779"


@pytest.mark.parametrize("text", ["%", "_", "'; DROP TABLE GAME_WINDOWS; --", "zzz", "ñ" * 100])
def test_game_search_bad_input(seeded, text):
    at = open_page("views/game.py")
    at.text_input(key="game_search").input(text).run()
    assert not at.exception and not at.error
    assert "No game whose name contains" in texts(at.info)
    at.text_input(key="game_search").input("").run()
    assert len(at.selectbox(key="game_pick_509658").options) == 3  # the table is intact


# --- Channel --------------------------------------------------------------------------------


def test_channel_page_history_and_games(seeded):
    at = open_page("views/channel.py", channel="u1")
    assert at.selectbox(key="channel_pick_u1").value == "u1"
    history = [c for c in data.CHANNELS if c[1] == "u1" and c[0] != data.W2]
    shown = cards(at)
    watch = sum(c[6] for c in history)
    assert shown["Watch hours"] == human(watch)
    assert shown["Hours streamed"] == "20 min"
    assert shown["Average viewers"] == viewers(watch / (2 / 6))
    assert shown["Peak viewers"] == viewers(max(c[8] for c in history))
    assert shown["Best global rank"] == "#1"
    assert "twitch.tv/kaicenat" in texts(at.caption)
    assert set(charts(at)) == {"Watch hours per window", "Global rank per window (1 = top)", "Viewers per window"}
    games = tables(at)[0]
    assert [(r["Game"], r["Watch hours"].text, r["Streamed"].text) for r in games] == [
        (link("Just Chatting", "game", "game", "509658"), human(watch), "20 min")]


def test_channel_lines_break_where_it_was_offline(seeded_own):
    """Live at 11:30, offline, live again at 12:00: the charts get an empty row at 11:40, so
    the line breaks instead of joining 11:30 to 12:00 (issue 20, defect 7); ranks are whole."""
    add(seeded_own, (data.T0 - timedelta(minutes=30), [("509658", "Just Chatting", [("u1", "KaiCenat", 3000.0)])]))
    drawn = charts(open_page("views/channel.py", channel="u1"))
    watch = drawn["Watch hours per window"].data
    assert [(t.strftime("%H:%M"), None if v != v else v) for t, v in zip(watch["T"], watch["VALUE"])] == [
        ("11:30", 3000.0), ("11:40", None), ("12:00", 5000.0), ("12:10", 8345.6)]
    rank_axis = drawn["Global rank per window (1 = top)"].spec["encoding"]["y"]
    assert rank_axis["axis"]["format"] == "d" and rank_axis["axis"]["tickMinStep"] == 1


def test_channel_search_by_login_or_name(seeded):
    at = open_page("views/channel.py")
    assert at.selectbox(key="channel_pick_u1").value == "u1"  # latest window's top channel
    at.text_input(key="channel_search").input("IBA").run()
    assert at.selectbox(key="channel_pick_u2").options == ["Ibai (ibai)"]
    shown = cards(at)
    assert shown["Watch hours"] == human(4000.0) and shown["Best global rank"] == "#3"


def test_a_link_to_an_unknown_channel_says_so(seeded):
    at = open_page("views/channel.py", channel="nobody-here")
    assert "No channel with id 'nobody-here' is in the warehouse" in texts(at.warning)
    assert at.query_params["channel"] == "nobody-here"


@pytest.mark.parametrize("text", ["%", "' OR 1=1 --", "nobody"])
def test_channel_search_bad_input(seeded, text):
    at = open_page("views/channel.py")
    at.text_input(key="channel_search").input(text).run()
    assert not at.exception and not at.error
    assert "No channel whose login or name contains" in texts(at.info)


def test_channel_broadcasts_from_the_model(seeded):
    """Its broadcasts in the range, from the broadcasts model: KaiCenat's of 1 March (12:00 and
    12:10, started 11:55, unseen after 12:19 while the newest poll is 12:29, so ended)."""
    at = open_page("views/channel.py", channel="u1")
    rows = tables(at)[1]
    watch = 5000.0 + 8345.6
    assert [{k: v.text for k, v in r.items()} for r in rows] == [{
        "Started (UTC)": "2026-03-01 11:55", "Ended": "2026-03-01 12:19", "Length": "24 min",
        "Watch hours": human(watch), "Avg viewers": viewers(watch / (2 / 6)), "Peak viewers": viewers(52000),
        "Main game": "Just Chatting", "Language": "en", "Title": "KaiCenat live"}]
    assert rows[0]["Main game"].href == "game?game=509658"
    live = tables(open_page("views/channel.py", channel="u4"))[1]
    assert live[0]["Ended"].text == "live"  # seen at the newest poll


def test_language_split_per_day(seeded):
    """Each day's share of watch hours by language (language_daily), independent of dbt: the
    seeded LANGUAGE_WINDOWS rows added up per day; both days are partial and said so."""
    at = open_page("views/overview.py", range="Last 7 days")
    split = charts(at)["Share of watch hours by language"].data
    got = {(day.strftime("%m-%d"), lang): round(share, 9) for day, lang, share in
           zip(split["PERIOD_START"], split["LANGUAGE"], split["SHARE"])}
    expected = {}
    for rows, day in ((data.DAY0_CHANNELS, "02-28"), (data.CHANNELS, "03-01")):
        total = sum(c[6] for c in rows)
        for lang in {data.LANGUAGES[c[1]] for c in rows}:
            expected[(day, lang)] = round(sum(c[6] for c in rows if data.LANGUAGES[c[1]] == lang) / total, 9)
    assert got == expected
    assert ("Partial days, drawn faded: 2026-02-28 (windows cover 10 min of its 24 h); "
            "2026-03-01 (windows cover 30 min of its 24 h).") in page_text(at)


@pytest.mark.parametrize("per, period", [("daily", "2026-03-01"), ("monthly", "March 2026")])
def test_rankings_with_rank_change(seeded, per, period):
    """The day's (month's) games and channels by watch hours with the change against the day
    (month) before, from the marts; checked against the seeded window rows added up per day.
    1 March is partial (three windows) and the page says so."""
    at = open_page("views/rankings.py", per=per)
    markup = read_markup(at)
    assert markup.headings == [f"Top of {period}"]
    word = "day" if per == "daily" else "month"
    length = "24 h" if per == "daily" else "744 h"
    assert f"Partial {word}: windows cover 30 min of its {length}, so far" in texts(at.markdown)

    def ranked(rows, name, watch):
        """id -> (name, watch hours, competition rank) of rows summed by id (their column 1)."""
        sums: dict = {}
        for row in rows:
            sums.setdefault(row[1], [row[name], 0.0])[1] += row[watch]
        return {k: (n, wh, 1 + sum(o[1] > wh for o in sums.values())) for k, (n, wh) in sums.items()}

    games_now, games_before = ranked(data.GAMES, 2, 3), ranked(data.DAY0_GAMES, 2, 3)
    games, channels = tables(at)
    assert [(r["#"].text, r["Game"].text, r["Watch hours"].text, r["Change"].text) for r in games] == [
        (str(rank), name, human(wh), rank_change(rank, games_before.get(g, (0, 0, None))[2]))
        for g, (name, wh, rank) in sorted(games_now.items(), key=lambda kv: (kv[1][2], kv[0]))]
    assert [r["Change"].text for r in games] == ["new", "=", "▼2"]  # Fortnite, Just Chatting, League of Legends
    channels_now, channels_before = ranked(data.CHANNELS, 3, 6), ranked(data.DAY0_CHANNELS, 3, 6)
    assert [(r["#"].text, r["Channel"].text, r["Watch hours"].text, r["Change"].text) for r in channels] == [
        (str(rank), name, human(wh), rank_change(rank, channels_before.get(u, (0, 0, None))[2]))
        for u, (name, wh, rank) in sorted(channels_now.items(), key=lambda kv: (kv[1][2], kv[0]))]
    assert channels[0]["Channel"].href == "channel?channel=u4" and channels[0]["Channel"].target == "_self"
    at.selectbox(key=f"period_{per}").set_value(data.DAY0.replace(hour=0, day=1 if per == "monthly" else 28)).run()
    assert [r["Change"].text for r in tables(at)[0]] == ["new", "new"]  # nothing ranked the day (month) before


def test_models_not_built_yet_leave_their_part_empty_with_a_sentence(seeded_tables):
    """Before dbt's first build: the rankings, the broadcasts and the language split say what
    will fill them; the platform totals are added up from the window rows, and say so."""
    rankings = open_page("views/rankings.py")
    assert ui.NOT_BUILT.format(model="game_daily") in texts(rankings.info)
    overview = open_page("views/overview.py")
    assert ui.NOT_BUILT.format(model="language_daily") in texts(overview.info)
    assert "The hourly rollup is not in the warehouse yet" in texts(overview.caption)
    assert cards(overview)["Watch hours in range"] == human(sum(c[6] for c in data.CHANNELS if c[0] != data.W2))
    channel = open_page("views/channel.py", channel="u1")
    assert ui.NOT_BUILT.format(model="broadcasts") in texts(channel.info)
    assert not channel.error and not overview.error and not rankings.error


# --- Alerts ---------------------------------------------------------------------------------


def test_alerts_page_lists_every_alert_with_names_and_links(seeded):
    at = open_page("views/alerts.py")
    shown = cards(at)
    assert shown["Alerts"] == "2"
    assert shown["Biggest spike"] == human(310000, "viewers")
    rows = tables(at)[0]
    # newest first; the channel alert shows the display name of the window it fired in, not the login
    assert [r["Who"] for r in rows] == [link("Fortnite", "game", "game", "33214"),
                                        link("KaiCenat", "channel", "channel", "u1")]
    assert [r["On Twitch"] for r in rows] == [
        data.Cell(a[-1].split("://")[1].removeprefix("www."), a[-1], "_blank") for a in reversed(data.ALERTS)]
    assert [r["Viewers"].text for r in rows] == [viewers(310000), viewers(52000)]
    at.multiselect(key="alert_kinds").set_value(["threshold"]).run()
    assert cards(at)["Alerts"] == "1"
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


@pytest.mark.parametrize("args, says", [(["--refresh", "-1"], "--refresh: must be 0 (off) or a number of seconds"),
                                        (["--timeout", "0"], "--timeout: must be at least 1 second")])
def test_command_bad_flag_is_one_line(args, says):
    done = _dashboard_command("--port", "1", *args, env={})
    assert done.returncode == 2 and done.stderr.strip() == f"twitch-pulse: {says}"


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
