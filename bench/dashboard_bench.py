"""Dashboard render times against a warehouse holding 7 days of 10-minute windows for 10k
channels (10M CHANNEL_WINDOWS rows), as issues 11 and 20 ask:

    .venv/bin/python -m bench.dashboard_bench [--port 28965] [--days 7] [--channels 10000] [--repeat 3]
                                             [--no-browser]

Seeds a throw-away schema of the local fakesnow server (SNOWFLAKE_PORT unless --port), dropped
at the end, and measures two things:

1. The server side: each page's script rendered by Streamlit's AppTest (queries through the
   real connector, tables, Altair specs). "cold" is the median of --repeat renders with every
   cache emptied first (every statement runs), "warm" the best of --repeat renders of a
   snapshot already read (what a new viewer or a redraw costs); with the statements and the
   seconds the warehouse took for the cold snapshot.
2. In a browser (Debian's headless Chromium, skipped without it): `twitch-pulse dashboard` as
   its own process, each page loaded until it is complete (its tables and charts drawn), from
   the navigation on: the first view on a freshly started server, then a new viewer's.

The synthetic seed (`seed_synthetic`) is also what the browser test's screenshots show.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Optional

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = ("views/overview.py", "views/rankings.py", "views/game.py", "views/channel.py", "views/alerts.py")
# (label, page, widget values): each page on the default range and the longest preset, and the
# two searches that scan history
CASES = [(f"{page.split('/')[1][:-3]}", page, {"range": rng}) for page in PAGES
         for rng in ("Last 24 hours", "Last 7 days") if page != "views/rankings.py" or rng == "Last 24 hours"] + [
    ("game search", "views/game.py", {"range": "Last 7 days", "game_search": "league"}),
    ("channel search", "views/channel.py", {"range": "Last 7 days", "channel_search": "channel99"}),
]
# In the browser: each page's URL path, and what it has once complete (tables, drawn charts)
# The dbt models the dashboard reads (built once after the seed, as `models build` would)
DBT_MODELS = ("platform_hourly", "platform_daily", "language_daily", "+game_daily", "+channel_daily",
              "game_monthly", "channel_monthly", "broadcasts")
BROWSER_PAGES = (("overview", "", 2, 6), ("rankings", "rankings", 2, 0), ("game", "game", 1, 2),
                 ("channel", "channel", 2, 3), ("alerts", "alerts", 1, 0))

GAMES = ("Just Chatting", "Grand Theft Auto V", "League of Legends", "Counter-Strike", "Valorant", "Fortnite",
         "Minecraft", "Dota 2", "World of Warcraft", "Call of Duty: Warzone", "Apex Legends", "EA Sports FC 25",
         "Overwatch 2", "Rocket League", "Dead by Daylight", "Hearthstone", "Escape from Tarkov", "Elden Ring",
         "Marvel Rivals", "Path of Exile 2", "Rust", "Teamfight Tactics", "Music", "Art", "Slots",
         "Street Fighter 6", "Tekken 8", "Roblox", "Sports", "Chess", "Pokémon", "Baldur's Gate 3",
         "Hollow Knight", "Stardew Valley", "The Sims 4", "Lethal Company", "Phasmophobia", "Among Us",
         "Talk Shows & Podcasts", "Special Events")


# A channel's language, by its number: half English, then Spanish, German, Portuguese, ...
LANGUAGE_OF = ("CASE WHEN MOD(CI, 20) < 10 THEN 'en' WHEN MOD(CI, 20) < 13 THEN 'es' WHEN MOD(CI, 20) < 15 THEN 'de' "
               "WHEN MOD(CI, 20) = 15 THEN 'pt' WHEN MOD(CI, 20) = 16 THEN 'fr' WHEN MOD(CI, 20) = 17 THEN 'ja' "
               "WHEN MOD(CI, 20) = 18 THEN 'ko' ELSE 'ru' END")


def seed_synthetic(conn: Any, start: datetime, days: float, channels: int) -> int:
    """Fill the window tables with `days` of 10-minute windows for `channels` channels, in SQL
    (GENERATOR), deterministic: Zipf-like channel sizes, a daily cycle peaking about 11:40 after
    `start`, a game switch every 6 h (the first games of GAMES draw the most channels), one
    broadcast per channel between switches, languages by channel (LANGUAGE_OF). GAME_WINDOWS,
    GAME_TOP_CHANNELS, STREAM_WINDOWS, LANGUAGE_WINDOWS and ALERTS are derived from
    CHANNEL_WINDOWS, so the tables agree (every window is complete, as the dashboard checks).
    Returns the number of CHANNEL_WINDOWS rows."""
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
        SELECT 'threshold-' || USER_ID || '-' || TO_VARCHAR(WINDOW_START), 'threshold', 'channel', USER_ID, USER_LOGIN,
               GAME_ID, GAME_NAME, PEAK_VIEWERS, AVG_VIEWERS * 0.8, 10000, DATEADD('minute', 4, WINDOW_START),
               'https://www.twitch.tv/' || USER_LOGIN
        FROM CHANNEL_WINDOWS
        WHERE RANK <= 3 AND MINUTE(WINDOW_START) = 0 AND MOD(HOUR(WINDOW_START), 6) = 0""")
    # one broadcast per channel and 6 h (between game switches), in the channel's language
    cur.execute(f"""
        INSERT INTO STREAM_WINDOWS (WINDOW_START, WINDOW_END, STREAM_ID, USER_ID, USER_LOGIN, USER_NAME, STARTED_AT,
                                    GAME_ID, GAME_NAME, GAMES, TITLE, LANGUAGE, IS_MATURE, WATCH_HOURS, AIR_HOURS,
                                    PEAK_VIEWERS, PEAK_AT, FIRST_SEEN, LAST_SEEN, SAMPLES)
        SELECT WINDOW_START, WINDOW_END, USER_ID || '-' || B, USER_ID, USER_LOGIN, USER_NAME,
               DATEADD('minute', 360 * B - 3, %s::TIMESTAMP_NTZ), GAME_ID, GAME_NAME, 1,
               USER_NAME || ' plays ' || GAME_NAME, {LANGUAGE_OF}, FALSE, WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS,
               DATEADD('minute', 5, WINDOW_START), WINDOW_START, DATEADD('minute', 9, WINDOW_START), 10
        FROM (SELECT *, FLOOR(DATEDIFF('minute', %s::TIMESTAMP_NTZ, WINDOW_START) / 360) AS B,
                     CAST(SUBSTR(USER_ID, 2) AS INTEGER) AS CI FROM CHANNEL_WINDOWS) C""", (start, start))
    cur.execute("""
        INSERT INTO LANGUAGE_WINDOWS (WINDOW_START, WINDOW_END, LANGUAGE, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS,
                                      AVG_CHANNELS, PEAK_VIEWERS, PEAK_CHANNELS, UNIQUE_CHANNELS, NEW_STREAMS, RANK)
        SELECT WINDOW_START, MAX(WINDOW_END), LANGUAGE, SUM(WATCH_HOURS), SUM(AIR_HOURS), SUM(WATCH_HOURS) * 6,
               SUM(AIR_HOURS) * 6, SUM(PEAK_VIEWERS), COUNT(*), COUNT(*), 0,
               RANK() OVER (PARTITION BY WINDOW_START ORDER BY SUM(WATCH_HOURS) DESC)
        FROM STREAM_WINDOWS GROUP BY WINDOW_START, LANGUAGE""")
    cur.execute("SELECT COUNT(*) FROM CHANNEL_WINDOWS")
    rows = int(cur.fetchone()[0])
    cur.close()
    return rows


# --- server side: AppTest ---------------------------------------------------------------------


def clear_cache() -> None:
    """Empty the snapshot cache, from inside an app run (AppTest's runtime holds the cache)."""
    from streamlit.testing.v1 import AppTest

    AppTest.from_string("import streamlit as st\nst.cache_data.clear()").run()


def render(page: str, state: Optional[dict[str, Any]] = None, timeout: float = 120) -> tuple[float, tuple[int, float]]:
    """Seconds for one AppTest run of `page` (the entry script, then the page, as in a browser),
    with widget values preset in `state`; and the snapshot's (statements, warehouse seconds)."""
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
    return elapsed, at.session_state["loaded"] if "loaded" in at.session_state else (0, 0.0)


def server_side(repeat: int) -> None:
    render(PAGES[0])  # imports Streamlit, Altair and pandas once, outside the figures
    print(f"{'page':<16}{'range':<15}{'cold s':>8}{'warm s':>8}{'statements':>12}{'in warehouse s':>16}", flush=True)
    for label, page, state in CASES:
        colds, cost = [], (0, 0.0)
        for _ in range(repeat):
            clear_cache()
            seconds, cost = render(page, state)
            colds.append(seconds)
        warm = min(render(page, state)[0] for _ in range(repeat))
        print(f"{label:<16}{state['range']:<15}{statistics.median(colds):>8.2f}{warm:>8.2f}{cost[0]:>12}"
              f"{cost[1]:>16.2f}", flush=True)


# --- in a browser ------------------------------------------------------------------------------


@contextmanager
def dashboard_server(env: dict[str, str], logs: Path) -> Iterator[tuple[str, float]]:
    """`twitch-pulse dashboard` on a free port (no live updates: nothing redraws while measured),
    once it has started and warmed up; yields its URL and how long the warm-up took."""
    from devstack.service import free_port
    from tests.dashboard_support import healthy

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = logs / f"dashboard-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pulse", "dashboard", "--port", str(port), "--refresh", "0"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        warmed = None
        while warmed is None:
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited with {proc.returncode}; log {log}")
            found = re.search(r"warmed up in ([0-9.]+) s|warm-up run failed", log.read_text())
            if found:
                warmed = float(found.group(1) or "nan")
            time.sleep(0.05)
        assert healthy(url)
        yield url, warmed
    finally:
        proc.terminate()
        proc.wait(30)


def chromium() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,2300"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)


COMPLETE = """
    const tables = document.querySelectorAll('table.pulse-table').length;
    const charts = document.querySelectorAll(
        '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks').length;
    const running = document.querySelector('[data-testid="stStatusWidget"]') !== null;
    return tables >= arguments[0] && charts >= arguments[1] && !running;"""


def load_page(driver: Any, url: str, tables: int, charts: int, timeout: float = 120) -> float:
    """Seconds from navigating to `url` until the page is complete."""
    started = time.perf_counter()
    driver.get(url)
    while not driver.execute_script(COMPLETE, tables, charts):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{url}: not complete within {timeout:.0f} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def in_browser(env: dict[str, str], repeat: int, logs: Path) -> None:
    """Each page: the first view of a freshly started server, a new viewer's (a browser with an
    empty cache), and that viewer's second visit (Streamlit's scripts in the browser's cache)."""
    rows = {"first view, server just started (s)": {}, "a new viewer (s)": {}, "the same viewer again (s)": {}}
    labels = list(rows)
    warm_ups = []
    for _ in range(repeat):
        with dashboard_server(env, logs) as (url, warmed):
            warm_ups.append(warmed)
            for visits, label_of in ((1, lambda v: labels[0]), (2, lambda v: labels[1 + v])):
                viewer = chromium()
                try:
                    for visit in range(visits):
                        for name, path, tables, charts in BROWSER_PAGES:
                            seconds = load_page(viewer, f"{url}/{path}", tables, charts)
                            rows[label_of(visit)].setdefault(name, []).append(seconds)
                finally:
                    viewer.quit()
    print(f"(each server's warm-up at start, before any viewer: {statistics.median(warm_ups):.2f} s)")
    print(f"{'':<40}" + "".join(f"{name:>10}" for name, *_ in BROWSER_PAGES), flush=True)
    for label, times in rows.items():
        print(f"{label:<40}" + "".join(f"{statistics.median(times[name]):>10.2f}" for name, *_ in BROWSER_PAGES),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None, help="fakesnow port (default: SNOWFLAKE_PORT)")
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true", help="only the server side (AppTest)")
    args = parser.parse_args()

    from analytics.runner import run_dbt
    from bench.scratch import scratch_schema

    with scratch_schema(args.port) as (settings, conn):
        started = time.perf_counter()
        rows = seed_synthetic(conn, datetime(2026, 1, 5), args.days, args.channels)
        print(f"seeded {rows:,} CHANNEL_WINDOWS rows ({args.days:g} days x {args.channels:,} channels) "
              f"in {time.perf_counter() - started:.0f} s; {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        started = time.perf_counter()
        outcome = run_dbt(settings, ["run", "--select", *DBT_MODELS], say=lambda line: None)
        if outcome.code:
            raise RuntimeError(outcome.summary)
        print(f"built the dbt models the dashboard reads ({', '.join(DBT_MODELS)}) in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        os.environ.update(settings.as_env())
        os.environ["DASHBOARD_REFRESH"] = "0"
        print("\nserver side: each page's script (AppTest)", flush=True)
        server_side(args.repeat)
        if args.no_browser:
            return
        if not (shutil.which("chromium") and shutil.which("chromedriver")):
            print("\nin a browser: skipped (needs Debian's chromium and chromium-driver: `make browser`)")
            return
        print(f"\nin a browser: navigation to the page complete, median of {args.repeat} "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as logs:
            in_browser({**os.environ, "TWITCH_PULSE_ENV_FILE": "/nonexistent"}, args.repeat, Path(logs))


if __name__ == "__main__":
    main()
