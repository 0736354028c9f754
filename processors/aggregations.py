"""DESIGN §4's arithmetic: one small class per metric, composed into the aggregates of a
stream, a channel, a game and a language, plus the per-sample rules.

Every metric follows one protocol (`Metric`): it is fed as samples come (`add`, with what it
measures and, where order matters, the sample's time), it absorbs the same metric computed
elsewhere (`merge`: a channel's other broadcast, another chunk key's share of a window), and
it is read once when the window closes. A new metric is one class here and one line in the
aggregate that carries it.

Everything is kept in integers (viewer·milliseconds, milliseconds) so sums are exact, ranks
compare exact integers and ties are real ties; hours come from one division at the end.
The stages only decide *which* samples and partials meet here; the numbers are made here,
and `tests/unit/test_aggregations.py` checks each against §4 without a broker.

Each class here (and each state class in `keystate.py`) is a dataclass, for msgspec's
snapshots, `repr` and `==`, with its `__init__` written out: mypyc compiles a written
`__init__` but leaves the one `dataclasses` generates interpreted, and the processor makes
about ten of these objects per stream and window. Written out, bench.processor_bench went
from 126k to 150k-181k samples/s. `test_aggregations.py` checks each `__init__` against the
class's fields.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Sequence, TypeVar, Union

MS_PER_HOUR = 3_600_000
# what a stream's last sample says of it: login, display name, title, language, is_mature, started_at (ms)
Profile = tuple[str, str, str, str, bool, int]


# --- per sample --------------------------------------------------------------------------

def first_previous(started_ms: int, t: int, interval_ms: int) -> int:
    """`prev` of a stream's first sample: max(started_at, t − I)."""
    return max(started_ms, t - interval_ms)


def credited_ms(t: int, prev: int, cap_ms: int) -> int:
    """Δ = clamp(t − prev, 0, cap): a gap longer than 2·I is a missed poll, not air time."""
    return min(max(t - prev, 0), cap_ms)


def started_in_window(started_ms: int, start: int, window_ms: int) -> bool:
    """`new_streams` counts a stream whose started_at lies in [start, start + W)."""
    return start <= started_ms < start + window_ms


# --- the metrics ------------------------------------------------------------------------

class Metric(Protocol):
    """What every metric offers besides its own `add`: absorbing the same metric from
    elsewhere (another stream of the channel, another chunk key's partial)."""

    def merge(self, other: Any) -> None: ...


@dataclass(slots=True)
class Totals:
    """watch = Σ viewer_count·Δ (viewer·ms) and air = Σ Δ (ms): zero viewers add air, no watch."""

    watch: int = 0
    air: int = 0

    def __init__(self, watch: int = 0, air: int = 0) -> None:
        self.watch = watch
        self.air = air

    def add(self, viewers: int, delta: int) -> None:
        self.watch += viewers * delta
        self.air += delta

    def merge(self, other: Totals) -> None:
        self.watch += other.watch
        self.air += other.air


@dataclass(slots=True)
class Sum:
    """A count that adds across chunk keys (a channel or a stream lives in one key)."""

    total: int = 0

    def __init__(self, total: int = 0) -> None:
        self.total = total

    def add(self, value: int) -> None:
        self.total += value

    def merge(self, other: Sum) -> None:
        self.total += other.total


@dataclass(slots=True)
class Max:
    """The largest value seen (peak viewers of a channel or of its time in one game)."""

    value: int = 0

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def add(self, value: int) -> None:
        if value > self.value:
            self.value = value

    def merge(self, other: Max) -> None:
        self.add(other.value)


@dataclass(slots=True)
class PeakAt:
    """The largest value and when it was first reached (earliest on ties)."""

    value: int = -1
    at: int = -1

    def __init__(self, value: int = -1, at: int = -1) -> None:
        self.value, self.at = value, at

    def add(self, value: int, t: int) -> None:
        if value > self.value or (value == self.value and t < self.at):
            self.value, self.at = value, t

    def merge(self, other: PeakAt) -> None:
        self.add(other.value, other.at)


@dataclass(slots=True)
class Span:
    """First and last sample time, and how many samples."""

    first: int = -1
    last: int = -1
    samples: int = 0

    def __init__(self, first: int = -1, last: int = -1, samples: int = 0) -> None:
        self.first, self.last, self.samples = first, last, samples

    def add(self, t: int) -> None:
        if self.first < 0 or t < self.first:
            self.first = t
        if t > self.last:
            self.last = t
        self.samples += 1

    def merge(self, other: Span) -> None:
        if other.samples:
            if self.first < 0 or other.first < self.first:
                self.first = other.first
            if other.last > self.last:
                self.last = other.last
            self.samples += other.samples


# What a `Latest` holds: a name, or a few values read together (a tuple). Declared this way
# rather than as a generic class (which mypyc cannot compile), and precise enough for msgspec
# to give a snapshot's tuples back as tuples.
LatestValue = Union[str, tuple[Any, ...], None]


@dataclass(slots=True)
class Latest:
    """The value at the newest time (ties: the one seen last): names, a stream's profile."""

    value: LatestValue = None
    t: int = -1

    def __init__(self, value: LatestValue = None, t: int = -1) -> None:
        self.value, self.t = value, t

    def add(self, value: LatestValue, t: int) -> None:
        if t >= self.t:
            self.value, self.t = value, t

    def merge(self, other: Latest) -> None:
        if other.value is not None:
            self.add(other.value, other.t)

    def text(self) -> str:
        """The value as a name ("" before any)."""
        return self.value if isinstance(self.value, str) else ""

    def values(self) -> tuple[Any, ...]:
        """The value as the values read together (() before any)."""
        return self.value if isinstance(self.value, tuple) else ()


@dataclass(slots=True)
class Distinct:
    """Distinct ids (channels, new streams). Within a chunk key only: keys hold disjoint
    channels and streams, so across keys the counts add (`Sum`)."""

    items: Optional[set[str]] = None  # made on the first add: most game shares never get one

    def __init__(self, items: Optional[set[str]] = None) -> None:
        self.items = items

    def add(self, item: str) -> None:
        if self.items is None:
            self.items = {item}
        else:
            self.items.add(item)

    def merge(self, other: Distinct) -> None:
        if other.items:
            if self.items is None:
                self.items = set(other.items)
            else:
                self.items |= other.items

    def count(self) -> int:
        return len(self.items) if self.items else 0


@dataclass(slots=True)
class PollTotal:
    """One game or language at one poll: concurrent viewers and channels (and a game's name
    as this poll shows it)."""

    viewers: int = 0
    channels: int = 0
    name: str = ""

    def __init__(self, viewers: int = 0, channels: int = 0, name: str = "") -> None:
        self.viewers, self.channels, self.name = viewers, channels, name

    def add(self, viewers: int, name: str = "") -> None:
        self.viewers += viewers
        self.channels += 1
        self.name = name

    def merge(self, other: PollTotal) -> None:
        self.viewers += other.viewers
        self.channels += other.channels


@dataclass(slots=True)
class PollPeaks:
    """Per-poll totals of a group over a window: peak viewers (earliest poll on ties) and
    peak channels, each the max over polls of the group's sum at that poll."""

    polls: dict[int, PollTotal] = field(default_factory=dict)

    def __init__(self, polls: Optional[dict[int, PollTotal]] = None) -> None:
        self.polls = {} if polls is None else polls

    def add(self, t: int, viewers: int, channels: int) -> None:
        total = self.polls.get(t)
        if total is None:
            self.polls[t] = PollTotal(viewers, channels)
        else:
            total.viewers += viewers
            total.channels += channels

    def merge(self, other: PollPeaks) -> None:
        for t, total in other.polls.items():
            self.add(t, total.viewers, total.channels)

    def peak(self) -> tuple[int, int]:
        """(peak_viewers, peak_at)."""
        best = PeakAt()
        for t, total in self.polls.items():
            best.add(total.viewers, t)
        return best.value, best.at

    def peak_channels(self) -> int:
        return max(total.channels for total in self.polls.values())


# --- the aggregates, within one chunk key ------------------------------------------------

@dataclass(slots=True)
class GameShare:
    """A stream's (or, merged, a channel's) samples in one game within a window: the main
    game, the game's sums and its top channels are made from these."""

    totals: Totals = field(default_factory=Totals)
    peak: Max = field(default_factory=Max)
    name: Latest = field(default_factory=Latest)
    new_streams: Distinct = field(default_factory=Distinct)

    def __init__(self, totals: Optional[Totals] = None, peak: Optional[Max] = None, name: Optional[Latest] = None,
                 new_streams: Optional[Distinct] = None) -> None:
        self.totals = Totals() if totals is None else totals
        self.peak = Max() if peak is None else peak
        self.name = Latest() if name is None else name
        self.new_streams = Distinct() if new_streams is None else new_streams

    def add(self, t: int, viewers: int, delta: int, name: str) -> None:
        self.totals.add(viewers, delta)
        self.peak.add(viewers)
        self.name.add(name, t)

    def merge(self, other: GameShare) -> None:
        self.totals.merge(other.totals)
        self.peak.merge(other.peak)
        self.name.merge(other.name)
        self.new_streams.merge(other.new_streams)


def main_game(games: dict[str, GameShare]) -> tuple[str, str]:
    """(game_id, name) with the most air time; on ties the one seen last."""
    game_id, share = max(games.items(), key=lambda kv: (kv[1].totals.air, kv[1].name.t))
    return game_id, share.name.text()


@dataclass(slots=True)
class StreamAggregate:
    """One broadcast (stream id) within a window: STREAM_WINDOWS, and the channel's share.

    Nearly every broadcast stays in one game for a window. While it does, its game share is
    the stream's own totals and peak, so only the game (`game_id`, `game_name`, `new`: some
    sample started in the window) is kept, and `games` stays None: a GameShare with its four
    metrics and a dict for each of 250k streams were ~130 MiB of the processor (issue 25).
    When a second game appears, the first game's share so far is split out into `games`, and
    from then on every sample goes to its game's share there. A stream written by an earlier
    processor (its `games` always filled) reads as one already split."""

    user_id: str = ""
    totals: Totals = field(default_factory=Totals)
    peak: PeakAt = field(default_factory=PeakAt)
    span: Span = field(default_factory=Span)
    profile: Latest = field(default_factory=Latest)  # a `Profile`, at the stream's last sample
    games: Optional[dict[str, GameShare]] = None  # None while the stream has had one game
    game_id: str = ""     # that one game, its name at the last sample, and whether a sample
    game_name: str = ""   # counted the stream as new (started in the window)
    new: bool = False

    def __init__(self, user_id: str = "", totals: Optional[Totals] = None, peak: Optional[PeakAt] = None,
                 span: Optional[Span] = None, profile: Optional[Latest] = None,
                 games: Optional[dict[str, GameShare]] = None, game_id: str = "", game_name: str = "",
                 new: bool = False) -> None:
        self.user_id = user_id
        self.totals = Totals() if totals is None else totals
        self.peak = PeakAt() if peak is None else peak
        self.span = Span() if span is None else span
        self.profile = Latest() if profile is None else profile
        self.games = games or None
        self.game_id, self.game_name, self.new = game_id, game_name, new

    def add(self, t: int, viewers: int, delta: int, game_id: str, game_name: str, profile: Profile,
            stream_id: str, is_new: bool) -> None:
        """Credit one sample (a stream's samples come in time order: Δ needs it)."""
        games = self.games
        if games is None and self.span.samples and game_id != self.game_id:
            games = self.games = {self.game_id: self._single_share(stream_id)}
        self.totals.add(viewers, delta)
        self.peak.add(viewers, t)
        self.span.add(t)
        self.profile.add(profile, t)
        if games is None:
            self.game_id, self.game_name = game_id, game_name
            if is_new:
                self.new = True
            return
        share = games.get(game_id)
        if share is None:
            share = games[game_id] = GameShare()
        share.add(t, viewers, delta, game_name)
        if is_new:
            share.new_streams.add(stream_id)

    def _single_share(self, stream_id: str) -> GameShare:
        """The one game's share so far: the stream's own sums, peak and newest name."""
        return GameShare(Totals(self.totals.watch, self.totals.air), Max(self.peak.value),
                         Latest(self.game_name, self.span.last), Distinct({stream_id}) if self.new else Distinct())

    def main_game(self) -> tuple[str, str]:
        """(game_id, name) of the stream's main game (`main_game`)."""
        return main_game(self.games) if self.games is not None else (self.game_id, self.game_name)

    def game_count(self) -> int:
        return len(self.games) if self.games is not None else 1


@dataclass(slots=True)
class ChannelAggregate:
    """One channel within a window, merged from its broadcasts (a channel lives in one key,
    so this is its whole window): CHANNEL_WINDOWS, and its per-game shares."""

    who: Latest = field(default_factory=Latest)  # (login, name) at the channel's last sample
    totals: Totals = field(default_factory=Totals)
    peak: Max = field(default_factory=Max)
    games: dict[str, GameShare] = field(default_factory=dict)

    def __init__(self, who: Optional[Latest] = None, totals: Optional[Totals] = None, peak: Optional[Max] = None,
                 games: Optional[dict[str, GameShare]] = None) -> None:
        self.who = Latest() if who is None else who
        self.totals = Totals() if totals is None else totals
        self.peak = Max() if peak is None else peak
        self.games = {} if games is None else games

    def absorb(self, stream_id: str, stream: StreamAggregate) -> None:
        profile = stream.profile.values()
        if profile:
            self.who.add((profile[0], profile[1]), stream.profile.t)
        self.totals.merge(stream.totals)
        self.peak.add(stream.peak.value)
        if stream.games is None:  # one game: its share is the stream's own (no share made to merge)
            if stream.span.samples:
                mine = self.games.get(stream.game_id)
                if mine is None:
                    mine = self.games[stream.game_id] = GameShare()
                mine.totals.merge(stream.totals)
                mine.peak.add(stream.peak.value)
                mine.name.add(stream.game_name, stream.span.last)
                if stream.new:
                    mine.new_streams.add(stream_id)
            return
        for game_id, share in stream.games.items():
            mine = self.games.get(game_id)
            if mine is None:
                mine = self.games[game_id] = GameShare()
            mine.merge(share)


@dataclass(slots=True)
class GroupAggregate:
    """A language within a window and chunk key: its sums and distinct channels and new
    streams (a game's come from the channels' game shares instead)."""

    totals: Totals = field(default_factory=Totals)
    channels: Distinct = field(default_factory=Distinct)
    new_streams: Distinct = field(default_factory=Distinct)

    def __init__(self, totals: Optional[Totals] = None, channels: Optional[Distinct] = None,
                 new_streams: Optional[Distinct] = None) -> None:
        self.totals = Totals() if totals is None else totals
        self.channels = Distinct() if channels is None else channels
        self.new_streams = Distinct() if new_streams is None else new_streams


# --- across chunk keys (the window merge) ---------------------------------------------------

@dataclass(slots=True)
class GroupTotals:
    """A game or language within a window, summed over chunk keys (all additive)."""

    name: Latest = field(default_factory=Latest)
    totals: Totals = field(default_factory=Totals)
    channels: Sum = field(default_factory=Sum)
    new_streams: Sum = field(default_factory=Sum)
    polls: PollPeaks = field(default_factory=PollPeaks)

    def __init__(self, name: Optional[Latest] = None, totals: Optional[Totals] = None, channels: Optional[Sum] = None,
                 new_streams: Optional[Sum] = None, polls: Optional[PollPeaks] = None) -> None:
        self.name = Latest() if name is None else name
        self.totals = Totals() if totals is None else totals
        self.channels = Sum() if channels is None else channels
        self.new_streams = Sum() if new_streams is None else new_streams
        self.polls = PollPeaks() if polls is None else polls

    def add(self, name: str, name_t: int, watch: int, air: int, channels: int, new_streams: int,
            polls: Sequence[tuple[int, int, int]]) -> None:
        self.name.add(name, name_t)
        self.totals.merge(Totals(watch, air))
        self.channels.add(channels)
        self.new_streams.add(new_streams)
        for t, viewers, count in polls:
            self.polls.add(t, viewers, count)


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


def hours(ms: int) -> float:
    return ms / MS_PER_HOUR


def average_while_live(watch: int, air: int) -> Optional[float]:
    """CHANNEL_WINDOWS.avg_viewers: watch_hours / air_hours."""
    return watch / air if air else None


def per_window_hour(amount_ms: int, window_ms: int) -> float:
    """GAME_WINDOWS.avg_viewers / avg_channels: hours / (W in hours)."""
    return (amount_ms / MS_PER_HOUR) / (window_ms / MS_PER_HOUR)
