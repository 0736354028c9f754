"""Replay a recording into Kafka through the live path's normalisation and de-duplication.

Each recorded poll becomes the same events a live poll of that shard would have produced
(same `poll_id` = "<shard>@<captured_at>", same de-duplication), then its ticks; after the
last poll one more tick per partition with `final=True` lets every downstream window close.
As fast as possible by default; `speed` X paces polls at X times their recorded spacing.
Progress (share of the file, polls, events/s) is logged every few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pulse.events import format_ts
from pulse.settings import Settings

from . import metrics
from .emitter import Emitter
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


def replay(settings: Settings, path: Path, speed: Optional[float] = None,
           stop: Optional[threading.Event] = None, emitter: Optional[Emitter] = None) -> ReplayReport:
    stop = stop or threading.Event()
    shard = Shard.parse(settings.producer_shard)
    reader = Reader(path)
    own_emitter = emitter is None
    emitter = emitter or Emitter(settings, shard)
    report = ReplayReport()
    began = time.monotonic()
    last_progress = began
    first_ms: Optional[int] = None
    try:
        for captured_at_ms, data in reader:
            if stop.is_set():
                log.info("replay stopped after %d polls", report.polls)
                break
            if speed:
                first_ms = captured_at_ms if first_ms is None else first_ms
                due = began + (captured_at_ms - first_ms) / 1000 / speed
                if stop.wait(max(0.0, due - time.monotonic())):
                    break
            events = dedupe(data, captured_at_ms, f"{shard.name}@{format_ts(captured_at_ms)}")
            emitted = emitter.emit(events.events, captured_at_ms)
            emitter.ticks(captured_at_ms)
            metrics.REPLAYED_POLLS.inc()
            metrics.DUPLICATES.inc(events.duplicates)
            metrics.MALFORMED_STREAMS.inc(events.malformed)
            report.polls += 1
            report.events += emitted.produced - emitted.failed
            report.undelivered += emitted.failed
            report.duplicates += events.duplicates
            report.malformed += events.malformed
            report.last_captured_at_ms = captured_at_ms
            now = time.monotonic()
            if now - last_progress >= PROGRESS_EVERY:
                last_progress = now
                log.info("replay %s: %.0f%% of the file, %d polls, %d events, %.0f events/s, at %s",
                         path.name, reader.progress * 100, report.polls, report.events,
                         report.events / (now - began), format_ts(captured_at_ms))
        if report.last_captured_at_ms is not None and not stop.is_set():
            emitter.ticks(report.last_captured_at_ms, final=True)
    finally:
        if own_emitter:
            emitter.close()
    report.seconds = time.monotonic() - began
    log.info("replayed %s: %d polls, %d events (%d duplicates dropped, %d malformed, %d undelivered) "
             "in %.1fs, %.0f events/s", path, report.polls, report.events, report.duplicates,
             report.malformed, report.undelivered, report.seconds, report.events_per_second)
    return report
