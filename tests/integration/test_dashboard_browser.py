"""The dashboard in a real browser: `twitch-pulse dashboard` as its own process over a seeded
fakesnow warehouse, loaded by headless Chromium (Debian's `chromium` + `chromium-driver`, driven
by Selenium). What only a browser shows (issue 20):

- the overview draws its tables and charts, fetches nothing from outside this machine (the
  favicon was a Material icon from Google's servers), and the screenshots of docs/dashboard.md (wide and
  phone) are taken from it;
- a window that lands while the page is open replaces the old one in one piece, and the bars
  take the new ranking's order (they kept the old order, newcomers at the bottom);
- a warehouse outage is said within 10 s, with the data kept on screen, also on a page loaded
  during the outage, and the page recovers by itself;
- on a phone's width no page scrolls sideways; a table's link opens its page in the same tab.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bench.dashboard_bench import seed_synthetic
from devstack.service import free_port
from devstack.warehouse import WarehouseServer
from pulse.settings import Settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap
from tests import dashboard_support as data
from tests.dashboard_support import healthy
from tests.models_support import build
from tests.warehouse_template import copy_schema, drop_schema

ROOT = Path(__file__).resolve().parents[2]
# The pictures of docs/dashboard.md are refreshed only on request (PULSE_UPDATE_SCREENSHOT=1), so a test run
# never leaves the work tree modified; otherwise the screenshots go to the test's own directory.
README_SCREENSHOTS = {"wide": ROOT / "docs" / "dashboard.png", "phone": ROOT / "docs" / "dashboard-phone.png"}
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
CHART = '[data-testid="stVegaLiteChart"]'
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}  # a current phone, in CSS pixels

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (`make test` installs them as root: "
           "apt-get install -y chromium chromium-driver)")


DEMO_SCHEMA = "DASHBOARD_DEMO"  # a fixed name, so the screenshot (which shows it) is the same on every run


def demo_settings(make_settings, **overrides) -> Settings:
    """This test's settings; in DEMO_SCHEMA when the pictures are refreshed (run those tests
    alone then: parallel tests would share the schema), else in a schema of the test's own."""
    if os.environ.get("PULSE_UPDATE_SCREENSHOT"):
        overrides["snowflake_schema"] = DEMO_SCHEMA
    return make_settings(**overrides)


def demo(settings: Settings, days: float = 1.5, channels: int = 300) -> None:
    """A fresh schema with `days` of windows for `channels` channels, ending at the daily peak."""
    conn = connect(settings, with_schema=False)
    conn.cursor().execute(f"DROP SCHEMA IF EXISTS {settings.snowflake.database}.{settings.snowflake.schema_name} CASCADE")
    conn.close()
    conn = connect(settings)
    bootstrap(conn)
    seed_synthetic(conn, datetime(2026, 3, 1), days=days, channels=channels)
    conn.close()
    build(settings, "run")  # every dbt model: rollups, broadcasts, languages, rankings


def newest_window(settings: Settings) -> tuple[datetime, datetime, list[str]]:
    """The newest window (every synthetic window is complete) and its games by rank."""
    conn = connect(settings)
    cur = conn.cursor()
    cur.execute("SELECT WINDOW_START, WINDOW_END FROM GAME_WINDOWS ORDER BY WINDOW_START DESC LIMIT 1")
    start, end = cur.fetchone()
    cur.execute("SELECT GAME_NAME FROM GAME_WINDOWS WHERE WINDOW_START = %s ORDER BY RANK, GAME_ID", (start,))
    names = [row[0] for row in cur.fetchall()]
    conn.close()
    return start, end, names


@pytest.fixture
def seeded_warehouse(make_settings, warehouse_server, warehouse_template) -> Iterator[Settings]:
    """The demo warehouse in this test's own schema: a copy of one built once in the run (or built
    in DEMO_SCHEMA itself when the pictures are refreshed)."""
    settings = demo_settings(make_settings)
    if os.environ.get("PULSE_UPDATE_SCREENSHOT"):
        demo(settings)
    else:
        copy_schema(warehouse_template("demo", demo), settings)
    yield settings
    drop_schema(settings)


@contextmanager
def serve(settings: Settings, log: Path, refresh: float = 1) -> Iterator[str]:
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


def chrome(phone: bool = False) -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,2300", "--hide-scrollbars"):
        options.add_argument(argument)
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request, for the offline check
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser() -> Iterator[Any]:
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture
def phone() -> Iterator[Any]:
    driver = chrome(phone=True)
    yield driver
    driver.quit()


def page_text(driver: Any) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def drawn_charts(driver: Any) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, f"{CHART} canvas, {CHART} svg.marks"))


def bar_labels(driver: Any, title: str) -> list[str]:
    """The labels of the bar chart titled `title`, top to bottom as drawn."""
    return driver.execute_script("""
        for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
            const heading = chart.querySelector('g.role-title text');
            if (!heading || heading.textContent !== arguments[0]) continue;
            const labels = [...chart.querySelectorAll('g.mark-text.role-mark text')].map(t => [t.getBoundingClientRect().top, t.textContent]);
            return labels.sort((a, b) => a[0] - b[0]).map(l => l[1]);
        }
        return null;""", title)


def axis_labels(driver: Any, title: str) -> list[str]:
    """The tick labels of the chart titled `title`, in drawing order."""
    return driver.execute_script("""
        for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
            const heading = chart.querySelector('g.role-title text');
            if (heading && heading.textContent === arguments[0])
                return [...chart.querySelectorAll('g.role-axis-label text')].map(t => t.textContent);
        }
        return null;""", title)


def requests_made(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def screenshot(driver: Any, kind: str, tmp_path: Path) -> Path:
    """The page from its top, as tall as its content (a phone's: its first 2,400 px)."""
    path = README_SCREENSHOTS[kind] if os.environ.get("PULSE_UPDATE_SCREENSHOT") else tmp_path / f"{kind}.png"
    path.parent.mkdir(exist_ok=True)
    height = driver.execute_script("return document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    if kind == "wide":
        driver.set_window_size(1500, min(max(900, height + 40), 3000))
    else:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": PHONE["width"], "height": min(height, 2400), "deviceScaleFactor": PHONE["pixelRatio"], "mobile": True})
    time.sleep(1)  # only for the picture: the charts redraw at the new size
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 20_000
    return path


def test_browser_shows_the_overview_offline(seeded_warehouse, browser, phone, tmp_path: Path):
    _, _, ranking = newest_window(seeded_warehouse)
    with serve(seeded_warehouse, tmp_path / "dashboard.log") as url:
        for driver, kind in ((browser, "wide"), (phone, "phone")):
            driver.get(url)
            WebDriverWait(driver, 90).until(lambda d: drawn_charts(d) >= 6)  # 2 bars, games, languages, hours, viewers
            assert ranking[0] in page_text(driver)
            assert bar_labels(driver, "Watch hours by game") == [f"{i}. {name}" for i, name in enumerate(ranking[:10], 1)]
            ticks = axis_labels(driver, "Watch hours by game")
            assert ticks[0] == "0" and not [t for t in ticks if t in ("0k", "0M")], ticks  # each tick as the tables
            screenshot(driver, kind, tmp_path)
            outside = [u for u in requests_made(driver) if not u.startswith((url, "data:", "blob:"))]
            assert not outside, outside  # the favicon, fonts and icons are all served by the app itself


def test_a_new_window_swaps_in_whole_with_the_bars_in_its_order(seeded_warehouse, browser, tmp_path: Path):
    """A window lands while the page is open: the header, figures and tables switch together
    (issue 20, defect 2: the header showed the new window above the old tables), and the bars
    take the new order (defect 1: a game climbing from #10 to #1 was drawn last)."""
    start, end, ranking = newest_window(seeded_warehouse)
    climber = ranking[9]
    with serve(seeded_warehouse, tmp_path / "dashboard.log") as url:
        browser.get(url)
        wait = WebDriverWait(browser, 90)
        wait.until(lambda d: f"Latest complete window: {start:%Y-%m-%d %H:%M} – {end:%H:%M} UTC" in page_text(d))
        wait.until(lambda d: bar_labels(d, "Watch hours by game"))
        # every change of the page, as (header, top game in the table), from now on
        browser.execute_script("""
            window.pulseSeen = [];
            const record = () => {
                const block = [...document.querySelectorAll('h3')].find(h => h.textContent.startsWith('Latest complete window'));
                const table = document.querySelector('table.pulse-table tbody tr td.name');
                window.pulseSeen.push([block ? block.textContent : null, table ? table.textContent : null]);
            };
            new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});""")
        conn = connect(seeded_warehouse)
        cur = conn.cursor()
        # the next window: the same channels, the climbing game's a hundred times more watched
        cur.execute("""
            INSERT INTO CHANNEL_WINDOWS (WINDOW_START, WINDOW_END, USER_ID, USER_LOGIN, USER_NAME, GAME_ID, GAME_NAME,
                                         WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS, RANK)
            SELECT DATEADD('minute', 10, WINDOW_START), DATEADD('minute', 10, WINDOW_END), USER_ID, USER_LOGIN, USER_NAME,
                   GAME_ID, GAME_NAME, W, AIR_HOURS, W * 6, CEIL(W * 6.6), RANK() OVER (ORDER BY W DESC)
            FROM (SELECT *, IFF(GAME_NAME = %s, WATCH_HOURS * 100, WATCH_HOURS) AS W FROM CHANNEL_WINDOWS
                  WHERE WINDOW_START = %s) C""", (climber, start))
        cur.execute("""
            INSERT INTO GAME_WINDOWS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS,
                                      AVG_CHANNELS, PEAK_VIEWERS, PEAK_CHANNELS, UNIQUE_CHANNELS, NEW_STREAMS, RANK)
            SELECT WINDOW_START, MAX(WINDOW_END), GAME_ID, MAX(GAME_NAME), SUM(WATCH_HOURS), SUM(AIR_HOURS),
                   SUM(WATCH_HOURS) * 6, SUM(AIR_HOURS) * 6, SUM(PEAK_VIEWERS), COUNT(*), COUNT(*), 0,
                   RANK() OVER (ORDER BY SUM(WATCH_HOURS) DESC)
            FROM CHANNEL_WINDOWS WHERE WINDOW_START = DATEADD('minute', 10, %s) GROUP BY WINDOW_START, GAME_ID""", (start,))
        cur.execute("SELECT GAME_NAME FROM GAME_WINDOWS WHERE WINDOW_START = DATEADD('minute', 10, %s) "
                    "ORDER BY RANK, GAME_ID LIMIT 10", (start,))
        new_ranking = [row[0] for row in cur.fetchall()]
        conn.close()
        assert new_ranking[0] == climber
        new_header = f"Latest complete window: {end:%Y-%m-%d %H:%M} – {end + timedelta(minutes=10):%H:%M} UTC"
        wait.until(lambda d: new_header in page_text(d))
        wait.until(lambda d: bar_labels(d, "Watch hours by game") == [f"{i}. {n}" for i, n in enumerate(new_ranking, 1)])
        seen = browser.execute_script("return window.pulseSeen")
    mixed = [(header, top) for header, top in seen if header and top
             and (header == new_header) != (top == climber)]
    assert not mixed, mixed[:5]


@pytest.fixture
def own_warehouse(make_settings, tmp_path: Path) -> Iterator[tuple[WarehouseServer, Settings]]:
    """A fakesnow server of this test's own, to stop and start again (the session's is shared)."""
    server = WarehouseServer(tmp_path / "warehouse-run", port=free_port())
    server.start()
    settings = demo_settings(make_settings, snowflake_port=server.port)
    try:
        demo(settings, days=0.5, channels=100)
        yield server, settings
    finally:
        server.stop()


def test_an_outage_is_said_within_10_s_with_the_data_kept_and_the_page_recovers(own_warehouse, browser,
                                                                                tmp_path: Path):
    server, settings = own_warehouse
    start, end, ranking = newest_window(settings)
    header = f"Latest complete window: {start:%Y-%m-%d %H:%M} – {end:%H:%M} UTC"
    with serve(settings, tmp_path / "dashboard.log", refresh=2) as url:
        browser.get(url)
        WebDriverWait(browser, 90).until(lambda d: header in page_text(d) and "Updated" in page_text(d))
        stopping = datetime.now(timezone.utc)
        server.stop()
        stopped, stopped_at = time.monotonic(), datetime.now(timezone.utc)
        # How soon a person reads it depends on Chromium and Streamlit getting the CPU (in the
        # busy suite up to 11 s); what the dashboard promises is to know within 10 s, and the
        # page says when it knew: `since` is its first failed check (second resolution).
        WebDriverWait(browser, 60).until(lambda d: f"The warehouse (127.0.0.1:{server.port}) has not answered since"
                                         in page_text(d))
        said_after = time.monotonic() - stopped
        body = page_text(browser)
        shown = re.search(r"has not answered since (\d\d:\d\d:\d\d) UTC", body)
        assert shown, body
        since = datetime.combine(stopped_at.date(), datetime.strptime(shown.group(1), "%H:%M:%S").time(), timezone.utc)
        if since - stopped_at > timedelta(hours=12):
            since -= timedelta(days=1)  # stopped just after midnight, said the day before
        # (a check in flight when the warehouse went away counts from its own start, before the stop)
        assert stopping - timedelta(seconds=10) <= since <= stopped_at + timedelta(seconds=10), (stopping, since, stopped_at)
        assert header in body and ranking[0] in body and "kept on screen" in body
        assert "250001" not in body.split("What the connector said:")[0]  # the sentence is for people
        # a page loaded during the outage shows the last data this server read, and says why
        browser.get(url)
        WebDriverWait(browser, 10).until(lambda d: "has not answered since" in page_text(d) and header in page_text(d))
        server.start()
        WebDriverWait(browser, 60).until(lambda d: "has not answered" not in page_text(d) and "Updated" in page_text(d))
        assert header in page_text(browser)
    print(f"outage said {said_after:.1f} s after the warehouse stopped")


PAGES = ("", "rankings", "game", "channel", "alerts")


def test_no_page_scrolls_sideways_on_a_phone(seeded_warehouse, phone, tmp_path: Path):
    with serve(seeded_warehouse, tmp_path / "dashboard.log") as url:
        for path in PAGES:
            phone.get(f"{url}/{path}")
            WebDriverWait(phone, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.pulse-table"))
            WebDriverWait(phone, 30).until(lambda d: drawn_charts(d) >= (0 if path in ("alerts", "rankings") else 2))
            widths = phone.execute_script("return [document.documentElement.scrollWidth, window.innerWidth, "
                                          "Math.max(...[...document.querySelectorAll('table.pulse-table')]"
                                          ".map(t => t.getBoundingClientRect().right))]")
            assert widths[0] <= widths[1] and widths[2] <= widths[1], (path, widths)
            hidden = phone.execute_script("return [...document.querySelectorAll('table.pulse-table th.wide')]"
                                          ".every(th => getComputedStyle(th).display === 'none')")
            assert hidden, path


def test_a_table_link_opens_its_page_in_the_same_tab(seeded_warehouse, browser, tmp_path: Path):
    _, _, ranking = newest_window(seeded_warehouse)
    with serve(seeded_warehouse, tmp_path / "dashboard.log") as url:
        browser.get(url)
        wait = WebDriverWait(browser, 90)
        link = wait.until(lambda d: d.find_elements(By.LINK_TEXT, ranking[1]))[0]
        href = link.get_attribute("href")
        assert "/game?game=" in href and link.get_attribute("target") == "_self"
        link.click()
        wait.until(lambda d: d.current_url == href)
        assert len(browser.window_handles) == 1
        wait.until(lambda d: d.find_elements(By.XPATH, f"//h3[normalize-space()='{ranking[1]}']"))


def test_a_channel_offline_between_windows_is_a_gap_in_its_lines(make_settings, warehouse_server, browser,
                                                                tmp_path: Path):
    """Live at 11:30, offline, live again from 12:00: every line of its charts is drawn in two
    pieces (issue 20, defect 7: a straight line joined 11:30 to 12:00)."""
    settings = make_settings()
    conn = connect(settings)
    bootstrap(conn)
    data.seed(conn)
    data.seed_window(conn, data.T0 - timedelta(minutes=30), [("509658", "Just Chatting", [("u1", "KaiCenat", 3000.0)])])
    conn.close()
    try:
        with serve(settings, tmp_path / "dashboard.log") as url:
            browser.get(f"{url}/channel?channel=u1")
            pieces = WebDriverWait(browser, 90).until(lambda d: d.execute_script("""
                const found = {};
                for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
                    const title = chart.querySelector('g.role-title text');
                    const lines = [...chart.querySelectorAll('g.mark-line path')];
                    if (!title || !lines.length) return null;
                    found[title.textContent] = lines.map(p => (p.getAttribute('d').match(/M/g) || []).length);
                }
                return Object.keys(found).length === 3 ? found : null;"""))
    finally:
        conn = connect(settings, with_schema=False)
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS {settings.snowflake.database}.{settings.snowflake.schema_name} CASCADE")
        conn.close()
    assert pieces == {"Watch hours per window": [2], "Viewers per window": [2, 2],
                      "Global rank per window (1 = top)": [2]}
