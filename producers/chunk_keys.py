"""How many chunk keys a producer cuts its polls into (`CHUNK_KEYS`), decided once per topic.

Every poll sends at least one chunk per key, and the processor pays a fixed cost per chunk
(its Kafka message, two state writes, a report to game_surge) whatever the chunk holds. With
256 keys and 1,000 live channels a chunk holds four samples and the processor runs at a
quarter of its speed (docs/benchmarks.md, "Keys against channels live"). The count is also
fixed for the life of the topic (DESIGN §3: a channel stays in its key, where the processor
keeps its state), so it is chosen once and then read back from the topic itself:

- the topic holds chunks: their `keys`, whatever the configuration says (a `CHUNK_KEYS` that
  disagrees is refused, in one line, before anything is sent);
- a new (or emptied) topic with `CHUNK_KEYS=auto` (the default) and one producer: the count
  that suits the first poll with channels (`suited_keys`); polls before it, with no channel,
  are not sent, as nothing in them could count;
- a new topic with several shards: 256 (`DEFAULT_KEYS`), since the shards must agree before
  any has seen a poll; set `CHUNK_KEYS` on every shard to choose another.

An explicit `CHUNK_KEYS` far above what suits the channels is named once in a warning.

Where the keys go is decided with the count, and for the same reason (a key's state lives with
its partition). On a new topic key k goes to partition k % P (P: the topic's partitions then),
so each partition, and each processor replica, gets the same number of keys; every chunk says
so in its `x-pulse-partitions` header (P). A topic written before that header keeps the
partitioner's placement (murmur2 of the key, which spreads 256 keys 134/122 over 2 partitions
and 64 keys 18/9/17/20 over 4): its newest chunk has no header.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple, Optional

from confluent_kafka import Consumer, KafkaException, TopicPartition

from pulse.events import ChunkError, decode_chunk
from pulse.kafka import client_config
from pulse.settings import ConfigError, Settings

log = logging.getLogger(__name__)

CHANNELS_PER_KEY = 200  # below about this many a chunk, the per-chunk cost shows (benchmarked)
KEYS_PER_PARTITION = 4  # at least, so that a topic placed by murmur2 (before the header) gave every partition keys
MAX_KEYS = 256
DEFAULT_KEYS = 256  # several shards on a new topic, which cannot wait for each other's polls
TAIL = 16           # messages read back from the end of each partition
PLACEMENT_HEADER = "x-pulse-partitions"  # on every chunk of an evenly placed topic: key k is in k % this
READ_SECONDS = 15.0


def suited_keys(channels: int, partitions: int) -> int:
    """A CHUNK_KEYS for `channels` live channels a poll: a power of two with at least
    CHANNELS_PER_KEY channels a key, at most MAX_KEYS, and at least KEYS_PER_PARTITION keys
    per partition (rounded up to a power of two)."""
    keys = 1
    while keys * 2 <= min(MAX_KEYS, channels // CHANNELS_PER_KEY):
        keys *= 2
    floor = 1
    while floor < KEYS_PER_PARTITION * partitions:
        floor *= 2
    return max(keys, min(floor, MAX_KEYS), partitions)


class KeyAdvice:
    """Looks at the first poll with any channel and logs once when an explicit CHUNK_KEYS is
    more than twice what suits it. `shards` producers each see about their share of the channels."""

    def __init__(self, chunk_keys: int, partitions: int, shards: int) -> None:
        self.chunk_keys, self.partitions, self.shards = chunk_keys, partitions, shards
        self.advice: str | None = None
        self._done = False

    def observe(self, streams: int) -> None:
        if self._done or streams <= 0:
            return
        self._done = True
        channels = streams * self.shards
        suited = suited_keys(channels, self.partitions)
        if self.chunk_keys <= 2 * suited:
            return
        self.advice = (f"CHUNK_KEYS={self.chunk_keys} for about {channels:,} live channels a poll "
                       f"({channels / self.chunk_keys:.1f} a key): the processor pays a fixed cost per key and "
                       f"poll, so a topic created with CHUNK_KEYS={suited} (or auto) would process them several "
                       f"times faster (the count is fixed for the life of a topic: a new topic prefix, or a "
                       f"backfill into a new deployment; docs/benchmarks.md)")
        log.warning(self.advice)


class Layout(NamedTuple):
    """How a topic's chunks are keyed and placed, as read back from it."""

    keys: Optional[int]  # the newest chunk's `keys`; None: the topic holds no chunk
    placed: int          # key k is in partition k % placed; 0: where the partitioner's hash put it
    partitions: int      # the topic's partitions now


def read_back(settings: Settings, topic: str, timeout: float = READ_SECONDS) -> Layout:
    """The layout of the newest chunk in `topic`. A topic that holds no chunk (new, or emptied
    by retention: Kafka keeps 7 days by default; the processor forgets a channel silent for 50 h,
    so none of the old keys' state is left to mismatch) gets even placement over its partitions.
    Messages that are not chunks are passed over."""
    consumer = Consumer(client_config(settings, **{
        "group.id": "twitch-pulse-chunk-keys", "enable.auto.commit": False,
        "enable.auto.offset.store": False, "client.id": "twitch-pulse-chunk-keys"}))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                return _read_tail(consumer, topic, deadline)
            except KafkaException as exc:  # e.g. a topic just created has no leader for a moment
                error = exc.args[0] if exc.args else None
                if time.monotonic() > deadline:
                    raise ConfigError(f"CHUNK_KEYS: could not read {topic} back to learn its key count: "
                                      f"{error.str() if error is not None else exc}") from None
                time.sleep(0.2)
    finally:
        consumer.close()


def _read_tail(consumer: Consumer, topic: str, deadline: float) -> Layout:
    meta = consumer.list_topics(topic, timeout=max(0.1, deadline - time.monotonic()))
    partitions = len(meta.topics[topic].partitions)
    ends: dict[int, int] = {}
    starts: list[TopicPartition] = []
    for partition in sorted(meta.topics[topic].partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                   timeout=max(0.1, deadline - time.monotonic()))
        if high > low:
            ends[partition] = high
            starts.append(TopicPartition(topic, partition, max(low, high - TAIL)))
    if not starts:
        return Layout(None, partitions, partitions)
    consumer.assign(starts)
    newest: tuple[int, int, int] = (-1, 0, 0)  # (message timestamp, keys, placed) of the newest chunk seen
    while ends and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=TAIL, timeout=0.5):
            if message.error():
                continue
            if message.offset() + 1 >= ends.get(message.partition(), 0):
                ends.pop(message.partition(), None)
            try:
                chunk = decode_chunk(message.value())
            except ChunkError:
                continue
            newest = max(newest, (message.timestamp()[1], chunk.keys, placement_of(message.headers(), topic, partitions)))
    if ends:
        raise ConfigError(f"CHUNK_KEYS: reading the end of {topic} back took over {READ_SECONDS:.0f} s "
                          f"(partitions {sorted(ends)}); set CHUNK_KEYS to the count it was written with")
    if newest[0] < 0:
        return Layout(None, partitions, partitions)
    return Layout(newest[1], newest[2], partitions)


def placement_of(headers: Optional[list[tuple[str, bytes]]], topic: str, partitions: int) -> int:
    """A chunk's placement header -> its modulus (0: none, the partitioner's placement)."""
    for name, value in headers or ():
        if name == PLACEMENT_HEADER:
            text = (value or b"").decode(errors="replace")
            if not text.isdigit() or not 1 <= int(text) <= partitions:
                raise ConfigError(f"{topic}: a chunk's {PLACEMENT_HEADER} header is {text!r}, not a partition "
                                  f"count from 1 to {partitions}; was the topic written by another program?")
            return int(text)
    return 0


class ChunkKeys:
    """The key count this producer cuts its polls into (`count`, None until it is decided) and
    the partition each key goes to (`partition`)."""

    def __init__(self, configured: Optional[int], written: Optional[int], partitions: int, shards: int,
                 topic: str, placed: Optional[int] = None) -> None:
        if configured is not None and written is not None and configured != written:
            raise ConfigError(f"CHUNK_KEYS={configured}, but {topic} was written with {written} keys, and a "
                              f"channel keeps its key for the life of the topic: set CHUNK_KEYS={written} (or auto), "
                              f"or use a new topic (TOPIC_PREFIX)")
        self.partitions, self.topic = partitions, topic
        # key k goes to partition k % placed; 0: to where the partitioner's hash puts it
        self.placed = partitions if placed is None else placed
        self.advice = KeyAdvice(configured, partitions, shards) if configured is not None else None
        self.count: Optional[int] = written or configured or (DEFAULT_KEYS if shards > 1 else None)
        if written is not None:
            log.info("%s was written with %d chunk keys, %s: keeping them", topic, written,
                     f"key k in partition k % {self.placed}" if self.placed else "placed by the partitioner's hash")
        elif self.count is None:
            log.info("CHUNK_KEYS=auto: the key count of %s is chosen at the first poll with live channels "
                     "(polls before it are not sent)", topic)

    @classmethod
    def for_topic(cls, settings: Settings, topic: str, shards: int) -> "ChunkKeys":
        layout = read_back(settings, topic)
        return cls(settings.producer.chunk_keys, layout.keys, layout.partitions, shards, topic, layout.placed)

    def partition(self, key: int) -> int:
        """The partition chunk key `key` is produced to (-1: the partitioner's choice)."""
        return key % self.placed if self.placed else -1

    @property
    def headers(self) -> Optional[list[tuple[str, bytes]]]:
        """The headers every chunk carries: the placement, so a later producer keeps it."""
        return [(PLACEMENT_HEADER, str(self.placed).encode())] if self.placed else None

    def for_poll(self, streams: int) -> Optional[int]:
        """The key count for a poll of `streams` stream objects (this shard's), deciding it at
        the first poll with any; None while undecided (the poll is not sent)."""
        if self.advice is not None:
            self.advice.observe(streams)
        if self.count is None and streams > 0:  # one producer: several start decided (DEFAULT_KEYS)
            self.count = suited_keys(streams, self.partitions)
            log.info("CHUNK_KEYS=auto: %d chunk keys for %s (%d live channels a poll, %d partitions, key k in "
                     "partition k %% %d); fixed for the life of the topic", self.count, self.topic, streams,
                     self.partitions, self.placed)
        return self.count
