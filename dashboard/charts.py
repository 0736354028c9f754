"""The dashboard's charts as Altair specs (issue 20, defects 1, 5, 7, 8, 11). Pure: a frame
in, a chart out, so the specs are tested without a browser.

- Ranked bars carry their order in the spec (an explicit sort list), so a chart redrawn with a
  new window's ranking shows the new order: with `sort=None` Vega-Lite kept the old domain
  order after a data-only update and put newcomers at the bottom. Names are drawn as text over
  the bars, whole (an axis label is cut at 180 px: "Simulated Game …").
- Numbers on axes are formatted one by one like the tables (`45k`, `1.2M`, `0`), not with one
  SI prefix for every tick ("0k", "0M").
- A series with a gap (a channel offline) has a null row there, so its line breaks instead of
  joining the two sides with a straight line.
- Partial periods (the range's first, the one in progress) are drawn faded, with the reason
  in the tooltip and a legend entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Optional

import altair as alt
import pandas as pd

# One label per tick, like format.human: 950, 1.5k, 45k, 1.2M
HUMAN_AXIS = ("abs(datum.value) >= 1e9 ? format(datum.value / 1e9, '.3~r') + 'B' : "
              "abs(datum.value) >= 1e6 ? format(datum.value / 1e6, '.3~r') + 'M' : "
              "abs(datum.value) >= 1e3 ? format(datum.value / 1e3, '.3~r') + 'k' : format(datum.value, '.3~r')")
HEIGHT = 300
BAR_ROW = 26  # px per bar
PARTIAL = "partial period"
WHOLE = "whole period"


def _utc(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Naive UTC timestamps marked UTC, so the browser does not shift them to its own zone."""
    df = df.copy()
    df[column] = pd.to_datetime(df[column]).dt.tz_localize("UTC")
    return df


def _time_axis(span: Optional[timedelta] = None) -> alt.X:
    fmt = "%m-%d" if span is not None and span > timedelta(days=3) else "%m-%d %H:%M"
    return alt.X("T:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format=fmt, labelOverlap=True))


def _value_axis(title: Optional[str] = None, integer: bool = False, reverse: bool = False) -> alt.Y:
    axis = (alt.Axis(format="d", tickMinStep=1) if integer else alt.Axis(labelExpr=HUMAN_AXIS))
    return alt.Y("VALUE:Q", title=title, axis=axis, scale=alt.Scale(reverse=reverse, zero=not reverse))


def ranked_bars(labels: list[str], values: list[float], title: str, value_format: str = ",.0f") -> alt.LayerChart:
    """Horizontal bars in the given order (ranked), each labelled in full over its bar."""
    data = pd.DataFrame({"LABEL": labels, "VALUE": values})
    order = list(labels)
    y = alt.Y("LABEL:N", sort=order, axis=None, title=None)
    base = alt.Chart(data, title=title, height=max(BAR_ROW * len(order), 60))
    bars = base.mark_bar(opacity=0.45, size=BAR_ROW - 6).encode(
        y=y, x=alt.X("VALUE:Q", title=None, axis=alt.Axis(labelExpr=HUMAN_AXIS)),
        tooltip=[alt.Tooltip("LABEL:N", title=""), alt.Tooltip("VALUE:Q", title="", format=value_format)])
    text = base.mark_text(align="left", baseline="middle", dx=4).encode(
        y=y, x=alt.datum(0), text="LABEL:N")
    return alt.layer(bars, text)


def with_gaps(df: pd.DataFrame, column: str, step: timedelta) -> pd.DataFrame:
    """`df` (ordered by `column`, a time) with an empty row one step after each row that is
    followed by a gap, so a line breaks there: a channel offline between two windows is not
    drawn as live."""
    if len(df) < 2:
        return df
    times = pd.to_datetime(df[column])
    after = times.shift(1) + pd.Timedelta(step)
    gap = times > after
    if not gap.any():
        return df
    fillers = pd.DataFrame({column: after[gap].to_numpy()})
    return pd.concat([df, fillers], ignore_index=True).sort_values(column, kind="stable").reset_index(drop=True)


def lines(df: pd.DataFrame, x: str, series: dict[str, str], title: str, *, reverse: bool = False,
          integer: bool = False, value_format: str = ",.0f", span: Optional[timedelta] = None) -> alt.Chart:
    """Lines of several columns over time (a legend when more than one); null values break a line."""
    data = _utc(df, x)[[x, *series]].rename(columns={x: "T", **series})
    data = data.melt("T", var_name="SERIES", value_name="VALUE")
    return alt.Chart(data, title=title, height=HEIGHT).mark_line(point=len(df) < 60).encode(
        x=_time_axis(span), y=_value_axis(integer=integer, reverse=reverse),
        color=alt.Color("SERIES:N", title=None, sort=list(series.values()),
                        legend=alt.Legend(orient="bottom") if len(series) > 1 else None),
        tooltip=[alt.Tooltip("T:T", title="UTC", format="%Y-%m-%d %H:%M", formatType="utc"),
                 alt.Tooltip("SERIES:N", title=""), alt.Tooltip("VALUE:Q", title="", format=value_format)],
    )


def games_over_time(df: pd.DataFrame, title: str, span: Optional[timedelta] = None) -> alt.Chart:
    """One line per game (`PERIOD_START`, `GAME`, `AVG_VIEWERS`, `SHARE`), legend in rank order."""
    data = _utc(df, "PERIOD_START").rename(columns={"PERIOD_START": "T", "AVG_VIEWERS": "VALUE"})
    order = list(dict.fromkeys(df["GAME"]))
    # the height is the whole chart's, legend included: five names take three rows of it
    return alt.Chart(data, title=title, height=HEIGHT + 120).mark_line(point=len(data) < 60).encode(
        x=_time_axis(span), y=_value_axis(),
        color=alt.Color("GAME:N", title=None, sort=order, legend=alt.Legend(orient="bottom", columns=2, labelLimit=0)),
        tooltip=[alt.Tooltip("T:T", title="UTC", format="%Y-%m-%d %H:%M", formatType="utc"),
                 alt.Tooltip("GAME:N", title="Game"), alt.Tooltip("VALUE:Q", title="Average viewers", format=",.0f"),
                 alt.Tooltip("SHARE:Q", title="Share of all viewers", format=".1%")],
    )


def period_bars(df: pd.DataFrame, value: str, title: str, span: Optional[timedelta] = None) -> alt.Chart:
    """Bars per period (`PERIOD_START`, `PERIOD_END`, `value`, `PARTIAL`: the reason or None),
    partial periods faded and named in the legend and tooltip."""
    data = _utc(_utc(df, "PERIOD_START"), "PERIOD_END").rename(columns={value: "VALUE"})
    data["KIND"] = [PARTIAL if isinstance(reason, str) else WHOLE for reason in data["PARTIAL"]]
    data["WHY"] = [reason if isinstance(reason, str) else "" for reason in data["PARTIAL"]]
    return alt.Chart(data, title=title, height=HEIGHT).mark_bar().encode(
        x=alt.X("PERIOD_START:T", title=None, scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%m-%d" if span is not None and span > timedelta(days=3) else "%m-%d %H:%M",
                              labelOverlap=True)),
        x2="PERIOD_END:T",
        y=alt.Y("VALUE:Q", title=None, axis=alt.Axis(labelExpr=HUMAN_AXIS)), y2=alt.datum(0),
        opacity=alt.Opacity("KIND:N", title=None, scale=alt.Scale(domain=[WHOLE, PARTIAL], range=[0.9, 0.35]),
                            legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("PERIOD_START:T", title="UTC", format="%Y-%m-%d %H:%M", formatType="utc"),
                 alt.Tooltip("VALUE:Q", title="", format=",.0f"), alt.Tooltip("WHY:N", title="partial")],
    )


def shares(df: pd.DataFrame, title: str) -> alt.Chart:
    """One bar per day (`PERIOD_START`), split by `LANGUAGE` into its `SHARE` of the day's watch
    hours, in the frame's order of languages; a partial day (`PARTIAL`: the reason) is faded."""
    data = _utc(df, "PERIOD_START").assign(DAY=lambda d: d["PERIOD_START"].dt.strftime("%Y-%m-%d"))
    data["KIND"] = [PARTIAL.replace("period", "day") if isinstance(r, str) else WHOLE.replace("period", "day")
                    for r in data["PARTIAL"]]
    data["WHY"] = [r if isinstance(r, str) else "" for r in data["PARTIAL"]]
    order = list(dict.fromkeys(df["LANGUAGE"]))
    data["ORDER"] = [order.index(language) for language in data["LANGUAGE"]]
    return alt.Chart(data, title=title, height=HEIGHT).mark_bar().encode(
        x=alt.X("DAY:O", title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("SHARE:Q", title=None, stack="normalize", axis=alt.Axis(format="%")),
        color=alt.Color("LANGUAGE:N", title=None, sort=order, legend=alt.Legend(orient="bottom", columns=4)),
        order=alt.Order("ORDER:Q"),
        opacity=alt.Opacity("KIND:N", title=None, legend=None,
                            scale=alt.Scale(domain=["whole day", "partial day"], range=[0.9, 0.4])),
        tooltip=[alt.Tooltip("DAY:O", title="UTC day"), alt.Tooltip("LANGUAGE:N", title="Language"),
                 alt.Tooltip("SHARE:Q", title="Share of watch hours", format=".1%"),
                 alt.Tooltip("WATCH_HOURS:Q", title="Watch hours", format=",.0f"), alt.Tooltip("WHY:N", title="partial")],
    )
