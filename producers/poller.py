"""The poll loop: on every grid instant sweep Helix, de-duplicate, cut into chunks, produce, flush.

`captured_at` is the poll's scheduled instant on the interval grid (a multiple of
POLL_INTERVAL_SECONDS since the epoch, on the shared `pulse.clock`), so all pages and all
shards of one poll carry the same instant. A poll that overruns its interval is reported
(log warning + `poll_overruns_total`) and the next one starts at once, late, with its own
grid instant; if it fell more than a whole interval behind, the missed instants are
skipped loudly (`polls_skipped_total`) rather than polled in a burst.

Stopping (SIGTERM/SIGINT sets `stop`): a sweep in progress is abandoned between pages
and nothing of it is produced (the next start polls the next instant); a poll already
producing finishes its flush first. A finite run (`max_polls`) ends with the final chunks,
like a replay.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Optional

from pydantic import SecretStr

from pulse.clock import Clock, from_settings, grid_ceil
from pulse.events import format_ts
from pulse.settings import ConfigError, Settings

from . import metrics
from .emitter import Emitter, cut
from .helix import AuthError, HelixClient
from .recording import Recorder
from .sharding import Shard, plan
from .sweep import Polled, Query, SweepResult, dedupe, sweep

log = logging.getLogger("producers.poller")


@dataclass
class PollReport:
    captured_at_ms: int
    streams: int
    pages: int
    duplicates: int
    malformed: int
    seconds: float
    complete: bool
    raw: int
    undelivered: int = 0


def credential_pairs(settings: Settings) -> list[tuple[str, SecretStr]]:
    """The Twitch credentials; none is a configuration error, reported before anything starts."""
    pairs = settings.twitch.credential_pairs
    if not pairs:
        raise ConfigError("no Twitch credentials: set TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET "
                          "(or client_id/client_secret, or TWITCH_CREDENTIALS=id:secret,...)")
    return list(pairs)


def make_clients(settings: Settings, clock: Clock, stop: threading.Event, **kwargs) -> list[HelixClient]:
    pairs = credential_pairs(settings)
    reserve = math.ceil(settings.producer.concurrency / len(pairs)) + 1
    return [HelixClient(cid, secret, settings.twitch.api_url, settings.twitch.auth_url, clock,
                        name=str(i), stop=stop, reserve=reserve, **kwargs)
            for i, (cid, secret) in enumerate(pairs)]


def shard_name(settings: Settings) -> str:
    return Shard.parse(settings.producer.shard).name


class Poller:
    def __init__(self, settings: Settings, clock: Optional[Clock] = None, stop: Optional[threading.Event] = None,
                 recorder: Optional[Recorder] = None, produce: bool = True, **client_kwargs) -> None:
        self.settings = settings
        self.shard = Shard.parse(settings.producer.shard)
        self.clock = clock or from_settings(settings)
        self.stop = stop or threading.Event()
        self.interval = float(settings.producer.poll_interval_seconds)
        self.recorder = recorder
        self.clients = make_clients(settings, self.clock, self.stop, **client_kwargs)
        self.emitter: Optional[Emitter] = Emitter(settings, self.shard, stop=self.stop) if produce else None
        self.queries: list[Query] = []
        self.last_poll_at: Optional[float] = None
        self.started_at = self.clock.now()

    # --- start-up -----------------------------------------------------------------------
    def start(self) -> "Poller":
        """Validate every credential, resolve game names, plan this shard's queries."""
        for client in self.clients:
            try:
                info = client.validate()
            except AuthError as exc:
                raise ConfigError(str(exc)) from None
            log.info("credential %s (%s) valid; token expires in %ss", client.name, client.client_id,
                     info.get("expires_in", "?"))
        self.started_at = self.clock.now()
        s = self.settings
        game_ids = list(s.twitch.game_ids)
        if s.twitch.game_names:
            found = self.clients[0].games(names=s.twitch.game_names)
            by_name = {g["name"].casefold(): g["id"] for g in found}
            missing = [n for n in s.twitch.game_names if n.casefold() not in by_name]
            if missing:
                log.warning("TWITCH_GAME_NAMES: no game named %s", ", ".join(repr(m) for m in missing))
            if len(missing) == len(s.twitch.game_names) and not game_ids:
                raise ConfigError("TWITCH_GAME_NAMES: none of the names is a Twitch game: "
                                  + ", ".join(repr(m) for m in missing))
            game_ids += [by_name[n.casefold()] for n in s.twitch.game_names if n.casefold() in by_name]
            log.info("games resolved: %s", ", ".join(f"{n} -> {by_name.get(n.casefold(), '?')}" for n in s.twitch.game_names))
        self.queries = plan(self.shard, game_ids, s.twitch.languages, s.twitch.user_logins,
                            s.producer.split, len(self.clients), s.producer.concurrency)
        if not self.queries:
            log.warning("%s has nothing to sweep (its share of the filters is empty); it still sends empty chunks",
                        self.shard.name)
        if self.interval < 60 and self.clock.speed == 1 and "api.twitch.tv" in s.twitch.api_url:
            log.warning("POLL_INTERVAL_SECONDS=%d: Twitch caches upstream; do not poll more than once a minute",
                        self.interval)
        log.info("%s: %d queries (%s), %d credentials, every %ss on %r", self.shard.name, len(self.queries),
                 "; ".join(q.describe() for q in self.queries[:6]) + ("; ..." if len(self.queries) > 6 else ""),
                 len(self.clients), self.settings.producer.poll_interval_seconds, self.clock)
        return self

    # --- one poll -----------------------------------------------------------------------
    def sweep(self) -> SweepResult:
        return sweep(self.clients, self.queries, self.settings.producer.concurrency, self.stop)

    def poll(self, captured_at_ms: int) -> Optional[PollReport]:
        """Sweep, normalise, cut, produce, flush. None if stopped mid-sweep (nothing produced)."""
        began = time.monotonic()
        result = self.sweep()
        if self.stop.is_set() and not result.complete:
            log.info("poll %s abandoned: stopping", format_ts(captured_at_ms))
            return None
        polled = dedupe(result.streams)
        if self.recorder is not None:
            self.recorder.write(captured_at_ms, result.streams)
        undelivered = self._emit(polled, captured_at_ms, result.complete)
        seconds = time.monotonic() - began
        report = PollReport(captured_at_ms, len(polled.streams), result.pages, polled.duplicates,
                            polled.malformed, seconds, result.complete, len(result.streams), undelivered)
        self._account(report, result)
        return report

    def _emit(self, polled: Polled, captured_at_ms: int, complete: bool) -> int:
        if self.emitter is None:
            return 0
        # an incomplete sweep undercounts the channels: it does not choose the key count
        keys = self.emitter.keys.for_poll(len(polled.streams) if complete else 0)
        if keys is None:
            return 0
        return self.emitter.emit(cut(self.settings, self.shard, polled, captured_at_ms, keys), captured_at_ms).failed

    def _account(self, r: PollReport, result: SweepResult) -> None:
        metrics.POLLS.labels("complete" if r.complete else "incomplete").inc()
        metrics.DUPLICATES.inc(r.duplicates)
        metrics.MALFORMED_STREAMS.inc(r.malformed)
        metrics.POLL_DURATION.observe(r.seconds)
        self.last_poll_at = r.captured_at_ms / 1000
        remaining = [c.last_remaining for c in self.clients if c.last_remaining is not None]
        line = (f"poll {format_ts(r.captured_at_ms)} {self.shard.name}: {r.streams} streams, {r.pages} pages, "
                f"{r.duplicates} duplicates dropped, {r.malformed} malformed, {r.seconds:.2f}s, "
                f"rate-limit remaining {min(remaining) if remaining else '?'}")
        if result.malformed_pages:
            line += f", {result.malformed_pages} malformed pages"
        if result.loop_backs:
            line += f", {result.loop_backs} loop-backs stopped"
        if r.complete and not r.undelivered:
            log.info(line)
        else:
            problems = result.errors + ([f"{r.undelivered} records undelivered"] if r.undelivered else [])
            log.warning(line + " INCOMPLETE: " + "; ".join(problems))

    # --- the loop -----------------------------------------------------------------------
    def run(self, max_polls: Optional[int] = None) -> int:
        """Poll on the grid until stopped (or `max_polls` polls); returns the number of polls."""
        interval = self.interval
        next_t = grid_ceil(self.clock.now(), interval)
        polls = 0
        while not self.stop.is_set():
            if not self.clock.sleep_until(next_t, self.stop):
                break
            late = self.clock.now() - next_t
            if self.poll(int(round(next_t * 1000))) is None:
                break
            polls += 1
            if max_polls is not None and polls >= max_polls:
                # a finite run ends like a replay: the final chunks let every window close
                if self.emitter is not None:
                    self.emitter.finish(int(round(next_t * 1000)))
                break
            next_t += interval
            behind = self.clock.now() - next_t
            if behind > 0:
                metrics.POLL_OVERRUNS.inc()
                skipped = int(behind // interval)
                if skipped:
                    metrics.POLLS_SKIPPED.inc(skipped)
                    next_t += skipped * interval
                log.warning("poll overran its %ss interval by %.1fs (started %.1fs late)%s", interval,
                            behind, late,
                            f"; skipping {skipped} grid instants, next {format_ts(int(next_t * 1000))}"
                            if skipped else "; next poll starts now")
        return polls

    def health(self) -> tuple[bool, str]:
        if self.emitter is not None:
            ok, reason = self.emitter.health()
            if not ok:
                return ok, reason
        now = self.clock.now()
        reference = self.last_poll_at if self.last_poll_at is not None else self.started_at
        if now - reference > 3 * self.interval + 60:
            return False, f"no poll finished for {now - reference:.0f}s (simulated)"
        return True, "ok"

    def close(self) -> None:
        if self.emitter is not None:
            self.emitter.close()
        if self.recorder is not None:
            self.recorder.close()
        for client in self.clients:
            client.close()
