"""Stage 1's step per message, the one the Quix topology runs and the in-process stage tests
drive: decode a chunk, dead-letter what is not valid, run `process_chunk` on the key's state
and make that state durable.

A message that is not a chunk goes whole to the DLQ; a bad stream object goes alone (its
index in a header) and the rest of its chunk is processed.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import msgspec

from pulse.events import ChunkError, decode_streams
from pulse.schema import Chunk

from . import state_v1
from .chunk_stage import ChunkStats, process_chunk
from .config import ProcessorConfig
from .keystate import JOURNAL_LIMIT, KeyState, KeyStateCache, decode_journal, encode_journal
from .routing import Output, dead_letter

log = logging.getLogger(__name__)


def _ignore(*_: Any) -> None:
    """Rebuilding state: a chunk's dead letters went out when it was first processed."""


def replay_chunk(cfg: ProcessorConfig) -> Callable[[KeyState, bytes], None]:
    """Re-applies a journaled chunk while a key's state is rebuilt (its outputs were sent already)."""

    def replay(state: KeyState, value: bytes) -> None:
        process_chunk(cfg, state, decode_journal(value), _ignore)

    return replay


def migrate_state(cfg: ProcessorConfig) -> Callable[[Any], Optional[tuple[KeyState, list[str]]]]:
    """Reads a key's state written in format 1, its journal replayed through today's stage logic."""

    def migrate(state: Any) -> Optional[tuple[KeyState, list[str]]]:
        old_keys = state_v1.keys_of(state)
        if old_keys is None:
            return None
        def apply(key_state: KeyState, chunk: Chunk) -> None:
            process_chunk(cfg, key_state, chunk, _ignore)

        value = state_v1.read(state, apply)
        if value is None:
            return None
        log.info("chunk key state read in format 1 (%d state keys); written back in format 2", len(old_keys))
        return value, old_keys

    return migrate


def key_state_cache(cfg: ProcessorConfig, journal_limit: int = JOURNAL_LIMIT) -> KeyStateCache:
    return KeyStateCache(replay_chunk(cfg), journal_limit, migrate_state(cfg))


def handle_chunk(cfg: ProcessorConfig, cache: KeyStateCache, value: Optional[bytes], key: Optional[bytes],
                 state: Any, source: Callable[[], str]) -> tuple[list[Output], Optional[ChunkStats]]:
    """(outputs, stats) of one message; stats is None when the whole message went to the DLQ.
    `source()` names the message for the log and the DLQ header."""
    try:
        chunk, rejected = decode_streams(value)
        if key is None or key != chunk.message_key:
            raise ChunkError("message key is not the chunk's key")
    except ChunkError as exc:
        log.warning("to DLQ: %s (%s)", exc, source())
        return [dead_letter(value, key, str(exc), source())], None
    dead: list[Output] = []

    def reject(stream: Any, index: int, reason: str) -> None:
        log.warning("to DLQ: %s (%s, stream %d)", reason, source(), index)
        dead.append(dead_letter(msgspec.json.encode(stream), key, reason, source(), index))

    for r in rejected:
        reject(r.stream, r.position, r.reason)
    key_state = cache.load(chunk.key, state)
    out, stats = process_chunk(cfg, key_state, chunk, reject)
    cache.save(chunk.key, state, key_state, encode_journal(chunk))
    stats.invalid += len(rejected)
    return dead + out if dead else out, stats
