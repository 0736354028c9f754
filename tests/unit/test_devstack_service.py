"""The local service manager (devstack/service.py) against real processes: a pid file whose pid
now belongs to another process (a decoy, as after a reboot) is not the service, so `stop`
leaves that process alone; the service's own process is found and stopped; the final SIGKILL
reaches the whole process group, children that ignore SIGTERM included."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import psutil
import pytest

from devstack.service import Service, free_port


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def decoy() -> Iterator[subprocess.Popen]:
    """An unrelated process of someone else's: `sleep`."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_pid_file_naming_another_process_is_not_the_service(tmp_path: Path, decoy: subprocess.Popen) -> None:
    service = Service("kafka", tmp_path, "127.0.0.1", free_port())
    started = psutil.Process(decoy.pid)
    for content in (
        str(decoy.pid),  # an older pid file: the pid alone, the decoy's command line names no run dir
        # the decoy's pid with the service's command line (the pid was reused after a reboot)
        json.dumps({"pid": decoy.pid, "argv": ["java", "kafka.Kafka", str(tmp_path / "kafka-server.properties")],
                    "created": started.create_time()}),
        # the decoy's own command line, but started at another time (an earlier `sleep 300`)
        json.dumps({"pid": decoy.pid, "argv": started.cmdline(), "created": started.create_time() - 3600}),
    ):
        service.pid_file.write_text(content)
        assert service.pid() is None, content
        assert service.status() == "kafka: stopped"
        assert service.stop(timeout=1) is False
        assert not service.pid_file.exists()  # the stale file is gone
        assert decoy.poll() is None, "stop signalled a process that is not the service"
    # the same record with the decoy's true identity is the decoy (what start() writes for its own)
    service.pid_file.write_text(json.dumps({"pid": decoy.pid, "argv": started.cmdline(),
                                            "created": started.create_time()}))
    assert service.pid() == decoy.pid


def test_the_started_process_is_found_and_stopped(tmp_path: Path) -> None:
    port = free_port()
    service = Service("web", tmp_path, "127.0.0.1", port)
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    assert service.start(argv, timeout=30) is True
    pid = service.pid()
    assert pid is not None and psutil.Process(pid).cmdline() == argv
    record = json.loads(service.pid_file.read_text())
    assert record["pid"] == pid and record["argv"] == argv
    assert service.start(argv, timeout=30) is False  # found running
    assert service.stop(timeout=10) is True
    assert service.pid() is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # its listening socket is closed (asked of the kernel by owner: a bare connect could meet
    # another process that took the freed port, or connect to itself on an ephemeral port)
    assert not [c for c in psutil.net_connections("tcp")
                if c.pid == pid and c.status == psutil.CONN_LISTEN and c.laddr.port == port]


def test_a_service_started_by_one_process_is_found_by_another(tmp_path: Path) -> None:
    """The pid file records the command line as given, so another process (the next test
    session, `twitch-pulse stack stop`) recognises the service; a record read back from /proc
    right after the exec could be empty and match nothing (the broker then seemed a stranger
    on its own port)."""
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    starter = (f"from pathlib import Path; from devstack.service import Service; "
               f"print(Service('web', Path({str(tmp_path)!r}), '127.0.0.1', {port}).start({argv!r}, timeout=30))")
    result = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "True", result.stderr
    service = Service("web", tmp_path, "127.0.0.1", port)
    try:
        assert service.pid() is not None and service.start(argv, timeout=30) is False
    finally:
        assert service.stop(timeout=10) is True


# A leader that ignores SIGTERM and a child of its group that ignores it too: only the group's
# SIGKILL ends both. The child writes its pid, then both serve nothing and wait.
STUBBORN = """
import os, signal, socket, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[2], "w").write(str(child.pid))
server = socket.socket(); server.bind(("127.0.0.1", int(sys.argv[1]))); server.listen()
time.sleep(600)
"""


def test_the_final_sigkill_reaches_the_process_group(tmp_path: Path) -> None:
    port = free_port()
    child_pid_file = tmp_path / "child.pid"
    service = Service("stubborn", tmp_path, "127.0.0.1", port)
    assert service.start([sys.executable, "-c", STUBBORN, str(port), str(child_pid_file)], timeout=30)
    _wait(lambda: child_pid_file.exists() and child_pid_file.read_text().strip() != "")
    leader, child = service.pid(), int(child_pid_file.read_text())
    assert leader is not None and psutil.Process(child).ppid() == leader
    try:
        assert service.stop(timeout=1) is True
        for pid in (leader, child):
            _wait(lambda pid=pid: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    finally:
        for pid in (leader, child):
            try:
                psutil.Process(pid).send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass


def test_every_local_server_says_its_status(tmp_path: Path) -> None:
    """`run` and `stack start` print each part's status line: the BigQuery stand-in's too (its
    `status` once sat inside a function below the class, and `run --warehouse bigquery` crashed)."""
    from devstack.bigquery import BigQueryServer
    from devstack.kafka import KafkaBroker
    from devstack.warehouse import WarehouseServer

    for server, name in ((BigQueryServer(tmp_path, port=free_port(), grpc_port=free_port()), "bqemulator"),
                         (WarehouseServer(tmp_path, port=free_port()), None),
                         (KafkaBroker(tmp_path, port=free_port()), None)):
        line = server.status()
        assert line.endswith(": stopped"), line
        if name:
            assert line == f"{name}: stopped"


def test_free_ports_are_outside_the_kernels_ephemeral_range() -> None:
    """A client socket's local port can never take a port free_port handed out."""
    first, last = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _ in range(50):
        port = free_port(6)
        assert not any(first <= p <= last for p in range(port, port + 6)), port
        assert port + 5 <= 65535
