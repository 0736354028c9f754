"""The producer keeps each shard's polls in order on every partition, whatever the broker does
(issue 24): a chunk whose delivery fails holds every newer poll back until it is in, and a
broker that goes away only delays deliveries. Real broker, real librdkafka producer."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from devstack.kafka import KafkaBroker
from devstack.service import free_port
from producers import metrics
from producers.emitter import EmitReport, Emitter, Message
from producers.sharding import Shard
from pulse import topics
from pulse.kafka import client_config
from pulse.settings import Settings

T0 = 1_767_225_600_000


def read_all(settings: Settings, topic: str) -> list[tuple[int, bytes, int]]:
    """(offset, value, timestamp) of every message of the topic's single partition."""
    consumer = Consumer(client_config(settings, **{"group.id": f"read-{time.monotonic_ns()}"}))
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        out = []
        deadline = time.monotonic() + 30
        while len(out) < high and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and not msg.error():
                out.append((msg.offset(), msg.value(), msg.timestamp()[1]))
        return out
    finally:
        consumer.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.2)


def one_partition_topic(settings: Settings, config: dict[str, str]) -> str:
    topic = settings.topic(topics.STREAMS)
    admin = AdminClient(client_config(settings))
    admin.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(30)
    return topic


def test_a_failed_chunk_holds_newer_polls_back_until_it_is_delivered(make_settings: Callable[..., Settings]) -> None:
    """The broker refuses one chunk of poll 1 (larger than the topic allows: a permanent error).
    The emitter must not give it up and go on with poll 2: it reports the failure on its health
    check, keeps poll 2 back, and once the topic accepts the chunk, delivers it, then poll 2."""
    settings = make_settings()
    topic = one_partition_topic(settings, {"max.message.bytes": "4096"})
    emitter = Emitter(settings, Shard.parse("0/1"))
    small, big = Message(b"0", b"poll-1 small", 1, 0), Message(b"0", os.urandom(20_000), 1, 0)  # lz4 cannot shrink it
    reports: list[EmitReport] = []

    def two_polls() -> None:
        reports.append(emitter.settle(emitter.send([small, big], T0)))
        reports.append(emitter.settle(emitter.send([Message(b"0", b"poll-2", 1, 0)], T0 + 60_000)))

    sender = threading.Thread(target=two_polls, daemon=True)
    sender.start()
    try:
        wait_until(lambda: not emitter.health()[0], 30, "the failure on the emitter's health check")
        assert "held back" in emitter.health()[1]
        time.sleep(3)  # several retry rounds: poll 2 must still not be in the topic
        assert b"poll-2" not in [v for _, v, _ in read_all(settings, topic)]
        admin = AdminClient(client_config(settings))
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
            ConfigEntry("max.message.bytes", "1048576", incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([resource])[resource].result(30)
        sender.join(90)
        assert not sender.is_alive(), "the emitter did not deliver after the topic accepted the chunk"
    finally:
        emitter.stop.set()
        sender.join(10)
    delivered = read_all(settings, topic)
    assert [v for _, v, _ in delivered] == [b"poll-1 small", big.value, b"poll-2"]
    assert [t for _, _, t in delivered] == [T0, T0, T0 + 60_000]
    assert [r.failed_chunks for r in reports] == [0, 0]
    assert emitter.health()[0]


def test_a_broker_outage_delays_deliveries_and_keeps_their_order(make_settings: Callable[..., Settings],
                                                                  own_broker: KafkaBroker, tmp_path: Path) -> None:
    """Chunks produced while the broker is down wait in the producer's queue (never timed out
    and sent again behind newer ones); once it is back they arrive once each, in order. The
    first poll is larger than the queue: sending it waits for room, says so on the health
    check, and drops nothing."""
    settings = make_settings(kafka_bootstrap=own_broker.bootstrap)
    topic = one_partition_topic(settings, {})
    emitter = Emitter(settings, Shard.parse("0/1"), report_after=2.0, queue_kbytes=64)
    emitter.settle(emitter.send([Message(b"0", b"poll-0", 1, 0)], T0 - 60_000))
    own_broker.stop()
    padding = os.urandom(2_000)  # lz4 cannot shrink it: 50 of these are more than the 64 KB queue
    expected = [b"poll-1 part-%d " % i + padding for i in range(50)]
    expected += [b"poll-%d part-%d" % (k, i) for k in range(2, 4) for i in range(50)]
    reports: list[EmitReport] = []

    def polls() -> None:
        for k in range(1, 4):
            batch = [Message(b"0", v, 1, 0) for v in expected[(k - 1) * 50:k * 50]]
            reports.append(emitter.settle(emitter.send(batch, T0 + k * 60_000)))

    sender = threading.Thread(target=polls, daemon=True)
    sender.start()
    try:
        wait_until(lambda: not emitter.health()[0], 30, "the full queue on the emitter's health check")
        assert "queue is full (64 KB" in emitter.health()[1]
        time.sleep(3)
        assert emitter.health()[1].startswith("kafka deliveries waiting"), emitter.health()
        own_broker.start(timeout=120)
        sender.join(120)
        assert not sender.is_alive(), "deliveries did not resume after the broker came back"
    finally:
        emitter.stop.set()
        sender.join(10)
    values = [v for _, v, _ in read_all(settings, topic)]
    assert values == [b"poll-0"] + expected
    assert [(r.failed_chunks, r.chunks) for r in reports] == [(0, 50), (0, 50), (0, 50)]
    assert emitter.health()[0]


def test_a_stop_while_the_queue_is_full_counts_what_was_never_sent(make_settings: Callable[..., Settings]) -> None:
    """SIGTERM while a poll larger than the producer's queue waits for room (the broker away:
    its bootstrap address has no broker): the send ends at once, the chunks it never handed
    to the producer are undelivered at `settle`, the queued ones at `close`, and none of the
    poll's streams counts as emitted."""
    settings = make_settings()
    one_partition_topic(settings, {})
    emitter = Emitter(settings, Shard.parse("0/1"), report_after=1.0, queue_kbytes=64)
    emitter.settings = make_settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    emitter.producer = emitter._new_producer()
    lost_before, emitted_before = metrics.RECORDS_LOST._value.get(), metrics.STREAMS_EMITTED._value.get()
    batch = [Message(b"0", b"%d " % i + os.urandom(2_000), 3, 0) for i in range(50)]
    reports: list[EmitReport] = []
    sender = threading.Thread(target=lambda: reports.append(emitter.settle(emitter.send(batch, T0))), daemon=True)
    sender.start()
    try:
        wait_until(lambda: not emitter.health()[0], 30, "the full queue on the emitter's health check")
        assert "queue is full" in emitter.health()[1]
        assert sender.is_alive() and not reports, "send returned although the queue could not take the poll"
    finally:
        emitter.stop.set()
        sender.join(10)
    assert not sender.is_alive(), "a stop request did not end the wait for room in the queue"
    [report] = reports
    queued = 50 - report.failed_chunks
    assert 0 < queued < 50 and report.failed == 3 * report.failed_chunks
    emitter.close()
    assert emitter.lost_at_close == 3 * queued
    assert metrics.RECORDS_LOST._value.get() - lost_before == 3 * 50
    assert metrics.STREAMS_EMITTED._value.get() - emitted_before == 0
    emitter.producer.purge()  # see the test above: or the producer outlives the test
    emitter.producer.flush(0)


def test_a_stop_during_an_outage_counts_the_chunks_its_last_flush_does_not_deliver(
        make_settings: Callable[..., Settings]) -> None:
    """SIGTERM while the broker is away: the chunks still in the producer's queue are not lost
    at `settle` (the broker may still take them: test_replay's stopped-midway test), but
    whatever `close`'s last flush leaves unacknowledged is, and their streams are counted as
    undelivered, never as emitted. The broker is away for a real librdkafka producer: its
    bootstrap address has no broker."""
    settings = make_settings()
    one_partition_topic(settings, {})
    emitter = Emitter(settings, Shard.parse("0/1"), report_after=1.0)
    emitter.settings = make_settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    emitter.producer = emitter._new_producer()
    lost_before, emitted_before = metrics.RECORDS_LOST._value.get(), metrics.STREAMS_EMITTED._value.get()
    reports: list[EmitReport] = []
    sender = threading.Thread(target=lambda: reports.append(emitter.settle(emitter.send(
        [Message(b"0", b"part-%d" % i, 7, 0) for i in range(3)], T0))), daemon=True)
    sender.start()
    try:
        wait_until(lambda: not emitter.health()[0], 30, "the wait on the emitter's health check")
        assert "3 chunks of poll" in emitter.health()[1]
    finally:
        emitter.stop.set()
        sender.join(10)
    assert [(r.failed_chunks, r.failed, r.produced) for r in reports] == [(0, 0, 21)]  # in flight, not lost yet
    emitter.close()
    assert emitter.lost_at_close == 21
    assert metrics.RECORDS_LOST._value.get() - lost_before == 21
    assert metrics.STREAMS_EMITTED._value.get() - emitted_before == 0
    # the queued chunks hold the emitter's delivery callbacks, which hold the producer: drop them,
    # or it outlives the test, repeating its connection errors into the suite's output
    emitter.producer.purge()
    emitter.producer.flush(0)
