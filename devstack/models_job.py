"""`twitch-pulse models build` on a timer, beside the local pipeline: the dashboard's history
(broadcasts, daily rankings, language split) fills in while `run` runs, as the production
CronJob fills it in the warehouse. One build at a time; its output goes to
`<run_dir>/logs/models.log`, and the console gets its last line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pulse.settings import Settings

from .service import tail


@dataclass
class ModelsJob:
    settings: Settings
    log_dir: Path
    every: float  # real seconds between the starts of two builds
    first_after: float = 60.0  # the first build waits for a few windows to close
    proc: Optional[subprocess.Popen] = None
    started: float = 0.0
    due: float = field(default=0.0)
    last: str = "models: not built yet"  # the last build's summary line, for the console board

    def __post_init__(self) -> None:
        self.due = time.monotonic() + min(self.first_after, self.every)

    @property
    def log(self) -> Path:
        return self.log_dir / "models.log"

    def poll(self, say: Callable[[str], None]) -> None:
        """Start a build when one is due and none runs; report one that has finished."""
        now = time.monotonic()
        if self.proc is not None and self.proc.poll() is not None:
            line = tail(self.log, 1).removeprefix("twitch-pulse: ")
            self.last = f"models: {line} ({time.strftime('%H:%M:%S')})"
            say(self.last + ("" if self.proc.returncode == 0 else f"; log {self.log}"))
            self.proc = None
        if self.proc is None and now >= self.due:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "pulse", "models", "build"],
                    env={**os.environ, **self.settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent"},
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            self.started, self.due = now, now + self.every

    def stop(self, timeout: float = 30) -> None:
        """Stop a running build and dbt under it: the build runs in its own session, so the whole
        process group gets the signal (SIGTERM to the build alone left dbt running on)."""
        if self.proc is None or self.proc.poll() is not None:
            return  # no build runs: its group is gone, and its number may already be another's
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()
        self._signal(signal.SIGKILL)  # whatever of the group outlived its leader

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:  # the group is gone
            pass

