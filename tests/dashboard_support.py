"""A small warehouse with known rows for the dashboard tests: three 10-minute windows, three
games, five channels, their top channels and two alerts. W0 and W1 are complete (each game's
hours are its channels' hours, ranks are whole), W2 is still being written (a game row whose
channel row has not landed), so the latest complete window is W1. Values are picked so each
formats differently."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Optional

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.format import human, viewers
from pulse.settings import Settings

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")

T0 = datetime(2026, 3, 1, 12, 0)
W = timedelta(minutes=10)
W0, W1, W2 = T0, T0 + W, T0 + 2 * W  # W1 is the latest complete window, W0 the one before

# (window, game_id, name, watch_hours, avg_viewers, peak_viewers, unique_channels, rank)
GAMES = [
    (W0, "509658", "Just Chatting", 9000.0, 54000.0, 60000, 2, 2),
    (W0, "21779", "League of Legends", 9500.0, 57000.0, 61000, 1, 1),
    (W1, "509658", "Just Chatting", 12345.6, 74073.6, 80123, 2, 1),
    (W1, "21779", "League of Legends", 7500.0, 45000.0, 51234, 1, 2),
    (W1, "33214", "Fortnite", 999.96, 5999.8, 6100, 1, 3),
    (W2, "33214", "Fortnite", 50000.0, 300000.0, 310000, 1, 1),
    (W2, "509658", "Just Chatting", 100.0, 600.0, 700, 1, 2),  # its channel's row is not written yet
]

# (window, user_id, login, name, game_id, game_name, watch_hours, avg_viewers, peak_viewers, rank)
CHANNELS = [
    (W0, "u1", "kaicenat", "KaiCenat", "509658", "Just Chatting", 5000.0, 30000.0, 31000, 2),
    (W0, "u5", "xqc", "xQc", "509658", "Just Chatting", 4000.0, 24000.0, 24500, 3),
    (W0, "u3", "faker", "Faker", "21779", "League of Legends", 9500.0, 57000.0, 61000, 1),
    (W1, "u1", "kaicenat", "KaiCenat", "509658", "Just Chatting", 8345.6, 50073.6, 52000, 1),
    (W1, "u3", "faker", "Faker", "21779", "League of Legends", 7500.0, 45000.0, 51234, 2),
    (W1, "u2", "ibai", "Ibai", "509658", "Just Chatting", 4000.0, 24000.0, 25500, 3),
    (W1, "u4", "ninja", "Ninja", "33214", "Fortnite", 999.96, 5999.8, 6100, 4),
    (W2, "u4", "ninja", "Ninja", "33214", "Fortnite", 50000.0, 300000.0, 310000, 1),
]

# The day before, for the daily and monthly rankings' rank changes: one window at 10:00
DAY0 = datetime(2026, 2, 28, 10, 0)
DAY0_GAMES = [(DAY0, "21779", "League of Legends", 8000.0, 48000.0, 50000, 1, 1),
              (DAY0, "509658", "Just Chatting", 3500.0, 21000.0, 22000, 2, 2)]
DAY0_CHANNELS = [(DAY0, "u3", "faker", "Faker", "21779", "League of Legends", 8000.0, 48000.0, 50000, 1),
                 (DAY0, "u1", "kaicenat", "KaiCenat", "509658", "Just Chatting", 2000.0, 12000.0, 13000, 2),
                 (DAY0, "u5", "xqc", "xQc", "509658", "Just Chatting", 1500.0, 9000.0, 9500, 3)]
# Each channel's stream language; a channel's windows of one day are one broadcast
LANGUAGES = {"u1": "en", "u2": "es", "u3": "ko", "u4": "en", "u5": "en"}


def expected_games_over_time() -> dict[tuple[str, str], tuple[float, float]]:
    """(window HH:MM, game) -> (average viewers, share of all games' watch hours) of the
    complete windows, from the rows above; a game without a row in a window at zero."""
    expected = {}
    for window in (W0, W1):
        rows = [g for g in GAMES if g[0] == window]
        every = sum(g[3] for g in rows)
        for name in ("Just Chatting", "League of Legends", "Fortnite"):
            wh = sum(g[3] for g in rows if g[2] == name)
            expected[(f"{window:%H:%M}", name)] = (round(wh * 6, 6), round(wh / every, 6))
    return expected


def games_over_time(top: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    """The "Average viewers" chart's rows in the shape of `expected_games_over_time`."""
    return {(t.strftime("%H:%M"), game): (round(v, 6), round(sh, 6))
            for t, game, v, sh in zip(top["T"], top["GAME"], top["VALUE"], top["SHARE"])}


def stream_id(window: datetime, user_id: str) -> str:
    return f"{user_id}-{window:%m%d}"


# (window, game_id, game_name, rank, user_id, login, name, watch_hours, air_hours, peak_viewers)
TOP_CHANNELS = [
    (W1, "509658", "Just Chatting", 1, "u1", "kaicenat", "KaiCenat", 8345.6, 1 / 6, 52000),
    (W1, "509658", "Just Chatting", 2, "u2", "ibai", "Ibai", 4000.0, 1 / 6, 25500),
    (W0, "509658", "Just Chatting", 1, "u1", "kaicenat", "KaiCenat", 5000.0, 1 / 6, 31000),
    (W0, "509658", "Just Chatting", 2, "u5", "xqc", "xQc", 4000.0, 1 / 6, 24500),
]

# (alert_id, kind, subject_type, subject_id, subject_name, game_id, game_name, viewers, baseline, threshold, at, url);
# a channel alert names the login, as the processor's do
ALERTS = [
    ("a1", "threshold", "channel", "u1", "kaicenat", "509658", "Just Chatting", 52000, 30000.0, 10000,
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
        [(w, w + W, g, n, wh, uc / 6, av, pk, uc, r) for w, g, n, wh, av, pk, uc, r in GAMES + DAY0_GAMES])
    cur.executemany(
        "INSERT INTO CHANNEL_WINDOWS (WINDOW_START, WINDOW_END, USER_ID, USER_LOGIN, USER_NAME, GAME_ID, GAME_NAME, "
        "WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS, RANK) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(w, w + W, u, lg, nm, g, gn, wh, 1 / 6, av, pk, r) for w, u, lg, nm, g, gn, wh, av, pk, r in CHANNELS + DAY0_CHANNELS])
    cur.executemany(
        "INSERT INTO GAME_TOP_CHANNELS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, RANK, USER_ID, USER_LOGIN, "
        "USER_NAME, WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(w, w + W, *rest) for w, *rest in TOP_CHANNELS])
    seed_streams_and_languages(cur, CHANNELS + DAY0_CHANNELS)
    cur.executemany(
        "INSERT INTO ALERTS (ALERT_ID, KIND, SUBJECT_TYPE, SUBJECT_ID, SUBJECT_NAME, GAME_ID, GAME_NAME, VIEWERS, "
        "BASELINE, THRESHOLD, CAPTURED_AT, URL) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", ALERTS)
    cur.close()


def seed_streams_and_languages(cur: Any, channels: list[tuple]) -> None:
    """STREAM_WINDOWS and LANGUAGE_WINDOWS rows that agree with these CHANNEL_WINDOWS rows: each
    channel row is one stream (live the whole window, one game), in the channel's language."""
    starts = {}
    for w, u, *_ in sorted(channels):
        starts.setdefault(stream_id(w, u), w - timedelta(minutes=5))  # started before its first window
    cur.executemany(
        "INSERT INTO STREAM_WINDOWS (WINDOW_START, WINDOW_END, STREAM_ID, USER_ID, USER_LOGIN, USER_NAME, STARTED_AT, "
        "GAME_ID, GAME_NAME, GAMES, TITLE, LANGUAGE, IS_MATURE, WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS, PEAK_AT, "
        "FIRST_SEEN, LAST_SEEN, SAMPLES) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s)",
        [(w, w + W, stream_id(w, u), u, lg, nm, starts[stream_id(w, u)], g, gn, 1, f"{nm} live", LANGUAGES[u], False,
          wh, 1 / 6, pk, w + timedelta(minutes=5), w, w + timedelta(minutes=9), 10)
         for w, u, lg, nm, g, gn, wh, av, pk, r in channels])
    sums: dict[tuple[datetime, str], list[float]] = {}
    for w, u, lg, nm, g, gn, wh, av, pk, r in channels:
        entry = sums.setdefault((w, LANGUAGES[u]), [0.0, 0.0, 0, 0])
        entry[0] += wh
        entry[1] += 1 / 6
        entry[2] += pk
        entry[3] += 1
    rows = []
    for (w, language), (wh, air, peak, n) in sums.items():
        rank = 1 + sum(other[0] > wh for (w2, _), other in sums.items() if w2 == w)
        rows.append((w, w + W, language, wh, air, wh * 6, air * 6, peak, n, n, 0, rank))
    cur.executemany(
        "INSERT INTO LANGUAGE_WINDOWS (WINDOW_START, WINDOW_END, LANGUAGE, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, "
        "AVG_CHANNELS, PEAK_VIEWERS, PEAK_CHANNELS, UNIQUE_CHANNELS, NEW_STREAMS, RANK) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)


def healthy(url: str) -> bool:
    """Does the Streamlit server at `url` answer its health check?"""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def seed_window(conn: Any, start: datetime, games: list[tuple[str, str, list[tuple[str, str, float]]]]) -> None:
    """One more complete window: per game (id, name, [(user_id, user name, watch hours)]), each
    channel live the whole window in one game; ranks and sums as the processor writes them."""
    cur = conn.cursor()
    channels = [(uid, name, gid, gname, wh) for gid, gname, chans in games for uid, name, wh in chans]
    by_game = [(gid, gname, sum(wh for _, _, wh in chans), len(chans)) for gid, gname, chans in games]
    rank = {w: 1 + sum(other > w for *_, other, _n in by_game) for *_, w, _n in by_game}
    cur.executemany(
        "INSERT INTO GAME_WINDOWS (WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, "
        "PEAK_VIEWERS, UNIQUE_CHANNELS, RANK) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(start, start + W, gid, gname, wh, n / 6, wh * 6, int(wh * 6), n, rank[wh]) for gid, gname, wh, n in by_game])
    crank = {w: 1 + sum(c[4] > w for c in channels) for *_, w in channels}
    cur.executemany(
        "INSERT INTO CHANNEL_WINDOWS (WINDOW_START, WINDOW_END, USER_ID, USER_LOGIN, USER_NAME, GAME_ID, GAME_NAME, "
        "WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS, RANK) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(start, start + W, uid, name.lower(), name, gid, gname, wh, 1 / 6, wh * 6, int(wh * 6), crank[wh])
         for uid, name, gid, gname, wh in channels])
    cur.close()


# --- opening a page ----------------------------------------------------------------------------


def named_to_the_app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The app reads its warehouse from the environment, as `twitch-pulse dashboard` passes it;
    its caches are emptied afterwards, so the next test reads its own warehouse."""
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    yield settings
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(page: str, **query: str) -> AppTest:
    """A page rendered by AppTest, `query` in its address; no exception on it."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception[0].value
    return at


def texts(elements: Any) -> str:
    return "\n".join(str(e.value) for e in elements)


# --- reading what a page shows ----------------------------------------------------------------


class Cell(NamedTuple):
    text: str
    href: Optional[str] = None
    target: Optional[str] = None


class _Markup(HTMLParser):
    """The tables and figure cards of `dashboard.html` in a page's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[dict[str, Cell]]] = []
        self.cards: dict[str, Cell] = {}
        self.headings: list[str] = []
        self._headers: list[str] = []
        self._row: Optional[list[Cell]] = None
        self._text: Optional[list[str]] = None
        self._link: tuple[Optional[str], Optional[str]] = (None, None)
        self._card_label: Optional[str] = None
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "table":
            self.tables.append([])
            self._headers = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "h3") or "label" in classes or "value" in classes:
            self._text, self._link = [], (None, None)
            self._in.append("label" if "label" in classes else "value" if "value" in classes else tag)
        elif tag == "a":
            self._link = (attributes.get("href"), attributes.get("target"))

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "h3", "div") and self._in and (tag == self._in[-1] or tag == "div"
                                                                and self._in[-1] in ("label", "value")):
            kind = self._in.pop()
            cell = Cell("".join(self._text or []).strip(), *self._link)
            self._text = None
            if kind == "th":
                self._headers.append(cell.text)
            elif kind == "td" and self._row is not None:
                self._row.append(cell)
            elif kind == "h3":
                self.headings.append(cell.text)
            elif kind == "label":
                self._card_label = cell.text
            elif kind == "value" and self._card_label is not None:
                self.cards[self._card_label] = cell
        elif tag == "tr" and self._row:
            self.tables[-1].append(dict(zip(self._headers, self._row)))
            self._row = None


def read_markup(at: Any) -> _Markup:
    parser = _Markup()
    for element in at.markdown:
        parser.feed(str(element.value))
    return parser


def tables(at: Any) -> list[list[dict[str, Cell]]]:
    """Every HTML table on the page, as rows of cells by column title."""
    return read_markup(at).tables


def cards(at: Any) -> dict[str, str]:
    """The figure cards on the page: label -> value text."""
    return {label: cell.text for label, cell in read_markup(at).cards.items()}


def link(text: str, page: str, param: str, value: str) -> Cell:
    """A same-tab link to another page of the app, as a table cell holds it."""
    return Cell(text, f"{page}?{param}={value}", "_self")


def check_latest_window_cards(at: Any) -> None:
    """The Overview's header and figure cards name W1, the latest complete window, and its
    top game, with W1's rows added up."""
    markup = read_markup(at)
    assert markup.headings == ["Latest complete window: 2026-03-01 12:10 – 12:20 UTC"]
    w1 = sorted((g for g in GAMES if g[0] == W1), key=lambda g: g[-1])
    shown = cards(at)
    assert markup.cards["Top game"] == link("Just Chatting", "game", "game", "509658")
    assert shown["Top game's watch hours"] == human(w1[0][3]) == "12.3k"
    assert shown["All games' watch hours"] == human(sum(g[3] for g in w1))
    assert shown["Viewers (all games)"] == viewers(sum(g[4] for g in w1))


class Chart(NamedTuple):
    spec: dict
    data: pd.DataFrame


def charts(at: Any) -> dict[str, Chart]:
    """The page's Altair charts by title, with the rows each one draws."""
    found = {}
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        title = spec.get("title") or next((layer.get("title") for layer in spec.get("layer", []) if layer.get("title")), "")
        frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in element.proto.datasets]
        found[title if isinstance(title, str) else title.get("text", "")] = Chart(spec, frames[0] if frames else pd.DataFrame())
    return found
