"""The producer rides out its broker stopped for two minutes (issue 10 §4): /healthz says 503
with the reason within 10 s, the process stays up, and afterwards polls flow again with
nothing doubled: every poll in the topic is complete (all parts of every chunk key, each once),
no stream was counted lost, the topic holds exactly what each poll saw (the `record` file), and
every partition holds the polls in order (issue 24). Polls that fell due while the broker was away are skipped and
counted (`polls_skipped_total`), as the poll loop does for any overrun."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from devstack.kafka import KafkaBroker
from pulse import topics
from tests.helix_support import free_port, read_topic
from tests.test_outages import BROKER_OUTAGE, HEALTH_DEADLINE, health, own_broker  # noqa: F401 (fixture)
from tests.test_outage_exact import input_in_order, source_events
from tests.test_producer import ROOT, _env, start_simulator


def test_producer_rides_out_a_broker_outage(make_settings, own_broker: KafkaBroker, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    recording = tmp_path / "polls.jsonl"
    settings = make_settings(kafka_bootstrap=own_broker.bootstrap, chunk_keys=8)
    sim, _ = start_simulator(port, tmp_path / "sim.log", channels=300)
    producer = None
    try:
        producer = subprocess.Popen(
            [sys.executable, "-m", "pulse", "record", str(recording), "--produce"], cwd=ROOT, stdout=open(tmp_path / "producer.log", "w"),
            stderr=subprocess.STDOUT,
            env=_env(CLOCK_SPEED="60", POLL_INTERVAL_SECONDS="60", TWITCH_CLIENT_ID="demo",
                     TWITCH_CLIENT_SECRET="demo-secret", TWITCH_API_URL=f"http://127.0.0.1:{port}/helix",
                     TWITCH_AUTH_URL=f"http://127.0.0.1:{port}/oauth2", KAFKA_BOOTSTRAP=own_broker.bootstrap,
                     TOPIC_PREFIX=settings.topic_prefix, METRICS_PORT=str(metrics_port), CHUNK_KEYS="8"))
        topic = settings.topic(topics.STREAMS)
        before = read_topic(settings, topic, lambda m: len(m.polls()) >= 3, timeout=90).polls()
        own_broker.stop()
        deadline = time.monotonic() + HEALTH_DEADLINE
        while not (health(metrics_port)[0] == 503 and "kafka broker" in health(metrics_port)[1]):
            assert time.monotonic() < deadline, f"/healthz {health(metrics_port)} {HEALTH_DEADLINE}s into the outage"
            time.sleep(0.5)
        end = time.monotonic() + BROKER_OUTAGE
        while time.monotonic() < end:
            assert producer.poll() is None, (tmp_path / "producer.log").read_text()[-3000:]
            time.sleep(1)
        own_broker.start(timeout=120)
        after = read_topic(settings, topic, lambda m: len([p for p in m.polls() if p > before[-1]]) >= 3,
                           timeout=240)
        page = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    finally:
        for proc in (producer, sim):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(60)
    assert producer.returncode == 0, (tmp_path / "producer.log").read_text()[-3000:]
    # nothing doubled: per poll, each (key, part) exactly once, and every key's parts all there
    for poll in after.polls():
        seen = Counter((c["chunk"].key, c["chunk"].part) for c in after.ordinary if c["t"] == poll)
        assert all(n == 1 for n in seen.values()), f"poll {poll}: a chunk twice"
        parts = {c["chunk"].key: c["chunk"].parts for c in after.ordinary if c["t"] == poll}
        assert sorted(parts) == list(range(8)) and len(seen) == sum(parts.values()), f"poll {poll} incomplete"
    # every value: what each poll saw (the recording, de-duplicated) is what the topic holds
    polled = sorted((e["captured_at"], e["stream_id"], e["user_id"], e["game_id"], e["viewer_count"],
                     e["started_at"]) for e in source_events(recording))
    recorded_polls = len({p[0] for p in polled})
    everything = read_topic(settings, topic, lambda m: len(m.polls()) >= recorded_polls, timeout=60)
    in_topic = sorted((e["captured_at"], e["stream_id"], e["user_id"], e["game_id"], e["viewer_count"],
                       e["started_at"]) for e in everything.streams())
    assert in_topic == polled
    assert input_in_order(settings) == []
    lost = [line for line in page.splitlines() if line.startswith("twitch_pulse_producer_records_undelivered_total ")]
    assert lost and float(lost[0].split()[-1]) == 0.0, lost
    assert "Traceback" not in (tmp_path / "producer.log").read_text()
