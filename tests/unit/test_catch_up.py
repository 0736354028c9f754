"""`InternalFirst`: the input is paused exactly while committed partials or game totals wait
unread, and always resumed: once they are read, or once a paused consumer finds nothing more
(commit markers, aborted records), and also for a partition revoked while paused."""

from __future__ import annotations

from typing import Optional

from confluent_kafka import TopicPartition

from processors.catch_up import LONGEST_PAUSE, InternalFirst

STREAMS, PARTIALS, GAME_POLLS = "twitch.streams", "twitch.processor.partials", "twitch.processor.game_polls"


class _Consumer:
    """The consumer calls `InternalFirst` makes, recorded; positions set by the test."""

    def __init__(self, assigned: list[tuple[str, int]]) -> None:
        self.assigned = assigned
        self.positions: dict[tuple[str, int], int] = {}
        self.stable: dict[tuple[str, int], int] = {}  # last stable offsets the broker answers
        self.asked = 0
        self.paused: set[tuple[str, int]] = set()
        self.calls: list[str] = []

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.assigned]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool) -> tuple[int, int]:
        assert not cached, "a cached watermark is stale for the partitions a backlog starves"
        self.asked += 1
        return 0, self.stable.get((tp.topic, tp.partition), 0)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}
        self.calls.append("pause " + ",".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}
        self.calls.append("resume " + ",".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)))


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0


def _wired(assigned: list[tuple[str, int]], recovering: bool = False, patience: float = 0.0
           ) -> tuple[InternalFirst, _Consumer, _Consumer, list[int], _Clock]:
    consumer, read, clock = _Consumer(assigned), [0], _Clock()
    first = InternalFirst(STREAMS, frozenset({PARTIALS, GAME_POLLS}), lambda: read[0], patience=patience,
                          interval=0.5, settle=0.3, clock=lambda: clock.now)
    first._consumer = consumer
    first._recovering = lambda: recovering
    return first, consumer, consumer, read, clock  # the consumer also answers the offset queries


def _ticks(first: InternalFirst, clock: _Clock, seconds: float, read: Optional[list[int]] = None) -> None:
    """Ticks every 0.1 s (an idle poll's length) for `seconds`, a message read per tick if `read`."""
    for _ in range(round(seconds / 0.1)):
        clock.now += 0.1
        if read is not None:
            read[0] += 1
        first.tick()


ASSIGNED = [(STREAMS, 0), (STREAMS, 1), (PARTIALS, 0), (GAME_POLLS, 0)]


def test_committed_partials_waiting_pause_the_input_until_they_are_read() -> None:
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    consumer.positions = {(PARTIALS, 0): 10, (GAME_POLLS, 0): 5}
    broker.stable = {(PARTIALS, 0): 14, (GAME_POLLS, 0): 6}  # 4 records past partials' position; a marker on game_polls
    _ticks(first, clock, 0.2)
    assert consumer.calls == ["pause twitch.streams[0],twitch.streams[1]"]
    _ticks(first, clock, 1.0, read)  # reading them: no resume before they are read, however long it takes
    assert consumer.paused == {(STREAMS, 0), (STREAMS, 1)}
    consumer.positions[(PARTIALS, 0)] = 13  # read up to the stable offset (13 is the commit marker)
    _ticks(first, clock, 0.1, read)
    assert consumer.calls[-1] == "resume twitch.streams[0],twitch.streams[1]" and not consumer.paused


def test_a_commit_marker_alone_is_not_waiting() -> None:
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    consumer.positions = {(PARTIALS, 0): 10, (GAME_POLLS, 0): 5}
    broker.stable = {(PARTIALS, 0): 11, (GAME_POLLS, 0): 6}
    _ticks(first, clock, 3.0)
    assert broker.asked >= 5 and consumer.calls == []


def test_offsets_the_paused_consumer_cannot_read_release_the_input_and_are_not_waited_for_again() -> None:
    """Aborted records (an outage) sit between the position and the stable offset: the paused
    consumer reads nothing; after `settle` and an idle poll the input resumes, and the same
    stable offset does not pause it again, a newer one does."""
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    consumer.positions = {(PARTIALS, 0): 10, (GAME_POLLS, 0): 5}
    broker.stable = {(PARTIALS, 0): 30, (GAME_POLLS, 0): 6}
    _ticks(first, clock, 0.2)  # asked, then answered
    assert consumer.paused
    _ticks(first, clock, 0.1)
    assert consumer.paused, "resumed before a fetch could answer"
    _ticks(first, clock, 0.4)
    assert not consumer.paused and consumer.calls[-1].startswith("resume")
    _ticks(first, clock, 2.0)
    assert len(consumer.calls) == 2
    broker.stable[(PARTIALS, 0)] = 32  # a new transaction's partials
    _ticks(first, clock, 0.6)
    assert consumer.paused and len(consumer.calls) == 3


def test_a_partition_revoked_while_paused_is_resumed_when_it_comes_back() -> None:
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    consumer.positions = {(PARTIALS, 0): 10}
    broker.stable = {(PARTIALS, 0): 20}
    _ticks(first, clock, 0.2)
    assert consumer.paused == {(STREAMS, 0), (STREAMS, 1)}
    consumer.assigned = [(STREAMS, 0), (PARTIALS, 0), (GAME_POLLS, 0)]  # streams[1] went to another replica
    consumer.positions[(PARTIALS, 0)] = 19
    _ticks(first, clock, 0.1)
    assert consumer.calls[-1] == "resume twitch.streams[0]"
    consumer.assigned = ASSIGNED  # ... and came back, still paused in librdkafka
    _ticks(first, clock, 0.6)
    assert consumer.calls[-1] == "resume twitch.streams[1]" and not (consumer.paused & {(STREAMS, 1)})


def test_nothing_is_paused_or_resumed_during_a_recovery_or_without_input() -> None:
    first, consumer, broker, _, clock = _wired(ASSIGNED, recovering=True)
    broker.stable = {(PARTIALS, 0): 20}
    _ticks(first, clock, 2.0)
    assert consumer.calls == [] and broker.asked == 0
    first, consumer, broker, _, clock = _wired([(PARTIALS, 0)])
    broker.stable = {(PARTIALS, 0): 20}
    _ticks(first, clock, 2.0)
    assert consumer.calls == []


def test_messages_read_within_the_patience_pause_nothing_and_older_ones_do() -> None:
    """Live, the consumer reads each commit's partials within milliseconds: no pause. In a
    backlog they stay unread: the input pauses once the oldest has waited `patience`."""
    first, consumer, broker, read, clock = _wired(ASSIGNED, patience=2.0)
    for step in range(10):  # each half second a new commit, read before the next look
        consumer.positions = {(PARTIALS, 0): 10 * step, (GAME_POLLS, 0): 5}
        broker.stable = {(PARTIALS, 0): 10 * step + 9, (GAME_POLLS, 0): 6}
        _ticks(first, clock, 0.3, read)
        consumer.positions[(PARTIALS, 0)] = 10 * step + 8
        _ticks(first, clock, 0.2, read)
    assert consumer.calls == [] and broker.asked >= 9
    broker.stable[(PARTIALS, 0)] = 200  # a backlog: nothing is read any more
    _ticks(first, clock, 1.5, read)
    assert consumer.calls == []
    _ticks(first, clock, 1.0, read)
    assert consumer.calls == ["pause twitch.streams[0],twitch.streams[1]"]


def test_a_pause_ends_after_the_longest_pause_whatever_happens() -> None:
    """Messages keep coming (not idle) and the position never reaches the stable offset: the
    input still resumes after `LONGEST_PAUSE`."""
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    consumer.positions = {(PARTIALS, 0): 10}
    broker.stable = {(PARTIALS, 0): 100}
    _ticks(first, clock, 0.2)
    assert consumer.paused
    _ticks(first, clock, LONGEST_PAUSE - 1, read)
    assert consumer.paused
    _ticks(first, clock, 1.5, read)
    assert not consumer.paused and consumer.calls[-1].startswith("resume")
