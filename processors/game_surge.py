"""Stage 3, one key: `game_surge` alerts from per-poll game totals, as soon as a poll is complete.

Each chunk key reports every poll its watermark passes, with its games' concurrent viewers
at that poll (`GamePoll`). A poll is complete when all `keys` keys have reported it; complete
polls are evaluated strictly in time order (a key reports its polls in order, so when poll t
is complete every earlier poll reported anywhere is complete too, unless some key never
reports it: such a poll is dropped with a warning rather than stalling the alerts). So the
same input always gives the same alerts, at most one poll after the samples arrive, instead
of a window later.

Every key reports every poll, so this stage reads as many messages as stage 1 (256 a poll by
default); each one costs a few small state reads and writes, whatever the backlog:
`through` (the newest poll evaluated), `count/<t>` (how many keys reported poll t),
`report/<t>/<key>` (each report as it came; its presence makes a repeated report count once),
and `polls` (the pending polls, ascending), read and written only when a poll is new or
complete. `game/<game_id>` holds 15 minutes of totals and the cooldown (it expires once nothing
in it can matter). Until issue 25 one `progress` record held every pending poll's keys and
was read and rewritten with every report: in a backlog hundreds of polls were pending, and
that record was half of the processor's time at 1,000 channels a poll. A `progress` record
(and the names before state format 2: `m`, `b:<t>:<key>`, `g:<game_id>`) is read once and
rewritten under today's names.
"""

from __future__ import annotations

import bisect
import logging
from datetime import timedelta
from typing import Any, Iterable, Optional

from pulse.events import format_ts

from . import metrics
from .aggregations import PollTotal
from .alerts import GameState, game_alerts
from .config import ProcessorConfig
from .records import decode_game_poll
from .routing import ALERTS, Output

log = logging.getLogger(__name__)


# Only `game/<id>` carries a TTL. Giving every key here one (so that Quix's switch of the store
# to TTL mode came with its first write, before any key to re-stamp) cost 5-10% more CPU at
# 1,000 channels a poll than the one-off re-stamp it saved: Quix stamps every write of a store
# in TTL mode (issue 25).
PROGRESS_KEY = "progress"  # before issue 25: {"through": t, "pending": {t: [keys]}}
THROUGH_KEY = "through"
POLLS_KEY = "polls"


def report_key(t: int, key: int) -> str:
    return f"report/{t}/{key}"


def count_key(t: int) -> str:
    return f"count/{t}"


def game_key(game_id: str) -> str:
    return f"game/{game_id}"


def _game(state: Any, game_id: str) -> GameState:
    raw = state.get(game_key(game_id))
    if raw is None:
        raw = state.get(f"g:{game_id}")  # written before state format 2
        if raw is not None:
            state.delete(f"g:{game_id}")
    return GameState(raw["history"], raw["cooldowns"]) if raw else GameState()


def _migrate(state: Any) -> None:
    """Progress written in one record (`progress`, or `m` before state format 2) -> today's keys."""
    meta = state.get(PROGRESS_KEY)
    if meta is not None:
        state.delete(PROGRESS_KEY)
    else:
        meta = state.get("m")
        if meta is None:
            return
        state.delete("m")
        for t, keys in meta["pending"].items():
            for key in keys:
                state.set_bytes(report_key(int(t), key), state.get_bytes(f"b:{t}:{key}"))
                state.delete(f"b:{t}:{key}")
    if meta["through"] is not None:
        state.set(THROUGH_KEY, meta["through"])
    for t, keys in meta["pending"].items():
        state.set(count_key(int(t)), len(keys))
    state.set(POLLS_KEY, sorted(int(t) for t in meta["pending"]))


def on_game_poll(cfg: ProcessorConfig, value: bytes, state: Any) -> list[Output]:
    report = decode_game_poll(value)
    through: Optional[int] = state.get(THROUGH_KEY)
    if through is None:
        _migrate(state)
        through = state.get(THROUGH_KEY)
    if through is not None and report.t <= through:
        log.warning("game totals of poll %s from key %d after that poll was evaluated; dropped",
                    format_ts(report.t), report.key)
        return []
    name = report_key(report.t, report.key)
    if state.get_bytes(name) is not None:
        return []  # a report delivered twice counts once
    seen = state.get(count_key(report.t), 0) + 1
    if seen == 1:  # a new poll
        polls: list[int] = state.get(POLLS_KEY, [])
        bisect.insort(polls, report.t)
        state.set(POLLS_KEY, polls)
    state.set_bytes(name, value)
    state.set(count_key(report.t), seen)
    if seen < report.keys:
        return []
    out: list[Output] = []
    polls = state.get(POLLS_KEY, [])
    while polls and polls[0] <= report.t:
        t = polls.pop(0)
        reported = state.get(count_key(t), 0)
        state.delete(count_key(t))
        if reported < report.keys:
            log.warning("game totals of poll %s came from %d of %d keys only; skipped", format_ts(t),
                        reported, report.keys)
            for key in range(report.keys):
                state.delete(report_key(t, key))
            continue
        out.extend(evaluate(cfg, state, t, range(report.keys)))
        state.set(THROUGH_KEY, t)
    state.set(POLLS_KEY, polls)
    return out


def evaluate(cfg: ProcessorConfig, state: Any, t: int, keys: Iterable[int]) -> list[Output]:
    totals: dict[str, PollTotal] = {}  # game_id -> concurrent viewers at t, and the name
    for key in keys:
        report = decode_game_poll(state.get_bytes(report_key(t, key)))
        state.delete(report_key(t, key))
        for game in report.games:
            entry = totals.get(game.game_id)
            if entry is None:
                entry = totals[game.game_id] = PollTotal(name=game.game_name)
            entry.viewers += game.viewers
    ttl = timedelta(milliseconds=2 * max(cfg.cooldown_ms, cfg.baseline_ms))
    out: list[Output] = []
    for game_id in sorted(totals):
        if not game_id:  # "no category" is not a game anyone follows
            continue
        total = totals[game_id]
        tracked = _game(state, game_id)
        for alert in game_alerts(cfg, tracked, game_id, total.name, total.viewers, t):
            metrics.ALERTS.labels(alert.kind).inc()
            out.append(Output(ALERTS, alert.alert_id, alert))
        state.set(game_key(game_id), {"history": tracked.history, "cooldowns": tracked.cooldowns}, ttl=ttl)
    return out
