"""Helpers for tests that drive real workers over the real broker: send polls as chunks,
start a worker as its own process, and read a topic until a condition holds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from producers.chunk_keys import DEFAULT_KEYS
from pulse import topics
from pulse.events import Chunk, cut_poll, final_chunks, format_ts, parse_ts
from pulse.kafka import client_config
from pulse.settings import Settings
from tests.reference import assert_rows_equal

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


V1_FIELDS = ("schema", "captured_at", "poll_id")


def stream_of(event: dict[str, Any]) -> dict[str, Any]:
    """A v1 event (what the reference computation reads) -> the stream object a chunk carries."""
    return {k: v for k, v in event.items() if k not in V1_FIELDS}


class Sender:
    """Sends polls as the producer does: `event` collects a poll's samples, `ticks(t)` cuts what
    was collected into snapshot chunks (every chunk key gets at least one) and produces them,
    oldest poll first; `final` adds the end-of-source chunks."""

    def __init__(self, settings: Settings, topic: str, partitions: int, keys: Optional[int] = None,
                 chunk_streams: Optional[int] = None) -> None:
        self.topic = topic
        self.partitions = partitions
        self.keys = keys or settings.producer.chunk_keys or DEFAULT_KEYS
        self.chunk_streams = chunk_streams or settings.producer.chunk_streams
        self.producer = Producer(client_config(settings, **{"enable.idempotence": True, "linger.ms": 5}))
        self.sent: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.pending: dict[int, list[dict[str, Any]]] = {}
        self.chunks = 0

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))

    def event(self, event: dict[str, Any]) -> None:
        self.pending.setdefault(parse_ts(event["captured_at"]), []).append(stream_of(event))
        self.sent.append(event)

    def bad_stream(self, t_ms: int, stream: dict[str, Any]) -> None:
        """An invalid stream object inside the chunk of poll `t_ms`, as the key of its user_id."""
        self.pending.setdefault(t_ms, []).append(stream)

    def raw(self, key: Optional[bytes], value: bytes) -> None:
        self.producer.produce(self.topic, key=key, value=value, on_delivery=self._delivered)

    def _produce(self, chunk: Chunk, value: bytes) -> None:
        self.producer.produce(self.topic, key=chunk.message_key, value=value, timestamp=parse_ts(chunk.captured_at),
                              on_delivery=self._delivered)
        self.chunks += 1

    def ticks(self, t_ms: int, final: bool = False, producer: str = "test", shards: int = 1) -> None:
        """Poll `t_ms` (and anything still collected for other polls) is complete: send it."""
        self.pending.setdefault(t_ms, [])
        for t in sorted(self.pending):
            streams = self.pending.pop(t)
            for chunk, value in cut_poll(streams, t, f"{producer}@{format_ts(t)}", producer, shards, self.keys,
                                         self.chunk_streams):
                self._produce(chunk, value)
        if final:
            for chunk, value in final_chunks(t_ms, f"{producer}@{format_ts(t_ms)}", producer, shards, self.keys):
                self._produce(chunk, value)
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
    """Send `sig` and return the exit code; a worker still running after `timeout` is killed
    (-9), never left behind to outlive its test."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(30)


class TopicReader:
    """Reads committed records of some topics from the beginning, accumulating them."""

    LOOK = 0.2  # seconds between looks at the condition while records keep coming

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self.consumer = Consumer(client_config(settings, **{
            "group.id": f"reader-{time.monotonic_ns()}", "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "isolation.level": "read_committed",
        }))
        self.consumer.subscribe(list(topics))
        self.records: dict[str, list[tuple[Optional[str], Any, list]]] = {}

    def poll_until(self, done: Callable[[dict[str, list]], bool], timeout: float, settle: float = 1.0,
                   alive: Optional[Callable[[], None]] = None) -> dict[str, list]:
        """Reads until `done(records)` has held for `settle` seconds and the topics ran dry.
        `done` is also looked at every LOOK seconds while records keep coming, so a test learns
        when a record arrived, not when the reader caught up with everything after it."""
        deadline = time.monotonic() + timeout
        satisfied_at: Optional[float] = None
        next_look = time.monotonic() + self.LOOK
        while time.monotonic() < deadline:
            if alive:
                alive()
            msg = self.consumer.poll(0.3)
            dry = msg is None or msg.error() is not None
            if not dry:
                key = msg.key().decode() if msg.key() is not None else None
                try:
                    value = orjson.loads(msg.value())
                except orjson.JSONDecodeError:
                    value = msg.value()
                self.records.setdefault(msg.topic(), []).append((key, value, msg.headers() or []))
                if time.monotonic() < next_look:
                    continue
            next_look = time.monotonic() + self.LOOK
            if done(self.records):
                satisfied_at = satisfied_at or time.monotonic()
                if dry and time.monotonic() - satisfied_at >= settle:
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


OUTPUTS = {"games": topics.WINDOWS_GAMES, "channels": topics.WINDOWS_CHANNELS,
           "top_channels": topics.WINDOWS_TOP_CHANNELS, "streams": topics.WINDOWS_STREAMS,
           "languages": topics.WINDOWS_LANGUAGES}


def check_outputs(settings: Settings, expected: dict[str, dict], reader: TopicReader) -> None:
    for name, topic in OUTPUTS.items():
        records = reader.records.get(settings.topic(topic), [])
        keys = [key for key, _, _ in records]
        assert len(keys) == len(set(keys)), f"{name}: duplicate rows {len(keys) - len(set(keys))}"
        assert_rows_equal(expected[name], {key: value for key, value, _ in records}, name)


# A broker outage long enough to expire what it can expire: the processor's transaction
# (PROCESSOR_TRANSACTION_TIMEOUT_MS, 30 s), every consumer session (10-15 s) and the sinks'
# retries; the outage tests of issue 24 keep Twitch's two minutes (test_outage_exact.py)
BROKER_OUTAGE = float(os.environ.get("FAULT_BROKER_OUTAGE_SECONDS", 40))
HEALTH_DEADLINE = 10.0  # issue 10 §4, §5: an outage shows on /healthz within 10 s


def health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def run_status(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent", **env}
    return subprocess.run([sys.executable, "-m", "pulse", "status", *args], env=full_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_lines(text: str, kind: str) -> list[str]:
    return [line for line in text.splitlines() if line.split(" ", 1)[0] == kind]
