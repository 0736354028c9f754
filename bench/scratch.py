"""A throw-away warehouse schema for a benchmark: created and bootstrapped on the local fakesnow
server (SNOWFLAKE_PORT unless a port is given), dropped at the end."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Any, Iterator, Optional


@contextmanager
def scratch_schema(port: Optional[int]) -> Iterator[tuple[Any, Any]]:
    """(settings, connection) of a fresh BENCH_<id> schema holding the sinks' tables."""
    from pulse.settings import load_settings
    from sinks.snowflake import connect
    from sinks.snowflake.schema import bootstrap

    overrides: dict[str, Any] = {"snowflake_schema": f"BENCH_{uuid.uuid4().hex[:8].upper()}"}
    if port:
        overrides["snowflake_port"] = port
    settings = load_settings(**overrides)
    conn = connect(settings)
    try:
        bootstrap(conn)
        yield settings, conn
    finally:
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS {settings.snowflake_database}.{settings.snowflake_schema} CASCADE")
        conn.close()
