"""The processor creates every topic it needs at start, in two admin calls (DESIGN's and its
internal topics, then the stores' changelogs), against the real broker: each with the
partitions it needs, the changelogs compacted; a second start finds them all and creates none."""

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
