"""The rollback property of the processor's stages (issue 24 §5), in one process, no broker.

Quix's exactly-once makes each checkpoint atomic: the state writes, the outputs and the input
offsets of a batch of messages commit together or not at all; after an abort the consumer
seeks back to the last commit and the same messages come again. Stage 1 also keeps each
key's state decoded in memory (`KeyStateCache`), changed before the transaction commits, so
an abort leaves that memory ahead of the durable state. The version token must catch that.

`TransactionalDriver` runs the three stages that way: per-stage input queues with committed
positions, a transactional state per (stage, key), outputs held until commit. An injected
failure (`Fault`) at a random state operation or at a random commit, over many seeds, aborts
the checkpoint; whatever point it hits, every window row must equal the DuckDB reference and
no row may come out twice.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Optional

import msgspec
import orjson
import pytest

from processors.chunk_handler import handle_chunk, key_state_cache
from processors.game_surge import on_game_poll
from processors.merge_stage import on_partial
from processors.routing import DLQ, GAME_POLLS, PARTIALS, Output
from tests import reference
from tests.reference import assert_rows_equal
from tests.scenario import CFG, I_S, TOP_N, W_S, build, messages

STREAMS, CHECKPOINT = "streams", 5  # messages per stage and checkpoint
_DELETED = object()


class Fault(Exception):
    """The injected failure: anything that aborts a checkpoint (a crash, a broker error)."""


class Faults:
    """Fails the n-th state operation (and the n-th commit) for each n drawn up front."""

    def __init__(self, rng: random.Random, operations: int, commits: int, count: int) -> None:
        self.at_operation = set(rng.sample(range(1, operations + 1), count))
        self.at_commit = set(rng.sample(range(1, commits + 1), max(1, count // 4)))
        self.operations = self.commits = self.fired = 0

    def operation(self) -> None:
        self.operations += 1
        if self.operations in self.at_operation:
            self.fired += 1
            raise Fault(f"state operation {self.operations}")

    def commit(self) -> None:
        self.commits += 1
        if self.commits in self.at_commit:
            self.fired += 1
            raise Fault(f"commit {self.commits}")


class TxState:
    """A Quix State over a committed dict: writes are pending until `commit`, gone on `abort`."""

    def __init__(self, committed: dict[str, bytes], faults: Optional[Faults]) -> None:
        self.committed = committed
        self.pending: dict[str, Any] = {}
        self.faults = faults

    def _touch(self) -> None:
        if self.faults is not None:
            self.faults.operation()

    def get_bytes(self, key: str, default: Optional[bytes] = None) -> Optional[bytes]:
        value = self.pending.get(key, self.committed.get(key))
        return default if value is None or value is _DELETED else value

    def set_bytes(self, key: str, value: bytes, ttl: Any = None) -> None:
        self._touch()
        self.pending[key] = bytes(value)

    def get(self, key: str, default: Optional[Any] = None) -> Any:
        value = self.get_bytes(key)
        return default if value is None else orjson.loads(value)

    def set(self, key: str, value: Any, ttl: Any = None) -> None:
        self.set_bytes(key, orjson.dumps(value))

    def delete(self, key: str) -> None:
        self._touch()
        self.pending[key] = _DELETED

    def commit(self) -> None:
        for key, value in self.pending.items():
            if value is _DELETED:
                self.committed.pop(key, None)
            else:
                self.committed[key] = value
        self.pending.clear()


class TransactionalDriver:
    """The three stages under Quix's exactly-once model (see the module doc)."""

    def __init__(self, faults: Optional[Faults] = None) -> None:
        self.faults = faults
        self.cache = key_state_cache(CFG, journal_limit=4)  # survives aborts, as in a live process
        self.queues: dict[str, list[tuple[Any, Any]]] = {STREAMS: [], PARTIALS: [], GAME_POLLS: []}
        self.positions: dict[str, int] = {name: 0 for name in self.queues}
        self.durable: dict[tuple[str, Any], dict[str, bytes]] = defaultdict(dict)
        self.rows: dict[str, dict[str, Any]] = defaultdict(dict)
        self.aborts = 0

    def _handle(self, stage: str, key: Any, value: Any, state: TxState) -> list[Output]:
        if stage == STREAMS:
            return handle_chunk(CFG, self.cache, value, key, state, lambda: "test")[0]
        if stage == PARTIALS:
            return list(on_partial(CFG, value, state))
        return list(on_game_poll(CFG, value, state))

    def checkpoint(self) -> bool:
        """Process up to CHECKPOINT messages of each stage and commit; False once idle."""
        states: dict[tuple[str, Any], TxState] = {}
        produced: list[Output] = []
        took: dict[str, int] = {}
        try:
            for stage, queue in self.queues.items():
                start = self.positions[stage]
                batch = queue[start:start + CHECKPOINT]
                took[stage] = len(batch)
                for key, value in batch:
                    state = states.get((stage, key))
                    if state is None:
                        state = states[(stage, key)] = TxState(self.durable[(stage, key)], self.faults)
                    produced.extend(self._handle(stage, key, value, state))
            if not any(took.values()):
                return False
            if self.faults is not None:
                self.faults.commit()
        except Fault:
            self.aborts += 1  # nothing of the checkpoint happened: states, outputs, positions
            return True
        for state in states.values():
            state.commit()
        for stage, count in took.items():
            self.positions[stage] += count
        for out in produced:
            if out.route in (PARTIALS, GAME_POLLS):
                self.queues[out.route].append((out.key, out.value))
            elif out.route != DLQ:
                assert out.key not in self.rows[out.route], f"{out.route} row {out.key} committed twice"
                self.rows[out.route][out.key] = msgspec.to_builtins(out.value)
        return True

    def run(self) -> None:
        while self.checkpoint():
            pass


def scenario_messages(keys: int, chunk_streams: int) -> list[tuple[bytes, bytes]]:
    """The scenario as the producer cuts it: (message key, chunk) in send order."""
    return [(m.key, m.value) for m in messages(build().actions, keys, chunk_streams)]


def expected_rows() -> dict[str, dict]:
    sc = build()
    return reference.compute(sc.events, W_S, I_S, TOP_N, late=sc.late)


def test_the_driver_without_faults_equals_the_reference() -> None:
    driver = TransactionalDriver()
    driver.queues[STREAMS] = scenario_messages(keys=5, chunk_streams=3)
    driver.run()
    expected = expected_rows()
    for name in ("games", "channels", "top_channels", "streams", "languages"):
        assert_rows_equal(expected[name], driver.rows[name], name)


@pytest.mark.parametrize("seed", range(24))
def test_a_failure_anywhere_before_the_commit_changes_no_row(seed: int) -> None:
    messages = scenario_messages(keys=5, chunk_streams=3)
    clean = TransactionalDriver()
    clean.queues[STREAMS] = list(messages)
    counter = Faults(random.Random(0), 1, 1, 0)
    counter.at_operation, counter.at_commit = set(), set()
    clean.faults = counter
    clean.run()  # counts the state operations and commits of a run without failures
    rng = random.Random(seed)
    faults = Faults(rng, counter.operations, counter.commits, count=12)
    driver = TransactionalDriver(faults)
    driver.queues[STREAMS] = list(messages)
    driver.run()
    assert faults.fired >= 12 and driver.aborts == faults.fired
    expected = expected_rows()
    for name in ("games", "channels", "top_channels", "streams", "languages"):
        assert_rows_equal(expected[name], driver.rows[name], name)
    assert driver.rows["alerts"] == clean.rows["alerts"]
