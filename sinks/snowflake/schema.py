"""Versioned, idempotent schema bootstrap and raw retention on Snowflake (DESIGN §6).

Numbered files in `sinks/snowflake/sql/` (`001_tables.sql`, `002_views.sql`, ...) are applied in order,
each once, and recorded in `SCHEMA_VERSION`. Every statement is itself idempotent
(`IF NOT EXISTS`, `CREATE OR REPLACE VIEW`), so two workers bootstrapping at the same time,
or a crash half-way through a file, are harmless: the next run finishes the job.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..migrations import Migration, apply, with_retries
from ..migrations import migrations as package_migrations
from .errors import is_transient


def migrations() -> list[Migration]:
    return package_migrations(__package__)


def applied_versions(cur: Any) -> set[int]:
    cur.execute("CREATE TABLE IF NOT EXISTS SCHEMA_VERSION "
                "(VERSION INTEGER NOT NULL, NAME VARCHAR, APPLIED_AT TIMESTAMP_NTZ)")
    cur.execute("SELECT VERSION FROM SCHEMA_VERSION")
    return {int(row[0]) for row in cur.fetchall()}


def bootstrap(conn: Any, attempts: int = 5) -> list[int]:
    """Apply the migrations this schema lacks; returns the versions applied now.

    Concurrent DDL from another worker can fail with a transient conflict: retried.
    """
    return with_retries(lambda: _bootstrap_once(conn), is_transient, attempts)


def _bootstrap_once(conn: Any) -> list[int]:
    cur = conn.cursor()

    def record(migration: Migration) -> None:
        now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
        cur.execute(
            "INSERT INTO SCHEMA_VERSION (VERSION, NAME, APPLIED_AT) SELECT %s, %s, %s::TIMESTAMP_NTZ "
            "WHERE NOT EXISTS (SELECT 1 FROM SCHEMA_VERSION WHERE VERSION = %s)",
            (migration.version, migration.name, now, migration.version),
        )

    return apply(migrations(), applied_versions(cur), cur.execute, record)


def current_version(conn: Any) -> int:
    versions = applied_versions(conn.cursor())
    return max(versions) if versions else 0


def prune(conn: Any, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete STREAM_LOGS rows captured before `now - older_than`; returns the count.

    The offset marks in SINK_OFFSETS stay, so pruned rows are never re-loaded; only the
    superseded ones (below each partition's highest mark) are folded away.
    """
    now = now or datetime.now(timezone.utc)
    cutoff = (now - older_than).astimezone(timezone.utc).replace(tzinfo=None)
    cur = conn.cursor()
    cur.execute("DELETE FROM SINK_OFFSETS o WHERE KAFKA_OFFSET < (SELECT MAX(m.KAFKA_OFFSET) FROM SINK_OFFSETS m "
                "WHERE m.SINK = o.SINK AND m.KAFKA_TOPIC = o.KAFKA_TOPIC AND m.KAFKA_PARTITION = o.KAFKA_PARTITION)")
    cur.execute("DELETE FROM STREAM_LOGS WHERE CAPTURED_AT < %s::TIMESTAMP_NTZ",
                (cutoff.isoformat(sep=" ", timespec="milliseconds"),))
    row = cur.fetchone()
    return int(row[0]) if row and row[0] is not None else int(cur.rowcount or 0)
