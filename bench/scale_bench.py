"""Scale: Twitch's all-time peak on one processor, and two processors against one.

(1) `--channels` live channels (default 250,000; the all-time peak is 234k) polled over at
    least three windows, paced like a live producer: the processor's peak RSS, its events/s,
    and for each window the delay from its last poll being in Kafka to all its rows being on
    the output topics: committed, so visible to a read_committed consumer (the topic's last
    stable offset, polled every 50 ms, has passed every row), and, apart, read by this
    benchmark's own consumer (a Python consumer needs ~2 s more for 250k rows).
(2) the same input on 4 partitions through two processor processes in one consumer group and
    through one process in another group: the rows must be the same, key for key.

    .venv/bin/python -m bench.scale_bench [--channels 250000] [--window 180] [--pace 8]

Each processor is its own process (`twitch-pulse processor`), so its RSS is its own.
Needs a local broker (BENCH_KAFKA=host:port, default 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from bench.processor_bench import population
from producers.chunk_keys import MAX_KEYS
from pulse import topics
from pulse.events import cut_poll, final_chunks, format_ts, normalise
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings, load_settings

OUTPUTS = (topics.WINDOWS_GAMES, topics.WINDOWS_CHANNELS, topics.WINDOWS_TOP_CHANNELS)


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of a process, MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def start_processor(settings: Settings, log: Path, instance: str) -> subprocess.Popen:
    env = {**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent",
           "PROCESSOR_INSTANCE_ID": instance, "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "pulse", "processor"], env=env, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT)


class Outputs(threading.Thread):
    """Reads the window topics (read_committed); records when each window's rows arrived."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(client_config(settings, **{
            "group.id": f"scale-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "isolation.level": "read_committed"}))
        self.consumer.subscribe([settings.topic(t) for t in OUTPUTS])
        self.rows: dict[str, dict[str, bytes]] = {t: {} for t in OUTPUTS}
        self.names = {settings.topic(t): t for t in OUTPUTS}
        self.last_row_at: dict[str, float] = {}  # window_start -> when its newest row was read
        self.ends: dict[str, dict[tuple[str, int], int]] = {}  # window_start -> (topic, partition) -> last offset + 1
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for msg in self.consumer.consume(5000, 0.5):
                if msg.error():
                    continue
                name = self.names[msg.topic()]
                key = msg.key().decode()
                self.rows[name][key] = msg.value()
                window = key.split("|", 1)[0]
                self.last_row_at[window] = time.monotonic()
                ends = self.ends.setdefault(window, {})
                position = (msg.topic(), msg.partition())
                ends[position] = max(ends.get(position, 0), msg.offset() + 1)
        self.consumer.close()


class Visibility(threading.Thread):
    """The output topics' last stable offsets every 50 ms: when a transaction's rows became
    readable for a read_committed consumer, however fast that consumer then reads them."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(client_config(settings, **{
            "group.id": f"scale-lso-{uuid.uuid4().hex[:6]}", "isolation.level": "read_committed"}))
        self.positions = [(settings.topic(t), p) for t in OUTPUTS for p in range(settings.topics.partitions)]
        self.history: list[tuple[float, dict[tuple[str, int], int]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            at = time.monotonic()
            try:
                stable = {(topic, p): self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                          for topic, p in self.positions}
            except KafkaException:  # a new topic's leader not elected yet: the next look counts
                continue
            self.history.append((at, stable))
        self.consumer.close()

    def visible_at(self, ends: dict[tuple[str, int], int]) -> Optional[float]:
        """When every (topic, partition) had reached its end offset, if it did."""
        for at, stable in self.history:
            if all(stable.get(position, -1) >= end for position, end in ends.items()):
                return at
        return None


def send_polls(settings: Settings, channels: int, polls: int, pace: float, t0: int, interval_ms: int,
               on_poll=None) -> dict[int, float]:
    """Poll by poll, paced; returns when each poll was fully in Kafka (monotonic time)."""
    rng = random.Random(11)
    base = population(channels, seed=11)
    producer = Producer(client_config(settings, **{"linger.ms": 20, "compression.type": "lz4",
                                                   "enable.idempotence": True}))
    topic = settings.topic(topics.STREAMS)
    sent_at: dict[int, float] = {}
    for k in range(polls):
        began = time.monotonic()
        t = t0 + k * interval_ms
        objects = []
        for s in base:
            s["viewer_count"] = max(0, s["viewer_count"] + rng.randint(-3, 3))
            objects.append(normalise(s))
        for chunk, value in cut_poll(objects, t, f"scale@{k}", "scale", 1, settings.producer.chunk_keys,
                                     settings.producer.chunk_streams):
            while True:
                try:
                    producer.produce(topic, key=chunk.message_key, value=value, timestamp=t)
                    break
                except BufferError:
                    producer.poll(0.05)
        assert producer.flush(120) == 0
        sent_at[t] = time.monotonic()
        if on_poll:
            on_poll(k)
        time.sleep(max(0.0, pace - (time.monotonic() - began)))
    last = t0 + (polls - 1) * interval_ms
    for chunk, value in final_chunks(last, "scale-final", "scale", 1, settings.producer.chunk_keys):
        producer.produce(topic, key=chunk.message_key, value=value, timestamp=last)
    producer.flush(60)
    return sent_at


def settings_for(run: str, partitions: int, window_s: int, group: str = "", **extra) -> Settings:
    return load_settings(kafka_bootstrap=os.environ.get("BENCH_KAFKA", "127.0.0.1:9092"),
                         topic_prefix=f"scale{run}{group}.", consumer_group_prefix=f"scale{run}{group}",
                         state_dir=Path(tempfile.gettempdir()) / f"pulse-scale-{run}{group}", metrics_port=0,
                         topic_partitions=partitions, window_seconds=window_s, poll_interval_seconds=60,
                         log_level="WARNING", **{"chunk_keys": MAX_KEYS, **extra})  # what auto chooses at 250k


def wait_for(outputs: Outputs, windows: list[int], procs: list[subprocess.Popen], timeout: float,
             expect_channels: int) -> None:
    deadline = time.monotonic() + timeout
    need = {format_ts(w) for w in windows}
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise SystemExit(f"processor exited with {p.returncode}")
        have = {}
        for key in list(outputs.rows[topics.WINDOWS_CHANNELS]):
            start = key.split("|", 1)[0]
            have[start] = have.get(start, 0) + 1
        if all(have.get(w, 0) >= expect_channels for w in need):
            time.sleep(2)
            return
        time.sleep(0.5)
    raise SystemExit("timed out waiting for the windows' rows")


def scale(channels: int, window_s: int, pace: float) -> None:
    run = uuid.uuid4().hex[:8]
    settings = settings_for(run, 2, window_s)
    ensure_topics(settings, [settings.topic(n) for n in topics.ALL])
    interval_ms, window_ms = 60_000, window_s * 1000
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % window_ms
    polls = 3 * window_s // 60 + 1  # three whole windows and the first poll of a fourth
    outputs = Outputs(settings)
    outputs.start()
    visibility = Visibility(settings)
    visibility.start()
    log = Path(tempfile.gettempdir()) / f"pulse-scale-{run}.log"
    proc = start_processor(settings, log, "0")
    samples: list[tuple[float, float]] = []

    def sample(_k: int) -> None:
        samples.append(rss_mib(proc.pid))

    print(f"(1) {channels:,} channels, {polls} polls of 60 s every {pace:g} s real, window {window_s} s ...",
          flush=True)
    began = time.monotonic()
    try:
        sent_at = send_polls(settings, channels, polls, pace, t0, interval_ms, on_poll=sample)
        windows = [t0 + i * window_ms for i in range(3)]
        wait_for(outputs, windows, [proc], 600, channels)
        elapsed = time.monotonic() - began
        samples.append(rss_mib(proc.pid))
    finally:  # a failed run must not leave the processor running after the benchmark
        proc.terminate()
        proc.wait(60)
    outputs.stop.set()
    visibility.stop.set()
    visibility.join(10)
    print("seconds from a window's last poll in Kafka to all its rows")
    print(f"{'window':<28}{'committed (visible)':>22}{'read by a consumer':>22}")
    for w in windows:
        sent = sent_at[w + window_ms - interval_ms]
        visible = visibility.visible_at(outputs.ends[format_ts(w)])
        shown = f"{visible - sent:.2f}" if visible is not None else "not seen"
        print(f"{format_ts(w):<28}{shown:>22}{outputs.last_row_at[format_ts(w)] - sent:>22.2f}")
    print(f"processor RSS: peak {max(p for _, p in samples):,.0f} MiB, at the end {samples[-1][0]:,.0f} MiB; "
          f"{channels * polls / elapsed:,.0f} events/s over the run (paced)")


def replicas(channels: int, window_s: int) -> None:
    """One input topic; two processor groups, each with its own output topics."""
    run = uuid.uuid4().hex[:8]
    source = settings_for(run, 4, window_s)
    ensure_topics(source, [source.topic(topics.STREAMS)], partitions=4)
    one, two = (settings_for(run, 4, window_s, group, topic_streams=source.topic(topics.STREAMS))
                for group in ("one", "two"))
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % (window_s * 1000)
    polls = 2 * window_s // 60
    print(f"\n(2) {channels:,} channels, {polls} polls on 4 partitions: two processes vs one ...", flush=True)
    send_polls(source, channels, polls, 0, t0, 60_000)
    results = []
    for settings, count in ((one, 1), (two, 2)):
        outputs = Outputs(settings)
        outputs.start()
        procs = [start_processor(settings, Path(tempfile.gettempdir()) / f"pulse-scale-{run}-{count}-{i}.log",
                                 str(i)) for i in range(count)]
        try:
            wait_for(outputs, [t0 + i * window_s * 1000 for i in range(2)], procs, 600, channels)
        finally:  # one that failed must not leave the other running after the benchmark
            for p in procs:
                p.terminate()
                p.wait(60)
        outputs.stop.set()
        outputs.join(10)
        results.append(outputs.rows)
    same = all(results[0][t].keys() == results[1][t].keys() and
               all(orjson.loads(v) == orjson.loads(results[1][t][k]) for k, v in results[0][t].items())
               for t in OUTPUTS)
    counts = {t: len(results[0][t]) for t in OUTPUTS}
    print(f"rows {counts}; two processes give the same rows as one: {same}")


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=250_000)
    parser.add_argument("--window", type=int, default=180, help="window seconds (3 windows are polled)")
    parser.add_argument("--pace", type=float, default=8.0, help="real seconds between polls")
    parser.add_argument("--replica-channels", type=int, default=50_000)
    args = parser.parse_args(argv)
    scale(args.channels, args.window, args.pace)
    replicas(args.replica_channels, args.window)


if __name__ == "__main__":
    main()
