"""Run a dbt command on the project with a profile written from the settings, show its
progress as it comes, and sum it up in one line.

dbt is a child process from its own virtualenv (`.venv-dbt`, or `/opt/dbt` in the image), so
its pins never meet the workers'. Its target and log folders go under STATE_DIR/dbt, which is
writable wherever a worker runs (the project folder may not be).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

from pulse.settings import ConfigError, Settings

from .profile import build_profile

ROOT = Path(__file__).resolve().parents[1]  # the checkout (an editable install) or site-packages
LOCAL_DBT = ROOT / ".venv-dbt" / "bin" / "dbt"
RESULTS = ("run_results.json", "sources.json")  # what a run writes; `source freshness` writes the second
INSTALL_HINT = "`make install` creates .venv-dbt (pip install -r dbt/requirements.txt), or set DBT_EXECUTABLE"


class DbtMissing(Exception):
    """dbt is not installed where the settings say, or anywhere we look."""


class Outcome(NamedTuple):
    """What a dbt run came to: its exit code, the nodes' statuses and the one-line summary."""

    code: int
    counts: dict[str, int]  # status -> nodes (success, pass, warn, error, fail, skipped, ...)
    seconds: float
    summary: str


def dbt_executable(settings: Settings) -> str:
    if settings.dbt_executable:
        found = shutil.which(settings.dbt_executable)
        if not found:
            raise ConfigError(f"DBT_EXECUTABLE: no executable dbt at {settings.dbt_executable!r}")
        return found
    if os.access(LOCAL_DBT, os.X_OK):
        return str(LOCAL_DBT)
    found = shutil.which("dbt")
    if not found:
        raise DbtMissing(f"dbt is not installed: {INSTALL_HINT}")
    return found


def project_dir(settings: Settings) -> Path:
    candidates = [settings.dbt_project_dir] if settings.dbt_project_dir else [ROOT / "dbt", Path.cwd() / "dbt"]
    for folder in candidates:
        if (Path(folder) / "dbt_project.yml").is_file():
            return Path(folder).resolve()
    raise ConfigError(f"DBT_PROJECT_DIR: no dbt project (dbt_project.yml) in {', '.join(map(str, candidates))}")


def work_dir(settings: Settings) -> Path:
    return (settings.state_dir / "dbt").resolve()


def project_vars(settings: Settings) -> dict[str, object]:
    """The dbt vars that come from the settings (dbt_project.yml has the defaults)."""
    return {"poll_interval_seconds": settings.poll_interval_seconds}


def run_dbt(settings: Settings, args: Sequence[str], say: Callable[[str], None] = print,
            colors: Optional[bool] = None) -> Outcome:
    """`dbt <args>` on the project; each output line goes to `say` as it comes (secrets masked)."""
    executable, project, work = dbt_executable(settings), project_dir(settings), work_dir(settings)
    profile = build_profile(settings)
    results = [work / "target" / name for name in RESULTS]
    work.mkdir(parents=True, exist_ok=True)
    for path in results:
        path.unlink(missing_ok=True)  # a failed start must not read the last run's results
    argv = [executable, *args]
    if args and not args[0].startswith("-") and "--vars" not in args:  # the user's own --vars win
        argv += ["--vars", json.dumps(project_vars(settings))]
    secrets = [s for s in (*settings.secret_values, *profile.env.values()) if s]
    with tempfile.TemporaryDirectory(prefix="pulse-dbt-") as profiles:
        path = Path(profiles) / "profiles.yml"
        path.write_text(profile.text)
        path.chmod(0o600)
        env = {**os.environ, **profile.env,
               "DBT_PROJECT_DIR": str(project), "DBT_PROFILES_DIR": profiles,
               "DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs"),
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               "DBT_USE_COLORS": "true" if (sys.stdout.isatty() if colors is None else colors) else "false"}
        started = time.monotonic()
        tail: list[str] = []
        proc = subprocess.Popen(argv, env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = _mask(line.rstrip("\n"), secrets)
                say(line)
                tail = (tail + [line])[-40:]
            code = proc.wait()
        finally:  # SIGTERM (SystemExit) or Ctrl-C here: dbt cancels its queries and stops too
            _stop(proc)
    command = " ".join(["dbt", *[a for a in args[:2] if not a.startswith("-")]])
    return summarise(command, code, results, time.monotonic() - started, tail)


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _mask(line: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "*****")
    return line


def _results(paths: Sequence[Path]) -> list[dict]:
    for path in paths:
        try:
            return list(json.loads(path.read_text()).get("results", []))
        except (OSError, ValueError):
            continue
    return []


def _failure(result: dict) -> str:
    node = str(result.get("unique_id", "?")).split(".")[-1]
    if "max_loaded_at_time_ago_in_s" in result:  # a source's freshness
        ago = float(result.get("max_loaded_at_time_ago_in_s") or 0)
        return f"{node} last written {ago / 3600:.1f} h ago"
    message = " ".join(str(result.get("message") or result.get("status")).split())
    return f"{node}: {message[:200]}"


def summarise(command: str, code: int, results: Sequence[Path], seconds: float, tail: Sequence[str]) -> Outcome:
    """The run's one line: counts by status, or the first failure's first line."""
    counts: dict[str, int] = {}
    failures: list[str] = []
    for result in _results(results):
        status = str(result.get("status"))
        counts[status] = counts.get(status, 0) + 1
        if status in ("error", "fail", "runtime error"):
            failures.append(_failure(result))
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing run"
    if code == 0:
        return Outcome(code, counts, seconds, f"{command} finished in {seconds:.1f} s: {done}")
    reason = failures[0] if failures else _last_error(tail)
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return Outcome(code, counts, seconds, f"{command} failed (exit {code}) after {seconds:.1f} s: {reason}{more}")


_DECORATION = re.compile(r"\x1b\[[0-9;]*m|^\d\d:\d\d:\d\d\s+")  # colours, and dbt's time of day


def _last_error(tail: Sequence[str]) -> str:
    """dbt's own error text when no node ran (a compilation or connection error)."""
    text = [_DECORATION.sub("", _DECORATION.sub("", line)).strip() for line in tail]
    text = [line for line in text if line]
    for i, line in enumerate(text):
        if "error" in line.lower():
            return " ".join(text[i:i + 3])[:300]
    return text[-1][:300] if text else "no output"
