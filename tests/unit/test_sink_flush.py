"""Which of a checkpoint's batches one warehouse write takes (`WarehouseSink.together`): the
window and alert sinks MERGE a topic's partitions in one statement, the raw sink writes each
partition alone (its offset mark is per partition). The warehouse here only records what it is
handed; tests/integration/test_sink_windows.py loads the same sink into fakesnow."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import orjson
import pytest
from quixstreams.sinks import SinkBackpressureError

from pulse import topics
from pulse.settings import Settings
from sinks.tables import TableSpec
from sinks.writers import MergeSink, RawSink
from tests.sink_support import channel_window, game_window


class RecordingWarehouse:
    """The `Warehouse` calls a sink makes, with nothing behind them; `failing` makes merges
    raise a transient error."""

    def __init__(self, failing: bool = False) -> None:
        self.merges: list[tuple[str, list[tuple[Any, ...]]]] = []
        self.raw: list[tuple[str, int, int]] = []
        self.failing = failing

    def connect(self, settings: Settings, with_schema: bool = True) -> Any:
        return self

    def cursor(self) -> Any:
        return self

    def close(self) -> None:
        pass

    def bootstrap(self, conn: Any) -> list[int]:
        return []

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, ConnectionError)

    def lost_session(self, error: BaseException) -> bool:
        return False

    def rollback(self, cur: Any) -> None:
        pass

    def write_raw(self, cur: Any, sink: str, topic: str, partition: int, rows: Sequence[Any], last: int,
                  method: str, workdir: str) -> int:
        self.raw.append((topic, partition, len(rows)))
        return len(rows)

    def merge(self, cur: Any, spec: TableSpec, rows: Sequence[Sequence[Any]], method: str, workdir: str) -> int:
        if self.failing:
            raise ConnectionError("warehouse down")
        # a row ends with its partition and offset
        self.merges.append((spec.table, sorted((row[-2], row[-1]) for row in rows)))
        return len(rows)


def _add(sink: Any, topic: str, partition: int, offset: int, record: dict[str, Any]) -> None:
    sink.add(value=orjson.dumps(record), key=b"k", timestamp=0, headers=[], topic=topic, partition=partition,
             offset=offset)


def test_a_topics_partitions_go_in_one_merge(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    warehouse = RecordingWarehouse()
    sink = MergeSink(settings, warehouse, [topics.WINDOWS_GAMES, topics.WINDOWS_CHANNELS], "copy")
    games, channels = settings.topic(topics.WINDOWS_GAMES), settings.topic(topics.WINDOWS_CHANNELS)
    _add(sink, games, 0, 5, game_window(0, 1))
    _add(sink, channels, 1, 7, channel_window(0, 1))
    _add(sink, games, 1, 3, game_window(0, 2))
    _add(sink, games, 0, 6, game_window(0, 3))
    sink.flush()
    assert sorted(warehouse.merges) == [("CHANNEL_WINDOWS", [(1, 7)]),
                                        ("GAME_WINDOWS", [(0, 5), (0, 6), (1, 3)])]
    sink.flush()  # the batches were dropped with the flush
    assert len(warehouse.merges) == 2


def test_the_raw_sink_writes_each_partition_alone(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    warehouse = RecordingWarehouse()
    sink = RawSink(settings, warehouse, "copy")
    streams = settings.topic(topics.STREAMS)
    chunk = {"schema": 2, "poll_id": "p", "captured_at": "2026-01-01T00:00:00Z", "shard": "0/1", "chunk": 0,
             "chunks": 1, "streams": []}
    for partition, offset in ((0, 1), (1, 1), (0, 2)):
        _add(sink, streams, partition, offset, chunk)
    sink.flush()
    assert sorted(warehouse.raw) == [(streams, 0, 0), (streams, 1, 0)]


def test_a_failed_merge_drops_every_batch_of_the_flush(make_settings: Callable[..., Settings]) -> None:
    """Quix Streams replays every partition from its last commit: nothing may stay behind."""
    settings = make_settings()
    warehouse = RecordingWarehouse(failing=True)
    sink = MergeSink(settings, warehouse, [topics.WINDOWS_GAMES], "copy")
    games = settings.topic(topics.WINDOWS_GAMES)
    _add(sink, games, 0, 5, game_window(0, 1))
    _add(sink, games, 1, 3, game_window(0, 2))
    with pytest.raises(SinkBackpressureError):
        sink.flush()
    warehouse.failing = False
    sink.flush()
    assert warehouse.merges == []
