"""The `twitch.streams` event, schema v1 (DESIGN §3), and the partition tick.

One module owns the wire format so the producer, the processor and every sink agree:
`normalise` turns a Helix stream object into an event, `validate` says why a decoded
record is not one, and `tick` builds the per-partition progress marker the producer sends
after every poll (and at the end of a replay) so windows close on time.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Optional

import orjson

SCHEMA_VERSION = 1
TICK_KEY = "__tick__"
TICK_HEADER = "x-pulse-tick"

# field -> required python type(s) of a v1 event
EVENT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "captured_at": str,
    "poll_id": str,
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


def normalise(stream: Mapping[str, Any], captured_at_ms: int, poll_id: str) -> dict[str, Any]:
    """A Helix `GET /streams` object -> a schema v1 event (drops the deprecated `tag_ids`)."""
    return {
        "schema": SCHEMA_VERSION,
        "captured_at": format_ts(captured_at_ms),
        "poll_id": poll_id,
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


def validate(event: Any) -> Optional[str]:
    """None if `event` is a valid v1 event, else a short reason (goes into the DLQ header)."""
    if not isinstance(event, dict):
        return "not a JSON object"
    for field, kind in EVENT_FIELDS.items():
        if field not in event:
            return f"missing field {field}"
        value = event[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"field {field} has the wrong type"
    if event["schema"] != SCHEMA_VERSION:
        return f"unsupported schema {event['schema']}"
    if event["viewer_count"] < 0:
        return "negative viewer_count"
    if not event["stream_id"] or not event["user_id"]:
        return "empty stream_id or user_id"
    for field in ("captured_at", "started_at"):
        try:
            parse_ts(event[field])
        except ValueError:
            return f"field {field} is not an RFC 3339 timestamp"
    if not all(isinstance(tag, str) for tag in event["tags"]):
        return "field tags must be a list of strings"
    return None


def tick(captured_at_ms: int, producer: str, shards: int = 1, final: bool = False) -> dict[str, Any]:
    """Progress marker: this producer shard has sent everything up to `captured_at` to this partition.

    `final` says the source is finished (end of a replay): every window may close.
    """
    return {
        "schema": SCHEMA_VERSION,
        "tick": True,
        "captured_at": format_ts(captured_at_ms),
        "producer": producer,
        "shards": shards,
        "final": final,
    }


def is_tick(value: Any) -> bool:
    return isinstance(value, dict) and value.get("tick") is True


def is_tick_message(key: Optional[bytes | str], headers: Any) -> bool:
    """Cheap check on a raw Kafka message, before decoding the value (sinks skip ticks)."""
    if key in (TICK_KEY, TICK_KEY.encode()):
        return True
    for name, _ in headers or ():
        if name == TICK_HEADER:
            return True
    return False


dumps = orjson.dumps
loads = orjson.loads
