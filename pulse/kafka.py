"""Kafka connection settings for confluent-kafka clients and Quix Streams applications.

Local (no KAFKA_KEY): PLAINTEXT to the embedded broker. Confluent Cloud (KAFKA_KEY and
KAFKA_SECRET, as in the first seed's `.env`): SASL_SSL with PLAIN.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from quixstreams.kafka.configuration import ConnectionConfig

from .settings import Settings


def _security(settings: Settings) -> dict[str, str]:
    key = settings.kafka_key.get_secret_value()
    if not key:
        return {"security.protocol": settings.kafka_security_protocol or "PLAINTEXT"}
    return {
        "security.protocol": settings.kafka_security_protocol or "SASL_SSL",
        "sasl.mechanisms": settings.kafka_sasl_mechanism,
        "sasl.username": key,
        "sasl.password": settings.kafka_secret.get_secret_value(),
    }


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Config dict for a plain confluent-kafka Producer/Consumer/AdminClient."""
    return {"bootstrap.servers": settings.kafka_bootstrap, **_security(settings), **extra}


def connection_config(settings: Settings) -> ConnectionConfig:
    """The same connection for `quixstreams.Application(broker_address=...)`."""
    sec = _security(settings)
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": sec["security.protocol"].lower(),
    }
    if "sasl.username" in sec:
        kwargs.update(
            sasl_mechanism=sec["sasl.mechanisms"],
            sasl_username=sec["sasl.username"],
            sasl_password=sec["sasl.password"],
        )
    return ConnectionConfig(**kwargs)


def ensure_topics(settings: Settings, names: list[str], partitions: int | None = None,
                  timeout: float = 30.0) -> None:
    """Create the given (already prefixed) topics if missing; existing ones are left alone.

    Returns only once every topic is visible in the cluster metadata with a leader for each
    partition: a fresh broker under load can answer `create_topics` before a consumer's
    metadata request sees the topic (issue 10 §8). Raises KafkaException (_TIMED_OUT) if that
    does not happen within `timeout`, which `pulse.resilience` treats as a broker outage.
    """
    admin = AdminClient(client_config(settings))
    existing = admin.list_topics(timeout=timeout).topics
    missing = [
        NewTopic(name, num_partitions=partitions or settings.topic_partitions,
                 replication_factor=settings.topic_replication)
        for name in names if name not in existing
    ]
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
            try:
                future.result()
            except Exception as exc:  # a concurrent creator is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    wait_visible(admin, names, timeout)


def wait_visible(admin: AdminClient, names: list[str], timeout: float = 30.0) -> None:
    """Wait until each topic is in the metadata, without error, every partition with a leader."""
    deadline = time.monotonic() + timeout
    pending = list(names)
    while True:
        meta = admin.list_topics(timeout=max(1.0, deadline - time.monotonic())).topics
        pending = [name for name in pending if not _ready(meta.get(name))]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT,
                                            f"topics not visible in metadata after {timeout:.0f}s: {', '.join(pending)}"))
        time.sleep(0.2)


def _ready(topic: Any) -> bool:
    return (topic is not None and topic.error is None and bool(topic.partitions)
            and all(p.leader >= 0 and p.error is None for p in topic.partitions.values()))


def partition_count(settings: Settings, topic: str, timeout: float = 30.0) -> int:
    admin = AdminClient(client_config(settings))
    meta = admin.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        raise RuntimeError(f"topic {topic} does not exist")
    return len(meta.partitions)
