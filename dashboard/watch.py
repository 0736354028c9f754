"""What the warehouse holds now, checked in the background (issue 20, defects 2 and 4).

One `Watch` per warehouse and server process (shared by every viewer) asks the warehouse every
`interval` seconds, on a connection of its own with the dashboard's short timeout, which
windows are in and complete (`windows.judge`) and how many alerts there are. Pages read its
latest answer, which costs nothing, several times a second if they like:

- a page redraws (in one piece, from one snapshot) only when the answer changed;
- an outage is known within `interval + timeout` seconds, even while the connector is still
  retrying a statement (a check that has not answered within the timeout counts as failed),
  and the last answer is kept, so the page keeps its data and says since when the warehouse
  is silent; recovery needs nothing but the next successful check.

Like the sinks' own warehouse probe (`sinks.probe`), for the same reason.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, NamedTuple, Optional

from . import queries as q
from .windows import Windows, judge

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 1.0


class Fresh(NamedTuple):
    """The warehouse's answer: its windows and alerts. Equal answers mean nothing changed;
    loaders take it as part of their cache key."""

    windows: Windows
    alerts: q.AlertsSeen


@dataclass(frozen=True)
class State:
    fresh: Optional[Fresh] = None  # the last answer, kept through an outage
    checked_at: Optional[float] = None  # wall-clock time of the last answer
    changed_at: Optional[float] = None  # when the answer last changed
    down_since: Optional[float] = None  # first failed check since the last answer
    problem: Optional[str] = None  # why the last check failed, one line
    no_tables: bool = False  # the window tables do not exist yet

    @property
    def up(self) -> bool:
        return self.down_since is None


class Watch:
    """The background check of one warehouse (see the module doc)."""

    def __init__(self, source: q.Source, interval: float = INTERVAL_SECONDS,
                 connect: Callable[[q.Source], Any] = q.connect, clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.interval = interval
        self.timeout = q.timeout_seconds()
        self._connect = connect
        self._clock = clock
        self._conn: Any = None
        self._state = State()
        self._state_lock = threading.Lock()
        self._check_lock = threading.Lock()  # one check at a time (the thread's or a page's)
        self._in_flight: Optional[float] = None  # when the running check started
        self._last_start: Optional[float] = None  # when the last check started
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "Watch":
        self._thread = threading.Thread(target=self._loop, name=f"dashboard-watch-{self.source.schema}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._drop()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._check_lock:
                self._ask_now()

    def state(self) -> State:
        """The latest answer; a check in flight for longer than the timeout counts as failed."""
        with self._state_lock:
            state = self._state
        started = self._in_flight
        if started is not None and state.up and self._clock() - started > self.timeout:
            return replace(state, down_since=started, problem=f"no answer within {self.timeout} s")
        return state

    def check(self, newer_than: Optional[float] = None) -> State:
        """Ask the warehouse now and return the answer, so a page drawn in full shows what the
        warehouse holds at that moment. A check already running is waited for (a second at
        most) instead of starting another; if it began after `newer_than` (the page's start),
        its answer is the one returned. While the warehouse is down a page does not wait: the
        background check keeps trying, and the page says so at once."""
        state = self.state()
        if not state.up or not self._check_lock.acquire(timeout=1.0):
            return state if not state.up else self.state()
        try:
            if newer_than is None or self._last_start is None or self._last_start < newer_than:
                self._ask_now()
        finally:
            self._check_lock.release()
        return self.state()

    def _ask_now(self) -> None:
        """One check, recorded (the caller holds the check lock)."""
        self._in_flight = self._last_start = self._clock()
        try:
            self._record(self._ask())
        except q.NoTables as exc:
            self._drop()
            self._record(None, problem=str(exc), no_tables=True)
        except Exception as exc:  # any failure: a fresh session next time
            self._drop()
            self._record(None, problem=q.one_line(exc))
        finally:
            self._in_flight = None

    def _ask(self) -> Fresh:
        if self._conn is None:
            self._conn = self._connect(self.source)
        try:
            warehouse = self.source.warehouse
            return Fresh(judge(q.window_checks(self._conn, warehouse)), q.alerts_seen(self._conn, warehouse))
        except Exception as exc:
            if q.missing_table(exc):
                raise q.NoTables(q.one_line(exc)) from None
            raise

    def _record(self, fresh: Optional[Fresh], problem: Optional[str] = None, no_tables: bool = False) -> None:
        now = self._clock()
        with self._state_lock:
            old = self._state
            if fresh is not None:
                changed = old.changed_at if fresh == old.fresh and old.changed_at is not None else now
                if not old.up:
                    log.warning("dashboard: the warehouse at %s answers again", self.source.where)
                self._state = State(fresh, now, changed)
            elif no_tables:
                self._state = State(None, now, old.changed_at, None, problem, True)
            else:
                if old.up:
                    log.warning("dashboard: the warehouse at %s does not answer: %s", self.source.where, problem)
                self._state = replace(old, down_since=old.down_since or self._in_flight or now, problem=problem,
                                      no_tables=False)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            q.close(self.source, conn)
