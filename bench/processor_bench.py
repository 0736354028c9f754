"""Processor throughput against the bare limit, measured side by side on the same samples.

(a) bare: confluent-kafka consume + orjson decode of the same samples, one message per stream
    (what a per-event consumer cannot beat);
(b) topology: the full processor (three stages, every output, exactly-once) in this process,
    from its first chunk to the last window merged, fed schema v2 snapshot chunks;
then the ratio (b)/(a) and events per CPU-second of (b).

    .venv/bin/python -m bench.processor_bench [--streams 100000] [--polls 10] [--partitions 2] [--keys 256]

Needs a local broker (`twitch-pulse stack start`, or BENCH_KAFKA=host:port).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import threading
import time
import uuid

import orjson
from confluent_kafka import Consumer, Producer

from processors import app as processor_app
from processors import metrics
from pulse import topics
from pulse.events import cut_poll, final_chunks, format_ts, normalise
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings, load_settings

I_MS = 60_000
BARE_TOPIC = "bench.bare"


def population(streams: int, seed: int = 7) -> list[dict]:
    """Heavy-tailed viewers over 1,000 games, as Helix returns them."""
    rng = random.Random(seed)
    t0 = 1_700_000_000_000
    base = []
    for i in range(streams):
        game = str(int(rng.paretovariate(1.2)) % 1000)
        base.append({"id": f"{900000 + i}", "user_id": f"{i + 1}", "user_login": f"user{i + 1}",
                     "user_name": f"User{i + 1}", "game_id": game, "game_name": f"Game {game}", "type": "live",
                     "title": "bench", "viewer_count": int(rng.paretovariate(1.1)) - 1,
                     "started_at": format_ts(t0 - 3_600_000), "language": "en", "tags": ["English"],
                     "is_mature": False})
    return base


def populate(settings: Settings, streams: int, polls: int, partitions: int, keys: int, seed: int = 7) -> int:
    """`polls` polls of `streams` live streams: as chunks into twitch.streams, and the same
    samples one message per stream into the bare topic."""
    rng = random.Random(seed)
    topic, bare_topic = settings.topic(topics.STREAMS), settings.topic(BARE_TOPIC)
    ensure_topics(settings, [settings.topic(n) for n in topics.ALL] + [bare_topic], partitions=partitions)
    producer = Producer(client_config(settings, **{"linger.ms": 50, "batch.num.messages": 10000,
                                                   "compression.type": "lz4",
                                                   "queue.buffering.max.messages": 500000}))
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 600_000
    base = population(streams, seed)
    sent = 0
    for k in range(polls):
        t = t0 + k * I_MS
        objects = []
        for s in base:
            s["viewer_count"] = max(0, s["viewer_count"] + rng.randint(-2, 2))
            objects.append(normalise(s))
        for chunk, value in cut_poll(objects, t, f"bench@{k}", "bench", 1, keys, settings.producer.chunk_streams):
            producer.produce(topic, key=chunk.message_key, value=value, timestamp=t)
            producer.poll(0)
        for stream in objects:
            event = {**stream, "captured_at": format_ts(t), "poll_id": f"bench@{k}", "schema": 2}
            while True:
                try:
                    producer.produce(bare_topic, key=stream["user_id"].encode(), value=orjson.dumps(event),
                                     timestamp=t)
                    break
                except BufferError:
                    producer.poll(0.05)
            sent += 1
        producer.flush(120)
    for chunk, value in final_chunks(t0 + (polls - 1) * I_MS, "bench-final", "bench", 1, keys):
        producer.produce(topic, key=chunk.message_key, value=value, timestamp=t0)
    producer.flush(120)
    return sent


def bare(settings: Settings, expect: int) -> float:
    consumer = Consumer(client_config(settings, **{
        "group.id": f"bare-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760}))
    consumer.subscribe([settings.topic(BARE_TOPIC)])
    seen, started = 0, None
    while seen < expect:
        batch = consumer.consume(10000, 1.0)
        if batch and started is None:
            started = time.perf_counter()
        for msg in batch:
            if not msg.error():
                orjson.loads(msg.value())
                seen += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def topology(settings: Settings, expect: int, windows: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, windows merged) of the full processor over the chunks."""
    app = processor_app.build(settings)
    start: list[tuple[float, float]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if not start and metrics.CHUNKS._value.get() > 0:
                start.append((time.perf_counter(), cpu_seconds()))
            if metrics.EVENTS._value.get() >= expect and metrics.WINDOWS_CLOSED._value.get() >= windows:
                done.set()
                app.stop()
                return
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    app.run()
    wall, cpu = time.perf_counter() - start[0][0], cpu_seconds() - start[0][1]
    return wall, cpu, int(metrics.WINDOWS_CLOSED._value.get())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--keys", type=int, default=256)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = load_settings(
        kafka_bootstrap=os.environ.get("BENCH_KAFKA", "127.0.0.1:9092"), topic_prefix=f"bench{run}.",
        consumer_group_prefix=f"bench{run}", state_dir=f"/tmp/pulse-bench-{run}", metrics_port=0,
        log_level="WARNING", topic_partitions=args.partitions, chunk_keys=args.keys)
    print(f"populating {args.polls} polls x {args.streams:,} streams ({args.keys} chunk keys, "
          f"{args.partitions} partitions) ...", flush=True)
    t = time.perf_counter()
    n = populate(settings, args.streams, args.polls, args.partitions, args.keys)
    print(f"  produced {n:,} samples twice (chunks, one per message) in {time.perf_counter() - t:.1f}s", flush=True)
    windows = len({(1_700_000_000_000 - 1_700_000_000_000 % 600_000 + k * I_MS) // 600_000 for k in range(args.polls)})
    bare_s = bare(settings, n)
    topo_s, topo_cpu, merged = topology(settings, n, windows)
    print()
    print(f"{'measure':<46}{'seconds':>10}{'events/s':>12}")
    print(f"{'(a) bare consume + decode, 1 message/stream':<46}{bare_s:>10.2f}{n / bare_s:>12,.0f}")
    print(f"{'(b) full processor, one process (EOS)':<46}{topo_s:>10.2f}{n / topo_s:>12,.0f}")
    print(f"{'ratio (b)/(a)':<46}{'':>10}{bare_s / topo_s:>12.1%}")
    print(f"{'(b) events per CPU-second':<46}{topo_cpu:>10.2f}{n / topo_cpu:>12,.0f}")
    print(f"windows merged: {merged}")


if __name__ == "__main__":
    main()
