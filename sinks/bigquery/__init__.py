"""BigQuery, the sinks' second warehouse: everything specific to it lives in this package (the
connection and credentials, literal escaping for scripts, staging and the exactly-once write,
error classification by BigQuery's error reasons, the versioned DDL in `sql/`).

`BigQuery` implements `sinks.warehouse.Warehouse`; `sinks.choice` hands out `BIGQUERY` when
WAREHOUSE=bigquery.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Sequence

from pulse.settings import Settings

from ..tables import TableSpec
from ..warehouse import RawRow, TableRow
from . import connection, errors, load, schema


class BigQuery:
    """`sinks.warehouse.Warehouse` on BigQuery (and the local bqemulator)."""

    name = "bigquery"

    def connect(self, settings: Settings, with_schema: bool = True) -> connection.Connection:
        return connection.connect(settings, with_schema)

    def bootstrap(self, conn: Any) -> list[int]:
        return schema.bootstrap(conn)

    def current_version(self, conn: Any) -> int:
        return schema.current_version(conn)

    def prune(self, conn: Any, older_than: timedelta) -> int:
        return schema.prune(conn, older_than)

    def is_transient(self, exc: BaseException) -> bool:
        return errors.is_transient(exc)

    def lost_session(self, exc: BaseException) -> bool:
        return errors.lost_session(exc)

    def rollback(self, cur: Any) -> None:
        load.rollback(cur)

    def write_raw(self, cur: Any, sink: str, topic: str, partition: int, rows: Sequence[RawRow], last: int,
                  method: str, workdir: str) -> int:
        return load.write_raw(cur, sink, topic, partition, rows, last, method, workdir)

    def merge(self, cur: Any, spec: TableSpec, rows: Sequence[TableRow], method: str, workdir: str) -> int:
        return load.merge(cur, spec, rows, method, workdir)


BIGQUERY = BigQuery()

__all__ = ["BIGQUERY", "BigQuery"]
