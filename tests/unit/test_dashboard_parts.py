"""The dashboard's pure parts, without Streamlit or a warehouse: which windows are complete,
partial periods and their reasons, the HTML tables and cards, and the chart specs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dashboard import charts, html, periods
from dashboard.periods import Rollup, Totals
from dashboard.windows import TableWindow, WindowCheck, judge

T = datetime(2026, 3, 1, 12, 0)
W = timedelta(minutes=10)


# --- windows ----------------------------------------------------------------------------------


def whole(rows: int, watch: float = 60.0, air: float = 2.0) -> TableWindow:
    """`rows` rows ranked 1..rows (no ties)."""
    return TableWindow(rows, rows, 1, watch, air)


def check(i: int, games: TableWindow | None, channels: TableWindow | None) -> WindowCheck:
    return WindowCheck(T + i * W, T + (i + 1) * W, games, channels)


def test_a_window_is_complete_when_both_tables_add_up_and_rank_whole():
    assert check(0, whole(3), whole(12)).complete
    assert check(0, TableWindow(4, 3, 2, 60.0, 2.0), whole(12)).complete  # ranks 1, 2, 3, 3
    assert not check(0, TableWindow(3, 3, 2, 60.0, 2.0), whole(12)).complete  # 1, 3, 3: the 2 is missing
    assert not check(0, whole(3), whole(12, air=1.5)).complete  # a channel's hours are missing
    assert not check(0, whole(3), whole(12, watch=59.0)).complete
    assert not check(0, whole(3), None).complete and not check(0, None, whole(12)).complete
    assert check(0, whole(3, watch=0.1 + 0.2), whole(12, watch=0.3)).complete  # sums in another order


def test_judge_picks_the_newest_complete_window_and_names_the_loading_ones():
    windows = judge([check(2, whole(3), TableWindow(337, 700, 1, 30.0, 1.0)), check(0, whole(3), whole(12)),
                     check(1, whole(3), whole(12)), check(3, None, TableWindow(20, 30, 1, 1.0, 0.1))])
    assert (windows.latest, windows.latest_end, windows.previous) == (T + W, T + 2 * W, T)
    assert [w.start for w in windows.loading] == [T + 2 * W, T + 3 * W]
    assert windows.loading[0].progress() == "337 channel rows and 3 game rows so far"
    assert windows.newest == T + 3 * W and not windows.unverified


def test_judge_without_any_complete_window_shows_the_second_newest_and_says_so():
    windows = judge([check(0, whole(3), None), check(1, whole(3), None)])
    assert windows.latest == T and windows.unverified
    assert judge([]).latest is None


# --- periods ----------------------------------------------------------------------------------


def test_periods_touching_a_range():
    plan = periods.periods(datetime(2026, 3, 1, 6, 20), datetime(2026, 3, 1, 8, 20), "hourly")
    assert [(p.start.hour, p.from_.minute, p.to.minute, p.whole) for p in plan] == [
        (6, 20, 0, False), (7, 0, 0, True), (8, 0, 20, False)]
    day = periods.periods(datetime(2026, 3, 1, 6, 20), datetime(2026, 3, 1, 12, 20), "daily")
    assert len(day) == 1 and day[0].hours == 6


def test_partial_periods_come_from_the_windows_and_say_why():
    start, end = datetime(2026, 3, 1, 6, 20), datetime(2026, 3, 1, 9, 20)
    plan = periods.periods(start, end, "hourly")  # 6 (from 6:20), 7, 8, 9 (to 9:20)
    rollup = {p.start: Rollup(Totals(100.0, 10.0, 5), None) for p in plan}  # the whole hours' sums
    del rollup[datetime(2026, 3, 1, 8)]  # not built yet
    covered = {datetime(2026, 3, 1, 6): 40 / 60, datetime(2026, 3, 1, 7): 50 / 60, datetime(2026, 3, 1, 8): 1.0,
               datetime(2026, 3, 1, 9): 20 / 60}
    computed = periods.from_windows(plan, rollup, covered)
    assert [p.start.hour for p in computed] == [6, 8, 9]
    assert periods.spans(computed) == [(start, datetime(2026, 3, 1, 7)), (datetime(2026, 3, 1, 8), end)]
    exact = {p.start: Totals(1.0, 0.5, 1) for p in computed}
    rows = periods.combine(plan, rollup, exact, covered, computed, end)
    assert [(r.period.start.hour, r.totals.watch_hours, r.partial) for r in rows] == [
        (6, 1.0, "from 06:20 (the range starts there)"),
        (7, 100.0, "windows cover 50 min of 60 min"),
        (8, 1.0, None),
        (9, 1.0, "up to 09:20 (in progress)")]


def test_a_rollup_built_from_fewer_windows_than_the_tables_hold_is_not_used():
    plan = periods.periods(datetime(2026, 3, 1, 6), datetime(2026, 3, 1, 7), "hourly")
    stale = {plan[0].start: Rollup(Totals(50.0, 5.0, 3), 0.5)}  # dbt built it at 06:30
    assert periods.from_windows(plan, stale, {plan[0].start: 1.0}) == plan
    assert periods.from_windows(plan, stale, {plan[0].start: 0.5}) == []


# --- html -------------------------------------------------------------------------------------


def test_tables_escape_every_name_and_link_in_the_same_tab():
    evil = '<script>alert("x")</script> & :red[x] $5'
    out = html.table([{"NAME": html.page_link(evil, "game", {"game": "1&2", "range": ["Last 7 days"]}),
                       "N": "12k", "TWITCH": html.Link("twitch.tv/x", "https://www.twitch.tv/x", external=True)}],
                     [html.Column("NAME", "Game", name=True), html.Column("N", "Watch hours", numeric=True, phone=False),
                      html.Column("TWITCH", "On Twitch")])
    assert "<script>" not in out and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; :red[x] $5" in out
    assert '<a href="game?game=1%262&amp;range=Last+7+days" target="_self">' in out
    assert '<a href="https://www.twitch.tv/x" target="_blank" rel="noopener noreferrer">' in out
    assert '<td class="num wide">12k</td>' in out  # hidden on a phone


def test_cards_keep_long_values_whole():
    out = html.cards([html.Card("Top game", "Simulated Game 0020: The Extended Edition", note="54k watch hours")])
    assert "Simulated Game 0020: The Extended Edition" in out and "…" not in out


# --- charts ------------------------------------------------------------------------------------


def test_bars_carry_their_order_and_label_each_bar_whole():
    spec = charts.ranked_bars(["1. B", "2. A", "3. C"], [3.0, 2.0, 1.0], "Watch hours by game").to_dict()
    bars, text = spec["layer"]
    assert bars["encoding"]["y"]["sort"] == ["1. B", "2. A", "3. C"]
    assert text["mark"]["type"] == "text" and text["encoding"]["text"]["field"] == "LABEL"
    assert bars["encoding"]["x"]["axis"]["labelExpr"] == charts.HUMAN_AXIS


def test_with_gaps_breaks_a_series_where_a_step_is_missing():
    df = pd.DataFrame({"T": [T, T + W, T + 4 * W, T + 5 * W], "V": [1.0, 2.0, 3.0, 4.0]})
    out = charts.with_gaps(df, "T", W)
    assert list(out["T"]) == [T, T + W, T + 2 * W, T + 4 * W, T + 5 * W]
    assert out["V"].isna().tolist() == [False, False, True, False, False]
    assert charts.with_gaps(df.iloc[:2], "T", W).equals(df.iloc[:2])


def test_rank_axis_has_whole_ticks_only():
    df = pd.DataFrame({"T": [T, T + W], "RANK": [1, 2]})
    axis = charts.lines(df, "T", {"RANK": "rank"}, "Rank", reverse=True, integer=True).to_dict()["encoding"]["y"]
    assert axis["axis"] == {"format": "d", "tickMinStep": 1} and axis["scale"]["reverse"] is True


def test_partial_periods_are_faded_bars_from_zero():
    df = pd.DataFrame({"PERIOD_START": [T, T + 6 * W], "PERIOD_END": [T + 6 * W, T + 12 * W],
                       "WATCH_HOURS": [5.0, 2.0], "PARTIAL": [None, "up to 13:20 (in progress)"]})
    chart = charts.period_bars(df, "WATCH_HOURS", "Watch hours, hourly")
    spec = chart.to_dict()
    assert spec["encoding"]["y2"] == {"datum": 0}
    assert spec["encoding"]["opacity"]["scale"] == {"domain": [charts.WHOLE, charts.PARTIAL], "range": [0.9, 0.35]}
    assert list(chart.data["KIND"]) == [charts.WHOLE, charts.PARTIAL]
