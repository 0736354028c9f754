"""A background warehouse health check for a sink's `/healthz` (issue 10 §5).

The connector retries a statement inside `write()` for up to SNOWFLAKE_NETWORK_TIMEOUT, so
the sink itself only learns of an outage that late, and an idle sink never does. This
probe runs `SELECT 1` every `interval` seconds on a connection of its own with a short
login and network timeout, and calls a probe that has not answered within `timeout` a
failure even while the connector still retries it (its backoff can run well past its
timeout), so an outage (stopped, frozen or restarted warehouse) shows on `/healthz` within
`interval + timeout` seconds whether or not the sink is writing.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

from pulse.errors import first_line
from pulse.settings import Settings

from .warehouse import Warehouse

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0
TIMEOUT_SECONDS = 4


class WarehouseProbe:
    def __init__(self, settings: Settings, warehouse: Warehouse, interval: float = INTERVAL_SECONDS,
                 timeout: int = TIMEOUT_SECONDS) -> None:
        self._settings = settings.replace(SNOWFLAKE_NETWORK_TIMEOUT=timeout, BIGQUERY_TIMEOUT=timeout)
        self._warehouse = warehouse
        self.interval = interval
        self.timeout = timeout
        self._since: Optional[float] = None  # when the check in flight started
        self._conn: Any = None
        self._state: tuple[bool, str] = (True, "starting")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="warehouse-probe", daemon=True)

    def start(self) -> "WarehouseProbe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._drop()

    def check(self) -> tuple[bool, str]:
        self._since = time.monotonic()
        try:
            if self._conn is None:
                self._conn = self._warehouse.connect(self._settings, with_schema=False)
            cur = self._conn.cursor()
            try:
                cur.execute("SELECT 1")
                cur.fetchall()
            finally:
                cur.close()
            self._state = (True, "ok")
        except Exception as exc:  # any failure: unhealthy now, a fresh session next time
            self._drop()
            if self._state[0]:
                log.warning("warehouse probe: %s", first_line(exc))
            self._state = (False, f"warehouse unavailable: {first_line(exc)}")
        finally:
            self._since = None
        return self._state

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.interval)

    def __call__(self) -> tuple[bool, str]:
        since = self._since
        if since is not None and time.monotonic() - since > self.timeout:
            return False, f"warehouse unavailable: no answer to a probe for {time.monotonic() - since:.0f}s"
        return self._state
