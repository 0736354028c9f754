"""The producer's CHUNK_KEYS hint for small deployments (`producers.key_advice`)."""

from __future__ import annotations

import logging

import pytest

from producers.key_advice import KeyAdvice, suited_keys


@pytest.mark.parametrize("channels, partitions, keys", [
    (1_000, 2, 16),       # 62 a key: the 1k benchmark's 266k samples/s against 65k with 256
    (13_000, 2, 256),     # 50 a key: the default suits it
    (250_000, 2, 256),    # never more than the default
    (120, 2, 2),          # one key per partition at least
    (120, 6, 6),
    (0, 1, 1),
])
def test_suited_keys(channels: int, partitions: int, keys: int) -> None:
    assert suited_keys(channels, partitions) == keys


def test_too_many_keys_are_named_once_with_the_count_that_suits(caplog: pytest.LogCaptureFixture) -> None:
    advice = KeyAdvice(chunk_keys=256, partitions=2, shards=1)
    with caplog.at_level(logging.WARNING, logger="producers.key_advice"):
        advice.observe(0)     # an empty poll says nothing about the deployment
        advice.observe(1_000)
        advice.observe(1_000)
    assert [r.getMessage() for r in caplog.records] == [advice.advice]
    assert advice.advice is not None and "CHUNK_KEYS=256" in advice.advice and "CHUNK_KEYS=16" in advice.advice


def test_keys_that_suit_are_left_alone() -> None:
    advice = KeyAdvice(chunk_keys=256, partitions=2, shards=1)
    advice.observe(13_000)
    assert advice.advice is None
    small = KeyAdvice(chunk_keys=16, partitions=2, shards=1)
    small.observe(1_000)
    assert small.advice is None


def test_each_shard_sees_its_share_of_the_channels() -> None:
    advice = KeyAdvice(chunk_keys=256, partitions=2, shards=4)
    advice.observe(3_300)  # about 13k channels over four shards: the default suits them
    assert advice.advice is None
