"""What the stages emit, and how it reaches its topic.

Every stage returns `Output` records; `produce_outputs` hands each straight to the
application's transactional producer, to the topic its `route` names, with the record's own
key and headers. Output topics carry only the value: bytes as they are (internal records,
DLQ payloads), anything else as JSON (the rows of `pulse.outputs`).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional

from quixstreams.internal_producer import InternalProducer

from pulse import outputs

PARTIALS = "partials"
GAME_POLLS = "game_polls"
GAMES = "games"
CHANNELS = "channels"
TOP_CHANNELS = "top_channels"
STREAMS = "streams"
LANGUAGES = "languages"
ALERTS = "alerts"
DLQ = "dlq"

DLQ_REASON_HEADER = "x-pulse-dlq-reason"
DLQ_SOURCE_HEADER = "x-pulse-source"
DLQ_INDEX_HEADER = "x-pulse-chunk-index"
DLQ_SIZE_HEADER = "x-pulse-original-size"
DLQ_HASH_HEADER = "x-pulse-original-sha256"
DLQ_MAX_BYTES = 512_000  # a dead letter always fits the DLQ topic, whatever the input was
PRODUCE_QUEUE_WAIT_SECONDS = 0.1


class Output(NamedTuple):
    route: str
    key: Any
    value: Any
    headers: Optional[list[tuple[str, bytes]]] = None


def dead_letter(value: Optional[bytes], key: Any, reason: str, source: str, index: Optional[int] = None) -> Output:
    """An input the schema rejects, with the reason and its origin in headers.

    A payload above DLQ_MAX_BYTES is cut to that size, its original size and SHA-256 in
    headers: the DLQ write can never fail on size and stop the worker.
    """
    headers = [(DLQ_REASON_HEADER, reason.encode()), (DLQ_SOURCE_HEADER, source.encode())]
    if index is not None:
        headers.append((DLQ_INDEX_HEADER, str(index).encode()))
    if value is not None and len(value) > DLQ_MAX_BYTES:
        headers.append((DLQ_SIZE_HEADER, str(len(value)).encode()))
        headers.append((DLQ_HASH_HEADER, hashlib.sha256(value).hexdigest().encode()))
        value = value[:DLQ_MAX_BYTES]
    return Output(DLQ, key, value, headers)


def value_bytes(payload: Any) -> Optional[bytes]:
    """An output's value as its topic carries it: bytes as they are, records as JSON."""
    if payload is None or isinstance(payload, bytes):
        return payload
    return outputs.encode(payload)


Produce = Callable[[str, Optional[bytes], Optional[bytes], Optional[list[tuple[str, bytes]]], int], None]


def transactional_produce(producer: InternalProducer) -> Produce:
    """`produce(topic, key, value, headers, timestamp)` into the application's transactional
    producer: the same transaction as the stage's state and input offsets, as `to_topic` would.

    It calls the confluent-kafka producer under Quix's own. Quix's `produce` adds, for every
    message, a delivery callback that records the offset (which Quix needs only for its
    changelogs), a poll, and a keyword dictionary: 1.5-2 us a message, about 1 s of a
    250k-channel window's 500k rows. Nothing is lost without the callback: a message that
    fails delivery fails the transaction's commit (librdkafka), so the checkpoint aborts and
    its input is processed again, as with Quix's latched error. Quix Streams 3.28 has no public
    handle on the client; `tests/unit/test_transactional_produce.py` checks it on a real Application."""
    quix_producer = producer._producer  # noqa: SLF001 (see above)

    def produce(topic: str, key: Optional[bytes], value: Optional[bytes],
                headers: Optional[list[tuple[str, bytes]]], timestamp: int) -> None:
        client = quix_producer._producer  # noqa: SLF001 (made on first use, then the same one)
        while True:
            try:
                if headers:
                    client.produce(topic, value, key, headers=headers, timestamp=timestamp)
                else:
                    client.produce(topic, value, key, timestamp=timestamp)
                return
            except BufferError:  # the local queue is full: it drains as the broker acknowledges
                client.poll(PRODUCE_QUEUE_WAIT_SECONDS)  # (or as messages time out, failing the commit)

    return produce


def produce_outputs(produce: Produce, topics: Mapping[str, str], records: Iterable[Output], timestamp: int) -> None:
    """Hand each output to `produce` (`transactional_produce`) with the input message's
    timestamp. Without `to_topic`'s per-message path (the dataframe's steps, a `Row`, two
    serialisers, header merging), which cost about 4 us a message more (issue 25)."""
    for o in records:
        key = o.key.encode() if isinstance(o.key, str) else o.key
        produce(topics[o.route], key, value_bytes(o.value), o.headers, timestamp)
