"""The poll loop's schedule on a manual clock: grid instants, overruns reported, no silent skip."""

from __future__ import annotations

from devstack.simulator import SimulatorConfig, SimulatorServer
from producers.poller import Poller
from producers.sweep import SweepResult
from pulse.clock import ManualClock
from tests.helix_support import metric, sim_settings

P = "twitch_pulse_producer_"


def test_overruns_are_reported_and_missed_instants_skipped_loudly(make_settings, caplog):
    clock = ManualClock(1_700_000_030.0)
    sim = SimulatorServer(SimulatorConfig(channels=50), clock).start()
    settings = sim_settings(make_settings, sim)
    poller = Poller(settings, clock=clock, produce=False).start()
    durations = iter([10, 75, 150, 0, 0])  # simulated seconds each sweep takes
    captured: list[int] = []
    original = poller.sweep

    def slow_sweep() -> SweepResult:
        result = original()
        clock.advance(next(durations))
        return result

    poller.sweep = slow_sweep
    poll = poller.poll

    def recording_poll(ms: int):
        captured.append(ms)
        return poll(ms)

    poller.poll = recording_poll
    overruns, skipped = metric(P + "poll_overruns_total"), metric(P + "polls_skipped_total")
    try:
        assert poller.run(max_polls=5) == 5
    finally:
        poller.close()
        sim.stop()
    seconds = [ms // 1000 for ms in captured]
    assert all(s % 60 == 0 for s in seconds)
    # 10 s fits; 75 s overruns (the next starts late, nothing skipped); 150 s (from 15 s late) overruns by
    # more than an interval: one instant is skipped, loudly
    assert [b - a for a, b in zip(seconds, seconds[1:])] == [60, 60, 120, 60]
    assert metric(P + "poll_overruns_total") == overruns + 2
    assert metric(P + "polls_skipped_total") == skipped + 1
    assert "skipping 1 grid instants" in caplog.text
