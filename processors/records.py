"""The records the processor's stages send each other over its internal topics, and the one
place that turns them into bytes and back.

    stage 1 (per chunk key) ── WindowPartial ──► twitch.processor.partials  (key: window start)
                            ── GamePoll ───────► twitch.processor.game_polls (key: "games")

A `WindowPartial` is what one chunk key knows of a closed window: a complete row per channel
(a channel lives in one key), additive per-game and per-language sums and per-poll totals,
and each game's top channel candidates. A key with many channels sends its partial in several parts, each far
below Kafka's message limit. A `GamePoll` is one key's per-game concurrent viewers at one poll.
On the wire each record is a JSON array in field order (compact, and the order is this file's);
msgspec encodes them and decodes them straight back into these structs, checking each field's
type: ~5x faster than orjson and a NamedTuple per record at full Twitch scale, where a window
merge reads 250k channel rows. msgspec structs cannot be compiled by mypyc, so this module
stays out of setup.py's hot modules (the code that builds and reads the records is compiled).
"""

from __future__ import annotations

from typing import Any

import msgspec

MAX_PART_BYTES = 400_000  # a partial part stays far below the 1 MB message limit


class _Record(msgspec.Struct, array_like=True, gc=False):
    """The records' common base (see the module doc for their wire form)."""


class ChannelPartial(_Record):
    user_id: str
    user_login: str
    user_name: str
    game_id: str     # the game with the most air time (ties: seen last)
    game_name: str
    watch: int       # viewer·ms
    air: int         # ms
    peak: int


class GroupPartial(_Record):
    """A game (or a language: `group_id` is the language, no name) in one key's share of a window."""

    group_id: str
    name: str
    name_t: int      # when that name was seen (the newest name wins across keys)
    watch: int
    air: int
    channels: int    # distinct user_id in this key
    new_streams: int # distinct stream_id started in the window, in this key
    polls: list[tuple[int, int, int]]  # (t, viewers, channels) of each poll


class TopCandidate(_Record):
    game_id: str
    user_id: str
    watch: int       # within that game only
    air: int
    peak: int


class WindowPartial(_Record):
    start: int
    key: int
    keys: int
    part: int
    parts: int
    channels: list[ChannelPartial]
    games: list[GroupPartial]
    top: list[TopCandidate]
    languages: list[GroupPartial] = []  # (absent from partials written before LANGUAGE_WINDOWS)


class GameAtPoll(_Record):
    game_id: str
    game_name: str
    viewers: int


class GamePoll(_Record):
    t: int
    key: int
    keys: int
    games: list[GameAtPoll]


_ENCODER = msgspec.json.Encoder()
_WINDOW_PARTIAL = msgspec.json.Decoder(WindowPartial)
_GAME_POLL = msgspec.json.Decoder(GamePoll)


def encode(record: _Record) -> bytes:
    return _ENCODER.encode(record)


def decode_window_partial(value: bytes) -> WindowPartial:
    return _WINDOW_PARTIAL.decode(value)


def decode_game_poll(value: bytes) -> GamePoll:
    return _GAME_POLL.decode(value)


def split_partial(start: int, key: int, keys: int, channels: list[ChannelPartial], games: list[GroupPartial],
                  top: list[TopCandidate], languages: list[GroupPartial]) -> list[bytes]:
    """One key's partial of a window as encoded parts, each below MAX_PART_BYTES. Each record is
    encoded once; a part is its records' bytes joined as `encode(WindowPartial)` would write them."""
    kinds: tuple[list[Any], ...] = (channels, games, top, languages)
    groups: list[tuple[list[bytes], ...]] = [tuple([] for _ in kinds)]
    size = 0
    for index, records in enumerate(kinds):
        for record in records:
            data = encode(record)
            if size + len(data) > MAX_PART_BYTES and any(groups[-1]):
                groups.append(tuple([] for _ in kinds))
                size = 0
            groups[-1][index].append(data)
            size += len(data) + 1
    return [b"[%d,%d,%d,%d,%d,[%s],[%s],[%s],[%s]]" % (start, key, keys, part, len(groups), b",".join(c),
                                                      b",".join(g), b",".join(t), b",".join(lang))
            for part, (c, g, t, lang) in enumerate(groups)]
