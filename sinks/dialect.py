"""Queries written once, in Snowflake SQL with pyformat binds (`%(name)s`), and run on either
warehouse: `sql(text, warehouse)` hands Snowflake the text as it is and transpiles it for
BigQuery with sqlglot (cached), e.g. `DATE_TRUNC('hour', t)` -> `TIMESTAMP_TRUNC(t, HOUR)`,
`DATEADD` -> `DATE_ADD(..., INTERVAL ...)`, `ILIKE`, `QUALIFY` kept. Binds stay `%(name)s`, which
google-cloud-bigquery's DB-API turns into query parameters.

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


def _ntz_is_timestamp(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.TIMESTAMPNTZ:
        return exp.DataType.build("TIMESTAMPTZ")  # BigQuery's TIMESTAMP
    return node


@lru_cache(maxsize=512)
def to_bigquery(text: str) -> str:
    """Snowflake SQL with %(name)s binds -> GoogleSQL with the same binds."""
    parsed = sqlglot.parse_one(_PYFORMAT.sub(r":\1", text), read="snowflake")
    out = parsed.transform(_ntz_is_timestamp).sql(dialect="bigquery")
    return _AT_PARAM.sub(r"%(\1)s", out)


def sql(text: str, warehouse: str) -> str:
    """`text` (Snowflake SQL) for `warehouse` ("snowflake" or "bigquery")."""
    return to_bigquery(text) if warehouse == "bigquery" else text
