"""DESIGN §4 for one closed window: game rows, channel rows with the global rank, and each
game's top channels, computed once from the window's credited samples.

Sums are kept in integer viewer·milliseconds, so ranks compare exact integers and ties are
real ties; hours are derived by one division at the end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from pulse.events import format_ts
from pulse.outputs import ChannelWindow, GameWindow, TopChannel

MS_PER_HOUR = 3_600_000

# positions in a sample item (see samples.sample_record)
T, USER, LOGIN, NAME, GAME, GAME_NAME, STREAM, VIEWERS, DELTA, NEW = range(10)


def user_order(user_id: str) -> tuple[int, int | str]:
    """'Lower user_id first': numeric ids compare as numbers, anything else after, as text."""
    return (0, int(user_id)) if user_id.isdigit() else (1, user_id)


@dataclass
class _Game:
    name: str = ""
    name_t: int = -1
    watch: int = 0  # viewer·ms
    air: int = 0    # ms
    per_poll: dict[int, list[int]] = field(default_factory=dict)  # t -> [viewers, channels]
    users: set[str] = field(default_factory=set)
    new_streams: set[str] = field(default_factory=set)


@dataclass
class _Channel:
    login: str = ""
    name: str = ""
    last_t: int = -1
    watch: int = 0
    air: int = 0
    peak: int = 0
    # game_id -> [air ms, last t seen, watch, peak, game name]
    games: dict[str, list] = field(default_factory=dict)


def competition_ranks(values: Sequence[int]) -> list[int]:
    """rank = 1 + number of strictly greater values (ties share a rank)."""
    order = sorted(values, reverse=True)
    first_index: dict[int, int] = {}
    for index, value in enumerate(order):
        first_index.setdefault(value, index)
    return [first_index[v] + 1 for v in values]


def compute_window(items: Iterable[Sequence], start: int, window_ms: int, top_n: int
                   ) -> tuple[list[GameWindow], list[ChannelWindow], list[TopChannel]]:
    games: dict[str, _Game] = defaultdict(_Game)
    channels: dict[str, _Channel] = defaultdict(_Channel)
    for it in items:
        t, user, game_id, viewers, delta = it[T], it[USER], it[GAME], it[VIEWERS], it[DELTA]
        g = games[game_id]
        if t >= g.name_t:
            g.name, g.name_t = it[GAME_NAME], t
        g.watch += viewers * delta
        g.air += delta
        poll = g.per_poll.get(t)
        if poll is None:
            g.per_poll[t] = [viewers, 1]
        else:
            poll[0] += viewers
            poll[1] += 1
        g.users.add(user)
        if it[NEW]:
            g.new_streams.add(it[STREAM])

        c = channels[user]
        if t >= c.last_t:
            c.login, c.name, c.last_t = it[LOGIN], it[NAME], t
        c.watch += viewers * delta
        c.air += delta
        c.peak = max(c.peak, viewers)
        cg = c.games.get(game_id)
        if cg is None:
            c.games[game_id] = [delta, t, viewers * delta, viewers, it[GAME_NAME]]
        else:
            cg[0] += delta
            cg[3] = max(cg[3], viewers)
            cg[2] += viewers * delta
            if t >= cg[1]:
                cg[1], cg[4] = t, it[GAME_NAME]

    ws, we = format_ts(start), format_ts(start + window_ms)
    window_hours = window_ms / MS_PER_HOUR

    game_ids = list(games)
    game_ranks = competition_ranks([games[g].watch for g in game_ids])
    game_rows: list[GameWindow] = []
    for game_id, rank in zip(game_ids, game_ranks):
        g = games[game_id]
        # max viewers; on ties the earliest poll
        peak_t, (peak_viewers, _) = min(g.per_poll.items(), key=lambda kv: (-kv[1][0], kv[0]))
        watch_h, air_h = g.watch / MS_PER_HOUR, g.air / MS_PER_HOUR
        game_rows.append(GameWindow(
            window_start=ws, window_end=we, game_id=game_id, game_name=g.name,
            watch_hours=watch_h, air_hours=air_h,
            avg_viewers=watch_h / window_hours, avg_channels=air_h / window_hours,
            peak_viewers=peak_viewers, peak_at=format_ts(peak_t),
            peak_channels=max(c for _, c in g.per_poll.values()),
            unique_channels=len(g.users), new_streams=len(g.new_streams), rank=rank,
        ))

    user_ids = list(channels)
    channel_ranks = competition_ranks([channels[u].watch for u in user_ids])
    channel_rows: list[ChannelWindow] = []
    in_game: dict[str, list[tuple[int, str, list]]] = defaultdict(list)
    for user_id, rank in zip(user_ids, channel_ranks):
        c = channels[user_id]
        # the game with the most air time; on ties the one seen last
        main_game, main = max(c.games.items(), key=lambda kv: (kv[1][0], kv[1][1]))
        channel_rows.append(ChannelWindow(
            window_start=ws, window_end=we, user_id=user_id, user_login=c.login, user_name=c.name,
            game_id=main_game, game_name=main[4],
            watch_hours=c.watch / MS_PER_HOUR, air_hours=c.air / MS_PER_HOUR,
            avg_viewers=(c.watch / c.air) if c.air else None,  # type: ignore[typeddict-item]
            peak_viewers=c.peak, rank=rank,
        ))
        for game_id, stats in c.games.items():
            in_game[game_id].append((stats[2], user_id, stats))

    top_rows: list[TopChannel] = []
    for game_id, entries in in_game.items():
        entries.sort(key=lambda e: (-e[0], user_order(e[1])))
        for rank, (watch, user_id, stats) in enumerate(entries[:top_n], start=1):
            c = channels[user_id]
            top_rows.append(TopChannel(
                window_start=ws, window_end=we, game_id=game_id, game_name=games[game_id].name, rank=rank,
                user_id=user_id, user_login=c.login, user_name=c.name,
                watch_hours=watch / MS_PER_HOUR, air_hours=stats[0] / MS_PER_HOUR, peak_viewers=stats[3],
            ))
    return game_rows, channel_rows, top_rows


def poll_totals(items: Iterable[Sequence]) -> dict[str, list]:
    """Per game at one poll: [concurrent viewers, channels, game name] (for game_surge)."""
    totals: dict[str, list] = {}
    for it in items:
        entry = totals.get(it[GAME])
        if entry is None:
            totals[it[GAME]] = [it[VIEWERS], 1, it[GAME_NAME]]
        else:
            entry[0] += it[VIEWERS]
            entry[1] += 1
    return totals
