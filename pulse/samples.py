"""Chunks decoded straight into typed, validated stream records: the processor's input.

`pulse.events` owns the wire format and its general decoder (`decode_chunk`: dicts, each
stream object checked by `stream_error`). The processor reads every sample, so it decodes
with msgspec into `Sample` structs instead, which checks every field's type and range on the
way: 2.5x faster than orjson to dicts plus `stream_error`, and attribute access after.

A chunk msgspec refuses (a bad stream object, a bad header) goes the general way, so the DLQ
reasons and the accepted samples are the same whichever way a chunk went. msgspec structs
cannot be compiled by mypyc, so they live here, outside setup.py's hot modules.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple, Optional

import msgspec

from .events import (
    SCHEMA_VERSION, STREAM_FIELDS, Chunk, ChunkError, bookkeeping_in_range, decode_chunk, parse_ts, stream_error,
)

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
ViewerCount = Annotated[int, msgspec.Meta(ge=0, lt=2**53)]


class Sample(msgspec.Struct, gc=False):
    """A valid stream object (DESIGN §3): the fields of `pulse.events.STREAM_FIELDS`."""

    stream_id: NonEmpty
    user_id: NonEmpty
    user_login: str
    user_name: str
    game_id: str
    game_name: str
    title: str
    language: str
    type: str
    tags: list[str]
    viewer_count: ViewerCount
    started_at: str
    is_mature: bool


class _Bookkeeping(msgspec.Struct, gc=False):
    """The fields of `pulse.events.Chunk` that say where a chunk belongs (see its module doc)."""

    poll_id: str
    producer: str
    shards: int
    key: int
    keys: int
    part: int
    parts: int
    final: bool


class _WireChunk(_Bookkeeping, gc=False):
    schema: int
    captured_at: str
    streams: list[Sample]


class JournalSample(msgspec.Struct, array_like=True, gc=False):
    """The fields of a `Sample` that stage 1 reads, as its state journal keeps them
    (`processors.keystate.encode_journal` writes them in this order)."""

    user_id: str
    stream_id: str
    started_at: str
    viewer_count: int
    game_id: str
    game_name: str
    user_login: str
    user_name: str


class JournalChunk(_Bookkeeping, array_like=True, gc=False):
    """A chunk as stage 1 read it: its bookkeeping, its poll's time and its valid samples."""

    captured_at_ms: int
    streams: list[JournalSample]


class Rejected(NamedTuple):
    """A stream object that is not one: its position in the chunk, the object, the DLQ reason."""

    position: int
    stream: Any
    reason: str


_DECODER = msgspec.json.Decoder(_WireChunk)


def decode_samples(value: Optional[bytes]) -> tuple[Chunk, list[Rejected]]:
    """Bytes -> (Chunk whose `streams` are `Sample`s, or None where a stream object was
    rejected, and the rejections). Raises ChunkError, with the reason, for a non-chunk."""
    if value is not None:
        try:
            wire = _DECODER.decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        else:
            if wire.schema == SCHEMA_VERSION and bookkeeping_in_range(wire.part, wire.parts, wire.shards, wire.key,
                                                                       wire.keys):
                try:
                    captured = parse_ts(wire.captured_at)
                except ValueError:
                    pass
                else:
                    return Chunk(captured, wire.poll_id, wire.producer, wire.shards, wire.key, wire.keys, wire.part,
                                 wire.parts, wire.final, wire.streams), []
    return _decode_generally(value)


def _decode_generally(value: Optional[bytes]) -> tuple[Chunk, list[Rejected]]:
    chunk = decode_chunk(value)
    rejected: list[Rejected] = []
    samples: list[Optional[Sample]] = []
    for index, stream in enumerate(chunk.streams):
        reason = stream_error(stream)
        sample = None
        if reason is None:
            try:
                sample = msgspec.convert({name: stream[name] for name in STREAM_FIELDS}, Sample)
            except msgspec.ValidationError as exc:
                reason = f"invalid stream object: {exc}"
        if sample is None:
            rejected.append(Rejected(index, stream, reason or "invalid stream object"))
        samples.append(sample)
    chunk.streams = samples
    return chunk, rejected
