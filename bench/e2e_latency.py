"""End-to-end delay: from the poll that completes a window (its last chunks) to
that window's rows in the warehouse, with every worker its own process.

    .venv/bin/python -m bench.e2e_latency [--seconds 90] [--channels 3000] [--speed 60]

Runs the local pipeline (as `twitch-pulse run` does) on its own ports, topic prefix and
warehouse schema; needs nothing running beforehand.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from devstack.kafka import KafkaBroker
from devstack.pipeline import WORKERS_WITH_METRICS, LocalPipeline
from devstack.service import free_port
from devstack.warehouse import WarehouseServer
from pulse.events import parse_ts
from pulse.settings import load_settings
from sinks.snowflake import connect

POLL_LINE = re.compile(r"^(\S+ \S+) INFO producers.poller: poll (\S+) ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--channels", type=int, default=3000)
    parser.add_argument("--speed", type=float, default=60)
    parser.add_argument("--run-dir", type=Path, default=Path(".cache/bench-stack"))
    args = parser.parse_args()
    broker, warehouse = KafkaBroker(args.run_dir, port=29392), WarehouseServer(args.run_dir, port=28965)
    broker.start()
    warehouse.start()
    run = uuid.uuid4().hex[:8]
    settings = load_settings(kafka_bootstrap=broker.bootstrap, snowflake_port=warehouse.port, clock_speed=args.speed,
                             topic_prefix=f"lat{run}.", consumer_group_prefix=f"lat{run}",
                             snowflake_schema=f"LAT_{run.upper()}", state_dir=args.run_dir / f"state-{run}")
    run_dir = args.run_dir / f"run-{run}"
    # ports chosen free and outside the kernel's ephemeral range: fixed ones inside it (48780, 48801-48806)
    # were taken by a client socket's local port in a `make bench` run, and a sink exited at start
    pipeline = LocalPipeline(settings, run_dir, simulator_port=free_port(), channels=args.channels,
                             first_metrics_port=free_port(len(WORKERS_WITH_METRICS)))
    pipeline.start()
    print(f"running the pipeline for {args.seconds:.0f} s ({args.channels} channels, clock x{args.speed:g}) ...",
          flush=True)
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            pipeline.check()
            time.sleep(1)
        # real time at which each poll was delivered (the poll line is logged once every chunk is)
        polled: dict[int, float] = {}
        for line in (pipeline.log_dir / "producer.log").read_text().splitlines():
            m = POLL_LINE.match(line)
            if m:
                real = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=timezone.utc)
                polled[parse_ts(m.group(2))] = real.timestamp()
        conn = connect(settings)
        cur = conn.cursor()
        cur.execute("SELECT WINDOW_START, MAX(INGESTED_AT), COUNT(*) FROM GAME_WINDOWS GROUP BY 1 ORDER BY 1")
        rows = cur.fetchall()
        conn.close()
    finally:
        pipeline.stop()
    window_ms = settings.processor.window_seconds * 1000
    interval_ms = settings.producer.poll_interval_seconds * 1000
    delays = []
    print(f"\n{'window (simulated)':<22}{'rows':>6}{'closing poll -> rows in warehouse (s)':>40}")
    for start, ingested, count in rows:
        start_ms = int(start.replace(tzinfo=timezone.utc).timestamp() * 1000)
        closing = polled.get(start_ms + window_ms - interval_ms)
        if closing is None:
            continue  # the first, partial window began before the producer's first poll
        delay = ingested.replace(tzinfo=timezone.utc).timestamp() - closing
        delays.append(delay)
        print(f"{start:%H:%M:%S}{'':<14}{count:>6}{delay:>40.2f}")
    if delays:
        print(f"\nwindows: {len(delays)}, median delay {statistics.median(delays):.2f} s, max {max(delays):.2f} s")


if __name__ == "__main__":
    main()
