"""Before dbt runs: is the warehouse there, and does it hold the tables the models read?

dbt would say so too, after seconds of retries and in a page of text; this says it in one
line, the way the sinks and `status` do.
"""

from __future__ import annotations

import socket

from pulse.settings import ConfigError, Settings
from sinks.errors import first_line
from sinks.snowflake import connect
from sinks.snowflake.schema import current_version, migrations


class WarehouseNotReady(Exception):
    """The warehouse cannot be reached, or its schema predates the models' sources."""


def check_warehouse(settings: Settings) -> None:
    where = f"{settings.snowflake_database}.{settings.snowflake_schema}"
    if settings.uses_local_warehouse:
        host, port = settings.snowflake_host, settings.snowflake_port
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError:
            raise WarehouseNotReady(f"no warehouse at {host}:{port} (the local fakesnow server): start it with "
                                    f"`twitch-pulse stack start`, or set SNOWFLAKE_ACCOUNT") from None
    try:
        conn = connect(settings)
    except ConfigError:
        raise
    except Exception as exc:
        raise WarehouseNotReady(f"cannot reach the warehouse {where}: {first_line(exc)}") from None
    try:
        version, needed = current_version(conn), max(m.version for m in migrations())
    finally:
        conn.close()
    if version < needed:
        raise WarehouseNotReady(f"the warehouse schema {where} is at version {version}, the models need {needed}: "
                                f"run `twitch-pulse bootstrap` (or start a sink) first")
