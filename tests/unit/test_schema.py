"""The `twitch.streams` records (`pulse.schema`), declared once: the processor's typed decoder
against the general one (the same chunks accepted, the same stream objects rejected for the
same reasons), `normalise` and the validator both derived from `Stream`."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest

from pulse import events
from pulse.events import (
    ChunkError,
    decode_chunk,
    decode_streams,
    encode_chunk,
    format_ts,
    full_stream_error,
    normalise,
    stream_error,
    v1_event,
    v1_events,
)
from pulse.schema import STREAM_FIELDS, STREAM_TYPES, Chunk, Stream

T = 1_700_000_040_000
GOOD = {"stream_id": "41", "user_id": "7", "user_login": "seven", "user_name": "Seven", "game_id": "509658",
        "game_name": "Just Chatting", "title": "hi ✨", "language": "en", "type": "live", "tags": ["English"],
        "viewer_count": 1234, "started_at": "2023-11-14T21:13:20Z", "is_mature": False}


def chunk_bytes(streams: list[Any]) -> bytes:
    return encode_chunk(Chunk(captured_at=format_ts(T), poll_id="p@1", producer="p", shards=1, key=3, keys=8, part=0,
                              parts=1, streams=streams))


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


def test_normalise_makes_exactly_the_stream_fields_from_a_helix_object() -> None:
    helix = {"id": "41", "user_id": 7, "user_login": "seven", "user_name": None, "game_id": "509658",
             "game_name": "Just Chatting", "title": "hi", "language": "en", "type": "live", "tags": None,
             "tag_ids": ["old"], "viewer_count": "1234", "started_at": "2023-11-14T21:13:20Z", "thumbnail_url": "x"}
    stream = normalise(helix)
    assert tuple(stream) == STREAM_FIELDS
    assert stream["stream_id"] == "41" and stream["user_id"] == "7" and stream["user_name"] == ""
    assert stream["tags"] == [] and stream["viewer_count"] == 1234 and stream["is_mature"] is False
    assert stream_error(stream) is None
    with pytest.raises(KeyError):
        normalise({k: v for k, v in helix.items() if k != "viewer_count"})


def test_the_reasons_name_the_field() -> None:
    assert stream_error({k: v for k, v in GOOD.items() if k != "viewer_count"}) == "missing field viewer_count"
    assert stream_error({**GOOD, "tags": "English"}) == "field tags has the wrong type"
    assert stream_error({**GOOD, "viewer_count": -1}) == "field viewer_count is out of range"
    assert stream_error({**GOOD, "stream_id": ""}) == "field stream_id is out of range"
    assert stream_error([GOOD]) == "stream is not a JSON object"


def test_a_valid_chunk_decodes_the_fast_way_into_equal_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = [GOOD, {**GOOD, "user_id": "8", "stream_id": "42", "viewer_count": 0, "extra": 1}]
    monkeypatch.setattr(events, "decode_chunk", lambda value: pytest.fail("took the general way"))
    chunk, rejected = decode_streams(chunk_bytes(streams))
    monkeypatch.undo()
    general = decode_chunk(chunk_bytes(streams))
    assert rejected == [] and (chunk.captured_at, chunk.key, chunk.keys) == (general.captured_at, 3, 8)
    assert all(isinstance(s, Stream) for s in chunk.streams)
    assert [msgspec.structs.asdict(s) for s in chunk.streams] == [{k: s[k] for k in STREAM_FIELDS}
                                                                   for s in general.streams]


@pytest.mark.parametrize("bad", mutations(), ids=lambda b: orjson.dumps(b).decode()[:60])
def test_a_stream_object_is_rejected_exactly_when_stream_error_says_so(bad: Any) -> None:
    chunk, rejected = decode_streams(chunk_bytes([GOOD, bad, {**GOOD, "user_id": "9"}]))
    reason = stream_error(bad)
    assert [(r.position, r.reason) for r in rejected] == ([(1, reason)] if reason else [])
    assert [s is not None for s in chunk.streams] == [True, reason is None, True]
    if reason is not None:
        assert rejected[0].stream == bad


@pytest.mark.parametrize("value", [None, b"", b"{", b"[]", b'{"schema":1}', chunk_bytes([])[:-5],
                                   chunk_bytes([]).replace(b'"part":0', b'"part":1'),
                                   chunk_bytes([]).replace(b'"key":3', b'"key":"3"'),
                                   chunk_bytes([]).replace(b"2023-11-14T22:14:00.000Z", b"yesterday")])
@pytest.mark.parametrize("fast", [decode_streams, v1_events], ids=["processor", "raw sink"])
def test_a_non_chunk_fails_with_one_reason_either_way(value: Any, fast: Any) -> None:
    """The processor's typed decode and the raw sink's `v1_events` refuse what `decode_chunk` refuses, saying the same."""
    with pytest.raises(ChunkError) as general:
        decode_chunk(value)
    with pytest.raises(ChunkError) as typed:
        fast(value)
    assert str(typed.value) == str(general.value)


@pytest.mark.parametrize("value,reason", [
    (b"not json", "value is not JSON"),
    (b"[1, 2]", "value is not a JSON object"),
    (b'{"schema": 1, "captured_at": "2026-01-01T00:00:00Z"}', "unsupported schema 1"),
    (b'{"schema": 2}', "missing chunk field captured_at"),
    (chunk_bytes([]).replace(b'"key":3', b'"key":"3"'), "chunk field key has the wrong type"),
    (chunk_bytes([]).replace(b'"part":0', b'"part":1'), "chunk bookkeeping out of range"),
    (chunk_bytes([]).replace(b"2023-11-14T22:14:00.000Z", b"yesterday"),
     "chunk field captured_at is not an RFC 3339 timestamp"),
])
def test_a_non_chunk_gets_a_reason_a_person_can_act_on(value: bytes, reason: str) -> None:
    with pytest.raises(ChunkError, match=f"^{reason}$"):
        decode_chunk(value)


def general_v1(value: bytes) -> tuple[list[tuple[int, bytes]], list[tuple[int, str]]]:
    """What the raw sink made of a chunk before `v1_events`: each stream object decoded to a
    dict, checked with `full_stream_error`, its v1 event encoded again."""
    chunk = decode_chunk(value)
    kept, rejected = [], []
    for index, stream in enumerate(chunk.streams):
        reason = full_stream_error(stream)
        if reason is None:
            kept.append((index, orjson.dumps(v1_event(stream, chunk))))
        else:
            rejected.append((index, reason))
    return kept, rejected


def test_the_producers_stream_objects_keep_their_bytes_in_their_v1_events() -> None:
    odd = {**GOOD, "user_id": "8", "stream_id": "42", "title": 'Ünïcode "quoted" \\ \n\t\u2028 🎮 ' + "\x01",
           "tags": [], "game_id": "", "is_mature": True}
    value = chunk_bytes([GOOD, odd])
    chunk, events, rejected = v1_events(value)
    assert rejected == [] and events == general_v1(value)[0]
    assert [orjson.loads(event) for _, event in events] == [v1_event(s, chunk) for s in (GOOD, odd)]


GOOD_BYTES = orjson.dumps(GOOD)


@pytest.mark.parametrize("raw", [
    GOOD_BYTES[:-1] + b',"viewer_count":5}',                          # a repeated key
    GOOD_BYTES[:-1] + b',"poll_id":"x","schema":1}',                  # keys the event adds
    GOOD_BYTES[:-1] + b',"extra":1}',                                 # a field the schema does not have
    GOOD_BYTES[:-1] + b',"extra":{"a":1,"a":2}}',                     # ... itself repeating a key
    b"{ " + GOOD_BYTES[1:],                                           # a space
    GOOD_BYTES.replace(b"21:13:20Z", b"22:13:20+01:00"),              # another zone: as written either way
    GOOD_BYTES.replace(b"2023-11-14T21:13:20Z", b"yesterday"),        # not a timestamp
    GOOD_BYTES.replace(b"1234", b"-1"),                               # out of range
    b"[]",                                                            # not an object
], ids=["repeated key", "event keys", "unknown field", "nested repeat", "space", "offset", "bad time", "range",
        "list"])
def test_any_other_stream_object_gets_the_general_ways_event_or_reason(raw: bytes) -> None:
    value = chunk_bytes([]).replace(b'"streams":[]', b'"streams":[' + GOOD_BYTES + b"," + raw + b"]")
    _, events, rejected = v1_events(value)
    kept, reasons = general_v1(value)
    assert events == kept and [index for index, _ in kept] in ([0], [0, 1])
    assert [(r.position, r.reason) for r in rejected] == reasons




class Text(str):
    pass


@pytest.mark.parametrize("value", ["", "x", Text("t"), 0, 7, True, False, None, 1.5, ["a", 1], [], "12"],
                         ids=repr)
def test_normalise_keeps_a_value_only_where_its_coercion_would_return_it(value: Any) -> None:
    helix = {**GOOD, "id": GOOD["stream_id"]}
    for name in STREAM_FIELDS:
        coerce = events._COERCE[STREAM_TYPES[name]]
        try:
            expected = coerce(value)
        except (TypeError, ValueError):
            continue
        got = normalise({**helix, "id" if name == "stream_id" else name: value})[name]
        assert got == expected and type(got) is type(expected), name
        if isinstance(value, list):
            assert got is not value  # a list is always made anew
