"""Drives the processor's three stage functions in one process, without a broker: chunk by
chunk, routing each output the way the topology's internal topics would. For fast tests of
the stage logic; the real topology is tested over the real broker in test_processor.py."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Optional

import msgspec
import orjson

from processors.chunk_handler import handle_chunk, key_state_cache
from processors.config import ProcessorConfig
from processors.game_surge import on_game_poll
from processors.merge_stage import on_partial
from processors.routing import (
    ALERTS,
    CHANNELS,
    DLQ,
    GAME_POLLS,
    GAMES,
    LANGUAGES,
    PARTIALS,
    STREAMS,
    TOP_CHANNELS,
    Output,
)
from pulse.events import ChunkError, decode_chunk


class DictState:
    """The get/set/bytes/delete surface of a Quix State over a plain dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.ttls: dict[str, Any] = {}  # the TTL of each key's last write (None: none)

    def get(self, key: str, default: Optional[Any] = None) -> Any:
        value = self.data.get(key)
        return default if value is None else orjson.loads(value)

    def set(self, key: str, value: Any, ttl: Any = None) -> None:
        self.data[key] = orjson.dumps(value)
        self.ttls[key] = ttl

    def get_bytes(self, key: str, default: Optional[bytes] = None) -> Optional[bytes]:
        return self.data.get(key, default)

    def set_bytes(self, key: str, value: bytes, ttl: Any = None) -> None:
        self.data[key] = bytes(value)
        self.ttls[key] = ttl

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class StageDriver:
    def __init__(self, cfg: ProcessorConfig, cache: Optional[Any] = None) -> None:
        self.cfg = cfg
        self.cache = cache or key_state_cache(cfg)
        self.states: dict[tuple[str, Any], DictState] = defaultdict(DictState)
        self.rows: dict[str, dict[str, Any]] = {GAMES: {}, CHANNELS: {}, TOP_CHANNELS: {}, STREAMS: {}, LANGUAGES: {},
                                                ALERTS: {}}
        self.dlq: list[Output] = []

    def send(self, value: bytes, key: Optional[bytes] = None) -> None:
        """One message of twitch.streams, keyed as the producer keys it unless `key` says otherwise."""
        if key is None:
            try:
                key = decode_chunk(value).message_key
            except ChunkError:
                key = b"?"
        out, _ = handle_chunk(self.cfg, self.cache, value, key, self.states[("stage1", key)], lambda: "test")
        self._route(out)

    def _route(self, outputs: list[Output]) -> None:
        for o in outputs:
            if o.route == PARTIALS:
                self._route(on_partial(self.cfg, o.value, self.states[("partials", o.key)]))
            elif o.route == GAME_POLLS:
                self._route(on_game_poll(self.cfg, o.value, self.states[("game_polls", o.key)]))
            elif o.route == DLQ:
                self.dlq.append(o)
            else:
                assert o.key not in self.rows[o.route], f"duplicate {o.route} row {o.key}"
                self.rows[o.route][o.key] = msgspec.to_builtins(o.value)
