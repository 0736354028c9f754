"""Stage 3, one key: `game_surge` alerts from each closed window's per-poll game totals.

A game's baseline spans windows, and consecutive windows are closed by different assembler
keys (possibly different processes), so their records can arrive out of order. This stage
therefore collects each window whole (its records come in numbered chunks) and evaluates the
polls strictly in time order, window after window: the same input always gives the same
alerts. The price is latency: a game surge is reported when its window closes (channel
alerts, in stage 1, are immediate).

State, under the one key: `s` (the next window expected and the chunks seen per window),
`b:<window>:<seq>` (buffered chunks), `g:<game_id>` (15 minutes of per-poll totals and the
cooldown). Per-game records expire (event time) once nothing in them can matter.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Iterator

from . import metrics
from .alerts import game_alerts
from .config import ProcessorConfig

log = logging.getLogger(__name__)
MAX_PENDING_WINDOWS = 12  # a window that never comes must not stall game alerts forever


def _evaluate(cfg: ProcessorConfig, state: Any, entries: list[list]) -> Iterator[dict[str, Any]]:
    ttl = timedelta(milliseconds=2 * max(cfg.cooldown_ms, cfg.baseline_ms))
    games: dict[str, dict] = {}
    for t, game_id, viewers, name in sorted(entries, key=lambda e: (e[0], e[1])):
        if not game_id:  # "no category" is not a game anyone follows
            continue
        game = games.get(game_id)
        if game is None:
            game = games[game_id] = state.get(f"g:{game_id}") or {}
        for alert in game_alerts(cfg, game, {"t": t, "game_id": game_id, "game_name": name, "viewers": viewers}):
            metrics.ALERTS.labels(alert["kind"]).inc()
            yield {"k": "a", "key": alert["alert_id"], "row": alert}
    for game_id, game in games.items():
        state.set(f"g:{game_id}", game, ttl=ttl)


def _take(state: Any, s: dict[str, Any], start: int) -> list[list]:
    of = s["pending"].pop(str(start))[0]
    entries: list[list] = []
    for seq in range(of):
        entries.extend(state.get(f"b:{start}:{seq}") or [])
        state.delete(f"b:{start}:{seq}")
    return entries


def detect(cfg: ProcessorConfig, chunk: dict[str, Any], state: Any) -> Iterator[dict[str, Any]]:
    ttl = timedelta(days=7)
    s = state.get("s") or {"next": None, "pending": {}}
    start, key = chunk["w"], str(chunk["w"])
    seen = s["pending"].setdefault(key, [chunk["of"], []])
    if chunk["seq"] not in seen[1]:
        seen[1].append(chunk["seq"])
        state.set(f"b:{start}:{chunk['seq']}", chunk["e"], ttl=ttl)

    def complete(w: str) -> bool:
        return w in s["pending"] and len(s["pending"][w][1]) == s["pending"][w][0]

    if s["next"] is None:
        s["next"] = chunk.get("o", start)  # the stream's first window, not the first to arrive
    if start < s["next"]:
        if complete(key):  # behind the cursor: only after a skip-ahead
            log.warning("game_surge: window %d arrived after later ones; evaluated out of order", start)
            yield from _evaluate(cfg, state, _take(state, s, start))
    else:
        if len(s["pending"]) > MAX_PENDING_WINDOWS and not complete(str(s["next"])):
            later = [int(w) for w in s["pending"] if int(w) > s["next"]]
            log.warning("game_surge: window %s never completed; skipping ahead", s["next"])
            s["next"] = min(later) if later else start
        while complete(str(s["next"])):
            yield from _evaluate(cfg, state, _take(state, s, s["next"]))
            s["next"] += cfg.window_ms
    state.set("s", s, ttl=ttl)
