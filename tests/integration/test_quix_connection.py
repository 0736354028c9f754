"""The broker decision in one place (pulse.kafka.app_connection): plain Kafka from KAFKA_* (or
from `quix pipeline up`'s Quix__Broker__Address when KAFKA_BOOTSTRAP is not set), or the
Quix-managed broker through Quix Streams' own Quix configuration when Quix__Sdk__Token is
set, with the state in Quix__Deployment__State__Path. The Quix case runs for real against a
local HTTP server answering the Quix Portal API calls Quix Streams makes, which hands out the
real test broker: the worker never sees KAFKA_BOOTSTRAP."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from confluent_kafka import Consumer
from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig

from pulse import topics
from pulse.kafka import app_connection, broker_topic, client_config, ensure_topics
from pulse.settings import LOCAL_BOOTSTRAP, ConfigError, load_settings

WORKSPACE = "acme-pulse-prod"


def test_plain_kafka_without_the_token(tmp_path: Path) -> None:
    settings = load_settings(kafka_bootstrap="broker:9092", state_dir=tmp_path, topic_prefix="dev.")
    assert broker_topic(settings, topics.ALERTS) == "dev.twitch.alerts"
    kwargs = app_connection(settings, "sink-raw")
    assert set(kwargs) == {"broker_address", "state_dir"}
    assert isinstance(kwargs["broker_address"], ConnectionConfig)
    assert kwargs["broker_address"].bootstrap_servers == "broker:9092"
    assert kwargs["state_dir"] == str(tmp_path / "sink-raw")


def test_quix_token_hands_the_broker_to_quix_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Quix__Sdk__Token", "sdk-token-4242")
    monkeypatch.setenv("Quix__Portal__Api", "https://portal-api.example/")
    monkeypatch.setenv("Quix__Deployment__State__Path", "/app/state")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "")  # as Quix deploys it: nothing to fill in by hand
    settings = load_settings()
    kwargs = app_connection(settings, "processor")
    assert kwargs == {"quix_sdk_token": "sdk-token-4242", "quix_portal_api": "https://portal-api.example/",
                      "state_dir": "/app/state"}  # exactly Quix's volume, as Quix Streams expects
    assert str(settings.state_dir) == "/app/state"  # the Slack delivered log goes there too
    assert "sdk-token-4242" in settings.secret_values  # redacted from logs


def test_the_broker_is_resolved_in_quix_streams_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """KAFKA_BOOTSTRAP, else Quix__Broker__Address, else the SDK token's broker, else the local one."""
    assert load_settings().kafka.bootstrap == LOCAL_BOOTSTRAP
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "")  # empty is not set
    assert load_settings().kafka.bootstrap == LOCAL_BOOTSTRAP
    monkeypatch.setenv("Quix__Sdk__Token", "sdk-token-4242")
    with pytest.raises(ConfigError, match="Quix__Portal__Api: required with Quix__Sdk__Token") as err:
        load_settings()
    assert "sdk-token-4242" not in str(err.value)
    monkeypatch.setenv("Quix__Portal__Api", "https://portal-api.example/")
    assert load_settings().kafka.uses_quix_broker
    # Quix Streams takes Quix__Broker__Address before the token (quixstreams.Application)
    monkeypatch.setenv("Quix__Broker__Address", "kafka-broker:9092")
    settings = load_settings()
    assert not settings.kafka.uses_quix_broker and settings.kafka.bootstrap == "kafka-broker:9092"
    # and an explicit KAFKA_BOOTSTRAP before both
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "pkc-1.example.cloud:9092")
    settings = load_settings()
    assert not settings.kafka.uses_quix_broker and settings.kafka.bootstrap == "pkc-1.example.cloud:9092"
    assert app_connection(settings, "sink-raw")["broker_address"].bootstrap_servers == "pkc-1.example.cloud:9092"
    monkeypatch.setenv("Quix__Broker__Address", "no-port")
    with pytest.raises(ConfigError, match=r"Quix__Broker__Address: .*host:port"):
        load_settings()


def test_a_quix_pipeline_up_environment_reaches_its_broker(kafka_broker, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    """`quix pipeline up` gives each container Quix__Broker__Address (its compose broker), the
    topic variables and no KAFKA_BOOTSTRAP: the worker's application and its plain clients
    reach that broker, not 127.0.0.1:9092 inside the container."""
    unique = uuid.uuid4().hex[:8]
    alerts = f"{topics.ALERTS}-{unique}"
    for name, value in {"Quix__Broker__Address": kafka_broker.bootstrap, "TOPIC_ALERTS": alerts,
                        "STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.kafka.bootstrap == kafka_broker.bootstrap and not settings.kafka.uses_quix_broker
    ensure_topics(settings, [settings.topic(topics.ALERTS)], partitions=1)  # on that broker
    app = Application(**app_connection(settings, "pipeline-up"), consumer_group=settings.group("pipeline-up"),
                      auto_offset_reset="earliest", loglevel=None)
    assert app.config.broker_address.bootstrap_servers == kafka_broker.bootstrap
    topic = app.topic(settings.topic(topics.ALERTS), value_serializer="json", key_serializer="str")
    _produce_alert(app, topic, {"alert_id": "a1"})
    config = client_config(settings, **{"group.id": f"check-{unique}", "auto.offset.reset": "earliest"})
    assert config["bootstrap.servers"] == kafka_broker.bootstrap
    assert _read_one(config, broker_topic(settings, topics.ALERTS)) == (b"a1", {"alert_id": "a1"})


def _produce_alert(app: Application, topic: Any, value: dict[str, str]) -> None:
    """One record through the application's own producer (its broker connection)."""
    with app.get_producer() as producer:
        msg = topic.serialize(key=value["alert_id"], value=value)
        producer.produce(topic=topic.name, key=msg.key, value=msg.value)
        producer.flush(10)


def _read_one(config: dict[str, Any], topic: str) -> tuple[bytes, Any]:
    """The first record of `topic`, read by a plain confluent-kafka consumer with `config`."""
    consumer = Consumer(config)
    try:
        consumer.subscribe([topic])
        got = None
        for _ in range(60):
            got = consumer.poll(1.0)
            if got is not None and got.error() is None:
                break
        assert got is not None and got.error() is None
        return got.key(), json.loads(got.value())
    finally:
        consumer.close()


class _Portal(BaseHTTPRequestHandler):
    """The Quix Portal API calls Quix Streams makes: the workspace, its broker's librdkafka
    config, its topics (Quix name -> broker topic id '<workspace>-<name>')."""

    bootstrap: str
    topics: dict[str, int]
    seen: list[str]

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(self.path)
        assert self.headers["Authorization"] == "Bearer sdk-token-4242"
        topic_info = {name: {"id": f"{WORKSPACE}-{name}", "name": name, "status": "Ready",
                             "configuration": {"partitions": parts, "replicationFactor": 1, "retentionInMinutes": 60,
                                               "retentionInBytes": -1, "cleanupPolicy": "Delete"}}
                      for name, parts in self.topics.items()}
        routes: dict[str, Any] = {
            f"/workspaces/{WORKSPACE}": {"workspaceId": WORKSPACE, "name": "pulse", "status": "Ready",
                                         "brokerSettings": {"brokerType": "SharedKafka", "syncTopics": False}},
            f"/workspaces/{WORKSPACE}/broker/librdkafka": {"bootstrap.servers": self.bootstrap,
                                                           "security.protocol": "PLAINTEXT"},
            f"/{WORKSPACE}/topics": list(topic_info.values()),
            **{f"/{WORKSPACE}/topics/{name}": info for name, info in topic_info.items()},
        }
        body = routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body if body is not None else {"message": "not found"}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def portal(kafka_broker) -> Iterator[tuple[str, type[_Portal]]]:
    handler = type("Portal", (_Portal,), {"bootstrap": kafka_broker.bootstrap, "topics": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_quix_managed_broker_end_to_end(portal, kafka_broker, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    url, handler = portal
    unique = uuid.uuid4().hex[:8]
    alerts = f"{topics.ALERTS}-{unique}"
    quix_id = f"{WORKSPACE}-{alerts}"
    # the topic exists in the workspace (quix.yaml declares it); on the broker it has Quix's id
    ensure_topics(load_settings(kafka_bootstrap=kafka_broker.bootstrap), [quix_id], partitions=1)
    handler.topics[alerts] = 1
    for name, value in {"Quix__Sdk__Token": "sdk-token-4242", "Quix__Portal__Api": url,
                        "Quix__Workspace__Id": WORKSPACE, "Quix__Deployment__State__Path": str(tmp_path / "state"),
                        "KAFKA_BOOTSTRAP": "", "TOPIC_ALERTS": alerts}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    ensure_topics(settings, [settings.topic(topics.ALERTS)])  # a no-op on Quix: topics are Quix's

    # a Quix Streams application built the way the workers build theirs
    app = Application(**app_connection(settings, "quix-test"), consumer_group=settings.group("quix-test"),
                      auto_offset_reset="earliest", loglevel=None)
    topic = app.topic(settings.topic(topics.ALERTS), value_serializer="json", key_serializer="str")
    assert topic.name == quix_id  # Quix resolved the name the TOPIC_ALERTS variable gave
    assert app.config.consumer_group == f"{WORKSPACE}-{settings.group('quix-test')}"
    assert app.config.state_dir == tmp_path / "state"
    _produce_alert(app, topic, {"alert_id": "a1", "kind": "threshold"})

    # a plain confluent-kafka client from pulse.kafka gets the same broker and topic from the Portal API
    assert broker_topic(settings, topics.ALERTS) == quix_id
    config = client_config(settings, **{"group.id": f"check-{unique}", "auto.offset.reset": "earliest"})
    assert config["bootstrap.servers"] == kafka_broker.bootstrap
    assert _read_one(config, broker_topic(settings, topics.ALERTS)) == (b"a1", {"alert_id": "a1", "kind": "threshold"})
    assert f"/workspaces/{WORKSPACE}/broker/librdkafka" in handler.seen
