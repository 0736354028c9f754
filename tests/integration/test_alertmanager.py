"""Alert routing: `amtool check-config` on the committed Alertmanager config (Debian's
prometheus-alertmanager, installed by deploy/alertmanager/install.sh), and one rule of
deploy/prometheus/alerts.yml fired for real: a real Prometheus evaluates it and sends it to a
real Alertmanager running the committed routing, which posts it to a local HTTP server
standing in for the Slack incoming webhook."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml

from devstack.service import free_port
from tests.conftest import once
from tests.deploy_support import PROM_DIR, wait_until
from tests.pipeline import ROOT

AM_DIR = ROOT / "deploy" / "alertmanager"


@pytest.fixture(scope="session")
def alertmanager_bin() -> dict[str, str]:
    with once("alertmanager"):
        result = subprocess.run([str(AM_DIR / "install.sh")], capture_output=True, text=True, timeout=900)
    if result.returncode == 3:
        pytest.skip("Alertmanager cannot be installed here: " + result.stderr.strip().splitlines()[-1])
    assert result.returncode == 0, result.stderr[-2000:]
    found = {name: shutil.which(name) for name in ("prometheus-alertmanager", "amtool")}
    assert all(found.values()), found
    return found  # type: ignore[return-value]


def test_amtool_checks_the_committed_config(alertmanager_bin) -> None:
    result = subprocess.run([alertmanager_bin["amtool"], "check-config", "alertmanager.yml"], cwd=AM_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    # every rule's severity is routed (the root route catches all; no rule is left unrouted)
    config = yaml.safe_load((AM_DIR / "alertmanager.yml").read_text())
    rules = [r for g in yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    receivers = {r["name"] for r in config["receivers"]}
    for rule in rules:
        labels = [f"alertname={rule['alert']}", *(f"{k}={v}" for k, v in rule["labels"].items())]
        result = subprocess.run([alertmanager_bin["amtool"], "config", "routes", "test",
                                 "--config.file=alertmanager.yml", *labels],
                                cwd=AM_DIR, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.strip() in receivers, (rule["alert"], result.stdout)


class _Webhook(BaseHTTPRequestHandler):
    """Records every POST body, as the Slack incoming webhook would receive it."""

    received: "queue.Queue[tuple[str, dict[str, Any]]]"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.put((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slack_webhook() -> Iterator[tuple[str, "queue.Queue[tuple[str, dict[str, Any]]]"]]:
    received: queue.Queue = queue.Queue()
    handler = type("Webhook", (_Webhook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_a_firing_rule_reaches_slack_through_alertmanager(alertmanager_bin, prometheus_bin, slack_webhook,
                                                           tmp_path: Path) -> None:
    url, received = slack_webhook
    am_port, prom_port, dead_port = free_port(), free_port(), free_port()
    # The committed routing and receivers; only the secret's file, the timings and the
    # listener are the test's own.
    (tmp_path / "slack_webhook_url").write_text(url + "\n")
    config = yaml.safe_load((AM_DIR / "alertmanager.yml").read_text())
    config["global"]["slack_api_url_file"] = str(tmp_path / "slack_webhook_url")
    config["route"].update(group_wait="1s", group_interval="1s")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    # The committed rule TwitchPulseWorkerDown, its `for` shortened, against a producer target
    # that does not answer: up == 0.
    rules = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())
    for group in rules["groups"]:
        group["rules"] = [dict(r, **{"for": "1s"}) for r in group["rules"] if r["alert"] == "TwitchPulseWorkerDown"]
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    prom = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    prom["global"].update(scrape_interval="1s", evaluation_interval="1s")
    prom["rule_files"] = [str(tmp_path / "alerts.yml")]
    prom["scrape_configs"] = [{"job_name": "producer", "static_configs": [{"targets": [f"127.0.0.1:{dead_port}"]}]}]
    prom["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{am_port}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom))

    procs: list[subprocess.Popen] = []

    def alive() -> None:
        for proc in procs:
            assert proc.poll() is None, f"{proc.args[0]} exited with {proc.returncode}:\n" + \
                (tmp_path / f"{Path(proc.args[0]).name}.log").read_text()[-3000:]

    def start(argv: list[str]) -> None:
        log = open(tmp_path / f"{Path(argv[0]).name}.log", "wb")
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    try:
        start([alertmanager_bin["prometheus-alertmanager"], f"--config.file={tmp_path / 'alertmanager.yml'}",
               f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
               "--cluster.listen-address="])
        wait_until("alertmanager ready", lambda: httpx.get(f"http://127.0.0.1:{am_port}/-/ready", timeout=2)
              .status_code == 200, 60, alive)
        start([prometheus_bin["prometheus"], f"--config.file={tmp_path / 'prometheus.yml'}",
               f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"])

        def posted() -> Any:
            alive()
            try:
                return received.get(timeout=1)
            except queue.Empty:
                return None

        path, payload = wait_until("a Slack message", posted, 120, alive)
        # it went to the webhook from the secret file, shaped as Slack's incoming webhook expects
        assert path == "/services/T000/B000/XXXX"
        attachment = payload["attachments"][0]
        assert "TwitchPulseWorkerDown" in attachment["title"] and "FIRING" in attachment["title"]
        assert "critical" in attachment["title"]
        assert f"producer on 127.0.0.1:{dead_port} is not answering /metrics" in attachment["text"]
        # Alertmanager holds it as active, with the rule's labels
        alerts = httpx.get(f"http://127.0.0.1:{am_port}/api/v2/alerts", timeout=5).json()
        assert {a["labels"]["alertname"] for a in alerts} == {"TwitchPulseWorkerDown"}
        assert alerts[0]["labels"]["job"] == "producer" and alerts[0]["labels"]["severity"] == "critical"
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
