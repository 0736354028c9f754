"""The three stages in one process on the scenario of DESIGN §4's rules: every window row equals
the independent DuckDB computation (tests/reference.py), whatever the chunk size, the number
of chunk keys, or whether each key's state is re-read from its durable copy every message."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import orjson
import pytest
from quixstreams.context import set_message_context
from quixstreams.models.messagecontext import MessageContext

from processors.alerts import new_history
from processors.app import ReorderLog
from processors.chunk_handler import key_state_cache, replay_chunk
from processors.chunk_stage import process_chunk
from processors.config import ProcessorConfig
from processors.journal import JournalSample
from processors.keystate import (
    SLICE_BYTES,
    ChannelState,
    KeyState,
    KeyStateCache,
    decode_journal,
    decode_state,
    encode_journal,
    encode_state,
    snapshot_key,
)
from processors.merge_stage import DONE_TTL, on_partial
from processors.metrics import DROPPED
from processors.records import (
    ChannelPartial,
    GroupPartial,
    TopCandidate,
    WindowPartial,
    decode_window_partial,
    split_partial,
)
from processors.routing import CHANNELS, GAMES, TOP_CHANNELS, produce_outputs
from pulse.events import cut_poll, decode_streams, format_ts
from tests import reference
from tests.pipeline import make_event, stream_of
from tests.reference import assert_rows_equal
from tests.scenario import CFG, I_S, TOP_N, W_S, build, messages
from tests.stage_driver import DictState, StageDriver


class ColdCache:
    """Never trusts its memory: every message decodes the durable copy (as after a restart)."""

    def __init__(self, cache: KeyStateCache) -> None:
        self.cache = cache

    def load(self, key, state):
        self.cache.forget()
        return self.cache.load(key, state)

    def save(self, key, state, value, message) -> None:
        self.cache.save(key, state, value, message)


def play(driver: StageDriver, keys: int, chunk_streams: int) -> None:
    for m in messages(build().actions, keys, chunk_streams):
        driver.send(m.value, m.key)


@pytest.mark.parametrize("keys,chunk_streams,cold", [(1, 500, False), (7, 2, False), (64, 500, True), (3, 4, True)])
def test_stages_equal_batch_computation(keys: int, chunk_streams: int, cold: bool) -> None:
    sc = build()
    expected = reference.compute(sc.events, W_S, I_S, TOP_N, late=sc.late)
    driver = StageDriver(CFG, ColdCache(key_state_cache(CFG, journal_limit=3)) if cold else None)
    play(driver, keys, chunk_streams)
    for name in ("games", "channels", "top_channels", "streams", "languages"):
        assert_rows_equal(expected[name], driver.rows[name], name)
    reasons = sorted(dict(o.headers)["x-pulse-dlq-reason"].decode() for o in driver.dlq)
    assert reasons == ["missing field viewer_count", "value is not JSON"]


def test_game_surge_comes_with_its_poll_not_with_its_window() -> None:
    cfg = ProcessorConfig(window_ms=W_S * 1000, grace_ms=0, interval_ms=I_S * 1000, top_n=TOP_N,
                          threshold_viewers=10**9, surge_min_viewers=10**9, surge_ratio=1.0,
                          game_surge_min_viewers=1_000, baseline_ms=900_000, cooldown_ms=3_600_000)
    driver = StageDriver(cfg)
    t0 = 1_700_000_400_000 - 1_700_000_400_000 % (W_S * 1000)
    for k in range(12):
        t = t0 + k * I_S * 1000
        viewers = 3_000 if k == 10 else 500
        streams = [stream_of(make_event(t, f"s{u}", u, viewers, "g9", game_name="Spiky")) for u in ("1", "2")]
        for chunk, value in cut_poll(streams, t, "p", "p", 1, 8, 500):
            driver.send(value, chunk.message_key)
        if k == 10:
            # the poll is complete in every key; its window [10, 20) is far from closed
            assert list(driver.rows["alerts"]) == [f"game_surge:g9:{t}"]
            assert driver.rows["alerts"][f"game_surge:g9:{t}"]["viewers"] == 6_000
    assert not driver.rows["games"] or all(r["window_start"] < format_ts(t0 + 600_000) for r in driver.rows["games"].values())


def test_key_state_survives_a_cold_read_across_slices_and_journal() -> None:
    """A key's state larger than one slice is written in several and read back whole by
    another process, journaled messages replayed on top; when it shrinks, no stale slice is
    left, and a snapshot clears the journal."""

    replayed: list[bytes] = []

    def replay(value: KeyState, message: bytes) -> None:
        replayed.append(message)
        value.channels[message.decode()] = ChannelState(7)

    big = KeyState(channels={str(u): ChannelState(u, {}, new_history([u, 1] * 20), {}) for u in range(20_000)})
    assert len(encode_state(big)) > 2 * SLICE_BYTES
    state = DictState()
    writer = KeyStateCache(replay, journal_limit=1)  # every save is a snapshot
    writer.load(1, state)
    writer.save(1, state, big, b"m0")
    assert sum(1 for k in state.data if k.startswith("snapshot/")) >= 3
    assert KeyStateCache(replay).load(1, state) == big and replayed == []
    journaling = KeyStateCache(replay, journal_limit=3)
    value = journaling.load(1, state)
    value.channels["m1"] = ChannelState(7)
    journaling.save(1, state, value, b"m1")  # journaled, no new snapshot
    assert KeyStateCache(replay).load(1, state) == value and replayed == [b"m1"]
    small = KeyState(channels={"1": ChannelState(5)})
    writer.load(1, state)
    writer.save(1, state, small, b"m2")  # a snapshot again
    assert [k for k in state.data if k.startswith(("snapshot/", "journal/"))] == [snapshot_key(0)]
    assert KeyStateCache(replay).load(1, state) == small


def test_a_partial_part_decodes_to_what_was_split() -> None:
    channels = [ChannelPartial(str(u), f"login{u}", f"Name {u}", "g", "G", u * 10, u, u) for u in range(12_000)]
    games = [GroupPartial("g", "G", 5, 1, 2, 3, 4, [(5, 6, 7)])]
    top = [TopCandidate("g", "1", 10, 1, 1)]
    languages = [GroupPartial("en", "", 0, 1, 2, 3, 4, [(5, 6, 7)])]
    parts = [decode_window_partial(p) for p in split_partial(600_000, 3, 8, channels, games, top, languages)]
    assert len(parts) > 1 and all(p.parts == len(parts) and (p.start, p.key, p.keys) == (600_000, 3, 8)
                                  for p in parts)
    assert [p.part for p in parts] == list(range(len(parts)))
    assert [c for p in parts for c in p.channels] == channels
    assert [g for p in parts for g in p.games] == games and [t for p in parts for t in p.top] == top
    assert [g for p in parts for g in p.languages] == languages
    assert isinstance(parts[0], WindowPartial)


def test_every_output_goes_to_the_producer_as_its_topic_carries_it() -> None:
    channels = [ChannelPartial(str(u), f"login{u}", f"Name {u}", "g", "G", u * 10, u, u) for u in range(1, 6)]
    games = [GroupPartial("g", "G", 0, 150, 15, 5, 5, [(0, 150, 5)])]
    top = [TopCandidate("g", str(u), u * 10, u, u) for u in range(1, 6)]
    [value] = split_partial(0, 0, 1, channels, games, top, [])
    rows = list(on_partial(CFG, value, DictState()))
    topics = {GAMES: "t.games", CHANNELS: "t.channels", TOP_CHANNELS: "t.top"}
    sent: list[dict] = []

    def produce(topic: str, key: bytes, value: bytes, headers: Any, timestamp: int) -> None:
        sent.append({"topic": topic, "key": key, "value": value, "headers": headers, "timestamp": timestamp})

    produce_outputs(produce, topics, iter(rows), 1_700_000_000_000)

    assert [m["topic"] for m in sent] == ["t.games"] + ["t.channels"] * 5 + ["t.top"] * TOP_N
    for message, row in zip(sent, rows, strict=True):
        assert message["key"] == row.key.encode() and orjson.loads(message["value"]) == msgspec.to_builtins(row.value)
        assert message["timestamp"] == 1_700_000_000_000
    assert [orjson.loads(m["value"])["user_id"] for m in sent if m["topic"] == "t.top"] == ["5", "4", "3"]


def test_every_write_of_a_merge_carries_a_ttl_from_the_first() -> None:
    """So Quix switches the store to TTL mode with its first write, while it is empty, rather
    than by re-stamping every record at the first window's merge."""
    channels = [ChannelPartial(str(u), f"login{u}", f"Name {u}", "g", "G", u * 10, u, u) for u in range(1, 6)]
    games = [GroupPartial("g", "G", 0, 150, 15, 5, 5, [(0, 150, 5)])]
    state = DictState()
    for key in range(2):
        [value] = split_partial(0, key, 2, channels[key::2], games, [], [])
        rows = list(on_partial(CFG, value, state))
        if key == 0:
            assert rows == [] and state.ttls and all(ttl == DONE_TTL for ttl in state.ttls.values())
    assert len([r for r in rows if r.route == CHANNELS]) == 5
    assert all(ttl == DONE_TTL for ttl in state.ttls.values())


def test_the_journal_keeps_what_stage_one_reads_and_replays_to_the_same_state() -> None:
    """A journal entry is the chunk's valid samples, with the fields stage 1 reads; replaying
    it gives the state that processing the chunk itself gave."""
    sc = build()
    streams = [stream_of(a[1]) for a in sc.actions if a[0] == "event"][:40]
    bad = {**streams[0], "viewer_count": "many"}
    chunk_value = next(v for _, v in cut_poll([*streams[:20], bad], 1_700_000_040_000, "p@1", "t", 1, 1, 500))
    chunk, rejected = decode_streams(chunk_value)
    assert [r.position for r in rejected] == [20]
    entry = encode_journal(chunk)
    journaled = decode_journal(entry)
    assert len(entry) < len(chunk_value) and len(journaled.streams) == 20
    for sample, kept in zip(chunk.streams, journaled.streams):
        assert all(getattr(kept, f) == getattr(sample, f) for f in JournalSample.__struct_fields__)
    direct, from_journal = KeyState(), KeyState()
    process_chunk(CFG, direct, chunk, lambda *_: None)
    replay_chunk(CFG)(from_journal, entry)
    assert from_journal == direct and len(direct.channels) > 0
    assert decode_state(encode_state(direct)) == direct


def test_a_chunk_older_than_its_shards_complete_poll_is_dropped_whole_and_counted(caplog: pytest.LogCaptureFixture
                                                                                   ) -> None:
    """Reordered input (DESIGN §3: the producer keeps order; should anything upstream break
    it): a chunk of a poll its shard already completed in this key is not applied at all (its
    samples would get the wrong Δ), its samples are counted in dropped_total{reason="reordered"},
    and one warning names the episode, not one per chunk."""
    streams = [stream_of(a[1]) for a in build().actions if a[0] == "event"][:30]
    t1, t2 = 1_700_000_040_000, 1_700_000_100_000
    (_, old_value), = cut_poll(streams[:12], t1, "p@1", "p", 1, 1, 500)
    (_, new_value), = cut_poll(streams[:12], t2, "p@2", "p", 1, 1, 500)
    state = KeyState()
    process_chunk(CFG, state, decode_streams(new_value)[0], lambda *_: None)
    before = decode_state(encode_state(state))
    outputs, stats = process_chunk(CFG, state, decode_streams(old_value)[0], lambda *_: None)
    assert (outputs, stats.accepted, stats.reordered, stats.reordered_after) == ([], 0, 12, t2)
    assert state == before  # nothing of it applied

    dropped = DROPPED.labels("reordered")
    counted = dropped._value.get()
    reorders = ReorderLog()
    set_message_context(MessageContext("twitch.streams", 1, 42, len(old_value)))  # what the warning names
    try:
        with caplog.at_level(logging.WARNING, logger="processors.app"):
            reorders.observe(b"0", stats)
            reorders.observe(b"0", stats)
    finally:
        set_message_context(None)
    assert dropped._value.get() - counted == 24
    warnings = [r.getMessage() for r in caplog.records if "reordered input" in r.getMessage()]
    assert len(warnings) == 1 and "chunk key 0 (twitch.streams[1]@42)" in warnings[0], warnings
