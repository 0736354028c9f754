"""Stage 1's own durable records (`processors.keystate`): a journal entry, a chunk as stage 1
read it, and the `version` record. msgspec structs (mypyc cannot compile them), kept apart
from the compiled stage code."""

from __future__ import annotations

import msgspec


class JournalSample(msgspec.Struct, array_like=True, gc=False):
    """The fields of a `pulse.schema.Stream` that stage 1 reads, as its state journal keeps
    them (`processors.keystate.encode_journal` writes them in this order)."""

    user_id: str
    stream_id: str
    started_at: str
    viewer_count: int
    game_id: str
    game_name: str
    user_login: str
    user_name: str
    language: str
    title: str
    is_mature: bool


class JournalChunk(msgspec.Struct, array_like=True, gc=False):
    """A chunk as stage 1 read it: its bookkeeping, its poll's time and its valid samples."""

    poll_id: str
    producer: str
    shards: int
    key: int
    keys: int
    part: int
    parts: int
    final: bool
    captured_at: str
    streams: list[JournalSample]


class StateVersion(msgspec.Struct, array_like=True):
    """Stage 1's `version` state record: the state format, the token of the writer that made
    the durable copy, and the layout of snapshot and journal."""

    format: int
    writer: str
    counter: int
    snapshot: int  # snapshot slices
    journal: int   # journal entries since the snapshot
