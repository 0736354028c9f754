"""The MERGE every warehouse runs for window and alert rows (DESIGN §6), in the SQL that
Snowflake and BigQuery share: each warehouse supplies its source expressions and the
INGESTED_AT expression."""

from __future__ import annotations

from typing import Sequence

from .tables import TableSpec


def source_names(spec: TableSpec) -> list[str]:
    """The MERGE source's columns: the table's fields upper-cased, then the Kafka position."""
    return [f.upper() for f in spec.fields] + ["KAFKA_PARTITION", "KAFKA_OFFSET"]


def merge_sql(spec: TableSpec, source_exprs: Sequence[str], source_from: str, ingested: str) -> str:
    """MERGE from a de-duplicated source: the latest record (highest offset) per natural key.

    A source may hold several partitions' rows (`MergeSink.together`); a key is written to one
    partition, so the partition only breaks ties, to keep the choice deterministic.

    `source_exprs` are SQL expressions for spec.fields then partition then offset, in order.
    A matched row is only replaced by a record from a later offset, so a replay after a crash
    never regresses a row to an older version. Columns are listed explicitly on both sides
    (BigQuery's `INSERT ROW` shorthand is not used).
    """
    names = source_names(spec)
    by_name = dict(zip(names, source_exprs))
    select = ", ".join(f"{expr} AS {name}" for name, expr in by_name.items())
    keys = ", ".join(by_name[k.upper()] for k in spec.key)
    source = (f"SELECT * FROM (SELECT {select}, {ingested} AS INGESTED_AT, "
              f"ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {by_name['KAFKA_OFFSET']} DESC, "
              f"{by_name['KAFKA_PARTITION']} DESC) AS RN_ "
              f"FROM {source_from}) WHERE RN_ = 1")
    on = " AND ".join(f"T.{k.upper()} = S.{k.upper()}" for k in spec.key)
    columns = names + ["INGESTED_AT"]
    update = ", ".join(f"{c} = S.{c}" for c in columns if c not in {k.upper() for k in spec.key})
    return (
        f"MERGE INTO {spec.table} T USING ({source}) S ON {on} "
        f"WHEN MATCHED AND (T.KAFKA_OFFSET IS NULL OR S.KAFKA_PARTITION <> T.KAFKA_PARTITION "
        f"OR S.KAFKA_OFFSET > T.KAFKA_OFFSET) THEN UPDATE SET {update} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) VALUES ({', '.join('S.' + c for c in columns)})"
    )
