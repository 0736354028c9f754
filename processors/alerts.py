"""Spike detection (DESIGN §5): `threshold` and `surge` per channel, `game_surge` per game.

Detection runs on event time (captured_at), so a replay raises the same alerts as the live
run did. History and cooldowns live in the keyed Quix state next to the channel's (or the
game's) other state, so they move with the partition and survive restarts through the
changelog topic.
"""

from __future__ import annotations

import math
from typing import Any, Optional
from urllib.parse import quote

from pulse.events import format_ts
from pulse.outputs import Alert

from .config import ProcessorConfig


def _baseline(history: list[list[int]], t: int, period_ms: int) -> Optional[float]:
    """Mean viewers over the samples in [t - period, t), or None when there are none."""
    values = [v for ts, v in history if t - period_ms <= ts < t]
    return sum(values) / len(values) if values else None


def _trim(history: list[list[int]], t: int, period_ms: int) -> None:
    while history and history[0][0] < t - period_ms:
        history.pop(0)


def _cooling(cooldowns: dict[str, int], kind: str, t: int, cooldown_ms: int) -> bool:
    last = cooldowns.get(kind)
    return last is not None and t - last < cooldown_ms


def _surge_level(cfg: ProcessorConfig, minimum: int, baseline: float) -> int:
    return max(minimum, math.ceil((1 + cfg.surge_ratio) * baseline))


def channel_url(login: str) -> str:
    return f"https://www.twitch.tv/{quote(login)}"


def game_url(game_name: str) -> str:
    return f"https://www.twitch.tv/directory/category/{quote(game_name.lower().replace(' ', '-'))}"


def _alert(kind: str, subject_type: str, subject_id: str, subject_name: str, game_id: str, game_name: str,
           viewers: int, baseline: Optional[float], threshold: int, t: int, url: str) -> Alert:
    return Alert(
        alert_id=f"{kind}:{subject_id}:{t}",
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_name=subject_name,
        game_id=game_id,
        game_name=game_name,
        viewers=viewers,
        baseline=baseline,
        threshold=threshold,
        captured_at=format_ts(t),
        url=url,
    )


def channel_alerts(cfg: ProcessorConfig, channel: dict[str, Any], event: dict[str, Any], t: int) -> list[Alert]:
    """Check one accepted sample of a channel; updates the channel's history and cooldowns.

    - threshold: viewers reach T from below (the channel's previous sample was under T);
    - surge: viewers ≥ max(M, (1+R)·baseline), baseline = mean of the channel's samples in the
      previous 15 minutes (no samples, no baseline, no surge).
    One alert per (kind, channel) per cooldown.
    """
    viewers = event["viewer_count"]
    history: list[list[int]] = channel.setdefault("h", [])
    cooldowns: dict[str, int] = channel.setdefault("a", {})
    previous = history[-1][1] if history else None
    baseline = _baseline(history, t, cfg.baseline_ms)
    alerts: list[Alert] = []

    def fire(kind: str, base: Optional[float], level: int) -> None:
        if _cooling(cooldowns, kind, t, cfg.cooldown_ms):
            return
        cooldowns[kind] = t
        alerts.append(_alert(kind, "channel", event["user_id"], event["user_login"] or event["user_name"],
                             event["game_id"], event["game_name"], viewers, base, level, t,
                             channel_url(event["user_login"])))

    if previous is not None and previous < cfg.threshold_viewers <= viewers:
        fire("threshold", None, cfg.threshold_viewers)
    if baseline is not None:
        level = _surge_level(cfg, cfg.surge_min_viewers, baseline)
        if viewers >= level:
            fire("surge", baseline, level)
    history.append([t, viewers])
    _trim(history, t, cfg.baseline_ms)
    return alerts


def game_alerts(cfg: ProcessorConfig, game: dict[str, Any], poll: dict[str, Any]) -> list[Alert]:
    """game_surge: a game's concurrent viewers at a poll ≥ max(M_g, (1+R)·its 15-minute mean)."""
    t, viewers = poll["t"], poll["viewers"]
    history: list[list[int]] = game.setdefault("h", [])
    cooldowns: dict[str, int] = game.setdefault("a", {})
    baseline = _baseline(history, t, cfg.baseline_ms)
    alerts: list[Alert] = []
    if baseline is not None:
        level = _surge_level(cfg, cfg.game_surge_min_viewers, baseline)
        if viewers >= level and not _cooling(cooldowns, "game_surge", t, cfg.cooldown_ms):
            cooldowns["game_surge"] = t
            alerts.append(_alert("game_surge", "game", poll["game_id"], poll["game_name"], poll["game_id"],
                                 poll["game_name"], viewers, baseline, level, t, game_url(poll["game_name"])))
    history.append([t, viewers])
    _trim(history, t, cfg.baseline_ms)
    return alerts
