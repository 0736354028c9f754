"""What a warehouse gives the sinks, `bootstrap`, `prune` and the probe: the `Warehouse`
protocol, named and typed methods. The sinks themselves (`sinks.base`, `sinks.writers`) know
only this protocol, so a second warehouse is a second package under `sinks/` with a class
that implements it (Snowflake's is `sinks.snowflake.Snowflake`); `sinks.worker` picks one
by the WAREHOUSE setting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol, Sequence

from pulse.settings import Settings

from .tables import TableSpec

# A raw row: (v1 event JSON, captured_at as UTC text, Kafka offset, index in the chunk)
RawRow = tuple[bytes, str, int, int]
# A table row: the spec's field values (timestamps as UTC text), then Kafka partition and offset
TableRow = Sequence[Any]


class Warehouse(Protocol):
    """A warehouse's connection, schema tools, error classes and load methods."""

    name: str

    def connect(self, settings: Settings, with_schema: bool = True) -> Any:
        """An open DB-API connection, database and schema selected (or not, to create them)."""

    def bootstrap(self, conn: Any) -> list[int]:
        """Apply the numbered migrations this schema lacks (idempotent); the versions applied now."""

    def current_version(self, conn: Any) -> int:
        """The schema's newest applied migration."""

    def prune(self, conn: Any, older_than: timedelta) -> int:
        """Delete raw rows captured before now - `older_than`; how many."""

    def is_transient(self, error: BaseException) -> bool:
        """Will the same batch be accepted later (an outage, a conflict)? Else it is permanent."""

    def lost_session(self, error: BaseException) -> bool:
        """The warehouse answered but forgot the session: log in again at once."""

    def rollback(self, cur: Any) -> None:
        """Undo the open transaction, never raising."""

    def write_raw(self, cur: Any, sink: str, topic: str, partition: int, rows: Sequence[RawRow], last: int,
                  method: str, workdir: str) -> int:
        """The rows above the partition's offset mark, and `last` as the new mark, in one
        transaction; the rows written."""

    def merge(self, cur: Any, spec: TableSpec, rows: Sequence[TableRow], method: str, workdir: str) -> int:
        """Upsert on `spec.key`, a row replaced only by one from a later offset; the rows written."""
