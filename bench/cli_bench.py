"""The processor the way users run it: `twitch-pulse replay` of a recording, then a fresh
`twitch-pulse processor` process, against the bare limits measured in the same run.

For each shape (channels per poll x polls, at least 1M samples; `0x400` is 400 polls of no
channel, only empty chunks: the processor's cost per chunk without samples):

1. a synthetic recording (Helix objects as `record` writes them) is replayed into
   twitch.streams with `twitch-pulse replay`, before the processor starts (a warm broker);
2. bare chunk decoding: a plain consumer reads the chunk topic and decodes each chunk with the
   processor's own decoder (`pulse.events.decode_streams`); the same pass maps each input
   offset to the samples before it;
3. bare per-event: the same samples one JSON message each (the v1 event), read and decoded
   with orjson: what a per-event consumer cannot beat;
4. `twitch-pulse processor` is started as a process, with the default settings (log level,
   metrics server on a free port, commit interval); the benchmark watches its consumer
   group's committed input offsets and the committed rows of twitch.windows.channels.

It prints, per shape: samples/s from launch (to the last window's rows committed on the
output topic), in steady state (10% -> 90% of the input committed), the start-up time to the
first commit, samples per CPU-second of the processor process, and the two bare rates.

`--instances 1,2` then runs two processes in one consumer group on the same input (its own
group and outputs) and compares their rows with one process's. Besides 10% -> 90% it prints
the rate after the group's last rebalance (every partition committed since), which leaves out
the restore of the partition the second process's join moved. `--twins` adds two single
processes at once, each in its own group on the whole input: nothing moves and nothing is
split, so their summed rate is what the machine allows two processes (the group's ceiling).

    .venv/bin/python -m bench.cli_bench [--shapes 1000x1000,13000x77,100000x10] [--partitions 2]
        [--instances 1,2] [--twins]

Needs a local broker (BENCH_KAFKA=host:port; `make bench` starts one).
"""

from __future__ import annotations

import argparse
import bisect
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import orjson
import psutil
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.backfill_bench import write_recording
from bench.machine import broker_process, cache_latency, cpu_seconds
from bench.processor_bench import BARE_TOPIC, bare
from producers.chunk_keys import DEFAULT_KEYS, read_back
from pulse import topics
from pulse.events import decode_chunk, decode_streams, v1_event
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings, load_settings

SHAPES = "0x400,1000x1000,13000x77,100000x10"
TWITCH_PULSE = str(Path(sys.executable).with_name("twitch-pulse"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reader(settings: Settings, **extra: object) -> Consumer:
    return Consumer(client_config(settings, **{
        "group.id": f"cli-bench-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760,
        **extra}))


def read_all(consumer: Consumer, topic: str, partitions: int) -> dict[int, int]:
    """Assign every partition from the start; returns each partition's end offset."""
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    return ends


@dataclass
class InputMap:
    """Samples before each input offset, per partition (from the bare chunk pass)."""

    offsets: dict[int, list[int]] = field(default_factory=dict)     # partition -> message offsets, ascending
    cumulative: dict[int, list[int]] = field(default_factory=dict)  # partition -> samples up to and incl. it
    total: int = 0

    def add(self, partition: int, offset: int, samples: int) -> None:
        offsets, cumulative = self.offsets.setdefault(partition, []), self.cumulative.setdefault(partition, [])
        offsets.append(offset)
        cumulative.append((cumulative[-1] if cumulative else 0) + samples)
        self.total += samples

    @property
    def messages(self) -> int:
        return sum(len(o) for o in self.offsets.values())

    def before(self, partition: int, committed: int) -> float:
        """Share of the input (samples; messages for an input of empty chunks) below offset
        `committed` of `partition`."""
        offsets = self.offsets.get(partition, [])
        i = bisect.bisect_left(offsets, committed)
        if not self.total:
            return i / self.messages
        return (self.cumulative[partition][i - 1] if i else 0) / self.total


def bare_chunks(settings: Settings) -> tuple[float, InputMap]:
    """(seconds, input map) of reading and decoding every chunk with the processor's decoder."""
    topic = settings.topic(topics.STREAMS)
    consumer = reader(settings)
    ends = read_all(consumer, topic, settings.topics.partitions)
    mapping, done = InputMap(), {p: end == 0 for p, end in ends.items()}
    started: Optional[float] = None
    while not all(done.values()):
        for msg in consumer.consume(2000, 1.0):
            if msg.error():
                continue
            started = started or time.perf_counter()
            chunk, _ = decode_streams(msg.value())
            mapping.add(msg.partition(), msg.offset(), len(chunk.streams))
            if msg.offset() + 1 >= ends[msg.partition()]:
                done[msg.partition()] = True
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed, mapping


def fill_bare(settings: Settings) -> int:
    """The chunk topic's samples one message each (v1 events) into the bare topic (not timed)."""
    topic, bare = settings.topic(topics.STREAMS), settings.topic(BARE_TOPIC)
    consumer = reader(settings)
    ends = read_all(consumer, topic, settings.topics.partitions)
    producer = Producer(client_config(settings, **{"linger.ms": 50, "batch.num.messages": 10_000,
                                                   "compression.type": "lz4",
                                                   "queue.buffering.max.messages": 500_000}))
    done, sent = {p: end == 0 for p, end in ends.items()}, 0
    while not all(done.values()):
        for msg in consumer.consume(2000, 1.0):
            if msg.error():
                continue
            chunk = decode_chunk(msg.value())
            for stream in chunk.streams:
                while True:
                    try:
                        producer.produce(bare, key=stream["user_id"].encode(), value=orjson.dumps(v1_event(stream, chunk)))
                        break
                    except BufferError:
                        producer.poll(0.05)
                sent += 1
            producer.poll(0)
            if msg.offset() + 1 >= ends[msg.partition()]:
                done[msg.partition()] = True
    producer.flush(120)
    consumer.close()
    return sent


class RowCounter(threading.Thread):
    """Keeps the committed rows of twitch.windows.channels (read_committed) as they appear."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.consumer = reader(settings, **{"isolation.level": "read_committed"})
        self.consumer.subscribe([settings.topic(topics.WINDOWS_CHANNELS)])
        self.values: dict[bytes, bytes] = {}
        self.stop = threading.Event()

    @property
    def rows(self) -> int:
        return len(self.values)

    def run(self) -> None:
        while not self.stop.is_set():
            for m in self.consumer.consume(5000, 0.2):
                if not m.error():
                    self.values[m.key()] = m.value()
        self.consumer.close()


@dataclass
class Run:
    rows: dict[bytes, bytes] = field(default_factory=dict)  # twitch.windows.channels, key -> value
    launch_to_first_commit: float = 0.0
    from_launch: float = 0.0       # seconds, launch -> every expected window row committed
    steady: float = 0.0            # seconds, 10% -> 90% of the input committed
    cpu: float = 0.0               # CPU seconds of the processor process, launch -> done
    steady_cpu: float = 0.0        # its CPU seconds from 10% to 90%
    rss_mib: float = 0.0
    broker_cpu: Optional[float] = None  # CPU seconds of the local broker's process, launch -> done
    merges: int = 0                # windows the processes merged (stage 2), from their /metrics
    process_cpu: list[float] = field(default_factory=list)  # CPU seconds of each process, launch -> done
    process_merges: list[int] = field(default_factory=list)  # windows each process merged
    merge_seconds: float = 0.0     # the time those merges took, rows emitted included
    pauses: int = 0                # times the input paused for the internal topics (catching up)
    timeline: dict[str, float] = field(default_factory=dict)  # seconds after launch: first commit, 10%, ...
    shares: dict[str, float] = field(default_factory=dict)    # share of the input committed at p10, p90, input
    settled_share: float = 0.0     # share committed once every partition committed after the group settled
    settled: Optional[float] = None  # seconds from then to 90% (None: 90% came first)

    def settled_rate(self, samples: int) -> Optional[float]:
        """Samples/s from the group's last rebalance (each process past its restore) to 90%."""
        if self.settled is None:
            return None
        return (self.shares["p90"] - self.settled_share) * samples / self.settled


def committed(admin: AdminClient, settings: Settings) -> dict[int, int]:
    """The processor group's committed offset of each input partition (-1: none yet)."""
    topic = settings.topic(topics.STREAMS)
    request = ConsumerGroupTopicPartitions(settings.group("processor"),
                                           [TopicPartition(topic, p) for p in range(settings.topics.partitions)])
    result = admin.list_consumer_group_offsets([request])[settings.group("processor")].result(10)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def committed_share(offsets: dict[int, int], mapping: InputMap) -> Optional[float]:
    """Share of the input below the committed offsets (None: nothing committed)."""
    if all(offset < 0 for offset in offsets.values()):
        return None
    return sum(mapping.before(partition, offset) for partition, offset in offsets.items() if offset >= 0)


def group_members(admin: AdminClient, settings: Settings) -> int:
    """Members of the processor group once it is stable (0 while it rebalances)."""
    group = settings.group("processor")
    try:
        description = admin.describe_consumer_groups([group])[group].result(10)
    except KafkaException:
        return 0
    return len(description.members) if description.state == ConsumerGroupState.STABLE else 0


def merge_time(port: int) -> tuple[int, float, int]:
    """(windows merged, seconds, input pauses) from a processor's `window_assembly_seconds`
    histogram and its `input_pauses_total` (`processors.catch_up`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {sample.name: sample.value for family in text_string_to_metric_families(text)
             if family.name in ("twitch_pulse_processor_window_assembly_seconds", "twitch_pulse_processor_input_pauses")
             for sample in family.samples}
    return (int(found.get("twitch_pulse_processor_window_assembly_seconds_count", 0)),
            found.get("twitch_pulse_processor_window_assembly_seconds_sum", 0.0),
            int(found.get("twitch_pulse_processor_input_pauses_total", 0)))


def run_processor(settings: Settings, mapping: InputMap, expected_rows: int, log: Path,
                  instances: int = 1, timeout: float = 1200, profile: Optional[Path] = None) -> Run:
    """Launch `instances` `twitch-pulse processor` processes and watch them to the last window row."""
    spy = Path(sys.executable).with_name("py-spy")
    if profile and not spy.exists():
        raise SystemExit(f"--profile needs py-spy in {spy.parent} (pip install py-spy)")
    admin = AdminClient(client_config(settings))
    counter = RowCounter(settings)
    counter.start()
    run = Run()
    procs, ports = [], []
    broker = broker_process(settings)
    broker_began = cpu_seconds(broker)
    launched = time.monotonic()
    for i in range(instances):
        env = {**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent",
               "PROCESSOR_INSTANCE_ID": str(i), "METRICS_PORT": str(free_port())}
        ports.append(int(env["METRICS_PORT"]))
        env.pop("LOG_LEVEL", None)
        procs.append(subprocess.Popen([TWITCH_PULSE, "processor"], env=env, stdout=open(log, "ab"),
                                      stderr=subprocess.STDOUT))
    watched = [psutil.Process(p.pid) for p in procs]
    spies = [subprocess.Popen([str(spy), "record", "--pid", str(p.pid),
                               "--rate", "100", "--idle", "--format", os.environ.get("BENCH_PROFILE_FORMAT", "raw"), "--nonblocking",
                               "--output", f"{profile}.{i}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i, p in enumerate(procs)] if profile else []

    def cpu() -> float:
        return sum(cpu_seconds(w) or 0.0 for w in watched)

    marks: dict[str, tuple[float, float]] = {}
    grouped: Optional[dict[int, int]] = None  # committed offsets once every process is in the stable group
    try:
        while True:
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a processor exited; its log: {log}")
            now = time.monotonic()
            if now - launched > timeout:
                raise SystemExit(f"timed out; processor log: {log}")
            offsets = committed(admin, settings)
            done = committed_share(offsets, mapping)
            if done is not None and "first" not in marks:
                marks["first"] = (now, cpu())
            if grouped is None and "first" in marks and group_members(admin, settings) == instances:
                grouped = offsets
            if (grouped is not None and "settled" not in marks and done is not None
                    and all(offsets[p] > grouped[p] for p in offsets)):
                # every partition committed since the last rebalance: each process past its restore
                marks["settled"] = (now, cpu())
                run.settled_share = done
            if counter.rows and "rows" not in marks:
                # the first window's rows: while the input is still being read, or only once it was
                marks["rows"] = (now, cpu())
                run.shares["rows"] = done or 0.0
            for name, share in (("p10", 0.1), ("p90", 0.9), ("input", 1.0)):
                if done is not None and done >= share - 1e-9 and name not in marks:
                    marks[name] = (now, cpu())
                    run.shares[name] = done
            if counter.rows >= expected_rows and done is not None and done >= 1 - 1e-9:
                marks["end"] = (now, cpu())
                run.process_cpu = [cpu_seconds(w) or 0.0 for w in watched]
                broker_ended = cpu_seconds(broker)
                if broker_began is not None and broker_ended is not None:
                    run.broker_cpu = broker_ended - broker_began
                break
            time.sleep(0.05)
        run.rss_mib = sum(w.memory_info().rss for w in watched) / 2**20
        for port in ports:
            merges, seconds, pauses = merge_time(port)
            run.process_merges.append(merges)
            run.merges += merges
            run.merge_seconds += seconds
            run.pauses += pauses
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        for recorder in spies:
            recorder.wait(60)
        counter.stop.set()
        counter.join(10)
    run.rows = counter.values
    run.timeline = {name: at - launched for name, (at, _) in marks.items()}
    run.launch_to_first_commit = marks["first"][0] - launched
    run.from_launch = marks["end"][0] - launched
    run.cpu = marks["end"][1]
    run.steady = marks["p90"][0] - marks["p10"][0]
    run.steady_cpu = marks["p90"][1] - marks["p10"][1]
    if "settled" in marks and marks["settled"][0] < marks["p90"][0]:
        run.settled = marks["p90"][0] - marks["settled"][0]
    return run


def shape_settings(run: str, partitions: int, **extra: Any) -> Settings:
    return load_settings(kafka_bootstrap=os.environ.get("BENCH_KAFKA", "127.0.0.1:9092"),
                         topic_prefix=f"cli{run}.", consumer_group_prefix=f"cli{run}",
                         state_dir=Path(tempfile.gettempdir()) / f"pulse-cli-{run}", topic_partitions=partitions,
                         **extra)


def prepare(settings: Settings, channels: int, polls: int, tmp: Path) -> tuple[int, int, float]:
    """Write and replay the recording; (samples, expected channel-window rows, replay seconds)."""
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 600_000
    recording = tmp / "polls.jsonl.gz"
    samples = write_recording(recording, channels, polls, t0)
    windows = len({(t0 + k * 60_000) // (settings.processor.window_seconds * 1000) for k in range(polls)})
    ensure_topics(settings, [settings.topic(n) for n in (topics.STREAMS, topics.WINDOWS_CHANNELS)]
                  + [settings.topic(BARE_TOPIC)])
    began = time.monotonic()
    replay = subprocess.run([TWITCH_PULSE, "replay", str(recording)], capture_output=True, text=True,
                            env={**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent"})
    if replay.returncode != 0:
        raise SystemExit(f"replay failed: {replay.stderr[-2000:]}")
    return samples, channels * windows, time.monotonic() - began


def shape(channels: int, polls: int, partitions: int, instances: list[int], keys: Optional[int],
          profile: Optional[Path] = None, twins: bool = False) -> None:
    run = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix=f"pulse-cli-{run}-"))
    # auto (None) sends nothing until a poll has channels: polls of no channel get the default
    settings = shape_settings(run, partitions, chunk_keys=keys or (None if channels else DEFAULT_KEYS))
    try:
        measure(settings, run, tmp, channels, polls, partitions, instances, profile, twins)
    finally:
        clean_up(settings, run, tmp, instances)


def clean_up(settings: Settings, run: str, tmp: Path, instances: list[int]) -> None:
    """Delete what the shape left: its topics (a 3M-sample shape leaves about 2 GB on the
    broker), the recording and the processors' state. The processor logs stay."""
    admin = AdminClient(client_config(settings))
    mine = [name for name in admin.list_topics(timeout=30).topics if f"cli{run}" in name]
    for future in admin.delete_topics(mine, operation_timeout=30).values() if mine else ():
        future.result()
    (tmp / "polls.jsonl.gz").unlink(missing_ok=True)
    for own in [f"n{count}" for count in instances] + list(TWINS):
        shutil.rmtree(Path(tempfile.gettempdir()) / f"pulse-cli-{run}{own}", ignore_errors=True)


TWINS = ("t1", "t2")


def run_twins(settings: Settings, run: str, partitions: int, keys: int, mapping: InputMap, rows: int,
              tmp: Path) -> list[Run]:
    """Two single processes at once, each in its own group on the whole input: no partition moves,
    nothing shared but the cores and the broker. Their summed rate is what this machine allows two
    processes, the ceiling of a two-process group."""
    results: dict[str, Run] = {}

    def one(tag: str) -> None:
        own = shape_settings(f"{run}{tag}", partitions, chunk_keys=keys, topic_streams=settings.topic(topics.STREAMS))
        results[tag] = run_processor(own, mapping, rows, tmp / f"processor-{tag}.log")

    threads = [threading.Thread(target=one, args=(tag,)) for tag in TWINS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(results) < len(TWINS):
        raise SystemExit(f"a twin processor failed; logs: {tmp}/processor-t*.log")
    return [results[tag] for tag in TWINS]


def measure(settings: Settings, run: str, tmp: Path, channels: int, polls: int, partitions: int,
            instances: list[int], profile: Optional[Path], twins: bool) -> None:
    samples, rows, replayed = prepare(settings, channels, polls, tmp)
    keys = read_back(settings, settings.topic(topics.STREAMS)).keys
    chunk_s, mapping = bare_chunks(settings)
    chunks = mapping.messages
    if mapping.total != samples:
        raise SystemExit(f"the chunk topic holds {mapping.total:,} samples, the recording {samples:,}")
    bare_s = bare(settings, fill_bare(settings)) if samples else 0.0
    results: list[Run] = []
    for count in instances:
        # each count its own consumer group and outputs, on the same input topic
        own = shape_settings(f"{run}n{count}", partitions, chunk_keys=keys, topic_streams=settings.topic(topics.STREAMS))
        result = run_processor(own, mapping, rows, tmp / f"processor-{count}.log", count,
                               profile=profile and profile.with_name(f"{profile.name}-{channels}-{count}"))
        results.append(result)
        report(channels, polls, partitions, keys, count, samples, chunks, replayed, bare_s, chunk_s, result,
               tmp / f"processor-{count}.log")
    if len(results) > 1:
        same = all(r.rows == results[0].rows for r in results[1:])
        steady = [0.8 * samples / r.steady for r in results]
        print(f"  {' vs '.join(str(c) for c in instances)} processes: steady "
              f"{' vs '.join(f'{x:,.0f}' for x in steady)} samples/s ({steady[-1] / steady[0]:.2f}x); "
              f"the same {len(results[0].rows):,} channel rows: {same}", flush=True)
        settled = [r.settled_rate(samples) for r in results[1:]]
        if all(x is not None for x in settled):
            print(f"  after the last rebalance: {' vs '.join(f'{x:,.0f}' for x in [steady[0], *settled])} samples/s "
                  f"({settled[-1] / steady[0]:.2f}x); input samples per partition: "
                  + ", ".join(f"{c[-1]:,}" for _, c in sorted(mapping.cumulative.items())), flush=True)
    if twins and samples and results:
        pair = run_twins(settings, run, partitions, keys, mapping, rows, tmp)
        rates = [0.8 * samples / r.steady for r in pair]
        alone = 0.8 * samples / results[0].steady
        print(f"  two single processes at once, each its own group on the whole input (what this machine allows "
              f"two processes): steady {' + '.join(f'{x:,.0f}' for x in rates)} = {sum(rates):,.0f} samples/s, "
              f"{sum(rates) / alone:.2f}x the {instances[0]}-process run; same rows as it: "
              f"{all(r.rows == results[0].rows for r in pair)}", flush=True)


def print_cache_latency() -> None:
    """The machine's memory latency by working-set size, alone and with the other core chasing too:
    the processor's state is far larger than any cache, so this sets its pace and what a second
    process costs it (a machine of the same kind has varied twofold here, docs/benchmarks.md)."""
    latency = cache_latency()
    if latency is None:
        print("memory latency: not measured (no C compiler)", flush=True)
        return
    print("memory latency, ns a dependent load, alone / with the other core chasing too: "
          + ", ".join(f"{kib // 1024} MiB {alone:.0f}/{both:.0f}" for kib, (alone, both) in latency.items()), flush=True)


def report(channels: int, polls: int, partitions: int, keys: Optional[int], instances: int, samples: int, chunks: int, replayed: float,
           bare_s: float, chunk_s: float, result: Run, log: Path) -> None:
    steady_samples, steady_chunks = 0.8 * samples, 0.8 * chunks
    per_chunk = (f"{result.steady_cpu / steady_chunks * 1e6:,.0f} us CPU and {result.steady / steady_chunks * 1e6:,.0f} us "
                 f"wall a chunk in steady state, samples included")
    if not samples:
        print(f"\nno samples: {chunks:,} empty chunks ({polls} polls), {partitions} partitions: {per_chunk}; "
              f"start-up to the first commit {result.launch_to_first_commit:.2f} s; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        return
    print(f"\n{channels:,} channels x {polls} polls = {samples:,} samples in {chunks:,} chunks "
          f"({samples / chunks:.1f} a chunk, CHUNK_KEYS={keys}), {partitions} partitions, {instances} processor process(es); "
          f"replay {samples / replayed:,.0f}/s")
    print(f"  {'measure':<58}{'samples/s':>12}{'of bare':>9}")
    bare_rate = samples / bare_s
    rows_out = [
        ("bare per-event: consume + orjson, 1 message a sample", bare_rate, False),
        ("bare chunks: consume + decode_streams", samples / chunk_s, False),
        ("processor from launch (to the last window row committed)", samples / result.from_launch, True),
        ("processor steady state (10% -> 90% of the input committed)", steady_samples / result.steady, True),
        ("processor samples per CPU-second (launch -> done)", samples / result.cpu, False),
        ("processor samples per CPU-second (steady)", steady_samples / result.steady_cpu, False),
    ]
    for name, rate, of_bare in rows_out:
        share = f"{rate / bare_rate:.1%}" if of_bare else ""
        print(f"  {name:<58}{rate:>12,.0f}{share:>9}")
    print(f"  start-up to the first commit: {result.launch_to_first_commit:.2f} s; "
          f"from launch {result.from_launch:.1f} s, {result.cpu:.1f} CPU-s; RSS at the end {result.rss_mib:,.0f} MiB; "
          f"load average {os.getloadavg()[0]:.1f}")
    if result.merges:
        print(f"  the windows' merges (stage 2): {result.merges} windows in {result.merge_seconds:.2f} s, "
              f"{result.merge_seconds / result.merges * 1000:,.0f} ms a window, rows emitted included; the input "
              f"paused {result.pauses} times for partials and game totals waiting behind it")
    if result.broker_cpu is not None:
        used = (result.cpu + result.broker_cpu) / result.from_launch
        print(f"  the broker beside it: {result.broker_cpu:.1f} CPU-s over the same {result.from_launch:.1f} s; "
              f"processor(s) and broker together used {used:.2f} of {psutil.cpu_count()} cores")
    settled = result.settled_rate(samples)
    if instances > 1:
        print("  each process: " + "; ".join(f"{cpu:.1f} CPU-s, {merges} windows merged"
                                            for cpu, merges in zip(result.process_cpu, result.process_merges))
              + " (an uneven split is work only one of them could do)")
    if settled is not None and instances > 1:
        print(f"  after the group's last rebalance (every partition committed since; "
              f"{result.settled_share:.0%} -> 90% of the input): {settled:,.0f} samples/s")
    print(f"  {per_chunk}; seconds after launch: " + ", ".join(f"{name} {at:.1f}" for name, at in result.timeline.items())
          + " (rows: the first window's rows committed; input: every input offset committed; end: every window row too)")
    if "rows" in result.shares:
        print(f"  the first window's rows came with {result.shares['rows']:.0%} of the input committed "
              f"(a window is about {1 / max(1, polls // 10):.0%} of it: windows are emitted as the input is read, not after)")
    print(f"  processor log: {log}", flush=True)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=SHAPES, help="channels x polls, comma-separated")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--instances", default="1",
                        help="processor processes in the consumer group; several counts (1,2) run one after "
                             "the other on the same input, each in its own group, and their rows are compared")
    parser.add_argument("--keys", type=int, help="CHUNK_KEYS of the recording's replay (default: auto, as users "
                        "run it; the count chosen is printed)")
    parser.add_argument("--twins", action="store_true",
                        help="then two single processes at once, each in its own group on the whole input: the "
                             "machine's ceiling for two processes, beside the group's figure")
    parser.add_argument("--profile", type=Path, help="py-spy each processor into PROFILE-<channels>-<processes>.<i>.txt "
                        "(collapsed stacks, idle included; BENCH_PROFILE_FORMAT=speedscope keeps the samples in time "
                        "order; py-spy from PyPI)")
    args = parser.parse_args(argv)
    print_cache_latency()
    for spec in args.shapes.split(","):
        channels, polls = (int(x) for x in spec.split("x"))
        shape(channels, polls, args.partitions, [int(n) for n in args.instances.split(",")], args.keys,
              args.profile, args.twins)


if __name__ == "__main__":
    main()
