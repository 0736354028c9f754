"""Read the processor's internal topics first while its input has a backlog.

One consumer reads the input (twitch.streams) and the internal topics that stage 2 (the
windows' partials) and stage 3 (the per-poll game totals) read. While the input has a
backlog (a replay, a catch-up after an outage) librdkafka keeps fetching the backlogged input
partitions and not the sparse internal ones (confluentinc/librdkafka#1854, shown alone by
`bench.fetch_fairness`), so a catch-up emitted its window rows only once it was over.

`InternalFirst` runs as one of the application's periodic tasks. Every `interval` it asks the
broker for the last stable offset (read_committed) of the internal partitions this member
holds, through an admin client of its own, and reads the answer at a later tick: the main
thread never waits for it. (The consumer's own `get_watermark_offsets` shares the consumer's
connection, where the broker answers it only after the fetch in flight, up to
`fetch.wait.max.ms`: about 0.1 s a partition, 9% of the main thread in a backlog.) Once a
committed message has waited unread past the consumer's position for `patience` seconds, the
input partitions are paused: librdkafka drops their prefetched messages and fetches only the
internal partitions; on resume it fetches the input again from the next message the
application has not read, so nothing is skipped or read twice. The input resumes as soon as
every internal partition is read up to the offsets committed at the pause. Live, the internal
messages are read within milliseconds and nothing is paused; in a backlog the input pauses
once per `patience`, briefly.

A transaction's commit marker takes an offset that is never delivered, and an aborted
transaction (after an outage) takes several: a partition whose position stays short of the
offset although the consumer, paused, found nothing more to read is taken as read up to that
offset, so it cannot hold the input paused (`drained`).
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from quixstreams import Application

from . import metrics

Partition = tuple[str, int]
LONGEST_PAUSE = 30.0  # seconds: reading what waited takes far less; past it, the input resumes anyway
ANSWER_TIMEOUT = 5.0  # seconds the broker has to answer a look


@dataclass
class _Pause:
    """One pause of the input: what it waits to be read, since when."""

    inputs: set[Partition]
    targets: dict[Partition, int]  # internal partition -> the offset it is to be read up to
    since: float
    read: int  # messages processed when last looked at


class InternalFirst:
    """Pauses the input while the internal topics have committed messages waiting (see above)."""

    def __init__(self, admin: AdminClient, input_topic: str, internal_topics: frozenset[str],
                 messages: Callable[[], int], patience: float = 5.0, interval: Optional[float] = None,
                 settle: float = 0.3, clock: Callable[[], float] = time.monotonic) -> None:
        self._admin = admin
        self._messages = messages  # messages processed so far: none since the last tick means an idle poll
        self._input = input_topic
        self._internal = internal_topics
        # how long a committed internal message may wait unread before the input is paused for it:
        # each pause drops the input's prefetched messages, read again after it (CPU and broker
        # work), so in a backlog it happens once per `patience` and reads everything then waiting
        self._patience = patience
        self._seen: deque[tuple[float, dict[Partition, int]]] = deque()  # (when, what was waiting then)
        self._interval = interval or min(1.0, patience / 2)  # each look: one request to the broker
        self._settle = settle  # a pause shorter than this may not have had its first fetch answered
        self._clock = clock
        self._consumer: Any = None
        self._recovering: Callable[[], bool] = lambda: False
        self._next_look = 0.0
        self._asked: Optional[dict[TopicPartition, Future[Any]]] = None  # the look whose answer is awaited
        self._pause: Optional[_Pause] = None
        self._left_paused: set[Partition] = set()  # revoked while paused: librdkafka keeps them paused
        self._drained: dict[Partition, int] = {}  # offsets found unreadable (markers, aborted records)

    def attach(self, app: Application) -> None:
        """Runs `tick` after each consumer poll (the hook `IdleCommit` uses). Quix Streams 3.28
        has no public accessor for the consumer, its recovery state or the periodic tasks."""
        self._consumer = app._consumer
        state_manager = app._state_manager
        self._recovering = lambda: state_manager.recovery_required
        app._dataframe_registry.register_periodic_task(self.tick)

    def holding(self) -> bool:
        """True while the input is paused for the internal topics."""
        return self._pause is not None

    def tick(self) -> None:
        if self._recovering():
            return  # Quix pauses and resumes the partitions it recovers
        now = self._clock()
        if self._pause is not None:
            self._resume_when_read(self._pause, now)
        elif self._asked is not None:
            if all(answer.done() for answer in self._asked.values()):
                offsets = self._stable_offsets(self._asked)
                self._asked = None
                if offsets is None:  # a broker that does not answer is not asked again for a while
                    self._next_look = now + 10 * self._interval
                elif offsets:
                    self._pause_if_waiting(offsets, now)
        elif now >= self._next_look:
            self._asked = self._ask()
            self._next_look = now + self._interval

    def _ask(self) -> Optional[dict[TopicPartition, Future[Any]]]:
        """Ask for the last stable offset of each internal partition held (one request, answered
        while the application goes on)."""
        assignment = self._consumer.assignment()
        if self._left_paused:
            self._resume({(tp.topic, tp.partition) for tp in assignment})
        internal = {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest()
                    for tp in assignment if tp.topic in self._internal}
        if not internal:
            return None
        return self._admin.list_offsets(internal, isolation_level=IsolationLevel.READ_COMMITTED,
                                        request_timeout=ANSWER_TIMEOUT)

    def _stable_offsets(self, asked: dict[TopicPartition, Future[Any]]) -> Optional[dict[Partition, int]]:
        """The answers for the partitions still held (a rebalance may have come between the
        question and its answer); None if the broker did not answer (away: nothing to tell now)."""
        held = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        try:
            answers = {(tp.topic, tp.partition): answer.result().offset for tp, answer in asked.items()}
        except KafkaException:
            return None
        return {tp: offset for tp, offset in answers.items() if tp in held}

    def _positions(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        return {(tp.topic, tp.partition): tp.offset
                for tp in self._consumer.position([TopicPartition(t, p) for t, p in partitions])}

    def _pause_if_waiting(self, offsets: dict[Partition, int], now: float) -> None:
        """Pause once a message committed `patience` seconds ago is still unread; then read
        everything committed up to now."""
        positions = self._positions(offsets)
        waiting = {tp: lso for tp, lso in offsets.items() if self._waits(tp, lso, positions)}
        self._seen.append((now, waiting))
        while self._seen and not any(self._waits(tp, lso, positions) for tp, lso in self._seen[0][1].items()):
            self._seen.popleft()  # read since (or nothing waited then)
        if not self._seen or now - self._seen[0][0] < self._patience:
            return
        self._seen.clear()
        inputs = [tp for tp in self._consumer.assignment() if tp.topic == self._input]
        if not inputs:
            return
        self._consumer.pause(inputs)
        self._pause = _Pause({(tp.topic, tp.partition) for tp in inputs}, waiting, now, self._messages())
        metrics.INPUT_PAUSES.inc()

    def _waits(self, tp: Partition, stable: int, positions: dict[Partition, int]) -> bool:
        """Committed messages of `tp` below `stable` are unread: past the position, the commit
        marker that follows the last message read, and any offsets found unreadable."""
        return stable > max(positions.get(tp, -1) + 1, self._drained.get(tp, 0))

    def _resume_when_read(self, pause: _Pause, now: float) -> None:
        """Resume once every waiting partition is read up to its offset, or once the consumer,
        paused long enough for a fetch, found nothing more (the rest is markers and aborts);
        and after `LONGEST_PAUSE` whatever happened."""
        positions = self._positions(pause.targets)
        unread = {tp: lso for tp, lso in pause.targets.items() if self._waits(tp, lso, positions)}
        if unread:
            read = self._messages()
            idle, pause.read = read == pause.read, read
            if now - pause.since < LONGEST_PAUSE and (now - pause.since < self._settle or not idle):
                return
            self._drained.update(unread)
        self._pause = None
        self._left_paused |= pause.inputs
        self._resume({(tp.topic, tp.partition) for tp in self._consumer.assignment()})

    def _resume(self, assigned: set[Partition]) -> None:
        back = self._left_paused & assigned
        if back:
            self._consumer.resume([TopicPartition(t, p) for t, p in back])
            self._left_paused -= back

