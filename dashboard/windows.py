"""Which windows are complete in the warehouse (issue 20, defect 5). Pure, so it is tested
without a warehouse.

The processor emits a window's rows in one transaction, but the sink writes them batch by batch
and partition by partition, so the newest window (and, briefly, the one before it) can be in
the warehouse in part: "337 of about 700 rows". There is no marker row; completeness shows in
the rows themselves, since DESIGN §4 makes two sums and two rankings agree:

- every sample's Δ counts once in its game's and once in its channel's row, so a window's
  GAME_WINDOWS and CHANNEL_WINDOWS add up to the same air hours and the same watch hours;
- each table's ranks are competition ranks (1, 2, 2, 4 ...) over the whole window, so with all
  rows present the last rank plus the rows tied at it, less one, is the number of rows.

A missing row breaks one of the four almost surely (rows are spread over partitions at random;
both tables would have to lose rows of exactly equal air and watch hours at their very ends).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import NamedTuple, Optional, Sequence

# How many of the newest windows are checked; a window older than these is taken as complete.
CHECKED = 4


class TableWindow(NamedTuple):
    """One window's rows in one table, added up."""

    rows: int
    last_rank: int
    at_last_rank: int  # rows tied at the last rank
    watch_hours: float
    air_hours: float

    def ranks_whole(self) -> bool:
        return self.rows == self.last_rank + self.at_last_rank - 1


class WindowCheck(NamedTuple):
    """One of the newest windows, as GAME_WINDOWS and CHANNEL_WINDOWS hold it now."""

    start: datetime
    end: datetime
    games: Optional[TableWindow]
    channels: Optional[TableWindow]

    @property
    def complete(self) -> bool:
        g, c = self.games, self.channels
        if g is None or c is None:
            return False
        return (g.ranks_whole() and c.ranks_whole() and _same(g.air_hours, c.air_hours)
                and _same(g.watch_hours, c.watch_hours))

    def progress(self) -> str:
        """What is in so far, for the page: `337 channel rows and 12 game rows so far`."""
        parts = [f"{t.rows:,} {name} row{'s' if t.rows != 1 else ''}"
                 for name, t in (("channel", self.channels), ("game", self.games)) if t is not None]
        return (" and ".join(parts) or "no rows") + " so far"


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


class Windows(NamedTuple):
    """The windows a page shows: the latest complete one, the one before it (rank changes),
    and the newer ones still being written (left out of every figure and chart)."""

    latest: Optional[datetime]
    latest_end: Optional[datetime]
    previous: Optional[datetime]
    loading: tuple[WindowCheck, ...]  # newer than `latest`, not complete yet, oldest first
    unverified: bool  # no checked window adds up: `latest` is the second newest, unchecked

    @property
    def newest(self) -> Optional[datetime]:
        return self.loading[-1].start if self.loading else self.latest


NO_WINDOWS = Windows(None, None, None, (), False)


def judge(checks: Sequence[WindowCheck]) -> Windows:
    """The latest complete window among `checks` (the newest CHECKED windows, any order).

    If none adds up, the tables were not written by the processor in full (hand-made data, a
    schema of another version): the second newest is shown, as before these checks, and the
    page says it could not tell."""
    ordered = sorted(checks, key=lambda c: c.start)
    if not ordered:
        return NO_WINDOWS
    complete = [i for i, c in enumerate(ordered) if c.complete]
    unverified = not complete
    pick = complete[-1] if complete else max(0, len(ordered) - 2)
    latest = ordered[pick]
    previous = ordered[pick - 1].start if pick > 0 else None
    return Windows(latest.start, latest.end, previous, tuple(ordered[pick + 1:]), unverified)
