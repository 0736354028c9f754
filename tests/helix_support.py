"""Helpers for the producer tests: a simulator in a thread, Kafka reads that wait on conditions."""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any, Callable, Optional

import orjson
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import REGISTRY

from pulse.events import TICK_HEADER
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
    def __init__(self, records: list[dict], ticks: list[dict]) -> None:
        self.records = records  # {"partition", "key", "value", "timestamp"}
        self.ticks = ticks


def read_topic(settings, topic: str, until: Callable[[Messages], bool], timeout: float = 60.0) -> Messages:
    """Read `topic` from the beginning until `until(messages)` holds; fail after `timeout`."""
    consumer = Consumer(client_config(settings, **{"group.id": f"test-{uuid.uuid4().hex[:8]}",
                                                   "enable.auto.commit": False}))
    records: list[dict] = []
    ticks: list[dict] = []
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
            msgs = Messages(records, ticks)
            if until(msgs):
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s: {len(records)} records, "
                                     f"{len(ticks)} ticks")
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error():
                    continue
                entry = {"partition": msg.partition(), "offset": msg.offset(), "key": msg.key(), "value": orjson.loads(msg.value()),
                         "timestamp": msg.timestamp()[1], "headers": msg.headers() or []}
                if any(name == TICK_HEADER for name, _ in entry["headers"]):
                    ticks.append(entry)
                else:
                    records.append(entry)
    finally:
        consumer.close()


def ticks_for(msgs: Messages, captured_at: str, final: Optional[bool] = None) -> list[dict]:
    return [t for t in msgs.ticks if t["value"]["captured_at"] == captured_at
            and (final is None or t["value"]["final"] is final)]
