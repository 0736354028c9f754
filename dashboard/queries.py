"""Every warehouse statement of the dashboard, in one place, written once in Snowflake SQL and
run on the chosen warehouse (WAREHOUSE): BigQuery gets each statement transpiled by sqlglot
(`sinks.dialect`, cached per statement), and `run` gives both warehouses' results the same
frame (upper-case columns, naive UTC timestamps, floats and ints).

Rules (issue 11): values are always bound (`%s`, never formatted into the SQL; the few
identifiers and period expressions come from the fixed maps below), and every statement is
bounded (a LIMIT, and a time range where it reads history). Nothing here is cached: a page
reads all it shows as one snapshot (`dashboard.loaders`), cached as a whole, so a page never
mixes two windows.

The connection is the sinks' own (`sinks.choice.chosen(settings).connect`), so the same code
reads Snowflake, the local fakesnow server, BigQuery and the local bqemulator, with the
dashboard's short timeout (`DASHBOARD_TIMEOUT`): a warehouse that does not answer is said within
seconds, not after the connector's minute of retries. Inside Streamlit in Snowflake it is the app's own
`st.connection("snowflake")` instead (no credentials there).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Optional, Sequence

import pandas as pd
import streamlit as st

from . import TIMEOUT_ENV
from .windows import CHECKED, TableWindow, WindowCheck

DEFAULT_TIMEOUT = 3  # seconds the connector may take to log in or run a statement's request
MAX_POINTS = 5000  # rows of history one chart may draw
TOP = 20  # rows of a "top" list

# Identifiers and expressions cannot be bound: they come from these fixed maps only.
PLATFORM_VIEWS = {"hourly": "PLATFORM_HOURLY", "daily": "PLATFORM_DAILY"}
PERIOD = {"window": "WINDOW_START", "hourly": "DATE_TRUNC('hour', WINDOW_START)",
          "daily": "DATE_TRUNC('day', WINDOW_START)"}
# The dbt marts (dbt/models/marts/) of the rankings, by period
RANKINGS = {"daily": ("GAME_DAILY", "CHANNEL_DAILY"), "monthly": ("GAME_MONTHLY", "CHANNEL_MONTHLY")}


class WarehouseError(Exception):
    """The warehouse cannot answer (down, bad credentials); the message is one line, no secret."""


class NoTables(WarehouseError):
    """The window tables do not exist yet: the sinks create them when they start."""


class Source(NamedTuple):
    """Which warehouse a result came from: the cache key part that keeps warehouses apart."""

    where: str  # account or host:port; BigQuery's project or its local emulator's address
    database: str  # BigQuery: the project
    schema: str  # BigQuery: the dataset
    warehouse: str = "snowflake"  # or "bigquery": the dialect of every statement


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
    if settings.warehouse == "bigquery":
        from sinks.bigquery.connection import project

        bq = settings.bigquery
        where = f"BigQuery emulator at {bq.host}:{bq.port}" if bq.uses_local else f"BigQuery project {bq.project}"
        return Source(where, project(settings), bq.dataset, "bigquery")
    where = settings.snowflake.account or f"{settings.snowflake.host}:{settings.snowflake.port}"
    return Source(where, settings.snowflake.database, settings.snowflake.schema_name)


def timeout_seconds() -> int:
    """DASHBOARD_TIMEOUT, or the default for an unusable value."""
    try:
        return max(1, int(float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))))
    except ValueError:
        return DEFAULT_TIMEOUT


def connect(source: Source) -> Any:
    """A new connection to `source` with the dashboard's short timeouts (the caller closes it)."""
    if source.where == SIS:  # Snowflake connects it as the app's owner, without credentials
        return st.connection("snowflake").raw_connection
    # imported here, not at the top: Streamlit in Snowflake runs without the pipeline's packages
    from pulse.settings import ConfigError, load_settings
    from sinks.choice import chosen

    if source.warehouse == "bigquery":
        settings = load_settings(warehouse="bigquery", bigquery_dataset=source.schema,
                                 bigquery_timeout=timeout_seconds())
    else:
        settings = load_settings(warehouse="snowflake", snowflake_database=source.database,
                                 snowflake_schema=source.schema, snowflake_network_timeout=timeout_seconds())
    try:
        # BigQuery: no dataset made here (the dashboard only reads); a missing one is NoTables
        return chosen(settings).connect(settings, with_schema=source.warehouse != "bigquery")
    except ConfigError as exc:
        raise WarehouseError(str(exc)) from None
    except Exception as exc:
        raise WarehouseError(f"cannot reach the warehouse at {source.where}: {one_line(exc)}") from None


def close(source: Source, conn: Any) -> None:
    """Close a connection of `connect` (Streamlit in Snowflake's own stays open: it is shared)."""
    if source.where == SIS:
        return
    try:
        conn.close()
    except Exception:
        pass


def _close(conn: Any) -> None:
    """The shared connection's release (`fetch` never drops Streamlit in Snowflake's own)."""
    close(Source("", "", ""), conn)


@st.cache_resource(show_spinner=False, on_release=_close)
def _connection(source: Source) -> Any:
    return connect(source)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:200]


def missing_table(exc: BaseException) -> bool:
    """Snowflake's "does not exist", BigQuery's "Not found: Table ..." (or its dataset)."""
    text = str(exc).lower()
    return "does not exist" in text or "not found" in text and ("table" in text or "dataset" in text)


def _lost_session(exc: BaseException, warehouse: str = "snowflake") -> bool:
    """The warehouse answered but no longer knows the session (a restarted local server, an
    expired session or, on BigQuery, expired credentials): worth one new login. A network
    failure is not: it is said at once."""
    if warehouse == "bigquery":
        from sinks.bigquery.errors import lost_session as bigquery_lost

        cause = exc.__cause__ or exc  # the DB-API error wraps Google's
        return bigquery_lost(cause)
    try:
        from sinks.snowflake.errors import lost_session
    except ImportError:  # Streamlit in Snowflake: Snowflake keeps its own session alive
        return False
    return lost_session(exc) or "connection is closed" in str(exc).lower()


_timing = threading.local()


@contextmanager
def timed() -> Iterator[list[float]]:
    """Collects the seconds of every statement run in this thread inside the block."""
    previous = getattr(_timing, "durations", None)
    _timing.durations = durations = []
    try:
        yield durations
    finally:
        _timing.durations = previous


# BigQuery infers a parameter's type from its value, and cannot from None: the dashboard binds
# None only where a timestamp goes (no previous window), so None is a TIMESTAMP.
_BQ_TYPES: tuple[tuple[type, str], ...] = ((bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (str, "STRING"),
                                           (datetime, "TIMESTAMP"))


def _bigquery_bind(value: Any) -> tuple[Any, str]:
    """A value as a BigQuery parameter, and its type: naive datetimes are UTC (the tables'
    TIMESTAMPs), so they are bound as TIMESTAMP, never as DATETIME."""
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    kind = next((name for cls, name in _BQ_TYPES if isinstance(value, cls)), "TIMESTAMP" if value is None else "")
    if not kind:
        raise TypeError(f"no BigQuery type for a bound {type(value).__name__}")
    return value, kind


def statement(sql: str, params: Sequence[Any], warehouse: str) -> tuple[str, Optional[tuple]]:
    """The statement and its binds for `warehouse`: Snowflake's as written; BigQuery's
    transpiled (once per statement: `sinks.dialect` caches it) with typed binds (None without
    any: its DB-API takes no empty list)."""
    if warehouse != "bigquery":
        return sql, tuple(params)
    from sinks.dialect import sql as dialect_sql

    text = dialect_sql(sql, "bigquery")
    bound = [_bigquery_bind(value) for value in params]
    pieces = text.split("%s")
    if len(pieces) != len(bound) + 1:
        raise ValueError(f"{len(pieces) - 1} binds in the statement, {len(bound)} values")
    typed = pieces[0] + "".join(f"%(:{kind})s{rest}" for (_, kind), rest in zip(bound, pieces[1:]))
    return typed, tuple(value for value, _ in bound) or None


def normalised(df: pd.DataFrame) -> pd.DataFrame:
    """The same frame from either warehouse: upper-case column names, timestamps as naive UTC
    (Snowflake's TIMESTAMP_NTZ comes back naive, BigQuery's TIMESTAMP with its zone), exact
    decimals as floats."""
    df.columns = [str(c).upper() for c in df.columns]
    for name in df.columns:
        column = df[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            df[name] = column.dt.tz_convert("UTC").dt.tz_localize(None)
        elif column.dtype == object and len(column.dropna()) and all(
                isinstance(v, Decimal) for v in column.dropna()):
            df[name] = column.astype(float)
        elif column.dtype == object and len(column.dropna()) and all(
                isinstance(v, datetime) and v.tzinfo is not None for v in column.dropna()):
            df[name] = pd.to_datetime(column, utc=True).dt.tz_localize(None)
    return df


def run(conn: Any, sql: str, params: Sequence[Any] = (), warehouse: str = "snowflake") -> pd.DataFrame:
    """One bound statement (Snowflake SQL) on `conn`, a connection to `warehouse`; a DataFrame
    with upper-case column names (see `normalised`)."""
    started = time.perf_counter()
    text, binds = statement(sql, params, warehouse)
    cur = conn.cursor()
    try:
        cur.execute(text, binds)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description]
    finally:
        cur.close()
        durations = getattr(_timing, "durations", None)
        if durations is not None:
            durations.append(time.perf_counter() - started)
    return normalised(pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns))


def fetch(source: Source, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """Run one bound statement on the app's shared connection. A lost session is logged in
    again once; anything else is a WarehouseError (NoTables for a missing table)."""
    for attempt in (1, 2):
        conn = _connection(source)
        try:
            with _lock:
                return run(conn, sql, params, source.warehouse)
        except Exception as exc:
            if missing_table(exc):
                raise NoTables(one_line(exc)) from None
            if source.where != SIS:
                _connection.clear(source)  # a fresh session next time, whatever went wrong
            if attempt == 2 or not _lost_session(exc, source.warehouse):
                raise WarehouseError(f"query failed: {one_line(exc)}") from None
    raise AssertionError("unreachable")


# --- freshness: which windows are in, and complete ---------------------------------------------

WINDOW_CHECKS = f"""
    WITH NEWEST AS (SELECT WINDOW_START, WINDOW_END FROM GAME_WINDOWS ORDER BY WINDOW_START DESC LIMIT 1),
    SINCE AS (SELECT DATEADD('second', -{CHECKED - 1} * DATEDIFF('second', WINDOW_START, WINDOW_END), WINDOW_START) AS T
              FROM NEWEST),
    G AS (SELECT WINDOW_START, WINDOW_END, RANK, WATCH_HOURS, AIR_HOURS,
                 MAX(RANK) OVER (PARTITION BY WINDOW_START) AS LAST_RANK
          FROM GAME_WINDOWS WHERE WINDOW_START >= (SELECT T FROM SINCE)),
    C AS (SELECT WINDOW_START, WINDOW_END, RANK, WATCH_HOURS, AIR_HOURS,
                 MAX(RANK) OVER (PARTITION BY WINDOW_START) AS LAST_RANK
          FROM CHANNEL_WINDOWS WHERE WINDOW_START >= (SELECT T FROM SINCE))
    SELECT 'games' AS TABLE_NAME, WINDOW_START, MAX(WINDOW_END) AS WINDOW_END, COUNT(*) AS ROW_COUNT,
           MAX(RANK) AS LAST_RANK, SUM(CASE WHEN RANK = LAST_RANK THEN 1 ELSE 0 END) AS AT_LAST_RANK,
           SUM(WATCH_HOURS) AS WATCH_HOURS, SUM(AIR_HOURS) AS AIR_HOURS
    FROM G GROUP BY WINDOW_START
    UNION ALL
    SELECT 'channels', WINDOW_START, MAX(WINDOW_END), COUNT(*), MAX(RANK),
           SUM(CASE WHEN RANK = LAST_RANK THEN 1 ELSE 0 END), SUM(WATCH_HOURS), SUM(AIR_HOURS)
    FROM C GROUP BY WINDOW_START
    LIMIT {4 * CHECKED}"""


def window_checks(conn: Any, warehouse: str = "snowflake") -> list[WindowCheck]:
    """The newest CHECKED windows of GAME_WINDOWS (and any newer one of CHANNEL_WINDOWS) with
    what each table holds of them, for `windows.judge`."""
    df = run(conn, WINDOW_CHECKS, (), warehouse)
    found: dict[datetime, dict[str, Any]] = {}
    for row in df.itertuples(index=False):
        start = _ts(row.WINDOW_START)
        entry = found.setdefault(start, {"end": _ts(row.WINDOW_END)})
        entry[row.TABLE_NAME] = TableWindow(int(row.ROW_COUNT), int(row.LAST_RANK), int(row.AT_LAST_RANK),
                                            float(row.WATCH_HOURS or 0), float(row.AIR_HOURS or 0))
    return [WindowCheck(start, e["end"], e.get("games"), e.get("channels")) for start, e in found.items()]


class AlertsSeen(NamedTuple):
    count: int
    newest: Optional[datetime]


def alerts_seen(conn: Any, warehouse: str = "snowflake") -> AlertsSeen:
    df = run(conn, "SELECT COUNT(*) AS N, MAX(CAPTURED_AT) AS NEWEST FROM ALERTS LIMIT 1", (), warehouse)
    count = int(df["N"].iloc[0]) if len(df) else 0
    return AlertsSeen(count, _ts(df["NEWEST"].iloc[0]) if count else None)


def _ts(value: Any) -> Optional[datetime]:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def window_before(source: Source, start: datetime) -> Optional[datetime]:
    df = fetch(source, "SELECT WINDOW_START FROM GAME_WINDOWS WHERE WINDOW_START < %s "
                       "ORDER BY WINDOW_START DESC LIMIT 1", (start,))
    return _ts(df["WINDOW_START"].iloc[0]) if len(df) else None


# --- overview -------------------------------------------------------------------------------


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


def window_totals(source: Source, window: datetime) -> pd.DataFrame:
    """All games of one window added up: watch hours, viewers, games, channels."""
    return fetch(source, """
        SELECT SUM(WATCH_HOURS) AS WATCH_HOURS, SUM(AVG_VIEWERS) AS AVG_VIEWERS,
               COUNT(*) AS GAMES, SUM(UNIQUE_CHANNELS) AS CHANNELS
        FROM GAME_WINDOWS WHERE WINDOW_START = %s LIMIT 1""", (window,))


def top_channels(source: Source, window: datetime, previous: Optional[datetime], limit: int = TOP) -> pd.DataFrame:
    """One window's channels by global rank, with their rank in the previous window."""
    return fetch(source, """
        SELECT C.RANK, C.USER_ID, C.USER_LOGIN, C.USER_NAME, C.GAME_ID, C.GAME_NAME, C.WATCH_HOURS,
               C.AVG_VIEWERS, C.PEAK_VIEWERS, P.RANK AS PREVIOUS_RANK
        FROM (SELECT * FROM CHANNEL_WINDOWS WHERE WINDOW_START = %s ORDER BY RANK, USER_ID LIMIT %s) C
        LEFT JOIN (SELECT USER_ID, RANK FROM CHANNEL_WINDOWS WHERE WINDOW_START = %s) P ON P.USER_ID = C.USER_ID
        ORDER BY C.RANK, C.USER_ID
        LIMIT %s""", (window, limit, previous, limit))


def top_games_over_time(source: Source, start: datetime, end: datetime, step: str, limit: int = 5) -> pd.DataFrame:
    """The `limit` games with the most watch hours in [start, end), per period of `step`
    (window, hourly, daily): their watch hours, the hours of windows in the period, and all
    games' watch hours in it (for average viewers and share)."""
    period = PERIOD[step]
    return fetch(source, f"""
        WITH R AS (SELECT {period} AS PERIOD_START, WINDOW_START, WINDOW_END, GAME_ID, GAME_NAME, WATCH_HOURS
                   FROM GAME_WINDOWS WHERE WINDOW_START >= %s AND WINDOW_START < %s),
        TOP_GAMES AS (SELECT GAME_ID FROM R GROUP BY GAME_ID ORDER BY SUM(WATCH_HOURS) DESC, GAME_ID LIMIT %s),
        P AS (SELECT PERIOD_START, COUNT(DISTINCT WINDOW_START) * MAX(DATEDIFF('second', WINDOW_START, WINDOW_END))
                     / 3600.0 AS HOURS, SUM(WATCH_HOURS) AS ALL_WATCH_HOURS
              FROM R GROUP BY PERIOD_START)
        SELECT P.PERIOD_START, P.HOURS, P.ALL_WATCH_HOURS, R.GAME_ID, MAX(R.GAME_NAME) AS GAME_NAME,
               SUM(R.WATCH_HOURS) AS WATCH_HOURS
        FROM R JOIN TOP_GAMES T ON T.GAME_ID = R.GAME_ID JOIN P ON P.PERIOD_START = R.PERIOD_START
        GROUP BY P.PERIOD_START, P.HOURS, P.ALL_WATCH_HOURS, R.GAME_ID
        ORDER BY P.PERIOD_START, R.GAME_ID
        LIMIT %s""", (start, end, limit, MAX_POINTS))


def platform_rollup(source: Source, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The rollup's rows (PLATFORM_HOURLY or PLATFORM_DAILY) of the periods starting in
    [start, end); COVERED_HOURS too where the rollup has it."""
    view = PLATFORM_VIEWS[grain]
    return fetch(source, f"""
        SELECT * FROM {view} WHERE PERIOD_START >= %s AND PERIOD_START < %s
        ORDER BY PERIOD_START LIMIT %s""", (start, end, MAX_POINTS))


def window_coverage(source: Source, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Hours of windows in [start, end) per period, from GAME_WINDOWS (small)."""
    period = PERIOD[grain]
    return fetch(source, f"""
        SELECT {period} AS PERIOD_START,
               COUNT(DISTINCT WINDOW_START) * MAX(DATEDIFF('second', WINDOW_START, WINDOW_END)) / 3600.0 AS HOURS
        FROM GAME_WINDOWS WHERE WINDOW_START >= %s AND WINDOW_START < %s
        GROUP BY 1 ORDER BY 1 LIMIT %s""", (start, end, MAX_POINTS))


def platform_exact(source: Source, grain: str, spans: Sequence[tuple[datetime, datetime]]) -> pd.DataFrame:
    """The rollup's columns computed from CHANNEL_WINDOWS over the windows inside each span."""
    period = PERIOD[grain]
    one = f"""SELECT {period} AS PERIOD_START, SUM(WATCH_HOURS) AS WATCH_HOURS, SUM(AIR_HOURS) AS AIR_HOURS,
                     COUNT(DISTINCT USER_ID) AS DISTINCT_CHANNELS
              FROM CHANNEL_WINDOWS WHERE WINDOW_START >= %s AND WINDOW_START < %s GROUP BY 1"""
    params = [moment for span in spans for moment in span]
    return fetch(source, " UNION ALL ".join([one] * len(spans)) + " ORDER BY 1 LIMIT %s", (*params, MAX_POINTS))


def viewers_per_window(source: Source, start: datetime, end: datetime) -> pd.DataFrame:
    """Concurrent viewers of the platform per window (all games' average viewers added up)."""
    return fetch(source, """
        SELECT WINDOW_START, SUM(AVG_VIEWERS) AS AVG_VIEWERS, SUM(WATCH_HOURS) AS WATCH_HOURS
        FROM GAME_WINDOWS
        WHERE WINDOW_START >= %s AND WINDOW_START < %s
        GROUP BY WINDOW_START ORDER BY WINDOW_START
        LIMIT %s""", (start, end, MAX_POINTS))


# --- games ----------------------------------------------------------------------------------


def search_games(source: Source, text: str, start: datetime, end: datetime, limit: int = 50) -> pd.DataFrame:
    """Games whose name contains `text` (any case), most watched in the range first."""
    return fetch(source, """
        SELECT GAME_ID, MAX(GAME_NAME) AS GAME_NAME, SUM(WATCH_HOURS) AS WATCH_HOURS
        FROM GAME_WINDOWS
        WHERE WINDOW_START >= %s AND WINDOW_START < %s
          AND CONTAINS(LOWER(COALESCE(GAME_NAME, '')), LOWER(%s))
        GROUP BY GAME_ID
        ORDER BY WATCH_HOURS DESC, GAME_ID
        LIMIT %s""", (start, end, text, limit))


def game_name(source: Source, game_id: str) -> Optional[str]:
    """A game's newest name in the warehouse, any time; None for an id it has never seen."""
    df = fetch(source, "SELECT GAME_NAME FROM GAME_WINDOWS WHERE GAME_ID = %s ORDER BY WINDOW_START DESC LIMIT 1",
               (game_id,))
    return (str(df["GAME_NAME"].iloc[0]) if df["GAME_NAME"].iloc[0] is not None else "") if len(df) else None


def game_history(source: Source, game_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """One game's windows in the range, oldest first."""
    return fetch(source, """
        SELECT WINDOW_START, WINDOW_END, GAME_NAME, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS,
               UNIQUE_CHANNELS, RANK
        FROM GAME_WINDOWS
        WHERE GAME_ID = %s AND WINDOW_START >= %s AND WINDOW_START < %s
        ORDER BY WINDOW_START
        LIMIT %s""", (game_id, start, end, MAX_POINTS))


def game_top_channels(source: Source, game_id: str, window: datetime, limit: int = TOP) -> pd.DataFrame:
    """One game's top channels in one window (GAME_TOP_CHANNELS), by rank."""
    return fetch(source, """
        SELECT RANK, USER_ID, USER_LOGIN, USER_NAME, WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS
        FROM GAME_TOP_CHANNELS
        WHERE GAME_ID = %s AND WINDOW_START = %s
        ORDER BY RANK
        LIMIT %s""", (game_id, window, limit))


# --- channels -------------------------------------------------------------------------------


def search_channels(source: Source, text: str, window: datetime, start: datetime, end: datetime,
                    limit: int = 50) -> pd.DataFrame:
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
        LIMIT %s""", (start, end, text, text, limit))


def channel_identity(source: Source, user_id: str) -> Optional[tuple[str, str]]:
    """A channel's newest (login, display name), any time; None for an id never seen."""
    df = fetch(source, "SELECT USER_LOGIN, USER_NAME FROM CHANNEL_WINDOWS WHERE USER_ID = %s "
                       "ORDER BY WINDOW_START DESC LIMIT 1", (user_id,))
    return (str(df["USER_LOGIN"].iloc[0] or ""), str(df["USER_NAME"].iloc[0] or "")) if len(df) else None


def channel_history(source: Source, user_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """One channel's windows in the range, oldest first: watch and air hours, viewers, global
    rank, game."""
    return fetch(source, """
        SELECT WINDOW_START, WINDOW_END, USER_LOGIN, USER_NAME, GAME_ID, GAME_NAME, WATCH_HOURS,
               AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS, RANK
        FROM CHANNEL_WINDOWS
        WHERE USER_ID = %s AND WINDOW_START >= %s AND WINDOW_START < %s
        ORDER BY WINDOW_START
        LIMIT %s""", (user_id, start, end, MAX_POINTS))


def channel_games(source: Source, user_id: str, start: datetime, end: datetime, limit: int = 50) -> pd.DataFrame:
    """The games a channel played in the range (by each window's main game), most watched first."""
    return fetch(source, """
        SELECT GAME_ID, MAX(GAME_NAME) AS GAME_NAME, SUM(WATCH_HOURS) AS WATCH_HOURS,
               SUM(AIR_HOURS) AS AIR_HOURS, MAX(PEAK_VIEWERS) AS PEAK_VIEWERS,
               MIN(WINDOW_START) AS FIRST_SEEN, MAX(WINDOW_END) AS LAST_SEEN
        FROM CHANNEL_WINDOWS
        WHERE USER_ID = %s AND WINDOW_START >= %s AND WINDOW_START < %s
        GROUP BY GAME_ID
        ORDER BY WATCH_HOURS DESC, GAME_ID
        LIMIT %s""", (user_id, start, end, limit))


# --- alerts ---------------------------------------------------------------------------------


def alerts(source: Source, start: datetime, end: datetime, limit: int = 100) -> pd.DataFrame:
    """The latest spike alerts captured in [start, end), newest first. A channel alert names
    the channel by its display name from the window it fired in (the processor sends the
    login), or by the login while that window is not written yet."""
    return fetch(source, """
        SELECT A.CAPTURED_AT, A.KIND, A.SUBJECT_TYPE, A.SUBJECT_ID,
               COALESCE(NULLIF(C.USER_NAME, ''), A.SUBJECT_NAME) AS SUBJECT_NAME,
               A.GAME_ID, A.GAME_NAME, A.VIEWERS, A.BASELINE, A.THRESHOLD, A.URL
        FROM ALERTS A
        LEFT JOIN CHANNEL_WINDOWS C
               ON A.SUBJECT_TYPE = 'channel' AND C.USER_ID = A.SUBJECT_ID
              AND C.WINDOW_START <= A.CAPTURED_AT AND A.CAPTURED_AT < C.WINDOW_END
        WHERE A.CAPTURED_AT >= %s AND A.CAPTURED_AT < %s
        ORDER BY A.CAPTURED_AT DESC, A.ALERT_ID
        LIMIT %s""", (start, end, limit))



# --- dbt models (issue 19): broadcasts, languages, rankings ------------------------------------

# dbt (dbt/) builds the models on Snowflake only. BigQuery's schema has views of its own under
# some of the same names (GAME_DAILY, CHANNEL_DAILY: rollups without ranks), so asking them
# would be a wrong-column error, not "not built": the parts say "not built" without a statement.
MODELS_BUILT_ON = frozenset({"snowflake"})


def fetch_model(source: Source, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """`fetch` for a dbt model's rows; NoTables where dbt does not build its models."""
    if source.warehouse not in MODELS_BUILT_ON:
        raise NoTables(f"dbt builds its models on Snowflake only, not on {source.warehouse}")
    return fetch(source, sql, params)


def broadcasts(source: Source, user_id: str, start: datetime, end: datetime, limit: int = 50) -> pd.DataFrame:
    """A channel's broadcasts seen in [start, end), newest first (the `broadcasts` model)."""
    return fetch_model(source, """
        SELECT STREAM_ID, STARTED_AT, FIRST_SEEN, LAST_SEEN, ENDED, ENDED_AT, DURATION_HOURS, WATCH_HOURS,
               AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS, PEAK_AT, GAME_ID, GAME_NAME, GAMES, TITLE, LANGUAGE
        FROM BROADCASTS
        WHERE USER_ID = %s AND LAST_SEEN >= %s AND FIRST_SEEN < %s
        ORDER BY STARTED_AT DESC, STREAM_ID
        LIMIT %s""", (user_id, start, end, limit))


def language_days(source: Source, start: datetime, end: datetime) -> pd.DataFrame:
    """Each language's watch hours per UTC day starting in [start, end), with the hours of the
    day its windows cover (the `language_daily` model)."""
    return fetch_model(source, """
        SELECT PERIOD_START, LANGUAGE, WATCH_HOURS, AVG_VIEWERS, DISTINCT_CHANNELS, COVERED_HOURS, RANK
        FROM LANGUAGE_DAILY
        WHERE PERIOD_START >= %s AND PERIOD_START < %s
        ORDER BY PERIOD_START, RANK, LANGUAGE
        LIMIT %s""", (start, end, MAX_POINTS))


def ranking_periods(source: Source, per: str, limit: int = 62) -> pd.DataFrame:
    """The newest days or months of the rankings, with the hours their windows cover."""
    games, _ = RANKINGS[per]
    return fetch_model(source, f"""
        SELECT PERIOD_START, MAX(COVERED_HOURS) AS COVERED_HOURS FROM {games}
        GROUP BY PERIOD_START ORDER BY PERIOD_START DESC LIMIT %s""", (limit,))


def game_ranking(source: Source, per: str, period: datetime, limit: int = 25) -> pd.DataFrame:
    """A day's or month's games by rank, with the rank change against the period before."""
    games, _ = RANKINGS[per]
    return fetch_model(source, f"""
        SELECT RANK, PREVIOUS_RANK, RANK_CHANGE, GAME_ID, GAME_NAME, WATCH_HOURS, AIR_HOURS, AVG_VIEWERS,
               PEAK_VIEWERS, DISTINCT_CHANNELS
        FROM {games} WHERE PERIOD_START = %s
        ORDER BY RANK, GAME_ID LIMIT %s""", (period, limit))


def channel_ranking(source: Source, per: str, period: datetime, limit: int = 25) -> pd.DataFrame:
    """A day's or month's channels by rank, with the rank change and the main game."""
    _, channels = RANKINGS[per]
    return fetch_model(source, f"""
        SELECT RANK, PREVIOUS_RANK, RANK_CHANGE, USER_ID, USER_LOGIN, USER_NAME, GAME_ID, GAME_NAME,
               WATCH_HOURS, AIR_HOURS, AVG_VIEWERS, PEAK_VIEWERS
        FROM {channels} WHERE PERIOD_START = %s
        ORDER BY RANK, USER_ID LIMIT %s""", (period, limit))
