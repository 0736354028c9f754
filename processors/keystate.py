"""Stage 1's state per chunk key: in memory, made durable with two state writes per message.

A chunk key holds a few hundred channels (DESIGN §3's key scheme): their stream memory and
alert history, the open windows' partial aggregates and the key's poll progress. It lives
decoded in memory (`KeyStateCache`). What makes it durable, in Quix state and so in the
changelog topic, is a *snapshot* plus a *journal*: each message appends its chunk, as stage 1
read it (the valid samples' eight fields it uses: `encode_journal`), to the journal, and
every `JOURNAL_LIMIT` messages the whole state is encoded as a new snapshot and the journal
starts again. Reading it back (after a restart, a rollback, or a partition's round trip
through another replica) decodes the snapshot and runs the journal's chunks through the same
deterministic stage logic again, outputs discarded: the exact state, from at most
JOURNAL_LIMIT chunks.

A version token written with every message tells whether the in-memory copy is still the
durable one; it also says how many snapshot slices and journal entries there are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import msgspec
import orjson

from pulse.events import Chunk
from pulse.samples import JournalChunk

from .aggregations import ChannelAggregate, GameShare, PollGame

SLICE_BYTES = 512_000  # state values stay far below the changelog topic's 1 MB message limit
# Messages between snapshots: a cold read replays at most this many chunks (~1 ms each). A
# snapshot is the key's whole state (~330 bytes a channel); at 8 messages a snapshot they were
# 55% of the bytes stage 1 made durable, at 16 they are 34% (in steady state, 1M samples:
# 0.44 s -> 0.21 s of saving, 74 MB -> 33 MB of snapshots).
JOURNAL_LIMIT = 16
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


_JOURNAL = msgspec.msgpack.Decoder(JournalChunk)
_JSON_JOURNAL = msgspec.json.Decoder(JournalChunk)


def encode_journal(chunk: Chunk) -> bytes:
    """A chunk as stage 1 reads it (`pulse.samples.JournalChunk`), in MessagePack: about a
    quarter of its bytes on the wire (60-70 bytes a sample), which RocksDB and the changelog
    topic then carry instead. MessagePack rather than JSON: 20% smaller, 35% faster to write."""
    rows = [(s.user_id, s.stream_id, s.started_at, s.viewer_count, s.game_id, s.game_name, s.user_login,
             s.user_name) for s in chunk.streams if s is not None]
    return msgspec.msgpack.encode((chunk.poll_id, chunk.producer, chunk.shards, chunk.key, chunk.keys, chunk.part,
                                   chunk.parts, chunk.final, chunk.captured_at_ms, rows))


def decode_journal(value: bytes) -> Chunk:
    """A journal entry; one written as JSON (before MessagePack: it starts with `[`) still reads."""
    j = _JSON_JOURNAL.decode(value) if value[:1] == b"[" else _JOURNAL.decode(value)
    return Chunk(j.captured_at_ms, j.poll_id, j.producer, j.shards, j.key, j.keys, j.part, j.parts, j.final,
                 j.streams)


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
    """Decoded KeyStates by chunk key, valid while their version token is the durable one.

    `replay(state, chunk_bytes)` re-applies one journaled chunk to a state being rebuilt.
    """

    def __init__(self, replay: Callable[[KeyState, bytes], None], journal_limit: int = JOURNAL_LIMIT) -> None:
        self._replay = replay
        self._journal_limit = journal_limit
        self._writer = uuid.uuid4().hex[:12]
        self._counter = 0
        self._entries: dict[Any, tuple[bytes, KeyState]] = {}
        self._layout: dict[Any, tuple[int, int]] = {}  # key -> (snapshot slices, journal entries)

    def load(self, key: Any, state: Any) -> KeyState:
        """The key's state; the cached copy is taken out until `save` (an exception in between
        leaves no half-updated copy behind)."""
        token = state.get_bytes("v")
        entry = self._entries.pop(key, None)
        if token is None:
            self._layout[key] = (0, 0)
            return KeyState()
        _, _, slices, journal = token.decode().split(":")
        self._layout[key] = (int(slices), int(journal))
        if entry is not None and entry[0] == token:
            return entry[1]
        value = decode_state(b"".join(state.get_bytes(f"s{i}") for i in range(int(slices)))) \
            if int(slices) else KeyState()
        for i in range(int(journal)):
            self._replay(value, state.get_bytes(f"j{i}"))
        return value

    def forget(self) -> None:
        """Drop every in-memory copy: each key's next `load` reads its durable state, as after a restart."""
        self._entries.clear()

    def save(self, key: Any, state: Any, value: KeyState, message: bytes) -> None:
        """Make `value` (the state after `message`, a journal entry) durable: journal it, or snapshot."""
        old_slices, journal = self._layout.get(key, (0, 0))
        if journal + 1 < self._journal_limit:
            state.set_bytes(f"j{journal}", message)
            slices, journal = old_slices, journal + 1
        else:
            data = encode_state(value)
            slices = max(1, -(-len(data) // SLICE_BYTES))
            for i in range(slices):
                state.set_bytes(f"s{i}", data[i * SLICE_BYTES:(i + 1) * SLICE_BYTES])
            for i in range(slices, old_slices):
                state.delete(f"s{i}")  # the state shrank: no stale slice stays behind
            for i in range(journal):
                state.delete(f"j{i}")
            journal = 0
        self._counter += 1
        token = f"{self._writer}:{self._counter}:{slices}:{journal}".encode()
        state.set_bytes("v", token)
        self._entries[key] = (token, value)
        self._layout[key] = (slices, journal)
