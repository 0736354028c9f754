"""Spike detection (DESIGN §5): `threshold` and `surge` per channel, `game_surge` per game.

Detection runs on event time (captured_at), so a replay raises the same alerts as the live
run did. A channel's history and cooldowns live in its chunk key's state (stage 1), a game's
in the game_surge stage's state, so both move with their partition and survive restarts.
History is a flat sequence `t, viewers, t, viewers, ...` of the samples of the baseline period:
a channel's is an `array('q')` (`new_history`), 8 bytes an entry where a list held a pointer
and an int object, about 40 bytes (at 250k channels, 15 polls of baseline: ~110 MiB less);
a game's stays a list in the game_surge stage's JSON state.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any, Iterable, MutableSequence, Optional
from urllib.parse import quote

from pulse.events import format_ts
from pulse.outputs import Alert

from .config import ProcessorConfig


def new_history(values: Iterable[int] = ()) -> array:
    """A channel's history: signed 64-bit entries (times in ms, viewer counts below 2**53)."""
    return array("q", values)


def baseline(history: MutableSequence[int], t: int, period_ms: int) -> Optional[float]:
    """Mean viewers over the samples in [t − period, t), or None when there are none."""
    total = count = 0
    for i in range(0, len(history), 2):
        if t - period_ms <= history[i] < t:
            total += history[i + 1]
            count += 1
    return total / count if count else None


def remember(history: MutableSequence[int], t: int, viewers: int, period_ms: int) -> None:
    """Append a sample and forget those older than the baseline period."""
    history.append(t)
    history.append(viewers)
    cut = 0
    while cut < len(history) and history[cut] < t - period_ms:
        cut += 2
    if cut:
        del history[:cut]


def surge_level(minimum: int, ratio: float, base: float) -> int:
    """The viewers a surge needs: max(M, (1+R)·baseline), rounded up."""
    return max(minimum, math.ceil((1 + ratio) * base))


def cooling(cooldowns: dict[str, int], kind: str, t: int, cooldown_ms: int) -> bool:
    last = cooldowns.get(kind)
    return last is not None and t - last < cooldown_ms


def channel_url(login: str) -> str:
    return f"https://www.twitch.tv/{quote(login)}"


def game_url(game_name: str) -> str:
    return f"https://www.twitch.tv/directory/category/{quote(game_name.lower().replace(' ', '-'))}"


def make_alert(kind: str, subject_type: str, subject_id: str, subject_name: str, game_id: str, game_name: str,
               viewers: int, base: Optional[float], threshold: int, t: int, url: str) -> Alert:
    return Alert(alert_id=f"{kind}:{subject_id}:{t}", kind=kind, subject_type=subject_type, subject_id=subject_id,
                 subject_name=subject_name, game_id=game_id, game_name=game_name, viewers=viewers, baseline=base,
                 threshold=threshold, captured_at=format_ts(t), url=url)


def quiet_below_viewers(cfg: ProcessorConfig) -> int:
    """A channel sample with fewer viewers than this can raise no alert (below both M and T)."""
    return min(cfg.surge_min_viewers, cfg.threshold_viewers)


def channel_alerts(cfg: ProcessorConfig, history: MutableSequence[int], cooldowns: dict[str, int], stream: Any, t: int
                   ) -> list[Alert]:
    """Check one accepted sample of a channel (a `pulse.samples.Sample` or `JournalSample`), then remember it.

    - threshold: viewers reach T from below (the channel's previous sample was under T);
    - surge: viewers ≥ max(M, (1+R)·baseline), baseline = mean of the channel's samples in the
      previous 15 minutes (no samples, no baseline, no surge). The baseline is only computed
      when viewers ≥ M, the least any surge needs.
    One alert per (kind, channel) per cooldown.
    """
    viewers = stream.viewer_count
    if viewers < quiet_below_viewers(cfg):
        remember(history, t, viewers, cfg.baseline_ms)  # too few viewers for any alert
        return []
    alerts: list[Alert] = []
    fired: list[tuple[str, Optional[float], int]] = []
    if history and history[-1] < cfg.threshold_viewers <= viewers:
        fired.append(("threshold", None, cfg.threshold_viewers))
    if viewers >= cfg.surge_min_viewers:
        base = baseline(history, t, cfg.baseline_ms)
        if base is not None:
            level = surge_level(cfg.surge_min_viewers, cfg.surge_ratio, base)
            if viewers >= level:
                fired.append(("surge", base, level))
    for kind, base, level in fired:
        if cooling(cooldowns, kind, t, cfg.cooldown_ms):
            continue
        cooldowns[kind] = t
        alerts.append(make_alert(kind, "channel", stream.user_id, stream.user_login or stream.user_name,
                                 stream.game_id, stream.game_name, viewers, base, level, t,
                                 channel_url(stream.user_login)))
    remember(history, t, viewers, cfg.baseline_ms)
    return alerts


@dataclass(slots=True)
class GameState:
    history: list[int] = field(default_factory=list)
    cooldowns: dict[str, int] = field(default_factory=dict)


def game_alerts(cfg: ProcessorConfig, game: GameState, game_id: str, game_name: str, viewers: int, t: int
                ) -> list[Alert]:
    """game_surge: a game's concurrent viewers at a poll ≥ max(M_g, (1+R)·its 15-minute mean)."""
    alerts: list[Alert] = []
    base = baseline(game.history, t, cfg.baseline_ms)
    if base is not None:
        level = surge_level(cfg.game_surge_min_viewers, cfg.surge_ratio, base)
        if viewers >= level and not cooling(game.cooldowns, "game_surge", t, cfg.cooldown_ms):
            game.cooldowns["game_surge"] = t
            alerts.append(make_alert("game_surge", "game", game_id, game_name, game_id, game_name, viewers, base,
                                     level, t, game_url(game_name)))
    remember(game.history, t, viewers, cfg.baseline_ms)
    return alerts
