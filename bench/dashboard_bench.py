"""Dashboard render times: each page rendered by Streamlit's AppTest (the whole script: queries
through the real connector, tables, Altair charts) against a warehouse holding 7 days of
10-minute windows for 10k channels (10M CHANNEL_WINDOWS rows), as issue 11 asks.

    .venv/bin/python -m bench.dashboard_bench [--port 28965] [--days 7] [--channels 10000] [--repeat 3]

Seeds a throw-away schema of the local fakesnow server (SNOWFLAKE_PORT unless --port), dropped
at the end. "cold" is the median of --repeat renders with the query cache emptied first (every
query runs); "warm" the best of --repeat renders within the cache TTL (what a refresh costs).
The synthetic seed (`seed_synthetic`) is also what the browser test's screenshot shows.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = ("views/overview.py", "views/game.py", "views/channel.py", "views/alerts.py")
# (label, page, widget values): each page on the default range and the longest preset, and the
# two searches that scan history
CASES = [(f"{page.split('/')[1][:-3]}", page, {"range_choice": rng}) for page in PAGES
         for rng in ("Last 24 hours", "Last 7 days")] + [
    ("game search", "views/game.py", {"range_choice": "Last 7 days", "game_search": "league"}),
    ("channel search", "views/channel.py", {"range_choice": "Last 7 days", "channel_search": "channel99"}),
]

GAMES = ("Just Chatting", "Grand Theft Auto V", "League of Legends", "Counter-Strike", "Valorant", "Fortnite",
         "Minecraft", "Dota 2", "World of Warcraft", "Call of Duty: Warzone", "Apex Legends", "EA Sports FC 25",
         "Overwatch 2", "Rocket League", "Dead by Daylight", "Hearthstone", "Escape from Tarkov", "Elden Ring",
         "Marvel Rivals", "Path of Exile 2", "Rust", "Teamfight Tactics", "Music", "Art", "Slots",
         "Street Fighter 6", "Tekken 8", "Roblox", "Sports", "Chess", "Pokémon", "Baldur's Gate 3",
         "Hollow Knight", "Stardew Valley", "The Sims 4", "Lethal Company", "Phasmophobia", "Among Us",
         "Talk Shows & Podcasts", "Special Events")


def seed_synthetic(conn: Any, start: datetime, days: float, channels: int) -> int:
    """Fill the window tables with `days` of 10-minute windows for `channels` channels, in SQL
    (GENERATOR), deterministic: Zipf-like channel sizes, a daily cycle peaking about 11:40 after
    `start`, a game switch every 6 h (the first games of GAMES draw the most channels).
    GAME_WINDOWS, GAME_TOP_CHANNELS and ALERTS are derived from CHANNEL_WINDOWS, so the tables
    agree. Returns the number of CHANNEL_WINDOWS rows."""
    windows = int(days * 144)
    cur = conn.cursor()
    names = " UNION ALL ".join(f"SELECT {i} AS GI, %s AS GAME_NAME" for i in range(len(GAMES)))
    cur.execute(f"""
        INSERT INTO CHANNEL_WINDOWS (WINDOW_START, WINDOW_END, USER_ID, USER_LOGIN, USER_NAME, GAME_ID,
                                     GAME_NAME, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS, RANK)
        WITH W AS (SELECT SEQ4() AS WI FROM TABLE(GENERATOR(ROWCOUNT => %s))),
             C AS (SELECT SEQ4() AS CI FROM TABLE(GENERATOR(ROWCOUNT => %s))),
             G AS ({names}),
             S AS (
                SELECT WI, CI,
                       300000.0 / (CI + 10) * (1.15 + SIN(MOD(WI, 144) / 144.0 * 6.283185 - 1.5))
                           * (0.85 + 0.15 * SIN(CI * 12.9898 + WI * 78.233)) AS VIEWERS,
                       CAST(FLOOR({len(GAMES)} * POWER(MOD(CI * 0.6180339 + FLOOR(WI / 36) * 0.1, 1), 2)) AS INTEGER) AS GI
                FROM W CROSS JOIN C)
        SELECT DATEADD('minute', 10 * S.WI, %s::TIMESTAMP_NTZ), DATEADD('minute', 10 * S.WI + 10, %s::TIMESTAMP_NTZ),
               'u' || S.CI, 'channel' || S.CI, 'Channel ' || S.CI, 'g' || S.GI, G.GAME_NAME,
               S.VIEWERS / 6, 1.0 / 6, S.VIEWERS, CEIL(S.VIEWERS * 1.1),
               RANK() OVER (PARTITION BY S.WI ORDER BY S.VIEWERS DESC)
        FROM S JOIN G ON G.GI = S.GI""", (windows, channels, *GAMES, start, start))
    cur.execute("""
        INSERT INTO GAME_WINDOWS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS,
                                  AVG_CHANNELS, PEAK_VIEWERS, PEAK_CHANNELS, UNIQUE_CHANNELS, NEW_STREAMS, RANK)
        SELECT WINDOW_START, MAX(WINDOW_END), GAME_ID, MAX(GAME_NAME), SUM(WATCH_HOURS), SUM(AIR_HOURS),
               SUM(WATCH_HOURS) * 6, SUM(AIR_HOURS) * 6, SUM(PEAK_VIEWERS), COUNT(*), COUNT(*), 0,
               RANK() OVER (PARTITION BY WINDOW_START ORDER BY SUM(WATCH_HOURS) DESC)
        FROM CHANNEL_WINDOWS GROUP BY WINDOW_START, GAME_ID""")
    cur.execute("""
        INSERT INTO GAME_TOP_CHANNELS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, RANK, USER_ID, USER_LOGIN,
                                       USER_NAME, WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS)
        SELECT WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, R, USER_ID, USER_LOGIN, USER_NAME, WATCH_HOURS,
               AIR_HOURS, PEAK_VIEWERS
        FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY WINDOW_START, GAME_ID ORDER BY WATCH_HOURS DESC, USER_ID) AS R
              FROM CHANNEL_WINDOWS) T
        WHERE R <= 10""")
    cur.execute("""
        INSERT INTO ALERTS (ALERT_ID, KIND, SUBJECT_TYPE, SUBJECT_ID, SUBJECT_NAME, GAME_ID, GAME_NAME, VIEWERS,
                            BASELINE, THRESHOLD, CAPTURED_AT, URL)
        SELECT 'threshold-' || USER_ID || '-' || TO_VARCHAR(WINDOW_START), 'threshold', 'channel', USER_ID, USER_NAME,
               GAME_ID, GAME_NAME, PEAK_VIEWERS, AVG_VIEWERS * 0.8, 10000, DATEADD('minute', 4, WINDOW_START),
               'https://www.twitch.tv/' || USER_LOGIN
        FROM CHANNEL_WINDOWS
        WHERE RANK <= 3 AND MINUTE(WINDOW_START) = 0 AND MOD(HOUR(WINDOW_START), 6) = 0""")
    cur.execute("SELECT COUNT(*) FROM CHANNEL_WINDOWS")
    rows = int(cur.fetchone()[0])
    cur.close()
    return rows


def clear_cache() -> None:
    """Empty the query cache, from inside an app run (AppTest's runtime holds the cache)."""
    from streamlit.testing.v1 import AppTest

    AppTest.from_string("import streamlit as st\nst.cache_data.clear()").run()


def render(page: str, state: Optional[dict[str, Any]] = None, timeout: float = 120) -> float:
    """Seconds for one AppTest run of `page` (the entry script, then the page, as in a browser),
    with widget values preset in `state`."""
    from streamlit.testing.v1 import AppTest

    # presetting widget values happens outside a script run: Streamlit warns each time, harmlessly
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(page)  # before the first run, so only this page's queries run
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None, help="fakesnow port (default: SNOWFLAKE_PORT)")
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from analytics.runner import run_dbt
    from bench.scratch import scratch_schema

    with scratch_schema(args.port) as (settings, conn):
        started = time.perf_counter()
        rows = seed_synthetic(conn, datetime(2026, 1, 5), args.days, args.channels)
        print(f"seeded {rows:,} CHANNEL_WINDOWS rows ({args.days:g} days x {args.channels:,} channels) "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        outcome = run_dbt(settings, ["run", "--select", "platform_hourly", "platform_daily"], say=lambda line: None)
        if outcome.code:
            raise RuntimeError(outcome.summary)
        print(f"built the dashboard's dbt models (PLATFORM_HOURLY, PLATFORM_DAILY) in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        os.environ.update(settings.as_env())
        os.environ["DASHBOARD_REFRESH"] = "0"
        render(PAGES[0])  # imports Streamlit, Altair and pandas once, outside the figures
        print(f"{'page':<16}{'range':<15}{'cold s':>8}{'warm s':>8}", flush=True)
        for label, page, state in CASES:
            colds = []
            for _ in range(args.repeat):
                clear_cache()
                colds.append(render(page, state))
            cold = statistics.median(colds)
            warm = min(render(page, state) for _ in range(args.repeat))
            print(f"{label:<16}{state['range_choice']:<15}{cold:>8.2f}{warm:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
