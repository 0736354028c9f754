"""Kafka connection settings for confluent-kafka clients and Quix Streams applications.

Local (no KAFKA_KEY): PLAINTEXT to the embedded broker. Confluent Cloud (KAFKA_KEY and
KAFKA_SECRET, as in the first seed's `.env`): SASL_SSL with PLAIN.
"""

from __future__ import annotations

from typing import Any, Mapping

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
                  timeout: float = 30.0, configs: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Create the given (already prefixed) topics if missing; existing ones are left alone.

    `configs` maps a topic name to its topic-level configuration at creation (for example
    `{"compression.type": "lz4"}`); a topic that already exists keeps its own.
    """
    admin = AdminClient(client_config(settings))
    existing = admin.list_topics(timeout=timeout).topics
    configs = configs or {}
    missing = [
        NewTopic(name, num_partitions=partitions or settings.topic_partitions,
                 replication_factor=settings.topic_replication, config=dict(configs.get(name, {})))
        for name in names if name not in existing
    ]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
        except Exception as exc:  # a concurrent creator is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def partition_count(settings: Settings, topic: str, timeout: float = 30.0) -> int:
    admin = AdminClient(client_config(settings))
    meta = admin.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        raise RuntimeError(f"topic {topic} does not exist")
    return len(meta.partitions)
