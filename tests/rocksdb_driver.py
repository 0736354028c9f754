"""Runs the processor's three stage functions over Quix Streams' own RocksDB store partitions,
one directory per stage, one transaction per message: the state as the processor keeps it on
disk, without a broker. The stage functions are passed in, so the same driver runs today's
code and (`tests/fixtures/make_state_v1.py`) the code of an older commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from quixstreams.state.rocksdb import RocksDBOptions, RocksDBStorePartition

STAGES = ("stage1", "partials", "game_polls")


class RocksDBDriver:
    def __init__(self, root: Path, handle_chunk: Callable[..., Any], on_partial: Callable[..., Any],
                 on_game_poll: Callable[..., Any], routes: dict[str, str], cache: Any, cfg: Any,
                 rows: Callable[[Any], Any]) -> None:
        """`routes` names the internal routes ("partials", "game_polls", "dlq"); `rows(value)`
        turns an output row into what `self.rows` keeps."""
        self.stores = {name: RocksDBStorePartition(str(root / name), RocksDBOptions()) for name in STAGES}
        self.handle_chunk, self.on_partial, self.on_game_poll = handle_chunk, on_partial, on_game_poll
        self.routes, self.cache, self.cfg, self.to_row = routes, cache, cfg, rows
        self.rows: dict[str, dict[str, Any]] = {}

    def _step(self, stage: str, key: Any, timestamp: int, step: Callable[[Any], list]) -> list:
        tx = self.stores[stage].begin()
        out = list(step(tx.as_state(prefix=key, timestamp=timestamp)))
        tx.prepare()
        tx.flush()
        return out

    def send(self, value: bytes, key: bytes, timestamp: int) -> None:
        out = self._step("stage1", key, timestamp, lambda state: self.handle_chunk(
            self.cfg, self.cache, value, key, state, lambda: "test")[0])
        self._route(out, timestamp)

    def _route(self, outputs: list, timestamp: int) -> None:
        for o in outputs:
            if o.route == self.routes["partials"]:
                self._route(self._step("partials", o.key.encode(), timestamp,
                                       lambda state: self.on_partial(self.cfg, o.value, state)), timestamp)
            elif o.route == self.routes["game_polls"]:
                self._route(self._step("game_polls", o.key.encode(), timestamp,
                                       lambda state: self.on_game_poll(self.cfg, o.value, state)), timestamp)
            elif o.route != self.routes["dlq"]:
                rows = self.rows.setdefault(o.route, {})
                assert o.key not in rows, f"duplicate {o.route} row {o.key}"
                rows[o.key] = self.to_row(o.value)

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
