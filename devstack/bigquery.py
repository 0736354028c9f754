"""The local BigQuery stand-in: bqemulator (REST and gRPC over DuckDB) with its data on disk
(`<run_dir>/bigquery`, `--data-dir`), so a restart or a SIGKILL keeps every row.

It runs from its own virtualenv (`.venv-bq`, made by `make bqemulator` from
`devstack/bqemulator-requirements.txt`, pinned) through `devstack/bqemulator_server.py`, a
launcher that lets it start offline. The real google-cloud-bigquery client reaches it over
HTTP (see `sinks.bigquery.connection`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from .service import Service, ServiceError, port_open

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = Path(__file__).resolve().with_name("bqemulator_server.py")


def emulator_python() -> Path:
    """bqemulator's interpreter: BQEMULATOR_PYTHON, else the repository's `.venv-bq`."""
    return Path(os.environ.get("BQEMULATOR_PYTHON", ROOT / ".venv-bq" / "bin" / "python"))


class BigQueryServer:
    def __init__(self, run_dir: Path, port: int = 9050, grpc_port: int = 9060, host: str = "127.0.0.1") -> None:
        self.run_dir = Path(run_dir).resolve()
        self.port = port
        self.grpc_port = grpc_port
        self.host = host
        self.data_dir = self.run_dir / "bigquery"
        # quiet and offline: no avro extension download, warnings only
        env = {"BQEMU_ENABLE_FORMAT_EXTENSIONS": "false", "BQEMU_LOG_LEVEL": "warning"}
        self.service = Service("bqemulator", self.run_dir, host, port, env=env)

    def start(self, timeout: float = 90.0) -> bool:
        python = emulator_python()
        if not python.exists():
            raise ServiceError(f"bqemulator is not installed ({python} missing): run `make bqemulator`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(python), str(LAUNCHER), "start", "--rest-host", self.host, "--rest-port", str(self.port),
                "--grpc-host", self.host, "--grpc-port", str(self.grpc_port), "--data-dir", str(self.data_dir)]
        return self.service.start(argv, timeout=timeout)

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop it and wait until its port is free again, so a `start` right after finds the
        port its own. Should the pid file not lead to it (seen here: the service's identity
        check lost track of a live emulator, which then outlived its tests), the emulator of
        this data directory is found by its command line and stopped all the same."""
        stopped = self.service.stop(timeout=timeout)
        for proc in self._own_processes():
            stopped = True
            _terminate(proc, timeout)
        deadline = time.monotonic() + timeout
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        return stopped

    def status(self) -> str:
        return self.service.status()

    def _own_processes(self) -> list[psutil.Process]:
        """Live emulator processes started on this data directory (no other can have it)."""
        wanted = [str(LAUNCHER), "--data-dir", str(self.data_dir)]
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            argv = proc.info["cmdline"] or []
            if all(part in argv for part in wanted) and argv[argv.index("--data-dir") + 1] == str(self.data_dir):
                found.append(proc)
        return found


def _terminate(proc: psutil.Process, timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout`."""
    try:
        proc.terminate()
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass
