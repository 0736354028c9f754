"""Replay a recording into Kafka through the live path's normalisation, de-duplication and chunking.

Each recorded poll becomes the same chunks a live poll of that shard would have produced
(same `poll_id` = "<shard>@<captured_at>", same de-duplication, same chunk keys and parts);
after the last poll one empty `final` chunk per key lets every downstream window close.
As fast as possible by default; `speed` X paces polls at X times their recorded spacing.
Progress (share of the file, polls, events/s) is logged every few seconds.

Memory stays bounded whatever the file's length: the file is read one line (one poll) at a
time, a poll's raw objects are released as they are normalised, and at most two polls are
held at once: the one on its way to the broker (in the producer's bounded queue) and the
next one, cut into chunks meanwhile. Each poll's deliveries are still checked (and failures
re-produced) before the next poll is sent. The cyclic garbage collector is paused while
replaying: a poll's objects hold no cycles, and its passes over millions of live objects
cost more than half the time.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from pulse.events import format_ts
from pulse.settings import Settings

from . import metrics
from .chunk_keys import ChunkKeys
from .emitter import EmitReport, Emitter, Message, Pending, cut, messages
from .recording import Reader
from .sharding import Shard
from .sweep import dedupe

log = logging.getLogger("producers.replay")
PROGRESS_EVERY = 5.0


@dataclass
class ReplayReport:
    polls: int = 0
    events: int = 0
    duplicates: int = 0
    malformed: int = 0
    undelivered: int = 0
    seconds: float = 0.0
    last_captured_at_ms: Optional[int] = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _consume(data: list[Any]) -> Iterator[Any]:
    """The poll's raw objects in order, each released once taken (the list empties as it goes)."""
    data.reverse()
    pop = data.pop
    while data:
        yield pop()


def _prepare(settings: Settings, shard: Shard, captured_at_ms: int, data: list[Any],
             report: ReplayReport, chunk_keys: ChunkKeys) -> list[Message]:
    """A recorded poll -> its messages, exactly as the live poll cut them (none while the key
    count waits for a poll with channels)."""
    polled = dedupe(_consume(data))
    keys = chunk_keys.for_poll(len(polled.streams))
    batch = [] if keys is None else list(messages(cut(settings, shard, polled, captured_at_ms, keys), chunk_keys))
    metrics.DUPLICATES.inc(polled.duplicates)
    metrics.MALFORMED_STREAMS.inc(polled.malformed)
    report.duplicates += polled.duplicates
    report.malformed += polled.malformed
    return batch


def _settle(emitter: Emitter, pending: Optional[Pending], report: ReplayReport) -> None:
    if pending is None:
        return
    emitted: EmitReport = emitter.settle(pending)
    metrics.REPLAYED_POLLS.inc()
    report.polls += 1
    report.events += emitted.produced - emitted.failed
    report.undelivered += emitted.failed
    report.last_captured_at_ms = pending.captured_at_ms


def replay(settings: Settings, path: Path, speed: Optional[float] = None,
           stop: Optional[threading.Event] = None, emitter: Optional[Emitter] = None) -> ReplayReport:
    stop = stop or threading.Event()
    shard = Shard.parse(settings.producer.shard)
    reader = Reader(path)
    own_emitter = emitter is None
    emitter = emitter or Emitter(settings, shard, stop=stop)
    report = ReplayReport()
    began = time.monotonic()
    last_progress = began
    first_ms: Optional[int] = None
    pending: Optional[Pending] = None
    collecting = gc.isenabled()
    gc.disable()  # a poll is ~10^6 acyclic objects: refcounting frees them, cyclic GC passes only cost time
    try:
        for captured_at_ms, data in reader:
            if stop.is_set():
                log.info("replay stopped after %d polls", report.polls + (pending is not None))
                break
            batch = _prepare(settings, shard, captured_at_ms, data, report, emitter.keys)
            _settle(emitter, pending, report)  # the previous poll, sent while this one was cut
            pending = None
            if not batch:
                continue
            if speed:
                first_ms = captured_at_ms if first_ms is None else first_ms
                due = began + (captured_at_ms - first_ms) / 1000 / speed
                if stop.wait(max(0.0, due - time.monotonic())):
                    break
            pending = emitter.send(batch, captured_at_ms)
            del batch
            now = time.monotonic()
            if now - last_progress >= PROGRESS_EVERY:
                last_progress = now
                log.info("replay %s: %.0f%% of the file, %d polls, %d events, %.0f events/s, at %s",
                         path.name, reader.progress * 100, report.polls, report.events,
                         report.events / (now - began), format_ts(captured_at_ms))
        _settle(emitter, pending, report)
        if report.last_captured_at_ms is not None and not stop.is_set():
            emitter.finish(report.last_captured_at_ms)
    finally:
        if collecting:
            gc.enable()
        if own_emitter:
            emitter.close()
            report.events -= emitter.lost_at_close  # settled as sent, never acknowledged
            report.undelivered += emitter.lost_at_close
    report.seconds = time.monotonic() - began
    log.info("replayed %s: %d polls, %d events (%d duplicates dropped, %d malformed, %d undelivered) "
             "in %.1fs, %.0f events/s", path, report.polls, report.events, report.duplicates,
             report.malformed, report.undelivered, report.seconds, report.events_per_second)
    return report
