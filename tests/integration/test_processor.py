"""The real topology, as its own process, over the real broker: every window row equals the
independent DuckDB computation of DESIGN §4 over the same raw events."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from processors.routing import DLQ_HASH_HEADER, DLQ_MAX_BYTES, DLQ_REASON_HEADER, DLQ_SIZE_HEADER
from pulse import topics
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings
from tests import reference
from tests.pipeline import OUTPUTS, Sender, TopicReader, check_outputs, make_event, start_worker, stop_worker
from tests.scenario import I_S, TOP_N, W_S, build
from tests.scenario import T0 as T0_ALIGNED


def processor_settings(make_settings: Callable[..., Settings], partitions: int = 2) -> Settings:
    settings = make_settings(window_seconds=W_S, poll_interval_seconds=I_S, top_n=TOP_N,
                             topic_partitions=partitions, chunk_keys=16, alert_threshold_viewers=10**9,
                             surge_min_viewers=10**9, game_surge_min_viewers=10**9)
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    return settings


def send_action(sender: Sender, action: tuple) -> None:
    """One step of the scenario, as the producer would send it."""
    kind = action[0]
    if kind == "event":
        sender.event(action[1])
    elif kind == "raw":
        sender.raw(action[1], action[2])
    elif kind == "bad":
        sender.bad_stream(action[1], action[2])
    elif kind == "ticks":
        sender.ticks(action[1])
    elif kind == "final":
        sender.ticks(action[1], final=True)


def run_scenario(settings: Settings, partitions: int, tmp_path: Path, workers: int = 1,
                 kill_at: Optional[int] = None) -> tuple[dict[str, dict], TopicReader, dict[str, Any]]:
    """Send the scenario while `workers` processor processes run; optionally SIGKILL and
    restart them after action `kill_at`. Returns expected rows, the reader and the scenario."""
    sc = build()
    expected = reference.compute(sc.events, W_S, I_S, TOP_N, late=sc.late)
    procs = [start_worker(["processor"], settings, tmp_path / f"processor-{i}.log", PROCESSOR_INSTANCE_ID=str(i))
             for i in range(workers)]
    reader = TopicReader(settings, [settings.topic(t) for t in (*OUTPUTS.values(), topics.STREAMS_DLQ)])

    def alive() -> None:
        for i, proc in enumerate(procs):
            if proc.poll() is not None:
                log = (tmp_path / f"processor-{i}.log").read_text()[-3000:]
                raise AssertionError(f"processor {i} exited with {proc.returncode}:\n{log}")

    sender = Sender(settings, settings.topic(topics.STREAMS), partitions)
    try:
        for index, action in enumerate(sc.actions):
            send_action(sender, action)
            if kill_at is not None and index == kill_at:
                sender.flush()
                # let the first window come out, then kill every worker without warning
                reader.poll_until(lambda r: len(r.get(settings.topic(topics.WINDOWS_GAMES), [])) > 0, 120,
                                  settle=0, alive=alive)
                for proc in procs:
                    stop_worker(proc, signal.SIGKILL)
                # the same instance ids: each replacement takes its partitions back at once and
                # fences its predecessor's open transaction
                procs = [start_worker(["processor"], settings, tmp_path / f"processor-{i}.log",
                                      PROCESSOR_INSTANCE_ID=str(i)) for i in range(workers)]
        sender.flush()

        total = sum(len(v) for v in expected.values())

        def complete(records: dict[str, list]) -> bool:
            return sum(len(records.get(settings.topic(t), [])) for t in OUTPUTS.values()) >= total

        reader.poll_until(complete, timeout=180, alive=alive)
    finally:
        for proc in procs:
            if proc.poll() is None:
                assert stop_worker(proc, signal.SIGTERM) == 0, "processor did not stop cleanly on SIGTERM"
    return expected, reader, {"scenario": sc}


def test_windows_equal_batch_computation(make_settings, tmp_path: Path) -> None:
    settings = processor_settings(make_settings, partitions=2)
    expected, reader, _ = run_scenario(settings, 2, tmp_path)
    try:
        check_outputs(settings, expected, reader)
        # sanity of the scenario itself: the cases it claims to cover are in the expected rows
        games = expected["games"]
        assert len({row["window_start"] for row in games.values()}) == 5  # 3 before the final tick, 2 after
        assert any(r["rank"] == r2["rank"] and r["game_id"] != r2["game_id"] for r in games.values()
                   for r2 in games.values() if r["window_start"] == r2["window_start"])
        dlq = reader.records.get(settings.topic(topics.STREAMS_DLQ), [])
        reasons = sorted(dict(h)["x-pulse-dlq-reason"].decode() for _, _, h in dlq) if dlq else []
        assert reasons == ["missing field viewer_count", "value is not JSON"]
    finally:
        reader.close()


def test_sigkill_and_restart_neither_loses_nor_doubles(make_settings, tmp_path: Path) -> None:
    settings = processor_settings(make_settings, partitions=2)
    sc_len = len(build().actions)
    expected, reader, _ = run_scenario(settings, 2, tmp_path, kill_at=int(sc_len * 0.6))
    try:
        check_outputs(settings, expected, reader)
    finally:
        reader.close()


def test_two_instances_give_the_same_outputs(make_settings, tmp_path: Path) -> None:
    settings = processor_settings(make_settings, partitions=4)
    expected, reader, _ = run_scenario(settings, 4, tmp_path, workers=2)
    try:
        check_outputs(settings, expected, reader)
    finally:
        reader.close()


def test_oversized_poison_records_go_to_the_dlq_cut_to_fit(make_settings, tmp_path: Path) -> None:
    """A 1 MB and a 2 MB invalid record (the topic allows 3 MB) never stop the processor: each
    goes to the DLQ cut to fit, with its original size and SHA-256 in headers, and the windows
    after them still come out."""
    settings = make_settings(window_seconds=W_S, poll_interval_seconds=I_S, top_n=TOP_N, topic_partitions=1,
                             chunk_keys=4)
    streams_topic = settings.topic(topics.STREAMS)
    admin = AdminClient(client_config(settings))
    admin.create_topics([NewTopic(streams_topic, num_partitions=1, replication_factor=1,
                                  config={"max.message.bytes": str(3 * 1024 * 1024)})])[streams_topic].result(30)
    ensure_topics(settings, [settings.topic(name) for name in topics.ALL])
    big = Producer(client_config(settings, **{"message.max.bytes": 4 * 1024 * 1024}))
    poison = {1_040_000: b"x" * 1_040_000, 2 * 1024 * 1024: b"{" + b"y" * (2 * 1024 * 1024 - 1)}
    for value in poison.values():
        big.produce(streams_topic, key=b"0", value=value)
    assert big.flush(30) == 0
    sender = Sender(settings, streams_topic, 1)
    for k in range(12):
        t = T0_ALIGNED + k * I_S * 1000
        sender.event(make_event(t, "s1", "1", 10))
        sender.ticks(t)
    proc = start_worker(["processor"], settings, tmp_path / "processor.log")
    reader = TopicReader(settings, [settings.topic(topics.STREAMS_DLQ), settings.topic(topics.WINDOWS_GAMES)])
    try:
        records = reader.poll_until(
            lambda r: len(r.get(settings.topic(topics.STREAMS_DLQ), [])) >= 2
            and len(r.get(settings.topic(topics.WINDOWS_GAMES), [])) >= 1, timeout=120,
            alive=lambda: None if proc.poll() is None else pytest.fail("processor exited"))
    finally:
        reader.close()
        assert stop_worker(proc) == 0
    letters = records[settings.topic(topics.STREAMS_DLQ)]
    assert len(letters) == 2
    for _, value, headers in letters:
        h = dict(headers)
        size = int(h[DLQ_SIZE_HEADER])
        assert size in poison and h[DLQ_REASON_HEADER] == b"value is not JSON"
        assert h[DLQ_HASH_HEADER].decode() == hashlib.sha256(poison[size]).hexdigest()
        assert len(value) == DLQ_MAX_BYTES and value == poison[size][:DLQ_MAX_BYTES]


def set_max_message_bytes(settings: Settings, topic: str, limit: int) -> None:
    admin = AdminClient(client_config(settings))
    resource = ConfigResource(ResourceType.TOPIC, topic,
                              incremental_configs=[ConfigEntry("max.message.bytes", str(limit),
                                                               incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def test_an_output_the_broker_refuses_commits_nothing_until_it_is_taken(make_settings, tmp_path: Path) -> None:
    """The stages hand their rows to the transactional client without a delivery callback
    (processors.routing.transactional_produce): a row that fails delivery (here, larger than
    its topic takes) must fail the whole transaction, so the processor rebuilds and tries again
    (the broker's reason in its log) and commits nothing of it. Had any of it been committed
    (the window's game rows, its `done` marker), the run after the topic is fixed could not give
    every row; it must give each exactly once."""
    settings = processor_settings(make_settings, partitions=2)
    channels = settings.topic(topics.WINDOWS_CHANNELS)
    set_max_message_bytes(settings, channels, 128)  # a channel row is about 270 bytes
    sc = build()
    expected = reference.compute(sc.events, W_S, I_S, TOP_N, late=sc.late)
    log = tmp_path / "processor-refused.log"
    proc = start_worker(["processor"], settings, log, PROCESSOR_INSTANCE_ID="0")
    sender = Sender(settings, settings.topic(topics.STREAMS), 2)
    try:
        for action in sc.actions:
            send_action(sender, action)
        sender.flush()
        deadline = time.monotonic() + 120
        while log.read_text().count("Message size too large") < 2:  # refused, and refused again after a rebuild
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the broker's refusal never reached the processor's log"
            time.sleep(0.2)
    finally:
        assert stop_worker(proc, signal.SIGTERM) == 0

    set_max_message_bytes(settings, channels, 1_048_588)
    reader = run_until_complete(settings, tmp_path, expected)
    try:
        check_outputs(settings, expected, reader)
    finally:
        reader.close()


def run_until_complete(settings: Settings, tmp_path: Path, expected: dict[str, dict]) -> TopicReader:
    """A processor on input already sent, until every expected row is out (the reader has them)."""
    proc = start_worker(["processor"], settings, tmp_path / "processor-0.log", PROCESSOR_INSTANCE_ID="0")
    reader = TopicReader(settings, [settings.topic(t) for t in OUTPUTS.values()])
    total = sum(len(v) for v in expected.values())

    def alive() -> None:
        if proc.poll() is not None:
            raise AssertionError(f"processor exited with {proc.returncode}:\n"
                                 f"{(tmp_path / 'processor-0.log').read_text()[-3000:]}")

    try:
        reader.poll_until(lambda r: sum(len(r.get(settings.topic(t), [])) for t in OUTPUTS.values()) >= total,
                          timeout=180, alive=alive)
    finally:
        assert stop_worker(proc, signal.SIGTERM) == 0
    return reader
