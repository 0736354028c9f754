"""DESIGN §4's arithmetic, one named function or aggregate per metric.

Everything is kept in integers (viewer·milliseconds, milliseconds) so sums are exact, ranks
compare exact integers and ties are real ties; hours come from one division at the end.
The stages only decide *which* samples and partials meet here; the numbers are made here,
and `tests/test_aggregations.py` checks each against §4 without a broker.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable, Optional, Protocol, Sequence, TypeVar

MS_PER_HOUR = 3_600_000


# --- per sample ------------------------------------------------------------------------

def first_previous(started_ms: int, t: int, interval_ms: int) -> int:
    """`prev` of a stream's first sample: max(started_at, t − I)."""
    return max(started_ms, t - interval_ms)


def credited_ms(t: int, prev: int, cap_ms: int) -> int:
    """Δ = clamp(t − prev, 0, cap): a gap longer than 2·I is a missed poll, not air time."""
    return min(max(t - prev, 0), cap_ms)


def watch_ms(viewers: int, delta_ms: int) -> int:
    """watch time of one sample in viewer·ms (viewer_count · Δ)."""
    return viewers * delta_ms


def started_in_window(started_ms: int, start: int, window_ms: int) -> bool:
    """`new_streams` counts a stream whose started_at lies in [start, start + W)."""
    return start <= started_ms < start + window_ms


# --- aggregates within one chunk key ---------------------------------------------------------

@dataclass(slots=True)
class GameShare:
    """One channel's samples in one game within a window (top channels, main game)."""

    air: int = 0
    watch: int = 0
    peak: int = 0
    last_t: int = -1
    name: str = ""
    new_streams: list[str] = field(default_factory=list)

    def add(self, t: int, viewers: int, delta: int, name: str, stream_id: str, is_new: bool) -> None:
        self.air += delta
        self.watch += viewers * delta
        if viewers > self.peak:
            self.peak = viewers
        if t >= self.last_t:
            self.last_t, self.name = t, name
        if is_new and stream_id not in self.new_streams:
            self.new_streams.append(stream_id)


@dataclass(slots=True)
class ChannelAggregate:
    """One channel within a window: complete in its chunk key, since a channel never spans two."""

    login: str = ""
    name: str = ""
    last_t: int = -1
    watch: int = 0
    air: int = 0
    peak: int = 0
    games: dict[str, GameShare] = field(default_factory=dict)

    def add(self, t: int, login: str, name: str, game_id: str, game_name: str, viewers: int, delta: int,
            stream_id: str, is_new: bool) -> None:
        if t >= self.last_t:
            self.login, self.name, self.last_t = login, name, t
        self.watch += viewers * delta
        self.air += delta
        if viewers > self.peak:
            self.peak = viewers
        share = self.games.get(game_id)
        if share is None:
            share = self.games[game_id] = GameShare()
        share.add(t, viewers, delta, game_name, stream_id, is_new)

    def main_game(self) -> tuple[str, str]:
        """(game_id, name) with the most air time in the window; on ties the one seen last."""
        game_id, share = max(self.games.items(), key=lambda kv: (kv[1].air, kv[1].last_t))
        return game_id, share.name


@dataclass(slots=True)
class PollGame:
    """A game at one poll within one chunk key: concurrent viewers and channels."""

    viewers: int = 0
    channels: int = 0
    name: str = ""

    def add(self, viewers: int, name: str) -> None:
        self.viewers += viewers
        self.channels += 1
        self.name = name


# --- across chunk keys (the window merge) -----------------------------------------------------

def competition_ranks(values: Sequence[int]) -> list[int]:
    """rank = 1 + number of strictly greater values (ties share a rank)."""
    order = sorted(values, reverse=True)
    first_index: dict[int, int] = {}
    for index, value in enumerate(order):
        first_index.setdefault(value, index)
    return [first_index[v] + 1 for v in values]


def user_order(user_id: str) -> tuple[int, int | str]:
    """'Lower user_id first': numeric ids compare as numbers, anything else after, as text."""
    return (0, int(user_id)) if user_id.isdigit() else (1, user_id)


def top_order(watch: int, user_id: str) -> tuple[int, tuple[int, int | str]]:
    """Sort key of GAME_TOP_CHANNELS: most watch time first, ties lower user_id first."""
    return (-watch, user_order(user_id))


class Candidate(Protocol):
    watch: int
    user_id: str


C = TypeVar("C", bound=Candidate)


def top_n(entries: list[C], n: int) -> list[C]:
    """A game's first n channels in GAME_TOP_CHANNELS order (`top_order`). Only those with at
    least the n-th largest watch time can be among them, so only those are sorted in full."""
    if len(entries) > n:
        floor = heapq.nlargest(n, [c.watch for c in entries])[-1]
        entries = [c for c in entries if c.watch >= floor]
    return sorted(entries, key=lambda c: top_order(c.watch, c.user_id))[:n]


@dataclass(slots=True)
class GameTotals:
    """A game within a window, summed over chunk keys (all additive: a channel lives in one key)."""

    name: str = ""
    name_t: int = -1
    watch: int = 0
    air: int = 0
    channels: int = 0
    new_streams: int = 0
    polls: dict[int, list[int]] = field(default_factory=dict)  # t -> [viewers, channels]

    def add(self, name: str, name_t: int, watch: int, air: int, channels: int, new_streams: int,
            polls: Iterable[Sequence[int]]) -> None:
        if name_t >= self.name_t:
            self.name, self.name_t = name, name_t
        self.watch += watch
        self.air += air
        self.channels += channels
        self.new_streams += new_streams
        for t, viewers, count in polls:
            entry = self.polls.get(t)
            if entry is None:
                self.polls[t] = [viewers, count]
            else:
                entry[0] += viewers
                entry[1] += count

    def peak(self) -> tuple[int, int]:
        """(peak_viewers, peak_at): the poll with the most concurrent viewers, earliest on ties."""
        t, (viewers, _) = min(self.polls.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return viewers, t

    def peak_channels(self) -> int:
        return max(count for _, count in self.polls.values())


def hours(ms: int) -> float:
    return ms / MS_PER_HOUR


def average_while_live(watch: int, air: int) -> Optional[float]:
    """CHANNEL_WINDOWS.avg_viewers: watch_hours / air_hours."""
    return watch / air if air else None


def per_window_hour(amount_ms: int, window_ms: int) -> float:
    """GAME_WINDOWS.avg_viewers / avg_channels: hours / (W in hours)."""
    return (amount_ms / MS_PER_HOUR) / (window_ms / MS_PER_HOUR)
