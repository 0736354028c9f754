"""Soak: processor memory over event time well past its longest memory (50 h of stream ids).

`--channels` channels are live at every poll, and `--churn` of them end each poll while as
many new channels (new user ids) start, so over the run far more channels are seen than are
ever live. The polls go in as fast as the processor takes them (an accelerated clock: a
backfill of `--hours` of event time), and the processor's RSS is printed every few simulated
hours. Without forgetting, the state would grow with every channel ever seen; with it, RSS
levels off once event time passes 50 h.

    .venv/bin/python -m bench.soak_bench [--channels 1000] [--churn 5] [--hours 100]

Needs a local broker (BENCH_KAFKA=host:port).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.scale_bench import rss_mib, start_processor
from processors.chunk_stage import STREAM_MEMORY_MS
from pulse import topics
from pulse.events import cut_poll, format_ts
from pulse.kafka import client_config, ensure_topics
from pulse.settings import load_settings


def stream(user: int, t: int, viewers: int) -> dict:
    return {"stream_id": f"s{user}", "user_id": str(user), "user_login": f"u{user}", "user_name": f"U{user}",
            "game_id": str(user % 50), "game_name": f"Game {user % 50}", "title": "soak", "language": "en",
            "type": "live", "tags": [], "viewer_count": viewers, "started_at": format_ts(t - 600_000),
            "is_mature": False}


def wait_caught_up(settings, topic: str, timeout: float = 300) -> None:
    """Until the processor's committed offsets reach the end of the input topic."""
    consumer = Consumer(client_config(settings, **{"group.id": settings.group("processor")}))
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
            if all(tp.offset >= ends[tp.partition] for tp in committed):
                return
            time.sleep(0.5)
        raise SystemExit("the processor did not catch up")
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--churn", type=int, default=5, help="channels ending (and new ones starting) per poll")
    parser.add_argument("--hours", type=float, default=100)
    parser.add_argument("--report-hours", type=float, default=10)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = load_settings(kafka_bootstrap=os.environ.get("BENCH_KAFKA", "127.0.0.1:9092"),
                             topic_prefix=f"soak{run}.", consumer_group_prefix=f"soak{run}",
                             state_dir=Path(tempfile.gettempdir()) / f"pulse-soak-{run}", metrics_port=0,
                             chunk_keys=32)
    ensure_topics(settings, [settings.topic(n) for n in topics.ALL])
    producer = Producer(client_config(settings, **{"linger.ms": 20, "compression.type": "lz4"}))
    proc = start_processor(settings, Path(tempfile.gettempdir()) / f"pulse-soak-{run}.log", "0")
    topic = settings.topic(topics.STREAMS)
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 600_000
    polls = int(args.hours * 60)
    live = list(range(1, args.channels + 1))
    next_user = args.channels + 1
    seen = set(live)
    print(f"{args.channels} live channels, {args.churn} replaced per poll, {args.hours:g} h of event time "
          f"({polls} polls); channels are forgotten {STREAM_MEMORY_MS // 3_600_000} h after their last sample")
    print(f"{'event time (h)':>15}{'channels seen':>15}{'RSS (MiB)':>12}")
    began = time.monotonic()
    try:
        for k in range(polls):
            t = t0 + k * 60_000
            live = live[args.churn:] + list(range(next_user, next_user + args.churn))
            seen.update(live[-args.churn:])
            next_user += args.churn
            streams = [stream(u, t, (u * 7 + k) % 500) for u in live]
            for chunk, value in cut_poll(streams, t, f"soak@{k}", "soak", 1, settings.producer.chunk_keys, 500):
                producer.produce(topic, key=chunk.message_key, value=value, timestamp=t)
            if k % 200 == 0:
                producer.flush(60)
            if k and k % int(args.report_hours * 60) == 0:
                producer.flush(60)
                wait_caught_up(settings, topic)  # sample the processor at this event time
                if proc.poll() is not None:
                    raise SystemExit("processor exited")
                print(f"{k / 60:>15.0f}{len(seen):>15,}{rss_mib(proc.pid)[0]:>12.0f}", flush=True)
        producer.flush(60)
    finally:
        proc.terminate()
        proc.wait(60)
    print(f"done in {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
