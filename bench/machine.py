"""What the benchmarks' processes cost the machine: the CPU seconds of a local server (found by
the port it listens on) or of a worker, so a figure can be set against what two cores allow;
and the memory latency the machine gives one core and two at once (`cache_latency`)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
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


PROBE_SOURCE = Path(__file__).with_name("cache_probe.c")
PROBE_SIZES_KIB = (1024, 4096, 8192, 32768, 131072)


def cache_latency(sizes_kib: tuple[int, ...] = PROBE_SIZES_KIB) -> Optional[dict[int, tuple[float, float]]]:
    """KiB -> (ns a load alone, ns a load while the other core chases too), from `cache_probe.c`
    built with the machine's C compiler (None: no compiler). The processor's state is millions of
    small objects, so where its working set stops fitting a cache and what a second process
    costs it show here first."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "cache_probe"
        subprocess.run([compiler, "-O2", "-o", str(probe), str(PROBE_SOURCE)], check=True)
        command = [str(probe), *map(str, sizes_kib)]

        def latencies(output: str) -> dict[int, float]:
            return {int(kib): float(ns) for kib, ns, _ in (line.split() for line in output.splitlines())}

        alone = latencies(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        pair = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        together = [latencies(p.communicate()[0]) for p in pair]
    return {kib: (alone[kib], max(t[kib] for t in together)) for kib in sizes_kib}
