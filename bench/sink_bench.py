"""Sink loading benchmark: rows/s per method (multi-row INSERT vs PUT + COPY) and batch size,
for raw events (STREAM_LOGS) and window rows (CHANNEL_WINDOWS, MERGE), through the real sinks'
`write()` and the real connector.

    .venv/bin/python -m bench.sink_bench [--port 38765] [--sizes 1000,5000,20000] [--repeat 2]

Runs against the warehouse of the settings (by default the local fakesnow server on
SNOWFLAKE_PORT) in a throw-away schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import time
import uuid

import orjson

from quixstreams.sinks import SinkBatch

from pulse import events, topics
from pulse.settings import load_settings
from sinks.snowflake import connect


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
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    overrides = {"snowflake_schema": f"BENCH_{uuid.uuid4().hex[:8].upper()}"}
    if args.port:
        overrides["snowflake_port"] = args.port
    settings = load_settings(**overrides)

    from sinks.snowflake import SNOWFLAKE
    from sinks.writers import MergeSink, RawSink

    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'table':<16}{'method':<8}{'batch':>8}{'rows/s':>12}")
    offset = 0
    try:
        for method in ("insert", "copy"):
            raw = RawSink(settings, SNOWFLAKE, method, sink_name=f"bench-{method}")
            windows = MergeSink(settings, SNOWFLAKE, [topics.WINDOWS_CHANNELS], method)
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
        conn = connect(settings, with_schema=False)
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS {settings.snowflake_database}.{settings.snowflake_schema} CASCADE")
        conn.close()


if __name__ == "__main__":
    main()
