"""The records the processor's stages send each other over its internal topics, and the one
place that turns them into bytes and back.

    stage 1 (per chunk key) ── WindowPartial ──► twitch.processor.partials  (key: window start)
                            ── GamePoll ───────► twitch.processor.game_polls (key: "games")

A `WindowPartial` is what one chunk key knows of a closed window: a complete row per channel
(a channel lives in one key), additive per-game sums and per-poll totals, and each game's top
channel candidates. A key with many channels sends its partial in several parts, each far
below Kafka's message limit. A `GamePoll` is one key's per-game concurrent viewers at one poll.
On the wire each record is a JSON array in field order (compact, and the order is this file's).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

MAX_PART_BYTES = 400_000  # a partial part stays far below the 1 MB message limit


class ChannelPartial(NamedTuple):
    user_id: str
    user_login: str
    user_name: str
    game_id: str     # the game with the most air time (ties: seen last)
    game_name: str
    watch: int       # viewer·ms
    air: int         # ms
    peak: int


class GamePartial(NamedTuple):
    game_id: str
    game_name: str
    name_t: int      # when that name was seen (the newest name wins across keys)
    watch: int
    air: int
    channels: int    # distinct user_id in this key
    new_streams: int # distinct stream_id started in the window, in this key
    polls: list      # [[t, viewers, channels], ...]


class TopCandidate(NamedTuple):
    game_id: str
    user_id: str
    watch: int       # within that game only
    air: int
    peak: int


class WindowPartial(NamedTuple):
    start: int
    key: int
    keys: int
    part: int
    parts: int
    channels: list   # ChannelPartial
    games: list      # GamePartial
    top: list        # TopCandidate


class GameAtPoll(NamedTuple):
    game_id: str
    game_name: str
    viewers: int


class GamePoll(NamedTuple):
    t: int
    key: int
    keys: int
    games: list      # GameAtPoll


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(record: NamedTuple) -> bytes:
    return orjson.dumps(record, default=_plain)


def decode_window_partial(value: bytes) -> WindowPartial:
    start, key, keys, part, parts, channels, games, top = orjson.loads(value)
    return WindowPartial(start, key, keys, part, parts, [ChannelPartial(*c) for c in channels],
                         [GamePartial(*g) for g in games], [TopCandidate(*c) for c in top])


def decode_game_poll(value: bytes) -> GamePoll:
    t, key, keys, games = orjson.loads(value)
    return GamePoll(t, key, keys, [GameAtPoll(*g) for g in games])


def split_partial(start: int, key: int, keys: int, channels: list[ChannelPartial], games: list[GamePartial],
                  top: list[TopCandidate]) -> list[bytes]:
    """One key's partial of a window as encoded parts, each below MAX_PART_BYTES. Each record is
    encoded once; a part is its records' bytes joined as `encode(WindowPartial)` would write them."""
    groups: list[tuple[list[bytes], list[bytes], list[bytes]]] = [([], [], [])]
    size = 0
    kinds: tuple[list[Any], list[Any], list[Any]] = (channels, games, top)
    for index, records in enumerate(kinds):
        for record in records:
            data = encode(record)
            if size + len(data) > MAX_PART_BYTES and any(groups[-1]):
                groups.append(([], [], []))
                size = 0
            groups[-1][index].append(data)
            size += len(data) + 1
    return [b"[%d,%d,%d,%d,%d,[%s],[%s],[%s]]" % (start, key, keys, part, len(groups), b",".join(c), b",".join(g),
                                                 b",".join(t))
            for part, (c, g, t) in enumerate(groups)]
