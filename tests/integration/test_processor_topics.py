"""The processor creates every topic it needs at start, in two admin calls (DESIGN's and its
internal topics, then the stores' changelogs), against the real broker: each with the
partitions it needs, the changelogs compacted; a second start finds them all and creates none.
A start also leaves the transactional producer connected and initialised, so the first
checkpoint does not wait for librdkafka's coordinator timer."""

from __future__ import annotations

import logging
from typing import Callable

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from processors import app as processor_app
from pulse import topics
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings


def created(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "processor: created" in r.getMessage()]


def test_a_start_creates_every_missing_topic_in_two_calls_and_the_next_start_none(
        make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(topic_partitions=3)
    ensure_topics(settings, [settings.topic(topics.STREAMS)])  # the input is there (a replay ran), the rest not
    caplog.set_level(logging.INFO, logger="processors.app")

    processor_app.build(settings)

    first = created(caplog)
    assert len(first) == 2, first
    assert first[0].startswith("processor: created 9 topics") and first[1].startswith("processor: created 3 topics")
    admin = AdminClient(client_config(settings))
    meta = admin.list_topics(timeout=10).topics
    group = settings.group("processor")
    changelogs = sorted(name for name in meta if name.startswith(f"changelog__{group}--"))
    assert len(changelogs) == 3
    for name in [settings.topic(n) for n in (*topics.ALL, *topics.PROCESSOR_INTERNAL)] + changelogs:
        assert len(meta[name].partitions) == 3, name
    for resource, future in admin.describe_configs([ConfigResource("topic", n) for n in changelogs]).items():
        assert future.result()["cleanup.policy"].value == "compact", resource.name

    caplog.clear()
    processor_app.build(settings)
    assert created(caplog) == []


def test_a_start_leaves_the_transactional_producer_initialised_for_the_first_checkpoint(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    app = processor_app.build(settings)

    producer = app._producer  # what Quix's checkpoints begin and commit their transactions on
    made = producer._producer._inner_producer
    assert made is not None, "no producer made at start: Quix would make it at the first checkpoint"
    producer.begin_transaction()  # librdkafka refuses this on a producer whose transactions are not initialised
    assert producer._producer._inner_producer is made  # Quix began it on that producer, made no second one
    producer.abort_transaction(10)
