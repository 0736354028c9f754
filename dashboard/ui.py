"""What every page shares: the sidebar (time range, auto-refresh), the warehouse guard that
turns a missing table or a down warehouse into a sentence, and the chart and table helpers."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Optional
from urllib.parse import quote

import altair as alt
import pandas as pd
import streamlit as st

from . import REFRESH_ENV
from . import queries as q
from .format import human, rank_change
from .timerange import CHOICES, CUSTOM, DEFAULT, TimeRange, resolve

DEFAULT_REFRESH = 15.0

NO_WINDOW = ("No window has closed yet: the processor closes each window one poll after its end, "
             "and the sink writes it here within seconds. This page fills in by itself.")
NO_TABLES = ("The warehouse has no window tables yet: the sinks create them when they first start "
             "(`twitch-pulse bootstrap` does it by hand). This page fills in by itself once windows arrive.")


@dataclass(frozen=True)
class Context:
    """The sidebar's choices, read by the page that runs after it."""

    source: q.Source
    choice: str
    dates: tuple
    refresh: Optional[float]


def refresh_seconds() -> Optional[float]:
    """The auto-refresh period from the environment; None (off) for 0 or an unusable value."""
    try:
        value = float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH))
    except ValueError:
        return DEFAULT_REFRESH
    return value if value > 0 else None


def sidebar() -> Optional[Context]:
    """Draw the time-range picker and the refresh toggle; None when the settings are unusable."""
    try:
        source = q.current_source()
    except Exception as exc:  # a ConfigError: one line, no traceback
        st.error(f"Cannot read the warehouse settings: {exc}")
        st.session_state["context"] = None
        return None
    with st.sidebar:
        choice = st.selectbox("Time range", CHOICES, index=CHOICES.index(DEFAULT), key="range_choice",
                              help="Counted back from the newest window in the warehouse.")
        dates: tuple = ()
        if choice == CUSTOM:
            today = _data_day(source)
            picked = st.date_input("Dates (UTC)", value=(today - timedelta(days=6), today), key="range_dates")
            dates = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
        period = refresh_seconds()
        live = st.toggle(f"Auto-refresh every {period:g} s" if period else "Auto-refresh (off)",
                         value=bool(period), disabled=not period, key="auto_refresh")
        st.caption(f"Warehouse: {source.database}.{source.schema} ({source.where})")
    context = Context(source, choice, dates, period if live else None)
    st.session_state["context"] = context
    return context


def _data_day(source: q.Source) -> date:
    """The newest data's day (the default end of a custom range), or today without data."""
    try:
        anchor = q.data_end(source)
    except q.WarehouseError:
        anchor = None
    return anchor.date() if anchor else datetime.now(timezone.utc).date()


def context() -> Optional[Context]:
    return st.session_state.get("context")


def time_range(ctx: Context) -> Optional[TimeRange]:
    """The picked range, anchored at the newest data; None (with a note) on an empty warehouse."""
    anchor = q.data_end(ctx.source)
    if anchor is None:
        st.info(NO_WINDOW)
        return None
    span, warning = resolve(ctx.choice, anchor, ctx.dates)
    if warning:
        st.warning(warning)
    return span


def guarded(body: Callable[[], Any]) -> None:
    """Run a page body; what the warehouse cannot answer becomes one sentence, not a traceback."""
    try:
        body()
    except q.NoTables:
        st.info(NO_TABLES)
    except q.WarehouseError as exc:
        st.error(f"The warehouse did not answer: {exc}. Reload the page, or wait for its next refresh.")


def page(body: Callable[[Context], Any]) -> None:
    """A page: its body, re-run every refresh period while auto-refresh is on."""
    ctx = context()
    if ctx is None:
        return

    @st.fragment(run_every=ctx.refresh)
    def refreshed() -> None:
        guarded(lambda: body(ctx))

    refreshed()


# --- tables and charts ----------------------------------------------------------------------


def when(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"


def rank_moves(df: pd.DataFrame) -> list[str]:
    return [rank_change(_int(r), _int(p)) for r, p in zip(df["RANK"], df["PREVIOUS_RANK"])]


def _int(value: Any) -> Optional[int]:
    return None if value is None or pd.isna(value) else int(value)


def humanized(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """The given columns of `df`, renamed for people, numbers as `human()` text (tables are read,
    not sorted: they come ranked)."""
    out = pd.DataFrame(index=range(len(df)))
    for column, title in columns.items():
        values = df[column].tolist()
        if pd.api.types.is_numeric_dtype(df[column]) and column != "RANK":
            out[title] = [human(v) for v in values]
        elif pd.api.types.is_datetime64_any_dtype(df[column]):
            out[title] = [when(v) for v in values]
        else:
            out[title] = ["–" if v is None or (isinstance(v, float) and pd.isna(v)) else v for v in values]
    return out


def table(df: pd.DataFrame) -> None:
    st.table(df, hide_index=True)


def link(text: Any, page: str, param: str, value: Any) -> str:
    """A Markdown link to another page of this app (`st.table` renders Markdown), e.g. a game's
    name leading to `game?game=<id>`; the name's Markdown characters are escaped."""
    label = "(no name)" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    label = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>])", r"\\\1", label)
    return f"[{label}]({page}?{param}={quote(str(value), safe='')})"


def utc(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mark naive UTC timestamps as UTC, so the browser does not shift them to its own zone."""
    df = df.copy()
    df[column] = pd.to_datetime(df[column]).dt.tz_localize("UTC")
    return df


def line(df: pd.DataFrame, x: str, series: dict[str, str], title: str, reverse: bool = False) -> None:
    """One Altair line chart of several numeric columns over time (a legend when more than one)."""
    data = utc(df, x)[[x, *series]].rename(columns=series).melt(x, var_name="series", value_name="value")
    y = alt.Y("value:Q", title=None, axis=alt.Axis(format="~s"), scale=alt.Scale(reverse=reverse, zero=not reverse))
    chart = alt.Chart(data, title=title).mark_line(point=len(df) < 60).encode(
        x=alt.X(f"{x}:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%m-%d %H:%M")),
        y=y,
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom") if len(series) > 1 else None),
        tooltip=[alt.Tooltip(f"utcyearmonthdatehoursminutes({x}):T", title="UTC"), alt.Tooltip("series:N", title=""), alt.Tooltip("value:Q", format=",.1f")],
    )
    st.altair_chart(chart, width="stretch")


def bars(df: pd.DataFrame, category: str, value: str, title: str) -> None:
    """Horizontal bars, in the frame's order (ranked)."""
    chart = alt.Chart(df[[category, value]], title=title).mark_bar().encode(
        y=alt.Y(f"{category}:N", sort=None, title=None),
        x=alt.X(f"{value}:Q", title=None, axis=alt.Axis(format="~s")),
        tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=",.1f")],
    )
    st.altair_chart(chart, width="stretch")
