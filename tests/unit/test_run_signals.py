"""`twitch-pulse run` must stop on a signal even when the code the signal interrupts swallows
the KeyboardInterrupt (a connector's retry loop, a bare `except:`): the signal also sets a flag
that the supervise loop obeys."""
from __future__ import annotations

import argparse
import os
import signal
import threading
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


def test_ctrl_c_stops_run_while_the_console_board_waits_on_a_dead_warehouse(
        restored_handlers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Snowflake connector swaps in its own SIGINT handler for each query, one that first
    cancels the query and retries that cancel for minutes when the warehouse is gone. The board
    is built off the main thread, where the connector cannot install it (as here)."""
    run._stop_like_ctrl_c()

    def connector_like_query(settings: Any) -> str:
        try:
            signal.signal(signal.SIGINT, lambda *_: None)  # the connector's swallowing handler
        except ValueError:  # not the main thread: the connector logs and carries on, as here
            pass
        time.sleep(60)  # the cancel, retrying against a warehouse that is gone
        return "never"

    class Quiet:
        def supervise(self, say: Any) -> None:
            pass

    monkeypatch.setattr(run, "_dashboard", connector_like_query)
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    args = argparse.Namespace(duration=60.0, refresh=0.5)
    started = time.monotonic()
    try:  # stopped either way: the handler's KeyboardInterrupt (which `run` catches) or the flag
        run._supervise(Quiet(), settings=None, args=args, models=None)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
    assert time.monotonic() - started < 10
