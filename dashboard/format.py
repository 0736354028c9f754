"""Numbers and times for people: 1.2M hours, 45.3k viewers, 1 h 40 min, 3 min ago. Pure, so
it is tested without Streamlit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

_STEPS = ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T"))
NONE = "–"


def missing(value: Any) -> bool:
    """None, NaN or pandas' NaT/NA: nothing to show."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT and NA are not equal to themselves
    except (TypeError, ValueError):
        return False


def human(value: Optional[float], unit: str = "") -> str:
    """`1_234_567` -> `1.2M`, `45_300` -> `45.3k`, `45_000` -> `45k`, `12.34` -> `12.3`, `7` -> `7`,
    `0.042` -> `0.042`.

    One decimal at most, a trailing `.0` dropped; rounding that reaches the next step moves up
    (999_960 -> `1M`, not `1000k`). None or NaN -> `–`. `unit` is appended after a space.
    """
    if missing(value):
        return NONE
    sign = "-" if value < 0 else ""  # type: ignore[operator]
    size = abs(float(value))  # type: ignore[arg-type]
    text = _plain(size)
    if round(size, 1) >= 1000:
        for step, suffix in _STEPS:
            scaled = round(size / step, 1)
            text = _plain(scaled) + suffix
            if scaled < 1000:
                break
    return f"{sign}{text}{' ' + unit if unit else ''}"


def viewers(value: Optional[float]) -> str:
    """A number of people: whole below a thousand (`950`, not `950.4`), then as `human`."""
    if missing(value):
        return NONE
    return human(value if abs(float(value)) >= 999.95 else round(float(value)))  # type: ignore[arg-type]


def _plain(size: float) -> str:
    if 0 < size < 1:
        return f"{size:.2g}"  # 0.04 watch hours, not 0
    text = f"{size:.1f}"
    return text[:-2] if text.endswith(".0") else text


def duration(hours: Optional[float]) -> str:
    """Hours of air time as people read them: `10 min`, `1 h 40 min`, `26 h`, `3,120 h`.

    Minutes are rounded; under a minute is `< 1 min` (not `0 min`, which reads as none)."""
    if missing(hours):
        return NONE
    minutes = round(float(hours) * 60)  # type: ignore[arg-type]
    if minutes == 0:
        return "0 min" if float(hours) == 0 else "< 1 min"  # type: ignore[arg-type]
    whole, rest = divmod(minutes, 60)
    if whole == 0:
        return f"{rest} min"
    if whole >= 24 or rest == 0:
        return f"{round(minutes / 60):,} h"
    return f"{whole} h {rest} min"


def rank_change(current: Optional[int], previous: Optional[int]) -> str:
    """Movement since the previous window: `▲2` up two places, `▼1` down one, `=` same, `new`."""
    if missing(current):
        return NONE
    if missing(previous):
        return "new"
    moved = int(previous) - int(current)  # type: ignore[arg-type]
    return "=" if moved == 0 else (f"▲{moved}" if moved > 0 else f"▼{-moved}")


def when(value: Any) -> str:
    """A UTC moment of the warehouse (naive): `2026-03-01 12:10`."""
    return NONE if missing(value) else f"{value:%Y-%m-%d %H:%M}"


def window_label(start: datetime, end: datetime) -> str:
    """`2026-03-01 12:10 – 12:20 UTC`: a window (or any span within a day)."""
    return f"{start:%Y-%m-%d %H:%M} – {end:%H:%M} UTC"


def seconds_ago(seconds: float) -> str:
    """`just now`, `12 s ago`, `3 min ago`, `2 h ago` (whole units, rounded down)."""
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def share(part: Optional[float], whole: Optional[float]) -> str:
    """`23.4%`; `–` without a whole."""
    if missing(part) or missing(whole) or not whole:
        return NONE
    return f"{100 * float(part) / float(whole):.1f}%"  # type: ignore[arg-type]



def name_or(value: Any, fallback: str) -> str:
    """A name to show: `fallback` for a missing or empty one (`(no category)`)."""
    return fallback if missing(value) or value == "" else str(value)
