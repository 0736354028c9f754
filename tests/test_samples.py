"""pulse.samples, the processor's typed decoder, against pulse.events' general one: the same
chunks accepted, the same stream objects rejected for the same reasons."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest

from pulse import samples
from pulse.events import STREAM_FIELDS, ChunkError, Chunk, decode_chunk, encode_chunk, stream_error
from pulse.samples import Sample, decode_samples

T = 1_700_000_040_000
GOOD = {"stream_id": "41", "user_id": "7", "user_login": "seven", "user_name": "Seven", "game_id": "509658",
        "game_name": "Just Chatting", "title": "hi ✨", "language": "en", "type": "live", "tags": ["English"],
        "viewer_count": 1234, "started_at": "2023-11-14T21:13:20Z", "is_mature": False}


def chunk_bytes(streams: list[Any]) -> bytes:
    return encode_chunk(Chunk(T, "p@1", "p", 1, 3, 8, 0, 1, streams=streams))


def mutations() -> list[Any]:
    bad: list[Any] = ["a string", 5, None, [GOOD]]
    for name in STREAM_FIELDS:
        bad.append({k: v for k, v in GOOD.items() if k != name})
        bad.append({**GOOD, name: None})
    bad += [{**GOOD, "viewer_count": -1}, {**GOOD, "viewer_count": 2**53}, {**GOOD, "viewer_count": 5.0},
            {**GOOD, "viewer_count": True}, {**GOOD, "viewer_count": "5"}, {**GOOD, "stream_id": ""},
            {**GOOD, "user_id": ""}, {**GOOD, "tags": [1]}, {**GOOD, "tags": "English"}, {**GOOD, "is_mature": 0},
            {**GOOD, "user_login": 7}, {**GOOD, "viewer_count": 2**53 - 1}, {**GOOD, "tags": []},
            {**GOOD, "extra": {"nested": [1, 2]}}, {**GOOD, "started_at": "not a time"}]
    return bad


def test_sample_has_exactly_the_schema_fields() -> None:
    assert Sample.__struct_fields__ == tuple(STREAM_FIELDS)


def test_a_valid_chunk_decodes_the_fast_way_into_equal_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = [GOOD, {**GOOD, "user_id": "8", "stream_id": "42", "viewer_count": 0, "extra": 1}]
    monkeypatch.setattr(samples, "_decode_generally", lambda value: pytest.fail("took the general way"))
    chunk, rejected = decode_samples(chunk_bytes(streams))
    general = decode_chunk(chunk_bytes(streams))
    assert rejected == [] and (chunk.captured_at_ms, chunk.key, chunk.keys) == (general.captured_at_ms, 3, 8)
    assert [msgspec.structs.asdict(s) for s in chunk.streams] == [{k: s[k] for k in STREAM_FIELDS}
                                                                   for s in general.streams]


@pytest.mark.parametrize("bad", mutations(), ids=lambda b: orjson.dumps(b).decode()[:60])
def test_a_stream_object_is_rejected_exactly_when_stream_error_says_so(bad: Any) -> None:
    chunk, rejected = decode_samples(chunk_bytes([GOOD, bad, {**GOOD, "user_id": "9"}]))
    reason = stream_error(bad)
    assert [(r.position, r.reason) for r in rejected] == ([(1, reason)] if reason else [])
    assert [s is not None for s in chunk.streams] == [True, reason is None, True]
    if reason is not None:
        assert rejected[0].stream == bad


@pytest.mark.parametrize("value", [None, b"", b"{", b"[]", b'{"schema":1}', chunk_bytes([])[:-5],
                                   chunk_bytes([]).replace(b'"part":0', b'"part":1'),
                                   chunk_bytes([]).replace(b'"key":3', b'"key":"3"'),
                                   chunk_bytes([]).replace(b"2023-11-14T22:14:00.000Z", b"yesterday")])
def test_a_non_chunk_fails_with_the_general_reason(value: Any) -> None:
    with pytest.raises(ChunkError) as general:
        decode_chunk(value)
    with pytest.raises(ChunkError) as typed:
        decode_samples(value)
    assert str(typed.value) == str(general.value)
