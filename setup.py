"""Compiles the processor's per-sample hot path with mypyc, when a C compiler is at hand.

Everything else about the package is in pyproject.toml. The modules below stay ordinary,
type-annotated Python: mypyc turns the same source into C extensions (about 1.3x the
processor's throughput, see bench/processor_bench.py), and where there is no compiler (a slim
image, PULSE_PURE_PYTHON=1) the build goes on and the same modules run interpreted.
`processors.compiled` tells which of the two a process runs, and whether a build is stale.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

HOT_MODULES = [
    "pulse/events.py",
    "processors/aggregations.py",
    "processors/alerts.py",
    "processors/chunk_stage.py",
    "processors/game_surge.py",
    "processors/keystate.py",
    "processors/merge_stage.py",
]


def ext_modules() -> list:
    if os.environ.get("PULSE_PURE_PYTHON") or not {"build_ext", "build", "bdist_wheel", "editable_wheel",
                                                    "develop", "install"} & set(sys.argv):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("setup.py: mypyc not available, the hot path stays interpreted", file=sys.stderr)
        return []
    # The build environment may or may not have the runtime dependencies (a first install has
    # none yet): --ignore-missing-imports makes what is missing Any, which the hot path does not
    # lean on, and --follow-imports=silent keeps what the modules it imports make of them
    # (msgspec's class keywords, Quix's base classes) from failing the build.
    try:
        extensions = mypycify(["--ignore-missing-imports", "--follow-imports=silent", *HOT_MODULES], opt_level="3")
    except (Exception, SystemExit) as exc:  # mypy reports type errors by exiting
        print(f"setup.py: mypyc could not compile the hot path ({exc!r}); it stays interpreted", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True  # no compiler: a warning, and the modules run interpreted
    return extensions


setup(ext_modules=ext_modules())
