"""Each metric of DESIGN §4 and §5 as a pure function or aggregate, checked by hand-worked
numbers (no broker, no stage logic)."""

from __future__ import annotations

import random
from typing import NamedTuple

import msgspec

from processors.aggregations import (
    ChannelAggregate, GameTotals, PollGame, average_while_live, competition_ranks, credited_ms, first_previous,
    hours, per_window_hour, started_in_window, top_n, top_order, user_order, watch_ms,
)
from processors.alerts import GameState, baseline, channel_alerts, game_alerts, remember, surge_level
from processors.config import ProcessorConfig
from pulse.samples import Sample

I, W = 60_000, 600_000


class Candidate(NamedTuple):
    watch: int
    user_id: str


CFG = ProcessorConfig(window_ms=W, grace_ms=0, interval_ms=I, top_n=3, threshold_viewers=10_000,
                      surge_min_viewers=1_000, surge_ratio=1.0, game_surge_min_viewers=1_000,
                      baseline_ms=900_000, cooldown_ms=3_600_000)


def test_first_sample_credits_since_start_or_one_interval() -> None:
    assert first_previous(started_ms=1_000_000 - 40_000, t=1_000_000, interval_ms=I) == 960_000
    assert first_previous(started_ms=0, t=1_000_000, interval_ms=I) == 940_000


def test_delta_is_clamped_to_zero_and_two_intervals() -> None:
    assert credited_ms(t=120_000, prev=60_000, cap_ms=2 * I) == 60_000
    assert credited_ms(t=600_000, prev=60_000, cap_ms=2 * I) == 120_000
    assert credited_ms(t=60_000, prev=90_000, cap_ms=2 * I) == 0


def test_watch_time_is_viewers_times_delta_and_zero_viewers_add_none() -> None:
    assert watch_ms(250, 60_000) == 15_000_000
    assert watch_ms(0, 60_000) == 0
    assert hours(watch_ms(250, 60_000)) == 250 / 60


def test_new_stream_window_is_half_open() -> None:
    assert started_in_window(600_000, 600_000, W)
    assert not started_in_window(1_200_000, 600_000, W)
    assert not started_in_window(599_999, 600_000, W)


def test_ranks_share_ties_and_skip() -> None:
    assert competition_ranks([5, 9, 5, 1]) == [2, 1, 2, 4]


def test_top_order_most_watch_then_lower_numeric_user_id() -> None:
    entries = [(10, "109"), (10, "99"), (20, "5"), (10, "abc")]
    assert sorted(entries, key=lambda e: top_order(*e)) == [(20, "5"), (10, "99"), (10, "109"), (10, "abc")]
    assert user_order("99") < user_order("109") < user_order("a")


def test_top_n_is_the_head_of_the_full_order_with_ties_at_the_cut() -> None:
    rng = random.Random(3)
    for _ in range(200):
        entries = [Candidate(rng.choice([0, 5, 5, 9, 12, 12]), str(rng.randint(1, 40)))
                   for _ in range(rng.randint(0, 30))]
        n = rng.randint(1, 12)
        assert top_n(list(entries), n) == sorted(entries, key=lambda c: top_order(c.watch, c.user_id))[:n]
    tied = [Candidate(7, "30"), Candidate(7, "4"), Candidate(9, "8"), Candidate(7, "12")]
    assert top_n(tied, 2) == [Candidate(9, "8"), Candidate(7, "4")]


def test_channel_aggregate_main_game_is_most_air_ties_seen_last() -> None:
    agg = ChannelAggregate()
    agg.add(60_000, "a", "A", "g1", "One", 10, 60_000, "s", False)
    agg.add(120_000, "a", "A", "g2", "Two", 30, 60_000, "s", False)
    assert agg.main_game() == ("g2", "Two")
    agg.add(180_000, "a2", "A2", "g1", "One", 20, 60_000, "s", True)
    assert agg.main_game() == ("g1", "One")
    assert (agg.watch, agg.air, agg.peak, agg.login) == (10 * 60_000 + 30 * 60_000 + 20 * 60_000, 180_000, 30, "a2")
    assert agg.games["g1"].new_streams == ["s"]
    assert average_while_live(agg.watch, agg.air) == 20.0
    assert average_while_live(0, 0) is None


def test_game_totals_peak_earliest_on_ties_and_averages_per_window_hour() -> None:
    totals = GameTotals()
    totals.add("Old", 60_000, 100, 10, 1, 0, [[60_000, 5, 1], [120_000, 7, 2]])
    totals.add("New", 120_000, 50, 20, 2, 1, [[120_000, 0, 1], [180_000, 7, 3]])
    assert totals.name == "New"
    assert totals.peak() == (7, 120_000)
    assert totals.peak_channels() == 3
    assert (totals.watch, totals.air, totals.channels, totals.new_streams) == (150, 30, 3, 1)
    assert per_window_hour(3_600_000, 600_000) == 6.0


def test_poll_game_sums_viewers_and_channels() -> None:
    at_poll = PollGame()
    at_poll.add(5, "G")
    at_poll.add(0, "G")
    assert (at_poll.viewers, at_poll.channels) == (5, 2)


def test_baseline_is_the_mean_of_the_previous_period_only() -> None:
    history: list[int] = []
    for k, viewers in enumerate([100, 200, 300]):
        remember(history, k * I, viewers, 900_000)
    assert baseline(history, 3 * I, 900_000) == 200
    assert baseline(history, 20 * I, 900_000) is None
    remember(history, 20 * I, 50, 900_000)
    assert history == [20 * I, 50]
    assert surge_level(1_000, 1.0, 700.2) == 1_401


def test_channel_threshold_from_below_surge_and_cooldown() -> None:
    history: list[int] = []
    cooldowns: dict[str, int] = {}
    stream = Sample(stream_id="9", user_id="1", user_login="a", user_name="A", game_id="g", game_name="G", title="",
                    language="en", type="live", tags=[], viewer_count=5_000, started_at="2024-01-01T00:00:00Z",
                    is_mature=False)
    for k in range(3):
        assert channel_alerts(CFG, history, cooldowns, stream, k * I) == []
    alerts = channel_alerts(CFG, history, cooldowns, msgspec.structs.replace(stream, viewer_count=12_000), 3 * I)
    assert sorted(a["kind"] for a in alerts) == ["surge", "threshold"]
    surge = next(a for a in alerts if a["kind"] == "surge")
    assert surge["baseline"] == 5_000 and surge["threshold"] == 10_000
    assert channel_alerts(CFG, history, cooldowns, msgspec.structs.replace(stream, viewer_count=30_000), 4 * I) == []


def test_game_surge_needs_a_baseline_and_the_minimum() -> None:
    game = GameState()
    assert game_alerts(CFG, game, "g", "G", 5_000, 0) == []
    assert game_alerts(CFG, game, "g", "G", 900, I) == []
    alerts = game_alerts(CFG, game, "g", "G", 6_000, 2 * I)
    assert [a["kind"] for a in alerts] == ["game_surge"] and alerts[0]["baseline"] == 2_950
