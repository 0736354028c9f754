"""Stage 1, per chunk key: credit every sample of a chunk with its Δ, raise channel alerts,
add the sample to its window's aggregates, and hand closed windows and complete polls on.

A chunk key's poll is complete when every producer shard has delivered all `parts` of it;
the key's watermark is the oldest of its shards' newest complete polls (a shard that sent
`final` chunks counts as infinitely far, until it sends an ordinary newer poll again). When
the watermark passes a window (the same rule as `ProcessorConfig.window_complete`), the key
emits that window's STREAM_WINDOWS rows (a broadcast lives in one key, so its row is
complete here) and hands its partial of the window to the merge; every poll at or before
the watermark goes to game_surge. A sample whose window was already handed on is late:
counted, not credited (it still counts as its stream's previous sample, as §4 says).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from pulse.events import bucket_of, format_ts, parse_ts
from pulse.outputs import StreamWindow, key_of
from pulse.schema import Chunk

from . import metrics
from .aggregations import (
    ChannelAggregate,
    GroupAggregate,
    PollTotal,
    StreamAggregate,
    Totals,
    credited_ms,
    first_previous,
    hours,
    main_game,
    started_in_window,
    top_n,
)
from .alerts import channel_alerts, quiet_below_viewers, remember
from .config import FINAL_WATERMARK, ProcessorConfig
from .keystate import ChannelState, KeyState, OpenWindow, PollGroups, ShardProgress, StreamMemo
from .records import ChannelPartial, GameAtPoll, GamePoll, GroupPartial, TopCandidate, encode, split_partial
from .routing import ALERTS, GAME_POLLS, PARTIALS, STREAMS, Output

# Stream ids are remembered this long after their last sample: a broadcast lasts at most 48 h,
# and a stream seen again after a gap is credited min(gap, cap), so its last t matters.
STREAM_MEMORY_MS = 50 * 3600 * 1000
GAME_POLLS_KEY = "games"  # game_surge needs every poll of every key in order: one key


@dataclass
class ChunkStats:
    accepted: int = 0
    duplicate: int = 0
    late: int = 0
    invalid: int = 0
    alerts: int = 0
    reordered: int = 0          # samples of a chunk that came after a newer complete poll of its shard
    reordered_after: int = -1   # that newer poll (for the log line)


def watermark(state: KeyState) -> Optional[int]:
    """The newest poll every expected producer shard has completed in this key (None: not yet)."""
    if len(state.shards) < state.shards_expected:
        return None
    low: Optional[int] = None
    for shard in state.shards.values():
        mark = FINAL_WATERMARK if shard.final else shard.done
        if mark is None:
            return None
        low = mark if low is None or mark < low else low
    return low


def _window_closed(cfg: ProcessorConfig, state: KeyState, start: int, mark: Optional[int]) -> bool:
    if state.closed_through is not None and start <= state.closed_through:
        return True
    return mark is not None and (mark >= FINAL_WATERMARK or cfg.window_complete(start, mark))


def process_chunk(cfg: ProcessorConfig, state: KeyState, chunk: Chunk, reject) -> tuple[list[Output], ChunkStats]:
    """One valid chunk of this key, its streams `pulse.schema.Stream`s (None: rejected when
    decoded). `reject(sample, index, reason)` dead-letters one the stage itself refuses."""
    out: list[Output] = []
    stats = ChunkStats()
    t = parse_ts(chunk.captured_at)
    state.shards_expected = chunk.shards
    shard = state.shards.get(chunk.producer)
    if shard is None:
        shard = state.shards[chunk.producer] = ShardProgress()
    if chunk.final:
        if shard.done is None or t >= shard.done:
            shard.done, shard.final = t, True
        return out + advance(cfg, state, chunk), stats
    if shard.done is not None and t <= shard.done:
        # Reordered (or repeated) input: the shard already completed this poll or a newer one
        # here, so its samples could only be credited with the wrong Δ. The producer keeps
        # order (producers/emitter.py); should anything upstream break it, the chunk is
        # dropped and counted, never half-applied.
        stats.reordered = sum(1 for stream in chunk.streams if stream is not None)
        stats.reordered_after = shard.done
        return out, stats
    if shard.final:
        shard.final = False  # live polling after a backfill: an ordinary shard again
    state.newest = t if state.newest is None or t > state.newest else state.newest

    start = cfg.window_start(t)
    window: Optional[OpenWindow] = None
    polls: Optional[PollGroups] = None
    if not _window_closed(cfg, state, start, watermark(state)):
        window = state.windows.get(start)
        if window is None:
            window = state.windows[start] = OpenWindow()
        polls = window.polls.get(t)
        if polls is None:
            polls = window.polls[t] = PollGroups()
    if chunk.streams:
        _samples(cfg, state, chunk, t, window, polls, start, reject, out, stats)

    parts = shard.pending.get(t)
    if parts is None:
        parts = shard.pending[t] = []
    if chunk.part not in parts:  # a part delivered twice counts once
        parts.append(chunk.part)
    if len(parts) >= chunk.parts:
        del shard.pending[t]
        shard.done = t
    out.extend(advance(cfg, state, chunk))
    return out, stats


def _samples(cfg: ProcessorConfig, state: KeyState, chunk: Chunk, t: int, window: Optional[OpenWindow],
             polls: Optional[PollGroups], start: int, reject, out: list[Output], stats: ChunkStats) -> None:
    interval, cap, window_ms = cfg.interval_ms, cfg.cap_ms, cfg.window_ms
    quiet_below, baseline_ms = quiet_below_viewers(cfg), cfg.baseline_ms
    channels = state.channels
    key, keys = chunk.key, chunk.keys
    for index, stream in enumerate(chunk.streams):
        if stream is None:
            continue  # rejected when the chunk was decoded (pulse.events.decode_streams)
        user = stream.user_id
        channel = channels.get(user)
        if channel is None and bucket_of(user, keys) != key:  # (a known channel was checked before)
            reject(stream, index, "stream is not in its channel's chunk key")
            stats.invalid += 1
            continue
        stream_id, started_at = stream.stream_id, stream.started_at
        memo = channel.streams.get(stream_id) if channel is not None else None
        if memo is not None and memo.started_at == started_at:
            started_ms = memo.started_ms
        else:
            try:
                started_ms = parse_ts(started_at)
            except ValueError:
                reject(stream, index, "field started_at is not an RFC 3339 timestamp")
                stats.invalid += 1
                continue
        if memo is None:
            prev = first_previous(started_ms, t, interval)
        elif t <= memo.last_t:
            stats.duplicate += 1  # a duplicate or out-of-order sample: dropped, not credited
            continue
        else:
            prev = memo.last_t
        delta = credited_ms(t, prev, cap)
        if channel is None:
            channel = channels[user] = ChannelState()
        if memo is None:
            channel.streams[stream_id] = StreamMemo(t, started_at, started_ms)
            if len(channel.streams) > 1:
                for old in [sid for sid, m in channel.streams.items() if m.last_t < t - STREAM_MEMORY_MS]:
                    del channel.streams[old]
        else:
            memo.last_t, memo.started_at, memo.started_ms = t, started_at, started_ms
        if t > channel.last_t:
            channel.last_t = t
        viewers = stream.viewer_count
        if viewers < quiet_below:
            remember(channel.history, t, viewers, baseline_ms)  # what channel_alerts does for these
        else:
            for alert in channel_alerts(cfg, channel.history, channel.cooldowns, stream, t):
                out.append(Output(ALERTS, alert.alert_id, alert))
                stats.alerts += 1
        if window is None or polls is None:
            stats.late += 1
            continue
        game_id, game_name, language = stream.game_id, stream.game_name, stream.language
        aggregate = window.streams.get(stream_id)
        if aggregate is None:
            aggregate = window.streams[stream_id] = StreamAggregate(user)
        is_new = started_in_window(started_ms, start, window_ms)
        aggregate.add(t, viewers, delta, game_id, game_name,
                      (stream.user_login, stream.user_name, stream.title, language, stream.is_mature, started_ms),
                      stream_id, is_new)
        group = window.languages.get(language)
        if group is None:
            group = window.languages[language] = GroupAggregate()
        group.totals.add(viewers, delta)
        group.channels.add(user)
        if is_new:
            group.new_streams.add(stream_id)
        at_poll = polls.games.get(game_id)
        if at_poll is None:
            at_poll = polls.games[game_id] = PollTotal()
        at_poll.add(viewers, game_name)
        in_language = polls.languages.get(language)
        if in_language is None:
            in_language = polls.languages[language] = PollTotal()
        in_language.add(viewers)
        stats.accepted += 1


def advance(cfg: ProcessorConfig, state: KeyState, chunk: Chunk) -> list[Output]:
    """Hand on every poll and every window the watermark has passed, oldest first."""
    mark = watermark(state)
    if mark is None:
        return []
    out: list[Output] = []
    ready = sorted(t for window in state.windows.values() for t in window.polls
                   if t <= mark and (state.reported_through is None or t > state.reported_through))
    for t in ready:
        groups = state.windows[cfg.window_start(t)].polls[t]
        record = GamePoll(t, chunk.key, chunk.keys,
                          [GameAtPoll(gid, p.name, p.viewers) for gid, p in sorted(groups.games.items())])
        out.append(Output(GAME_POLLS, GAME_POLLS_KEY, encode(record)))
        state.reported_through = t
    for start in sorted(state.windows):
        if not (mark >= FINAL_WATERMARK or cfg.window_complete(start, mark)):
            break
        window = state.windows.pop(start)
        if window.legacy_channels is None:
            out.extend(stream_rows(cfg, start, window))
        for part in window_partial(cfg, start, window, chunk.key, chunk.keys):
            out.append(Output(PARTIALS, str(start), part))
        state.closed_through = start if state.closed_through is None else max(state.closed_through, start)
        forget_channels(state, cfg)
    return out


def stream_rows(cfg: ProcessorConfig, start: int, window: OpenWindow) -> list[Output]:
    """STREAM_WINDOWS: every broadcast of this key in the window, complete here."""
    ws, we = format_ts(start), format_ts(start + cfg.window_ms)
    rows: list[Output] = []
    for stream_id, agg in window.streams.items():
        login, name, title, language, is_mature, started_ms = agg.profile.values()  # every stream has a sample
        game_id, game_name = agg.main_game()
        row = StreamWindow(
            window_start=ws, window_end=we, stream_id=stream_id, user_id=agg.user_id, user_login=login,
            user_name=name, started_at=format_ts(started_ms), game_id=game_id, game_name=game_name,
            games=agg.game_count(), title=title, language=language, is_mature=is_mature,
            watch_hours=hours(agg.totals.watch), air_hours=hours(agg.totals.air), peak_viewers=agg.peak.value,
            peak_at=format_ts(agg.peak.at), first_seen=format_ts(agg.span.first), last_seen=format_ts(agg.span.last),
            samples=agg.span.samples)
        rows.append(Output(STREAMS, key_of(row), row))
    metrics.WINDOWS.labels("streams").inc(len(rows))
    return rows


Channel = Union[ChannelAggregate, StreamAggregate]  # see channel_aggregates


def channel_aggregates(window: OpenWindow) -> tuple[dict[str, Channel], dict[str, str]]:
    """The window's channels, each merged from its broadcasts (and, for a window that was
    open when its state was written in format 1, from what that state held), and for a channel
    with a single broadcast in a single game, that broadcast's own aggregate and stream id: its
    sums are the channel's, and nearly every channel is one, so no ChannelAggregate and
    GameShare (ten objects) is made and read for it."""
    channels: dict[str, Channel] = dict(window.legacy_channels or {})
    single: dict[str, str] = {}  # user_id -> the stream id of a channel that is one StreamAggregate
    for stream_id, agg in window.streams.items():
        user = agg.user_id
        channel = channels.get(user)
        if channel is None and agg.games is None and agg.span.samples:
            channels[user], single[user] = agg, stream_id
            continue
        if channel is None:
            channel = channels[user] = ChannelAggregate()
        elif isinstance(channel, StreamAggregate):  # a second broadcast: merge the first one after all
            first = ChannelAggregate()
            first.absorb(single.pop(user), channel)
            channel = channels[user] = first  # (the channel keeps its place in the order)
        channel.absorb(stream_id, agg)
    return channels, single


def _credit_game(games: dict[str, GroupAggregate], candidates: dict[str, list[TopCandidate]], game_id: str,
                 user: str, totals: Totals, peak: int) -> GroupAggregate:
    """A channel's share of one game: into the game's sums and its top candidates. Returns the
    game's sums, for the caller's new streams."""
    sums = games.get(game_id)
    if sums is None:
        sums = games[game_id] = GroupAggregate()
    sums.totals.merge(totals)
    sums.channels.add(user)
    candidates.setdefault(game_id, []).append(TopCandidate(game_id, user, totals.watch, totals.air, peak))
    return sums


def window_partial(cfg: ProcessorConfig, start: int, window: OpenWindow, key: int, keys: int) -> list[bytes]:
    """This key's share of a closed window, in parts (see processors/records.py)."""
    channel_rows: list[ChannelPartial] = []
    games: dict[str, GroupAggregate] = {}
    candidates: dict[str, list[TopCandidate]] = {}
    channels, single = channel_aggregates(window)
    for user, channel in channels.items():
        if isinstance(channel, StreamAggregate):  # one broadcast in one game: what absorb would make of it
            profile = channel.profile.values()
            login, name = (profile[0], profile[1]) if profile else ("", "")
            game_id, watch, air = channel.game_id, channel.totals.watch, channel.totals.air
            peak = max(0, channel.peak.value)  # a channel's peak (`Max`) starts at 0, a stream's at -1
            channel_rows.append(ChannelPartial(user, login, name, game_id, channel.game_name, watch, air, peak))
            sums = _credit_game(games, candidates, game_id, user, channel.totals, peak)
            if channel.new:
                sums.new_streams.add(single[user])
            continue
        main_id, main_name = main_game(channel.games)
        login, name = channel.who.values() or ("", "")
        channel_rows.append(ChannelPartial(user, login, name, main_id, main_name, channel.totals.watch,
                                           channel.totals.air, channel.peak.value))
        for game_id, share in channel.games.items():
            _credit_game(games, candidates, game_id, user, share.totals, share.peak.value).new_streams.merge(
                share.new_streams)
    game_names: dict[str, tuple[str, int]] = {}
    game_polls: dict[str, list[tuple[int, int, int]]] = {}
    language_polls: dict[str, list[tuple[int, int, int]]] = {}
    for t in sorted(window.polls):
        groups = window.polls[t]
        for game_id, at_poll in groups.games.items():
            game_names[game_id] = (at_poll.name, t)
            game_polls.setdefault(game_id, []).append((t, at_poll.viewers, at_poll.channels))
        for language, at_poll in groups.languages.items():
            language_polls.setdefault(language, []).append((t, at_poll.viewers, at_poll.channels))
    game_rows = [GroupPartial(gid, game_names[gid][0], game_names[gid][1], g.totals.watch, g.totals.air,
                              g.channels.count(), g.new_streams.count(), game_polls[gid]) for gid, g in games.items()]
    language_rows = [] if window.legacy_channels is not None else [
        GroupPartial(language, "", 0, g.totals.watch, g.totals.air, g.channels.count(), g.new_streams.count(),
                     language_polls[language]) for language, g in window.languages.items()]
    top: list[TopCandidate] = []
    for entries in candidates.values():
        top.extend(top_n(entries, cfg.top_n))
    return split_partial(start, key, keys, channel_rows, game_rows, top, language_rows)


def forget_channels(state: KeyState, cfg: ProcessorConfig) -> None:
    """Channels with no sample for longer than anything about them matters (stream memory,
    cooldown) are dropped, so channel churn does not grow the state."""
    if state.newest is None:
        return
    horizon = state.newest - max(STREAM_MEMORY_MS, cfg.cooldown_ms)
    stale = [user for user, channel in state.channels.items() if channel.last_t < horizon]
    for user in stale:
        del state.channels[user]
