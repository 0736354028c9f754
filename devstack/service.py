"""A local background service: started detached, tracked by a pid file, logged to a file.

Kafka and the fakesnow server are run this way, so `start` twice finds the service running,
`stop` is clean (SIGTERM to its process group, then SIGKILL to the group after a timeout) and
a failed start shows the tail of the log instead of a traceback.

A pid alone names a process only while it lives: after a reboot or a crash the number can
belong to anything. So the pid file also records the command line and the start time of the
process it started, and a pid counts as the service only while both still match (psutil
reads them the same way on Linux and macOS).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import psutil

from pulse.cli import CommandError

# How far two readings of one process's start time may differ (the boot time they are counted
# from moves when the wall clock is adjusted); a reused pid starts later than that.
START_TOLERANCE_SECONDS = 1.0
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


class ServiceError(CommandError):
    """A local service could not be started; the message carries the log's tail."""


def free_port(count: int = 1) -> int:
    """A port p with p .. p+count-1 free now (a broker takes two): servers a test or a benchmark
    starts for itself, so no fixed port collides with another process on a shared machine.
    Chosen outside the kernel's ephemeral range, so no client socket's local port takes it
    between this check and the server's bind (a worker's metrics port was lost that way)."""
    low, high = _unreserved_range()
    while True:
        port = random.randrange(low, high - count + 1)
        held: list[socket.socket] = []
        try:
            for i in range(count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port + i))
            return port
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()


def _unreserved_range() -> tuple[int, int]:
    """[low, high) of ports the kernel never hands out as ephemeral: above its range when
    there is room (Linux's default 32768-60999 leaves 61000-65535), else below it."""
    try:
        first, last = (int(n) for n in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        first, last = 32768, 60999
    if 65536 - (last + 1) >= 1000:
        return last + 1, 65536
    return 10000, first


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Started(NamedTuple):
    """What the pid file records: enough to tell the process started from a stranger with its pid."""

    pid: int
    argv: list[str]
    created: float  # psutil's create_time(): epoch seconds


def _identity(pid: int) -> Optional[Started]:
    """The live, non-zombie process `pid` as a Started record, or None."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return Started(pid, proc.cmdline(), proc.create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


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
        """The service's pid while the process it started runs; None for a dead, zombie or
        different process (a pid reused since, e.g. after a reboot)."""
        try:
            text = self.pid_file.read_text().strip()
        except OSError:
            return None
        try:
            record = Started(**json.loads(text))
        except (ValueError, TypeError):
            return self._legacy_pid(text)
        live = _identity(record.pid)
        if live is None or live.argv != record.argv or abs(live.created - record.created) > START_TOLERANCE_SECONDS:
            return None
        return record.pid

    def _legacy_pid(self, text: str) -> Optional[int]:
        """A pid file of an older version (the pid alone): the process counts as the service
        only if its command line names this service's run directory, as both services' do."""
        try:
            live = _identity(int(text))
        except ValueError:
            return None
        if live is None or not any(str(self.run_dir) in arg for arg in live.argv):
            return None
        return live.pid

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
        # The command line is the one given, not read back from /proc: right after the exec the
        # kernel can still show it empty, and a pid file recording that matched no process later.
        try:
            created = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:
            raise ServiceError(f"{self.name} exited at once; log {self.log_file}:\n{tail(self.log_file)}") from None
        self.pid_file.write_text(json.dumps(Started(proc.pid, list(argv), created)._asdict()))
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
        """SIGTERM, wait, then SIGKILL, each to the process group it leads (its children too).
        Returns False if it was not running; a pid file naming another process is removed and
        that process left alone."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:  # ended on its own meanwhile
            self.pid_file.unlink(missing_ok=True)
            return True
        group = _is_group_leader(pid)  # started with start_new_session: it leads its group
        _signal(pid, signal.SIGTERM, group)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not _gone(proc):
            time.sleep(0.1)
        if not _gone(proc) or (group and _group_alive(pid)):
            _signal(pid, signal.SIGKILL, group)
            _wait_gone(proc, pid, group, timeout=10.0)
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


def _gone(proc: psutil.Process) -> bool:
    """Exited (a zombie has exited too: only its parent's wait is missing)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(proc: psutil.Process, pid: int, group: bool, timeout: float) -> None:
    """After SIGKILL: wait until the kernel has ended the process (and its group), so its ports
    are closed when stop() returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (_gone(proc) and not (group and _group_alive(pid))):
        time.sleep(0.05)


def _signal(pid: int, sig: int, group: bool) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    """Some process of group `pgid` still runs (a child that outlived its leader); zombies have
    ended and do not count (kill(-pgid, 0) would)."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return False
