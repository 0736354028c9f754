"""Notice a worker whose main loop stopped turning, and end it so its supervisor restarts it.

A Quix application's main thread polls its consumer every second. librdkafka calls that can
block without a timeout (a synchronous offset commit is one: confluent-kafka-python issue
1801) would leave a sink alive, healthy-looking and silent: no Kafka error is logged, SIGTERM
is not honoured, nothing is written, and the records wait forever. The sinks feed `beat()` from
their consumer's statistics callback, which librdkafka serves only from the main thread's
`poll()`: every 5 s while the loop turns, outage or not.

`/healthz` reports a stall after a quarter of `stall_seconds`; after `stall_seconds` the
watchdog writes every thread's stack to the log and exits the process with `EXIT_STALLED`.
Nothing is lost: the sinks commit Kafka offsets only after the warehouse has the rows, and
their writes are idempotent, so the restarted worker resumes where the warehouse stands.
While `run_resilient` waits out a broker outage there is no loop to watch (`idle()`).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .cli import EXIT_RESTART

log = logging.getLogger(__name__)

EXIT_STALLED = EXIT_RESTART


class Watchdog:
    def __init__(self, name: str, stall_seconds: float, exit: Callable[[int], None] = os._exit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.stall_seconds = stall_seconds
        self._exit = exit
        self._clock = clock
        self._last = clock()
        self._idle = 0
        self._stop = threading.Event()

    def beat(self) -> None:
        """The main loop turned (called from a callback its `poll()` serves)."""
        self._last = self._clock()

    @contextmanager
    def idle(self) -> Iterator[None]:
        """No main loop to watch meanwhile (waiting for the broker, building the application)."""
        self._idle += 1
        try:
            yield
        finally:
            self._idle -= 1
            self.beat()

    def stalled_for(self) -> float:
        return 0.0 if self._idle else self._clock() - self._last

    def __call__(self) -> tuple[bool, str]:
        """A `/healthz` check: unhealthy once the loop has not turned for a quarter of the limit."""
        stalled = self.stalled_for()
        if stalled > self.stall_seconds / 4:
            return False, f"main loop stalled for {stalled:.0f}s (restarting at {self.stall_seconds:.0f}s)"
        return True, "ok"

    def check(self) -> bool:
        """End the process if the loop has been stalled for `stall_seconds`; False while fine."""
        stalled = self.stalled_for()
        if stalled < self.stall_seconds:
            return False
        log.error("%s: main loop stalled for %.0fs; every thread's stack follows, then the worker "
                  "exits (%d) for its supervisor to restart it", self.name, stalled, EXIT_STALLED)
        for handler in logging.getLogger().handlers:
            handler.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        self._exit(EXIT_STALLED)
        return True

    def start(self) -> "Watchdog":
        threading.Thread(target=self._loop, name="watchdog", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(min(5.0, self.stall_seconds / 10)):
            if self.check():
                return
