"""A real Prometheus (Debian's package, installed by deploy/prometheus/install.sh) scraping
real workers on loopback: every target up, the key series present and moving, the alert
rules loaded and evaluating, every dashboard query valid PromQL. Plus promtool on the rules."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.service import free_port
from pulse.settings import Settings
from tests.deploy_support import PROM_DIR, dashboard_queries, gen, wait_until
from tests.pipeline import start_worker, stop_worker

ID_LABELS = {"user_id", "user_login", "user_name", "channel", "game_id", "game_name", "game", "stream_id", "client_id"}


def test_promtool_checks_the_config_and_rules_and_the_rule_unit_tests_pass(prometheus_bin) -> None:
    promtool = prometheus_bin["promtool"]
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"],
                 ["check", "config", "prometheus.yml"]):
        result = subprocess.run([promtool, *args], cwd=PROM_DIR, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"promtool {' '.join(args)}: {result.stdout}{result.stderr}"
        assert "SUCCESS" in result.stdout + result.stderr


@pytest.mark.slow
def test_real_prometheus_scrapes_every_worker(prometheus_bin, wh_settings: Settings, tmp_path: Path) -> None:
    settings = wh_settings
    procs: dict[str, subprocess.Popen] = {}
    ports = {app.name: free_port() for app in gen.SERVICES}
    sim_port, prom_port = free_port(), free_port()

    def alive() -> None:
        for name, proc in procs.items():
            if proc.poll() is not None:
                log = (tmp_path / f"{name}.log").read_text()[-3000:]
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{log}")

    try:
        procs["simulator"] = start_worker(["simulate", "--port", str(sim_port), "--speed", "60", "--channels", "300",
                                           "--games", "30"], settings, tmp_path / "simulator.log")
        wait_until("simulator", lambda: httpx.get(f"http://127.0.0.1:{sim_port}/admin/state", timeout=1).status_code == 200,
              30, alive)
        helix = dict(CLOCK_SPEED="60", TWITCH_CLIENT_ID="demo", TWITCH_CLIENT_SECRET="demo-secret-4242",
                     TWITCH_API_URL=f"http://127.0.0.1:{sim_port}/helix",
                     TWITCH_AUTH_URL=f"http://127.0.0.1:{sim_port}/oauth2")
        for app in gen.SERVICES:
            extra = helix if app.name == "producer" else {}
            procs[app.name] = start_worker(list(app.command), settings, tmp_path / f"{app.name}.log",
                                           METRICS_PORT=str(ports[app.name]), **extra)

        # the committed scrape config, pointed at the loopback workers and scraping every second
        config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(PROM_DIR / "alerts.yml")]
        for job in config["scrape_configs"]:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        procs["prometheus"] = subprocess.Popen(
            [prometheus_bin["prometheus"], f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=open(tmp_path / "prometheus.log", "wb"), stderr=subprocess.STDOUT)
        api = f"http://127.0.0.1:{prom_port}"
        wait_until("prometheus ready", lambda: httpx.get(f"{api}/-/ready", timeout=2).status_code == 200, 60, alive)

        def targets_up() -> bool:
            active = httpx.get(f"{api}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return len(active) == len(gen.SERVICES) and all(t["health"] == "up" for t in active)

        wait_until("every target up", targets_up, 90, alive)
        active = httpx.get(f"{api}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        assert {t["labels"]["job"] for t in active} == {app.name for app in gen.SERVICES}

        def query(expr: str) -> list[dict[str, Any]]:
            body = httpx.get(f"{api}/api/v1/query", params={"query": expr}, timeout=10).json()
            assert body["status"] == "success", (expr, body)
            return body["data"]["result"]

        assert {r["metric"]["job"] for r in query("up == 1")} == {app.name for app in gen.SERVICES}
        # the key series exist and move: polls, events through the processor, rows into the warehouse
        for expr in ('twitch_pulse_producer_polls_total{outcome="complete"} > 0',
                     "twitch_pulse_producer_streams_emitted_total > 0",
                     "twitch_pulse_processor_events_total > 0",
                     'twitch_pulse_sink_rows_written_total{table="STREAM_LOGS"} > 0',
                     "twitch_pulse_processor_windows_closed_total > 0",
                     'twitch_pulse_sink_rows_written_total{table="GAME_WINDOWS"} > 0',
                     "twitch_pulse_sink_batch_duration_seconds_count > 0"):
            wait_until(expr, lambda: query(expr), 120, alive)
        # the sinks report their lag per partition (not yet in the warehouse), labelled by sink
        for sink in ("sink-raw", "sink-windows"):
            expr = f'twitch_pulse_sink_consumer_lag_messages{{sink="{sink}"}} >= 0'
            wait_until(expr, lambda expr=expr: query(expr), 60, alive)
        # every exported series family exists in Prometheus (unlabelled ones from the start)
        names = set(httpx.get(f"{api}/api/v1/label/__name__/values", timeout=10).json()["data"])
        for name, kind, _, labels, _ in gen.metrics():
            if not labels:
                assert (f"{name}_count" if kind == "histogram" else name) in names, name
        # no channel or game id is a label
        labels = httpx.get(f"{api}/api/v1/labels", params={"match[]": '{__name__=~"twitch_pulse_.+"}'},
                           timeout=10).json()["data"]
        assert not set(labels) & ID_LABELS, labels
        page = httpx.get(f"http://127.0.0.1:{ports['producer']}/metrics", timeout=5).text
        assert "demo-secret-4242" not in page
        # the lag gauge is exported (its per-partition series appear once librdkafka reports a lag)
        assert "# TYPE twitch_pulse_processor_consumer_lag_messages gauge" in \
            httpx.get(f"http://127.0.0.1:{ports['processor']}/metrics", timeout=5).text
        # the alert rules are loaded and evaluate without error
        rules = httpx.get(f"{api}/api/v1/rules", timeout=10).json()["data"]["groups"]
        expected = {r["alert"] for g in yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"] for r in g["rules"]}
        wait_until("rules evaluated", lambda: all(r.get("lastEvaluation", "").startswith("2") and r["health"] == "ok"
                                             for g in httpx.get(f"{api}/api/v1/rules", timeout=10).json()["data"]["groups"]
                                             for r in g["rules"]), 30, alive)
        assert {r["name"] for g in rules for r in g["rules"]} == expected
        # every Grafana dashboard query is valid PromQL for this Prometheus
        for expr in dashboard_queries():
            query(expr)
        assert query('twitch_pulse_sink_rows_written_total{table="STREAM_LOGS"}')
    finally:
        failures = []
        for name, proc in reversed(list(procs.items())):
            if proc.poll() is None:
                code = stop_worker(proc, signal.SIGTERM, timeout=60)  # -9: killed after 60 s
                if code != 0 and name != "prometheus":
                    failures.append(f"{name}: {code}")
    assert not failures, f"workers did not stop cleanly on SIGTERM: {failures}"
