"""The dashboard's pure helpers: number formatting, rank changes, the time-range picker."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from dashboard.format import duration, human, rank_change, seconds_ago, viewers
from dashboard.timerange import CUSTOM, MAX_SPAN, TimeRange, resolve


@pytest.mark.parametrize("value, text", [
    (0, "0"), (7, "7"), (12.34, "12.3"), (999, "999"), (0.042, "0.042"),
    (999.96, "1k"), (1000, "1k"), (1234, "1.2k"), (45_300, "45.3k"), (45_000, "45k"),
    (999_960, "1M"), (1_234_567, "1.2M"), (2.5e9, "2.5B"), (3e12, "3T"), (-45_300, "-45.3k"),
    (None, "–"), (float("nan"), "–"),
])
def test_human(value, text):
    assert human(value) == text


@pytest.mark.parametrize("value, text", [(950.4, "950"), (0.4, "0"), (999.6, "1k"), (45_321.0, "45.3k"), (None, "–")])
def test_viewers_are_whole_people(value, text):
    assert viewers(value) == text


@pytest.mark.parametrize("hours, text", [(1 / 6, "10 min"), (0.17, "10 min"), (1 + 2 / 3, "1 h 40 min"), (2.0, "2 h"),
                                         (26.2, "26 h"), (3120.0, "3,120 h"), (0.001, "< 1 min"), (0, "0 min")])
def test_duration(hours, text):
    assert duration(hours) == text


@pytest.mark.parametrize("seconds, text", [(0.4, "just now"), (12.9, "12 s ago"), (185, "3 min ago"),
                                           (7300, "2 h ago"), (3 * 86400, "3 days ago")])
def test_seconds_ago(seconds, text):
    assert seconds_ago(seconds) == text


def test_human_with_unit():
    assert human(1_234_567, "hours") == "1.2M hours"
    assert human(45_300, "viewers") == "45.3k viewers"


@pytest.mark.parametrize("current, previous, text", [
    (1, 3, "▲2"), (4, 3, "▼1"), (2, 2, "="), (5, None, "new"), (None, 1, "–"),
])
def test_rank_change(current, previous, text):
    assert rank_change(current, previous) == text


ANCHOR = datetime(2026, 3, 1, 12, 30)


def test_presets_count_back_from_the_newest_data():
    span, warning = resolve("Last 6 hours", ANCHOR)
    assert span == TimeRange(ANCHOR - timedelta(hours=6), ANCHOR)
    assert warning is None


def test_custom_dates_are_whole_utc_days_inclusive():
    span, warning = resolve(CUSTOM, ANCHOR, (date(2026, 2, 27), date(2026, 3, 1)))
    assert span == TimeRange(datetime(2026, 2, 27), datetime(2026, 3, 2))
    assert warning is None
    one_day, _ = resolve(CUSTOM, ANCHOR, (date(2026, 2, 27),))
    assert one_day == TimeRange(datetime(2026, 2, 27), datetime(2026, 2, 28))


@pytest.mark.parametrize("choice, dates, says", [
    (CUSTOM, (date(2026, 3, 1), date(2026, 2, 27)), "swapped"),
    (CUSTOM, (), "Pick a start and an end date"),
    (CUSTOM, "yesterday", "Pick a start and an end date"),
    (CUSTOM, (date(2020, 1, 1), date(2026, 3, 1)), f"limited to {MAX_SPAN.days} days"),
    ("Last fortnight", (), "Unknown time range"),
])
def test_unusable_picks_fall_back_with_a_warning(choice, dates, says):
    span, warning = resolve(choice, ANCHOR, dates)
    assert says in warning
    assert span.start < span.end and span.end - span.start <= MAX_SPAN
