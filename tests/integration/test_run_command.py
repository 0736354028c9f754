"""`twitch-pulse run` as its own process (issue 20, defect 14): SIGTERM stops it the way Ctrl-C
does, every worker it started included (no orphan), also when SIGTERM arrives while it is still
starting them; the workers' metrics ports move with `--first-metrics-port`, and a taken one is
one line. It runs on this session's broker and warehouse (their pid files are linked into the
run directory, so `run` finds them running), with its own topics, groups and schema."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from devstack.kafka import KafkaBroker
from devstack.service import free_port
from devstack.warehouse import WarehouseServer
from pulse.settings import Settings
from tests.pipeline import health
from tests.sink_support import ROOT, settings_env, wait_for

WORKERS = 6  # metrics ports: producer, processor, three sinks, alerts


class Run:
    """One `twitch-pulse run` process and what it printed."""

    def __init__(self, proc: subprocess.Popen, log: Path, run_dir: Path) -> None:
        self.proc, self.log_path, self.run_dir = proc, log, run_dir

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []


@pytest.fixture
def run_dir(tmp_path: Path, kafka_broker: KafkaBroker, warehouse_server: WarehouseServer) -> Path:
    """A run directory where `run` finds this session's broker and warehouse already running."""
    path = tmp_path / "run"
    path.mkdir()
    for service in (kafka_broker.service, warehouse_server.service):
        (path / service.pid_file.name).symlink_to(service.pid_file)
    return path


@pytest.fixture
def start_run(run_dir: Path, settings: Settings, kafka_broker: KafkaBroker,
              warehouse_server: WarehouseServer, tmp_path: Path) -> Iterator:
    runs: list[Run] = []

    def start(*extra: str, first_metrics_port: int = 0, sigint_ignored: bool = False) -> Run:
        first = first_metrics_port or free_port(WORKERS)
        env = settings_env(settings, CLOCK_SPEED="60", PYTHONUNBUFFERED="1")
        env.pop("METRICS_PORT", None)
        log = tmp_path / f"run-{len(runs)}.out"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pulse", "run", "--run-dir", str(run_dir),
                 "--kafka-port", str(kafka_broker.port), "--warehouse-port", str(warehouse_server.port),
                 "--simulator-port", str(free_port()), "--channels", "40", "--dashboard-port", "0",
                 "--refresh", "1", "--first-metrics-port", str(first), *extra],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                # as a shell without job control starts `make run &`: SIGINT ignored from the start
                preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None)
        runs.append(Run(proc, log, run_dir))
        return runs[-1]

    yield start
    for run in runs:  # a failed test leaves nothing behind either
        for child in run.workers():
            child.kill()
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def _gone(processes: list[psutil.Process]) -> bool:
    return not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_sigterm_stops_run_and_every_worker(start_run) -> None:
    first = free_port(WORKERS)
    run = start_run(first_metrics_port=first)
    wait_for(lambda: "pipeline running" in run.output() or run.proc.poll() is not None, 120, "run to start")
    assert run.proc.poll() is None, run.output()[-3000:]
    assert f"metrics on ports {first}-{first + WORKERS - 1}" in run.output()
    workers = run.workers()
    assert len(workers) == WORKERS + 1  # and the simulator
    wait_for(lambda: health(first)[0] == 200, 60, "the producer's /healthz on the first metrics port")
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(90) == 0, run.output()[-3000:]
    assert "stopping the workers" in run.output()
    assert _gone(workers), [p.cmdline() for p in workers if p.is_running()]


def test_sigint_stops_run_even_when_it_began_ignored(start_run) -> None:
    run = start_run(sigint_ignored=True)
    wait_for(lambda: "pipeline running" in run.output() or run.proc.poll() is not None, 120, "run to start")
    assert run.proc.poll() is None, run.output()[-3000:]
    workers = run.workers()
    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(90) == 0, run.output()[-3000:]
    assert "stopping the workers" in run.output()
    assert _gone(workers), [p.cmdline() for p in workers if p.is_running()]


def test_sigterm_while_starting_stops_the_workers_started_so_far(start_run) -> None:
    run = start_run()
    simulator = wait_for(lambda: run.workers(), 60, "the first worker (the simulator) to be started", interval=0.02)
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(60) == 0, run.output()[-3000:]
    # a worker forked as the signal came is not yet one `run` waits for: the SIGTERM that its
    # parent's death sends it (PR_SET_PDEATHSIG) ends it a moment after `run`
    wait_for(lambda: _gone(simulator), 15, f"the workers started so far to end\n{run.output()[-3000:]}")


def test_a_taken_metrics_port_is_one_line(start_run) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        run = start_run(first_metrics_port=port)
        code = run.proc.wait(60)
    lines = [line for line in run.output().splitlines() if line.startswith("twitch-pulse:")]
    assert code == 1 and lines == [
        f"twitch-pulse: run: metrics port {port} (producer) is taken; pass --first-metrics-port PORT "
        f"(the workers use PORT to PORT+5)"], run.output()[-2000:]
    assert "Traceback" not in run.output()
    assert not run.workers()
