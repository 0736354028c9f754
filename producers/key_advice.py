"""A hint for small deployments: CHUNK_KEYS against the channels actually live.

Every poll sends at least one chunk per key, and the processor pays a fixed cost per chunk
(its Kafka message, two state writes, a report to game_surge) whatever the chunk holds. With
256 keys and 1,000 live channels a chunk holds four samples and the processor runs at a
quarter of its speed (docs/benchmarks.md, "Keys against channels live"). CHUNK_KEYS is fixed
for the life of the topic, so the producer cannot change it; it says so once, with the count
that suits what it sees, for the next topic.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

CHANNELS_PER_KEY = 50  # below about this many a chunk, the per-chunk cost dominates (benchmarked)
MAX_KEYS = 256


def suited_keys(channels: int, partitions: int) -> int:
    """A CHUNK_KEYS for `channels` live channels a poll: a power of two with at least
    CHANNELS_PER_KEY channels a key, at most MAX_KEYS, and at least one key per partition."""
    keys = 1
    while keys * 2 <= min(MAX_KEYS, channels // CHANNELS_PER_KEY):
        keys *= 2
    return max(keys, partitions)


class KeyAdvice:
    """Looks at the first poll with any channel and logs once when CHUNK_KEYS is more than
    twice what suits it. `shards` producers each see about their share of the channels."""

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
                       f"poll, so a topic created with CHUNK_KEYS={suited} would process them several times "
                       f"faster (CHUNK_KEYS is fixed for the life of a topic: a new topic prefix, or a backfill "
                       f"into a new deployment; docs/benchmarks.md)")
        log.warning(self.advice)
