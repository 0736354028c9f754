"""Every warehouse query of the dashboard, in one place.

Rules (issue 11): values are always bound (`%s`, never formatted into the SQL), every query is
bounded (a LIMIT, and a time range where it reads history), and results are cached for `TTL`
seconds with `st.cache_data`, keyed by the warehouse (`Source`) so two warehouses never share
an entry. The connection is the sinks' own (`sinks.snowflake.connect(settings)`), so the same
code reads Snowflake and the local fakesnow server; inside Streamlit in Snowflake it is the
app's own `st.connection("snowflake")` instead (no credentials there).
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

import pandas as pd
import streamlit as st
from snowflake.connector import errors

from .timerange import TimeRange

TTL = 5  # seconds a query result is reused (shared by every viewer): below the auto-refresh period
MAX_POINTS = 5000  # rows of history one chart may draw
TOP = 20  # rows of a "top" list

# Rollup views by grain: identifiers cannot be bound, so they come from this fixed map only.
PLATFORM_VIEWS = {"hourly": "PLATFORM_HOURLY", "daily": "PLATFORM_DAILY"}


class WarehouseError(Exception):
    """The warehouse cannot answer (down, bad credentials); the message is one line, no secret."""


class NoTables(WarehouseError):
    """The window tables do not exist yet: the sinks create them when they start."""


class Source(NamedTuple):
    """Which warehouse a result came from: the cache key part that keeps warehouses apart."""

    where: str  # account or host:port
    database: str
    schema: str


# --- connection -----------------------------------------------------------------------------

_lock = threading.Lock()  # one statement at a time per connection: Streamlit runs sessions in threads


SIS = "streamlit-in-snowflake"  # Source.where when the app runs inside Snowflake
SPCS_TOKEN = Path("/snowflake/session/token")  # mounted in Snowflake's containers (container runtime)


def in_snowflake() -> bool:
    """Running as Streamlit in Snowflake: Snowflake's session token is mounted (container
    runtime) or a Snowpark session is active (warehouse runtime)."""
    if SPCS_TOKEN.exists():
        return True
    try:
        from snowflake.snowpark.context import get_active_session  # type: ignore[import-not-found]
    except ImportError:
        return False
    try:
        get_active_session()
        return True
    except Exception:
        return False


def current_source() -> Source:
    """The warehouse this app reads: the app's own in Snowflake, or the sinks' settings."""
    if in_snowflake():
        conn = _connection(Source(SIS, "", ""))
        return Source(SIS, str(conn.database), str(conn.schema))
    # imported here, not at the top: Streamlit in Snowflake has its own connection, no pipeline settings
    from pulse.settings import load_settings

    settings = load_settings()
    where = settings.snowflake.account or f"{settings.snowflake.host}:{settings.snowflake.port}"
    return Source(where, settings.snowflake.database, settings.snowflake.schema_name)


@st.cache_resource(show_spinner=False)
def _connection(source: Source) -> Any:
    if source.where == SIS:  # Snowflake connects it as the app's owner, without credentials
        return st.connection("snowflake").raw_connection
    # imported here, not at the top: Streamlit in Snowflake runs without the pipeline's packages
    from pulse.settings import ConfigError, load_settings
    from sinks.snowflake import connect

    settings = load_settings(snowflake_database=source.database, snowflake_schema=source.schema)
    try:
        return connect(settings)
    except ConfigError as exc:
        raise WarehouseError(str(exc)) from None
    except Exception as exc:
        raise WarehouseError(f"cannot reach the warehouse at {source.where}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:200]


def _missing_table(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "not found" in text and "table" in text


def fetch(source: Source, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """Run one bound statement; a DataFrame with the warehouse's (upper-case) column names.

    A broken connection is dropped and the statement tried once more on a new one.
    """
    for attempt in (1, 2):
        conn = _connection(source)
        try:
            with _lock:
                cur = conn.cursor()
                try:
                    cur.execute(sql, tuple(params))
                    rows = cur.fetchall()
                    columns = [d[0] for d in cur.description]
                finally:
                    cur.close()
            return pd.DataFrame.from_records(rows, columns=columns)
        except Exception as exc:
            if _missing_table(exc):
                raise NoTables(_one_line(exc)) from None
            if attempt == 2 or not _is_connection_error(exc):
                raise WarehouseError(f"query failed: {_one_line(exc)}") from None
            _connection.clear()
    raise AssertionError("unreachable")


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, (errors.OperationalError, errors.InterfaceError)) or "closed" in str(exc).lower()


# --- windows --------------------------------------------------------------------------------


class LatestWindows(NamedTuple):
    """The window the dashboard shows, the one before it (for rank changes), and the newest
    one, which may still be loading."""

    latest: Optional[datetime]
    latest_end: Optional[datetime]
    previous: Optional[datetime]
    newest: Optional[datetime]


@st.cache_data(ttl=TTL, show_spinner=False)
def latest_windows(source: Source) -> LatestWindows:
    """The latest complete window: the sink may still be writing the newest one, so the one
    before it while there are two or more (as the console board of `twitch-pulse run`)."""
    df = fetch(source, "SELECT DISTINCT WINDOW_START, WINDOW_END FROM GAME_WINDOWS "
                       "ORDER BY WINDOW_START DESC LIMIT %s", (3,))
    starts = list(df["WINDOW_START"]) if len(df) else []
    ends = list(df["WINDOW_END"]) if len(df) else []
    if not starts:
        return LatestWindows(None, None, None, None)
    pick = 1 if len(starts) >= 2 else 0
    return LatestWindows(_ts(starts[pick]), _ts(ends[pick]),
                         _ts(starts[pick + 1]) if len(starts) > pick + 1 else None, _ts(starts[0]))


def _ts(value: Any) -> Optional[datetime]:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


@st.cache_data(ttl=TTL, show_spinner=False)
def data_end(source: Source) -> Optional[datetime]:
    """The newest moment the warehouse knows (newest window end or alert): the dashboard's
    "now", since the local run's clock is accelerated and wall-clock time would show nothing."""
    # one row per table that has data (an aggregate over an empty table would be NULL, which
    # the local fakesnow server returns as 1970-01-01)
    df = fetch(source, """
        SELECT T FROM (SELECT WINDOW_END AS T FROM GAME_WINDOWS ORDER BY WINDOW_END DESC LIMIT 1)
        UNION ALL
        SELECT T FROM (SELECT CAPTURED_AT AS T FROM ALERTS WHERE CAPTURED_AT IS NOT NULL
                       ORDER BY CAPTURED_AT DESC LIMIT 1)""")
    found = [v for v in (_ts(t) for t in df["T"]) if v is not None] if len(df) else []
    return max(found) if found else None


# --- overview -------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def top_games(source: Source, window: datetime, previous: Optional[datetime], limit: int = TOP) -> pd.DataFrame:
    """One window's games by rank, with their rank in the previous window (None: new)."""
    return fetch(source, """
        SELECT C.RANK, C.GAME_ID, C.GAME_NAME, C.WATCH_HOURS, C.AVG_VIEWERS, C.PEAK_VIEWERS,
               C.UNIQUE_CHANNELS, P.RANK AS PREVIOUS_RANK
        FROM GAME_WINDOWS C
        LEFT JOIN GAME_WINDOWS P ON P.GAME_ID = C.GAME_ID AND P.WINDOW_START = %s
        WHERE C.WINDOW_START = %s
        ORDER BY C.RANK, C.GAME_ID
        LIMIT %s""", (previous, window, limit))


@st.cache_data(ttl=TTL, show_spinner=False)
def window_totals(source: Source, window: datetime) -> pd.DataFrame:
    """All games of one window added up: watch hours, viewers, games, channels."""
    return fetch(source, """
        SELECT SUM(WATCH_HOURS) AS WATCH_HOURS, SUM(AVG_VIEWERS) AS AVG_VIEWERS,
               COUNT(*) AS GAMES, SUM(UNIQUE_CHANNELS) AS CHANNELS
        FROM GAME_WINDOWS WHERE WINDOW_START = %s LIMIT 1""", (window,))


@st.cache_data(ttl=TTL, show_spinner=False)
def top_channels(source: Source, window: datetime, previous: Optional[datetime], limit: int = TOP) -> pd.DataFrame:
    """One window's channels by global rank, with their rank in the previous window."""
    return fetch(source, """
        SELECT C.RANK, C.USER_ID, C.USER_LOGIN, C.USER_NAME, C.GAME_NAME, C.WATCH_HOURS,
               C.AVG_VIEWERS, C.PEAK_VIEWERS, P.RANK AS PREVIOUS_RANK
        FROM (SELECT * FROM CHANNEL_WINDOWS WHERE WINDOW_START = %s ORDER BY RANK, USER_ID LIMIT %s) C
        LEFT JOIN (SELECT USER_ID, RANK FROM CHANNEL_WINDOWS WHERE WINDOW_START = %s) P ON P.USER_ID = C.USER_ID
        ORDER BY C.RANK, C.USER_ID
        LIMIT %s""", (window, limit, previous, limit))


@st.cache_data(ttl=TTL, show_spinner=False)
def platform_totals(source: Source, grain: str, span: TimeRange) -> pd.DataFrame:
    """Platform watch hours, air hours and distinct live channels per hour or day."""
    view = PLATFORM_VIEWS[grain]
    return fetch(source, f"""
        SELECT PERIOD_START, WATCH_HOURS, AIR_HOURS, DISTINCT_CHANNELS FROM {view}
        WHERE PERIOD_START >= %s AND PERIOD_START < %s
        ORDER BY PERIOD_START
        LIMIT %s""", (_floor(span.start, grain), span.end, MAX_POINTS))


def _floor(moment: datetime, grain: str) -> datetime:
    """The period holding `moment`, so a range starting mid-hour still shows that hour."""
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if grain == "daily" else moment


@st.cache_data(ttl=TTL, show_spinner=False)
def viewers_per_window(source: Source, span: TimeRange) -> pd.DataFrame:
    """Concurrent viewers of the platform per window (all games' average viewers added up)."""
    return fetch(source, """
        SELECT WINDOW_START, SUM(AVG_VIEWERS) AS AVG_VIEWERS, SUM(WATCH_HOURS) AS WATCH_HOURS
        FROM GAME_WINDOWS
        WHERE WINDOW_START >= %s AND WINDOW_START < %s
        GROUP BY WINDOW_START ORDER BY WINDOW_START
        LIMIT %s""", (span.start, span.end, MAX_POINTS))


# --- games ----------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def search_games(source: Source, text: str, span: TimeRange, limit: int = 50) -> pd.DataFrame:
    """Games whose name contains `text` (any case), most watched in the range first."""
    return fetch(source, """
        SELECT GAME_ID, MAX(GAME_NAME) AS GAME_NAME, SUM(WATCH_HOURS) AS WATCH_HOURS
        FROM GAME_WINDOWS
        WHERE WINDOW_START >= %s AND WINDOW_START < %s
          AND CONTAINS(LOWER(COALESCE(GAME_NAME, '')), LOWER(%s))
        GROUP BY GAME_ID
        ORDER BY WATCH_HOURS DESC, GAME_ID
        LIMIT %s""", (span.start, span.end, text, limit))


@st.cache_data(ttl=TTL, show_spinner=False)
def game_history(source: Source, game_id: str, span: TimeRange) -> pd.DataFrame:
    """One game's windows in the range, oldest first."""
    return fetch(source, """
        SELECT WINDOW_START, WINDOW_END, GAME_NAME, WATCH_HOURS, AVG_VIEWERS, PEAK_VIEWERS,
               UNIQUE_CHANNELS, RANK
        FROM GAME_WINDOWS
        WHERE GAME_ID = %s AND WINDOW_START >= %s AND WINDOW_START < %s
        ORDER BY WINDOW_START
        LIMIT %s""", (game_id, span.start, span.end, MAX_POINTS))


@st.cache_data(ttl=TTL, show_spinner=False)
def game_top_channels(source: Source, game_id: str, window: datetime, limit: int = TOP) -> pd.DataFrame:
    """One game's top channels in one window (GAME_TOP_CHANNELS), by rank."""
    return fetch(source, """
        SELECT RANK, USER_ID, USER_LOGIN, USER_NAME, WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS
        FROM GAME_TOP_CHANNELS
        WHERE GAME_ID = %s AND WINDOW_START = %s
        ORDER BY RANK
        LIMIT %s""", (game_id, window, limit))


# --- channels -------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def search_channels(source: Source, text: str, window: datetime, span: TimeRange, limit: int = 50) -> pd.DataFrame:
    """Channels whose login or name contains `text`, most watched in the range first; with no
    text, the latest window's top channels."""
    if not text:
        return fetch(source, """
            SELECT USER_ID, USER_LOGIN, USER_NAME, WATCH_HOURS FROM CHANNEL_WINDOWS
            WHERE WINDOW_START = %s ORDER BY RANK, USER_ID LIMIT %s""", (window, limit))
    # names are matched once per channel (after grouping), not once per window row: 3x faster
    return fetch(source, """
        SELECT USER_ID, USER_LOGIN, USER_NAME, WATCH_HOURS FROM (
            SELECT USER_ID, ANY_VALUE(USER_LOGIN) AS USER_LOGIN, ANY_VALUE(USER_NAME) AS USER_NAME,
                   SUM(WATCH_HOURS) AS WATCH_HOURS
            FROM CHANNEL_WINDOWS
            WHERE WINDOW_START >= %s AND WINDOW_START < %s
            GROUP BY USER_ID) C
        WHERE CONTAINS(LOWER(COALESCE(USER_LOGIN, '')), LOWER(%s))
           OR CONTAINS(LOWER(COALESCE(USER_NAME, '')), LOWER(%s))
        ORDER BY WATCH_HOURS DESC, USER_ID
        LIMIT %s""", (span.start, span.end, text, text, limit))


@st.cache_data(ttl=TTL, show_spinner=False)
def channel_history(source: Source, user_id: str, span: TimeRange) -> pd.DataFrame:
    """One channel's windows in the range, oldest first: watch hours, peak, global rank, game."""
    return fetch(source, """
        SELECT WINDOW_START, WINDOW_END, USER_LOGIN, USER_NAME, GAME_ID, GAME_NAME, WATCH_HOURS,
               AVG_VIEWERS, PEAK_VIEWERS, RANK
        FROM CHANNEL_WINDOWS
        WHERE USER_ID = %s AND WINDOW_START >= %s AND WINDOW_START < %s
        ORDER BY WINDOW_START
        LIMIT %s""", (user_id, span.start, span.end, MAX_POINTS))


@st.cache_data(ttl=TTL, show_spinner=False)
def channel_games(source: Source, user_id: str, span: TimeRange, limit: int = 50) -> pd.DataFrame:
    """The games a channel played in the range, most watched first."""
    return fetch(source, """
        SELECT GAME_ID, MAX(GAME_NAME) AS GAME_NAME, SUM(WATCH_HOURS) AS WATCH_HOURS,
               MAX(PEAK_VIEWERS) AS PEAK_VIEWERS, COUNT(*) AS WINDOWS,
               MIN(WINDOW_START) AS FIRST_SEEN, MAX(WINDOW_END) AS LAST_SEEN
        FROM CHANNEL_WINDOWS
        WHERE USER_ID = %s AND WINDOW_START >= %s AND WINDOW_START < %s
        GROUP BY GAME_ID
        ORDER BY WATCH_HOURS DESC, GAME_ID
        LIMIT %s""", (user_id, span.start, span.end, limit))


# --- alerts ---------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def alerts(source: Source, span: TimeRange, limit: int = 100) -> pd.DataFrame:
    """The latest spike alerts captured in the range, newest first."""
    return fetch(source, """
        SELECT CAPTURED_AT, KIND, SUBJECT_TYPE, SUBJECT_ID, SUBJECT_NAME, GAME_ID, GAME_NAME,
               VIEWERS, BASELINE, THRESHOLD, URL
        FROM ALERTS
        WHERE CAPTURED_AT >= %s AND CAPTURED_AT < %s
        ORDER BY CAPTURED_AT DESC, ALERT_ID
        LIMIT %s""", (span.start, span.end, limit))
