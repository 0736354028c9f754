"""The whole pipeline on one machine: every worker as its own process, as in production.

simulator -> producer -> processor -> sinks (raw, windows, alerts table) + alerts (console or
Slack), and optionally the dashboard over the warehouse. `twitch-pulse run` uses it with an
accelerated clock so windows pass in seconds; the end-to-end test uses it too. Each worker logs to `<run_dir>/logs/<name>.log` and serves
Prometheus metrics on its own port.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pulse.settings import Settings

from .service import port_open, tail

SIMULATOR = "simulator"
DASHBOARD = "dashboard"
# The workers that serve /metrics and /healthz, in start order: ports first_metrics_port + 0..5
WORKERS_WITH_METRICS = ("producer", "processor", "sink-raw", "sink-windows", "sink-alerts", "alerts")


CONFIG_ERROR = 2  # the CLI's exit code for a bad setting: restarting cannot help


def _stop_with_parent() -> None:
    """In the worker, before it starts: on Linux, ask the kernel for a SIGTERM when the process
    that started it dies, so a `run` killed with SIGKILL (which it cannot catch) leaves no
    worker behind either. Elsewhere nothing: `run` stops its workers on every signal it can catch."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class RestartPolicy:
    """Like a container runtime's: restart a crashed worker after 1, 2, 4 ... `most` seconds;
    give up after `limit` crashes within `window` seconds (a worker that ran longer than
    `window` starts counting afresh)."""

    first: float = 1.0
    most: float = 30.0
    limit: int = 5
    window: float = 300.0

    def delay(self, crashes: int) -> float:
        return min(self.most, self.first * 2 ** max(0, crashes - 1))


@dataclass
class Worker:
    name: str
    args: list[str]
    metrics_port: int
    proc: Optional[subprocess.Popen] = None
    started_at: float = 0.0
    crashes: list[float] = field(default_factory=list)  # monotonic times of recent crashes
    restart_at: Optional[float] = None


@dataclass
class LocalPipeline:
    """Starts and stops the workers; knows nothing of what they compute."""

    settings: Settings
    run_dir: Path
    simulator_port: int = 8780
    channels: int = 3000
    first_metrics_port: int = 9101
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: dict[str, list[str]] = field(default_factory=dict)  # worker name -> more CLI arguments
    dashboard_port: Optional[int] = None  # also serve the dashboard (`twitch-pulse run` does)
    workers: list[Worker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_dir = self.run_dir / "logs"
        port = self.first_metrics_port
        plan = [
            (SIMULATOR, ["simulate", "--port", str(self.simulator_port), "--channels", str(self.channels),
                         "--speed", str(self.settings.producer.clock_speed)]),
            ("producer", ["producer"]),
            ("processor", ["processor"]),
            ("sink-raw", ["sink", "raw"]),
            ("sink-windows", ["sink", "windows"]),
            ("sink-alerts", ["sink", "alerts"]),
            ("alerts", ["alerts"]),
        ]
        assert [name for name, _ in plan[1:]] == list(WORKERS_WITH_METRICS)
        for name, args in plan:
            self.workers.append(Worker(name, args + self.extra_args.get(name, []), 0 if name == SIMULATOR else port))
            port += name != SIMULATOR
        if self.dashboard_port:
            self.workers.append(Worker(DASHBOARD, ["dashboard", "--port", str(self.dashboard_port),
                                                   "--address", "127.0.0.1"], 0))

    @property
    def dashboard_url(self) -> Optional[str]:
        return f"http://127.0.0.1:{self.dashboard_port}" if self.dashboard_port else None

    @property
    def metrics_ports(self) -> list[int]:
        return [w.metrics_port for w in self.workers if w.metrics_port]

    @property
    def helix_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    def env(self, worker: Worker) -> dict[str, str]:
        env = {**os.environ, **self.settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent",
               "METRICS_PORT": str(worker.metrics_port), **self.extra_env}
        if worker.name == "processor":
            env.setdefault("PROCESSOR_INSTANCE_ID", "0")  # a restart takes its partitions back at once
        if worker.name != SIMULATOR:
            env.update(TWITCH_API_URL=f"{self.helix_url}/helix", TWITCH_AUTH_URL=f"{self.helix_url}/oauth2")
            if not env.get("TWITCH_CLIENT_ID"):  # the simulator accepts any credential
                env.update(TWITCH_CLIENT_ID="local-demo", TWITCH_CLIENT_SECRET="local-demo-secret")
        return env

    def start(self, only: Optional[list[str]] = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for worker in self.workers:
            if only is not None and worker.name not in only:
                continue
            self._spawn(worker)
            if worker.name == SIMULATOR:
                self._wait_port(worker, self.simulator_port)
        dashboard = next((w for w in self.workers if w.name == DASHBOARD and w.proc is not None), None)
        if dashboard is not None and self.dashboard_port:
            self._wait_port(dashboard, self.dashboard_port, timeout=60)

    def _spawn(self, worker: Worker) -> None:
        with open(self.log_dir / f"{worker.name}.log", "ab") as log:
            worker.proc = subprocess.Popen(
                [sys.executable, "-m", "pulse", *worker.args], env=self.env(worker),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                # own session: Ctrl-C reaches `run` only, which then stops each worker once, cleanly
                start_new_session=True, preexec_fn=_stop_with_parent,
            )
        worker.started_at = time.monotonic()
        worker.restart_at = None

    def supervise(self, policy: RestartPolicy = RestartPolicy(),
                  say: Callable[[str], None] = print) -> None:
        """Restart crashed workers with backoff, telling `say` what happens; raise
        RuntimeError with the worker's log tail once one crashes too often (or on a
        configuration error, which a restart cannot fix). Call it every second or so."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.proc is None:
                continue
            if worker.restart_at is not None:
                if now >= worker.restart_at:
                    self._spawn(worker)
                    say(f"{worker.name}: restarted (pid {worker.proc.pid})")
                continue
            code = worker.proc.poll()
            if code is None:
                continue
            log_tail = tail(self.log_dir / f"{worker.name}.log")
            if code == CONFIG_ERROR:
                raise RuntimeError(f"{worker.name} exited with code {code} (configuration error):\n{log_tail}")
            if now - worker.started_at > policy.window:
                worker.crashes.clear()
            worker.crashes = [t for t in worker.crashes if now - t <= policy.window] + [now]
            if len(worker.crashes) > policy.limit:
                raise RuntimeError(f"{worker.name} exited with code {code}, {len(worker.crashes)} times in "
                                   f"{policy.window:.0f}s; giving up:\n{log_tail}")
            delay = policy.delay(len(worker.crashes))
            worker.restart_at = now + delay
            say(f"{worker.name}: exited with code {code}; restarting in {delay:.0f}s "
                f"(crash {len(worker.crashes)} of at most {policy.limit} in {policy.window:.0f}s; "
                f"log {self.log_dir / (worker.name + '.log')})")

    def _wait_port(self, worker: Worker, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open("127.0.0.1", port):
                return
            if worker.proc is not None and worker.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{worker.name} did not start:\n{tail(self.log_dir / f'{worker.name}.log')}")

    def check(self, finite: tuple[str, ...] = ()) -> None:
        """Raise if a worker died (a `finite` one may end with exit code 0), with its log's tail."""
        for worker in self.workers:
            if worker.proc is None or worker.proc.poll() is None:
                continue
            if worker.name not in finite or worker.proc.returncode != 0:
                raise RuntimeError(f"{worker.name} exited with code {worker.proc.returncode}:\n"
                                   f"{tail(self.log_dir / f'{worker.name}.log')}")

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    def stop(self, timeout: float = 60) -> dict[str, Optional[int]]:
        """SIGTERM every worker (the producer first, so the rest can drain), then wait."""
        codes: dict[str, Optional[int]] = {}
        for worker in self.workers:
            worker.restart_at = None
            if worker.proc is not None and worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            if worker.proc is None:
                continue
            try:
                codes[worker.name] = worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                codes[worker.name] = worker.proc.wait()
        return codes
