"""The `twitch.streams` records of DESIGN §3, each declared once: `Stream` (a stream object)
and `Chunk` (one Kafka message: part of what one producer shard saw in one poll, for one
chunk key). Everything else derives from these declarations: the field list, the validator
and its DLQ reasons (`stream_error`), the producer's `normalise`, the chunk's header types,
and the decoders of the processor and the sinks (`pulse.events`).

msgspec structs, so decoding checks every field's type and range on the way; they live
outside the compiled hot modules (mypyc cannot compile msgspec structs).
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Generic, Optional, TypeVar

import msgspec

SCHEMA_VERSION = 2

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
ViewerCount = Annotated[int, msgspec.Meta(ge=0, lt=2**53)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class Stream(msgspec.Struct, gc=False):
    """A stream object: what Helix says of one live stream at one poll, normalised."""

    stream_id: NonEmpty
    user_id: NonEmpty
    user_login: str
    user_name: str
    game_id: str      # "" when the stream has no category
    game_name: str
    title: str
    language: str
    type: str
    tags: list[str]
    viewer_count: ViewerCount
    started_at: str   # RFC 3339 UTC
    is_mature: bool


STREAM_FIELDS: tuple[str, ...] = Stream.__struct_fields__


def _base_type(hint: Any) -> type:
    """`Annotated[str, ...]` -> str, `list[str]` -> list: the Python type a field's value has."""
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return typing.get_origin(hint) or hint


# field -> the Python type of its value (normalise coerces Helix's values to these)
STREAM_TYPES: dict[str, type] = {name: _base_type(hint)
                                 for name, hint in typing.get_type_hints(Stream, include_extras=True).items()}

S = TypeVar("S")


class Chunk(msgspec.Struct, Generic[S], kw_only=True, gc=False):
    """One `twitch.streams` message (docs/architecture.md, "The `twitch.streams` message", says how the
    bookkeeping lets a consumer know it has all of a poll for a key)."""

    schema: int = SCHEMA_VERSION
    captured_at: str  # the poll's instant on the grid, RFC 3339 UTC with ms
    poll_id: str
    producer: str     # the producing shard's name
    shards: Positive  # how many shards produce each poll
    key: Count        # this chunk's key, of `keys`
    keys: Positive
    part: Count       # this chunk is part `part` (0-based) of `parts` for this key, shard and poll
    parts: Positive
    final: bool = False  # the end-of-source marker: an empty chunk per key
    streams: list[S] = []

    def __post_init__(self) -> None:
        if self.part >= self.parts or self.key >= self.keys:
            raise ValueError("chunk bookkeeping out of range")
        if not _RFC3339.fullmatch(self.captured_at):
            raise ValueError("chunk field captured_at is not an RFC 3339 timestamp")

    @property
    def message_key(self) -> bytes:
        return str(self.key).encode()


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_AT = re.compile(r"`\$\.(\w+)")
_MISSING = re.compile(r"missing required field `(\w+)`")


def validation_reason(error: msgspec.ValidationError, what: str = "field") -> str:
    """msgspec's message for a record that is not one -> the short reason a DLQ header and a
    log line carry ("missing field viewer_count", "field tags has the wrong type", ...)."""
    text = str(error)
    missing = _MISSING.search(text)
    if missing:
        return f"missing {what} {missing.group(1)}"
    at = _AT.search(text)
    name = at.group(1) if at else "?"
    if text.startswith("Expected `") and ("got" in text or "object" in text):
        return f"{what} {name} has the wrong type"
    return f"{what} {name} is out of range"


def stream_problem(value: Any) -> Optional[str]:
    """None if `value` (a decoded JSON value) is a valid stream object, else why not."""
    if type(value) is not dict:
        return "stream is not a JSON object"
    try:
        msgspec.convert(value, Stream)
    except msgspec.ValidationError as exc:
        return validation_reason(exc)
    return None
