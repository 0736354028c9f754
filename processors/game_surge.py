"""Stage 3, one key: `game_surge` alerts from per-poll game totals, as soon as a poll is complete.

Each chunk key reports every poll its watermark passes, with its games' concurrent viewers
at that poll (`GamePoll`). A poll is complete when all `keys` keys have reported it; complete
polls are evaluated strictly in time order (a key reports its polls in order, so when poll t
is complete every earlier poll reported anywhere is complete too, unless some key never
reports it: such a poll is dropped with a warning rather than stalling the alerts). So the
same input always gives the same alerts, at most one poll after the samples arrive, instead
of a window later.

State under the one key: `progress` (evaluated-through and the keys seen per pending poll),
`report/<t>/<key>` (each report as it came), `game/<game_id>` (15 minutes of totals and the
cooldown; expires once nothing in it can matter). State written before these names (`m`,
`b:<t>:<key>`, `g:<game_id>`) is read once and rewritten under them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Optional

from pulse.events import format_ts

from . import metrics
from .aggregations import PollTotal
from .alerts import GameState, game_alerts
from .config import ProcessorConfig
from .records import decode_game_poll
from .routing import ALERTS, Output

log = logging.getLogger(__name__)


PROGRESS_KEY = "progress"


def report_key(t: int, key: int) -> str:
    return f"report/{t}/{key}"


def game_key(game_id: str) -> str:
    return f"game/{game_id}"


def _game(state: Any, game_id: str) -> GameState:
    raw = state.get(game_key(game_id))
    if raw is None:
        raw = state.get(f"g:{game_id}")  # written before state format 2
        if raw is not None:
            state.delete(f"g:{game_id}")
    return GameState(raw["history"], raw["cooldowns"]) if raw else GameState()


def _progress(state: Any) -> dict[str, Any]:
    """Evaluated-through and the keys that reported each pending poll (reports written before
    state format 2 are moved to their new names once)."""
    meta = state.get(PROGRESS_KEY)
    if meta is not None:
        return meta
    meta = state.get("m")
    if meta is None:
        return {"through": None, "pending": {}}
    state.delete("m")
    for t, keys in meta["pending"].items():
        for key in keys:
            state.set_bytes(report_key(int(t), key), state.get_bytes(f"b:{t}:{key}"))
            state.delete(f"b:{t}:{key}")
    return meta


def on_game_poll(cfg: ProcessorConfig, value: bytes, state: Any) -> list[Output]:
    report = decode_game_poll(value)
    meta = _progress(state)
    through: Optional[int] = meta["through"]
    if through is not None and report.t <= through:
        log.warning("game totals of poll %s from key %d after that poll was evaluated; dropped",
                    format_ts(report.t), report.key)
        return []
    pending: dict[str, list[int]] = meta["pending"]
    seen = pending.setdefault(str(report.t), [])
    if report.key not in seen:
        seen.append(report.key)
        state.set_bytes(report_key(report.t, report.key), value)
    out: list[Output] = []
    if len(seen) >= report.keys:
        for t in sorted(int(p) for p in pending):
            if t > report.t:
                break
            keys = pending.pop(str(t))
            if len(keys) < report.keys:
                log.warning("game totals of poll %s came from %d of %d keys only; skipped", format_ts(t),
                            len(keys), report.keys)
                for key in keys:
                    state.delete(report_key(t, key))
                continue
            out.extend(evaluate(cfg, state, t, keys))
            meta["through"] = t
    state.set(PROGRESS_KEY, meta)
    return out


def evaluate(cfg: ProcessorConfig, state: Any, t: int, keys: list[int]) -> list[Output]:
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
