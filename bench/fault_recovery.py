"""Recovery times of a sink worker after real outages (issue 10 §4, §5), with default settings.

    .venv/bin/python -m bench.fault_recovery [--kafka-port 49192] [--warehouse-port 48865]
        [--broker-outage 120] [--warehouse-outage 60]

Starts a broker and a warehouse server of its own (under .cache/bench-faults), runs
`twitch-pulse sink alerts` as a subprocess, and for each fault prints: how long until
`/healthz` said 503 (detection), and from the part being back until every record produced
meanwhile was committed and `/healthz` said 200 again (recovery). Then checks that the
ALERTS table holds every record exactly once.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Callable

from devstack.kafka import KafkaBroker
from devstack.service import free_port
from devstack.warehouse import WarehouseServer
from pulse import topics
from pulse.settings import load_settings
from tests.sink_support import Worker, alert, committed_all, produce, query

RUN_DIR = Path(".cache/bench-faults")


def _health(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError
        time.sleep(interval)
    return time.monotonic() - started



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka-port", type=int, default=49192)
    parser.add_argument("--warehouse-port", type=int, default=48865)
    parser.add_argument("--broker-outage", type=float, default=120)
    parser.add_argument("--warehouse-outage", type=float, default=60)
    parser.add_argument("--records", type=int, default=2000, help="records produced before and during each fault")
    args = parser.parse_args()

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    broker = KafkaBroker(RUN_DIR / "kafka", port=args.kafka_port)
    warehouse = WarehouseServer(RUN_DIR / "wh", port=args.warehouse_port)
    broker.start(timeout=120)
    warehouse.start()
    settings = load_settings(kafka_bootstrap=broker.bootstrap, snowflake_port=warehouse.port,
                             topic_prefix="bench.", consumer_group_prefix="bench", snowflake_schema="BENCH_FAULTS",
                             state_dir=RUN_DIR / "state", metrics_port=0)
    port = free_port()
    done = lambda: committed_all(settings, "sink-alerts", [topics.ALERTS])  # noqa: E731
    sent: list[str] = []

    def send() -> None:
        base = len(sent)
        batch = [(f"u{base + i}", alert(base + i)) for i in range(args.records)]
        produce(settings, topics.ALERTS, batch)
        sent.extend(v["alert_id"] for _, v in batch)

    rows = []
    worker = Worker(settings, ["sink", "alerts"], RUN_DIR / "sink.log", METRICS_PORT=port)
    try:
        send()
        _until(done, 120)
        _until(lambda: _health(port) == 200, 60)

        # the broker stopped for --broker-outage seconds
        stopped = time.monotonic()
        broker.stop()
        detect = _until(lambda: _health(port) == 503, 60)
        time.sleep(max(0.0, args.broker_outage - (time.monotonic() - stopped)))
        assert worker.alive(), worker.log()[-2000:]
        broker.start(timeout=120)
        back = time.monotonic()
        send()
        _until(done, 600)
        caught_up = time.monotonic() - back
        healthy = _until(lambda: _health(port) == 200, 120) + caught_up
        rows.append((f"broker stopped {args.broker_outage:.0f}s", detect, caught_up, healthy))

        # the warehouse stopped for --warehouse-outage seconds, records arriving meanwhile
        stopped = time.monotonic()
        warehouse.stop()
        detect = _until(lambda: _health(port) == 503, 60)
        send()
        time.sleep(max(0.0, args.warehouse_outage - (time.monotonic() - stopped)))
        assert worker.alive(), worker.log()[-2000:]
        warehouse.start()
        back = time.monotonic()
        _until(done, 600)
        caught_up = time.monotonic() - back
        healthy = _until(lambda: _health(port) == 200, 120) + caught_up
        rows.append((f"warehouse stopped {args.warehouse_outage:.0f}s", detect, caught_up, healthy))

        # the warehouse restarted at once (every session gets 401 and logs in again)
        warehouse.stop()
        warehouse.start()
        back = time.monotonic()
        send()
        _until(done, 600)
        caught_up = time.monotonic() - back
        healthy = _until(lambda: _health(port) == 200, 120) + caught_up
        rows.append(("warehouse restarted", float("nan"), caught_up, healthy))
        code = worker.stop()
    finally:
        if worker.alive():
            worker.kill()
    ids = [r[0] for r in query(settings, "SELECT ALERT_ID FROM ALERTS")]
    exact = len(ids) == len(set(ids)) and set(ids) == set(sent)
    print(f"{'fault':<26}{'503 after':>11}{'caught up':>12}{'200 after':>12}")
    for name, detect, caught_up, healthy in rows:
        shown = "-" if detect != detect else f"{detect:.1f}s"
        print(f"{name:<26}{shown:>11}{caught_up:>11.1f}s{healthy:>11.1f}s")
    print(f"records: {len(sent)} produced, {len(ids)} rows, exactly once: {exact}; sink exit code {code}")
    print("(503 after: from the part stopping; caught up / 200 after: from the part being back)")
    broker.stop()
    warehouse.stop()
    return 0 if exact and code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
