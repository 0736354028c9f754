"""The embedded stack is real: a KRaft broker that supports transactions, and fakesnow
reached by the real Snowflake connector over HTTP."""

from __future__ import annotations

import json
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

from devstack.kafka import KafkaBroker
from pulse.kafka import client_config, ensure_topics
from pulse.metrics import MetricsServer
from pulse.settings import Settings
from sinks.snowflake import connect


def _consume_all(settings: Settings, topic: str, expect: int, timeout: float = 30.0) -> list[bytes]:
    consumer = Consumer(client_config(settings, **{
        "group.id": settings.group("roundtrip"), "auto.offset.reset": "earliest",
        "isolation.level": "read_committed", "enable.auto.commit": False,
    }))
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expect and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                values.append(msg.value())
        # drain a little more: nothing else (aborted records) may show up
        end = time.monotonic() + 2
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                values.append(msg.value())
    finally:
        consumer.close()
    return values


def test_starting_twice_finds_it_running(kafka_broker: KafkaBroker) -> None:
    again = KafkaBroker(kafka_broker.run_dir, port=kafka_broker.port)
    assert again.start(timeout=30) is False
    assert "running" in again.status()


def test_transactional_round_trip(settings: Settings) -> None:
    topic = settings.topic("roundtrip")
    ensure_topics(settings, [topic], partitions=2)
    producer = Producer(client_config(settings, **{"transactional.id": f"{topic}-tx", "enable.idempotence": True}))
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, key=str(i % 3).encode(), value=f"committed-{i}".encode())
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key=b"x", value=b"aborted")
    producer.flush(10)
    producer.abort_transaction(30)
    values = _consume_all(settings, topic, expect=10)
    assert sorted(values) == sorted(f"committed-{i}".encode() for i in range(10))


def test_transactional_offsets_commit(settings: Settings) -> None:
    """Exactly-once processing needs send_offsets_to_transaction on this one-node config."""
    src, dst = settings.topic("eos-in"), settings.topic("eos-out")
    ensure_topics(settings, [src, dst], partitions=1)
    p = Producer(client_config(settings))
    for i in range(5):
        p.produce(src, value=str(i).encode())
    p.flush(10)
    group = settings.group("eos")
    consumer = Consumer(client_config(settings, **{"group.id": group, "auto.offset.reset": "earliest",
                                                   "enable.auto.commit": False,
                                                   "isolation.level": "read_committed"}))
    consumer.subscribe([src])
    tx = Producer(client_config(settings, **{"transactional.id": f"{group}-tx"}))
    tx.init_transactions(30)
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 5 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg)
    assert len(got) == 5
    tx.begin_transaction()
    for msg in got:
        tx.produce(dst, value=msg.value() * 2)
    tx.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata())
    tx.commit_transaction(30)
    committed = consumer.committed([TopicPartition(src, 0)], timeout=10)
    consumer.close()
    assert committed[0].offset == 5
    assert sorted(_consume_all(settings, dst, expect=5)) == sorted(str(i).encode() * 2 for i in range(5))


def test_warehouse_variant_and_merge(wh_settings: Settings) -> None:
    conn = connect(wh_settings)
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS STREAM_LOGS (RAW_DATA VARIANT, CAPTURED_AT TIMESTAMP_NTZ)")
    rows = [json.dumps({"user_login": "a", "viewer_count": 5}), json.dumps({"user_login": "b", "viewer_count": 7})]
    cur.execute(
        "INSERT INTO STREAM_LOGS (RAW_DATA, CAPTURED_AT) "
        "SELECT PARSE_JSON(column1), column2::TIMESTAMP_NTZ FROM VALUES (%s, %s), (%s, %s)",
        (rows[0], "2026-01-01 00:00:00", rows[1], "2026-01-01 00:01:00"),
    )
    cur.execute("SELECT RAW_DATA:user_login::string, RAW_DATA:viewer_count::int FROM STREAM_LOGS ORDER BY 1")
    assert cur.fetchall() == [("a", 5), ("b", 7)]
    cur.execute("CREATE TABLE IF NOT EXISTS W (K VARCHAR, V NUMBER)")
    merge = ("MERGE INTO W USING (SELECT column1 AS K, column2 AS V FROM VALUES (%s, %s), (%s, %s)) S ON W.K = S.K "
             "WHEN MATCHED THEN UPDATE SET V = S.V WHEN NOT MATCHED THEN INSERT (K, V) VALUES (S.K, S.V)")
    cur.execute(merge, ("a", 1, "b", 2))
    cur.execute(merge, ("b", 3, "c", 4))
    cur.execute("SELECT K, V FROM W ORDER BY K")
    assert cur.fetchall() == [("a", 1), ("b", 3), ("c", 4)]
    conn.close()


def test_metrics_and_health_endpoints() -> None:
    from prometheus_client import Counter

    c = Counter("pulse_test_things_total", "things counted by the test")
    c.inc(3)
    healthy = {"ok": True}
    server = MetricsServer(0, health=lambda: (healthy["ok"], "ok" if healthy["ok"] else "broker unreachable"),
                           host="127.0.0.1").start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert "pulse_test_things_total 3.0" in body
        assert urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200
        healthy["ok"] = False
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
            raise AssertionError("expected 503")
        except urllib.error.HTTPError as err:
            assert err.code == 503 and b"broker unreachable" in err.read()
    finally:
        server.stop()
