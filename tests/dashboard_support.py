"""A small warehouse with known rows for the dashboard tests: three 10-minute windows (the
newest still "loading", so the latest complete one is the middle one), three games, four
channels, their top channels and two alerts. Values are picked so each formats differently."""

from __future__ import annotations

import urllib.request
from datetime import datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 1, 12, 0)
W = timedelta(minutes=10)
W0, W1, W2 = T0, T0 + W, T0 + 2 * W  # W1 is the latest complete window, W0 the one before

# (window, game_id, name, watch_hours, avg_viewers, peak_viewers, unique_channels, rank)
GAMES = [
    (W0, "509658", "Just Chatting", 9000.0, 54000.0, 60000, 3, 2),
    (W0, "21779", "League of Legends", 9500.0, 57000.0, 61000, 1, 1),
    (W1, "509658", "Just Chatting", 12345.6, 74073.6, 80123, 3, 1),
    (W1, "21779", "League of Legends", 7500.0, 45000.0, 51234, 1, 2),
    (W1, "33214", "Fortnite", 999.96, 5999.8, 6100, 1, 3),
    (W2, "33214", "Fortnite", 50000.0, 300000.0, 310000, 1, 1),
    (W2, "509658", "Just Chatting", 100.0, 600.0, 700, 1, 2),
]

# (window, user_id, login, name, game_id, game_name, watch_hours, avg_viewers, peak_viewers, rank)
CHANNELS = [
    (W0, "u1", "kaicenat", "KaiCenat", "509658", "Just Chatting", 5000.0, 30000.0, 31000, 2),
    (W0, "u3", "faker", "Faker", "21779", "League of Legends", 9500.0, 57000.0, 61000, 1),
    (W1, "u1", "kaicenat", "KaiCenat", "509658", "Just Chatting", 8000.0, 48000.0, 52000, 1),
    (W1, "u3", "faker", "Faker", "21779", "League of Legends", 7500.0, 45000.0, 51234, 2),
    (W1, "u2", "ibai", "Ibai", "509658", "Just Chatting", 4000.0, 24000.0, 25500, 3),
    (W1, "u4", "ninja", "Ninja", "33214", "Fortnite", 999.96, 5999.8, 6100, 4),
    (W2, "u4", "ninja", "Ninja", "33214", "Fortnite", 50000.0, 300000.0, 310000, 1),
]

# (window, game_id, game_name, rank, user_id, login, name, watch_hours, air_hours, peak_viewers)
TOP_CHANNELS = [
    (W1, "509658", "Just Chatting", 1, "u1", "kaicenat", "KaiCenat", 8000.0, 0.1667, 52000),
    (W1, "509658", "Just Chatting", 2, "u2", "ibai", "Ibai", 4000.0, 0.1667, 25500),
    (W0, "509658", "Just Chatting", 1, "u1", "kaicenat", "KaiCenat", 5000.0, 0.1667, 31000),
]

# (alert_id, kind, subject_type, subject_id, subject_name, game_id, game_name, viewers, baseline, threshold, at, url)
ALERTS = [
    ("a1", "threshold", "channel", "u1", "KaiCenat", "509658", "Just Chatting", 52000, 30000.0, 10000,
     W1 + timedelta(minutes=5), "https://www.twitch.tv/kaicenat"),
    ("a2", "game_surge", "game", "33214", "Fortnite", "33214", "Fortnite", 310000, 6000.0, 1000,
     W2 + timedelta(minutes=3), "https://www.twitch.tv/directory/category/fortnite"),
]


def seed(conn: Any) -> None:
    """Insert the rows above (the tables must exist: `sinks.snowflake.schema.bootstrap`)."""
    cur = conn.cursor()
    cur.executemany(
        "INSERT INTO GAME_WINDOWS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, "
        "PEAK_VIEWERS, UNIQUE_CHANNELS, RANK) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(w, w + W, g, n, wh, uc / 6, av, pk, uc, r) for w, g, n, wh, av, pk, uc, r in GAMES])
    cur.executemany(
        "INSERT INTO CHANNEL_WINDOWS (WINDOW_START, WINDOW_END, USER_ID, USER_LOGIN, USER_NAME, GAME_ID, GAME_NAME, "
        "WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS, RANK) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(w, w + W, u, lg, nm, g, gn, wh, 1 / 6, av, pk, r) for w, u, lg, nm, g, gn, wh, av, pk, r in CHANNELS])
    cur.executemany(
        "INSERT INTO GAME_TOP_CHANNELS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, RANK, USER_ID, USER_LOGIN, "
        "USER_NAME, WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(w, w + W, *rest) for w, *rest in TOP_CHANNELS])
    cur.executemany(
        "INSERT INTO ALERTS (ALERT_ID, KIND, SUBJECT_TYPE, SUBJECT_ID, SUBJECT_NAME, GAME_ID, GAME_NAME, VIEWERS, "
        "BASELINE, THRESHOLD, CAPTURED_AT, URL) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", ALERTS)
    cur.close()


def healthy(url: str) -> bool:
    """Does the Streamlit server at `url` answer its health check?"""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
