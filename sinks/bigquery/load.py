"""Getting rows into BigQuery exactly once: stage, then one atomic statement or transaction.

1. **Stage.** The batch becomes NDJSON, loaded by a load job (a resumable upload) into a
   staging table of its own, `_PULSE_STAGE_<id>`, typed like the target and expiring after a
   day, so a crashed worker's leftovers go away by themselves. Load jobs cost nothing, are
   BigQuery's bulk path (130k rows/s into the emulator where streaming inserts fail), and a
   table of its own per batch keeps clear of the 1,500 load jobs per table per day.
2. **Commit.** Raw rows: one multi-statement transaction inserts the staged rows above the
   partition's mark in SINK_OFFSETS and records the new mark, so rows and mark commit
   together or not at all (a crash before the COMMIT loses nothing, Kafka replays; after it,
   the replay finds the mark and writes nothing). Window and alert rows: one MERGE, atomic by
   itself, on the natural key, a row replaced only by a later offset. The script carries its
   few values (group, topic, partition, offset) as literals made by `sinks.bigquery.literals`,
   because the emulator refuses parameters inside scripts; rows never become SQL text.
3. The staging table is dropped.

Bad rows: the load job skips a row BigQuery cannot read (`max_bad_records`) instead of failing
the batch; the skipped rows are counted (`records_skipped_total{reason="invalid"}`) and their
errors logged, the dead letters of this path. `output_rows` of the load says how many landed.
(The emulator reports neither per-row errors nor skips: the difference is in docs/bigquery.md.)
"""

from __future__ import annotations

import io
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

import orjson
from google.cloud import bigquery

from pulse.errors import first_line

from .. import metrics, upsert
from ..tables import STREAM_LOGS, Kind, TableSpec
from . import literals

log = logging.getLogger(__name__)

STAGE_PREFIX = "_PULSE_STAGE_"
STAGE_LIFETIME = timedelta(days=1)
# The upload's own retries (after 1, 2 and 4 s): google-cloud-bigquery's default of 6 retries
# sleeps 63 s before it gives up on a warehouse that is down, so the sink's write hung for a
# minute with nothing in its log; like the other calls' `retry` (connection.py), it now gives
# up within about the timeout and the sink backs off and writes the batch again.
UPLOAD_RETRIES = 3
# the tables' column kinds (sinks.tables) as BigQuery types
SQL_TYPES = {Kind.TIMESTAMP: "TIMESTAMP", Kind.STRING: "STRING", Kind.FLOAT: "FLOAT64", Kind.INT: "INT64",
             Kind.BOOL: "BOOL"}
RAW_STAGE_SCHEMA = (
    bigquery.SchemaField("R", "JSON"), bigquery.SchemaField("C", "TIMESTAMP"),
    bigquery.SchemaField("O", "INT64"), bigquery.SchemaField("I", "INT64"),
)


def stage_schema(spec: TableSpec) -> list[bigquery.SchemaField]:
    """A MERGE source's staging columns: the spec's, then KAFKA_PARTITION and KAFKA_OFFSET."""
    fields = [bigquery.SchemaField(column.name, SQL_TYPES[column.kind]) for column in spec.columns]
    return fields + [bigquery.SchemaField("KAFKA_PARTITION", "INT64"), bigquery.SchemaField("KAFKA_OFFSET", "INT64")]


def new_stage_name() -> str:
    return f"{STAGE_PREFIX}{uuid.uuid4().hex.upper()}"


def run(cur: Any, sql: str, params: Sequence[bigquery.ScalarQueryParameter] = ()) -> bigquery.QueryJob:
    """Run one query or script to its end; the job says what it did."""
    config = bigquery.QueryJobConfig(default_dataset=cur.dataset, query_parameters=list(params))
    job = cur.client.query(sql, job_config=config, timeout=cur.timeout, retry=cur.retry, job_retry=None)
    job.result(timeout=cur.timeout, retry=cur.retry)
    return job


def stage(cur: Any, table: str, schema: Sequence[bigquery.SchemaField], lines: Iterable[bytes],
          rows: int) -> int:
    """Load NDJSON lines into a new staging table; returns the rows that landed (bad ones skipped)."""
    target = bigquery.Table(f"{cur.dataset}.{literals.identifier(table)}", schema=list(schema))
    target.expires = datetime.now(timezone.utc) + STAGE_LIFETIME
    cur.client.create_table(target, timeout=cur.timeout, retry=cur.retry)
    config = bigquery.LoadJobConfig(schema=list(schema), source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                                    write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
                                    max_bad_records=rows)
    job = cur.client.load_table_from_file(io.BytesIO(b"".join(lines)), target, job_config=config,
                                          timeout=cur.timeout, num_retries=UPLOAD_RETRIES)
    job.result(timeout=cur.timeout, retry=cur.retry)
    loaded = int(job.output_rows if job.output_rows is not None else rows)
    if loaded < rows:
        details = "; ".join(str(e.get("message", e)) for e in (job.errors or [])[:3])
        log.warning("bigquery load %s: %d of %d rows unreadable, skipped: %s", table, rows - loaded, rows, details)
    return loaded


def drop_stage(cur: Any, table: str) -> None:
    try:
        cur.client.delete_table(f"{cur.dataset}.{table}", not_found_ok=True, timeout=cur.timeout, retry=cur.retry)
    except Exception as exc:  # it expires anyway: never mask the real outcome
        log.debug("dropping %s failed: %s", table, first_line(exc))


# --- STREAM_LOGS ---------------------------------------------------------------------------

def raw_line(offset: int, index: int, captured: str, raw: bytes) -> bytes:
    """One staged line: the v1 event embedded verbatim as `R` (a JSON object we encoded)."""
    return b'{"O":%d,"I":%d,"C":"%s","R":%s}\n' % (offset, index, captured.encode(), raw)


def raw_script(sink: str, topic: str, partition: int, last: int, table: str | None) -> str:
    """The transaction: staged rows above the mark into STREAM_LOGS, the new mark into
    SINK_OFFSETS, then the number of rows written. `table` None: no rows, only the mark."""
    s, t, p = literals.string(sink), literals.string(topic), literals.integer(partition)
    mark = (f"(SELECT COALESCE(MAX(KAFKA_OFFSET), -1) FROM SINK_OFFSETS "
            f"WHERE SINK = {s} AND KAFKA_TOPIC = {t} AND KAFKA_PARTITION = {p})")
    rows = ""
    if table is not None:
        stage_table = literals.identifier(table)
        rows = (f"SET written = (SELECT COUNT(*) FROM {stage_table} WHERE O > {mark});\n"
                f"INSERT INTO {STREAM_LOGS} (RAW_DATA, CAPTURED_AT, KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, "
                f"CHUNK_INDEX, INGESTED_AT)\n"
                f"SELECT R, C, {t}, {p}, O, I, CURRENT_TIMESTAMP() FROM {stage_table} WHERE O > {mark};\n")
    # insert-only marks (the mark is the MAX): no UPDATE of a shared row; prune folds old ones
    return ("DECLARE written INT64 DEFAULT 0;\nBEGIN TRANSACTION;\n" + rows +
            f"INSERT INTO SINK_OFFSETS (SINK, KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, UPDATED_AT) "
            f"VALUES ({s}, {t}, {p}, {literals.integer(last)}, CURRENT_TIMESTAMP());\n"
            "COMMIT TRANSACTION;\nSELECT written;")


def write_raw(cur: Any, sink: str, topic: str, partition: int, rows: Sequence[tuple[bytes, str, int, int]],
              last: int, method: str, workdir: str) -> int:
    """The rows above the partition's offset mark, and the new mark `last`, in one transaction."""
    table = new_stage_name() if rows else None
    try:
        if table is not None:
            loaded = stage(cur, table, RAW_STAGE_SCHEMA, (raw_line(o, i, c, r) for r, c, o, i in rows), len(rows))
            if loaded < len(rows):
                metrics.RECORDS_SKIPPED.labels(STREAM_LOGS, "invalid").inc(len(rows) - loaded)
        job = run(cur, raw_script(sink, topic, partition, last, table))
        return int(next(iter(job.result()))[0])
    finally:
        if table is not None:
            drop_stage(cur, table)


# --- MERGE targets (windows, alerts) ---------------------------------------------------------

def merge_line(names: Sequence[str], row: Sequence[Any]) -> bytes:
    """One staged row: `names` are the stage's columns (`upsert.source_names`), `row` their values."""
    return orjson.dumps(dict(zip(names, row))) + b"\n"


def merge(cur: Any, spec: TableSpec, rows: Sequence[Sequence[Any]], method: str, workdir: str) -> int:
    """rows: spec.fields values (timestamps as UTC text) then partition then offset."""
    table = new_stage_name()
    try:
        names = upsert.source_names(spec)
        loaded = stage(cur, table, stage_schema(spec), (merge_line(names, row) for row in rows), len(rows))
        if loaded < len(rows):
            metrics.RECORDS_SKIPPED.labels(spec.table, "invalid").inc(len(rows) - loaded)
        job = run(cur, upsert.merge_sql(spec, names, literals.identifier(table), "CURRENT_TIMESTAMP()"))
        return int(job.num_dml_affected_rows or 0)
    finally:
        drop_stage(cur, table)


def rollback(cur: Any) -> None:
    """Nothing to undo: a script whose statement fails rolls its transaction back itself, and
    a single MERGE is atomic."""
