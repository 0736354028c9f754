"""Sink loading benchmark: rows/s per method (multi-row INSERT vs PUT + COPY) and batch size,
for raw events (STREAM_LOGS) and window rows (CHANNEL_WINDOWS, MERGE), through the real sinks'
`write()` and the real connector.

    .venv/bin/python -m bench.sink_bench [--port 38765] [--sizes 1000,5000,20000] [--repeat 2]
    .venv/bin/python -m bench.sink_bench --warehouse bigquery [--bigquery-port 9050]

Runs against the warehouse of the settings (by default the local fakesnow server on
SNOWFLAKE_PORT; with `--warehouse bigquery` the local bqemulator on BIGQUERY_PORT, one method:
a load job into a staging table, then the transaction or MERGE) in a throw-away schema or
dataset, dropped at the end.
"""

from __future__ import annotations

import argparse
import time
import uuid

import orjson
from quixstreams.sinks import SinkBatch

from pulse import events, topics
from pulse.settings import Settings, load_settings
from sinks.choice import chosen


def _raw_batch(topic: str, n: int, start: int) -> SinkBatch:
    """`n` stream objects as schema v2 chunks of 500 (one message each), as the producer sends them."""
    batch = SinkBatch(topic, 0)
    streams = [events.normalise({
        "id": f"s{i}", "user_id": f"u{i}", "user_login": f"user{i}", "user_name": f"User {i}",
        "game_id": "509658", "game_name": "Just Chatting", "title": "a typical stream title " * 3,
        "language": "en", "type": "live", "tags": ["English", "Chill"], "viewer_count": i % 5000,
        "started_at": "2026-01-01T00:00:00Z", "is_mature": False}) for i in range(start, start + n)]
    for offset, (chunk, value) in enumerate(events.cut_poll(streams, 1_767_229_200_000, "poll-1", "bench", 1, 1, 500),
                                            start=start):
        batch.append(value=value, key=chunk.message_key, timestamp=1_767_229_200_000, headers=[], offset=offset)
    return batch


def _window_batch(topic: str, n: int, start: int) -> SinkBatch:
    """`n` channel-window rows as the processor sends them (JSON bytes: the sinks decode them typed)."""
    batch = SinkBatch(topic, 0)
    for i in range(start, start + n):
        batch.append(value=orjson.dumps({  # as the topic carries it: JSON bytes
            "window_start": events.format_ts(1_767_225_600_000 + (i // 100_000) * 600_000),
            "window_end": events.format_ts(1_767_226_200_000 + (i // 100_000) * 600_000),
            "user_id": f"u{i}", "user_login": f"user{i}", "user_name": f"User {i}", "game_id": "509658",
            "game_name": "Just Chatting", "watch_hours": i / 7, "air_hours": 1 / 6, "avg_viewers": i / 3,
            "peak_viewers": i, "rank": i + 1}), key=b"k", timestamp=0, headers=[], offset=i)
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None, help="fakesnow port (default: SNOWFLAKE_PORT)")
    parser.add_argument("--warehouse", choices=("snowflake", "bigquery"), default="snowflake")
    parser.add_argument("--bigquery-port", type=int, default=None, help="bqemulator port (default: BIGQUERY_PORT)")
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    name = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    overrides: dict = {"snowflake_schema": name, "bigquery_dataset": name, "warehouse": args.warehouse}
    if args.port:
        overrides["snowflake_port"] = args.port
    if args.bigquery_port:
        overrides["bigquery_port"] = args.bigquery_port
    settings = load_settings(**overrides)
    warehouse = chosen(settings)
    # BigQuery has one way to load (sinks.bigquery.load): a load job, then a script or MERGE
    methods = ("copy",) if args.warehouse == "bigquery" else ("insert", "copy")

    from sinks.writers import MergeSink, RawSink

    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'table':<16}{'method':<8}{'batch':>8}{'rows/s':>12}")
    offset = 0
    try:
        for method in methods:
            raw = RawSink(settings, warehouse, method, sink_name=f"bench-{method}")
            windows = MergeSink(settings, warehouse, [topics.WINDOWS_CHANNELS], method)
            for size in sizes:
                for label, sink, make, topic in (
                    ("STREAM_LOGS", raw, _raw_batch, settings.topic(topics.STREAMS)),
                    ("CHANNEL_WINDOWS", windows, _window_batch, settings.topic(topics.WINDOWS_CHANNELS)),
                ):
                    best = 0.0
                    for _ in range(args.repeat):
                        batch = make(topic, size, offset)
                        offset += size
                        started = time.perf_counter()
                        sink.write(batch)
                        best = max(best, size / (time.perf_counter() - started))
                    print(f"{label:<16}{method:<8}{size:>8}{best:>12,.0f}", flush=True)
            raw.close()
            windows.close()
    finally:
        drop(settings)


def drop(settings: Settings) -> None:
    """Drop the throw-away schema (Snowflake) or dataset (BigQuery)."""
    if settings.warehouse == "bigquery":
        from sinks.bigquery.connection import client, dataset_id

        client(settings).delete_dataset(dataset_id(settings), delete_contents=True, not_found_ok=True)
        return
    conn = chosen(settings).connect(settings, with_schema=False)
    conn.cursor().execute(f"DROP SCHEMA IF EXISTS {settings.snowflake.database}.{settings.snowflake.schema_name} CASCADE")
    conn.close()


if __name__ == "__main__":
    main()
