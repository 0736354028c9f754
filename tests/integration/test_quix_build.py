"""Each Quix application's build context, made the way Quix makes it, installs its
requirements.txt into a clean virtualenv and runs: nothing the worker imports is missing from
its includedFolders. Slow the first time (a pip install per application, cached by content)."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import once
from tests.deploy_support import ROOT, gen


def _rebuild_context(app, dest: Path) -> Path:
    """The application's build context the way Quix makes it: an empty directory with the
    application folder and each of its includedFolders copied in at their repository paths,
    as git holds them (no local build: Quix's image runs the hot path interpreted)."""
    spec = yaml.safe_load((ROOT / app.folder / "app.yaml").read_text())
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")
    for folder in (app.folder, *spec["includedFolders"]):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    return dest


def _context_venv(requirements: Path) -> Path:
    """A virtualenv with only the application's requirements.txt installed (cached by content)."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    venv = Path.home() / ".cache" / "twitch-pulse" / f"quix-venv-{digest}"
    python = venv / "bin" / "python"
    with once(f"quix-venv-{digest}"):
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            result = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
                                    capture_output=True, text=True, timeout=1200)
            assert result.returncode == 0, result.stderr[-3000:]
            (venv / ".complete").touch()
    return python


@pytest.mark.parametrize("app", gen.APPS, ids=lambda a: a.name)
def test_quix_build_context_installs_and_runs(app, tmp_path: Path) -> None:
    context = _rebuild_context(app, tmp_path / "context")
    text = (context / app.folder / "dockerfile").read_text()
    # every COPY source exists in that context (Quix passes MAINAPPPATH = the app folder)
    assert re.search(r"^ARG MAINAPPPATH=", text, re.M)
    for line in re.findall(r"^COPY (?!--)(.+)$", text, re.M):
        for src in shlex.split(line)[:-1]:
            assert (context / src.replace("${MAINAPPPATH}", app.folder)).exists(), src
    assert re.search(r'^ENTRYPOINT \["python3", "main.py"\]$', text, re.M)
    assert re.search(r'^ENV .*PYTHONPATH="/app"', text, re.M | re.S)
    python = _context_venv(context / app.folder / "requirements.txt")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(context), "HOME": str(tmp_path)}
    # as the container starts it (WORKDIR /app/<folder>, python3 main.py), asking for --help
    result = subprocess.run([str(python), "main.py", "--help"], cwd=context / app.folder, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"usage: twitch-pulse {' '.join(app.command[:1])}" in result.stdout
    # and every module of the worker imports from that context (nothing missing from includedFolders)
    modules = [m.removesuffix(".py").replace("/", ".") for m in app.modules]
    result = subprocess.run([str(python), "-c", "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]",
                             *modules], cwd=context / app.folder, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
