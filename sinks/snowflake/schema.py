"""Versioned, idempotent schema bootstrap and raw retention on Snowflake (DESIGN §6).

Numbered files in `sinks/snowflake/sql/` (`001_tables.sql`, `002_views.sql`, ...) are applied in order,
each once, and recorded in `SCHEMA_VERSION`. Every statement is itself idempotent
(`IF NOT EXISTS`, `CREATE OR REPLACE VIEW`), so two workers bootstrapping at the same time,
or a crash half-way through a file, are harmless: the next run finishes the job.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

from .errors import is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> list[str]:
    """Split a migration file on `;` at line ends; `--` comment lines are dropped."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).joinpath("sql").iterdir():
        match = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), tuple(split_statements(entry.read_text()))))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migrations share a version number in {__package__}.sql: {sorted(versions)}")
    return sorted(found, key=lambda m: m.version)


def applied_versions(cur: Any) -> set[int]:
    cur.execute("CREATE TABLE IF NOT EXISTS SCHEMA_VERSION "
                "(VERSION INTEGER NOT NULL, NAME VARCHAR, APPLIED_AT TIMESTAMP_NTZ)")
    cur.execute("SELECT VERSION FROM SCHEMA_VERSION")
    return {int(row[0]) for row in cur.fetchall()}


def bootstrap(conn: Any, attempts: int = 5) -> list[int]:
    """Apply the migrations this schema lacks; returns the versions applied now.

    Concurrent DDL from another worker can fail with a transient conflict: retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            return _bootstrap_once(conn)
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.warning("schema bootstrap: %s; retrying", str(exc).splitlines()[0])
            time.sleep(0.5 * attempt)
    return []


def _bootstrap_once(conn: Any) -> list[int]:
    cur = conn.cursor()
    done = applied_versions(cur)
    applied = []
    for migration in migrations():
        if migration.version in done:
            continue
        for statement in migration.statements:
            cur.execute(statement)
        now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
        cur.execute(
            "INSERT INTO SCHEMA_VERSION (VERSION, NAME, APPLIED_AT) SELECT %s, %s, %s::TIMESTAMP_NTZ "
            "WHERE NOT EXISTS (SELECT 1 FROM SCHEMA_VERSION WHERE VERSION = %s)",
            (migration.version, migration.name, now, migration.version),
        )
        applied.append(migration.version)
        log.info("schema: applied %03d_%s", migration.version, migration.name)
    return applied


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
