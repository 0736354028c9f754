"""The poll loop into the real local Kafka: chunks, keys, bookkeeping, timestamps, shards, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from devstack.service import free_port
from devstack.simulator import Faults, SimulatorConfig, SimulatorServer
from producers.emitter import cut
from producers.poller import Poller
from producers.sharding import Shard
from producers.sweep import dedupe
from pulse import topics
from pulse.clock import Clock
from pulse.events import MAX_CHUNK_BYTES, bucket_of, format_ts, full_stream_error, normalise
from pulse.kafka import partition_count
from pulse.settings import ConfigError
from tests.helix_support import Messages, metric, read_topic, sim_settings, simulator_env, start_simulator, topic_config

ROOT = Path(__file__).resolve().parents[2]
P = "twitch_pulse_producer_"


@pytest.fixture
def fast_clock() -> Clock:
    return Clock(speed=600.0)  # a 60 s interval passes in 0.1 s


def check_poll(msgs: Messages, captured_at_ms: int, keys: int, max_streams: int,
               producers: tuple[str, ...] = ("shard-0-of-1",)) -> list[dict]:
    """The chunk bookkeeping of one poll: every key of every producer has parts 0..n-1 of n,
    every stream sits in its own key's chunk, no chunk is over the limits. Returns its streams."""
    chunks = msgs.of_poll(captured_at_ms)
    for producer in producers:
        mine = [c for c in chunks if c["chunk"].producer == producer]
        assert sorted({c["chunk"].key for c in mine}) == list(range(keys)), "a key without a chunk"
        for key in range(keys):
            parts = [c for c in mine if c["chunk"].key == key]
            assert sorted(c["chunk"].part for c in parts) == list(range(parts[0]["chunk"].parts))
            assert {c["chunk"].parts for c in parts} == {len(parts)}
            assert len({c["partition"] for c in parts}) == 1  # one key, one partition
    for c in chunks:
        chunk = c["chunk"]
        assert c["key"] == str(chunk.key).encode() and c["timestamp"] == captured_at_ms
        assert chunk.keys == keys and chunk.shards == len(producers) and not chunk.final
        assert chunk.poll_id == f"{chunk.producer}@{format_ts(captured_at_ms)}"
        assert len(chunk.streams) <= max_streams and len(c["value"]) < MAX_CHUNK_BYTES
        for stream in chunk.streams:
            assert bucket_of(stream["user_id"], keys) == chunk.key
            assert full_stream_error(stream) is None and "captured_at" not in stream
    return msgs.streams(captured_at_ms)


def test_polls_produce_deduplicated_chunks_for_every_key_then_final_chunks(make_settings, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=1500, seed=3, faults=Faults(drift=0.5)), fast_clock).start()
    settings = sim_settings(make_settings, sim, topic_partitions=3, chunk_keys=8, chunk_streams=60)
    before = {name: metric(P + name) for name in ("streams_emitted_total", "duplicates_dropped_total",
                                                  "chunks_total")}
    poller = Poller(settings, clock=fast_clock).start()
    raw_counts = []
    original = poller.sweep

    def counting_sweep():
        result = original()
        raw_counts.append(result)
        return result

    poller.sweep = counting_sweep
    try:
        assert poller.run(max_polls=2) == 2
    finally:
        poller.close()
        sim.stop()
    topic = settings.topic(topics.STREAMS)
    assert partition_count(settings, topic) == 3
    assert topic_config(settings, topic, "compression.type") == "lz4"
    msgs = read_topic(settings, topic, lambda m: m.complete(keys=8))
    polls = msgs.polls()
    assert len(polls) == 2
    # a finite run (max_polls) ends like a replay: one empty final chunk per key, after the last poll
    assert sorted(c["chunk"].key for c in msgs.finals) == list(range(8))
    assert all(c["t"] == polls[-1] and not c["chunk"].streams for c in msgs.finals)
    expected_total = duplicates = 0
    key_of_user: dict[str, int] = {}
    partition_of_key: dict[int, int] = {}
    for captured_at_ms, result in zip(polls, raw_counts):
        assert captured_at_ms % 60_000 == 0  # on the interval grid
        streams = check_poll(msgs, captured_at_ms, keys=8, max_streams=60)
        assert any(c["chunk"].parts > 1 for c in msgs.of_poll(captured_at_ms))  # some key needed several parts
        unique = list(dict.fromkeys(s["id"] for s in result.streams))
        duplicates += len(result.streams) - len(unique)
        assert sorted(s["stream_id"] for s in streams) == sorted(unique)  # each stream once
        expected_total += len(unique)
        for c in msgs.of_poll(captured_at_ms):
            assert partition_of_key.setdefault(c["chunk"].key, c["partition"]) == c["partition"]
            for stream in c["chunk"].streams:  # a channel stays in its key (and partition) across polls
                assert key_of_user.setdefault(stream["user_id"], c["chunk"].key) == c["chunk"].key
    # on each partition: the first poll's chunks, then the second's, then the final chunks
    for partition in range(3):
        order = [(c["chunk"].final, c["t"]) for c in sorted(msgs.chunks, key=lambda c: c["offset"])
                 if c["partition"] == partition]
        assert order == sorted(order)
    assert duplicates > 0
    assert metric(P + "streams_emitted_total") == before["streams_emitted_total"] + expected_total
    assert metric(P + "duplicates_dropped_total") == before["duplicates_dropped_total"] + duplicates
    assert metric(P + "chunks_total") == before["chunks_total"] + len(msgs.chunks)


def test_empty_poll_still_sends_one_chunk_per_key(make_settings, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=200, seed=3), fast_clock).start()
    settings = sim_settings(make_settings, sim, twitch_user_logins="nobody-at-all", chunk_keys=4)
    poller = Poller(settings, clock=fast_clock).start()
    try:
        report = poller.poll(1_700_000_040_000)
    finally:
        poller.close()
        sim.stop()
    assert report is not None and report.streams == 0
    msgs = read_topic(settings, settings.topic(topics.STREAMS), lambda m: len(m.chunks) >= 4)
    assert check_poll(msgs, 1_700_000_040_000, keys=4, max_streams=500) == []
    assert len(msgs.chunks) == 4 and not msgs.finals


def test_two_shards_with_two_credentials_split_the_sweep_and_share_captured_at(make_settings, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=2000, seed=5, frozen=True), fast_clock).start()
    truth = {s["id"] for s in sim.helix.live_streams()}
    captured = 1_700_000_100_000 - 1_700_000_100_000 % 60_000
    shards = []
    try:
        for k in range(2):
            settings = sim_settings(make_settings, sim, producer_shard=f"{k}/2", chunk_keys=4,
                                    twitch_credentials=f"second-client:second-secret-{k}")
            poller = Poller(settings, clock=fast_clock).start()
            assert len(poller.clients) == 2
            assert all(len(q.languages) == 1 for q in poller.queries)  # split by language
            shards.append((poller, poller.poll(captured)))
        for poller, _ in shards:
            poller.close()
    finally:
        sim.stop()
    settings = shards[0][0].settings
    names = ("shard-0-of-2", "shard-1-of-2")
    msgs = read_topic(settings, settings.topic(topics.STREAMS),
                      lambda m: {(c["chunk"].producer, c["chunk"].key) for c in m.chunks} >= {
                          (n, k) for n in names for k in range(4)} and sum(
                          len(c["chunk"].streams) for c in m.chunks) >= len(truth))
    check_poll(msgs, captured, keys=4, max_streams=500, producers=names)
    by_shard: dict[str, set[str]] = {}
    for c in msgs.chunks:
        assert c["chunk"].captured_at == format_ts(captured)
        by_shard.setdefault(c["chunk"].producer, set()).update(s["stream_id"] for s in c["chunk"].streams)
    assert set(by_shard) == set(names)
    assert not by_shard[names[0]] & by_shard[names[1]]
    assert by_shard[names[0]] | by_shard[names[1]] == truth
    # both credentials were used
    assert {c for c, _ in sim.helix.tokens.values()} >= {"test-client", "second-client"}


def _helix(i: int, **fields) -> dict:
    return {"id": f"s{i}", "user_id": f"u{i}", "user_login": f"user{i}", "user_name": f"User {i}",
            "game_id": "1", "game_name": "G", "title": "t", "language": "en", "type": "live", "tags": ["a"],
            "tag_ids": [], "viewer_count": i, "started_at": "2024-05-01T10:00:00Z", "is_mature": False, **fields}


def test_chunks_stay_under_the_byte_limit_and_an_oversized_stream_is_dropped(make_settings):
    """No broker needed: cutting is pure. Long titles force byte-limited parts; one object that
    cannot fit in any chunk is dropped and counted as malformed, the rest of the poll still goes."""
    settings = make_settings(chunk_keys=2, chunk_streams=500)
    raw = [_helix(i, title="x" * 200_000) for i in range(12)] + [_helix(99, title="y" * 1_000_000)]
    polled = dedupe(raw)
    assert len(polled.streams) == 13 and polled.malformed == 0  # valid, only too large
    chunks = list(cut(settings, Shard(), polled, 1_714_557_600_000, keys=2))
    assert polled.malformed == 1 and "s99" not in {s["stream_id"] for s in polled.streams}
    assert all(len(value) < MAX_CHUNK_BYTES for _, value in chunks)
    assert sorted(s["stream_id"] for c, _ in chunks for s in c.streams) == sorted(f"s{i}" for i in range(12))
    for key in (0, 1):
        parts = [c for c, _ in chunks if c.key == key]
        assert [c.part for c in parts] == list(range(len(parts))) and {c.parts for c in parts} == {len(parts)}
    assert max(c.parts for c, _ in chunks) > 1


@pytest.mark.parametrize("change", [
    {}, {"viewer_count": -1}, {"viewer_count": 2**53}, {"viewer_count": "12"}, {"viewer_count": 1.7},
    {"id": ""}, {"user_id": ""}, {"started_at": "yesterday"}, {"started_at": "2024-02-30T10:00:00Z"},
    {"started_at": "2024-05-01T10:00:00"}, {"started_at": 5}, {"tags": None}, {"tags": "ab"}, {"title": None},
    {"is_mature": "no"}, {"id": 7},
])
def test_the_producers_validity_check_equals_the_shared_validator(change):
    raw = _helix(1, **change)
    try:
        expected = full_stream_error(normalise(raw)) is None
    except (KeyError, TypeError, ValueError, AttributeError):
        expected = False
    assert (len(dedupe([raw]).streams) == 1) is expected


def test_a_channel_keeps_its_chunk_key_in_every_process():
    """CRC-32, not Python's per-process salted hash: another interpreter agrees."""
    users = [f"{i}" for i in range(0, 100_000, 997)]
    here = [bucket_of(u, 256) for u in users]
    code = f"from pulse.events import bucket_of; print([bucket_of(u, 256) for u in {users!r}])"
    there = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert orjson.loads(there.stdout) == here and len(set(here)) > 50


def test_unknown_game_names_are_a_clear_configuration_error(make_settings, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=100), fast_clock).start()
    try:
        settings = sim_settings(make_settings, sim, twitch_game_names="Definitely Not A Game")
        poller = Poller(settings, clock=fast_clock)
        with pytest.raises(ConfigError, match="Definitely Not A Game"):
            poller.start()
        poller.close()
    finally:
        sim.stop()


def _cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pulse", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("env, fragment", [
    ({}, "no Twitch credentials"),
    ({"TWITCH_CLIENT_ID": "x", "TWITCH_CLIENT_SECRET": "y", "PRODUCER_SHARD": "2/2"}, "PRODUCER_SHARD"),
    ({"TWITCH_CLIENT_ID": "x", "TWITCH_CLIENT_SECRET": "y", "TWITCH_API_URL": "ftp://x"}, "TWITCH_API_URL"),
])
def test_bad_configuration_is_one_line_without_traceback(env, fragment):
    done = _cli(["producer"], simulator_env(**env))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in done.stderr


def test_rejected_credentials_are_one_line_and_never_show_the_secret(make_settings, kafka_broker, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=100, clients={"good": "good-secret"}), fast_clock).start()
    try:
        done = _cli(["producer"], simulator_env(TWITCH_CLIENT_ID="good", TWITCH_CLIENT_SECRET="bad-secret-987",
                                       TWITCH_API_URL=sim.api_url, TWITCH_AUTH_URL=sim.auth_url,
                                       KAFKA_BOOTSTRAP=kafka_broker.bootstrap, METRICS_PORT="0",
                                       TOPIC_PREFIX=f"t{os.getpid()}cli."))
    finally:
        sim.stop()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "bad-secret-987" not in done.stderr + done.stdout
    assert "refused client id good" in done.stderr.strip().splitlines()[-1]


def test_simulate_and_producer_processes_on_an_accelerated_clock_stop_cleanly(make_settings, kafka_broker, tmp_path):
    """The demo path: `simulate --speed 60` + `producer` with CLOCK_SPEED=60 (anchor adopted
    from the simulator), one poll per real second; SIGTERM stops both cleanly."""
    port, metrics_port = free_port(), free_port()
    settings = make_settings()
    sim, state = start_simulator(port, tmp_path / "sim.log", channels=500)
    producer = None
    try:
        assert state["speed"] == 60.0
        producer = subprocess.Popen(
            [sys.executable, "-m", "pulse", "producer"], cwd=ROOT, stdout=open(tmp_path / "producer.log", "w"),
            stderr=subprocess.STDOUT,
            env=simulator_env(CLOCK_SPEED="60", POLL_INTERVAL_SECONDS="60", TWITCH_CLIENT_ID="demo",
                     TWITCH_CLIENT_SECRET="demo-secret", TWITCH_API_URL=f"http://127.0.0.1:{port}/helix",
                     TWITCH_AUTH_URL=f"http://127.0.0.1:{port}/oauth2", KAFKA_BOOTSTRAP=kafka_broker.bootstrap,
                     TOPIC_PREFIX=settings.topics.prefix, METRICS_PORT=str(metrics_port)))
        msgs = read_topic(settings, settings.topic(topics.STREAMS), lambda m: len(m.polls()) >= 3, timeout=90)
        # consecutive simulated minutes on the grid, matching the simulator's clock
        stamps = [ms // 1000 for ms in msgs.polls()]
        assert all(b - a == 60 for a, b in zip(stamps, stamps[1:])) and stamps[0] % 60 == 0
        assert abs(stamps[0] - state["time"]) < 3600
        page = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "twitch_pulse_producer_polls_total" in page and "demo-secret" not in page
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5).status_code == 200
        producer.send_signal(signal.SIGTERM)
        producer.wait(timeout=60)
        out = (tmp_path / "producer.log").read_text()
        assert producer.returncode == 0, out
        assert "demo-secret" not in out and "Traceback" not in out
        assert "streams" in out and "pages" in out and "rate-limit remaining" in out  # the per-poll line
    finally:
        for proc in (producer, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    assert sim.returncode == 0
