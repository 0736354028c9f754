"""Operating faults around the workers (issue 10 §8, §10, §11): topics are visible once
created, `run` supervises its workers like a container runtime, a metrics-port clash is one
line, a broker that is down at start is waited for, and no log opens with authlib's warning."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from confluent_kafka import Consumer

from devstack.pipeline import LocalPipeline, RestartPolicy
from devstack.service import free_port
from pulse import topics
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings
from tests.pipeline import health
from tests.sink_support import ROOT, Worker, alert, produce, settings_env, wait_for


def test_created_topics_are_visible_to_a_new_client(settings: Settings) -> None:
    names = [settings.topic(f"visible.{i}") for i in range(5)]
    ensure_topics(settings, names, partitions=3)
    consumer = Consumer(client_config(settings, **{"group.id": "visibility"}))
    try:
        topics = consumer.list_topics(timeout=10).topics
        for name in names:
            assert name in topics and len(topics[name].partitions) == 3
            assert all(p.leader >= 0 for p in topics[name].partitions.values())
    finally:
        consumer.close()


def _pipeline(settings: Settings, run_dir: Path, **kwargs) -> LocalPipeline:
    # metrics ports: one per worker but the simulator
    first = free_port(len(LocalPipeline(settings, run_dir).workers) - 1)
    return LocalPipeline(settings, run_dir, simulator_port=free_port(), first_metrics_port=first, **kwargs)


def test_run_restarts_a_killed_worker(wh_settings: Settings, tmp_path: Path) -> None:
    pipeline = _pipeline(wh_settings, tmp_path)
    said: list[str] = []
    pipeline.start(only=["sink-alerts"])
    worker = pipeline.worker("sink-alerts")
    try:
        try:
            wait_for(lambda: health(worker.metrics_port)[0] == 200, 60, "the sink to be healthy")
        except AssertionError:
            os.kill(worker.proc.pid, signal.SIGUSR1)  # its threads' stacks into its log
            wait_for(lambda: "Thread 0x" in (pipeline.log_dir / "sink-alerts.log").read_text(), 10, "stacks")
            raise AssertionError((pipeline.log_dir / "sink-alerts.log").read_text()[-6000:]) from None
        first_pid = worker.proc.pid
        os.kill(first_pid, signal.SIGKILL)
        policy = RestartPolicy(first=0.5)
        wait_for(lambda: pipeline.supervise(policy, said.append) or any("restarted" in s for s in said), 30,
                 "the worker to be restarted")
        assert worker.proc.pid != first_pid and worker.proc.poll() is None
        assert any("sink-alerts: exited with code -9; restarting in" in s for s in said), said
        wait_for(lambda: health(worker.metrics_port)[0] == 200, 60, "the restarted sink to be healthy")
    finally:
        codes = pipeline.stop()
    assert codes["sink-alerts"] == 0


def test_run_gives_up_after_repeated_crashes_with_the_log_tail(settings: Settings, warehouse_server,
                                                               tmp_path: Path) -> None:
    # without bootstrap on an empty schema the sink stops at its first write: "does not exist" (exit 1)
    produce(settings, topics.ALERTS, [("u1", alert(1))])
    pipeline = _pipeline(settings, tmp_path, extra_args={"sink-alerts": ["--no-bootstrap"]})
    said: list[str] = []
    pipeline.start(only=["sink-alerts"])
    policy = RestartPolicy(first=0.2, limit=2)
    try:
        with pytest.raises(RuntimeError) as failure:
            wait_for(lambda: pipeline.supervise(policy, said.append), 120, "run to give up")
    finally:
        pipeline.stop()
    message = str(failure.value)
    assert "sink-alerts exited with code 1, 3 times" in message and "giving up" in message
    assert "alerts sink: warehouse refused" in message  # the log tail
    assert len([s for s in said if "restarted" in s]) == 2, said


def _held_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("0.0.0.0", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize("args", [["sink", "raw"], ["sink", "windows"], ["sink", "alerts"], ["alerts"],
                                  ["processor"], ["producer"]], ids=" ".join)
def test_a_metrics_port_clash_is_one_line(args: list[str], settings: Settings, tmp_path: Path) -> None:
    held = _held_port()
    port = held.getsockname()[1]
    try:
        env = settings_env(settings, METRICS_PORT=port, TWITCH_CLIENT_ID="id", TWITCH_CLIENT_SECRET="secret",
                           TWITCH_API_URL="http://127.0.0.1:9/helix", TWITCH_AUTH_URL="http://127.0.0.1:9/oauth2")
        proc = subprocess.run([sys.executable, "-m", "pulse", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    finally:
        held.close()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("twitch-pulse:")]
    assert lines == [f"twitch-pulse: METRICS_PORT: port {port} is already in use (another worker?); "
                     f"set METRICS_PORT to a free port, or 0 to disable metrics"], proc.stderr[-2000:]
    assert "AuthlibDeprecationWarning" not in proc.stderr


@pytest.mark.parametrize("args, waiting", [(["sink", "windows"], "rebuilding in"),
                                           (["producer"], "not reachable; waiting")], ids=["sink", "producer"])
def test_a_worker_waits_for_a_broker_that_is_down_at_start(args: list[str], waiting: str,
                                                           make_settings: Callable[..., Settings],
                                                           warehouse_server, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings = make_settings(kafka_bootstrap=f"127.0.0.1:{dead}")
    held = _held_port()
    port = held.getsockname()[1]
    held.close()
    with Worker(settings, args, tmp_path / "w.log", METRICS_PORT=port, TWITCH_CLIENT_ID="id",
                TWITCH_CLIENT_SECRET="secret") as worker:
        wait_for(lambda: (h := health(port))[0] == 503 and "kafka broker" in h[1], 30, "/healthz 503 (broker)")
        wait_for(lambda: waiting in worker.log(), 60, "the worker to wait and retry")
        assert worker.alive()
        assert worker.stop(30) == 0, worker.log()[-2000:]
    assert "Traceback" not in worker.log()


@pytest.mark.parametrize("moment", ["sink alerts:", "Starting the Application"])
def test_the_first_sigterm_while_starting_stops_a_sink(moment: str, wh_settings: Settings, tmp_path: Path) -> None:
    with Worker(wh_settings, ["sink", "alerts"], tmp_path / "s.log") as worker:
        wait_for(lambda: moment in worker.log(), 60, f"'{moment}' in the log", interval=0.02)
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.log()[-2000:]
