"""Spike alerts from the real processor: scripted spikes give exactly the expected alerts,
and cooldowns survive a restart."""

from __future__ import annotations

import signal
from pathlib import Path

from pulse import topics
from pulse.kafka import ensure_topics
from tests.pipeline import Sender, TopicReader, make_event, start_worker, stop_worker

I_MS = 60_000
T0 = 1_700_000_400_000 - 1_700_000_400_000 % 600_000


def at(k: int) -> int:
    return T0 + k * I_MS


def poll(sender: Sender, k: int, a: int, b: int) -> None:
    """Channel 201 (A) and 202 (B) in game g9, channel 203 steady in g8."""
    sender.event(make_event(at(k), "s201", "201", a, "g9", game_name="Spiky Game", login="alpha"))
    sender.event(make_event(at(k), "s202", "202", b, "g9", game_name="Spiky Game", login="bravo"))
    sender.event(make_event(at(k), "s203", "203", 50, "g8", login="charlie"))
    sender.ticks(at(k))


def test_spikes_raise_exactly_the_expected_alerts_and_cooldowns_survive_restart(make_settings, tmp_path: Path) -> None:
    settings = make_settings(poll_interval_seconds=60, window_seconds=600, alert_threshold_viewers=10_000,
                             surge_min_viewers=1_000, surge_ratio=1.0, game_surge_min_viewers=1_000,
                             surge_baseline_seconds=900, alert_cooldown_seconds=3600, topic_partitions=2)
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    sender = Sender(settings, settings.topic(topics.STREAMS), 2)
    reader = TopicReader(settings, [settings.topic(topics.ALERTS)])
    alerts_topic = settings.topic(topics.ALERTS)

    def alerts() -> dict[str, dict]:
        return {key: value for key, value, _ in reader.records.get(alerts_topic, [])}

    # the processor starts after phase 1 is in the topic, so it sees all of it at once and
    # later windows may close before earlier ones: game alerts must not depend on that order
    proc = None
    try:
        for k in range(10):
            poll(sender, k, 5_000, 100)
        poll(sender, 10, 12_000, 900)    # A crosses T and surges; g9 surges; B below M
        poll(sender, 11, 12_000, 1_500)  # B surges; A and g9 are cooling down
        poll(sender, 12, 4_000, 1_500)
        poll(sender, 13, 15_000, 1_500)  # A crosses T again: still cooling down
        for k in range(14, 20):
            poll(sender, k, 4_000, 100)
        proc = start_worker(["processor"], settings, tmp_path / "processor.log")
        reader.poll_until(lambda r: len(r.get(alerts_topic, [])) >= 4, timeout=90, settle=3)
        assert stop_worker(proc, signal.SIGTERM) == 0

        proc = start_worker(["processor"], settings, tmp_path / "processor.log")
        poll(sender, 20, 4_000, 100)
        poll(sender, 21, 20_000, 100)    # within an hour of poll 10: suppressed after the restart too
        poll(sender, 75, 3_000, 100)
        poll(sender, 76, 30_000, 100)    # 66 minutes later: all three kinds fire again
        sender.ticks(at(76), final=True)
        reader.poll_until(lambda r: len(r.get(alerts_topic, [])) >= 7, timeout=90, settle=3)
    finally:
        if proc is not None and proc.poll() is None:
            stop_worker(proc, signal.SIGTERM)
        got = alerts()
        reader.close()

    assert sorted(got) == sorted([
        f"threshold:201:{at(10)}", f"surge:201:{at(10)}", f"game_surge:g9:{at(10)}", f"surge:202:{at(11)}",
        f"threshold:201:{at(76)}", f"surge:201:{at(76)}", f"game_surge:g9:{at(76)}",
    ])
    first = got[f"surge:201:{at(10)}"]
    assert first["viewers"] == 12_000 and first["baseline"] == 5_000 and first["threshold"] == 10_000
    assert first["subject_type"] == "channel" and first["url"] == "https://www.twitch.tv/alpha"
    game = got[f"game_surge:g9:{at(10)}"]
    assert game["viewers"] == 12_900 and game["baseline"] == 5_100 and game["subject_name"] == "Spiky Game"
    assert game["url"] == "https://www.twitch.tv/directory/category/spiky-game"
    assert got[f"threshold:201:{at(10)}"]["baseline"] is None
    assert got[f"surge:202:{at(11)}"]["threshold"] == 1_000
