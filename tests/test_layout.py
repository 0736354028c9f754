"""The package layout's rules, read from every module's imports (ast, so imports inside
functions count too): `pulse/` is the shared base and imports none of the areas; the three
worker areas (producers, processors, sinks) never import each other."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
AREAS = ("producers", "processors", "sinks", "devstack", "dashboard", "analytics")
WORKER_AREAS = ("producers", "processors", "sinks")


class Import(NamedTuple):
    path: Path
    line: int
    package: str  # the top-level package imported


def imports(path: Path, package: str) -> Iterator[Import]:
    """The top-level package of every import in the file of `package`, at any depth
    (relative imports stay in `package`)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            yield Import(path, node.lineno, package if node.level else (node.module or "").split(".")[0])


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def package_imports(package: str) -> list[Import]:
    return [found for path in modules(package) for found in imports(path, package)]


def _where(found: list[Import]) -> list[str]:
    return [f"{i.path.relative_to(ROOT)}:{i.line} imports {i.package}" for i in found]


def test_every_package_has_modules() -> None:
    for package in ("pulse", *AREAS):
        assert modules(package), package


def test_shared_package_imports_no_area() -> None:
    upward = [i for i in package_imports("pulse") if i.package in AREAS]
    assert not upward, "pulse/ must not import an area:\n" + "\n".join(_where(upward))


def test_worker_areas_do_not_import_each_other() -> None:
    across = [i for area in WORKER_AREAS for i in package_imports(area) if i.package in WORKER_AREAS and i.package != area]
    assert not across, "producers/, processors/ and sinks/ must not import each other:\n" + "\n".join(_where(across))


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os.path\n\ndef f():\n    from devstack import cli\n    from .settings import Settings\n")
    assert [(i.line, i.package) for i in imports(probe, "pulse")] == [(1, "os"), (4, "devstack"), (5, "pulse")]
