"""A worker whose main loop stops turning is reported, then ended for its supervisor to restart."""

from __future__ import annotations

import pytest

from pulse.watchdog import EXIT_STALLED, Watchdog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watchdog(clock: Clock, exits: list[int]) -> Watchdog:
    return Watchdog("sink raw", stall_seconds=600, exit=exits.append, clock=clock)


def test_a_turning_loop_stays_healthy_and_alive() -> None:
    clock, exits = Clock(), []
    watchdog = _watchdog(clock, exits)
    for _ in range(100):
        clock.now += 30
        watchdog.beat()
        assert watchdog() == (True, "ok") and not watchdog.check()
    assert exits == []


def test_a_stalled_loop_is_reported_then_ended_with_every_stack(capfd: pytest.CaptureFixture[str]) -> None:
    clock, exits = Clock(), []
    watchdog = _watchdog(clock, exits)
    clock.now += 149
    assert watchdog() == (True, "ok")
    clock.now += 2
    ok, reason = watchdog()
    assert not ok and reason == "main loop stalled for 151s (restarting at 600s)"
    assert not watchdog.check() and exits == []
    clock.now += 449
    assert watchdog.check() and exits == [EXIT_STALLED]
    assert "test_a_stalled_loop_is_reported" in capfd.readouterr().err  # faulthandler: this thread's stack


def test_no_loop_is_watched_while_idle() -> None:
    clock, exits = Clock(), []
    watchdog = _watchdog(clock, exits)
    with watchdog.idle():
        clock.now += 3600  # waiting out a long broker outage
        assert watchdog() == (True, "ok") and not watchdog.check()
    clock.now += 10
    assert watchdog() == (True, "ok") and not watchdog.check() and exits == []
