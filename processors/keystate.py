"""Stage 1's state per chunk key: in memory, made durable with two state writes per message.

A chunk key holds a few hundred channels (DESIGN §3's key scheme): their stream memory and
alert history, the open windows' aggregates and the key's poll progress. It lives decoded in
memory (`KeyStateCache`). What makes it durable, in Quix state and so in the changelog topic,
is a *snapshot* plus a *journal*: each message appends its chunk, as stage 1 read it (the
valid samples' fields it uses: `encode_journal`), to the journal, and every `JOURNAL_LIMIT`
messages the whole state is encoded as a new snapshot and the journal starts again. Reading
it back (after a restart, a rollback, or a partition's round trip through another replica)
decodes the snapshot and runs the journal's chunks through the same deterministic stage
logic again, outputs discarded: the exact state, from at most JOURNAL_LIMIT chunks.

State keys, per chunk key:
- `version`: the `StateVersion` record, rewritten with every message: the state format, and
  a token (writer, counter) that tells whether the in-memory copy is still the durable one,
  and how many snapshot slices and journal entries there are;
- `snapshot/<i>`: the snapshot (`KeyState` in MessagePack, decoded by msgspec into these
  classes), in slices below the changelog's message limit;
- `journal/<i>`: the chunks since the snapshot.
A key written by the processor before format 2 (keys `v`, `s<i>`, `j<i>`) is read once by
`processors.state_v1` and written back in format 2 with the next message.
"""

from __future__ import annotations

import uuid
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import msgspec

from pulse.schema import Chunk

from . import compiled
from .aggregations import ChannelAggregate, GroupAggregate, PollTotal, StreamAggregate
from .alerts import new_history
from .journal import JournalChunk, StateVersion

STATE_FORMAT = 2
VERSION_KEY = "version"
SLICE_BYTES = 512_000  # state values stay far below the changelog topic's 1 MB message limit
# Messages between snapshots: a cold read replays at most this many chunks (~1 ms each). A
# snapshot is the key's whole state; at 8 messages a snapshot they were 55% of the bytes stage
# 1 made durable, at 16 they are 34% (in steady state, 1M samples: 0.44 s -> 0.21 s of saving).
JOURNAL_LIMIT = 16


def snapshot_key(index: int) -> str:
    return f"snapshot/{index}"


def journal_key(index: int) -> str:
    return f"journal/{index}"


@dataclass(slots=True)
class StreamMemo:
    """A stream id's previous sample (Δ) and its parsed started_at (parsed once per stream)."""

    last_t: int = -1
    started_at: str = ""
    started_ms: int = 0

    def __init__(self, last_t: int = -1, started_at: str = "", started_ms: int = 0) -> None:
        self.last_t, self.started_at, self.started_ms = last_t, started_at, started_ms


@dataclass(slots=True)
class ChannelState:
    last_t: int = -1
    streams: dict[str, StreamMemo] = field(default_factory=dict)
    history: array = field(default_factory=new_history)  # t, viewers, t, viewers, ... of the baseline period
    cooldowns: dict[str, int] = field(default_factory=dict)  # alert kind -> when it last fired

    def __init__(self, last_t: int = -1, streams: Optional[dict[str, StreamMemo]] = None,
                 history: Optional[array] = None, cooldowns: Optional[dict[str, int]] = None) -> None:
        self.last_t = last_t
        self.streams = {} if streams is None else streams
        self.history = new_history() if history is None else history
        self.cooldowns = {} if cooldowns is None else cooldowns


@dataclass(slots=True)
class PollGroups:
    """Every game and language at one poll of this key (a poll with no samples has none)."""

    games: dict[str, PollTotal] = field(default_factory=dict)
    languages: dict[str, PollTotal] = field(default_factory=dict)

    def __init__(self, games: Optional[dict[str, PollTotal]] = None,
                 languages: Optional[dict[str, PollTotal]] = None) -> None:
        self.games = {} if games is None else games
        self.languages = {} if languages is None else languages


@dataclass(slots=True)
class OpenWindow:
    streams: dict[str, StreamAggregate] = field(default_factory=dict)
    languages: dict[str, GroupAggregate] = field(default_factory=dict)
    polls: dict[int, PollGroups] = field(default_factory=dict)  # every poll seen, even empty
    # A window already open when its state was written in format 1 (channels, no streams):
    # its channels so far, and no STREAM_WINDOWS / LANGUAGE_WINDOWS rows for it.
    legacy_channels: Optional[dict[str, ChannelAggregate]] = None

    def __init__(self, streams: Optional[dict[str, StreamAggregate]] = None,
                 languages: Optional[dict[str, GroupAggregate]] = None, polls: Optional[dict[int, PollGroups]] = None,
                 legacy_channels: Optional[dict[str, ChannelAggregate]] = None) -> None:
        self.streams = {} if streams is None else streams
        self.languages = {} if languages is None else languages
        self.polls = {} if polls is None else polls
        self.legacy_channels = legacy_channels


@dataclass(slots=True)
class ShardProgress:
    """One producer shard's progress in this key: its newest complete poll, and parts so far."""

    done: Optional[int] = None
    final: bool = False
    pending: dict[int, list[int]] = field(default_factory=dict)  # poll t -> the parts received

    def __init__(self, done: Optional[int] = None, final: bool = False,
                 pending: Optional[dict[int, list[int]]] = None) -> None:
        self.done, self.final = done, final
        self.pending = {} if pending is None else pending


@dataclass(slots=True)
class KeyState:
    shards_expected: int = 1
    shards: dict[str, ShardProgress] = field(default_factory=dict)
    closed_through: Optional[int] = None    # newest window start handed to the merge
    reported_through: Optional[int] = None  # newest poll handed to game_surge
    newest: Optional[int] = None            # newest poll seen (event time for forgetting channels)
    channels: dict[str, ChannelState] = field(default_factory=dict)
    windows: dict[int, OpenWindow] = field(default_factory=dict)

    def __init__(self, shards_expected: int = 1, shards: Optional[dict[str, ShardProgress]] = None,
                 closed_through: Optional[int] = None, reported_through: Optional[int] = None,
                 newest: Optional[int] = None, channels: Optional[dict[str, ChannelState]] = None,
                 windows: Optional[dict[int, OpenWindow]] = None) -> None:
        self.shards_expected = shards_expected
        self.shards = {} if shards is None else shards
        self.closed_through, self.reported_through, self.newest = closed_through, reported_through, newest
        self.channels = {} if channels is None else channels
        self.windows = {} if windows is None else windows


# --- the one place KeyState becomes bytes and back --------------------------------------

# a compiled build keeps only `dict`, `type` of these classes' annotations: msgspec needs them whole
compiled.declare_types("processors.aggregations")
compiled.declare_types(__name__)


def _encode_custom(value: Any) -> Any:
    """A channel's history array is written as the list of ints it was before it was an array."""
    if isinstance(value, array):
        return value.tolist()
    raise NotImplementedError(f"cannot encode {type(value).__name__} in a KeyState")


def _decode_custom(kind: type, value: Any) -> Any:
    if kind is array and isinstance(value, list):
        return new_history(value)
    raise NotImplementedError(f"cannot decode {kind.__name__} in a KeyState")


_STATE = msgspec.msgpack.Decoder(KeyState, dec_hook=_decode_custom)
_STATE_ENCODER = msgspec.msgpack.Encoder(enc_hook=_encode_custom)
_VERSION = msgspec.json.Decoder(StateVersion)
_JOURNAL = msgspec.msgpack.Decoder(JournalChunk)


def encode_state(state: KeyState) -> bytes:
    return _STATE_ENCODER.encode(state)


def decode_state(value: bytes) -> KeyState:
    return _STATE.decode(value)


def encode_journal(chunk: Chunk) -> bytes:
    """A chunk as stage 1 reads it (`processors.journal.JournalChunk`), in MessagePack: a fraction
    of its bytes on the wire, which RocksDB and the changelog topic then carry instead."""
    rows = [(s.user_id, s.stream_id, s.started_at, s.viewer_count, s.game_id, s.game_name, s.user_login,
             s.user_name, s.language, s.title, s.is_mature) for s in chunk.streams if s is not None]
    return msgspec.msgpack.encode((chunk.poll_id, chunk.producer, chunk.shards, chunk.key, chunk.keys, chunk.part,
                                   chunk.parts, chunk.final, chunk.captured_at, rows))


def decode_journal(value: bytes) -> Chunk:
    j = _JOURNAL.decode(value)
    return Chunk(captured_at=j.captured_at, poll_id=j.poll_id, producer=j.producer, shards=j.shards, key=j.key,
                 keys=j.keys, part=j.part, parts=j.parts, final=j.final, streams=j.streams)


class KeyStateCache:
    """Decoded KeyStates by chunk key, valid while their version token is the durable one.

    `replay(state, journal_entry)` re-applies one journaled chunk to a state being rebuilt;
    `migrate(state)` reads a key written in an older format (or returns None)."""

    def __init__(self, replay: Callable[[KeyState, bytes], None], journal_limit: int = JOURNAL_LIMIT,
                 migrate: Optional[Callable[[Any], Optional[tuple[KeyState, list[str]]]]] = None) -> None:
        self._replay = replay
        self._migrate = migrate
        self._journal_limit = journal_limit
        self._writer = uuid.uuid4().hex[:12]
        self._counter = 0
        self._entries: dict[Any, tuple[bytes, KeyState]] = {}
        self._layout: dict[Any, tuple[int, int]] = {}  # key -> (snapshot slices, journal entries)
        self._migrated: dict[Any, list[str]] = {}  # read in an older format: its old state keys

    def load(self, key: Any, state: Any) -> KeyState:
        """The key's state; the cached copy is taken out until `save` (an exception in between
        leaves no half-updated copy behind)."""
        token = state.get_bytes(VERSION_KEY)
        entry = self._entries.pop(key, None)
        if token is None:
            old = self._migrate(state) if self._migrate is not None else None
            self._layout[key] = (0, 0)
            if old is not None:
                value, self._migrated[key] = old
                return value
            return KeyState()
        version = _VERSION.decode(token)
        self._layout[key] = (version.snapshot, version.journal)
        if entry is not None and entry[0] == token:
            return entry[1]
        value = decode_state(b"".join(state.get_bytes(snapshot_key(i)) for i in range(version.snapshot))) \
            if version.snapshot else KeyState()
        for i in range(version.journal):
            self._replay(value, state.get_bytes(journal_key(i)))
        return value

    def forget(self) -> None:
        """Drop every in-memory copy: each key's next `load` reads its durable state, as after a restart."""
        self._entries.clear()

    def save(self, key: Any, state: Any, value: KeyState, message: bytes) -> None:
        """Make `value` (the state after `message`, a journal entry) durable: journal it, or snapshot."""
        old_slices, journal = self._layout.get(key, (0, 0))
        if journal + 1 < self._journal_limit and key not in self._migrated:
            state.set_bytes(journal_key(journal), message)
            slices, journal = old_slices, journal + 1
        else:
            data = encode_state(value)
            slices = max(1, -(-len(data) // SLICE_BYTES))
            for i in range(slices):
                state.set_bytes(snapshot_key(i), data[i * SLICE_BYTES:(i + 1) * SLICE_BYTES])
            for i in range(slices, old_slices):
                state.delete(snapshot_key(i))  # the state shrank: no stale slice stays behind
            for i in range(journal):
                state.delete(journal_key(i))
            for name in self._migrated.pop(key, ()):
                state.delete(name)
            journal = 0
        self._counter += 1
        token = msgspec.json.encode(StateVersion(STATE_FORMAT, self._writer, self._counter, slices, journal))
        state.set_bytes(VERSION_KEY, token)
        self._entries[key] = (token, value)
        self._layout[key] = (slices, journal)
