"""An independent DuckDB computation of the dbt marts (DESIGN §10) straight from the raw
samples, the yardstick for `dbt build`, as tests/reference.py is for the windows.

It shares no SQL with dbt/: it reads the credited samples (`reference.samples`: Δ per
DESIGN §4) and derives each period and broadcast row in plain DuckDB SQL. Where a mart is
defined over window rows (a channel's main game of a window, a stream's language at the end
of a window), the window-level fact is computed here from the samples too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

import duckdb

from tests.reference import _iso, samples

HOUR_MS = 3_600_000.0


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _facts(con: duckdb.DuckDBPyConnection) -> None:
    """Window-level facts the marts are defined over, from the samples."""
    con.execute("""
    CREATE TABLE channel_main AS  -- per window and channel: the game of most air (ties: seen last)
    SELECT w, user_id, arg_max(game_id, (air_g, last_t)) AS game_id, arg_max(game_name, (air_g, last_t)) AS game_name,
           sum(air_g) AS air
    FROM (SELECT w, user_id, game_id, arg_max(game_name, t) AS game_name, sum(d) AS air_g, max(t) AS last_t
          FROM s GROUP BY w, user_id, game_id)
    GROUP BY w, user_id""")
    con.execute("""
    CREATE TABLE stream_window AS  -- per window and stream: STREAM_WINDOWS' row (DESIGN §4)
    WITH x AS (
        SELECT w, stream_id, arg_max(user_id, t) AS user_id, arg_max(login, t) AS login, arg_max(uname, t) AS uname,
               arg_max(started, t) AS started, count(DISTINCT game_id) AS games, arg_max(title, t) AS title,
               arg_max(language, t) AS language, arg_max(mature, t) AS mature, sum(v * d) AS watch, sum(d) AS air,
               max(v) AS peak, arg_min(t, (-v, t)) AS peak_at, min(t) AS first_t, max(t) AS last_t, count(*) AS n
        FROM s GROUP BY w, stream_id),
    g AS (SELECT w, stream_id, game_id, arg_max(game_name, t) AS game_name, sum(d) AS air_g, max(t) AS last_t
          FROM s GROUP BY w, stream_id, game_id),
    main AS (SELECT w, stream_id, arg_max(game_id, (air_g, last_t)) AS game_id,
                    arg_max(game_name, (air_g, last_t)) AS game_name FROM g GROUP BY w, stream_id)
    SELECT x.*, main.game_id, main.game_name FROM x JOIN main USING (w, stream_id)""")


def _ranked_periods(con: duckdb.DuckDBPyConnection, grain: str, key: str, name: str, channels: str,
                    window_s: int) -> list[dict]:
    """GAME_WINDOWS-shaped period rows (games, languages) per `grain` from the samples;
    `channels`: a query of (w, key, user_id) rows whose distinct users per period count."""
    W = window_s * 1000
    return _rows(con, f"""
    WITH base AS (SELECT *, date_trunc('{grain}', epoch_ms(w)) AS p FROM s),
    covered AS (SELECT p, count(DISTINCT w) * {W} / {HOUR_MS} AS covered FROM base GROUP BY p),
    sums AS (SELECT p, {key} AS k, arg_max({name}, t) AS name, sum(v * d) / {HOUR_MS} AS watch,
                    sum(d) / {HOUR_MS} AS air, count(DISTINCT w) AS windows
             FROM base GROUP BY p, {key}),
    new AS (SELECT p, k, sum(n) AS new_streams FROM (
                SELECT p, w, {key} AS k,
                       count(DISTINCT CASE WHEN started >= w AND started < w + {W} THEN stream_id END) AS n
                FROM base GROUP BY p, w, {key}) GROUP BY p, k),
    polls AS (SELECT p, {key} AS k, t, sum(v) AS sv, count(*) AS cnt FROM base GROUP BY p, {key}, t),
    peaks AS (SELECT p, k, max(sv) AS peak, arg_min(t, (-sv, t)) AS peak_at, max(cnt) AS peak_channels
              FROM polls GROUP BY p, k),
    dc AS (SELECT date_trunc('{grain}', epoch_ms(w)) AS p, k, count(DISTINCT user_id) AS dc
           FROM ({channels}) GROUP BY 1, 2),
    r AS (SELECT sums.*, covered.covered, new.new_streams, peaks.peak, peaks.peak_at, peaks.peak_channels,
                 coalesce(dc.dc, 0) AS dc, rank() OVER (PARTITION BY sums.p ORDER BY sums.watch DESC) AS rank
          FROM sums JOIN covered USING (p) JOIN new USING (p, k) JOIN peaks USING (p, k)
          LEFT JOIN dc USING (p, k))
    SELECT r.*, prev.rank AS previous_rank
    FROM r LEFT JOIN r AS prev ON prev.p = r.p - INTERVAL 1 {grain} AND prev.k = r.k""")


def _period_row(r: dict, name_column: str | None) -> dict:
    row = dict(period_start=r["p"], watch_hours=r["watch"], air_hours=r["air"],
               avg_viewers=r["watch"] / r["covered"], avg_channels=r["air"] / r["covered"], peak_viewers=r["peak"],
               peak_at=r["peak_at"], peak_channels=r["peak_channels"], distinct_channels=r["dc"],
               new_streams=r["new_streams"], windows=r["windows"], covered_hours=r["covered"], rank=r["rank"],
               previous_rank=r["previous_rank"],
               rank_change=None if r["previous_rank"] is None else r["previous_rank"] - r["rank"])
    if name_column:
        row[name_column] = r["name"]
    return row


def _channel_periods(con: duckdb.DuckDBPyConnection, grain: str) -> list[dict]:
    return _rows(con, f"""
    WITH base AS (SELECT *, date_trunc('{grain}', epoch_ms(w)) AS p FROM s),
    c AS (SELECT p, user_id, arg_max(login, t) AS login, arg_max(uname, t) AS uname, sum(v * d) / {HOUR_MS} AS watch,
                 sum(d) / {HOUR_MS} AS air, max(v) AS peak, count(DISTINCT w) AS windows,
                 count(DISTINCT date_trunc('day', epoch_ms(w))) AS days
          FROM base GROUP BY p, user_id),
    g AS (SELECT date_trunc('{grain}', epoch_ms(w)) AS p, user_id, game_id, arg_max(game_name, w) AS game_name,
                 sum(air) AS air_g, max(w) AS last_w
          FROM channel_main GROUP BY 1, 2, 3),
    main AS (SELECT p, user_id, arg_max(game_id, (air_g, last_w)) AS game_id,
                    arg_max(game_name, (air_g, last_w)) AS game_name FROM g GROUP BY p, user_id),
    r AS (SELECT c.*, main.game_id, main.game_name, rank() OVER (PARTITION BY c.p ORDER BY c.watch DESC) AS rank
          FROM c JOIN main USING (p, user_id))
    SELECT r.*, prev.rank AS previous_rank
    FROM r LEFT JOIN r AS prev ON prev.p = r.p - INTERVAL 1 {grain} AND prev.user_id = r.user_id""")


def _channel_row(r: dict, monthly: bool) -> dict:
    row = dict(period_start=r["p"], user_id=r["user_id"], user_login=r["login"], user_name=r["uname"],
               game_id=r["game_id"], game_name=r["game_name"], watch_hours=r["watch"], air_hours=r["air"],
               avg_viewers=r["watch"] / r["air"] if r["air"] else None, peak_viewers=r["peak"], windows=r["windows"],
               rank=r["rank"], previous_rank=r["previous_rank"],
               rank_change=None if r["previous_rank"] is None else r["previous_rank"] - r["rank"])
    if monthly:
        row["days_live"] = r["days"]
    return row


def _broadcasts(con: duckdb.DuckDBPyConnection, interval_s: int) -> list[dict]:
    return _rows(con, f"""
    WITH b AS (
        SELECT stream_id, arg_max(user_id, t) AS user_id, arg_max(login, t) AS login, arg_max(uname, t) AS uname,
               arg_max(started, t) AS started, min(t) AS first_t, max(t) AS last_t, sum(v * d) / {HOUR_MS} AS watch,
               sum(d) / {HOUR_MS} AS air, max(v) AS peak, arg_min(t, (-v, t)) AS peak_at, arg_max(title, t) AS title,
               arg_max(language, t) AS language, arg_max(mature, t) AS mature, count(*) AS n,
               count(DISTINCT w) AS windows
        FROM s GROUP BY stream_id),
    g AS (SELECT stream_id, game_id, arg_max(game_name, last_t) AS game_name, sum(air) AS air_g, max(last_t) AS last_t
          FROM stream_window GROUP BY stream_id, game_id),
    main AS (SELECT stream_id, arg_max(game_id, (air_g, last_t)) AS game_id, arg_max(game_name, (air_g, last_t)) AS game_name,
                    count(*) AS main_games FROM g GROUP BY stream_id),
    most AS (SELECT stream_id, max(games) AS most FROM stream_window GROUP BY stream_id),
    newest AS (SELECT max(t) AS newest FROM s)
    SELECT b.*, main.game_id, main.game_name, greatest(main.main_games, most.most) AS games,
           newest.newest - b.last_t > {2 * interval_s * 1000} AS ended
    FROM b JOIN main USING (stream_id) JOIN most USING (stream_id) CROSS JOIN newest""")


def marts(events: Iterable[dict[str, Any]], window_s: int, interval_s: int) -> dict[str, dict[tuple, dict]]:
    """Every mart's rows by natural key, from the raw samples alone."""
    con = samples(events, window_s, interval_s)
    _facts(con)
    out: dict[str, dict[tuple, dict]] = {}
    game_channels = "SELECT w, game_id AS k, user_id FROM channel_main"
    language_channels = "SELECT w, language AS k, user_id FROM stream_window"
    for mart, grain in (("game_daily", "day"), ("game_monthly", "month")):
        rows = _ranked_periods(con, grain, "game_id", "game_name", game_channels, window_s)
        out[mart] = {(r["p"], r["k"]): {**_period_row(r, "game_name"), "game_id": r["k"]} for r in rows}
    rows = _ranked_periods(con, "day", "language", "language", language_channels, window_s)
    out["language_daily"] = {(r["p"], r["k"]): {**_period_row(r, None), "language": r["k"]} for r in rows}
    for mart, grain in (("channel_daily", "day"), ("channel_monthly", "month")):
        out[mart] = {(r["p"], r["user_id"]): _channel_row(r, grain == "month") for r in _channel_periods(con, grain)}
    out["broadcasts"] = {}
    for r in _broadcasts(con, interval_s):
        out["broadcasts"][(r["stream_id"],)] = dict(
            stream_id=r["stream_id"], user_id=r["user_id"], user_login=r["login"], user_name=r["uname"],
            started_at=_ts(r["started"]), first_seen=_ts(r["first_t"]), last_seen=_ts(r["last_t"]), ended=r["ended"],
            ended_at=_ts(r["last_t"]) if r["ended"] else None, duration_hours=(r["last_t"] - r["started"]) / HOUR_MS,
            watch_hours=r["watch"], air_hours=r["air"], avg_viewers=r["watch"] / r["air"] if r["air"] else None,
            peak_viewers=r["peak"], peak_at=_ts(r["peak_at"]), game_id=r["game_id"], game_name=r["game_name"],
            games=r["games"], title=r["title"], language=r["language"], is_mature=r["mature"], samples=r["n"],
            windows=r["windows"])
    for mart in ("game_daily", "game_monthly", "language_daily"):
        for row in out[mart].values():
            row["peak_at"] = _ts(row["peak_at"])
    con.close()
    return out


def _ts(ms: int | None) -> Any:
    """ms since the epoch -> naive UTC datetime, as the connector returns TIMESTAMP_NTZ."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)
