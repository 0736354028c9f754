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

from pulse.events import ChunkError
from pulse.samples import decode_samples

from .chunk_stage import ChunkStats, process_chunk
from .config import ProcessorConfig
from .keystate import KeyState, KeyStateCache, decode_journal, encode_journal
from .routing import Output, dead_letter

log = logging.getLogger(__name__)


def replay_chunk(cfg: ProcessorConfig) -> Callable[[KeyState, bytes], None]:
    """Re-applies a journaled chunk while a key's state is rebuilt (outputs were sent already).
    A journal written before `encode_journal` existed holds the chunk's own bytes (a JSON object)."""

    def replay(state: KeyState, value: bytes) -> None:
        chunk = decode_samples(value)[0] if value[:1] == b"{" else decode_journal(value)
        process_chunk(cfg, state, chunk, lambda *_: None)

    return replay


def handle_chunk(cfg: ProcessorConfig, cache: KeyStateCache, value: Optional[bytes], key: Optional[bytes],
                 state: Any, source: Callable[[], str]) -> tuple[list[Output], Optional[ChunkStats]]:
    """(outputs, stats) of one message; stats is None when the whole message went to the DLQ.
    `source()` names the message for the log and the DLQ header."""
    try:
        chunk, rejected = decode_samples(value)
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
    ks = cache.load(chunk.key, state)
    out, stats = process_chunk(cfg, ks, chunk, reject)
    cache.save(chunk.key, state, ks, encode_journal(chunk))
    stats.invalid += len(rejected)
    return dead + out if dead else out, stats
