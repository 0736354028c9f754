"""What a warehouse gives the sinks, `bootstrap`, `prune` and the probe: one record of
functions, built by the warehouse's own package (`sinks.snowflake.SNOWFLAKE`). The sinks
themselves (`sinks.base`, `sinks.writers`) know only this record, so a second warehouse is a
second package that builds one (README "Adding a warehouse")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Sequence

from .tables import TableSpec

# A raw row: (v1 event JSON, captured_at as UTC text, Kafka offset, index in the chunk)
RawRow = tuple[bytes, str, int, int]


@dataclass(frozen=True)
class Warehouse:
    """A warehouse's connection, schema tools, error classification and load methods."""

    name: str
    # settings, with_schema=True -> an open DB-API connection (database and schema selected)
    connect: Callable[..., Any]
    # connection -> the migration versions applied now (idempotent; creates what is missing)
    bootstrap: Callable[[Any], list[int]]
    # connection -> the schema version
    current_version: Callable[[Any], int]
    # connection, age -> raw rows deleted (captured before now - age)
    prune: Callable[[Any, timedelta], int]
    # error -> will the same batch be accepted later? (else it is permanent)
    is_transient: Callable[[BaseException], bool]
    # error -> the warehouse answered but forgot the session: log in again at once
    lost_session: Callable[[BaseException], bool]
    # cursor -> undo the open transaction, never raising
    rollback: Callable[[Any], None]
    # cursor, sink, topic, partition, rows, last offset, method, scratch dir -> rows written:
    # the rows above the partition's mark and the new mark, in one transaction
    write_raw: Callable[[Any, str, str, int, Sequence[RawRow], int, str, str], int]
    # cursor, table spec, rows (spec.fields then partition then offset), method, scratch dir
    # -> rows written: upsert on spec.key, a row replaced only by a later offset
    merge: Callable[[Any, TableSpec, Sequence[Sequence[Any]], str, str], int]
