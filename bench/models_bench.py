"""dbt build times of the analytics models (dbt/) for one simulated day of 10k channels: the
first (full) build, a build with no new data, and the build after one more window lands, each
with every dbt test; the slowest models of the first build.

    .venv/bin/python -m bench.models_bench [--port 28965] [--channels 10000] [--days 1]

Seeds a throw-away schema of the local fakesnow server (SNOWFLAKE_PORT unless --port) with
10-minute windows (`bench.dashboard_bench.seed_synthetic`: CHANNEL_WINDOWS, GAME_WINDOWS,
GAME_TOP_CHANNELS, STREAM_WINDOWS with a broadcast per channel and 6 hours, LANGUAGE_WINDOWS,
ALERTS), each row ingested as its window closed; dropped at the end.
fakesnow is DuckDB behind an HTTP server on one machine: the figures compare builds, they do
not predict a Snowflake warehouse's.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any


def _seed(conn: Any, start: datetime, days: float, channels: int) -> int:
    from bench.dashboard_bench import seed_synthetic

    cur = conn.cursor()
    rows = seed_synthetic(conn, start, days, channels)
    for table in ("CHANNEL_WINDOWS", "GAME_WINDOWS", "GAME_TOP_CHANNELS", "STREAM_WINDOWS", "LANGUAGE_WINDOWS"):
        cur.execute(f"UPDATE {table} SET INGESTED_AT = WINDOW_END")  # as live sinks write them
    return rows


def _one_more_window(conn: Any) -> None:
    """The next window's rows land (copies of the last window's, 10 minutes later, ingested now)."""
    cur = conn.cursor()
    for table in ("CHANNEL_WINDOWS", "GAME_WINDOWS", "GAME_TOP_CHANNELS", "STREAM_WINDOWS", "LANGUAGE_WINDOWS"):
        cur.execute(f"CREATE OR REPLACE TEMPORARY TABLE NEXT_ROWS AS SELECT * FROM {table} "
                    f"WHERE WINDOW_START = (SELECT MAX(WINDOW_START) FROM {table})")
        cur.execute("UPDATE NEXT_ROWS SET WINDOW_START = DATEADD('minute', 10, WINDOW_START), "
                    "WINDOW_END = DATEADD('minute', 10, WINDOW_END), INGESTED_AT = SYSDATE()")
        cur.execute(f"INSERT INTO {table} SELECT * FROM NEXT_ROWS")
        cur.execute("DROP TABLE NEXT_ROWS")


def _timings(settings: Any) -> list[tuple[str, float]]:
    from analytics.runner import work_dir

    results = json.loads((work_dir(settings) / "target" / "run_results.json").read_text())["results"]
    return sorted(((r["unique_id"].split(".")[-1], float(r["execution_time"])) for r in results
                   if r["unique_id"].startswith("model.")), key=lambda t: -t[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None, help="fakesnow port (default: SNOWFLAKE_PORT)")
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=1)
    args = parser.parse_args()

    from analytics.runner import run_dbt
    from bench.scratch import scratch_schema

    with scratch_schema(args.port) as (settings, conn):
        started = time.perf_counter()
        rows = _seed(conn, datetime(2026, 1, 5), args.days, args.channels)
        print(f"seeded {rows:,} CHANNEL_WINDOWS and as many STREAM_WINDOWS rows ({args.days:g} day x "
              f"{args.channels:,} channels, 10-minute windows) in {time.perf_counter() - started:.0f} s", flush=True)
        print(f"{'build':<44}{'seconds':>9}  dbt's summary", flush=True)
        for label, before in (("first build (full), models and tests", None),
                              ("second build, no new data", None),
                              ("after one more window (incremental)", _one_more_window)):
            if before is not None:
                before(conn)
            outcome = run_dbt(settings, ["build"], say=lambda line: None)
            print(f"{label:<44}{outcome.seconds:>9.1f}  {outcome.summary.split(': ', 1)[-1]}", flush=True)
            if outcome.code:
                raise SystemExit(outcome.summary)
            if label.startswith("first"):
                slowest = _timings(settings)[:5]
        print("slowest models of the first build: " + ", ".join(f"{name} {s:.1f} s" for name, s in slowest), flush=True)
        outcome = run_dbt(settings, ["run"], say=lambda line: None)
        print(f"{'models only (dbt run), no new data':<44}{outcome.seconds:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
