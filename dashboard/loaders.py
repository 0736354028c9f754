"""Each page's data as one snapshot (issue 20, defect 2: a page swaps in one piece).

A page reads everything it shows here, in one go, before it draws anything; the snapshot is
cached whole, keyed by the warehouse's answer (`watch.Fresh`: which windows are in and complete,
how many alerts) and the page's choices. So a page never shows two windows at once (the header
from the new window above a table from the old one), a refresh that finds nothing new costs no
query, and a refresh that finds something redraws from a snapshot that is already loaded. The
rollups change without new windows (dbt rebuilds them), so a snapshot is read again after
`RELOAD_SECONDS` at the latest. A dbt model that is not built yet leaves its part of a page
empty, with a sentence, and the rest of the page as it is.

Only whole windows are used: every range ends at the latest complete window's end, so no
chart or figure includes the window the sink is still writing.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Optional

import pandas as pd
import streamlit as st

from . import periods
from . import queries as q
from .format import duration
from .timerange import Resolved, TimeRange, resolve
from .watch import Fresh
from .windows import Windows

RELOAD_SECONDS = 60  # the dbt models are rebuilt every few minutes: read them again this often
_CACHE: dict[str, Any] = {"ttl": 600, "max_entries": 64, "show_spinner": False}
TOP = 10  # rows of the overview's top lists
TOP_GAMES_OVER_TIME = 5
MAX_SPANS = 4  # periods computed from the window rows: more spans than this are read as one


def bucket() -> int:
    """The current reload period (part of every snapshot's cache key)."""
    return int(time.time() // RELOAD_SECONDS)


@dataclass(frozen=True)
class Snapshot:
    """What every page snapshot has: the windows it was read for, a digest of its content
    (equal digests: nothing to redraw) and what reading it cost."""

    windows: Windows
    digest: str = field(default="", compare=False)
    statements: int = field(default=0, compare=False)
    seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Ranged(Snapshot):
    """A snapshot over the sidebar's time range (None: no window yet), and what was wrong with
    the range picked."""

    span: Optional[TimeRange] = None
    warning: Optional[str] = None


@dataclass(frozen=True)
class Searched(Ranged):
    """A page of one game or channel: what its search found."""

    found: pd.DataFrame = field(default_factory=pd.DataFrame)


def _sealed(snapshot: Any, durations: list[float]) -> Any:
    content = [getattr(snapshot, f.name) for f in fields(snapshot) if f.name not in ("digest", "statements", "seconds")]
    digest = hashlib.sha1(pickle.dumps(content, protocol=5)).hexdigest()
    object.__setattr__(snapshot, "digest", digest)
    object.__setattr__(snapshot, "statements", len(durations))
    object.__setattr__(snapshot, "seconds", sum(durations))
    return snapshot


def window_range(choice: str, dates: tuple, windows: Windows) -> Resolved:
    """The picked range over whole windows: anchored at (and never past) the latest complete
    window's end."""
    assert windows.latest_end is not None
    span, warning = resolve(choice, windows.latest_end, dates)
    return Resolved(span.until(windows.latest_end), warning)


def series_step(span: TimeRange) -> str:
    """The step of a chart over `span`: each window up to two days, then hours, then days (a
    chart draws a few hundred points at most)."""
    if span.length <= timedelta(days=2):
        return "window"
    return "hourly" if span.length <= timedelta(days=14) else "daily"


# --- overview -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview(Ranged):
    previous: Optional[datetime] = None
    games: pd.DataFrame = field(default_factory=pd.DataFrame)
    totals: dict = field(default_factory=dict)
    channels: pd.DataFrame = field(default_factory=pd.DataFrame)
    step: str = "window"
    top_games: pd.DataFrame = field(default_factory=pd.DataFrame)  # PERIOD_START, GAME_ID, GAME, AVG_VIEWERS, SHARE
    grain: str = "hourly"
    platform: pd.DataFrame = field(default_factory=pd.DataFrame)  # PERIOD_START, PERIOD_END, WATCH_HOURS, ...
    rollup_missing: bool = False
    viewers: pd.DataFrame = field(default_factory=pd.DataFrame)
    range_watch_hours: float = 0.0
    languages: Optional[pd.DataFrame] = None  # PERIOD_START, LANGUAGE, SHARE, ...; None: no model yet


@st.cache_data(**_CACHE)
def overview(source: q.Source, fresh: Fresh, reload: int, choice: str, dates: tuple, grain: str) -> Overview:
    windows = fresh.windows
    with q.timed() as durations:
        if windows.latest is None:
            return _sealed(Overview(windows), durations)
        previous = windows.previous or q.window_before(source, windows.latest)
        games = q.top_games(source, windows.latest, previous, TOP)
        totals = q.window_totals(source, windows.latest)
        channels = q.top_channels(source, windows.latest, previous, TOP)
        span, warning = window_range(choice, dates, windows)
        step = series_step(span)
        top_games = _games_over_time(q.top_games_over_time(source, span.start, span.end, step, TOP_GAMES_OVER_TIME))
        platform, rollup_missing = platform_totals(source, grain, span)
        viewers = q.viewers_per_window(source, span.start, span.end)
        languages = _language_split(_model(q.language_days, source, periods.floor(span.start, "daily"), span.end))
    row = totals.iloc[0].to_dict() if len(totals) else {}
    return _sealed(Overview(windows, previous=previous, games=games, totals=row, channels=channels, span=span,
                            warning=warning, step=step, top_games=top_games, grain=grain, platform=platform,
                            rollup_missing=rollup_missing, viewers=viewers,
                            range_watch_hours=float(platform["WATCH_HOURS"].sum()) if len(platform) else 0.0,
                            languages=languages),
                   durations)


def _model(query: Any, *args: Any) -> Optional[pd.DataFrame]:
    """A dbt model's rows, or None while dbt has not built it (its part of the page says so)."""
    try:
        return query(*args)
    except q.NoTables:
        return None


LANGUAGES_SHOWN = 6  # the most watched languages of the range; the rest is "other"


def _language_split(df: Optional[pd.DataFrame]) -> Optional[pd.DataFrame]:
    """Each day's share of watch hours by language: the range's most watched languages, the rest
    as "other"; a day its windows do not wholly cover is marked partial."""
    if df is None or df.empty:
        return df
    top = list(df.groupby("LANGUAGE")["WATCH_HOURS"].sum().sort_values(ascending=False, kind="stable")
               .index[:LANGUAGES_SHOWN])
    df = df.assign(LANGUAGE=[lang if lang in top else "other" for lang in df["LANGUAGE"]])
    days = df.groupby("PERIOD_START").agg(ALL=("WATCH_HOURS", "sum"), COVERED_HOURS=("COVERED_HOURS", "max"))
    out = df.groupby(["PERIOD_START", "LANGUAGE"], as_index=False)["WATCH_HOURS"].sum()
    out["SHARE"] = out["WATCH_HOURS"] / out["PERIOD_START"].map(days["ALL"])
    covered = out["PERIOD_START"].map(days["COVERED_HOURS"]).astype(float).fillna(0.0)
    out["PARTIAL"] = [period_partial("daily", to_datetime(day), hours) for day, hours in zip(out["PERIOD_START"], covered)]
    order = {lang: i for i, lang in enumerate([*top, "other"])}
    return out.sort_values(["PERIOD_START", "LANGUAGE"], key=lambda c: c.map(order) if c.name == "LANGUAGE" else c,
                           kind="stable").reset_index(drop=True)


def _games_over_time(df: pd.DataFrame) -> pd.DataFrame:
    """Average viewers and share per period and game, a zero where a game had no window in a
    period (a game is not live, unlike a channel offline, which is a gap); the game's name is
    its newest."""
    if df.empty:
        return pd.DataFrame(columns=["PERIOD_START", "GAME_ID", "GAME", "AVG_VIEWERS", "SHARE"])
    df = df.assign(AVG_VIEWERS=df["WATCH_HOURS"] / df["HOURS"], SHARE=df["WATCH_HOURS"] / df["ALL_WATCH_HOURS"])
    names = df.sort_values("PERIOD_START").groupby("GAME_ID")["GAME_NAME"].last().fillna("(no category)")
    ranked = df.groupby("GAME_ID")["WATCH_HOURS"].sum().sort_values(ascending=False, kind="stable").index
    grid = pd.MultiIndex.from_product([sorted(df["PERIOD_START"].unique()), list(ranked)],
                                      names=["PERIOD_START", "GAME_ID"])
    full = df.set_index(["PERIOD_START", "GAME_ID"])[["AVG_VIEWERS", "SHARE"]].reindex(grid, fill_value=0.0)
    full = full.reset_index()
    full["GAME"] = [names[g] for g in full["GAME_ID"]]
    order = {g: i for i, g in enumerate(ranked)}
    return full.sort_values(["PERIOD_START", "GAME_ID"], key=lambda c: c.map(order) if c.name == "GAME_ID" else c,
                            kind="stable").reset_index(drop=True)


def platform_totals(source: q.Source, grain: str, span: TimeRange) -> tuple[pd.DataFrame, bool]:
    """The platform's totals per period of `span` (see `dashboard.periods`); and whether the
    rollup is missing (dbt has not built it yet: everything comes from the window rows)."""
    plan = periods.periods(span.start, span.end, grain)
    columns = ["PERIOD_START", "PERIOD_END", "WATCH_HOURS", "AIR_HOURS", "DISTINCT_CHANNELS", "PARTIAL"]
    if not plan:
        return pd.DataFrame(columns=columns), False
    covered = {to_datetime(r.PERIOD_START): float(r.HOURS)
               for r in q.window_coverage(source, grain, span.start, span.end).itertuples(index=False)}
    try:
        rolled = q.platform_rollup(source, grain, plan[0].start, plan[-1].end)
        missing = False
    except q.NoTables:
        rolled, missing = pd.DataFrame(), True
    rollup = {}
    for r in rolled.to_dict("records"):
        covered_hours = r.get("COVERED_HOURS")
        rollup[to_datetime(r["PERIOD_START"])] = periods.Rollup(
            periods.Totals(float(r["WATCH_HOURS"]), float(r["AIR_HOURS"]), int(r["DISTINCT_CHANNELS"])),
            None if covered_hours is None or pd.isna(covered_hours) else float(covered_hours))
    computed = periods.from_windows(plan, rollup, covered)
    spans = periods.spans(computed)
    if len(spans) > MAX_SPANS:
        spans = [(spans[0][0], spans[-1][1])]
    exact = {}
    if spans:
        for r in q.platform_exact(source, grain, spans).itertuples(index=False):
            exact[to_datetime(r.PERIOD_START)] = periods.Totals(float(r.WATCH_HOURS), float(r.AIR_HOURS),
                                                        int(r.DISTINCT_CHANNELS))
    rows = periods.combine(plan, rollup, exact, covered, computed, span.end)
    return pd.DataFrame([(r.period.start, r.period.end, r.totals.watch_hours, r.totals.air_hours, r.totals.channels,
                          r.partial) for r in rows], columns=columns), missing


def to_datetime(value: Any) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


# --- game -----------------------------------------------------------------------------------


def _shown(wanted: Optional[str], text: str, found: list[str]) -> Optional[str]:
    """The game or channel a page shows: the one the URL names (any id, listed or not), unless
    a search found others (then the first of them); without either, the first listed."""
    if text and found and wanted not in found:
        return found[0]
    return wanted or (found[0] if found else None)


@dataclass(frozen=True)
class Game(Searched):  # found: GAME_ID, GAME_NAME, WATCH_HOURS
    game_id: Optional[str] = None
    name: Optional[str] = None  # None: the warehouse has never seen this id
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    window: Optional[datetime] = None  # of the top channels table
    top: pd.DataFrame = field(default_factory=pd.DataFrame)


@st.cache_data(**_CACHE)
def game(source: q.Source, fresh: Fresh, reload: int, choice: str, dates: tuple, text: str,
         wanted: Optional[str], window: Optional[datetime]) -> Game:
    windows = fresh.windows
    with q.timed() as durations:
        if windows.latest is None:
            return _sealed(Game(windows), durations)
        span, warning = window_range(choice, dates, windows)
        found = q.search_games(source, text, span.start, span.end)
        game_id = _shown(wanted, text, [str(g) for g in found["GAME_ID"]])
        if game_id is None:
            return _sealed(Game(windows, span=span, warning=warning, found=found), durations)
        names = dict(zip(found["GAME_ID"], found["GAME_NAME"]))
        name = names[game_id] if game_id in names else q.game_name(source, game_id)
        if name is not None and not name:
            name = "(no category)"
        history = q.game_history(source, game_id, span.start, span.end)
        starts = [to_datetime(t) for t in history["WINDOW_START"]]
        if window not in starts:
            window = windows.latest if windows.latest in starts else (starts[-1] if starts else None)
        top = q.game_top_channels(source, game_id, window) if window is not None else pd.DataFrame()
    return _sealed(Game(windows, span=span, warning=warning, found=found, game_id=game_id, name=name,
                        history=history, window=window, top=top), durations)


# --- channel --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel(Searched):  # found: USER_ID, USER_LOGIN, USER_NAME, WATCH_HOURS
    user_id: Optional[str] = None
    identity: Optional[tuple[str, str]] = None  # (login, display name); None: never seen
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    games: pd.DataFrame = field(default_factory=pd.DataFrame)
    broadcasts: Optional[pd.DataFrame] = None  # None: the dbt model is not built yet


@st.cache_data(**_CACHE)
def channel(source: q.Source, fresh: Fresh, reload: int, choice: str, dates: tuple, text: str,
            wanted: Optional[str]) -> Channel:
    windows = fresh.windows
    with q.timed() as durations:
        if windows.latest is None:
            return _sealed(Channel(windows), durations)
        span, warning = window_range(choice, dates, windows)
        found = q.search_channels(source, text, windows.latest, span.start, span.end)
        user_id = _shown(wanted, text, [str(u) for u in found["USER_ID"]])
        if user_id is None:
            return _sealed(Channel(windows, span=span, warning=warning, found=found), durations)
        listed = found[found["USER_ID"] == user_id]
        identity = ((str(listed["USER_LOGIN"].iloc[0] or ""), str(listed["USER_NAME"].iloc[0] or ""))
                    if len(listed) else q.channel_identity(source, user_id))
        history = q.channel_history(source, user_id, span.start, span.end)
        games = q.channel_games(source, user_id, span.start, span.end)
        broadcasts = _model(q.broadcasts, source, user_id, span.start, span.end)
    return _sealed(Channel(windows, span=span, warning=warning, found=found, user_id=user_id, identity=identity,
                           history=history, games=games, broadcasts=broadcasts), durations)


# --- alerts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alerts(Ranged):
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)


@st.cache_data(**_CACHE)
def alerts(source: q.Source, fresh: Fresh, reload: int, choice: str, dates: tuple) -> Alerts:
    """Alerts up to the newest one, even past the latest complete window (an alert is whole
    when written)."""
    windows = fresh.windows
    with q.timed() as durations:
        ends = [t for t in (windows.latest_end, fresh.alerts.newest) if t is not None]
        if not ends:
            return _sealed(Alerts(windows), durations)
        span, warning = resolve(choice, max(ends) + timedelta(seconds=1), dates)
        found = q.alerts(source, span.start, span.end)
    return _sealed(Alerts(windows, span=span, warning=warning, alerts=found), durations)


# --- rankings (dbt models) -------------------------------------------------------------------


@dataclass(frozen=True)
class Rankings(Snapshot):
    per: str = "daily"
    built: bool = True  # False: dbt has not built the models yet
    periods: pd.DataFrame = field(default_factory=pd.DataFrame)  # PERIOD_START, COVERED_HOURS, newest first
    period: Optional[datetime] = None
    partial: Optional[str] = None  # why the period is not whole, or None
    games: pd.DataFrame = field(default_factory=pd.DataFrame)
    channels: pd.DataFrame = field(default_factory=pd.DataFrame)


@st.cache_data(**_CACHE)
def rankings(source: q.Source, fresh: Fresh, reload: int, per: str, period: Optional[datetime]) -> Rankings:
    """A day's or month's game and channel rankings (the dbt marts); the newest period unless
    `period` is one of those listed."""
    windows = fresh.windows
    with q.timed() as durations:
        listed = _model(q.ranking_periods, source, per)
        if listed is None or listed.empty:
            return _sealed(Rankings(windows, per=per, built=listed is not None), durations)
        starts = [to_datetime(t) for t in listed["PERIOD_START"]]
        period = period if period in starts else starts[0]
        covered = float(listed["COVERED_HOURS"].iloc[starts.index(period)] or 0)
        games = q.game_ranking(source, per, period)
        channels = q.channel_ranking(source, per, period)
    return _sealed(Rankings(windows, per=per, periods=listed, period=period, partial=period_partial(per, period, covered),
                            games=games, channels=channels), durations)


def period_partial(per: str, start: datetime, covered_hours: float) -> Optional[str]:
    """`windows cover 14.5 of 24 h so far` for a day (or month) its windows do not cover whole."""
    if per == "daily":
        length = 24.0
    else:
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        length = (following - start).total_seconds() / 3600
    if covered_hours >= length - 1e-9:
        return None
    return f"windows cover {duration(covered_hours)} of its {duration(length)}"
