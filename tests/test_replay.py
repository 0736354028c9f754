"""Record live polls (also producing them), replay the file into fresh topics: identical events."""

from __future__ import annotations

import gzip

import orjson
import pytest

from producers.poller import Poller
from producers.recording import Reader, Recorder, RecordingError
from producers.replay import replay
from producers.simulator import Faults, SimulatorConfig, SimulatorServer
from pulse import topics
from pulse.clock import Clock
from pulse.events import format_ts
from tests.helix_support import read_topic, sim_settings, ticks_for


def _events(msgs) -> list[tuple]:
    return sorted((r["partition"], r["key"], orjson.dumps(r["value"], option=orjson.OPT_SORT_KEYS), r["timestamp"])
                  for r in msgs.records)


@pytest.mark.parametrize("name", ["polls.jsonl.gz", "polls.jsonl"])
def test_replay_of_a_recording_reproduces_the_recorded_events_exactly(make_settings, unique, tmp_path, name):
    clock = Clock(speed=600.0)  # the population moves between polls; drift adds duplicates
    sim = SimulatorServer(SimulatorConfig(channels=800, seed=11, faults=Faults(drift=0.5)), clock).start()
    path = tmp_path / name
    live = sim_settings(make_settings, sim)
    poller = Poller(live, clock=clock, recorder=Recorder(path)).start()
    try:
        assert poller.run(max_polls=3) == 3
    finally:
        poller.close()
        sim.stop()
    if name.endswith(".gz"):
        assert gzip.open(path).readline().startswith(b'{"captured_at":')
    polls = list(Reader(path))
    assert len(polls) == 3
    raw = sum(len(data) for _, data in polls)
    assert all(set(data[0]) >= {"id", "user_id", "viewer_count", "tag_ids"} for _, data in polls)  # as Helix sent

    # 3 polls x 2 partitions, then the final ticks that end a finite run
    recorded = read_topic(live, live.topic(topics.STREAMS), lambda m: len(m.ticks) >= 8)
    assert 0 < len(recorded.records) < raw  # duplicates were in the file and dropped live

    target = make_settings(topic_prefix=f"r{unique}.")
    report = replay(target, path)
    assert report.polls == 3 and report.events == len(recorded.records)
    replayed = read_topic(target, target.topic(topics.STREAMS), lambda m: len(m.ticks) >= 8)
    assert _events(replayed) == _events(recorded)
    last = polls[-1][0]
    final = [t for t in replayed.ticks if t["value"]["final"]]
    assert sorted(t["partition"] for t in final) == [0, 1]
    assert {t["value"]["captured_at"] for t in final} == {format_ts(last)}
    assert all(t["timestamp"] == last for t in final)
    assert len(ticks_for(replayed, format_ts(last), final=False)) == 2


def test_replay_at_a_chosen_speed_and_a_broken_file(make_settings, tmp_path):
    path = tmp_path / "tiny.jsonl"
    recorder = Recorder(path)
    stream = {"id": "9", "user_id": "90", "user_login": "nine", "viewer_count": 3,
              "started_at": "2024-05-01T10:00:00Z", "tags": ["x"]}
    recorder.write(1_714_557_600_000, [stream, stream])
    recorder.write(1_714_557_660_000, [stream])
    recorder.close()
    settings = make_settings()
    report = replay(settings, path, speed=600.0)  # 60 s apart -> 0.1 s apart
    assert (report.polls, report.events, report.duplicates) == (2, 2, 1)
    msgs = read_topic(settings, settings.topic(topics.STREAMS), lambda m: len(m.ticks) >= 6)
    assert [r["value"]["captured_at"] for r in msgs.records] == ["2024-05-01T10:00:00.000Z",
                                                                "2024-05-01T10:01:00.000Z"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"captured_at": "2024-05-01T10:00:00Z", "data": []}\n{"nope": 1}\n')
    with pytest.raises(RecordingError, match="broken.jsonl:2"):
        list(Reader(broken))
