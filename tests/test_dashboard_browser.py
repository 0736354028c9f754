"""The dashboard in a real browser: `twitch-pulse dashboard` as its own process over a seeded
fakesnow warehouse, loaded by headless Chromium (Debian's `chromium` + `chromium-driver`, driven
by Selenium). Waits for the charts, checks that the latest complete window's top game and its
watch hours are on the page, saves the screenshot the README shows (docs/dashboard.png), and
checks that the page updates itself when a new window lands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bench.dashboard_bench import seed_synthetic
from dashboard.format import human
from pulse.settings import Settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap

from .dashboard_support import free_port, healthy
from .models_support import build_platform_models

ROOT = Path(__file__).resolve().parents[1]
# The README's picture is refreshed only on request (PULSE_UPDATE_SCREENSHOT=1), so a test run
# never leaves the work tree modified; otherwise the screenshot goes to the test's own directory.
README_SCREENSHOT = ROOT / "docs" / "dashboard.png"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
CHART = '[data-testid="stVegaLiteChart"]'

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (`make test` installs them as root: "
           "apt-get install -y chromium chromium-driver)")


DEMO_SCHEMA = "DASHBOARD_DEMO"  # a fixed name, so the screenshot (which shows it) is the same on every run


@pytest.fixture
def seeded_warehouse(make_settings, warehouse_server) -> Iterator[tuple[Settings, str, float]]:
    """A day and a half of windows for 300 channels, ending at the daily peak; yields the
    latest complete window's top game and its watch hours, read straight from GAME_WINDOWS."""
    settings = make_settings(snowflake_schema=DEMO_SCHEMA)
    drop = f"DROP SCHEMA IF EXISTS {settings.snowflake_database}.{DEMO_SCHEMA} CASCADE"
    conn = connect(settings, with_schema=False)
    conn.cursor().execute(drop)
    conn.close()
    conn = connect(settings)
    bootstrap(conn)
    seed_synthetic(conn, datetime(2026, 3, 1), days=1.5, channels=300)
    build_platform_models(settings)
    cur = conn.cursor()
    cur.execute("SELECT DISTINCT WINDOW_START FROM GAME_WINDOWS ORDER BY WINDOW_START DESC LIMIT 2")
    latest = cur.fetchall()[-1][0]
    cur.execute("SELECT GAME_NAME, WATCH_HOURS FROM GAME_WINDOWS WHERE WINDOW_START = %s ORDER BY RANK, GAME_ID LIMIT 1",
                (latest,))
    name, watch_hours = cur.fetchone()
    yield settings, name, watch_hours
    cur.execute(drop)
    conn.close()


@contextmanager
def serve(settings: Settings, log: Path, refresh: float) -> Iterator[str]:
    """`twitch-pulse dashboard` as its own process on a free port, until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **settings.as_env()}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pulse", "dashboard", "--port", str(port), "--refresh", f"{refresh:g}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not healthy(url):
            assert proc.poll() is None, f"dashboard exited with {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"dashboard not healthy within 90 s:\n{log.read_text()}"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,2300", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def page_text(driver: Any) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_browser_shows_top_game_and_charts(seeded_warehouse, browser, tmp_path: Path):
    settings, top_game, watch_hours = seeded_warehouse
    with serve(settings, tmp_path / "dashboard.log", refresh=0) as url:
        browser.get(url)

        def drawn_charts(d) -> int:
            return len(d.find_elements(By.CSS_SELECTOR, f"{CHART} canvas, {CHART} svg.marks"))

        WebDriverWait(browser, 90).until(lambda d: drawn_charts(d) >= 4)  # games, channels, hours, viewers
        body = page_text(browser)
        assert top_game in body
        assert human(watch_hours) in body
        time.sleep(1)  # only for the picture: let the charts' entry transitions finish
        screenshot = README_SCREENSHOT if os.environ.get("PULSE_UPDATE_SCREENSHOT") else tmp_path / "dashboard.png"
        screenshot.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 20_000


def test_browser_page_updates_itself_when_a_window_closes(seeded_warehouse, browser, tmp_path: Path):
    """Auto-refresh: a window that lands in the warehouse after the page loaded appears as the
    latest complete one, without a reload."""
    settings = seeded_warehouse[0]
    conn = connect(settings)
    cur = conn.cursor()
    cur.execute("SELECT DISTINCT WINDOW_START, WINDOW_END FROM GAME_WINDOWS ORDER BY WINDOW_START DESC LIMIT 2")
    (newest, newest_end), (latest, latest_end) = cur.fetchall()
    with serve(settings, tmp_path / "dashboard.log", refresh=1) as url:
        browser.get(url)
        wait = WebDriverWait(browser, 90)
        wait.until(lambda d: f"Latest complete window: {latest:%Y-%m-%d %H:%M} – {latest_end:%H:%M} UTC" in page_text(d))
        cur.execute("""
            INSERT INTO GAME_WINDOWS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, WATCH_HOURS, AVG_VIEWERS,
                                      PEAK_VIEWERS, UNIQUE_CHANNELS, RANK)
            SELECT DATEADD('minute', 10, WINDOW_START), DATEADD('minute', 10, WINDOW_END), GAME_ID, GAME_NAME,
                   WATCH_HOURS, AVG_VIEWERS, PEAK_VIEWERS, UNIQUE_CHANNELS, RANK
            FROM GAME_WINDOWS WHERE WINDOW_START = %s""", (newest,))
        wait.until(lambda d: f"Latest complete window: {newest:%Y-%m-%d %H:%M} – {newest_end:%H:%M} UTC" in page_text(d))
    conn.close()
