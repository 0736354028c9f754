"""Helpers for the producer tests: a simulator in a thread, Kafka reads that wait on conditions."""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any, Callable, Optional

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource
from prometheus_client import REGISTRY

from pulse.events import ChunkError, decode_chunk, parse_ts, v1_event
from pulse.kafka import client_config


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
                         "value": msg.value(), "timestamp": msg.timestamp()[1]}
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
