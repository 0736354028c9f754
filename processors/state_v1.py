"""Reads a chunk key's stage 1 state written in format 1 (before 2026-12: keys `v`, `s<i>`, `j<i>`),
once, into the format 2 `KeyState`; the processor then writes it back in format 2 and deletes
the old keys (`processors.keystate.KeyStateCache`).

Format 1 kept each open window per channel, not per broadcast, and no languages. What it
kept carries over exactly: stream memory, alert history and cooldowns, poll progress, and
each open window's channels and per-poll game totals (`OpenWindow.legacy_channels`), so
GAME_WINDOWS, CHANNEL_WINDOWS and GAME_TOP_CHANNELS stay exact across the upgrade. A window
open during the upgrade gets no STREAM_WINDOWS or LANGUAGE_WINDOWS rows (format 1 never had
their figures); every later window gets them.

Delete this module once no format 1 state can be left (every processor has run the new code
past one snapshot per key).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import msgspec
import orjson

from pulse.events import decode_streams, format_ts
from pulse.schema import Chunk

from .aggregations import ChannelAggregate, Distinct, GameShare, Latest, Max, PollTotal, Totals
from .alerts import new_history
from .keystate import ChannelState, KeyState, OpenWindow, PollGroups, ShardProgress, StreamMemo

TOKEN_KEY = "v"


class _Sample(msgspec.Struct, array_like=True, gc=False):
    """A format 1 journal sample: the eight fields stage 1 read then; the three it reads now
    besides (language, title, is_mature) were not kept."""

    user_id: str
    stream_id: str
    started_at: str
    viewer_count: int
    game_id: str
    game_name: str
    user_login: str
    user_name: str
    language: str = ""
    title: str = ""
    is_mature: bool = False


class _Chunk(msgspec.Struct, array_like=True, gc=False):
    poll_id: str
    producer: str
    shards: int
    key: int
    keys: int
    part: int
    parts: int
    final: bool
    captured_at_ms: int
    streams: list[_Sample]


_MSGPACK = msgspec.msgpack.Decoder(_Chunk)
_JSON = msgspec.json.Decoder(_Chunk)


def keys_of(state: Any) -> Optional[list[str]]:
    """The format 1 keys of this chunk key's state, or None when it has none."""
    token = state.get_bytes(TOKEN_KEY)
    if token is None:
        return None
    _, _, slices, journal = token.decode().split(":")
    return [TOKEN_KEY] + [f"s{i}" for i in range(int(slices))] + [f"j{i}" for i in range(int(journal))]


def read(state: Any, replay: Callable[[KeyState, Chunk], None]) -> Optional[KeyState]:
    """The format 1 state of this chunk key, its journal replayed by `replay` (None: there is none)."""
    keys = keys_of(state)
    if keys is None:
        return None
    snapshot = b"".join(state.get_bytes(k) for k in keys if k.startswith("s"))
    value = _decode_snapshot(snapshot) if snapshot else KeyState()
    for name in (k for k in keys if k.startswith("j")):
        entry = state.get_bytes(name)
        replay(value, decode_streams(entry)[0] if entry[:1] == b"{" else _journal_chunk(entry))
    for window in value.windows.values():
        if window.legacy_channels is None:
            window.legacy_channels = {}  # opened while replaying format 1 journal: no languages kept
    return value


def _journal_chunk(entry: bytes) -> Chunk:
    j = _JSON.decode(entry) if entry[:1] == b"[" else _MSGPACK.decode(entry)
    return Chunk(captured_at=format_ts(j.captured_at_ms), poll_id=j.poll_id, producer=j.producer, shards=j.shards,
                 key=j.key, keys=j.keys, part=j.part, parts=j.parts, final=j.final, streams=j.streams)


def _decode_snapshot(value: bytes) -> KeyState:
    raw = orjson.loads(value)
    channels = {
        user: ChannelState(c["last_t"], {sid: StreamMemo(m["last_t"], m["started_at"], m["started_ms"])
                                         for sid, m in c["streams"].items()}, new_history(c["history"]), c["cooldowns"])
        for user, c in raw["channels"].items()
    }
    windows = {int(start): _window(w) for start, w in raw["windows"].items()}
    shards = {name: ShardProgress(s["done"], s["final"], {int(t): list(range(n)) for t, n in s["pending"].items()})
              for name, s in raw["shards"].items()}
    return KeyState(raw["shards_expected"], shards, raw["closed_through"], raw["reported_through"], raw["newest"],
                    channels, windows)


def _window(raw: dict[str, Any]) -> OpenWindow:
    legacy = {}
    for user, a in raw["channels"].items():
        games = {gid: GameShare(Totals(g["watch"], g["air"]), Max(g["peak"]), Latest(g["name"], g["last_t"]),
                                Distinct(set(g["new_streams"]) or None))
                 for gid, g in a["games"].items()}
        legacy[user] = ChannelAggregate(Latest((a["login"], a["name"]), a["last_t"]), Totals(a["watch"], a["air"]),
                                        Max(a["peak"]), games)
    polls = {int(t): PollGroups({gid: PollTotal(p["viewers"], p["channels"], p["name"]) for gid, p in games.items()})
             for t, games in raw["polls"].items()}
    return OpenWindow(polls=polls, legacy_channels=legacy)
