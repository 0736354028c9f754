"""The dashboard in a real browser: `twitch-pulse dashboard` as its own process over a seeded
fakesnow warehouse, loaded by headless Chromium (Debian's `chromium` + `chromium-driver`, driven
by Selenium). Waits for the charts, checks that the latest complete window's top game and its
watch hours are on the page, and saves the screenshot the README shows (docs/dashboard.png)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest

from bench.dashboard_bench import seed_synthetic
from dashboard.format import human
from pulse.settings import Settings
from pulse.warehouse import connect
from sinks.schema import bootstrap

from .dashboard_support import free_port, healthy

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
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
    cur = conn.cursor()
    cur.execute("SELECT DISTINCT WINDOW_START FROM GAME_WINDOWS ORDER BY WINDOW_START DESC LIMIT 2")
    latest = cur.fetchall()[-1][0]
    cur.execute("SELECT GAME_NAME, WATCH_HOURS FROM GAME_WINDOWS WHERE WINDOW_START = %s ORDER BY RANK, GAME_ID LIMIT 1",
                (latest,))
    name, watch_hours = cur.fetchone()
    yield settings, name, watch_hours
    cur.execute(drop)
    conn.close()


@pytest.fixture
def dashboard_url(seeded_warehouse, tmp_path: Path) -> Iterator[str]:
    settings = seeded_warehouse[0]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dashboard.log"
    env = {**os.environ, **settings.as_env()}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pulse", "dashboard", "--port", str(port), "--refresh", "0"],
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


def test_browser_shows_top_game_and_charts(seeded_warehouse, dashboard_url):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, top_game, watch_hours = seeded_warehouse
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,2300", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(dashboard_url)
        wait = WebDriverWait(driver, 90)

        def drawn_charts(d) -> int:
            return len(d.find_elements(By.CSS_SELECTOR, f"{CHART} canvas, {CHART} svg.marks"))

        wait.until(lambda d: drawn_charts(d) >= 4)  # games, channels, platform watch hours, viewers
        body = driver.find_element(By.TAG_NAME, "body").text
        assert top_game in body
        assert human(watch_hours) in body
        time.sleep(1)  # let the charts' entry transitions finish before the picture
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 20_000
    finally:
        driver.quit()

