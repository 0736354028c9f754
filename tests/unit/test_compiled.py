"""The hot path (setup.py's mypyc build) and its interpreted fallback run the same source;
both must give the §4 numbers, and a stale build must never be what runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import processors.chunk_stage
import pulse.events
from processors import compiled

ROOT = Path(__file__).resolve().parents[2]
INTERPRETED = bool(os.environ.get("PULSE_INTERPRETED"))


@pytest.mark.skipif(INTERPRETED or bool(os.environ.get("PULSE_PURE_PYTHON")) or not shutil.which("cc"),
                    reason="no compiled build expected")
def test_the_install_compiled_the_hot_path() -> None:
    for module in (processors.chunk_stage, pulse.events):
        assert module.__file__.endswith(".so"), module.__file__
    assert compiled.describe().startswith("hot path compiled by mypyc")


def test_a_source_edited_after_its_build_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    so = ".cpython-311-x86_64-linux-gnu.so"
    for name, mtime in (("hot" + so, 1_000), ("hot.py", 2_000), ("fresh" + so, 1_000), ("fresh.py", 1_000)):
        (package / name).write_text("")
        os.utime(package / name, (mtime, mtime))
    monkeypatch.setattr(compiled, "PACKAGES", (package,))
    assert compiled.stale() == []  # not a source tree: an installed wheel writes .py after .so
    (tmp_path / "setup.py").write_text("")
    assert compiled.stale() == [str(package / "hot.py")]
    # mypyc's shared library, beside the packages, holds every module's code: a newer one counts
    (tmp_path / ("abc__mypyc" + so)).write_text("")
    assert compiled.stale() == []


@pytest.mark.skipif(INTERPRETED, reason="this is the interpreted run")
def test_stage_tests_pass_interpreted_too() -> None:
    """The stage and metric tests again, with every hot module imported from its .py source."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_stages.py",
         "tests/unit/test_aggregations.py", "tests/unit/test_stage_rollback.py",
         "tests/unit/test_compiled.py::test_this_run_is_interpreted"],
        cwd=ROOT, env={**os.environ, "PULSE_INTERPRETED": "1"}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]


@pytest.mark.skipif(not INTERPRETED, reason="only in the interpreted run")
def test_this_run_is_interpreted() -> None:
    for module in (processors.chunk_stage, pulse.events):
        assert module.__file__.endswith(".py"), module.__file__
    assert compiled.describe().startswith("hot path interpreted")
