"""Numbered DDL files of a warehouse package (`<package>/sql/001_tables.sql`, ...), whatever
the warehouse: each warehouse's `schema` module applies them in order, once each, and records
them in its SCHEMA_VERSION table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources


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
    return sorted(found, key=lambda m: m.version)
