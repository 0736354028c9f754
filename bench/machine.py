"""What the benchmarks' processes cost the machine: the CPU seconds of a local server (found by
the port it listens on) or of a worker, so a figure can be set against what two cores allow."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import psutil

from pulse.settings import Settings


def listening_process(port: int) -> Optional[psutil.Process]:
    """The process listening on `port` on this machine (the local broker, the warehouse stand-in);
    None when there is none or it is not visible to this user."""
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return psutil.Process(conn.pid)
    except (psutil.AccessDenied, PermissionError):
        return None
    return None


def cpu_seconds(process: Optional[psutil.Process]) -> Optional[float]:
    """User + system CPU seconds of a process so far (None: none, or it has gone)."""
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def peak_rss_mib(pid: int | str = "self") -> Optional[float]:
    """A process's peak resident memory (VmHWM) in MiB, while it runs; None where /proc has no such
    process (gone, or not Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def broker_process(settings: Settings) -> Optional[psutil.Process]:
    """The local broker's process (listening on the first bootstrap address's port)."""
    return listening_process(int(settings.kafka.bootstrap.split(",")[0].rsplit(":", 1)[1]))
