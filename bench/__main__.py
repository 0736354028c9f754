"""`make bench`: every benchmark, one after the other, each printing its own table.

Starts a local broker and warehouses of its own (ports 29392/28965, bqemulator 28990-28991,
under .cache/bench-stack), and stops and deletes them at the end: every topic and table in
them is a benchmark's throwaway input or output, 6 GB after one run, and it added up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from devstack.bigquery import BigQueryServer
from devstack.kafka import KafkaBroker
from devstack.warehouse import WarehouseServer

RUN_DIR = ".cache/bench-stack"


def main() -> int:
    broker, warehouse = KafkaBroker(RUN_DIR, port=29392), WarehouseServer(RUN_DIR, port=28965)
    bigquery = BigQueryServer(RUN_DIR, port=28990, grpc_port=28991)
    broker.start()
    warehouse.start()
    bigquery.start()
    env = {**os.environ, "BENCH_KAFKA": broker.bootstrap, "KAFKA_BOOTSTRAP": broker.bootstrap,
           "BENCH_WAREHOUSE_PORT": str(warehouse.port)}
    runs = [
        ("producer: 120k-stream sweep, replay", [sys.executable, "-m", "bench.producer_bench"]),
        ("processor as users run it: replay, then `twitch-pulse processor`; 1k, 13k, 100k channels a poll",
         [sys.executable, "-m", "bench.cli_bench"]),
        ("both cores: two processor processes in one group vs one, then two single processes at once (the "
         "machine's ceiling for two), 100k channels a poll, 6M samples",
         [sys.executable, "-m", "bench.cli_bench", "--shapes", "100000x60", "--instances", "1,2", "--twins"]),
        ("processor in-process: bare consume vs full topology, 1M samples", [sys.executable, "-m", "bench.processor_bench"]),
        ("backfill: replay -> processor and both sinks -> window and raw rows in the warehouse",
         [sys.executable, "-m", "bench.backfill_bench"]),
        ("processor at scale: 250k channels over 3 windows; two replicas vs one",
         [sys.executable, "-m", "bench.scale_bench"]),
        ("processor failover: SIGKILL -> next window out", [sys.executable, "-m", "bench.failover_bench"]),
        ("processor soak: RSS over 100 h of event time with channel churn", [sys.executable, "-m", "bench.soak_bench"]),
        ("sinks: rows/s per loading method and batch size",
         [sys.executable, "-m", "bench.sink_bench", "--port", str(warehouse.port)]),
        ("sinks on BigQuery: rows/s into bqemulator (load job + transaction / MERGE)",
         [sys.executable, "-m", "bench.sink_bench", "--warehouse", "bigquery", "--bigquery-port", str(bigquery.port)]),
        ("end to end: closing poll -> window rows in the warehouse", [sys.executable, "-m", "bench.e2e_latency"]),
        ("dashboard: page render times, 7 days x 10k channels",
         [sys.executable, "-m", "bench.dashboard_bench", "--port", str(warehouse.port)]),
        ("dbt models: build times, 1 day x 10k channels",
         [sys.executable, "-m", "bench.models_bench", "--port", str(warehouse.port)]),
    ]
    failed = 0
    try:
        for title, argv in runs:
            print(f"\n=== {title} ===", flush=True)
            failed += subprocess.call(argv, env=env) != 0
    finally:
        for part in (bigquery, warehouse, broker):
            part.stop()
        shutil.rmtree(RUN_DIR, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
