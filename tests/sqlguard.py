"""Test-side guard: fail any statement real Snowflake would reject, even when fakesnow accepts it.

Installed by wrapping `SnowflakeCursor.execute` (in the test process through the `sql_guard`
fixture, in worker subprocesses through `install()` before the CLI runs). Rules:
- at most 16,384 rows in one VALUES list;
- at most ~1 MB per statement once the bound values are interpolated;
- no PARSE_JSON (or other semi-structured constructors) inside a VALUES list;
- no qmark/numeric binds in INSERT ... SELECT;
- a MERGE's source holds each natural key (the ON clause's S.columns) at most once:
  checked by running the source with the same binds and grouping on those columns.

`PULSE_TEST_CRASH_AFTER="COMMIT:3"` (or `MERGE:2`) additionally SIGKILLs the process right
after the n-th successful statement of that kind: a crash between the warehouse commit and
the Kafka commit, placed deterministically.
"""

from __future__ import annotations

import os
import re
import signal
from typing import Any, Iterator, Optional

MAX_VALUES_ROWS = 16_384
MAX_STATEMENT_BYTES = 1_000_000
_FORBIDDEN_IN_VALUES = re.compile(r"\b(PARSE_JSON|TRY_PARSE_JSON|TO_VARIANT|OBJECT_CONSTRUCT|ARRAY_CONSTRUCT|PARSE_XML)\s*\(",
                                  re.IGNORECASE)
_QMARK = re.compile(r"\?|:\d+\b")


class GuardViolation(AssertionError):
    """A statement that would fail (or misbehave) on real Snowflake."""


violations: list[str] = []


def _skip_string(sql: str, i: int) -> int:
    quote = sql[i]
    i += 1
    while i < len(sql):
        if sql[i] == "\\":
            i += 2
            continue
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return i


def _balanced(sql: str, i: int) -> int:
    """Index just past the parenthesis group starting at sql[i] == '('."""
    depth = 0
    while i < len(sql):
        c = sql[i]
        if c in "'\"":
            i = _skip_string(sql, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _unquoted(sql: str) -> str:
    out, i = [], 0
    while i < len(sql):
        if sql[i] in "'\"":
            j = _skip_string(sql, i)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(sql[i])
            i += 1
    return "".join(out)


def values_lists(sql: str) -> Iterator[list[str]]:
    """Each VALUES list in the statement, as its tuples' text."""
    plain = _unquoted(sql)
    for match in re.finditer(r"\bVALUES\b", plain, re.IGNORECASE):
        i = match.end()
        tuples = []
        while True:
            while i < len(sql) and sql[i].isspace():
                i += 1
            if i >= len(sql) or sql[i] != "(":
                break
            end = _balanced(sql, i)
            tuples.append(sql[i:end])
            i = end
            while i < len(sql) and sql[i].isspace():
                i += 1
            if i < len(sql) and sql[i] == ",":
                i += 1
                continue
            break
        if tuples:
            yield tuples


def rendered_size(sql: str, params: Any) -> int:
    size = len(sql.encode())
    if isinstance(params, dict):
        params = list(params.values())
    for value in params or ():
        size += len(str(value).encode()) + 2
    return size


def check_static(sql: str, params: Any = None, paramstyle: str = "pyformat") -> None:
    """The rules that need no warehouse round trip."""
    for tuples in values_lists(sql):
        if len(tuples) > MAX_VALUES_ROWS:
            raise GuardViolation(f"VALUES list of {len(tuples)} rows (Snowflake allows {MAX_VALUES_ROWS})")
        for item in tuples:
            if _FORBIDDEN_IN_VALUES.search(_unquoted(item)):
                raise GuardViolation(f"semi-structured function inside VALUES (rejected by Snowflake): {item[:80]}")
    size = rendered_size(sql, params)
    if size > MAX_STATEMENT_BYTES:
        raise GuardViolation(f"statement of {size} bytes after binding (Snowflake's limit is about 1 MB)")
    plain = _unquoted(sql).strip().upper()
    if plain.startswith("INSERT") and re.search(r"\bSELECT\b", plain) and params:
        if paramstyle in ("qmark", "numeric") or _QMARK.search(_unquoted(sql)):
            raise GuardViolation("qmark/numeric binds in INSERT ... SELECT (Snowflake rejects server-side binds there)")


def merge_duplicate_check(sql: str) -> Optional[tuple[str, int, int, list[str]]]:
    """For a MERGE ... USING (source) S ON ...: (source sql, first/last bind index, key columns)."""
    plain = _unquoted(sql)
    match = re.match(r"\s*MERGE\s+INTO\s+\S+(\s+\w+)?\s+USING\s+\(", plain, re.IGNORECASE)
    if not match:
        return None
    start = match.end() - 1
    end = _balanced(sql, start)
    source = sql[start + 1:end - 1]
    rest = plain[end:]
    alias = re.match(r"\s*(?:AS\s+)?(\w+)\s+ON\s+(.*?)\s+WHEN\b", rest, re.IGNORECASE | re.DOTALL)
    if not alias:
        return None
    name, on = alias.group(1), alias.group(2)
    keys = re.findall(rf"\b{name}\.(\w+)", on, re.IGNORECASE)
    first = plain[:start].count("%s")
    count = plain[start:end].count("%s")
    return source, first, first + count, keys


def install() -> None:
    """Wrap the connector's cursor (idempotent)."""
    from snowflake.connector import cursor as sfcursor

    cls = sfcursor.SnowflakeCursor
    if getattr(cls.execute, "_pulse_guard", False):
        return
    original = cls.execute
    crash = os.environ.get("PULSE_TEST_CRASH_AFTER", "")
    crash_kind, _, crash_n = crash.partition(":")
    seen = {"n": 0}

    def execute(self, command, params=None, *args, **kwargs):
        try:
            paramstyle = getattr(self.connection, "_paramstyle", "pyformat")
            check_static(command, params, paramstyle)
            merge = merge_duplicate_check(command)
            if merge and merge[3]:
                source, lo, hi, keys = merge
                bind = list(params)[lo:hi] if isinstance(params, (list, tuple)) else None
                probe = self.connection.cursor()
                original(probe, f"SELECT COUNT(*) FROM (SELECT 1 FROM ({source}) Q GROUP BY "
                                f"{', '.join(keys)} HAVING COUNT(*) > 1) D", bind or None)
                dups = probe.fetchone()[0]
                probe.close()
                if dups:
                    raise GuardViolation(f"MERGE source has {dups} duplicated key(s) on {keys}")
        except GuardViolation as exc:
            violations.append(str(exc))
            raise
        result = original(self, command, params, *args, **kwargs)
        if crash_kind and command.lstrip().upper().startswith(crash_kind.upper()):
            seen["n"] += 1
            if seen["n"] >= int(crash_n or 1):
                os.kill(os.getpid(), signal.SIGKILL)
        return result

    execute._pulse_guard = True  # type: ignore[attr-defined]
    execute._original = original  # type: ignore[attr-defined]
    cls.execute = execute
    install_bigquery(crash_kind, int(crash_n or 1))


# BigQuery's limit on a query's text (https://cloud.google.com/bigquery/quotas#query_jobs)
BIGQUERY_MAX_QUERY_CHARS = 1_024_000


def install_bigquery(crash_kind: str, crash_n: int) -> None:
    """The same for google-cloud-bigquery: every query's text within BigQuery's limit, and
    `PULSE_TEST_CRASH_AFTER` SIGKILLs once the n-th matching job has finished: COMMIT counts
    scripts that commit a transaction, MERGE counts MERGE statements."""
    from google.cloud.bigquery import Client, QueryJob

    if getattr(Client.query, "_pulse_guard", False):
        return
    original_query, original_result = Client.query, QueryJob.result
    seen = {"n": 0}

    def query(self, sql, *args, **kwargs):
        if len(sql) > BIGQUERY_MAX_QUERY_CHARS:
            violations.append(f"query of {len(sql)} characters (BigQuery's limit is {BIGQUERY_MAX_QUERY_CHARS})")
            raise GuardViolation(violations[-1])
        return original_query(self, sql, *args, **kwargs)

    def result(self, *args, **kwargs):
        rows = original_result(self, *args, **kwargs)
        text = self.query.upper()
        if crash_kind and (crash_kind.upper() == "COMMIT" and "COMMIT TRANSACTION" in text
                           or text.lstrip().startswith(crash_kind.upper())):
            seen["n"] += 1
            if seen["n"] >= crash_n:
                os.kill(os.getpid(), signal.SIGKILL)
        return rows

    query._pulse_guard = True  # type: ignore[attr-defined]
    query._original = original_query  # type: ignore[attr-defined]
    result._original = original_result  # type: ignore[attr-defined]
    Client.query, QueryJob.result = query, result


def uninstall() -> None:
    from google.cloud.bigquery import Client, QueryJob
    from snowflake.connector import cursor as sfcursor

    cls = sfcursor.SnowflakeCursor
    original = getattr(cls.execute, "_original", None)
    if original is not None:
        cls.execute = original
    if getattr(Client.query, "_pulse_guard", False):
        Client.query = Client.query._original  # type: ignore[attr-defined]
        QueryJob.result = QueryJob.result._original  # type: ignore[attr-defined]
