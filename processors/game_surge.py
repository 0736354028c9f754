"""Stage 3, one key: `game_surge` alerts from per-poll game totals, as soon as a poll is complete.

Each chunk key reports every poll its watermark passes, with its games' concurrent viewers
at that poll (`GamePoll`). A poll is complete when all `keys` keys have reported it; complete
polls are evaluated strictly in time order (a key reports its polls in order, so when poll t
is complete every earlier poll reported anywhere is complete too, unless some key never
reports it: such a poll is dropped with a warning rather than stalling the alerts). So the
same input always gives the same alerts, at most one poll after the samples arrive, instead
of a window later.

State under the one key: `m` (evaluated-through and the keys seen per pending poll),
`b:<t>:<key>` (each report as it came), `g:<game_id>` (15 minutes of totals and the
cooldown; expires once nothing in it can matter).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Optional

from pulse.events import format_ts

from . import metrics
from .alerts import GameState, game_alerts
from .config import ProcessorConfig
from .records import decode_game_poll
from .routing import ALERTS, Output

log = logging.getLogger(__name__)


def _game(state: Any, game_id: str) -> GameState:
    raw = state.get(f"g:{game_id}")
    return GameState(raw["history"], raw["cooldowns"]) if raw else GameState()


def on_game_poll(cfg: ProcessorConfig, value: bytes, state: Any) -> list[Output]:
    report = decode_game_poll(value)
    meta = state.get("m") or {"through": None, "pending": {}}
    through: Optional[int] = meta["through"]
    if through is not None and report.t <= through:
        log.warning("game totals of poll %s from key %d after that poll was evaluated; dropped",
                    format_ts(report.t), report.key)
        return []
    pending: dict[str, list[int]] = meta["pending"]
    seen = pending.setdefault(str(report.t), [])
    if report.key not in seen:
        seen.append(report.key)
        state.set_bytes(f"b:{report.t}:{report.key}", value)
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
                    state.delete(f"b:{t}:{key}")
                continue
            out.extend(evaluate(cfg, state, t, keys))
            meta["through"] = t
    state.set("m", meta)
    return out


def evaluate(cfg: ProcessorConfig, state: Any, t: int, keys: list[int]) -> list[Output]:
    totals: dict[str, list] = {}  # game_id -> [viewers, name]
    for key in keys:
        report = decode_game_poll(state.get_bytes(f"b:{t}:{key}"))
        state.delete(f"b:{t}:{key}")
        for game in report.games:
            entry = totals.get(game.game_id)
            if entry is None:
                totals[game.game_id] = [game.viewers, game.game_name]
            else:
                entry[0] += game.viewers
    ttl = timedelta(milliseconds=2 * max(cfg.cooldown_ms, cfg.baseline_ms))
    out: list[Output] = []
    for game_id in sorted(totals):
        if not game_id:  # "no category" is not a game anyone follows
            continue
        viewers, name = totals[game_id]
        tracked = _game(state, game_id)
        for alert in game_alerts(cfg, tracked, game_id, name, viewers, t):
            metrics.ALERTS.labels(alert["kind"]).inc()
            out.append(Output(ALERTS, alert["alert_id"], alert))
        state.set(f"g:{game_id}", {"history": tracked.history, "cooldowns": tracked.cooldowns}, ttl=ttl)
    return out
