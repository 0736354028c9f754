"""The `twitch.streams` wire format, schema v2 (DESIGN §3): snapshot chunks. The records are
declared once in `pulse.schema` (`Stream`, `Chunk`); this module does what is done with them,
so the producer, the processor and every sink agree:

- `normalise` turns a Helix stream object into a stream object of the schema;
- `stream_error` says why a decoded stream object is not one (the DLQ reason);
- `cut_poll` cuts a poll into chunks, `encode_chunk` / `decode_chunk` are the only places
  that turn a chunk into bytes and back (the processor decodes straight into `Stream`s with
  `decode_streams`);
- `v1_event` is a stream object with its chunk's `captured_at`, `poll_id` and `schema`: the
  row `STREAM_LOGS.RAW_DATA` keeps, so the first seed's queries still run.

Key scheme: a channel belongs to chunk key `bucket_of(user_id, keys)` (CRC-32 of the user id
modulo `CHUNK_KEYS`), for the life of the topic. The Kafka message key is that number as
text, so every sample of a channel reaches the same partition, in poll order. Every poll
sends at least one chunk (possibly empty) per key and producer shard, so a chunk key knows a
poll is complete when it has `parts` chunks of it from every one of the `shards` producers;
an empty chunk with `final` says the source has ended (end of a replay or a finite run).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Optional

import msgspec
import orjson

from .schema import SCHEMA_VERSION, STREAM_FIELDS, STREAM_TYPES, Chunk, Stream, stream_problem, validation_reason

MAX_CHUNK_BYTES = 900_000  # an encoded chunk stays below Kafka's default 1 MB message limit


class ChunkError(ValueError):
    """A message that is not a chunk of schema v2; the text is the DLQ reason."""


class Rejected(NamedTuple):
    """A stream object that is not one: its position in the chunk, the object, the DLQ reason."""

    position: int
    stream: Any
    reason: str


@lru_cache(maxsize=1 << 16)
def format_ts(ms: int) -> str:
    """Epoch milliseconds -> RFC 3339 UTC with milliseconds and a Z (cached: window rows repeat
    a few poll instants many times)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ts(value: str) -> int:
    """RFC 3339 (Z or offset, with or without fraction) -> epoch milliseconds."""
    if not isinstance(value, str) or len(value) < 20 or value[10] not in "Tt":
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    dt = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return int(round(dt.timestamp() * 1000))


def bucket_of(user_id: str, keys: int) -> int:
    """The chunk key of a channel: stable across processes, runs and versions (CRC-32)."""
    return zlib.crc32(user_id.encode()) % keys


# How each field of `Stream` is made from a Helix object (its type decides, `id` is the stream id)
_HELIX_NAMES = {"stream_id": "id"}


def _text(value: Any) -> str:
    return str(value or "")


def _flag(value: Any) -> bool:
    return bool(value or False)


def _texts(value: Any) -> list[str]:
    return [str(t) for t in (value or [])]


_COERCE: dict[type, Callable[[Any], Any]] = {str: _text, int: int, bool: _flag, list: _texts}
_REQUIRED = ("stream_id", "user_id", "viewer_count", "started_at")  # no default: a KeyError drops the object


# (field, Helix's name, its type, how a value is made that type, required); a list is always
# made anew (its items checked), a value of any other field that has its type already is kept
_NORMALISE = tuple((name, _HELIX_NAMES.get(name, name), STREAM_TYPES[name], _COERCE[STREAM_TYPES[name]],
                    name in _REQUIRED) for name in STREAM_FIELDS)


def normalise(stream: Mapping[str, Any]) -> dict[str, Any]:
    """A Helix `GET /streams` object -> a stream object (`Stream`'s fields, each coerced to its
    type; Helix's deprecated `tag_ids` and anything else Helix adds are left out).

    A value that has its field's type already is what its coercion would return (a text's
    `str(value or "")`, an int's `int(value)`, a flag's `bool(value or False)`), so it is kept
    without the call: nearly every value Helix sends (1.5 against 1.8-2.3 us a stream object)."""
    out: dict[str, Any] = {}
    for name, helix, kind, coerce, required in _NORMALISE:
        value = stream[helix] if required else stream.get(helix)
        out[name] = value if type(value) is kind and kind is not list else coerce(value)
    return out


def stream_error(stream: Any) -> Optional[str]:
    """None if `stream` is a valid stream object, else a short reason (the DLQ header).

    `started_at` is only checked for shape here; `timestamp_error` checks it fully (the
    processor parses it anyway and caches the result per stream)."""
    return stream_problem(stream)


def timestamp_error(value: str, name: str = "started_at") -> Optional[str]:
    try:
        parse_ts(value)
    except ValueError:
        return f"field {name} is not an RFC 3339 timestamp"
    return None


_VALID_STARTS: set[str] = set()  # started_at values already parsed: a stream keeps its own for hours
_MAX_VALID_STARTS = 1_000_000  # all of Twitch's live streams many times over; then it starts again


def valid_start(value: str) -> bool:
    """`timestamp_error(value) is None`, remembered: the producer and the raw sink check every
    stream object's started_at, which a stream keeps for hours (a set rather than an LRU: one
    lookup, and a quarter of a million streams cycling through a smaller LRU would miss each time)."""
    if value in _VALID_STARTS:
        return True
    if timestamp_error(value) is not None:
        return False
    if len(_VALID_STARTS) >= _MAX_VALID_STARTS:
        _VALID_STARTS.clear()
    _VALID_STARTS.add(value)
    return True


def full_stream_error(stream: Any) -> Optional[str]:
    """`stream_error` plus the timestamp check: what a sink that does not parse uses."""
    return stream_error(stream) or timestamp_error(stream["started_at"])


_HEADER = msgspec.json.Encoder()
_ANY_CHUNK = msgspec.json.Decoder(Chunk[Any])
_STREAM_CHUNK = msgspec.json.Decoder(Chunk[Stream])


def encode_chunk(chunk: Chunk, encoded_streams: Optional[list[bytes]] = None) -> bytes:
    """The message value; `encoded_streams` (each stream already encoded) saves a pass."""
    if encoded_streams is None:
        return _HEADER.encode(chunk)
    head = _HEADER.encode(msgspec.structs.replace(chunk, streams=[]))
    return head[:-3] + b"[" + b",".join(encoded_streams) + b"]}"


def decode_chunk(value: Optional[bytes]) -> Chunk:
    """Bytes -> Chunk whose streams are as decoded (not checked); raises ChunkError with the reason."""
    if value is None:
        raise ChunkError("empty value")
    try:
        chunk = _ANY_CHUNK.decode(value)
    except msgspec.ValidationError as exc:  # (a DecodeError too: it goes first)
        raise ChunkError(_chunk_reason(value, exc)) from None
    except msgspec.DecodeError:
        raise ChunkError("value is not JSON") from None
    if chunk.schema != SCHEMA_VERSION:
        raise ChunkError(f"unsupported schema {chunk.schema!r}")
    return chunk


def _chunk_reason(value: bytes, exc: msgspec.ValidationError) -> str:
    text = str(exc)
    if text.startswith("Expected `object`"):
        return "value is not a JSON object"
    schema = msgspec.json.decode(value).get("schema")
    if schema != SCHEMA_VERSION:
        return f"unsupported schema {schema!r}"
    if "bookkeeping" in text or "captured_at is not" in text:
        return text.split(" - at ")[0]
    return validation_reason(exc, "chunk field")


def decode_streams(value: Optional[bytes]) -> tuple[Chunk, list[Rejected]]:
    """Bytes -> (Chunk whose `streams` are `Stream`s, or None where a stream object was
    rejected, and the rejections). Raises ChunkError, with the reason, for a non-chunk.

    A chunk decodes straight into `Stream`s (the processor's way: 2.5x faster than to dicts
    and a field check after); one msgspec refuses goes the general way, so the DLQ reasons and
    the accepted samples are the same whichever way a chunk went."""
    if value is not None:
        try:
            chunk = _STREAM_CHUNK.decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        else:
            if chunk.schema == SCHEMA_VERSION:
                return chunk, []
    chunk = decode_chunk(value)
    rejected: list[Rejected] = []
    streams: list[Optional[Stream]] = []
    for index, raw in enumerate(chunk.streams):
        reason = stream_error(raw)
        if reason is not None:
            rejected.append(Rejected(index, raw, reason))
            streams.append(None)
        else:
            streams.append(msgspec.convert(raw, Stream))
    return msgspec.structs.replace(chunk, streams=streams), rejected


def v1_event(stream: Mapping[str, Any], chunk: Chunk[Any]) -> dict[str, Any]:
    """The stream object with its chunk's context: the row STREAM_LOGS.RAW_DATA keeps."""
    return {**stream, "captured_at": chunk.captured_at, "poll_id": chunk.poll_id, "schema": SCHEMA_VERSION}


_RAW_CHUNK = msgspec.json.Decoder(Chunk[msgspec.Raw])
_STREAM = msgspec.json.Decoder(Stream)




def v1_events(value: Optional[bytes]) -> tuple[Chunk[Any], list[tuple[int, bytes]], list[Rejected]]:
    """A chunk -> (the chunk, each valid stream object's v1 event as JSON bytes with its index
    in the chunk, the rejected ones with `full_stream_error`'s reason): the raw sink's rows.
    Raises ChunkError, with the reason, for a non-chunk.

    A stream object as the producer writes it is kept as the bytes it came in, the chunk's
    context appended before its closing brace, instead of being decoded to a dict and encoded
    again (1.6 against 3.8 us a row). "As the producer writes it": msgspec checks it as a
    `Stream` (`stream_error`'s own test), its started_at is valid, and encoding that `Stream`
    gives the same bytes: the schema's fields alone, in order, each once (a warehouse refuses a
    JSON object that repeats a key, and the dict would keep only the last). Any other goes the
    general way, so the rows and the reasons are those of `v1_event` and `full_stream_error`."""
    try:
        chunk = _RAW_CHUNK.decode(value) if value is not None else None
    except (msgspec.ValidationError, msgspec.DecodeError):
        chunk = None
    if chunk is None or chunk.schema != SCHEMA_VERSION:
        decode_chunk(value)  # raises with the reason
        raise ChunkError("not a chunk")  # not reached: what decode_chunk accepts decodes here too
    tail = b',"captured_at":%s,"poll_id":%s,"schema":%d}' % (
        orjson.dumps(chunk.captured_at), orjson.dumps(chunk.poll_id), SCHEMA_VERSION)
    events: list[tuple[int, bytes]] = []
    rejected: list[Rejected] = []
    for index, raw in enumerate(chunk.streams):
        data = bytes(raw)
        try:
            checked: Optional[Stream] = _STREAM.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            checked = None
        if checked is not None and valid_start(checked.started_at) and _HEADER.encode(checked) == data:
            events.append((index, data[:-1] + tail))
            continue
        stream = orjson.loads(data)
        reason = full_stream_error(stream)
        if reason is None:
            events.append((index, orjson.dumps(v1_event(stream, chunk))))
        else:
            rejected.append(Rejected(index, stream, reason))
    return chunk, events, rejected


def cut_poll(streams: Iterable[Mapping[str, Any]], captured_at_ms: int, poll_id: str, producer: str,
             shards: int, keys: int, max_streams: int, max_bytes: int = MAX_CHUNK_BYTES
             ) -> Iterator[tuple[Chunk, bytes]]:
    """A poll's (normalised, de-duplicated) stream objects -> (chunk, encoded value) per message.

    Every key gets at least one chunk (an empty one says "nothing of yours in this poll");
    a key's streams are cut at `max_streams` and at `max_bytes` encoded. A stream object
    that alone exceeds `max_bytes` cannot be sent and raises ChunkError (Helix objects are
    far smaller; the producer drops and counts such an object before calling this).
    """
    captured_at = format_ts(captured_at_ms)
    by_key: list[list[tuple[Mapping[str, Any], bytes]]] = [[] for _ in range(keys)]
    for stream in streams:
        # an exact-size copy: orjson's own bytes object keeps its ~4 KB write buffer, which for a
        # whole poll held at once (120k streams) is 470 MB instead of 45 MB
        encoded = bytes(memoryview(orjson.dumps(stream)))
        if len(encoded) > max_bytes - 1024:
            raise ChunkError(f"stream {stream.get('stream_id')!r} is {len(encoded)} bytes encoded")
        by_key[bucket_of(stream["user_id"], keys)].append((stream, encoded))
    for key, entries in enumerate(by_key):
        groups: list[list[tuple[Mapping[str, Any], bytes]]] = [[]]
        size = 0
        for entry in entries:
            if groups[-1] and (len(groups[-1]) >= max_streams or size + len(entry[1]) + 1 > max_bytes - 1024):
                groups.append([])
                size = 0
            groups[-1].append(entry)
            size += len(entry[1]) + 1
        for part, group in enumerate(groups):
            chunk: Chunk[Any] = Chunk(captured_at=captured_at, poll_id=poll_id, producer=producer, shards=shards,
                                      key=key, keys=keys, part=part, parts=len(groups), streams=[s for s, _ in group])
            yield chunk, encode_chunk(chunk, [e for _, e in group])


def final_chunks(captured_at_ms: int, poll_id: str, producer: str, shards: int, keys: int
                 ) -> Iterator[tuple[Chunk, bytes]]:
    """One empty `final` chunk per key: the source has ended, every window may close."""
    captured_at = format_ts(captured_at_ms)
    for key in range(keys):
        chunk: Chunk[Any] = Chunk(captured_at=captured_at, poll_id=poll_id, producer=producer, shards=shards, key=key,
                                  keys=keys, part=0, parts=1, final=True)
        yield chunk, encode_chunk(chunk, [])
