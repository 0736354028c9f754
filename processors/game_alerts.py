"""Stage 3, keyed by game: `game_surge` alerts from the per-poll game totals the assembler
emits once every input partition has delivered that poll."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

from . import metrics
from .alerts import game_alerts
from .config import ProcessorConfig


def detect(cfg: ProcessorConfig, poll: dict[str, Any], state: Any) -> Iterator[dict[str, Any]]:
    if not poll["game_id"]:  # "no category" is not a game anyone follows
        return
    game = state.get("g") or {}
    alerts = game_alerts(cfg, game, poll)
    # nothing older than the baseline or the cooldown matters: a game gone quiet is forgotten
    state.set("g", game, ttl=timedelta(milliseconds=2 * max(cfg.cooldown_ms, cfg.baseline_ms)))
    for alert in alerts:
        metrics.ALERTS.labels(alert["kind"]).inc()
        yield {"k": "a", "key": alert["alert_id"], "row": alert}
