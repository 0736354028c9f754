"""Helpers for tests that drive real workers over the real broker: send events and ticks,
start a worker as its own process, and read a topic until a condition holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from pulse.events import TICK_HEADER, TICK_KEY, format_ts, parse_ts, tick
from pulse.kafka import client_config
from pulse.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def make_event(t_ms: int, stream_id: str, user_id: str, viewers: int, game_id: str = "g1",
               game_name: Optional[str] = None, started_ms: Optional[int] = None, login: Optional[str] = None,
               **extra: Any) -> dict[str, Any]:
    event = {
        "schema": 1, "captured_at": format_ts(t_ms), "poll_id": f"poll-{t_ms}", "stream_id": stream_id,
        "user_id": user_id, "user_login": login or f"user{user_id}", "user_name": (login or f"User{user_id}"),
        "game_id": game_id, "game_name": game_name if game_name is not None else f"Game {game_id}",
        "title": "t", "language": "en", "type": "live", "tags": ["English"], "viewer_count": viewers,
        "started_at": format_ts(started_ms if started_ms is not None else t_ms - 3_600_000), "is_mature": False,
    }
    event.update(extra)
    return event


class Sender:
    """Produces events (keyed by user_id, timestamp = captured_at) and per-partition ticks."""

    def __init__(self, settings: Settings, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = partitions
        self.producer = Producer(client_config(settings, **{"enable.idempotence": True, "linger.ms": 5}))
        self.sent: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))

    def event(self, event: dict[str, Any]) -> None:
        ts = parse_ts(event["captured_at"])
        self.producer.produce(self.topic, key=event["user_id"].encode(), value=orjson.dumps(event), timestamp=ts,
                              on_delivery=self._delivered)
        self.sent.append(event)

    def raw(self, key: Optional[bytes], value: bytes) -> None:
        self.producer.produce(self.topic, key=key, value=value, on_delivery=self._delivered)

    def ticks(self, t_ms: int, final: bool = False, producer: str = "test", shards: int = 1) -> None:
        self.flush()
        value = orjson.dumps(tick(t_ms, producer, shards=shards, final=final))
        for p in range(self.partitions):
            self.producer.produce(self.topic, partition=p, key=TICK_KEY.encode(), value=value, timestamp=t_ms,
                                  headers=[(TICK_HEADER, b"1")], on_delivery=self._delivered)
        self.flush()

    def flush(self) -> None:
        assert self.producer.flush(30) == 0, "records still in flight after 30 s"
        assert not self.errors, f"delivery failed: {self.errors[:3]}"


def start_worker(args: list[str], settings: Settings, log_path: Path, **env: str) -> subprocess.Popen:
    """Run `twitch-pulse ARGS` as its own process with these settings in its environment."""
    full_env = {**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent", **env}
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "pulse", *args], env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT)


def stop_worker(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout)


class TopicReader:
    """Reads committed records of some topics from the beginning, accumulating them."""

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self.consumer = Consumer(client_config(settings, **{
            "group.id": f"reader-{time.monotonic_ns()}", "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "isolation.level": "read_committed",
        }))
        self.consumer.subscribe(list(topics))
        self.records: dict[str, list[tuple[Optional[str], Any, list]]] = {}

    def poll_until(self, done: Callable[[dict[str, list]], bool], timeout: float, settle: float = 1.0,
                   alive: Optional[Callable[[], None]] = None) -> dict[str, list]:
        deadline = time.monotonic() + timeout
        satisfied_at: Optional[float] = None
        while time.monotonic() < deadline:
            if alive:
                alive()
            msg = self.consumer.poll(0.3)
            if msg is not None and not msg.error():
                key = msg.key().decode() if msg.key() is not None else None
                try:
                    value = orjson.loads(msg.value())
                except orjson.JSONDecodeError:
                    value = msg.value()
                self.records.setdefault(msg.topic(), []).append((key, value, msg.headers() or []))
                continue
            if done(self.records):
                satisfied_at = satisfied_at or time.monotonic()
                if time.monotonic() - satisfied_at >= settle:
                    return self.records
            else:
                satisfied_at = None
        raise TimeoutError(f"condition not met within {timeout}s; have { {k: len(v) for k, v in self.records.items()} }")

    def close(self) -> None:
        self.consumer.close()


def committed_offsets(settings: Settings, group: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer(client_config(settings, **{"group.id": group}))
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)], 10)]
    finally:
        consumer.close()
