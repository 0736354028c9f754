"""Versioned, idempotent schema bootstrap and raw retention on BigQuery (DESIGN §6).

The numbered files in `sinks/bigquery/sql/` are applied in order, each once, and recorded in
SCHEMA_VERSION, as on Snowflake (`sinks.migrations`). Every statement is idempotent (`IF NOT
EXISTS`, `CREATE OR REPLACE VIEW`), so two workers bootstrapping at once, or a crash half-way
through a file, are harmless. Concurrent DDL can fail with a transient error: retried.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from google.cloud import bigquery

from ..migrations import Migration, apply, with_retries
from ..migrations import migrations as package_migrations
from .errors import is_transient
from .load import STAGE_LIFETIME, STAGE_PREFIX, drop_stage, run

_VERSION_TABLE = ("CREATE TABLE IF NOT EXISTS SCHEMA_VERSION "
                  "(VERSION INT64 NOT NULL, NAME STRING, APPLIED_AT TIMESTAMP)")


def migrations() -> list[Migration]:
    return package_migrations(__package__)


def applied_versions(cur: Any) -> set[int]:
    run(cur, _VERSION_TABLE)
    return {int(row[0]) for row in run(cur, "SELECT VERSION FROM SCHEMA_VERSION").result()}


def bootstrap(conn: Any, attempts: int = 5) -> list[int]:
    """Apply the migrations this dataset lacks; returns the versions applied now."""
    return with_retries(lambda: _bootstrap_once(conn.cursor()), is_transient, attempts)


def _bootstrap_once(cur: Any) -> list[int]:
    def record(migration: Migration) -> None:
        run(cur, "INSERT INTO SCHEMA_VERSION (VERSION, NAME, APPLIED_AT) "
                 "SELECT @version, @name, CURRENT_TIMESTAMP() "
                 "FROM UNNEST([1]) WHERE NOT EXISTS (SELECT 1 FROM SCHEMA_VERSION WHERE VERSION = @version)",
            [bigquery.ScalarQueryParameter("version", "INT64", migration.version),
             bigquery.ScalarQueryParameter("name", "STRING", migration.name)])

    return apply(migrations(), applied_versions(cur), lambda statement: run(cur, statement), record)


def current_version(conn: Any) -> int:
    versions = applied_versions(conn.cursor())
    return max(versions) if versions else 0


def prune(conn: Any, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete STREAM_LOGS rows captured before `now - older_than`; returns the count.

    STREAM_LOGS is partitioned by day of CAPTURED_AT, so BigQuery drops whole partitions
    older than the cut-off without scanning them. The offset marks in SINK_OFFSETS stay, so
    pruned rows are never re-loaded; only the superseded ones are folded away.
    """
    now = now or datetime.now(timezone.utc)
    cutoff = (now - older_than).astimezone(timezone.utc)
    cur = conn.cursor()
    run(cur, "DELETE FROM SINK_OFFSETS O WHERE EXISTS (SELECT 1 FROM SINK_OFFSETS M WHERE M.SINK = O.SINK "
             "AND M.KAFKA_TOPIC = O.KAFKA_TOPIC AND M.KAFKA_PARTITION = O.KAFKA_PARTITION "
             "AND M.KAFKA_OFFSET > O.KAFKA_OFFSET)")
    job = run(cur, "DELETE FROM STREAM_LOGS WHERE CAPTURED_AT < @cutoff",
              [bigquery.ScalarQueryParameter("cutoff", "TIMESTAMP", cutoff)])
    drop_stale_stages(cur, now)
    return int(job.num_dml_affected_rows or 0)


def drop_stale_stages(cur: Any, now: datetime) -> list[str]:
    """Drop staging tables a killed worker left behind, once older than their lifetime.

    BigQuery expires them by itself (`expires`); the emulator ignores table expiry.
    """
    dropped = []
    for table in cur.client.list_tables(cur.dataset, timeout=cur.timeout, retry=cur.retry):
        created = table.created
        if table.table_id.startswith(STAGE_PREFIX) and created is not None and now - created > STAGE_LIFETIME:
            drop_stage(cur, table.table_id)
            dropped.append(table.table_id)
    return dropped
