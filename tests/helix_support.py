"""Helpers for the producer tests: a simulator in a thread, Kafka reads that wait on conditions."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

import httpx
import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource
from prometheus_client import REGISTRY

from pulse import topics
from pulse.events import ChunkError, decode_chunk, format_ts, parse_ts, v1_event
from pulse.kafka import client_config
from pulse.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def sim_settings(make_settings: Callable, sim, **overrides: Any):
    """Settings pointing the producer at simulator `sim` with one credential."""
    base = dict(twitch_api_url=sim.api_url, twitch_auth_url=sim.auth_url,
                twitch_client_id="test-client", twitch_client_secret="test-secret-123")
    base.update(overrides)
    return make_settings(**base)


class Messages:
    """What a topic held so far: every chunk in consumption order, each with its Kafka position."""

    def __init__(self, chunks: list[dict], invalid: list[dict]) -> None:
        self.chunks = chunks  # {"partition", "offset", "key", "value" (bytes), "chunk" (Chunk), "t" (its poll, ms), "timestamp"}
        self.invalid = invalid  # messages that are not chunks, without "chunk"

    @property
    def finals(self) -> list[dict]:
        return [c for c in self.chunks if c["chunk"].final]

    @property
    def ordinary(self) -> list[dict]:
        return [c for c in self.chunks if not c["chunk"].final]

    def of_poll(self, captured_at_ms: int) -> list[dict]:
        return [c for c in self.ordinary if c["t"] == captured_at_ms]

    def polls(self) -> list[int]:
        return sorted({c["t"] for c in self.ordinary})

    def streams(self, captured_at_ms: Optional[int] = None) -> list[dict]:
        """The stream objects of every ordinary chunk (of one poll), as v1 events."""
        return [v1_event(s, c["chunk"]) for c in self.ordinary
                if captured_at_ms is None or c["t"] == captured_at_ms for s in c["chunk"].streams]

    def complete(self, keys: int, producers: int = 1) -> bool:
        """Every key has its final chunk from every producer: the source has ended."""
        return len({(c["chunk"].key, c["chunk"].producer) for c in self.finals}) >= keys * producers


def read_topic(settings, topic: str, until: Callable[[Messages], bool], timeout: float = 60.0) -> Messages:
    """Read `topic` from the beginning until `until(messages)` holds; fail after `timeout`."""
    consumer = Consumer(client_config(settings, **{"group.id": f"test-{uuid.uuid4().hex[:8]}",
                                                   "enable.auto.commit": False}))
    chunks: list[dict] = []
    invalid: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while True:  # the producer may not have created the topic yet
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is not None and meta.error is None and meta.partitions:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} did not appear within {timeout}s")
            time.sleep(0.2)
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])  # 0 = the earliest offset
        while True:
            msgs = Messages(chunks, invalid)
            if until(msgs):
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s: {len(chunks)} chunks")
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error():
                    continue
                entry = {"partition": msg.partition(), "offset": msg.offset(), "key": msg.key(),
                         "value": msg.value(), "timestamp": msg.timestamp()[1], "headers": msg.headers()}
                try:
                    chunk = decode_chunk(msg.value())
                    chunks.append({**entry, "chunk": chunk, "t": parse_ts(chunk.captured_at)})
                except ChunkError:
                    invalid.append(entry)
    finally:
        consumer.close()


def topic_config(settings, topic: str, name: str) -> str:
    """A topic-level configuration value, as the broker reports it."""
    admin = AdminClient(client_config(settings))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([resource])[resource].result(timeout=30)[name].value


def source_events(path: Path) -> list[dict[str, Any]]:
    """The recording as v1 events in poll order, each stream id once per poll (first kept):
    DESIGN §3's rules, written out here independently of the producer's code."""
    events: list[dict[str, Any]] = []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as lines:
        for line in lines:
            poll = orjson.loads(line)
            seen: set[str] = set()
            for s in poll["data"]:
                if s["id"] in seen:
                    continue
                seen.add(s["id"])
                events.append({"stream_id": s["id"], "user_id": s["user_id"], "user_login": s["user_login"],
                               "user_name": s["user_name"], "game_id": s["game_id"] or "",
                               "game_name": s["game_name"] or "", "viewer_count": s["viewer_count"],
                               "started_at": s["started_at"], "captured_at": poll["captured_at"],
                               "language": s.get("language") or "", "title": s.get("title") or "",
                               "is_mature": bool(s.get("is_mature"))})
    return events


def input_in_order(settings: Settings) -> list[str]:
    """Where `twitch.streams` goes back in time: per partition and producer shard, a chunk
    whose poll is older than one before it in offset order. Empty when the input is in order."""
    topic = settings.topic(topics.STREAMS)
    consumer = Consumer(client_config(settings, **{"group.id": f"order-{time.monotonic_ns()}",
                                                   "enable.auto.commit": False}))
    problems: list[str] = []
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            consumer.assign([TopicPartition(topic, partition, low)])
            newest: dict[str, int] = {}
            offset = low
            while offset < high - 1:
                msg = consumer.poll(5)
                assert msg is not None, f"partition {partition}: nothing read at {offset} of {high}"
                if msg.error():
                    continue
                offset = msg.offset()
                chunk = decode_chunk(msg.value())
                at = parse_ts(chunk.captured_at)
                if at < newest.get(chunk.producer, at):
                    problems.append(f"partition {partition} offset {offset}: {chunk.producer} poll "
                                    f"{chunk.captured_at} after {format_ts(newest[chunk.producer])}")
                newest[chunk.producer] = max(newest.get(chunk.producer, 0), at)
    finally:
        consumer.close()
    return problems


def simulator_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("TWITCH_", "KAFKA_", "CLOCK_", "PRODUCER_", "POLL_"))}
    env.update(TWITCH_PULSE_ENV_FILE="/nonexistent.env", PYTHONWARNINGS="ignore", **extra)
    return env


def start_simulator(port: int, log: Path, channels: int, speed: int = 60) -> tuple[subprocess.Popen, dict]:
    """`twitch-pulse simulate` as its own process; returns it and its /admin/state once it answers."""
    sim = subprocess.Popen([sys.executable, "-m", "pulse", "simulate", "--port", str(port), "--speed", str(speed),
                            "--channels", str(channels)], cwd=ROOT, env=simulator_env(), stdout=open(log, "w"),
                           stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            return sim, httpx.get(f"http://127.0.0.1:{port}/admin/state", timeout=1).json()
        except httpx.HTTPError:
            if time.monotonic() > deadline or sim.poll() is not None:
                sim.kill()
                raise AssertionError(f"simulator did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
