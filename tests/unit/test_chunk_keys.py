"""How many chunk keys the producer cuts polls into (`producers.chunk_keys`): chosen once,
from the topic when it holds chunks, else from the first poll with channels."""

from __future__ import annotations

import logging

import pytest

from producers.chunk_keys import DEFAULT_KEYS, PLACEMENT_HEADER, ChunkKeys, KeyAdvice, placement_of, suited_keys
from producers.emitter import messages
from pulse.events import cut_poll
from pulse.settings import ConfigError, load_settings


@pytest.mark.parametrize("channels, partitions, keys", [
    (1_000, 2, 8),        # 125 a key: the 1k benchmark's 175k samples/s from launch against 29k with 256
    (13_000, 2, 64),      # 203 a key: 365k steady against 250k with 256
    (50_000, 2, 128),
    (100_000, 2, 256),    # never more than 256
    (250_000, 2, 256),
    (120, 2, 8),          # four keys a partition at least, so that every partition gets some
    (120, 6, 32),         # 24, rounded up to a power of two
    (0, 1, 4),
    (10_000, 64, 256),    # the floor never passes 256 ...
    (10_000, 300, 300),   # ... unless the partitions do: a key per partition at least
])
def test_suited_keys(channels: int, partitions: int, keys: int) -> None:
    assert suited_keys(channels, partitions) == keys


def test_auto_waits_for_a_poll_with_channels_then_keeps_its_choice(caplog: pytest.LogCaptureFixture) -> None:
    keys = ChunkKeys(configured=None, written=None, partitions=2, shards=1, topic="t")
    assert keys.count is None
    assert keys.for_poll(0) is None  # an empty poll says nothing about the deployment: not sent
    with caplog.at_level(logging.INFO, logger="producers.chunk_keys"):
        assert keys.for_poll(1_000) == 8
    assert keys.for_poll(250_000) == 8  # fixed for the life of the topic
    assert keys.for_poll(0) == 8
    assert any("8 chunk keys for t" in r.getMessage() for r in caplog.records)


def test_a_topic_that_holds_chunks_decides() -> None:
    keys = ChunkKeys(configured=None, written=256, partitions=2, shards=1, topic="t")
    assert keys.for_poll(1_000) == 256  # what its channels' state was keyed by
    assert ChunkKeys(configured=16, written=16, partitions=2, shards=1, topic="t").for_poll(1_000) == 16


def test_a_count_the_topic_disagrees_with_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        ChunkKeys(configured=16, written=256, partitions=2, shards=1, topic="twitch.streams")
    text = str(caught.value)
    assert "\n" not in text and "CHUNK_KEYS=16" in text and "written with 256 keys" in text


def test_several_shards_on_a_new_topic_take_the_default_count() -> None:
    keys = ChunkKeys(configured=None, written=None, partitions=2, shards=3, topic="t")
    assert keys.count == DEFAULT_KEYS and keys.for_poll(300) == DEFAULT_KEYS
    assert ChunkKeys(configured=32, written=None, partitions=2, shards=3, topic="t").for_poll(0) == 32


@pytest.mark.parametrize("text, expected", [("auto", None), ("AUTO", None), ("", None), ("32", 32)])
def test_chunk_keys_setting_reads_auto(text: str, expected: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUNK_KEYS", text)
    assert load_settings().producer.chunk_keys == expected


def test_a_bad_chunk_keys_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUNK_KEYS", "lots")
    with pytest.raises(ConfigError, match="CHUNK_KEYS"):
        load_settings()


def test_too_many_keys_are_named_once_with_the_count_that_suits(caplog: pytest.LogCaptureFixture) -> None:
    advice = KeyAdvice(chunk_keys=256, partitions=2, shards=1)
    with caplog.at_level(logging.WARNING, logger="producers.chunk_keys"):
        advice.observe(0)     # an empty poll says nothing about the deployment
        advice.observe(1_000)
        advice.observe(1_000)
    assert [r.getMessage() for r in caplog.records] == [advice.advice]
    assert advice.advice is not None and "CHUNK_KEYS=256" in advice.advice and "CHUNK_KEYS=8" in advice.advice


def test_keys_that_suit_are_left_alone() -> None:
    advice = KeyAdvice(chunk_keys=256, partitions=2, shards=1)
    advice.observe(100_000)
    assert advice.advice is None
    small = KeyAdvice(chunk_keys=16, partitions=2, shards=1)
    small.observe(1_000)
    assert small.advice is None


def test_each_shard_sees_its_share_of_the_channels() -> None:
    advice = KeyAdvice(chunk_keys=256, partitions=2, shards=4)
    advice.observe(13_000)  # about 52k channels over four shards: 128 suits them, 256 is within twice
    assert advice.advice is None


def test_a_new_topic_places_key_k_in_partition_k_mod_its_partitions() -> None:
    keys = ChunkKeys(configured=None, written=None, partitions=4, shards=1, topic="t")
    assert [keys.partition(k) for k in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert keys.headers == [(PLACEMENT_HEADER, b"4")]


def test_a_topic_placed_by_the_partitioner_stays_so_and_an_evenly_placed_one_keeps_its_modulus() -> None:
    legacy = ChunkKeys(configured=None, written=256, partitions=2, shards=1, topic="t", placed=0)
    assert legacy.partition(5) == -1 and legacy.headers is None  # -1: librdkafka's partitioner decides
    # partitions added to the topic later do not move a key: the modulus is the one it was written with
    grown = ChunkKeys(configured=None, written=8, partitions=6, shards=1, topic="t", placed=2)
    assert [grown.partition(k) for k in range(4)] == [0, 1, 0, 1]


def test_the_messages_carry_their_keys_partition() -> None:
    keys = ChunkKeys(configured=None, written=None, partitions=2, shards=1, topic="t")
    chunks = cut_poll([], 1_714_557_600_000, "p", "solo", 1, 4, 500)
    assert [(m.key, m.partition) for m in messages(chunks, keys)] == [(b"0", 0), (b"1", 1), (b"2", 0), (b"3", 1)]


@pytest.mark.parametrize("headers, placed", [(None, 0), ([("other", b"x")], 0), ([(PLACEMENT_HEADER, b"2")], 2)])
def test_the_placement_header_is_read_back(headers: list | None, placed: int) -> None:
    assert placement_of(headers, "t", 2) == placed


@pytest.mark.parametrize("value", [b"", b"two", b"0", b"3", None])
def test_a_placement_header_that_cannot_be_ours_is_refused_in_one_line(value: bytes | None) -> None:
    with pytest.raises(ConfigError) as caught:
        placement_of([(PLACEMENT_HEADER, value)], "twitch.streams", 2)  # type: ignore[list-item]
    assert "\n" not in str(caught.value) and PLACEMENT_HEADER in str(caught.value)
