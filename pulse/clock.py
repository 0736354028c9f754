"""The accelerated clock shared by the Helix simulator and the producer.

Simulated time is a straight line through an anchor:

    sim(real) = anchor + (real - anchor) * speed          (seconds since the epoch)

so at the anchor instant simulated and real time agree, and afterwards simulated time runs
`speed` times faster (`CLOCK_SPEED=60`: one simulated minute per real second, a 10-minute
window in 10 s, and with `POLL_INTERVAL_SECONDS=60` one poll per real second).

How two processes agree on "now":
- Both read `CLOCK_SPEED` and `CLOCK_ANCHOR` (epoch seconds). With the same two numbers
  they compute the same simulated time independently; nothing else is exchanged.
- When `CLOCK_ANCHOR` is unset (0) the simulator anchors at its own start and announces
  the line in a `Pulse-Clock: speed=<s>; anchor=<a>` header on every response. A producer
  whose own anchor is unset adopts that line at its first token request (`Clock.adopt`),
  so `twitch-pulse simulate --speed 60` plus a producer with `CLOCK_SPEED=60` just work.
- With speed 1 (production, real Twitch) the anchor does not matter: sim == real.

Rate-limit buckets, token lifetimes and `Ratelimit-Reset` are all in simulated time, so a
sped-up demo is not throttled by a real-time bucket, and the client's waits (which convert
back to real seconds) stay correct.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Optional

CLOCK_HEADER = "Pulse-Clock"
_HEADER_RE = re.compile(r"speed=([0-9.eE+-]+);\s*anchor=([0-9.eE+-]+)")


class Clock:
    """Simulated epoch time; `sleep_until` waits the matching real time, interruptibly."""

    def __init__(self, speed: float = 1.0, anchor: Optional[float] = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be > 0")
        self.speed = float(speed)
        self.anchor = float(anchor) if anchor else time.time()
        self.explicit_anchor = bool(anchor)
        self._lock = threading.Lock()

    def now(self) -> float:
        real = time.time()
        return self.anchor + (real - self.anchor) * self.speed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def real_seconds(self, sim_seconds: float) -> float:
        """How long in real time a simulated duration lasts."""
        return max(0.0, sim_seconds) / self.speed

    def sleep_until(self, sim_t: float, stop: Optional[threading.Event] = None) -> bool:
        """Wait until simulated time `sim_t`; returns False if `stop` was set first."""
        while True:
            remaining = self.real_seconds(sim_t - self.now())
            if remaining <= 0:
                return True
            if stop is not None:
                if stop.wait(min(remaining, 1.0)):
                    return False
            else:
                time.sleep(min(remaining, 1.0))

    def sleep(self, sim_seconds: float, stop: Optional[threading.Event] = None) -> bool:
        return self.sleep_until(self.now() + sim_seconds, stop)

    # --- agreement with the simulator ----------------------------------------------------
    def header(self) -> str:
        return f"speed={self.speed!r}; anchor={self.anchor!r}"

    def adopt(self, header: Optional[str]) -> bool:
        """Take the simulator's line when this clock has no explicit anchor and the speeds match."""
        if not header or self.explicit_anchor:
            return False
        match = _HEADER_RE.search(header)
        if not match:
            return False
        speed, anchor = float(match.group(1)), float(match.group(2))
        if abs(speed - self.speed) > 1e-9 or speed == 1.0:
            return False
        with self._lock:
            self.anchor, self.explicit_anchor = anchor, True
        return True

    def __repr__(self) -> str:
        return f"Clock(speed={self.speed}, anchor={self.anchor})"


class ManualClock(Clock):
    """A clock that only moves when told (tests); `sleep_until` advances it instantly."""

    def __init__(self, start: float) -> None:
        super().__init__(1.0, start)
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def sleep_until(self, sim_t: float, stop: Optional[threading.Event] = None) -> bool:
        if stop is not None and stop.is_set():
            return False
        if sim_t > self._now:
            self._now = sim_t
        return True


def from_settings(settings) -> Clock:
    return Clock(settings.producer.clock_speed, settings.producer.clock_anchor or None)


def grid_floor(t: float, interval: float) -> float:
    """The latest instant on the interval grid (multiples of `interval` since the epoch) <= t."""
    return (t // interval) * interval


def grid_ceil(t: float, interval: float) -> float:
    g = grid_floor(t, interval)
    return g if g == t else g + interval
