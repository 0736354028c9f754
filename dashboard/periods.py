"""The platform's hourly and daily totals over a time range, honest about partial periods
(issue 20, defects 5 and 6). Pure, so it is tested without a warehouse.

A range rarely starts or ends on a period boundary ("last 6 hours" from 06:20 to 12:20): its
first hour (or day) holds only part of the range, its last is still going on. Such a period
is not read from the rollup (PLATFORM_HOURLY/DAILY sums the whole period) but computed from
the window rows inside the range, and marked partial with the reason. So the range's total is
the same whatever the grain, and the last bar is no "drop". A whole period is read from the
rollup, unless the rollup does not have it (yet: dbt builds it every few minutes) or covers
less of it than the window tables do; then it is computed from the windows too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Mapping, NamedTuple, Optional, Sequence

from .format import when

GRAINS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


def floor(moment: datetime, grain: str) -> datetime:
    """The start of the UTC hour or day holding `moment`."""
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if grain == "daily" else moment


class Period(NamedTuple):
    """One hour or day touching the range, and the part of it inside the range."""

    start: datetime
    end: datetime
    from_: datetime  # max(start, range start)
    to: datetime  # min(end, range end)

    @property
    def whole(self) -> bool:
        return self.from_ == self.start and self.to == self.end

    @property
    def hours(self) -> float:
        """Hours of this period inside the range."""
        return (self.to - self.from_).total_seconds() / 3600


def periods(start: datetime, end: datetime, grain: str) -> list[Period]:
    """Every period of `grain` that overlaps [start, end), oldest first."""
    step = GRAINS[grain]
    out = []
    moment = floor(start, grain)
    while moment < end:
        out.append(Period(moment, moment + step, max(moment, start), min(moment + step, end)))
        moment += step
    return out


class Totals(NamedTuple):
    """A period's platform totals (PLATFORM_HOURLY/DAILY's columns)."""

    watch_hours: float
    air_hours: float
    channels: int  # distinct channels live in it


class Rollup(NamedTuple):
    """A rollup row: the totals, and how many hours of the period its windows covered when it
    was built (None where the rollup does not say)."""

    totals: Totals
    covered_hours: Optional[float]


class Row(NamedTuple):
    """One bar of the chart."""

    period: Period
    totals: Totals
    partial: Optional[str]  # why the bar is not a whole period, for the page; None when it is


def from_windows(plan: Sequence[Period], rollup: Mapping[datetime, Rollup],
                 covered: Mapping[datetime, float]) -> list[Period]:
    """The periods to compute from the window rows: partial ones, those the rollup lacks, and
    those it built from fewer windows than the tables hold now (`covered`: hours of windows
    inside the range per period start)."""
    out = []
    for period in plan:
        row = rollup.get(period.start)
        stale = (row is not None and row.covered_hours is not None
                 and row.covered_hours + 1e-9 < covered.get(period.start, 0.0))
        if not period.whole or row is None or stale:
            out.append(period)
    return out


def spans(chosen: Sequence[Period]) -> list[tuple[datetime, datetime]]:
    """The chosen periods' parts inside the range as few [from, to) spans as possible (one
    query each): neighbours merge."""
    out: list[tuple[datetime, datetime]] = []
    for period in sorted(chosen):
        if out and out[-1][1] == period.from_:
            out[-1] = (out[-1][0], period.to)
        else:
            out.append((period.from_, period.to))
    return out


def combine(plan: Sequence[Period], rollup: Mapping[datetime, Rollup], exact: Mapping[datetime, Totals],
            covered: Mapping[datetime, float], computed: Sequence[Period], data_end: datetime) -> list[Row]:
    """The chart's rows: each period from the rollup or, for `computed` ones, from `exact`
    (the window rows inside the range). A period without any window is left out."""
    chosen = {p.start for p in computed}
    rows = []
    for period in plan:
        totals = exact.get(period.start) if period.start in chosen else rollup[period.start].totals
        if totals is None:
            continue
        rows.append(Row(period, totals, partial_reason(period, covered.get(period.start, 0.0), data_end)))
    return rows


def partial_reason(period: Period, covered_hours: float, data_end: datetime) -> Optional[str]:
    """Why a period's bar is not a whole period, or None: `from 06:20 (the range starts there)`,
    `up to 12:20 (in progress)`, `windows cover 40 of 60 min`."""
    reasons = []
    if period.from_ > period.start:
        reasons.append(f"from {_at(period.from_, period)} (the range starts there)")
    if period.to < period.end:
        progress = "in progress" if period.to >= data_end else "the range ends there"
        reasons.append(f"up to {_at(period.to, period)} ({progress})")
    if not reasons and covered_hours + 1e-9 < period.hours:
        reasons.append(f"windows cover {_amount(covered_hours)} of {_amount(period.hours)}")
    return "; ".join(reasons) or None


def _at(moment: datetime, period: Period) -> str:
    return f"{moment:%H:%M}" if (period.end - period.start) <= timedelta(hours=1) else when(moment)


def _amount(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:g} h"
