"""BigQuery, the sinks' second warehouse: everything specific to it lives in this package (the
connection and credentials, literal escaping for scripts, staging and the exactly-once write,
error classification by BigQuery's error reasons, the versioned DDL in `sql/`).

`BigQuery` has the methods of the warehouse contract (`sinks.warehouse`), so it stands where
a protocol of those names is expected; `BIGQUERY` is the same as the record the sinks use today.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Sequence

from pulse.settings import Settings

from ..tables import TableSpec
from ..warehouse import RawRow, Warehouse
from . import connection, errors, load, schema


class BigQuery:
    """The warehouse contract on BigQuery (README "Adding a warehouse")."""

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

    def merge(self, cur: Any, spec: TableSpec, rows: Sequence[Sequence[Any]], method: str, workdir: str) -> int:
        return load.merge(cur, spec, rows, method, workdir)


_IMPL = BigQuery()
BIGQUERY = Warehouse(
    name=_IMPL.name, connect=_IMPL.connect, bootstrap=_IMPL.bootstrap, current_version=_IMPL.current_version,
    prune=_IMPL.prune, is_transient=_IMPL.is_transient, lost_session=_IMPL.lost_session, rollback=_IMPL.rollback,
    write_raw=_IMPL.write_raw, merge=_IMPL.merge,
)

__all__ = ["BIGQUERY", "BigQuery"]
