"""`run` stops its models build with everything under it: dbt runs as a child of the build."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from devstack.models_job import ModelsJob


def test_stop_ends_the_build_and_the_process_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # a build that starts a long child (dbt) and ignores nothing: SIGTERM ends the build itself
    script = ("import subprocess, sys, time\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
              "time.sleep(120)\n")
    job = ModelsJob(settings=None, log_dir=tmp_path, every=3600)  # type: ignore[arg-type]
    job.proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the build did not start its child"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    job.stop(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the build's child outlived stop()"
        time.sleep(0.05)


def test_stop_signals_nothing_once_the_build_has_finished(tmp_path: Path) -> None:
    """A finished build's process number may be another process group's by now."""
    job = ModelsJob(settings=None, log_dir=tmp_path, every=3600)  # type: ignore[arg-type]
    job.proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    job.proc.wait(30)
    with mock.patch("devstack.models_job.os.killpg") as killpg:
        job.stop(timeout=10)
    assert killpg.call_count == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
