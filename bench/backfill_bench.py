"""Backfill: a recording replayed through the whole path into the warehouse, raw rows included.

    replay FILE ──► twitch.streams ──┬─► processor ──► twitch.windows.* ──► sink windows ──► window tables
                                     └─► sink raw ──────────────────────────────────────────► STREAM_LOGS

A synthetic recording (`--channels` streams x `--polls` polls, Helix objects as `record`
writes them) is replayed as fast as possible while the processor and both sinks run, each as
its own process. The clock starts once the workers are in their consumer groups (their
start-up, a few seconds once per backfill, is printed apart) and stops for each table when
its last row is in the warehouse. Prints samples/s end to end for the windows and for the raw
rows: the figures that say how long a day of full-Twitch recordings takes (about 170M
samples, 144 windows). The default is three windows, so the stages overlap as they do over a
day; `--polls 10` is one window, where the last window's merge and load are a third of the
time. Then the warehouse's own ceiling: rows/s of the raw sink's load (PUT + COPY) of one
batch of the same size, without Kafka or the other workers (`--no-raw` leaves the raw sink out).

    .venv/bin/python -m bench.backfill_bench [--channels 100000] [--polls 30]

Needs a local broker and warehouse (BENCH_KAFKA, BENCH_WAREHOUSE_PORT; `make bench` starts both).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Optional

import orjson
import psutil
from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from bench.machine import broker_process, cpu_seconds, listening_process, peak_rss_mib
from bench.processor_bench import population
from pulse import topics
from pulse.events import format_ts
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings, load_settings
from sinks.snowflake import connect


def write_recording(path: Path, channels: int, polls: int, t0: int) -> int:
    base = population(channels, seed=5)
    with gzip.open(path, "wb", compresslevel=1) as out:
        for k in range(polls):
            for i, s in enumerate(base):
                s["viewer_count"] = max(0, s["viewer_count"] + (i + k) % 5 - 2)
            out.write(orjson.dumps({"captured_at": format_ts(t0 + k * 60_000), "data": base}) + b"\n")
    return channels * polls


def worker(args: list[str], settings: Settings, log: Path, **env: str) -> subprocess.Popen:
    full = {**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent", "LOG_LEVEL": "WARNING", **env}
    return subprocess.Popen([sys.executable, "-m", "pulse", *args], env=full, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT)


def wait_in_groups(settings: Settings, workers: list[str], procs: list[subprocess.Popen], timeout: float = 120
                   ) -> None:
    """Until each worker's consumer group is stable with a member (its start-up is over)."""
    admin = AdminClient(client_config(settings))
    deadline = time.monotonic() + timeout
    pending = [settings.group(w) for w in workers]
    while pending:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"workers not in their consumer groups: {pending}")
        for group, future in admin.describe_consumer_groups(pending).items():
            try:
                description = future.result(timeout=10)
            except KafkaException:
                continue
            if description.state == ConsumerGroupState.STABLE and description.members:
                pending.remove(group)
        time.sleep(0.2)


class RowCounts:
    """COUNT(*) of the benchmark's tables over one connection, opened on first use: a fresh
    connection for each look cost the local warehouse 27 ms of CPU and this process 28 ms,
    four times a second with both sinks (about a fifth of a core taken from the run it
    measures); a look on an open connection costs 10 and 3 ms."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: Any = None

    def __call__(self, table: str) -> int:
        try:
            if self.conn is None:
                self.conn = connect(self.settings)
            cur = self.conn.cursor()
            cur.execute(f"SELECT COUNT(*) FROM {table}")  # table: one of this benchmark's own names
            return int(cur.fetchone()[0])
        except Exception:  # not created yet (the sinks make the schema), or a dropped connection
            self.close()
            return 0

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


def warehouse_rates(settings: Settings, rows: int) -> tuple[float, float]:
    """Rows/s of the sinks' own loads of one batch of `rows`, straight from memory: the raw
    sink's PUT + COPY into STREAM_LOGS and the windows sink's MERGE into CHANNEL_WINDOWS (the
    warehouse's own pace, without Kafka or the other workers)."""
    from bench.sink_bench import _raw_batch, _window_batch
    from sinks.snowflake import SNOWFLAKE
    from sinks.writers import MergeSink, RawSink

    rates = []
    for sink, batch in ((RawSink(settings, SNOWFLAKE, "copy", sink_name="backfill-ceiling"),
                         _raw_batch(settings.topic(topics.STREAMS), rows, 10**9)),
                        (MergeSink(settings, SNOWFLAKE, [topics.WINDOWS_CHANNELS], "copy"),
                         _window_batch(settings.topic(topics.WINDOWS_CHANNELS), rows, 10**9))):
        try:
            started = time.perf_counter()
            sink.write(batch)
            rates.append(rows / (time.perf_counter() - started))
        finally:
            sink.close()
    return rates[0], rates[1]


def children_cpu() -> float:
    """CPU seconds of the children this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_budget(samples: int, elapsed: float, spent: dict[str, float], warehouse: str) -> None:
    """Each process's CPU seconds over the run, and the rate the machine's cores allow at that cost."""
    cores, total = psutil.cpu_count() or 1, sum(spent.values())
    print("CPU seconds over the run: " + ", ".join(f"{name} {cpu:.1f}" for name, cpu in spent.items())
          + f"; {total:.1f} in all, {total / elapsed:.2f} of {cores} cores over {elapsed:.1f} s")
    print(f"at that cost {cores} cores allow at most {samples / (total / cores):,.0f} samples/s; without the "
          f"{warehouse}'s own CPU (a real warehouse loads on its own compute) "
          f"{samples / ((total - spent.get(warehouse, 0.0)) / cores):,.0f}")


def window_rows(rows_in: RowCounts) -> int:
    """Rows the windows sink wrote, every window table."""
    return sum(rows_in(table) for table in
               ("GAME_WINDOWS", "CHANNEL_WINDOWS", "GAME_TOP_CHANNELS", "STREAM_WINDOWS", "LANGUAGE_WINDOWS"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--no-raw", action="store_true", help="leave the raw sink out")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="pulse-backfill-"))
    settings = load_settings(kafka_bootstrap=os.environ.get("BENCH_KAFKA", "127.0.0.1:9092"),
                             snowflake_port=int(os.environ.get("BENCH_WAREHOUSE_PORT", "8765")),
                             topic_prefix=f"fill{run}.", consumer_group_prefix=f"fill{run}",
                             snowflake_schema=f"FILL_{run.upper()}", state_dir=tmp / "state", metrics_port=0)
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 600_000
    recording = tmp / "polls.jsonl.gz"
    samples = write_recording(recording, args.channels, args.polls, t0)
    windows = len({(t0 + k * 60_000) // 600_000 for k in range(args.polls)})
    expected = args.channels * windows
    ensure_topics(settings, [settings.topic(n) for n in topics.ALL])
    print(f"recording: {samples:,} samples ({args.channels:,} channels x {args.polls} polls, "
          f"{recording.stat().st_size / 1e6:.0f} MB gzipped); expecting {expected:,} channel-window rows", flush=True)
    workers = {"processor": ["processor"], "sink-windows": ["sink", "windows"]}
    if not args.no_raw:
        workers["sink-raw"] = ["sink", "raw"]
    procs = [worker(argv, settings, tmp / f"{name}.log", PROCESSOR_INSTANCE_ID="0") for name, argv in workers.items()]
    servers = {"broker": broker_process(settings),
               "fakesnow": listening_process(settings.snowflake.port)}
    watched = {name: psutil.Process(p.pid) for name, p in zip(workers, procs)}
    done: dict[str, float] = {}
    spent: dict[str, float] = {}
    peaks: dict[str, Optional[float]] = {}
    rows_in = RowCounts(settings)
    try:
        started = time.monotonic()
        wait_in_groups(settings, list(workers), procs)
        began = time.monotonic()
        startup = began - started
        before = {name: cpu_seconds(p) for name, p in {**watched, **servers}.items()}
        replay_cpu = children_cpu()
        replay = subprocess.run([sys.executable, "-m", "pulse", "replay", str(recording)],
                                env={**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent"},
                                capture_output=True, text=True)
        if replay.returncode != 0:
            raise SystemExit(f"replay failed: {replay.stderr[-2000:]}")
        replayed = time.monotonic() - began
        spent["replay"] = children_cpu() - replay_cpu
        goals = {"CHANNEL_WINDOWS": expected, **({} if args.no_raw else {"STREAM_LOGS": samples})}
        while len(done) < len(goals):
            for p in procs:
                if p.poll() is not None:
                    raise SystemExit(f"a worker exited; see {tmp}")
            if time.monotonic() - began > 1800:
                raise SystemExit("timed out")
            for table, goal in goals.items():
                if table not in done and rows_in(table) >= goal:
                    done[table] = time.monotonic() - began
            time.sleep(0.5)
        for name, process in {**watched, **servers}.items():
            now, then = cpu_seconds(process), before.get(name)
            if now is not None and then is not None:
                spent[name] = now - then
        peaks = {name: peak_rss_mib(p.pid) for name, p in zip(workers, procs)}
    finally:
        for p in procs:
            p.terminate()
            p.wait(60)
    elapsed = done["CHANNEL_WINDOWS"]
    print(f"\n{'measure':<58}{'seconds':>10}{'samples/s':>12}")
    print(f"{'replay into Kafka (chunks)':<58}{replayed:>10.1f}{samples / replayed:>12,.0f}")
    print(f"{'replay -> processor -> window rows in the warehouse':<58}{elapsed:>10.1f}{samples / elapsed:>12,.0f}")
    if "STREAM_LOGS" in done:
        raw = done["STREAM_LOGS"]
        print(f"{'replay -> sink raw -> STREAM_LOGS (every sample a row)':<58}{raw:>10.1f}{samples / raw:>12,.0f}")
    size, written = settings.sink.batch_rows, window_rows(rows_in)
    rows_in.close()
    copy_rate, merge_rate = warehouse_rates(settings, size)
    print(f"the warehouse alone, {size:,} rows a batch: PUT + COPY into STREAM_LOGS {copy_rate:,.0f} rows/s, "
          f"MERGE into CHANNEL_WINDOWS {merge_rate:,.0f} rows/s")
    print(f"the window tables got {written:,} rows ({written / samples:.2f} a sample): at that MERGE rate alone "
          f"{samples / (written / merge_rate):,.0f} samples/s"
          + ("" if args.no_raw else f"; STREAM_LOGS at that COPY rate alone {copy_rate:,.0f} samples/s"))
    cpu_budget(samples, max(done.values()), spent, "fakesnow")
    print(f"workers' peak RSS (SINK_BATCH_ROWS={size:,}): "
          + ", ".join(f"{name} {peak:,.0f} MiB" for name, peak in peaks.items() if peak is not None))
    print(f"(before that, the workers' start-up: {startup:.1f} s; load average {os.getloadavg()[0]:.1f})")
    print(f"one day of full-Twitch recordings (170M samples) at the windows' rate: "
          f"{170e6 / (samples / elapsed) / 3600:.1f} h")


if __name__ == "__main__":
    main()
