"""A local background service: started detached, tracked by a pid file, logged to a file.

Kafka, the fakesnow server and the Helix simulator are all run this way, so `start` twice
finds the service running, `stop` is clean (SIGTERM, then SIGKILL after a timeout) and a
failed start shows the tail of the log instead of a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from pulse.cli import CommandError


class ServiceError(CommandError):
    """A local service could not be started; the message carries the log's tail."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Service:
    name: str
    run_dir: Path
    host: str
    port: int
    ready: Optional[Callable[[], bool]] = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> Optional[int]:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        # a zombie child of ours is not running
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return None
        except OSError:
            pass
        return pid

    def is_ready(self) -> bool:
        if not port_open(self.host, self.port):
            return False
        return self.ready() if self.ready else True

    def running(self) -> bool:
        return self.pid() is not None and self.is_ready()

    def start(self, argv: Sequence[str], timeout: float = 90.0) -> bool:
        """Start detached unless already running; wait until ready. Returns False if it was running."""
        if self.pid() is not None:
            self.wait_ready(timeout)
            return False
        if port_open(self.host, self.port):
            raise ServiceError(
                f"{self.name}: port {self.host}:{self.port} is taken by another process; "
                f"choose another port"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        self.pid_file.write_text(str(proc.pid))
        self.wait_ready(timeout, proc)
        return True

    def wait_ready(self, timeout: float, proc: Optional[subprocess.Popen] = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {proc.returncode} while starting; "
                    f"log {self.log_file}:\n{tail(self.log_file)}"
                )
            if self.is_ready():
                return
            time.sleep(0.2)
        raise ServiceError(
            f"{self.name} did not become ready within {timeout:.0f}s; log {self.log_file}:\n{tail(self.log_file)}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, wait, then SIGKILL. Returns False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM) if _is_group_leader(pid) else os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"{self.name}: stopped"
        state = "ready" if self.is_ready() else "starting/unhealthy"
        return f"{self.name}: running (pid {pid}) on {self.host}:{self.port}, {state}; log {self.log_file}"


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False
