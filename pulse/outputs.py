"""The processor's output records (the window topics and `twitch.alerts`): the contract
between the processor and the sinks. Values are JSON objects (orjson); timestamps are
RFC 3339 UTC strings with milliseconds, as in the input event.

Keys make each record's natural key explicit, so a sink can de-duplicate and MERGE:
- `twitch.windows.games`         key `<window_start>|<game_id>`
- `twitch.windows.channels`      key `<window_start>|<user_id>`
- `twitch.windows.top_channels`  key `<window_start>|<game_id>|<rank>`
- `twitch.alerts`                key `<alert_id>`
"""

from __future__ import annotations

from typing import Optional, TypedDict


class GameWindow(TypedDict):
    window_start: str
    window_end: str
    game_id: str
    game_name: str
    watch_hours: float
    air_hours: float
    avg_viewers: float
    avg_channels: float
    peak_viewers: int
    peak_at: str
    peak_channels: int
    unique_channels: int
    new_streams: int
    rank: int


class ChannelWindow(TypedDict):
    window_start: str
    window_end: str
    user_id: str
    user_login: str
    user_name: str
    game_id: str
    game_name: str
    watch_hours: float
    air_hours: float
    avg_viewers: float
    peak_viewers: int
    rank: int


class TopChannel(TypedDict):
    window_start: str
    window_end: str
    game_id: str
    game_name: str
    rank: int
    user_id: str
    user_login: str
    user_name: str
    watch_hours: float
    air_hours: float
    peak_viewers: int


class Alert(TypedDict):
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
    captured_at: str
    url: str               # https://www.twitch.tv/<login> or the category directory page


def game_window_key(row: GameWindow) -> str:
    return f"{row['window_start']}|{row['game_id']}"


def channel_window_key(row: ChannelWindow) -> str:
    return f"{row['window_start']}|{row['user_id']}"


def top_channel_key(row: TopChannel) -> str:
    return f"{row['window_start']}|{row['game_id']}|{row['rank']}"
