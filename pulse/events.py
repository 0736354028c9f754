"""The `twitch.streams` wire format, schema v2 (DESIGN §3): snapshot chunks.

One module owns the format so the producer, the processor and every sink agree:

- `normalise` turns a Helix stream object into a stream object of the schema;
- `stream_error` says why a decoded stream object is not one (the DLQ reason);
- `Chunk` is one Kafka message: part `part` of `parts` of what producer shard `producer`
  (one of `shards`) saw for chunk key `key` (one of `keys`) at the poll `captured_at`;
- `cut_poll` cuts a poll into chunks, `encode_chunk` / `decode_chunk` are the only places
  that turn a chunk into bytes and back;
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

import operator
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Optional

import orjson

SCHEMA_VERSION = 2
MAX_CHUNK_BYTES = 900_000  # an encoded chunk stays below Kafka's default 1 MB message limit

# field -> required python type of a stream object
STREAM_FIELDS: dict[str, type] = {
    "stream_id": str,
    "user_id": str,
    "user_login": str,
    "user_name": str,
    "game_id": str,
    "game_name": str,
    "title": str,
    "language": str,
    "type": str,
    "tags": list,
    "viewer_count": int,
    "started_at": str,
    "is_mature": bool,
}
_FIELD_ITEMS = tuple(STREAM_FIELDS.items())
_FIELD_VALUES = operator.itemgetter(*STREAM_FIELDS)
_FIELD_TYPES = tuple(STREAM_FIELDS.values())


class ChunkError(ValueError):
    """A message that is not a chunk of schema v2; the text is the DLQ reason."""


def format_ts(ms: int) -> str:
    """Epoch milliseconds -> RFC 3339 UTC with milliseconds and a Z."""
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


def normalise(stream: Mapping[str, Any]) -> dict[str, Any]:
    """A Helix `GET /streams` object -> a stream object (drops the deprecated `tag_ids`)."""
    return {
        "stream_id": str(stream["id"]),
        "user_id": str(stream["user_id"]),
        "user_login": str(stream.get("user_login") or ""),
        "user_name": str(stream.get("user_name") or ""),
        "game_id": str(stream.get("game_id") or ""),
        "game_name": str(stream.get("game_name") or ""),
        "title": str(stream.get("title") or ""),
        "language": str(stream.get("language") or ""),
        "type": str(stream.get("type") or ""),
        "tags": [str(t) for t in (stream.get("tags") or [])],
        "viewer_count": int(stream["viewer_count"]),
        "started_at": str(stream["started_at"]),
        "is_mature": bool(stream.get("is_mature", False)),
    }


def stream_error(stream: Any) -> Optional[str]:
    """None if `stream` is a valid stream object, else a short reason (the DLQ header).

    `started_at` is only checked for shape here; `timestamp_error` checks it fully (the
    processor parses it anyway and caches the result per stream).
    """
    if type(stream) is not dict:
        return "stream is not a JSON object"
    try:
        values = _FIELD_VALUES(stream)
    except KeyError:
        values = None
    if values is None or tuple(map(type, values)) != _FIELD_TYPES:
        return _field_error(stream)
    if values[10] < 0:
        return "negative viewer_count"
    if values[10] >= 2**53:
        return "viewer_count out of range"
    if not values[0] or not values[1]:
        return "empty stream_id or user_id"
    if values[9]:
        for tag in values[9]:
            if type(tag) is not str:
                return "field tags must be a list of strings"
    return None


def _field_error(stream: dict) -> str:
    for name, kind in _FIELD_ITEMS:
        value = stream.get(name)
        if type(value) is not kind:
            return f"missing field {name}" if name not in stream else f"field {name} has the wrong type"
    return "invalid stream object"


def timestamp_error(value: str, name: str = "started_at") -> Optional[str]:
    try:
        parse_ts(value)
    except ValueError:
        return f"field {name} is not an RFC 3339 timestamp"
    return None


def full_stream_error(stream: Any) -> Optional[str]:
    """`stream_error` plus the timestamp check: what a sink that does not parse uses."""
    return stream_error(stream) or timestamp_error(stream["started_at"])


@dataclass
class Chunk:
    """One `twitch.streams` message (see the module doc for the fields' meaning)."""

    captured_at_ms: int
    poll_id: str
    producer: str
    shards: int
    key: int
    keys: int
    part: int
    parts: int
    final: bool = False
    streams: list[Any] = field(default_factory=list)

    @property
    def captured_at(self) -> str:
        return format_ts(self.captured_at_ms)

    @property
    def message_key(self) -> bytes:
        return str(self.key).encode()


def _header(chunk: Chunk) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "captured_at": chunk.captured_at,
        "poll_id": chunk.poll_id,
        "producer": chunk.producer,
        "shards": chunk.shards,
        "key": chunk.key,
        "keys": chunk.keys,
        "part": chunk.part,
        "parts": chunk.parts,
        "final": chunk.final,
    }


def encode_chunk(chunk: Chunk, encoded_streams: Optional[list[bytes]] = None) -> bytes:
    """The message value; `encoded_streams` (each stream already orjson-encoded) saves a pass."""
    head = orjson.dumps({**_header(chunk), "streams": []})
    streams = encoded_streams if encoded_streams is not None else [orjson.dumps(s) for s in chunk.streams]
    return head[:-3] + b"[" + b",".join(streams) + b"]}"


_HEADER_TYPES = (("captured_at", str), ("poll_id", str), ("producer", str), ("shards", int), ("key", int),
                 ("keys", int), ("part", int), ("parts", int), ("final", bool), ("streams", list))


def bookkeeping_in_range(part: int, parts: int, shards: int, key: int, keys: int) -> bool:
    return 0 <= part < parts and shards >= 1 and 0 <= key < keys


def decode_chunk(value: Optional[bytes]) -> Chunk:
    """Bytes -> Chunk; raises ChunkError with the reason. Stream objects are not validated here."""
    if value is None:
        raise ChunkError("empty value")
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise ChunkError("value is not JSON") from None
    if type(record) is not dict:
        raise ChunkError("value is not a JSON object")
    if record.get("schema") != SCHEMA_VERSION:
        raise ChunkError(f"unsupported schema {record.get('schema')!r}")
    for name, kind in _HEADER_TYPES:
        if type(record.get(name)) is not kind:
            raise ChunkError(f"chunk field {name} is missing or has the wrong type")
    if not bookkeeping_in_range(record["part"], record["parts"], record["shards"], record["key"], record["keys"]):
        raise ChunkError("chunk bookkeeping out of range")
    try:
        captured = parse_ts(record["captured_at"])
    except ValueError:
        raise ChunkError("chunk field captured_at is not an RFC 3339 timestamp") from None
    return Chunk(captured, record["poll_id"], record["producer"], record["shards"], record["key"],
                 record["keys"], record["part"], record["parts"], record["final"], record["streams"])


def v1_event(stream: Mapping[str, Any], chunk: Chunk) -> dict[str, Any]:
    """The stream object with its chunk's context: the row STREAM_LOGS.RAW_DATA keeps."""
    return {**stream, "captured_at": chunk.captured_at, "poll_id": chunk.poll_id, "schema": SCHEMA_VERSION}


def cut_poll(streams: Iterable[Mapping[str, Any]], captured_at_ms: int, poll_id: str, producer: str,
             shards: int, keys: int, max_streams: int, max_bytes: int = MAX_CHUNK_BYTES
             ) -> Iterator[tuple[Chunk, bytes]]:
    """A poll's (normalised, de-duplicated) stream objects -> (chunk, encoded value) per message.

    Every key gets at least one chunk (an empty one says "nothing of yours in this poll");
    a key's streams are cut at `max_streams` and at `max_bytes` encoded. A stream object
    that alone exceeds `max_bytes` cannot be sent and raises ChunkError (Helix objects are
    far smaller; the producer drops and counts such an object before calling this).
    """
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
            chunk = Chunk(captured_at_ms, poll_id, producer, shards, key, keys, part, len(groups),
                          streams=[s for s, _ in group])
            yield chunk, encode_chunk(chunk, [e for _, e in group])


def final_chunks(captured_at_ms: int, poll_id: str, producer: str, shards: int, keys: int
                 ) -> Iterator[tuple[Chunk, bytes]]:
    """One empty `final` chunk per key: the source has ended, every window may close."""
    for key in range(keys):
        chunk = Chunk(captured_at_ms, poll_id, producer, shards, key, keys, 0, 1, final=True)
        yield chunk, encode_chunk(chunk, [])
