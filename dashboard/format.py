"""Numbers for people: 1.2M hours, 45.3k viewers. Pure, so it is tested without Streamlit."""

from __future__ import annotations

import math
from typing import Optional

_STEPS = ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T"))


def human(value: Optional[float], unit: str = "") -> str:
    """`1_234_567` -> `1.2M`, `45_300` -> `45.3k`, `45_000` -> `45k`, `12.34` -> `12.3`, `7` -> `7`,
    `0.042` -> `0.042`.

    One decimal at most, a trailing `.0` dropped; rounding that reaches the next step moves up
    (999_960 -> `1M`, not `1000k`). None or NaN -> `–`. `unit` is appended after a space.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    sign = "-" if value < 0 else ""
    size = abs(float(value))
    text = _plain(size)
    if round(size, 1) >= 1000:
        for step, suffix in _STEPS:
            scaled = round(size / step, 1)
            text = _plain(scaled) + suffix
            if scaled < 1000:
                break
    return f"{sign}{text}{' ' + unit if unit else ''}"


def _plain(size: float) -> str:
    if 0 < size < 1:
        return f"{size:.2g}"  # 0.04 watch hours, not 0
    text = f"{size:.1f}"
    return text[:-2] if text.endswith(".0") else text


def rank_change(current: Optional[int], previous: Optional[int]) -> str:
    """Movement since the previous window: `▲2` up two places, `▼1` down one, `=` same, `new`."""
    if current is None:
        return "–"
    if previous is None:
        return "new"
    moved = int(previous) - int(current)
    return "=" if moved == 0 else (f"▲{moved}" if moved > 0 else f"▼{-moved}")
