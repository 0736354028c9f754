"""Each metric of DESIGN §4 and §5 as a pure function or aggregate, checked by hand-worked
numbers (no broker, no stage logic)."""

from __future__ import annotations

import dataclasses
import inspect
import random
from typing import Any, NamedTuple

import msgspec
import pytest

from processors import aggregations, keystate
from processors.aggregations import (
    ChannelAggregate,
    Distinct,
    GameShare,
    GroupTotals,
    Latest,
    Max,
    PeakAt,
    PollPeaks,
    PollTotal,
    Span,
    StreamAggregate,
    Sum,
    Totals,
    average_while_live,
    competition_ranks,
    credited_ms,
    first_previous,
    hours,
    main_game,
    per_window_hour,
    started_in_window,
    top_n,
    top_order,
    user_order,
)
from processors.alerts import GameState, baseline, channel_alerts, game_alerts, new_history, remember, surge_level
from processors.config import ProcessorConfig
from pulse.schema import Stream

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


def test_totals_watch_is_viewers_times_delta_and_zero_viewers_add_air_only() -> None:
    totals = Totals()
    totals.add(250, 60_000)
    totals.add(0, 60_000)
    assert (totals.watch, totals.air) == (15_000_000, 120_000)
    other = Totals(5, 7)
    totals.merge(other)
    assert (totals.watch, totals.air) == (15_000_005, 120_007)
    assert hours(totals.watch) == 15_000_005 / 3_600_000


def test_sum_and_max_and_distinct() -> None:
    count, peak, ids = Sum(), Max(), Distinct()
    for value in (3, 9, 4):
        count.add(value)
        peak.add(value)
    assert (count.total, peak.value) == (16, 9)
    assert ids.count() == 0 and ids.items is None  # no set is made until the first id
    for item in ("a", "b", "a"):
        ids.add(item)
    more = Distinct()
    more.add("c")
    ids.merge(more)
    ids.merge(Distinct())
    assert ids.count() == 3
    count.merge(Sum(4))
    peak.merge(Max(11))
    assert (count.total, peak.value) == (20, 11)


def test_peak_at_is_the_earliest_time_of_the_highest_value() -> None:
    peak = PeakAt()
    for viewers, t in ((5, 300), (9, 200), (9, 100), (9, 400), (2, 50)):
        peak.add(viewers, t)
    assert (peak.value, peak.at) == (9, 100)
    peak.merge(PeakAt(9, 50))
    assert (peak.value, peak.at) == (9, 50)


def test_span_first_last_and_samples() -> None:
    span = Span()
    for t in (200, 100, 300):
        span.add(t)
    assert (span.first, span.last, span.samples) == (100, 300, 3)
    span.merge(Span(50, 60, 2))
    span.merge(Span())
    assert (span.first, span.last, span.samples) == (50, 300, 5)


def test_latest_keeps_the_newest_value_and_on_ties_the_one_seen_last() -> None:
    name = Latest()
    name.add("old", 100)
    name.add("older", 50)
    assert name.value == "old"
    name.add("tie", 100)
    assert name.value == "tie"
    name.merge(Latest("merged", 100))
    assert name.value == "merged"
    name.merge(Latest())  # nothing seen: changes nothing
    assert (name.value, name.t) == ("merged", 100)


def test_poll_peaks_sum_per_poll_and_take_the_earliest_peak() -> None:
    polls = PollPeaks()
    polls.add(60_000, 5, 1)
    polls.add(120_000, 7, 2)
    other = PollPeaks()
    other.add(120_000, 0, 1)
    other.add(180_000, 7, 3)
    polls.merge(other)
    assert polls.peak() == (7, 120_000)
    assert polls.peak_channels() == 3
    at_poll = PollTotal()
    at_poll.add(5, "G")
    at_poll.add(0, "G")
    assert (at_poll.viewers, at_poll.channels, at_poll.name) == (5, 2, "G")


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


def profile(login: str, started: int = 0) -> tuple[str, str, str, str, bool, int]:
    return (login, login.upper(), "title", "en", False, started)


def test_stream_aggregate_main_game_is_most_air_ties_seen_last() -> None:
    stream = StreamAggregate("u1")
    stream.add(60_000, 10, 60_000, "g1", "One", profile("a"), "s1", False)
    assert stream.main_game() == ("g1", "One") and stream.game_count() == 1
    stream.add(120_000, 30, 60_000, "g2", "Two", profile("a"), "s1", False)
    assert stream.main_game() == ("g2", "Two")  # equal air: g2 was seen last
    stream.add(180_000, 20, 60_000, "g1", "One", profile("a2"), "s1", False)
    assert stream.main_game() == ("g1", "One")
    assert (stream.totals.watch, stream.totals.air) == (10 * 60_000 + 30 * 60_000 + 20 * 60_000, 180_000)
    assert (stream.peak.value, stream.peak.at) == (30, 120_000)
    assert (stream.span.first, stream.span.last, stream.span.samples) == (60_000, 180_000, 3)
    assert stream.profile.value == profile("a2") and stream.game_count() == 2


def _shares_the_long_way(samples: list[tuple[int, int, int, str, str, bool]]) -> dict[str, GameShare]:
    """A GameShare per game, fed every sample of its game (what StreamAggregate keeps compact)."""
    shares: dict[str, GameShare] = {}
    for t, viewers, delta, game_id, name, is_new in samples:
        share = shares.setdefault(game_id, GameShare())
        share.add(t, viewers, delta, name)
        if is_new:
            share.new_streams.add("s1")
    return shares


def test_a_stream_keeps_one_game_compact_and_splits_exactly_at_a_second() -> None:
    rng = random.Random(5)
    for _ in range(300):
        samples, t = [], 0
        for _ in range(rng.randint(1, 8)):
            t += rng.choice([30_000, 60_000])
            game = rng.choice(["g1", "g1", "g1", "g2", ""])
            samples.append((t, rng.randint(0, 50), rng.randint(0, 60_000), game, f"{game}@{t}", rng.random() < 0.3))
        stream = StreamAggregate("u1")
        for t, viewers, delta, game_id, name, is_new in samples:
            stream.add(t, viewers, delta, game_id, name, profile("a"), "s1", is_new)
        expected = _shares_the_long_way(samples)
        assert (stream.games is None) == (len(expected) == 1)
        assert stream.main_game() == main_game(expected) and stream.game_count() == len(expected)
        channel = ChannelAggregate()
        channel.absorb("s1", stream)
        assert channel.games == expected
        channel.absorb("s1", stream)  # twice: the second merges into the shares the first made
        assert channel.games == _shares_the_long_way(samples + samples)


def test_a_channel_is_the_merge_of_its_broadcasts() -> None:
    first, second = StreamAggregate("u1"), StreamAggregate("u1")
    first.add(60_000, 10, 60_000, "g1", "One", profile("old"), "s1", True)
    second.add(120_000, 40, 30_000, "g1", "One", profile("new"), "s2", False)
    second.add(180_000, 5, 60_000, "g2", "Two", profile("new"), "s2", False)
    channel = ChannelAggregate()
    channel.absorb("s2", second)
    channel.absorb("s1", first)
    assert channel.who.value == ("new", "NEW")  # the login of the channel's last sample
    assert (channel.totals.watch, channel.totals.air, channel.peak.value) == (600_000 + 1_200_000 + 300_000, 150_000, 40)
    assert main_game(channel.games) == ("g1", "One")
    share = channel.games["g1"]
    assert (share.totals.watch, share.totals.air, share.peak.value, share.new_streams.count()) == (1_800_000, 90_000, 40, 1)
    assert average_while_live(channel.totals.watch, channel.totals.air) == 14.0
    assert average_while_live(0, 0) is None


def test_game_share_merge_and_group_totals_across_keys() -> None:
    share = GameShare()
    share.add(60_000, 3, 60_000, "Name")
    totals = GroupTotals()
    totals.add("Old", 60_000, 100, 10, 1, 0, [(60_000, 5, 1), (120_000, 7, 2)])
    totals.add("New", 120_000, 50, 20, 2, 1, [(120_000, 0, 1), (180_000, 7, 3)])
    assert totals.name.value == "New"
    assert totals.polls.peak() == (7, 120_000) and totals.polls.peak_channels() == 3
    assert (totals.totals.watch, totals.totals.air, totals.channels.total, totals.new_streams.total) == (150, 30, 3, 1)
    assert per_window_hour(3_600_000, 600_000) == 6.0


@pytest.mark.parametrize("make", [list, new_history])  # a game's history, a channel's
def test_baseline_is_the_mean_of_the_previous_period_only(make: Any) -> None:
    history = make()
    for k, viewers in enumerate([100, 200, 300]):
        remember(history, k * I, viewers, 900_000)
    assert baseline(history, 3 * I, 900_000) == 200
    assert baseline(history, 20 * I, 900_000) is None
    remember(history, 20 * I, 50, 900_000)
    assert list(history) == [20 * I, 50]
    assert surge_level(1_000, 1.0, 700.2) == 1_401


def test_channel_threshold_from_below_surge_and_cooldown() -> None:
    history = new_history()
    cooldowns: dict[str, int] = {}
    stream = Stream(stream_id="9", user_id="1", user_login="a", user_name="A", game_id="g", game_name="G", title="",
                    language="en", type="live", tags=[], viewer_count=5_000, started_at="2024-01-01T00:00:00Z",
                    is_mature=False)
    for k in range(3):
        assert channel_alerts(CFG, history, cooldowns, stream, k * I) == []
    alerts = channel_alerts(CFG, history, cooldowns, msgspec.structs.replace(stream, viewer_count=12_000), 3 * I)
    assert sorted(a.kind for a in alerts) == ["surge", "threshold"]
    surge = next(a for a in alerts if a.kind == "surge")
    assert surge.baseline == 5_000 and surge.threshold == 10_000
    assert channel_alerts(CFG, history, cooldowns, msgspec.structs.replace(stream, viewer_count=30_000), 4 * I) == []


def test_game_surge_needs_a_baseline_and_the_minimum() -> None:
    game = GameState()
    assert game_alerts(CFG, game, "g", "G", 5_000, 0) == []
    assert game_alerts(CFG, game, "g", "G", 900, I) == []
    alerts = game_alerts(CFG, game, "g", "G", 6_000, 2 * I)
    assert [a.kind for a in alerts] == ["game_surge"] and alerts[0].baseline == 2_950


@pytest.mark.parametrize("cls", [c for module in (aggregations, keystate) for c in vars(module).values()
                                 if dataclasses.is_dataclass(c) and c.__module__ == module.__name__],
                         ids=lambda c: c.__name__)
def test_a_written_init_agrees_with_the_dataclass_fields(cls: type) -> None:
    """The `__init__`s written for mypyc (see processors/aggregations.py) take the fields in
    their order, and make the same empty object the field defaults describe."""
    fields = dataclasses.fields(cls)
    made = cls()
    for f in fields:
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert getattr(made, f.name) == default, (cls.__name__, f.name)
    assert cls(*[getattr(made, f.name) for f in fields]) == made
    if getattr(cls.__init__, "__code__", None) is not None:  # interpreted: the signature reads
        assert list(inspect.signature(cls.__init__).parameters)[1:] == [f.name for f in fields]


def test_a_channel_history_array_is_written_as_the_list_it_was() -> None:
    """The snapshot format did not change when the history became an array: a snapshot of
    either reads back, with an array, and the same state writes the same bytes."""
    memo = {"s1": keystate.StreamMemo(60_000, "2024-01-01T00:00:00Z", 0)}
    state = keystate.KeyState(channels={"u1": keystate.ChannelState(120_000, memo, new_history([60_000, 7, 120_000, 9]))})
    data = keystate.encode_state(state)
    as_list = msgspec.msgpack.encode({"u1": {"history": [60_000, 7, 120_000, 9]}})
    assert msgspec.msgpack.decode(data)["channels"]["u1"]["history"] == msgspec.msgpack.decode(as_list)["u1"]["history"]
    back = keystate.decode_state(data)
    assert isinstance(back.channels["u1"].history, type(new_history())) and back == state
    assert keystate.encode_state(back) == data
