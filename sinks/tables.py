"""Which topic lands in which table, with which columns and natural key (DESIGN §6, pulse/outputs.py).

Column kinds are the warehouse-neutral "timestamp", "string", "float", "int"; each warehouse
names its own types for them (`sinks.snowflake.load.SQL_TYPES`). Timestamps travel as UTC text
without a zone, 'YYYY-MM-DD HH:MM:SS.fff', which every warehouse parses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from pulse import topics
from pulse.events import format_ts, parse_ts

STREAM_LOGS = "STREAM_LOGS"


@dataclass(frozen=True)
class TableSpec:
    """A MERGE target: columns are the record's fields upper-cased, `key` its natural key."""

    table: str
    columns: tuple[tuple[str, str], ...]  # (field name in the record, column kind)
    key: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


TIMESTAMP, STRING, FLOAT, INT = "timestamp", "string", "float", "int"
_TS, _STR, _F, _I = TIMESTAMP, STRING, FLOAT, INT

GAME_WINDOWS = TableSpec("GAME_WINDOWS", (
    ("window_start", _TS), ("window_end", _TS), ("game_id", _STR), ("game_name", _STR),
    ("watch_hours", _F), ("air_hours", _F), ("avg_viewers", _F), ("avg_channels", _F),
    ("peak_viewers", _I), ("peak_at", _TS), ("peak_channels", _I), ("unique_channels", _I),
    ("new_streams", _I), ("rank", _I),
), key=("window_start", "game_id"))

CHANNEL_WINDOWS = TableSpec("CHANNEL_WINDOWS", (
    ("window_start", _TS), ("window_end", _TS), ("user_id", _STR), ("user_login", _STR),
    ("user_name", _STR), ("game_id", _STR), ("game_name", _STR), ("watch_hours", _F),
    ("air_hours", _F), ("avg_viewers", _F), ("peak_viewers", _I), ("rank", _I),
), key=("window_start", "user_id"))

GAME_TOP_CHANNELS = TableSpec("GAME_TOP_CHANNELS", (
    ("window_start", _TS), ("window_end", _TS), ("game_id", _STR), ("game_name", _STR),
    ("rank", _I), ("user_id", _STR), ("user_login", _STR), ("user_name", _STR),
    ("watch_hours", _F), ("air_hours", _F), ("peak_viewers", _I),
), key=("window_start", "game_id", "rank"))

ALERTS = TableSpec("ALERTS", (
    ("alert_id", _STR), ("kind", _STR), ("subject_type", _STR), ("subject_id", _STR),
    ("subject_name", _STR), ("game_id", _STR), ("game_name", _STR), ("viewers", _I),
    ("baseline", _F), ("threshold", _I), ("captured_at", _TS), ("url", _STR),
), key=("alert_id",))

# un-prefixed topic name -> table
BY_TOPIC: dict[str, TableSpec] = {
    topics.WINDOWS_GAMES: GAME_WINDOWS,
    topics.WINDOWS_CHANNELS: CHANNEL_WINDOWS,
    topics.WINDOWS_TOP_CHANNELS: GAME_TOP_CHANNELS,
    topics.ALERTS: ALERTS,
}


def utc_text(value: Any) -> Optional[str]:
    """RFC 3339 UTC -> 'YYYY-MM-DD HH:MM:SS.fff' (UTC, no zone); None stays None."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 24 and value[10] == "T" and value[-1] == "Z":
        return f"{value[:10]} {value[11:23]}"  # the producer's and processor's own format: fast path
    return utc_text_from_ms(parse_ts(value))


def utc_text_from_ms(ms: int) -> str:
    text = format_ts(ms)
    return f"{text[:10]} {text[11:23]}"
