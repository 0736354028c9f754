"""Numbered DDL files of a warehouse package (`<package>/sql/001_tables.sql`, ...), whatever
the warehouse: each warehouse's `schema` module applies them in order, once each, and records
them in its SCHEMA_VERSION table."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

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


def migrations(package: str) -> list[Migration]:
    """The package's `sql/NNN_name.sql` files, in version order."""
    found = []
    for entry in resources.files(package).joinpath("sql").iterdir():
        match = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), tuple(split_statements(entry.read_text()))))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migrations share a version number in {package}.sql: {sorted(versions)}")
    return sorted(found, key=lambda m: m.version)


def apply(found: list[Migration], done: set[int], execute: Callable[[str], Any],
          record: Callable[[Migration], Any]) -> list[int]:
    """Run each migration not in `done`, statement by statement, then `record` it; returns
    the versions applied now. Every statement is idempotent, so a crash half-way is harmless."""
    applied = []
    for migration in found:
        if migration.version in done:
            continue
        for statement in migration.statements:
            execute(statement)
        record(migration)
        applied.append(migration.version)
        log.info("schema: applied %03d_%s", migration.version, migration.name)
    return applied


def with_retries(once: Callable[[], list[int]], is_transient: Callable[[BaseException], bool],
                 attempts: int = 5) -> list[int]:
    """`once()`, again after a transient error (concurrent DDL from another worker)."""
    for attempt in range(1, attempts + 1):
        try:
            return once()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.warning("schema bootstrap: %s; retrying", str(exc).splitlines()[0])
            time.sleep(0.5 * attempt)
    return []
