"""An independent batch computation of DESIGN §4 in DuckDB SQL, the yardstick for the
streaming outputs. It shares no code with the processor: it reads raw events (in the order
they were sent) and derives every window row with plain SQL.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Iterable

import duckdb
import pyarrow as pa


def _ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# the sent events, one column each
_EV = pa.schema([("seq", pa.int64()), ("stream_id", pa.string()), ("user_id", pa.string()), ("login", pa.string()),
                 ("uname", pa.string()), ("game_id", pa.string()), ("game_name", pa.string()), ("v", pa.int64()),
                 ("t", pa.int64()), ("started", pa.int64()), ("late", pa.bool_()), ("language", pa.string()),
                 ("title", pa.string()), ("mature", pa.bool_())])


def samples(events: Iterable[dict[str, Any]], window_s: int, interval_s: int,
            late: set[int] = frozenset()) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding table `s`: the samples DESIGN §4 credits, each with its
    Δ `d` and window start `w` (ms). `late`: send positions whose window had already closed
    when they were sent (they still count as a stream's previous sample)."""
    columns: dict[str, list[Any]] = {name: [] for name in _EV.names}
    for seq, e in enumerate(events):
        for name, value in zip(_EV.names, (
                seq, e["stream_id"], e["user_id"], e["user_login"], e["user_name"], e["game_id"], e["game_name"],
                e["viewer_count"], _ms(e["captured_at"]), _ms(e["started_at"]), seq in late,
                e.get("language"), e.get("title"), e.get("is_mature"))):
            columns[name].append(value)
    ev_source = pa.table(columns, schema=_EV)  # noqa: F841  (DuckDB reads it by its name)
    con = duckdb.connect()
    con.execute("CREATE TABLE ev AS SELECT * FROM ev_source")  # one bulk load, where row inserts took seconds
    W, I = window_s * 1000, interval_s * 1000
    con.execute(f"""
    CREATE TABLE s AS
    WITH ordered AS (
        SELECT *, max(t) OVER (PARTITION BY stream_id ORDER BY seq
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen_max
        FROM ev),
    kept AS (SELECT * FROM ordered WHERE seen_max IS NULL OR t > seen_max),
    credited AS (
        SELECT *, lag(t) OVER (PARTITION BY stream_id ORDER BY t) AS prev FROM kept)
    SELECT *, least(greatest(t - coalesce(prev, greatest(started, t - {I})), 0), {2 * I}) AS d,
           t - (t % {W}) AS w
    FROM credited WHERE NOT late
    """)
    return con


def compute(events: Iterable[dict[str, Any]], window_s: int, interval_s: int, top_n: int,
            late: set[int] = frozenset()) -> dict[str, dict]:
    """events: valid v1 events in send order. `late`: send positions whose window had
    already closed when they were sent (they still count as a stream's previous sample)."""
    con = samples(events, window_s, interval_s, late)
    W = window_s * 1000
    games = con.execute(f"""
    WITH g AS (
        SELECT w, game_id, arg_max(game_name, t) AS game_name, sum(v * d) AS watch, sum(d) AS air,
               count(DISTINCT user_id) AS uc,
               count(DISTINCT CASE WHEN started >= w AND started < w + {W} THEN stream_id END) AS ns
        FROM s GROUP BY w, game_id),
    p AS (SELECT w, game_id, t, sum(v) AS sv, count(*) AS cnt FROM s GROUP BY w, game_id, t),
    pk AS (SELECT w, game_id, max(cnt) AS peak_channels,
                  arg_min(t, (-sv, t)) AS peak_at, max(sv) AS peak_viewers FROM p GROUP BY w, game_id)
    SELECT g.w, g.game_id, g.game_name, g.watch / 3600000.0, g.air / 3600000.0,
           g.watch / {W}::DOUBLE, g.air / {W}::DOUBLE, pk.peak_viewers, pk.peak_at, pk.peak_channels,
           g.uc, g.ns, rank() OVER (PARTITION BY g.w ORDER BY g.watch DESC)
    FROM g JOIN pk USING (w, game_id)
    """).fetchall()
    channels = con.execute("""
    WITH c AS (
        SELECT w, user_id, arg_max(login, t) AS login, arg_max(uname, t) AS uname,
               sum(v * d) AS watch, sum(d) AS air, max(v) AS peak FROM s GROUP BY w, user_id),
    cg AS (SELECT w, user_id, game_id, arg_max(game_name, t) AS game_name, sum(d) AS air_g, max(t) AS last_t
           FROM s GROUP BY w, user_id, game_id),
    main AS (SELECT w, user_id, arg_max(game_id, (air_g, last_t)) AS game_id,
                    arg_max(game_name, (air_g, last_t)) AS game_name FROM cg GROUP BY w, user_id)
    SELECT c.w, c.user_id, c.login, c.uname, main.game_id, main.game_name, c.watch / 3600000.0,
           c.air / 3600000.0, CASE WHEN c.air > 0 THEN c.watch / c.air::DOUBLE END, c.peak,
           rank() OVER (PARTITION BY c.w ORDER BY c.watch DESC)
    FROM c JOIN main USING (w, user_id)
    """).fetchall()
    tops = con.execute(f"""
    WITH x AS (SELECT w, game_id, user_id, sum(v * d) AS watch, sum(d) AS air, max(v) AS peak
               FROM s GROUP BY w, game_id, user_id),
    names AS (SELECT w, game_id, arg_max(game_name, t) AS game_name FROM s GROUP BY w, game_id),
    who AS (SELECT w, user_id, arg_max(login, t) AS login, arg_max(uname, t) AS uname FROM s GROUP BY w, user_id),
    r AS (SELECT *, row_number() OVER (PARTITION BY w, game_id
                    ORDER BY watch DESC, TRY_CAST(user_id AS HUGEINT) NULLS LAST, user_id) AS rank FROM x)
    SELECT r.w, r.game_id, names.game_name, r.rank, r.user_id, who.login, who.uname,
           r.watch / 3600000.0, r.air / 3600000.0, r.peak
    FROM r JOIN names USING (w, game_id) JOIN who USING (w, user_id) WHERE r.rank <= {top_n}
    """).fetchall()
    languages = con.execute(f"""
    WITH g AS (
        SELECT w, language, sum(v * d) AS watch, sum(d) AS air, count(DISTINCT user_id) AS uc,
               count(DISTINCT CASE WHEN started >= w AND started < w + {W} THEN stream_id END) AS ns
        FROM s GROUP BY w, language),
    p AS (SELECT w, language, t, sum(v) AS sv, count(*) AS cnt FROM s GROUP BY w, language, t),
    pk AS (SELECT w, language, max(cnt) AS peak_channels,
                  arg_min(t, (-sv, t)) AS peak_at, max(sv) AS peak_viewers FROM p GROUP BY w, language)
    SELECT g.w, g.language, g.watch / 3600000.0, g.air / 3600000.0, g.watch / {W}::DOUBLE, g.air / {W}::DOUBLE,
           pk.peak_viewers, pk.peak_at, pk.peak_channels, g.uc, g.ns,
           rank() OVER (PARTITION BY g.w ORDER BY g.watch DESC)
    FROM g JOIN pk USING (w, language)
    """).fetchall()
    streams = con.execute("""
    WITH st AS (
        SELECT w, stream_id, arg_max(user_id, t) AS user_id, arg_max(login, t) AS login, arg_max(uname, t) AS uname,
               arg_max(started, t) AS started, sum(v * d) AS watch, sum(d) AS air, max(v) AS peak,
               arg_min(t, (-v, t)) AS peak_at, min(t) AS first_seen, max(t) AS last_seen, count(*) AS samples,
               count(DISTINCT game_id) AS games, arg_max(title, t) AS title, arg_max(language, t) AS language,
               arg_max(mature, t) AS mature
        FROM s GROUP BY w, stream_id),
    sg AS (SELECT w, stream_id, game_id, arg_max(game_name, t) AS game_name, sum(d) AS air_g, max(t) AS last_t
           FROM s GROUP BY w, stream_id, game_id),
    main AS (SELECT w, stream_id, arg_max(game_id, (air_g, last_t)) AS game_id,
                    arg_max(game_name, (air_g, last_t)) AS game_name FROM sg GROUP BY w, stream_id)
    SELECT st.w, st.stream_id, st.user_id, st.login, st.uname, st.started, main.game_id, main.game_name, st.games,
           st.title, st.language, st.mature, st.watch / 3600000.0, st.air / 3600000.0, st.peak, st.peak_at,
           st.first_seen, st.last_seen, st.samples
    FROM st JOIN main USING (w, stream_id)
    """).fetchall()
    out: dict[str, dict] = {"games": {}, "channels": {}, "top_channels": {}, "languages": {}, "streams": {}}
    for (w, language, wh, ah, av, ac, pv, pat, pc, uc, ns, rank) in languages:
        out["languages"][f"{_iso(w)}|{language}"] = dict(
            window_start=_iso(w), window_end=_iso(w + W), language=language, watch_hours=wh, air_hours=ah,
            avg_viewers=av, avg_channels=ac, peak_viewers=pv, peak_at=_iso(pat), peak_channels=pc,
            unique_channels=uc, new_streams=ns, rank=rank)
    for (w, sid, uid, login, uname, started, gid, gname, games_, title, language, mature, wh, ah, pv, pat, first, last,
         count) in streams:
        out["streams"][f"{_iso(w)}|{sid}"] = dict(
            window_start=_iso(w), window_end=_iso(w + W), stream_id=sid, user_id=uid, user_login=login,
            user_name=uname, started_at=_iso(started), game_id=gid, game_name=gname, games=games_, title=title,
            language=language, is_mature=mature, watch_hours=wh, air_hours=ah, peak_viewers=pv, peak_at=_iso(pat),
            first_seen=_iso(first), last_seen=_iso(last), samples=count)
    for (w, gid, gname, wh, ah, av, ac, pv, pat, pc, uc, ns, rank) in games:
        key = f"{_iso(w)}|{gid}"
        out["games"][key] = dict(window_start=_iso(w), window_end=_iso(w + W), game_id=gid, game_name=gname,
                                 watch_hours=wh, air_hours=ah, avg_viewers=av, avg_channels=ac,
                                 peak_viewers=pv, peak_at=_iso(pat), peak_channels=pc, unique_channels=uc,
                                 new_streams=ns, rank=rank)
    for (w, uid, login, uname, gid, gname, wh, ah, av, pv, rank) in channels:
        key = f"{_iso(w)}|{uid}"
        out["channels"][key] = dict(window_start=_iso(w), window_end=_iso(w + W), user_id=uid, user_login=login,
                                    user_name=uname, game_id=gid, game_name=gname, watch_hours=wh, air_hours=ah,
                                    avg_viewers=av, peak_viewers=pv, rank=rank)
    for (w, gid, gname, rank, uid, login, uname, wh, ah, pv) in tops:
        key = f"{_iso(w)}|{gid}|{rank}"
        out["top_channels"][key] = dict(window_start=_iso(w), window_end=_iso(w + W), game_id=gid, game_name=gname,
                                        rank=rank, user_id=uid, user_login=login, user_name=uname,
                                        watch_hours=wh, air_hours=ah, peak_viewers=pv)
    con.close()
    return out


def assert_rows_equal(expected: dict[str, dict], got: dict[str, dict], what: str) -> None:
    assert set(got) == set(expected), f"{what}: missing {set(expected) - set(got)}, extra {set(got) - set(expected)}"
    for key, exp in expected.items():
        row = got[key]
        assert set(row) == set(exp), f"{what} {key}: fields differ"
        for field, value in exp.items():
            actual = row[field]
            if isinstance(value, float) and actual is not None:
                assert math.isclose(actual, value, rel_tol=1e-9, abs_tol=1e-12), f"{what} {key} {field}: {actual} != {value}"
            else:
                assert actual == value, f"{what} {key} {field}: {actual!r} != {value!r}"
