"""The time-range picker's logic, pure: a choice and dates in, a [start, end) range out, with a
warning for input that cannot be used as given (instead of an error page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple, Optional, Sequence

PRESETS = {
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}
CUSTOM = "Custom dates"
CHOICES = (*PRESETS, CUSTOM)
DEFAULT = "Last 24 hours"
MAX_SPAN = timedelta(days=92)  # a custom range longer than this is cut to its last 92 days


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in UTC, naive like the warehouse's TIMESTAMP_NTZ columns."""

    start: datetime
    end: datetime

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M} UTC"

    def until(self, end: datetime) -> "TimeRange":
        """This range, ending at `end` at the latest (a custom range past the newest window)."""
        return TimeRange(self.start, min(self.end, end))

    @property
    def length(self) -> timedelta:
        return self.end - self.start


class Resolved(NamedTuple):
    span: TimeRange
    warning: Optional[str]


def resolve(choice: Any, anchor: datetime, dates: Any = ()) -> Resolved:
    """A preset is [anchor - its length, anchor): `anchor` is the newest data, not the wall
    clock (the local run's clock runs ahead), i.e. the end of the latest complete window for
    the window pages; `CUSTOM` takes whole UTC days from `dates` (one or two dates, inclusive)."""
    end = anchor
    if choice in PRESETS:
        return Resolved(TimeRange(anchor - PRESETS[choice], end), None)
    fallback = TimeRange(anchor - PRESETS[DEFAULT], end)
    if choice != CUSTOM:
        return Resolved(fallback, f"Unknown time range {choice!r}: showing the {DEFAULT.lower()}.")
    days = _dates(dates)
    if not days:
        return Resolved(fallback, f"Pick a start and an end date: showing the {DEFAULT.lower()} meanwhile.")
    first, last = days[0], days[-1]
    warning = None
    if last < first:
        first, last = last, first
        warning = "The end date was before the start date: the two were swapped."
    span = TimeRange(datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time()))
    if span.end - span.start > MAX_SPAN:
        span = TimeRange(span.end - MAX_SPAN, span.end)
        warning = f"Ranges are limited to {MAX_SPAN.days} days: showing the last {MAX_SPAN.days} of the dates picked."
    return Resolved(span, warning)


def _dates(value: Any) -> list[date]:
    """A date, or a sequence of up to two (the date picker gives one while the second is picked)."""
    if isinstance(value, datetime):
        return [value.date()]
    if isinstance(value, date):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        found = [_dates(v) for v in list(value)[:2]]
        return [d for ds in found for d in ds]
    return []
