"""The local Snowflake stand-in: `fakesnow` in server mode with its DuckDB files on disk
(`<run_dir>/warehouse`, see `devstack.fakesnow_server`), so a restart keeps every row.

The real snowflake-connector-python reaches it over HTTP (see `sinks.snowflake.connect`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .service import Service, ServiceError


class WarehouseServer:
    def __init__(self, run_dir: Path, port: int = 8765, host: str = "127.0.0.1") -> None:
        self.run_dir = Path(run_dir).resolve()
        self.port = port
        self.host = host
        self.db_dir = self.run_dir / "warehouse"
        self.service = Service("fakesnow", self.run_dir, host, port)

    def start(self, timeout: float = 60.0) -> bool:
        if importlib.util.find_spec("fakesnow") is None:
            raise ServiceError("fakesnow is not installed: run `make install` (pip install -e '.[dev]')")
        self.db_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "devstack.fakesnow_server", str(self.db_dir),
                "--host", self.host, "--port", str(self.port)]
        return self.service.start(argv, timeout=timeout)

    def stop(self) -> bool:
        return self.service.stop(timeout=15)

    def status(self) -> str:
        return self.service.status()
