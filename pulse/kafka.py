"""Kafka connection settings for confluent-kafka clients and Quix Streams applications.

Local (no KAFKA_KEY): PLAINTEXT to the embedded broker. Confluent Cloud (KAFKA_KEY and
KAFKA_SECRET, as in the first seed's `.env`): SASL_SSL with PLAIN. `quix pipeline up`
(Quix__Broker__Address, no KAFKA_BOOTSTRAP): that local pipeline's broker, as Quix Streams
would take it. Quix-managed Kafka (`Quix__Sdk__Token` set and no broker address, as on every
Quix Cloud deployment): Quix Streams' own Quix configuration, which asks the Quix Portal API for the broker, the workspace's topic names
and its consumer-group prefix; `app_connection()` is the one place that decides.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping, Optional

import orjson
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models.topics import Topic, TopicAdmin, TopicConfig, TopicManager
from quixstreams.models.topics.exceptions import TopicConfigurationMismatch, TopicNotFoundError
from quixstreams.platforms.quix.config import QuixKafkaConfigsBuilder
from quixstreams.state.manager import DEFAULT_STATE_STORE_NAME

from .settings import Settings

# Quix Streams checks whether a commit is due (and flushes its sinks) only between polls of its
# consumer, and a poll with nothing to read idles up to its timeout, 1 s by default: an idle
# moment put a due commit off by up to that long, and so the outputs that wait for it.
CONSUMER_POLL_SECONDS = 0.1


def _security(settings: Settings) -> dict[str, str]:
    key = settings.kafka.key.get_secret_value()
    if not key:
        return {"security.protocol": settings.kafka.security_protocol or "PLAINTEXT"}
    return {
        "security.protocol": settings.kafka.security_protocol or "SASL_SSL",
        "sasl.mechanisms": settings.kafka.sasl_mechanism,
        "sasl.username": key,
        "sasl.password": settings.kafka.secret.get_secret_value(),
    }


def app_connection(settings: Settings, name: str) -> dict[str, Any]:
    """Keyword arguments for `quixstreams.Application(...)` of worker `name`: how it reaches
    the broker and where it keeps its state.

    Quix-managed broker (the SDK token, no broker address; `Settings._connection` resolves
    them in Quix Streams' order): `quix_sdk_token` and `quix_portal_api`, so Quix Streams
    configures the broker, the workspace topic names and consumer-group prefix itself, and
    the state directory is exactly Quix's `Quix__Deployment__State__Path` (the mounted
    volume) when set. Otherwise `broker_address` from KAFKA_* (KAFKA_BOOTSTRAP, or
    Quix__Broker__Address when it is not set) and `STATE_DIR/<name>`.
    """
    if settings.kafka.uses_quix_broker:
        kwargs: dict[str, Any] = {"quix_sdk_token": settings.kafka.quix_sdk_token.get_secret_value(),
                                  "quix_portal_api": settings.kafka.quix_portal_api}
    else:
        kwargs = {"broker_address": connection_config(settings)}
    state = settings.common.quix_state_path or settings.state_dir / name
    return {**kwargs, "state_dir": str(state)}


@lru_cache(maxsize=4)
def _quix_builder(token: str, portal_api: str) -> QuixKafkaConfigsBuilder:
    return QuixKafkaConfigsBuilder.from_credentials(quix_sdk_token=token, quix_portal_api=portal_api)


def _quix_connection(token: str, portal_api: str) -> dict[str, Any]:
    builder = _quix_builder(token, portal_api)
    return {**builder.librdkafka_connection_config.as_librdkafka_dict(), **builder.librdkafka_extra_config}


def broker_topic(settings: Settings, name: str) -> str:
    """The broker's name of topic `name` (a DESIGN name) for plain confluent-kafka clients:
    `settings.topic(name)`, or on Quix-managed Kafka the id Quix gives that topic
    (`<workspace>-<name>`), as Quix Streams resolves it for its own applications."""
    topic = settings.topic(name)
    if not settings.kafka.uses_quix_broker:
        return topic
    builder = _quix_builder(settings.kafka.quix_sdk_token.get_secret_value(), settings.kafka.quix_portal_api)
    return str(builder.get_topic(Topic(topic))["id"])


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Config dict for a plain confluent-kafka Producer/Consumer/AdminClient (with the Quix
    SDK token: the workspace broker's config from the Quix Portal API)."""
    if settings.kafka.uses_quix_broker:
        return {**_quix_connection(settings.kafka.quix_sdk_token.get_secret_value(), settings.kafka.quix_portal_api), **extra}
    return {"bootstrap.servers": settings.kafka.bootstrap, **_security(settings), **extra}


def connection_config(settings: Settings) -> ConnectionConfig:
    """The same connection for `quixstreams.Application(broker_address=...)`."""
    sec = _security(settings)
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka.bootstrap,
        "security_protocol": sec["security.protocol"].lower(),
    }
    if "sasl.username" in sec:
        kwargs.update(
            sasl_mechanism=sec["sasl.mechanisms"],
            sasl_username=sec["sasl.username"],
            sasl_password=sec["sasl.password"],
        )
    return ConnectionConfig(**kwargs)


def partition_lags(stats_json: str, committed: bool = False) -> Iterator[tuple[str, str, int]]:
    """(topic, partition, lag in messages) of each partition a consumer fetches, from its
    librdkafka statistics (`statistics.interval.ms` + `stats_cb`).

    The end is the last stable offset (what a read_committed consumer can reach). The position
    is the next offset the application reads, or with `committed` its committed offset (a sink
    commits once its batch is in the warehouse, so that lag is what is not written yet; before
    its first commit, the read position). An exactly-once consumer commits through the
    producer's transaction, which these statistics do not see: the processor uses the read
    position; librdkafka's own `consumer_lag` would stay -1 for it.
    """
    stats = orjson.loads(stats_json)
    for topic_name, topic in (stats.get("topics") or {}).items():
        for pid, part in (topic.get("partitions") or {}).items():
            if pid == "-1" or part.get("fetch_state") in (None, "none", "stopped"):
                continue
            end = part.get("ls_offset", -1)
            position = part.get("app_offset", -1)
            if committed and part.get("committed_offset", -1) >= 0:
                position = part["committed_offset"]
            if end >= 0 and position >= 0:
                yield topic_name, pid, max(0, end - position)


# --- client tuning: the one place each worker's librdkafka settings are chosen ---------------

STATISTICS_MS = 5000  # librdkafka statistics (consumer lag gauges) this often


def processor_clients(settings: Settings, on_statistics: Callable[[str], None]
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(consumer, producer) extra settings of the processor's exactly-once application: large
    chunk fetches with little prefetch refilled at once, quick fetches of idle internal topics (window latency),
    lz4 on the changelog (the state journal repeats each chunk), and fast failover (a replica's
    PROCESSOR_INSTANCE_ID makes it a static member with a stable transactional.id)."""
    session = settings.processor.session_timeout_ms
    consumer: dict[str, Any] = {
        "statistics.interval.ms": STATISTICS_MS, "stats_cb": on_statistics,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,  # chunks are large messages
        "fetch.wait.max.ms": 100,  # an idle internal topic answers a fetch within 0.1 s
        "queued.max.messages.kbytes": 16_384,  # prefetch per partition: chunks are large, memory is not
        # librdkafka postpones a partition's next fetch by this much once its prefetch is full:
        # 1 s by default, while a process drains 16 MB of chunks in 0.1-0.2 s and then waits
        "fetch.queue.backoff.ms": 20,
        # a member learns of a rebalance (a replica joining or leaving) from its next heartbeat,
        # and every member stops until all have rejoined: 0.5 s, not a quarter of the session
        "session.timeout.ms": session, "heartbeat.interval.ms": 500,
    }
    producer: dict[str, Any] = {
        "transaction.timeout.ms": settings.processor.transaction_timeout_ms,
        "compression.type": "lz4",
    }
    if settings.processor.instance_id:
        # unique per deployment: the consumer group's name plus the replica's id
        member = f"{settings.group('processor')}-{settings.processor.instance_id}"
        consumer["group.instance.id"] = member
        producer["transactional.id"] = member
    return consumer, producer


def sink_consumer(settings: Settings, on_statistics: Callable[[str], None]) -> dict[str, Any]:
    """Extra consumer settings of a sink: its session timeout (how soon a crashed sink's
    partitions move) and statistics for its lag (what is not in the warehouse yet)."""
    return {"session.timeout.ms": settings.sink.session_timeout_ms,
            "statistics.interval.ms": STATISTICS_MS, "stats_cb": on_statistics}


def ensure_topics(settings: Settings, names: list[str], partitions: int | None = None,
                  timeout: float = 30.0, configs: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Create the given (already prefixed) topics if missing; existing ones are left alone.

    `configs` maps a topic name to its topic-level configuration at creation (for example
    `{"compression.type": "lz4"}`); a topic that already exists keeps its own. On
    Quix-managed Kafka topics are Quix resources (quix.yaml declares them, Quix Streams
    creates missing ones through the Portal API), so nothing is done here.

    Returns only once every topic is visible in the cluster metadata with a leader for each
    partition: a fresh broker under load can answer `create_topics` before a consumer's
    metadata request sees the topic (issue 10 §8). Raises KafkaException (_TIMED_OUT) if that
    does not happen within `timeout`, which `pulse.resilience` treats as a broker outage.
    """
    if settings.kafka.uses_quix_broker:
        return
    configs = configs or {}
    create_topics(AdminClient(client_config(settings)), [
        NewTopic(name, num_partitions=partitions or settings.topics.partitions,
                 replication_factor=settings.topics.replication, config=dict(configs.get(name, {})))
        for name in names], timeout)


def create_topics(admin: AdminClient, topics: list[NewTopic], timeout: float = 30.0) -> None:
    """Create those of `topics` that are missing, in one admin call, and wait until all of
    them are visible (`wait_visible`); a topic created meanwhile by another process is fine."""
    existing = admin.list_topics(timeout=timeout).topics
    missing = [topic for topic in topics if topic.topic not in existing]
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
            try:
                future.result()
            except Exception as exc:  # a concurrent creator is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    wait_visible(admin, [topic.topic for topic in topics], timeout)


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


class DeferredTopics(TopicManager):
    """A Quix Streams `TopicManager` that creates every missing topic of an application at once.

    Quix's own creates each missing topic as it is declared (the internal topics, each state
    store's changelog) and then waits a fixed second before it looks: six topics were 6 s of
    the processor's start-up. This one notes what is missing while the application is wired,
    planning each with the configuration it will be created with, and `create_missing` then
    creates them in one admin call, waits on the metadata instead of a clock, and reads back
    what the broker has (so a topic another process created meanwhile is taken as it is).
    Call it once the plain topics are declared, before the dataframes whose stores derive
    their changelog's settings from them (the broker's retention), then once more after.
    Not for Quix-managed Kafka, where Quix's own manager creates topics through its Portal API.
    """

    def __init__(self, settings: Settings, app_name: str, producer_extra: Mapping[str, Any]) -> None:
        super().__init__(TopicAdmin(broker_address=connection_config(settings), extra_config=dict(producer_extra)),
                         consumer_group=settings.group(app_name))
        self._settings = settings
        self._missing: list[Topic] = []
        self._known: dict[str, Optional[TopicConfig]] = {}

    def prefetch(self, names: list[str], stateful: tuple[str, ...] = ()) -> None:
        """Read what the broker has of these topics, and of the changelogs of the `stateful`
        ones (each dataframe's default store), in one call: Quix asks for each topic as it is
        declared, two round trips each (0.6 s of a start with every topic there)."""
        changelogs = [self._internal_name("changelog", name, DEFAULT_STATE_STORE_NAME) for name in stateful]
        self._known.update(self._admin.inspect_topics([*names, *changelogs], timeout=self._timeout))

    def _fetch_topic(self, topic: Topic) -> Topic:
        if topic.name not in self._known:
            return super()._fetch_topic(topic)
        config = self._known.pop(topic.name)  # once: a topic created meanwhile is read from the broker
        if config is None:
            raise TopicNotFoundError(f'Topic "{topic.name}" not found on the broker')
        fetched = Topic(name=topic.name)
        fetched.broker_config = config
        return fetched

    def _get_or_create_broker_topic(self, topic: Topic) -> Topic:
        try:
            return self._fetch_topic(topic=topic)
        except TopicNotFoundError:
            self._validate_topic_name(name=topic.name)
            self._missing.append(topic)
            planned = Topic(name=topic.name)
            assert topic.create_config is not None  # every topic the application declares has one
            planned.broker_config = topic.create_config
            return planned

    def create_missing(self, timeout: float = 30.0) -> list[str]:
        """Create every topic noted missing (one admin call); returns their names."""
        missing, self._missing = self._missing, []
        if not missing:
            return []
        create_topics(AdminClient(client_config(self._settings)), [
            NewTopic(t.name, num_partitions=t.create_config.num_partitions,
                     replication_factor=t.create_config.replication_factor,
                     config={k: str(v) for k, v in t.create_config.extra_config.items()})
            for t in missing if t.create_config is not None], timeout)
        # what the broker made of them, in one call (Quix reads each alone: 0.9 s for 12 topics)
        self._known.update(self._admin.inspect_topics([t.name for t in missing], timeout=self._timeout))
        for topic in missing:
            planned = topic.create_config.num_partitions if topic.create_config is not None else None
            self._configure_topic(topic, self._fetch_topic(topic=topic))
            if planned is not None and topic.broker_config.num_partitions != planned:
                raise TopicConfigurationMismatch(f'topic "{topic.name}" has {topic.broker_config.num_partitions} '
                                                 f"partitions, {planned} expected (created meanwhile by another process?)")
        return [t.name for t in missing]
