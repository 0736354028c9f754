"""`twitch-pulse run` must stop on a signal even when the code the signal interrupts swallows
the KeyboardInterrupt (a connector's retry loop, a bare `except:`): the signal also sets a flag
that the supervise loop obeys."""
from __future__ import annotations

import argparse
import os
import signal
import time
from typing import Any, Iterator

import pytest

from devstack import run


class SwallowingPipeline:
    """Stands for a worker check that catches everything, the KeyboardInterrupt included."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.calls = 0

    def supervise(self, say: Any) -> None:
        self.calls += 1
        try:
            os.kill(os.getpid(), self.signum)
            time.sleep(0.2)  # the handler runs here, and its KeyboardInterrupt is swallowed below
        except BaseException:  # noqa: B036 - the point of the test
            pass


@pytest.fixture
def restored_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_swallowed_interrupt_still_stops_the_supervise_loop(signum: int, restored_handlers: None) -> None:
    run._stop_like_ctrl_c()
    pipeline = SwallowingPipeline(signum)
    args = argparse.Namespace(duration=30.0, refresh=30.0)
    started = time.monotonic()
    run._supervise(pipeline, settings=None, args=args, models=None)  # type: ignore[arg-type]
    assert pipeline.calls == 1
    assert time.monotonic() - started < 10


def test_without_a_signal_the_loop_runs_its_duration(restored_handlers: None) -> None:
    run._stop_like_ctrl_c()

    class Quiet:
        calls = 0

        def supervise(self, say: Any) -> None:
            self.calls += 1

    pipeline = Quiet()
    args = argparse.Namespace(duration=1.0, refresh=1.0)
    run._supervise(pipeline, settings=None, args=args, models=None)  # type: ignore[arg-type]
    assert pipeline.calls >= 2
