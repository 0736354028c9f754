"""Getting rows into Snowflake: the two loading methods and the SQL they run
(`write_raw` and `merge` are Snowflake's `Warehouse.write_raw` and `.merge`).

- `copy`: the batch becomes one NDJSON file, `PUT` into the internal stage `SINK_STAGE`
  under a fresh load id, `COPY INTO SINK_LOAD` (one VARIANT per line), then one set-based
  INSERT ... SELECT or MERGE from `SINK_LOAD` into the target, then the load's rows are deleted.
- `insert`: bound multi-row `VALUES` lists, at most 16,384 rows and about 1 MB per statement
  (real Snowflake's limits), `PARSE_JSON` applied in the SELECT over the VALUES (never inside
  them), pyformat binds (client-side; no qmark binds in INSERT ... SELECT).

Values are always bound or staged, never formatted into SQL; only identifiers from our own
table specs and generated load ids appear in the text.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

import orjson

from pulse.errors import first_line

from .. import upsert
from ..tables import Kind, TableSpec

log = logging.getLogger(__name__)

MAX_VALUES_ROWS = 16_384
MAX_STATEMENT_BYTES = 900_000  # under Snowflake's ~1 MB statement limit, leaving room for the SQL
STAGE = "SINK_STAGE"
LANDING = "SINK_LOAD"
# the tables' column kinds (sinks.tables) as Snowflake types
SQL_TYPES = {Kind.TIMESTAMP: "TIMESTAMP_NTZ", Kind.STRING: "VARCHAR", Kind.FLOAT: "DOUBLE", Kind.INT: "BIGINT",
             Kind.BOOL: "BOOLEAN"}


def now_ntz() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


def new_load_id() -> str:
    return uuid.uuid4().hex


def chunks(rows: Sequence[Sequence[Any]], max_rows: int = MAX_VALUES_ROWS,
           max_bytes: int = MAX_STATEMENT_BYTES) -> Iterator[Sequence[Sequence[Any]]]:
    """Split rows so each VALUES list stays within the row and statement-size limits."""
    start, size = 0, 0
    for i, row in enumerate(rows):
        row_bytes = 8 + sum(len(v) if isinstance(v, (str, bytes)) else 24 for v in row)
        if i > start and (i - start >= max_rows or size + row_bytes > max_bytes):
            yield rows[start:i]
            start, size = i, 0
        size += row_bytes
    if start < len(rows):
        yield rows[start:]


def values_list(n_rows: int, n_cols: int) -> str:
    row = "(" + ", ".join(["%s"] * n_cols) + ")"
    return ", ".join([row] * n_rows)


def stage_lines(cur: Any, load_id: str, lines: Iterable[bytes], workdir: str) -> None:
    """PUT the NDJSON lines into the stage and COPY them into the landing table."""
    path = os.path.join(workdir, f"{load_id}.json")
    with open(path, "wb") as handle:
        handle.writelines(lines)
    try:
        cur.execute(f"PUT 'file://{path}' @{STAGE}/{load_id} AUTO_COMPRESS=FALSE")
    finally:
        os.unlink(path)
    cur.execute(f"COPY INTO {LANDING} FROM @{STAGE}/{load_id}/ FILE_FORMAT=(TYPE=JSON) PURGE=TRUE")


def clear_landing(cur: Any, load_id: str) -> None:
    cur.execute(f"DELETE FROM {LANDING} WHERE V:load_id::VARCHAR = %s", (load_id,))


# --- STREAM_LOGS ---------------------------------------------------------------------------

_RAW_COLUMNS = "RAW_DATA, CAPTURED_AT, KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, CHUNK_INDEX, INGESTED_AT"
_MARK = ("COALESCE((SELECT MAX(KAFKA_OFFSET) FROM SINK_OFFSETS "
         "WHERE SINK = %s AND KAFKA_TOPIC = %s AND KAFKA_PARTITION = %s), -1)")


def raw_line(load_id: str, offset: int, index: int, captured: str, raw: bytes) -> bytes:
    """One staged line: the v1 event embedded verbatim as `raw_data` (a JSON object we encoded)."""
    return (b'{"load_id":"%s","kafka_offset":%d,"chunk_index":%d,"captured_at":"%s","raw_data":%s}\n'
            % (load_id.encode(), offset, index, captured.encode(), raw))


def insert_raw_from_landing(cur: Any, sink: str, topic: str, partition: int, load_id: str) -> int:
    cur.execute(
        f"INSERT INTO STREAM_LOGS ({_RAW_COLUMNS}) "
        f"SELECT V:raw_data, V:captured_at::TIMESTAMP_NTZ, %s, %s, V:kafka_offset::BIGINT, V:chunk_index::INTEGER, "
        f"%s::TIMESTAMP_NTZ FROM {LANDING} WHERE V:load_id::VARCHAR = %s AND V:kafka_offset::BIGINT > {_MARK}",
        (topic, partition, now_ntz(), load_id, sink, topic, partition),
    )
    return _count(cur)


def insert_raw_values(cur: Any, sink: str, topic: str, partition: int,
                      rows: Sequence[tuple[str, str, int, int]]) -> int:
    """rows: (raw JSON text, captured_at NTZ text, offset, index in the chunk), one INSERT per slice."""
    written = 0
    ingested = now_ntz()
    for part in chunks(rows):
        params: list[Any] = [topic, partition, ingested]
        for row in part:
            params.extend(row)
        params.extend((sink, topic, partition))
        cur.execute(
            f"INSERT INTO STREAM_LOGS ({_RAW_COLUMNS}) "
            f"SELECT PARSE_JSON(column1), column2::TIMESTAMP_NTZ, %s, %s, column3, column4, %s::TIMESTAMP_NTZ "
            f"FROM VALUES {values_list(len(part), 4)} WHERE column3 > {_MARK}",
            params,
        )
        written += _count(cur)
    return written


def advance_mark(cur: Any, sink: str, topic: str, partition: int, offset: int) -> None:
    """Record the partition's new high-water mark in the same transaction as the rows.

    Insert-only (the mark is the MAX, see `_MARK`): an UPDATE of one shared row would conflict
    with a transaction a killed worker left open, and block its successor until that session
    expires. `schema.prune` folds old marks together.
    """
    cur.execute(
        "INSERT INTO SINK_OFFSETS (SINK, KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, UPDATED_AT) "
        "SELECT %s, %s, %s, %s, %s::TIMESTAMP_NTZ",
        (sink, topic, partition, offset, now_ntz()),
    )


# --- MERGE targets (windows, alerts) ---------------------------------------------------------

def merge_sql(spec: TableSpec, source_exprs: Sequence[str], source_from: str) -> str:
    """The shared MERGE (`sinks.upsert`), INGESTED_AT bound as the first parameter."""
    return upsert.merge_sql(spec, source_exprs, source_from, "%s::TIMESTAMP_NTZ")


def merge_from_landing(cur: Any, spec: TableSpec, load_id: str) -> int:
    exprs = [f"V:{c.field}::{SQL_TYPES[c.kind]}" for c in spec.columns] + ["V:kafka_partition::INTEGER",
                                                                            "V:kafka_offset::BIGINT"]
    sql = merge_sql(spec, exprs, f"{LANDING} WHERE V:load_id::VARCHAR = %s")
    cur.execute(sql, (now_ntz(), load_id))
    return _merge_count(cur)


def merge_values(cur: Any, spec: TableSpec, rows: Sequence[Sequence[Any]]) -> int:
    """rows: spec.fields values (timestamps as NTZ text) then partition then offset."""
    n = len(spec.columns) + 2
    exprs = [f"column{i + 1}::{SQL_TYPES[c.kind]}" for i, c in enumerate(spec.columns)]
    exprs += [f"column{n - 1}::INTEGER", f"column{n}::BIGINT"]
    written = 0
    for part in chunks(rows):
        params: list[Any] = [now_ntz()]
        for row in part:
            params.extend(row)
        cur.execute(merge_sql(spec, exprs, f"VALUES {values_list(len(part), n)}"), params)
        written += _merge_count(cur)
    return written


def _count(cur: Any) -> int:
    row = cur.fetchone()
    if row and row[0] is not None:
        return int(row[0])
    return max(int(cur.rowcount or 0), 0)


def _merge_count(cur: Any) -> int:
    row = cur.fetchone()
    return sum(int(v or 0) for v in row) if row else max(int(cur.rowcount or 0), 0)


# --- the batch, as the sinks hand it over ------------------------------------------------------

def write_raw(cur: Any, sink: str, topic: str, partition: int, rows: Sequence[tuple[bytes, str, int, int]],
              last: int, method: str, workdir: str) -> int:
    """The rows above the partition's offset mark, and the new mark `last`, in one transaction."""
    if method == "copy" and rows:
        load_id = new_load_id()
        stage_lines(cur, load_id, (raw_line(load_id, o, i, c, r) for r, c, o, i in rows), workdir)
        try:
            cur.execute("BEGIN")
            written = insert_raw_from_landing(cur, sink, topic, partition, load_id)
            advance_mark(cur, sink, topic, partition, last)
            clear_landing(cur, load_id)
            cur.execute("COMMIT")
        except Exception:
            rollback(cur)
            _quietly(clear_landing, cur, load_id)
            raise
        return written
    cur.execute("BEGIN")
    written = insert_raw_values(cur, sink, topic, partition, [(r.decode(), c, o, i) for r, c, o, i in rows])
    advance_mark(cur, sink, topic, partition, last)
    cur.execute("COMMIT")
    return written


def merge(cur: Any, spec: TableSpec, rows: Sequence[Sequence[Any]], method: str, workdir: str) -> int:
    """rows: spec.fields values (timestamps as UTC text) then partition then offset."""
    if method != "copy":
        return merge_values(cur, spec, rows)
    load_id = new_load_id()
    names = ("load_id", *spec.fields, "kafka_partition", "kafka_offset")
    lines = (orjson.dumps(dict(zip(names, (load_id, *row)))) + b"\n" for row in rows)
    stage_lines(cur, load_id, lines, workdir)
    try:
        return merge_from_landing(cur, spec, load_id)
    finally:
        _quietly(clear_landing, cur, load_id)


def rollback(cur: Any) -> None:
    try:
        cur.execute("ROLLBACK")
    except Exception:
        pass


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # the landing rows are only garbage: never mask the real error
        log.debug("cleanup failed: %s", first_line(exc))
