"""Processor throughput against the bare limit, on the same input topic.

(a) bare: confluent-kafka consume + orjson decode of every record;
(b) topology: the full processor (all three stages, exactly-once) in one process, timed
    from its first consumed event to the last window emitted.

    .venv/bin/python -m bench.processor_bench [--streams 100000] [--polls 10] [--partitions 2]

Needs the local broker (`twitch-pulse stack start`, or the test stack via BENCH_KAFKA).
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid

import orjson
from confluent_kafka import Consumer, Producer

from pulse import topics
from pulse.events import TICK_HEADER, TICK_KEY, format_ts, normalise, tick
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings, load_settings

I_MS = 60_000


def populate(settings: Settings, streams: int, polls: int, partitions: int, seed: int = 7) -> int:
    """`polls` polls of `streams` live streams (heavy-tailed viewers, 1,000 games) plus ticks."""
    rng = random.Random(seed)
    topic = settings.topic(topics.STREAMS)
    ensure_topics(settings, [settings.topic(n) for n in topics.ALL], partitions=partitions)
    producer = Producer(client_config(settings, **{"linger.ms": 50, "batch.num.messages": 10000,
                                                   "compression.type": "lz4", "queue.buffering.max.messages": 500000}))
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 600_000
    base = [
        {"id": f"{900000 + i}", "user_id": f"{i + 1}", "user_login": f"user{i + 1}", "user_name": f"User{i + 1}",
         "game_id": str(int(rng.paretovariate(1.2)) % 1000), "game_name": "", "type": "live",
         "title": "bench", "viewer_count": int(rng.paretovariate(1.1)) - 1, "started_at": format_ts(t0 - 3_600_000),
         "language": "en", "tags": ["English"], "is_mature": False}
        for i in range(streams)
    ]
    for s in base:
        s["game_name"] = f"Game {s['game_id']}"
    sent = 0
    for k in range(polls):
        t = t0 + k * I_MS
        for s in base:
            s["viewer_count"] = max(0, s["viewer_count"] + rng.randint(-2, 2))
            event = normalise(s, t, f"bench-{k}")
            producer.produce(topic, key=event["user_id"].encode(), value=orjson.dumps(event), timestamp=t)
            sent += 1
            if sent % 100_000 == 0:
                producer.poll(0)
        producer.flush(60)
        value = orjson.dumps(tick(t, "bench", final=k == polls - 1))
        for p in range(partitions):
            producer.produce(topic, partition=p, key=TICK_KEY.encode(), value=value, timestamp=t,
                             headers=[(TICK_HEADER, b"1")])
    producer.flush(60)
    return sent


def bare(settings: Settings, expect: int) -> float:
    consumer = Consumer(client_config(settings, **{
        "group.id": f"bare-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760}))
    consumer.subscribe([settings.topic(topics.STREAMS)])
    seen, started = 0, None
    while seen < expect:
        batch = consumer.consume(10000, 1.0)
        if batch and started is None:
            started = time.perf_counter()
        for msg in batch:
            if not msg.error() and msg.key() != TICK_KEY.encode():
                orjson.loads(msg.value())
                seen += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed


def topology(settings: Settings, expect: int) -> tuple[float, int]:
    from processors import app as processor_app
    from processors import metrics

    app = processor_app.build(settings)
    first: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if not first and metrics.EVENTS._value.get() > 0:
                first.append(time.perf_counter())
            if metrics.EVENTS._value.get() >= expect and metrics.WINDOWS_CLOSED._value.get() >= 1:
                done.set()
                app.stop()
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    app.run()
    return time.perf_counter() - first[0], int(metrics.WINDOWS_CLOSED._value.get())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = load_settings(
        kafka_bootstrap=os.environ.get("BENCH_KAFKA", "127.0.0.1:9092"), topic_prefix=f"bench{run}.",
        consumer_group_prefix=f"bench{run}", state_dir=f"/tmp/pulse-bench-{run}", metrics_port=0,
        log_level="WARNING", topic_partitions=args.partitions)
    print(f"populating {args.polls} polls x {args.streams:,} streams into {args.partitions} partitions ...", flush=True)
    t = time.perf_counter()
    n = populate(settings, args.streams, args.polls, args.partitions)
    print(f"  produced {n:,} events in {time.perf_counter() - t:.1f}s", flush=True)
    bare_s = bare(settings, n)
    topo_s, windows = topology(settings, n)
    print()
    print(f"{'measure':<42}{'seconds':>10}{'events/s':>12}")
    print(f"{'(a) bare consume + orjson decode':<42}{bare_s:>10.2f}{n / bare_s:>12,.0f}")
    print(f"{'(b) full topology, one process (EOS)':<42}{topo_s:>10.2f}{n / topo_s:>12,.0f}")
    print(f"{'ratio (b)/(a)':<42}{'':>10}{bare_s / topo_s:>12.1%}")
    print(f"windows closed: {windows}")


if __name__ == "__main__":
    main()
