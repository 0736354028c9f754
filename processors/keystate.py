"""Stage 1's state per chunk key, kept in memory and made durable once per message.

A chunk key holds a few hundred channels (DESIGN §3's key scheme), so its whole state is
small: the channels' stream memory and alert history, the open windows' partial aggregates
and the key's poll progress. Each message (a chunk of a poll) rewrites it as one value in
Quix state, so the changelog topic always holds the key's exact state and a partition moved
to another process (crash, rebalance, scale-out) is rebuilt from it by Quix's own recovery.

Between messages the decoded state stays in memory (`KeyStateCache`), so a message costs one
encode and no decode. A version token written with the state tells whether the cached copy is
still the durable one: after a rollback, a restart or a round trip of the partition through
another process the tokens differ and the state is read back from Quix state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import orjson

from .aggregations import ChannelAggregate, GameShare, PollGame

SLICE_BYTES = 512_000  # state values stay far below the changelog topic's 1 MB message limit
_OPTIONS = orjson.OPT_NON_STR_KEYS


@dataclass(slots=True)
class StreamMemo:
    """A stream id's previous sample (Δ) and its parsed started_at (parsed once per stream)."""

    last_t: int
    started_at: str
    started_ms: int


@dataclass(slots=True)
class ChannelState:
    last_t: int = -1
    streams: dict[str, StreamMemo] = field(default_factory=dict)
    history: list[int] = field(default_factory=list)  # t, viewers, t, viewers, ... of the baseline period
    cooldowns: dict[str, int] = field(default_factory=dict)  # alert kind -> when it last fired


@dataclass(slots=True)
class OpenWindow:
    channels: dict[str, ChannelAggregate] = field(default_factory=dict)
    polls: dict[int, dict[str, PollGame]] = field(default_factory=dict)  # every poll seen, even empty


@dataclass(slots=True)
class ShardProgress:
    """One producer shard's progress in this key: its newest complete poll, and parts so far."""

    done: Optional[int] = None
    final: bool = False
    pending: dict[int, int] = field(default_factory=dict)  # poll t -> chunks received


@dataclass(slots=True)
class KeyState:
    shards_expected: int = 1
    shards: dict[str, ShardProgress] = field(default_factory=dict)
    closed_through: Optional[int] = None    # newest window start handed to the merge
    reported_through: Optional[int] = None  # newest poll handed to game_surge
    newest: Optional[int] = None            # newest poll seen (event time for forgetting channels)
    channels: dict[str, ChannelState] = field(default_factory=dict)
    windows: dict[int, OpenWindow] = field(default_factory=dict)


# --- the one place KeyState becomes bytes and back --------------------------------------

def encode_state(state: KeyState) -> bytes:
    return orjson.dumps(state, option=_OPTIONS)


def _aggregate(raw: dict[str, Any]) -> ChannelAggregate:
    games = {gid: GameShare(g["air"], g["watch"], g["peak"], g["last_t"], g["name"], g["new_streams"])
             for gid, g in raw["games"].items()}
    return ChannelAggregate(raw["login"], raw["name"], raw["last_t"], raw["watch"], raw["air"], raw["peak"], games)


def decode_state(value: bytes) -> KeyState:
    raw = orjson.loads(value)
    channels = {
        user: ChannelState(c["last_t"],
                           {sid: StreamMemo(m["last_t"], m["started_at"], m["started_ms"])
                            for sid, m in c["streams"].items()},
                           c["history"], c["cooldowns"])
        for user, c in raw["channels"].items()
    }
    windows = {
        int(start): OpenWindow(
            {user: _aggregate(a) for user, a in w["channels"].items()},
            {int(t): {gid: PollGame(p["viewers"], p["channels"], p["name"]) for gid, p in games.items()}
             for t, games in w["polls"].items()},
        )
        for start, w in raw["windows"].items()
    }
    shards = {name: ShardProgress(s["done"], s["final"], {int(t): n for t, n in s["pending"].items()})
              for name, s in raw["shards"].items()}
    return KeyState(raw["shards_expected"], shards, raw["closed_through"], raw["reported_through"], raw["newest"],
                    channels, windows)


class KeyStateCache:
    """Decoded KeyStates by chunk key, valid while their version token is the durable one."""

    def __init__(self) -> None:
        self._writer = uuid.uuid4().hex[:12]
        self._counter = 0
        self._entries: dict[Any, tuple[bytes, KeyState]] = {}

    def load(self, key: Any, state: Any) -> KeyState:
        """The key's state; the cached copy is taken out until `save` (an exception in between
        leaves no half-updated copy behind)."""
        token = state.get_bytes("v")
        entry = self._entries.pop(key, None)
        if entry is not None and token is not None and entry[0] == token:
            return entry[1]
        if token is None:
            return KeyState()
        slices = int(token.rsplit(b":", 1)[1])
        return decode_state(b"".join(state.get_bytes(f"s{i}") for i in range(slices)))

    def save(self, key: Any, state: Any, value: KeyState) -> None:
        data = encode_state(value)
        slices = max(1, -(-len(data) // SLICE_BYTES))
        for i in range(slices):
            state.set_bytes(f"s{i}", data[i * SLICE_BYTES:(i + 1) * SLICE_BYTES])
        previous = state.get_bytes("v")
        if previous is not None:
            for i in range(slices, int(previous.rsplit(b":", 1)[1])):
                state.delete(f"s{i}")  # the state shrank: no stale slice stays behind
        self._counter += 1
        token = f"{self._writer}:{self._counter}:{slices}".encode()
        state.set_bytes("v", token)
        self._entries[key] = (token, value)
