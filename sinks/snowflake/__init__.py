"""Snowflake, the sinks' default warehouse: everything specific to it lives in this package (the
connection, the load methods and their SQL, error classification, the versioned DDL in
`sql/`). `Snowflake` implements `sinks.warehouse.Warehouse`; see "Adding a warehouse" in docs/architecture.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Sequence

from pulse.settings import Settings

from ..tables import TableSpec
from ..warehouse import RawRow, TableRow
from . import errors, load, schema
from .connection import connect, connect_kwargs


class Snowflake:
    """`sinks.warehouse.Warehouse` on Snowflake (and the local fakesnow server)."""

    name = "snowflake"

    def connect(self, settings: Settings, with_schema: bool = True) -> Any:
        return connect(settings, with_schema=with_schema)

    def bootstrap(self, conn: Any) -> list[int]:
        return schema.bootstrap(conn)

    def current_version(self, conn: Any) -> int:
        return schema.current_version(conn)

    def prune(self, conn: Any, older_than: timedelta) -> int:
        return schema.prune(conn, older_than)

    def is_transient(self, error: BaseException) -> bool:
        return errors.is_transient(error)

    def lost_session(self, error: BaseException) -> bool:
        return errors.lost_session(error)

    def rollback(self, cur: Any) -> None:
        load.rollback(cur)

    def write_raw(self, cur: Any, sink: str, topic: str, partition: int, rows: Sequence[RawRow], last: int,
                  method: str, workdir: str) -> int:
        return load.write_raw(cur, sink, topic, partition, rows, last, method, workdir)

    def merge(self, cur: Any, spec: TableSpec, rows: Sequence[TableRow], method: str, workdir: str) -> int:
        return load.merge(cur, spec, rows, method, workdir)


SNOWFLAKE = Snowflake()

__all__ = ["SNOWFLAKE", "Snowflake", "connect", "connect_kwargs"]
