"""Does a consumer with a backlog on one topic still read a sparse topic as it is written?

The processor reads its input (twitch.streams) and its own internal topics (the windows'
partials, the per-poll game totals) with one consumer. While the input has a backlog (a
replay, a catch-up after an outage) librdkafka keeps fetching the backlogged partitions and
not the others (confluentinc/librdkafka#1854), so the merge would read the partials, and emit
the window rows, only once the backlog is gone; the processor pauses its input while they
wait (`processors.catch_up`). This shows the client alone, with plain confluent-kafka: a
backlog of `--backlog` 60 KB messages on topic A, read at about 4 ms a message (a chunk's
processing) by a consumer with the processor's own settings (`pulse.kafka.processor_clients`),
and one transactional message a second on topic B, each timed from its commit to its read.

    .venv/bin/python -m bench.fetch_fairness [--backlog 6000]

Needs a local broker (BENCH_KAFKA=host:port, default 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from statistics import median
from typing import Optional

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from pulse.kafka import processor_clients
from pulse.settings import load_settings

MESSAGE = b"x" * 60_000
SPARSE = 10  # messages on topic B, one a second


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=6000, help="messages waiting on topic A")
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("BENCH_KAFKA", "127.0.0.1:9092")
    run = uuid.uuid4().hex[:8]
    backlog_topic, sparse_topic = f"fairness{run}.backlog", f"fairness{run}.sparse"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: the futures need the client alive
    futures = admin.create_topics([NewTopic(backlog_topic, 2, 1), NewTopic(sparse_topic, 2, 1)])
    for future in futures.values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "compression.type": "lz4"})
    for i in range(args.backlog):
        producer.produce(backlog_topic, MESSAGE, str(i % 64).encode())
        producer.poll(0)
    producer.flush(60)
    processor_consumer, _ = processor_clients(load_settings(kafka_bootstrap=bootstrap), lambda _stats: None)
    consumer = Consumer({**processor_consumer, "bootstrap.servers": bootstrap, "group.id": f"fairness{run}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    consumer.subscribe([backlog_topic, sparse_topic])
    transactional = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"fairness{run}"})
    transactional.init_transactions(30)
    committed_at: dict[int, float] = {}

    def write_sparse() -> None:
        for k in range(SPARSE):
            time.sleep(1)
            transactional.begin_transaction()
            transactional.produce(sparse_topic, str(k).encode(), str(k).encode())
            transactional.commit_transaction(30)
            committed_at[k] = time.monotonic()

    threading.Thread(target=write_sparse, daemon=True).start()
    began, backlog_read, delays, backlog_done = time.monotonic(), 0, [], None
    while len(delays) < SPARSE and time.monotonic() - began < 300:
        message = consumer.poll(0.1)
        if message is None or message.error():
            continue
        if message.topic() == backlog_topic:
            backlog_read += 1
            time.sleep(0.004)
            if backlog_read == args.backlog:
                backlog_done = time.monotonic() - began
        else:
            delays.append(time.monotonic() - committed_at[int(message.value())])
    consumer.close()
    if not delays:
        raise SystemExit("the sparse topic's messages were not read within 300 s")
    print(f"backlog of {args.backlog:,} messages read in "
          + (f"{backlog_done:.1f} s" if backlog_done is not None else "(not finished)")
          + f"; the sparse topic's {len(delays)} messages, one a second, read {min(delays):.1f}-{max(delays):.1f} s "
          f"(median {median(delays):.1f} s) after their commits")


if __name__ == "__main__":
    main()
