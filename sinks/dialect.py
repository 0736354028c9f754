"""Queries written once, in Snowflake SQL with pyformat binds (`%(name)s`), and run on either
warehouse: `sql(text, warehouse)` hands Snowflake the text as it is and transpiles it for
BigQuery with sqlglot (cached), e.g. `DATE_TRUNC('hour', t)` -> `TIMESTAMP_TRUNC(t, HOUR)`,
`DATEADD('second', ...)` -> `TIMESTAMP_ADD(..., INTERVAL ... SECOND)`, `ILIKE`, `QUALIFY` kept.
Binds stay `%(name)s` (or positional `%s`), which google-cloud-bigquery's DB-API turns into
query parameters.

Snowflake's TIMESTAMP_NTZ becomes BigQuery's TIMESTAMP (the UTC instants the sinks write),
not DATETIME. What sqlglot cannot carry over is kept per dialect by the caller: semi-structured
paths into RAW_DATA (`RAW_DATA:x::VARCHAR` must be `JSON_VALUE(RAW_DATA, '$.x')` on a JSON
column), which is why the views (STG_TWITCH_STREAMS) do that work on each side.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

_PYFORMAT = re.compile(r"%\((\w+)\)s")
_AT_PARAM = re.compile(r"@(\w+)")
_POSITIONAL = re.compile(r"%s")  # the dashboard's format binds: `?` for sqlglot, `%s` again after
_SUB_DAY = {"SECOND", "MINUTE", "HOUR", "MILLISECOND", "MICROSECOND"}


def _ntz_is_timestamp(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.TIMESTAMPNTZ:
        return exp.DataType.build("TIMESTAMPTZ")  # BigQuery's TIMESTAMP
    return node


def _timestamp_arithmetic(tree: exp.Expression) -> exp.Expression:
    """DATEDIFF/DATEADD in seconds, minutes or hours work on timestamps (ours are all TIMESTAMP
    on BigQuery): TIMESTAMP_DIFF/TIMESTAMP_ADD there, as DATE_DIFF/DATE_ADD take dates.
    Innermost first, so a DATEDIFF inside a DATEADD is replaced too."""
    for node in reversed(list(tree.find_all(exp.DateDiff, exp.DateAdd))):
        unit = node.args.get("unit")
        if unit is None or unit.name.upper() not in _SUB_DAY:
            continue
        kind = exp.TimestampDiff if isinstance(node, exp.DateDiff) else exp.TimestampAdd
        replaced = kind(this=node.this, expression=node.expression, unit=unit)
        if node is tree:
            return replaced
        node.replace(replaced)
    return tree


@lru_cache(maxsize=512)
def to_bigquery(text: str) -> str:
    """Snowflake SQL with %(name)s or %s binds -> GoogleSQL with the same binds."""
    named = _PYFORMAT.sub(r":\1", text)
    parsed = sqlglot.parse_one(_POSITIONAL.sub("?", named), read="snowflake")
    out = _timestamp_arithmetic(parsed.transform(_ntz_is_timestamp)).sql(dialect="bigquery")
    out = _AT_PARAM.sub(r"%(\1)s", out)
    return out.replace("?", "%s") if _POSITIONAL.search(named) else out


def sql(text: str, warehouse: str) -> str:
    """`text` (Snowflake SQL) for `warehouse` ("snowflake" or "bigquery")."""
    return to_bigquery(text) if warehouse == "bigquery" else text
