"""Record live polls (also producing them), replay the file into fresh topics: identical chunks."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from devstack.simulator import Faults, SimulatorConfig, SimulatorServer
from producers.chunk_keys import PLACEMENT_HEADER
from producers.emitter import Emitter
from producers.poller import Poller
from producers.recording import Reader, Recorder, RecordingError
from producers.replay import replay
from pulse import topics
from pulse.clock import Clock
from pulse.events import cut_poll
from pulse.kafka import client_config, ensure_topics
from tests.helix_support import read_topic, sim_settings


def _chunks(msgs) -> list[tuple]:
    """Every message as it lies in the topic: partition, key, value bytes, timestamp, in offset order."""
    return sorted((c["partition"], c["offset"], c["key"], c["value"], c["timestamp"]) for c in msgs.chunks)


@pytest.mark.parametrize("name", ["polls.jsonl.gz", "polls.jsonl"])
def test_replay_of_a_recording_reproduces_the_live_chunks_exactly(make_settings, unique, tmp_path, name):
    # the population moves between polls (a step is 60 s, one poll interval), not within one, so
    # a drifted page boundary repeats the same streams however slowly a loaded machine pages
    clock = Clock(speed=60.0)
    sim = SimulatorServer(SimulatorConfig(channels=800, seed=11, faults=Faults(drift=0.5)), clock).start()
    path = tmp_path / name
    live = sim_settings(make_settings, sim, chunk_keys=6, chunk_streams=40)
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

    # 3 polls of 6 keys, then the final chunks that end a finite run
    recorded = read_topic(live, live.topic(topics.STREAMS), lambda m: m.complete(keys=6))
    assert 0 < len(recorded.streams()) < raw  # duplicates were in the file and dropped live
    assert any(c["chunk"].parts > 1 for c in recorded.chunks)

    target = make_settings(topic_prefix=f"r{unique}.", chunk_keys=6, chunk_streams=40)
    report = replay(target, path)
    assert report.polls == 3 and report.events == len(recorded.streams())
    assert report.duplicates == raw - report.events and report.undelivered == 0
    replayed = read_topic(target, target.topic(topics.STREAMS), lambda m: m.complete(keys=6))
    # byte for byte the same messages, at the same positions: same keys, parts, poll ids, finals
    assert _chunks(replayed) == _chunks(recorded)
    last = polls[-1][0]
    assert sorted(c["chunk"].key for c in replayed.finals) == list(range(6))
    assert all(c["timestamp"] == last and c["t"] == last for c in replayed.finals)


def test_replay_at_a_chosen_speed_and_a_broken_file(make_settings, tmp_path):
    path = tmp_path / "tiny.jsonl"
    recorder = Recorder(path)
    stream = {"id": "9", "user_id": "90", "user_login": "nine", "viewer_count": 3,
              "started_at": "2024-05-01T10:00:00Z", "tags": ["x"]}
    recorder.write(1_714_557_600_000, [stream, stream, {"id": "bad", "user_id": "91", "viewer_count": -4,
                                                        "started_at": "2024-05-01T10:00:00Z"}])
    recorder.write(1_714_557_660_000, [stream])
    recorder.close()
    settings = make_settings(chunk_keys=3)
    report = replay(settings, path, speed=600.0)  # 60 s apart -> 0.1 s apart
    assert (report.polls, report.events, report.duplicates, report.malformed) == (2, 2, 1, 1)
    msgs = read_topic(settings, settings.topic(topics.STREAMS), lambda m: m.complete(keys=3))
    assert [s["captured_at"] for s in msgs.streams()] == ["2024-05-01T10:00:00.000Z", "2024-05-01T10:01:00.000Z"]
    assert len(msgs.chunks) == 3 * 3  # two polls and the final chunks, one per key each
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"captured_at": "2024-05-01T10:00:00Z", "data": []}\n{"nope": 1}\n')
    with pytest.raises(RecordingError, match="broken.jsonl:2"):
        list(Reader(broken))


def test_replay_stopped_midway_settles_what_it_sent_and_sends_no_final_chunks(make_settings, tmp_path):
    path = tmp_path / "three.jsonl"
    recorder = Recorder(path)
    for i in range(3):
        recorder.write(1_714_557_600_000 + 60_000 * i, [{"id": f"s{i}", "user_id": "7", "viewer_count": i,
                                                         "started_at": "2024-05-01T10:00:00Z"}])
    recorder.close()
    settings = make_settings(chunk_keys=2)
    stop = threading.Event()
    original = Emitter.send

    def send_then_stop(self, batch, captured_at_ms):  # SIGTERM arrives while the first poll is on its way
        pending = original(self, batch, captured_at_ms)
        stop.set()
        return pending

    Emitter.send = send_then_stop
    try:
        report = replay(settings, path, stop=stop)
    finally:
        Emitter.send = original
    assert (report.polls, report.events) == (1, 1)
    msgs = read_topic(settings, settings.topic(topics.STREAMS), lambda m: len(m.chunks) >= 2)
    assert not msgs.finals and [s["stream_id"] for s in msgs.streams()] == ["s0"]


def _streams(n: int, t: int) -> list[dict]:
    return [{"id": f"s{i}", "user_id": str(1000 + i), "user_login": f"c{i}", "viewer_count": 5 + t % 7,
             "started_at": "2024-05-01T10:00:00Z", "tags": []} for i in range(n)]


def test_auto_chunk_keys_suit_the_first_poll_and_stay_for_the_life_of_the_topic(make_settings, tmp_path):
    """CHUNK_KEYS=auto (the default): an empty first poll is not sent, the first poll with
    channels chooses the count, and a later replay into the same topic keeps it, whatever it
    sees; an explicit count the topic disagrees with is refused in one line, before anything
    is sent. Garbage at the end of the topic does not hide the chunks before it."""
    t0 = 1_714_557_600_000
    first = tmp_path / "first.jsonl"
    recorder = Recorder(first)
    recorder.write(t0, [])
    recorder.write(t0 + 60_000, _streams(300, 1))
    recorder.close()
    settings = make_settings(topic_partitions=2)
    assert settings.producer.chunk_keys is None
    topic = settings.topic(topics.STREAMS)
    report = replay(settings, first)
    assert (report.polls, report.events) == (1, 300)
    msgs = read_topic(settings, topic, lambda m: m.complete(keys=8))
    assert {c["chunk"].keys for c in msgs.chunks} == {8}  # 300 channels, 2 partitions: 4 keys a partition
    # placed evenly, and saying so (murmur2 would put keys 4 and 5 the other way round)
    assert all(c["partition"] == c["chunk"].key % 2 for c in msgs.chunks)
    assert all(c["headers"] == [(PLACEMENT_HEADER, b"2")] for c in msgs.chunks)
    assert {c["t"] for c in msgs.chunks} == {t0 + 60_000}  # the empty poll was not sent
    assert sorted(c["chunk"].key for c in msgs.finals) == list(range(8))

    producer = Producer(client_config(settings))
    for partition in (0, 1):
        producer.produce(topic, value=b"not a chunk", partition=partition)
    assert producer.flush(30) == 0

    second = tmp_path / "second.jsonl"
    recorder = Recorder(second)
    recorder.write(t0 + 120_000, _streams(9_000, 2))  # would suit 32 keys on a new topic
    recorder.close()
    assert replay(settings, second).events == 9_000
    later = read_topic(settings, topic, lambda m: any(c["t"] == t0 + 120_000 and c["chunk"].final for c in m.chunks))
    assert {c["chunk"].keys for c in later.chunks if c["t"] == t0 + 120_000} == {8}
    assert all(c["partition"] == c["chunk"].key % 2 for c in later.chunks)

    refused = subprocess.run([sys.executable, "-m", "pulse", "replay", str(second)], capture_output=True, text=True,
                             env={**os.environ, **settings.as_env(), "CHUNK_KEYS": "32",
                                  "TWITCH_PULSE_ENV_FILE": "/nonexistent"}, timeout=120)
    assert refused.returncode == 2, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "CHUNK_KEYS=32" in last and "written with 8 keys" in last and "Traceback" not in refused.stderr
    consumer = Consumer(client_config(settings, **{"group.id": "test-ends"}))
    try:
        ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in (0, 1)]
    finally:
        consumer.close()
    assert sum(ends) == len(later.chunks) + 2  # nothing was sent: the chunks and the two garbage messages


def test_a_topic_placed_by_the_partitioner_keeps_its_placement(make_settings, tmp_path):
    """A topic written before even placement (no placement header: murmur2 of the key put each
    key's chunks) keeps that placement: a key's state lives with its partition, so moving keys
    4 and 5 (where murmur2 and k % 2 disagree) would split their channels' state."""
    t0 = 1_714_557_600_000
    settings = make_settings(topic_partitions=2)
    topic = settings.topic(topics.STREAMS)
    ensure_topics(settings, [topic])
    old = Producer(client_config(settings, partitioner="murmur2_random"))
    for chunk, value in cut_poll([], t0, f"old@{t0}", "old", 1, 8, 500):  # an empty chunk per key
        old.produce(topic, key=chunk.message_key, value=value, timestamp=t0)
    assert old.flush(30) == 0
    recording = tmp_path / "later.jsonl"
    recorder = Recorder(recording)
    recorder.write(t0 + 60_000, _streams(3_000, 1))
    recorder.close()
    assert replay(settings, recording).events == 3_000
    msgs = read_topic(settings, topic, lambda m: len(m.finals) == 8)
    new = [c for c in msgs.chunks if c["t"] == t0 + 60_000]
    assert {c["chunk"].keys for c in new} == {8} and all(c["headers"] is None for c in new)
    places = {}
    for c in msgs.chunks:
        places.setdefault(c["chunk"].key, set()).add(c["partition"])
    assert all(len(p) == 1 for p in places.values()), places  # every key where the old chunks put it
    assert any(places[k] != {k % 2} for k in places)  # which is not k % 2
