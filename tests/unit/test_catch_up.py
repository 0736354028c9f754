"""`InternalFirst`: the input is paused exactly while committed partials or game totals wait
unread, and always resumed: once they are read, or once a paused consumer finds nothing more
(commit markers, aborted records), and also for a partition revoked while paused."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any, Optional

from confluent_kafka import IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from processors.catch_up import LONGEST_PAUSE, InternalFirst

STREAMS, PARTIALS, GAME_POLLS = "twitch.streams", "twitch.processor.partials", "twitch.processor.game_polls"


class _Consumer:
    """The consumer calls `InternalFirst` makes, recorded; positions set by the test."""

    def __init__(self, assigned: list[tuple[str, int]]) -> None:
        self.assigned = assigned
        self.positions: dict[tuple[str, int], int] = {}
        self.paused: set[tuple[str, int]] = set()
        self.calls: list[str] = []

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.assigned]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}
        self.calls.append("pause " + ",".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}
        self.calls.append("resume " + ",".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)))


class _Broker:
    """The admin client's `list_offsets`: answered at once unless `held` (then by the test)."""

    def __init__(self) -> None:
        self.stable: dict[tuple[str, int], int] = {}  # last stable offsets the broker answers
        self.asked = 0
        self.held: list[tuple[Future[Any], int]] = []
        self.hold = False
        self.fail = False

    def list_offsets(self, partitions: dict[TopicPartition, OffsetSpec], isolation_level: IsolationLevel,
                     request_timeout: float) -> dict[TopicPartition, Future[Any]]:
        assert isolation_level == IsolationLevel.READ_COMMITTED, "the high watermark counts open transactions"
        self.asked += 1
        answers: dict[TopicPartition, Future[Any]] = {}
        for tp in partitions:
            answer: Future[Any] = Future()
            offset = self.stable.get((tp.topic, tp.partition), 0)
            if self.hold:
                self.held.append((answer, offset))
            elif self.fail:
                answer.set_exception(KafkaException(KafkaError(KafkaError._TRANSPORT)))
            else:
                answer.set_result(SimpleNamespace(offset=offset))
            answers[tp] = answer
        return answers

    def answer(self) -> None:
        for answer, offset in self.held:
            answer.set_result(SimpleNamespace(offset=offset))
        self.held = []


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0


def _wired(assigned: list[tuple[str, int]], recovering: bool = False, patience: float = 0.0
           ) -> tuple[InternalFirst, _Consumer, _Broker, list[int], _Clock]:
    consumer, broker, read, clock = _Consumer(assigned), _Broker(), [0], _Clock()
    first = InternalFirst(broker, STREAMS, frozenset({PARTIALS, GAME_POLLS}), lambda: read[0], patience=patience,
                          interval=0.5, settle=0.3, clock=lambda: clock.now)
    first._consumer = consumer
    first._recovering = lambda: recovering
    return first, consumer, broker, read, clock


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


def test_a_look_does_not_wait_for_the_broker_and_one_unanswered_is_not_asked_again() -> None:
    """The application goes on while the broker answers (the consumer's own query waited behind
    its fetch); a broker that fails to answer is asked again only after ten intervals."""
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    consumer.positions = {(PARTIALS, 0): 10}
    broker.stable = {(PARTIALS, 0): 20}
    broker.hold = True
    _ticks(first, clock, 2.0, read)
    assert broker.asked == 1 and consumer.calls == []
    broker.answer()
    _ticks(first, clock, 0.1, read)
    assert consumer.calls == ["pause twitch.streams[0],twitch.streams[1]"]
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    broker.fail = True
    _ticks(first, clock, 4.0)
    assert broker.asked == 1 and consumer.calls == []
    _ticks(first, clock, 1.5)
    assert broker.asked == 2


def test_an_answer_for_a_partition_revoked_meanwhile_is_not_waited_for() -> None:
    """A rebalance between a look and its answer: the revoked partition's offset (its position
    here no longer known) must not pause the input."""
    first, consumer, broker, read, clock = _wired(ASSIGNED)
    consumer.positions = {(GAME_POLLS, 0): 5}
    broker.stable = {(PARTIALS, 0): 20, (GAME_POLLS, 0): 6}
    broker.hold = True
    _ticks(first, clock, 0.1)
    consumer.assigned = [(STREAMS, 0), (STREAMS, 1), (GAME_POLLS, 0)]  # partials[0] went to another replica
    broker.answer()
    broker.hold = False
    _ticks(first, clock, 3.0, read)
    assert consumer.calls == [] and broker.asked >= 4
