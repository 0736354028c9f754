"""Stage 2, per window: merge every chunk key's partial of a closed window into the rows of
DESIGN §4 (game and language rows with ranks, channel rows with the global rank, each game's
top N).

Partials never carry samples: a row per channel (complete, since a channel lives in one key),
additive per-game and per-language sums and per-poll totals, and at most N top candidates per
game and key, so the merge costs per channel, not per sample, and different windows merge on
different consumers (the internal topic is keyed by window start). Each part is stored as it
came (bytes, one state write) until all `keys` keys have sent all their parts; then the
window is merged once, its parts deleted, and a small `done` marker (with a TTL) remembers it.
The rows go straight to the application's transactional producer (`routing.produce_outputs`).

State keys, per window: `progress` (the `MergeProgress`) and `partial/<key>/<part>` (each
part as it came). A window begun by the processor before these names (`m`, `p:<key>:<part>`)
is read in those and finished in these.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterable, Iterator

from pulse.events import format_ts
from pulse.outputs import ChannelWindow, GameWindow, LanguageWindow, TopChannel, key_of

from . import metrics
from .aggregations import (
    GroupTotals,
    average_while_live,
    competition_ranks,
    hours,
    per_window_hour,
    top_n,
)
from .config import ProcessorConfig
from .records import ChannelPartial, GroupPartial, TopCandidate, WindowPartial, decode_window_partial
from .routing import CHANNELS, GAMES, LANGUAGES, TOP_CHANNELS, Output

log = logging.getLogger(__name__)
# Every record of a window's merge carries this TTL: a merged window is remembered this long
# (late parts are dropped), a window with no part for this long is forgotten, parts included.
# That its first write carries one also matters: Quix switches a store to TTL mode at its first
# write with a TTL, at once while the store is empty, but by re-stamping every record when not
# (0.5 s at the end of the first window's merge, in every fresh processor: issue 25).
DONE_TTL = timedelta(days=3)
PROGRESS_KEY = "progress"
_OLD_PROGRESS_KEY = "m"


def partial_key(key: str, part: int) -> str:
    return f"partial/{key}/{part}"


def _old_partial_key(key: str, part: int) -> str:
    return f"p:{key}:{part}"


@dataclass
class MergeProgress:
    keys: int = 0
    parts: dict[str, list[int]] = field(default_factory=dict)     # chunk key -> parts received (indexes)
    expected: dict[str, int] = field(default_factory=dict)        # chunk key -> parts expected
    done: bool = False
    old_names: bool = False  # parts stored under the names used before state format 2

    def complete(self) -> bool:
        return len(self.expected) == self.keys and all(len(self.parts[k]) == n for k, n in self.expected.items())


def _load(state: Any) -> MergeProgress:
    raw = state.get(PROGRESS_KEY)
    if raw:
        return MergeProgress(**raw)
    old = state.get(_OLD_PROGRESS_KEY)
    if old:  # a window begun before state format 2
        state.delete(_OLD_PROGRESS_KEY)
        return MergeProgress(keys=old.get("keys", 0), parts=old.get("parts", {}), expected=old.get("of", {}),
                             done=old.get("done", False), old_names=True)
    return MergeProgress()


def _save(state: Any, progress: MergeProgress) -> None:
    if progress.done:
        state.set(PROGRESS_KEY, {"done": True}, ttl=DONE_TTL)
    else:
        state.set(PROGRESS_KEY, {"keys": progress.keys, "parts": progress.parts, "expected": progress.expected,
                                 "done": False, "old_names": progress.old_names}, ttl=DONE_TTL)


def on_partial(cfg: ProcessorConfig, value: bytes, state: Any) -> Iterable[Output]:
    partial = decode_window_partial(value)
    progress = _load(state)
    if progress.done:
        metrics.DROPPED.labels("late").inc()
        log.warning("partial of window %s from key %d after the window was merged; dropped",
                    format_ts(partial.start), partial.key)
        return []
    key = str(partial.key)
    progress.keys = partial.keys
    received = progress.parts.setdefault(key, [])
    if partial.part not in received:
        received.append(partial.part)
        state.set_bytes(partial_key(key, partial.part), value, ttl=DONE_TTL)
    progress.expected[key] = partial.parts
    if not progress.complete():
        _save(state, progress)
        return []
    began = time.perf_counter()
    parts: list[WindowPartial] = []
    for k, indexes in progress.parts.items():
        for index in indexes:
            stored = state.get_bytes(partial_key(k, index))
            if stored is None and progress.old_names:
                stored = state.get_bytes(_old_partial_key(k, index))
                state.delete(_old_partial_key(k, index))
            parts.append(decode_window_partial(stored))
            state.delete(partial_key(k, index))
    _save(state, MergeProgress(done=True))
    metrics.WINDOWS_CLOSED.inc()
    metrics.LAST_WINDOW_END.set((partial.start + cfg.window_ms) / 1000)
    return _timed(merge_window(cfg, partial.start, parts), began)


def _timed(rows: Iterator[Output], began: float) -> Iterator[Output]:
    yield from rows
    metrics.ASSEMBLY.observe(time.perf_counter() - began)


def _group_totals(partials: Iterable[GroupPartial]) -> dict[str, GroupTotals]:
    groups: dict[str, GroupTotals] = {}
    for g in partials:
        totals = groups.get(g.group_id)
        if totals is None:
            totals = groups[g.group_id] = GroupTotals()
        totals.add(g.name, g.name_t, g.watch, g.air, g.channels, g.new_streams, g.polls)
    return groups


def merge_window(cfg: ProcessorConfig, start: int, partials: list[WindowPartial]) -> Iterator[Output]:
    """Every key's partial of one window -> the window's rows (DESIGN §4), made one at a time
    as they are produced, so a window of 250k channels never holds all its rows at once."""
    ws, we = format_ts(start), format_ts(start + cfg.window_ms)
    channels: list[ChannelPartial] = []
    candidates: dict[str, list[TopCandidate]] = {}
    for partial in partials:
        channels.extend(partial.channels)
        for c in partial.top:
            candidates.setdefault(c.game_id, []).append(c)
    games = _group_totals(g for partial in partials for g in partial.games)
    languages = _group_totals(g for partial in partials for g in partial.languages)

    game_ids = list(games)
    for game_id, rank in zip(game_ids, competition_ranks([games[g].totals.watch for g in game_ids])):
        total = games[game_id]
        peak_viewers, peak_at = total.polls.peak()
        game_row = GameWindow(
            window_start=ws, window_end=we, game_id=game_id, game_name=total.name.text(),
            watch_hours=hours(total.totals.watch), air_hours=hours(total.totals.air),
            avg_viewers=per_window_hour(total.totals.watch, cfg.window_ms),
            avg_channels=per_window_hour(total.totals.air, cfg.window_ms),
            peak_viewers=peak_viewers, peak_at=format_ts(peak_at), peak_channels=total.polls.peak_channels(),
            unique_channels=total.channels.total, new_streams=total.new_streams.total, rank=rank)
        yield Output(GAMES, key_of(game_row), game_row)

    names = list(languages)
    for language, rank in zip(names, competition_ranks([languages[n].totals.watch for n in names])):
        total = languages[language]
        peak_viewers, peak_at = total.polls.peak()
        language_row = LanguageWindow(
            window_start=ws, window_end=we, language=language,
            watch_hours=hours(total.totals.watch), air_hours=hours(total.totals.air),
            avg_viewers=per_window_hour(total.totals.watch, cfg.window_ms),
            avg_channels=per_window_hour(total.totals.air, cfg.window_ms),
            peak_viewers=peak_viewers, peak_at=format_ts(peak_at), peak_channels=total.polls.peak_channels(),
            unique_channels=total.channels.total, new_streams=total.new_streams.total, rank=rank)
        yield Output(LANGUAGES, key_of(language_row), language_row)

    channels_by_id: dict[str, ChannelPartial] = {}
    for channel, rank in zip(channels, competition_ranks([c.watch for c in channels])):
        channels_by_id[channel.user_id] = channel
        channel_row = ChannelWindow(
            window_start=ws, window_end=we, user_id=channel.user_id, user_login=channel.user_login,
            user_name=channel.user_name, game_id=channel.game_id, game_name=channel.game_name,
            watch_hours=hours(channel.watch), air_hours=hours(channel.air),
            avg_viewers=average_while_live(channel.watch, channel.air), peak_viewers=channel.peak, rank=rank)
        yield Output(CHANNELS, key_of(channel_row), channel_row)

    for game_id, entries in candidates.items():
        for rank, c in enumerate(top_n(entries, cfg.top_n), start=1):
            channel = channels_by_id[c.user_id]
            top_row = TopChannel(
                window_start=ws, window_end=we, game_id=game_id, game_name=games[game_id].name.text(),
                rank=rank, user_id=c.user_id, user_login=channel.user_login, user_name=channel.user_name,
                watch_hours=hours(c.watch), air_hours=hours(c.air), peak_viewers=c.peak)
            yield Output(TOP_CHANNELS, key_of(top_row), top_row)
    metrics.WINDOWS.labels("games").inc(len(games))
    metrics.WINDOWS.labels("languages").inc(len(languages))
    metrics.WINDOWS.labels("channels").inc(len(channels))
    metrics.WINDOWS.labels("top_channels").inc(sum(min(len(e), cfg.top_n) for e in candidates.values()))
    log.info("window %s merged: %d keys' partials, %d games, %d languages, %d channels", ws, len(partials),
             len(games), len(languages), len(channels))
