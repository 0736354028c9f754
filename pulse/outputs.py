"""The processor's output records: the contract between the processor and the sinks, each
declared once here. A record's class says everything about it:

- its fields, in order, with their types: the topic carries the record as a JSON object of
  these fields (`encode`); timestamps (`Timestamp`) are RFC 3339 UTC strings with ms;
- `TOPIC`: the topic it travels on; `TABLE`: the warehouse table it lands in, whose columns
  are the fields upper-cased (`sinks.tables.spec_of` derives the table spec, and a test
  checks every warehouse's DDL against it);
- `KEY`: its natural key, which is also the Kafka message key (`key_of`), so a sink can
  de-duplicate and MERGE. The warehouse writes one row per natural key.

msgspec structs: the processor builds and encodes them, the sinks decode and validate them
(`decoder`), with no hand-written field lists anywhere else.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any, Callable, ClassVar, Optional

import msgspec

from . import topics

# A point in time: RFC 3339 UTC with milliseconds in the topic, TIMESTAMP in the warehouse.
Timestamp = Annotated[str, msgspec.Meta(extra={"kind": "timestamp"})]


class OutputRecord(msgspec.Struct, kw_only=True):
    """Base of every output record (see the module doc)."""

    TOPIC: ClassVar[str]
    TABLE: ClassVar[str]
    KEY: ClassVar[tuple[str, ...]]


class GameWindow(OutputRecord):
    """GAME_WINDOWS: one game in one window (DESIGN §4)."""

    TOPIC = topics.WINDOWS_GAMES
    TABLE = "GAME_WINDOWS"
    KEY = ("window_start", "game_id")

    window_start: Timestamp
    window_end: Timestamp
    game_id: str
    game_name: str
    watch_hours: float
    air_hours: float
    avg_viewers: float
    avg_channels: float
    peak_viewers: int
    peak_at: Timestamp
    peak_channels: int
    unique_channels: int
    new_streams: int
    rank: int


class LanguageWindow(OutputRecord):
    """LANGUAGE_WINDOWS: GAME_WINDOWS' columns and rules with the language in place of the game."""

    TOPIC = topics.WINDOWS_LANGUAGES
    TABLE = "LANGUAGE_WINDOWS"
    KEY = ("window_start", "language")

    window_start: Timestamp
    window_end: Timestamp
    language: str
    watch_hours: float
    air_hours: float
    avg_viewers: float
    avg_channels: float
    peak_viewers: int
    peak_at: Timestamp
    peak_channels: int
    unique_channels: int
    new_streams: int
    rank: int


class ChannelWindow(OutputRecord):
    """CHANNEL_WINDOWS: one channel in one window, ranked among all channels."""

    TOPIC = topics.WINDOWS_CHANNELS
    TABLE = "CHANNEL_WINDOWS"
    KEY = ("window_start", "user_id")

    window_start: Timestamp
    window_end: Timestamp
    user_id: str
    user_login: str
    user_name: str
    game_id: str
    game_name: str
    watch_hours: float
    air_hours: float
    avg_viewers: Optional[float]  # watch / air: None for a channel with no air time
    peak_viewers: int
    rank: int


class TopChannel(OutputRecord):
    """GAME_TOP_CHANNELS: the channel at `rank` of a game's top N in one window."""

    TOPIC = topics.WINDOWS_TOP_CHANNELS
    TABLE = "GAME_TOP_CHANNELS"
    KEY = ("window_start", "game_id", "rank")

    window_start: Timestamp
    window_end: Timestamp
    game_id: str
    game_name: str
    rank: int
    user_id: str
    user_login: str
    user_name: str
    watch_hours: float
    air_hours: float
    peak_viewers: int


class StreamWindow(OutputRecord):
    """STREAM_WINDOWS: one broadcast (stream id) in one window."""

    TOPIC = topics.WINDOWS_STREAMS
    TABLE = "STREAM_WINDOWS"
    KEY = ("window_start", "stream_id")

    window_start: Timestamp
    window_end: Timestamp
    stream_id: str
    user_id: str
    user_login: str
    user_name: str
    started_at: Timestamp
    game_id: str      # the game with the most air time in the window (ties: seen last)
    game_name: str
    games: int        # distinct game ids in the window
    title: str        # at the stream's last sample in the window, as are language and is_mature
    language: str
    is_mature: bool
    watch_hours: float
    air_hours: float
    peak_viewers: int
    peak_at: Timestamp  # earliest on ties
    first_seen: Timestamp
    last_seen: Timestamp
    samples: int


class Alert(OutputRecord):
    """ALERTS: one spike alert (DESIGN §5)."""

    TOPIC = topics.ALERTS
    TABLE = "ALERTS"
    KEY = ("alert_id",)

    alert_id: str          # "<kind>:<subject_id>:<captured_at epoch ms>", unique per alert
    kind: str              # "threshold" | "surge" | "game_surge"
    subject_type: str      # "channel" | "game"
    subject_id: str        # user_id or game_id
    subject_name: str      # user_login / display name, or game name
    game_id: str
    game_name: str
    viewers: int
    baseline: Optional[float]  # mean over the baseline period; None for threshold alerts
    threshold: int         # the level that was crossed (T, or max(M, (1+R)*baseline) rounded up)
    captured_at: Timestamp
    url: str               # https://www.twitch.tv/<login> or the category directory page


WINDOW_RECORDS: tuple[type[OutputRecord], ...] = (GameWindow, ChannelWindow, TopChannel, StreamWindow,
                                                   LanguageWindow)
RECORDS: tuple[type[OutputRecord], ...] = (*WINDOW_RECORDS, Alert)
BY_TOPIC: dict[str, type[OutputRecord]] = {record.TOPIC: record for record in RECORDS}

_ENCODER = msgspec.json.Encoder()
_KEY_GETTERS: dict[type, Callable[[Any], Any]] = {record: attrgetter(*record.KEY) for record in RECORDS}


def encode(record: OutputRecord) -> bytes:
    """The one place a record becomes the bytes its topic carries (a JSON object)."""
    return _ENCODER.encode(record)


def key_of(record: OutputRecord) -> str:
    """The natural key as the message key: the key fields joined by `|`."""
    value = _KEY_GETTERS[type(record)](record)
    return "|".join(map(str, value)) if isinstance(value, tuple) else str(value)


def decoder(record: type[OutputRecord]) -> msgspec.json.Decoder:
    """Decodes and type-checks a topic's value back into its record (the sinks' input)."""
    return msgspec.json.Decoder(record)
