"""Which cursor chains a shard runs, so S shards together sweep everything exactly once.

A full sweep of ~120k streams is ~1,200 requests: more than one client id's 800 points a
minute, and too long as one sequential cursor chain. So the sweep is cut along a filter
dimension into disjoint queries that run in parallel (within a shard, on its credentials
dealt round-robin) and are dealt out between shard processes (`PRODUCER_SHARD=k/S`):

- user logins configured: logins are dealt out (i % S == k), 100 per query;
- game ids/names configured: games are dealt out, then grouped into ~`concurrency`
  queries of at most 100 ids (languages, if also set, filter each query);
- otherwise languages (the configured ones, or every Helix language incl. "other" for
  "all live streams") are dealt out largest first, one query each, when splitting is on
  (`PRODUCER_SPLIT=language`, or `auto` with several credentials or shards); with one
  credential and one shard, `auto` keeps a single unfiltered chain, the plain Helix sweep.

All shards of a deployment poll on the same grid instant, so they share `captured_at`;
their names ("shard-k-of-S") are stable across restarts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .languages import LANGUAGES
from .sweep import Query

MAX_VALUES = 100  # Helix accepts up to 100 of each filter parameter


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        index, _, count = text.partition("/")
        return cls(int(index), int(count))

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def deal(self, values: Sequence[str]) -> list[str]:
        return [v for i, v in enumerate(values) if i % self.count == self.index]


def _chunks(values: Sequence[str], parts: int) -> list[tuple[str, ...]]:
    if not values:
        return []
    size = min(MAX_VALUES, max(1, math.ceil(len(values) / max(1, parts))))
    return [tuple(values[i:i + size]) for i in range(0, len(values), size)]


def plan(shard: Shard, game_ids: Sequence[str] = (), languages: Sequence[str] = (),
         user_logins: Sequence[str] = (), split: str = "auto", credentials: int = 1,
         concurrency: int = 4) -> list[Query]:
    """The queries shard `shard` runs each poll (empty if its share is empty)."""
    langs = tuple(languages[:MAX_VALUES]) if len(languages) <= MAX_VALUES else ()
    games = tuple(game_ids)
    if user_logins:
        mine = shard.deal(list(user_logins))
        return [Query(game_ids=games[:MAX_VALUES], languages=langs, user_logins=chunk)
                for chunk in _chunks(mine, math.ceil(len(mine) / MAX_VALUES))]
    if games:
        mine = shard.deal(list(games))
        return [Query(game_ids=chunk, languages=langs) for chunk in _chunks(mine, concurrency)]
    splitting = split == "language" or (split == "auto" and (credentials > 1 or shard.count > 1))
    if not splitting:
        return [Query(languages=langs)] if shard.index == 0 else []
    mine = shard.deal(list(languages) or list(LANGUAGES))
    return [Query(languages=(lang,)) for lang in mine]
