"""The poll loop into the real local Kafka: events, keys, timestamps, ticks, shards, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from producers.poller import Poller
from producers.simulator import Faults, SimulatorConfig, SimulatorServer
from pulse import topics
from pulse.clock import Clock
from pulse.events import TICK_KEY, format_ts, parse_ts, validate
from pulse.kafka import partition_count
from pulse.settings import ConfigError
from tests.helix_support import free_port, metric, read_topic, sim_settings, ticks_for

ROOT = Path(__file__).resolve().parents[1]
P = "twitch_pulse_producer_"


@pytest.fixture
def fast_clock() -> Clock:
    return Clock(speed=600.0)  # a 60 s interval passes in 0.1 s


def test_polls_produce_deduplicated_events_then_ticks_to_every_partition(make_settings, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=1500, seed=3, faults=Faults(drift=0.5)), fast_clock).start()
    settings = sim_settings(make_settings, sim, topic_partitions=3)
    before = {name: metric(P + name) for name in ("streams_emitted_total", "duplicates_dropped_total",
                                                  "ticks_total")}
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
    msgs = read_topic(settings, topic, lambda m: len(m.ticks) >= 9)
    polls = sorted({t["value"]["captured_at"] for t in msgs.ticks})
    assert len(polls) == 2 and len(msgs.ticks) == 9
    # a finite run (max_polls) ends like a replay: one final tick per partition, after the last poll's
    finals = [t for t in msgs.ticks if t["value"]["final"]]
    assert sorted(t["partition"] for t in finals) == [0, 1, 2]
    assert {t["value"]["captured_at"] for t in finals} == {polls[-1]}
    expected_total = 0
    duplicates = 0
    for captured_at, result in zip(polls, raw_counts):
        ms = parse_ts(captured_at)
        assert ms % 60_000 == 0  # on the interval grid
        events = [r for r in msgs.records if r["value"]["captured_at"] == captured_at]
        unique = list(dict.fromkeys(s["id"] for s in result.streams))
        duplicates += len(result.streams) - len(unique)
        assert sorted(e["value"]["stream_id"] for e in events) == sorted(unique)  # each stream once
        expected_total += len(unique)
        for e in events:
            assert validate(e["value"]) is None
            assert e["key"] == e["value"]["user_id"].encode()
            assert e["timestamp"] == ms
            assert e["value"]["poll_id"] == f"shard-0-of-1@{captured_at}"
        ticks = [t for t in ticks_for(msgs, captured_at) if not t["value"]["final"]]
        assert sorted(t["partition"] for t in ticks) == [0, 1, 2]
        for t in ticks:
            assert t["key"] == TICK_KEY.encode() and t["timestamp"] == ms
            assert t["value"]["producer"] == "shard-0-of-1" and t["value"]["shards"] == 1
            assert t["value"]["final"] is False
            # every record of the poll on this partition precedes its tick
            assert all(r["offset"] < t["offset"] for r in events if r["partition"] == t["partition"])
    assert duplicates > 0
    assert metric(P + "streams_emitted_total") == before["streams_emitted_total"] + expected_total
    assert metric(P + "duplicates_dropped_total") == before["duplicates_dropped_total"] + duplicates
    assert metric(P + "ticks_total") == before["ticks_total"] + 9  # 2 polls and the final ticks, 3 partitions


def test_empty_poll_still_ticks(make_settings, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=200, seed=3), fast_clock).start()
    settings = sim_settings(make_settings, sim, twitch_user_logins="nobody-at-all")
    poller = Poller(settings, clock=fast_clock).start()
    try:
        report = poller.poll(1_700_000_040_000)
    finally:
        poller.close()
        sim.stop()
    assert report is not None and report.streams == 0
    msgs = read_topic(settings, settings.topic(topics.STREAMS), lambda m: len(m.ticks) >= 2)
    assert not msgs.records and sorted(t["partition"] for t in msgs.ticks) == [0, 1]


def test_two_shards_with_two_credentials_split_the_sweep_and_share_captured_at(make_settings, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=2000, seed=5, frozen=True), fast_clock).start()
    truth = {s["id"] for s in sim.helix.live_streams()}
    captured = 1_700_000_100_000 - 1_700_000_100_000 % 60_000
    shards = []
    try:
        for k in range(2):
            settings = sim_settings(make_settings, sim, producer_shard=f"{k}/2",
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
    msgs = read_topic(settings, settings.topic(topics.STREAMS), lambda m: len(m.ticks) >= 4)
    by_shard: dict[str, set[str]] = {}
    for r in msgs.records:
        assert r["value"]["captured_at"] == format_ts(captured)
        by_shard.setdefault(r["value"]["poll_id"].split("@")[0], set()).add(r["value"]["stream_id"])
    assert set(by_shard) == {"shard-0-of-2", "shard-1-of-2"}
    assert not by_shard["shard-0-of-2"] & by_shard["shard-1-of-2"]
    assert by_shard["shard-0-of-2"] | by_shard["shard-1-of-2"] == truth
    assert sorted((t["partition"], t["value"]["producer"], t["value"]["shards"]) for t in msgs.ticks) == [
        (0, "shard-0-of-2", 2), (0, "shard-1-of-2", 2), (1, "shard-0-of-2", 2), (1, "shard-1-of-2", 2)]
    # both credentials were used
    assert {c for c, _ in sim.helix.tokens.values()} >= {"test-client", "second-client"}


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


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("TWITCH_", "KAFKA_", "CLOCK_", "PRODUCER_", "POLL_"))}
    env.update(TWITCH_PULSE_ENV_FILE="/nonexistent.env", PYTHONWARNINGS="ignore", **extra)
    return env


@pytest.mark.parametrize("env, fragment", [
    ({}, "no Twitch credentials"),
    ({"TWITCH_CLIENT_ID": "x", "TWITCH_CLIENT_SECRET": "y", "PRODUCER_SHARD": "2/2"}, "PRODUCER_SHARD"),
    ({"TWITCH_CLIENT_ID": "x", "TWITCH_CLIENT_SECRET": "y", "TWITCH_API_URL": "ftp://x"}, "TWITCH_API_URL"),
])
def test_bad_configuration_is_one_line_without_traceback(env, fragment):
    done = _cli(["producer"], _env(**env))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in done.stderr


def test_rejected_credentials_are_one_line_and_never_show_the_secret(make_settings, kafka_broker, fast_clock):
    sim = SimulatorServer(SimulatorConfig(channels=100, clients={"good": "good-secret"}), fast_clock).start()
    try:
        done = _cli(["producer"], _env(TWITCH_CLIENT_ID="good", TWITCH_CLIENT_SECRET="bad-secret-987",
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
    sim = subprocess.Popen([sys.executable, "-m", "pulse", "simulate", "--port", str(port), "--speed", "60",
                            "--channels", "500"], cwd=ROOT, env=_env(), stdout=open(tmp_path / "sim.log", "w"),
                           stderr=subprocess.STDOUT)
    producer = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                state = httpx.get(f"http://127.0.0.1:{port}/admin/state", timeout=1).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and sim.poll() is None, "simulator did not start"
                time.sleep(0.1)
        assert state["speed"] == 60.0
        producer = subprocess.Popen(
            [sys.executable, "-m", "pulse", "producer"], cwd=ROOT, stdout=open(tmp_path / "producer.log", "w"),
            stderr=subprocess.STDOUT,
            env=_env(CLOCK_SPEED="60", POLL_INTERVAL_SECONDS="60", TWITCH_CLIENT_ID="demo",
                     TWITCH_CLIENT_SECRET="demo-secret", TWITCH_API_URL=f"http://127.0.0.1:{port}/helix",
                     TWITCH_AUTH_URL=f"http://127.0.0.1:{port}/oauth2", KAFKA_BOOTSTRAP=kafka_broker.bootstrap,
                     TOPIC_PREFIX=settings.topic_prefix, METRICS_PORT=str(metrics_port)))
        msgs = read_topic(settings, settings.topic(topics.STREAMS),
                          lambda m: len({t["value"]["captured_at"] for t in m.ticks}) >= 3, timeout=90)
        instants = sorted({t["value"]["captured_at"] for t in msgs.ticks})
        # consecutive simulated minutes on the grid, matching the simulator's clock
        stamps = [parse_ts(i) // 1000 for i in instants]
        assert all(b - a == 60 for a, b in zip(stamps, stamps[1:])) and instants[0].endswith(":00.000Z")
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
