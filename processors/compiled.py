"""Whether the processor's hot path runs compiled (mypyc, see setup.py) or interpreted.

An editable install compiles next to the sources (`processors/chunk_stage.cpython-*.so` beside
`chunk_stage.py`), and Python prefers the extension: after an edit, the old code would run
until the next `make install`. `stale()` finds those builds; the test suite refuses to run
on them and the processor says so when it starts.
"""

from __future__ import annotations

import ast
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pulse

import processors

PACKAGES = (Path(pulse.__file__).parent, Path(processors.__file__).parent)


def _builds() -> list[tuple[Path, Path]]:
    """(extension, source) pairs of every module compiled in a source tree (setup.py beside the
    packages). An installed wheel is left out: it writes each .py after its build."""
    pairs = []
    for folder in PACKAGES:
        if not (folder.parent / "setup.py").exists():
            continue
        for suffix in EXTENSION_SUFFIXES:
            for extension in folder.glob(f"*{suffix}"):
                source = extension.with_name(extension.name[:-len(suffix)] + ".py")
                if source.exists():
                    pairs.append((extension, source))
    return pairs


def _built_at(extension: Path) -> float:
    """When a module was last compiled: mypyc puts the code of all of them in one shared
    library beside the packages (`<hash>__mypyc.*.so`) and rebuilds a module's own small
    extension only when its interface changes."""
    shared = [path.stat().st_mtime for path in extension.parent.parent.glob("*__mypyc.*")]
    return max([extension.stat().st_mtime, *shared])


def stale() -> list[str]:
    """Sources edited after their compiled build (which Python would still load)."""
    return sorted(str(source) for extension, source in _builds() if source.stat().st_mtime > _built_at(extension))


def describe() -> str:
    """One line for the start-up log: how the hot path runs here."""
    loaded = sorted(name for name, module in list(sys.modules.items())
                    if name.split(".")[0] in ("pulse", "processors")
                    and str(getattr(module, "__file__", "")).endswith(tuple(EXTENSION_SUFFIXES)))
    if not loaded:
        return "hot path interpreted (no compiled build: see setup.py)"
    old = stale()
    note = f"; STALE, edited since the build: {', '.join(old)} (run `make install`)" if old else ""
    return f"hot path compiled by mypyc ({len(loaded)} modules){note}"


def declare_types(module_name: str) -> None:
    """Give the dataclasses of a compiled module back their declared field types.

    mypyc keeps a compiled class's annotations only as runtime classes (`dict`, `type`), so
    msgspec could not decode nested state into them (a `dict[str, StreamMemo]` would come back
    as a dict of dicts). The module's source sits beside its build; its annotations are read
    from there and evaluated in the compiled module's own namespace. Interpreted, nothing to do.
    """
    module = sys.modules[module_name]
    path = Path(str(getattr(module, "__file__", "")))
    if not path.name.endswith(tuple(EXTENSION_SUFFIXES)):
        return
    source = path.with_name(path.name.split(".", 1)[0] + ".py")
    namespace = vars(module)
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.ClassDef) and isinstance(namespace.get(node.name), type):
            declared = {item.target.id: eval(ast.unparse(item.annotation), namespace)  # noqa: S307 (our source)
                        for item in node.body
                        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}
            if declared:
                namespace[node.name].__annotations__ = declared
