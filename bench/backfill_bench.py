"""Backfill: a recording replayed through the whole path to the warehouse's window tables.

    replay FILE ──► twitch.streams ──► processor ──► twitch.windows.* ──► sink windows ──► warehouse

A synthetic recording (`--channels` streams x `--polls` polls, Helix objects as `record`
writes them) is replayed as fast as possible while the processor and the windows sink run,
each as its own process. The clock starts once both workers are in their consumer groups
(their start-up, a few seconds once per backfill, is printed apart) and stops when every
window row is in the warehouse. Prints samples/s end to end: the figure that says how long a
day of full-Twitch recordings takes (about 170M samples, 144 windows). The default is three
windows, so the stages overlap as they do over a day; `--polls 10` is one window, where the
last window's merge and load are a third of the time.

    .venv/bin/python -m bench.backfill_bench [--channels 100000] [--polls 30]

Needs a local broker and warehouse (BENCH_KAFKA, BENCH_WAREHOUSE_PORT; `make bench` starts both).
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

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


def rows_in(settings: Settings) -> int:
    conn = connect(settings)
    try:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM CHANNEL_WINDOWS")
        return int(cur.fetchone()[0])
    except Exception:
        return 0
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=30)
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
    procs = [worker(["processor"], settings, tmp / "processor.log", PROCESSOR_INSTANCE_ID="0"),
             worker(["sink", "windows"], settings, tmp / "sink.log")]
    try:
        started = time.monotonic()
        wait_in_groups(settings, ["processor", "sink-windows"], procs)
        began = time.monotonic()
        startup = began - started
        replay = subprocess.run([sys.executable, "-m", "pulse", "replay", str(recording)],
                                env={**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent"},
                                capture_output=True, text=True)
        if replay.returncode != 0:
            raise SystemExit(f"replay failed: {replay.stderr[-2000:]}")
        replayed = time.monotonic() - began
        while rows_in(settings) < expected:
            for p in procs:
                if p.poll() is not None:
                    raise SystemExit(f"a worker exited; see {tmp}")
            if time.monotonic() - began > 1800:
                raise SystemExit("timed out")
            time.sleep(0.5)
        elapsed = time.monotonic() - began
    finally:
        for p in procs:
            p.terminate()
            p.wait(60)
    print(f"\n{'measure':<52}{'seconds':>10}{'samples/s':>12}")
    print(f"{'replay into Kafka (chunks)':<52}{replayed:>10.1f}{samples / replayed:>12,.0f}")
    print(f"{'replay -> processor -> window rows in the warehouse':<52}{elapsed:>10.1f}{samples / elapsed:>12,.0f}")
    print(f"(before that, the workers' start-up: {startup:.1f} s)")
    print(f"one day of full-Twitch recordings (170M samples) at that rate: {170e6 / (samples / elapsed) / 3600:.1f} h")


if __name__ == "__main__":
    main()
