"""Stage 1, keyed by channel (`user_id`): credit each sample with its Δ, raise channel alerts,
and turn producer ticks into window progress markers.

Per channel the state is small and bounded (the channel's recent stream ids, 15 minutes of
viewer counts, the alert cooldowns), so rewriting it per message is cheap. Everything that
needs all channels of a window at once happens in `assembler`, after a repartition by window.

Outputs (internal records on the samples topic, keyed by window start):
- sample: `{"k": "s", "w": window_start, "p": partition, "i": [t, user_id, login, name, game_id,
  game_name, stream_id, viewers, delta_ms, started_in_window]}`
- marker: `{"k": "m", "w": window_start, "p": partition, "n": partitions, "wm": watermark,
  "o": first window}`: "input partition p holds every sample up to `wm`" (and its stream began
  at window `o`); sent to each window still waiting on p.
- alert: `{"k": "a", "key": alert_id, "row": Alert}` (routed to `twitch.alerts`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator, Optional

from pulse.events import format_ts, parse_ts
from pulse.outputs import Alert

from . import metrics
from .alerts import channel_alerts
from .config import FINAL_WATERMARK, ProcessorConfig

# Stream ids are kept this long after their last sample: a broadcast lasts at most 48 h,
# and a stream seen again after a gap is credited min(gap, cap), so its last t matters.
STREAM_MEMORY_MS = 50 * 3600 * 1000
MAX_MARKER_WINDOWS = 10_000  # a watermark jump wider than this many windows is capped
# A channel's state is forgotten after this much event time without a sample (nothing in it
# matters longer: stream ids 50 h, baseline 15 min, cooldown 1 h), so churn does not grow state.
CHANNEL_TTL = timedelta(milliseconds=STREAM_MEMORY_MS)
TICK_TTL = timedelta(days=30)


def credit(cfg: ProcessorConfig, channel: dict[str, Any], event: dict[str, Any], t: int) -> Optional[int]:
    """Δ in ms for this sample per DESIGN §4, or None when it is a duplicate / out of order.

    `channel["s"]` maps stream_id -> time of its previous sample.
    """
    streams: dict[str, int] = channel.setdefault("s", {})
    stream_id = event["stream_id"]
    prev = streams.get(stream_id)
    if prev is not None:
        if t <= prev:
            return None
    else:
        prev = max(parse_ts(event["started_at"]), t - cfg.interval_ms)
    streams[stream_id] = t
    if len(streams) > 1:
        for sid in [sid for sid, last in streams.items() if last < t - STREAM_MEMORY_MS]:
            del streams[sid]
    return min(max(t - prev, 0), cfg.cap_ms)


def sample_record(cfg: ProcessorConfig, event: dict[str, Any], t: int, delta: int, partition: int) -> dict[str, Any]:
    start = cfg.window_start(t)
    started = parse_ts(event["started_at"])
    return {
        "k": "s",
        "w": start,
        "p": partition,
        "i": [
            t, event["user_id"], event["user_login"], event["user_name"], event["game_id"],
            event["game_name"], event["stream_id"], event["viewer_count"], delta,
            start <= started < start + cfg.window_ms,
        ],
    }


def process_event(cfg: ProcessorConfig, event: dict[str, Any], partition: int, state: Any
                  ) -> Iterator[dict[str, Any]]:
    """One valid event of one channel: a credited sample plus any channel alerts."""
    t = parse_ts(event["captured_at"])
    channel = state.get("c") or {}
    delta = credit(cfg, channel, event, t)
    if delta is None:
        metrics.DROPPED.labels("duplicate").inc()
        return
    alerts: list[Alert] = channel_alerts(cfg, channel, event, t)
    state.set("c", channel, ttl=max(CHANNEL_TTL, timedelta(milliseconds=cfg.cooldown_ms)))
    metrics.EVENTS.inc()
    yield sample_record(cfg, event, t, delta, partition)
    for alert in alerts:
        metrics.ALERTS.labels(alert["kind"]).inc()
        yield {"k": "a", "key": alert["alert_id"], "row": alert}


def process_tick(cfg: ProcessorConfig, tick: dict[str, Any], partition: int, state: Any) -> Iterator[dict[str, Any]]:
    """A producer shard finished a poll for this partition: advance the partition watermark.

    The watermark is the minimum over all producer shards (a poll is complete only when every
    shard has delivered it). Each advance is forwarded as a marker to every window that is not
    yet complete for this partition, up to the watermark's own window.
    """
    metrics.TICKS.inc()
    marks = state.get("t") or {"shards": {}, "done": None, "hw": None}
    t = parse_ts(tick["captured_at"])
    shard = str(tick.get("producer", ""))
    # shard -> [latest tick time, whether that tick was final]. A final tick (end of a replay or
    # of a finite run) lets every window up to it close; a later ordinary tick (the live producer
    # after a backfill) makes the shard ordinary again instead of leaving it "finished" forever.
    shards: dict[str, list] = marks["shards"]
    shards[shard] = [max(t, shards.get(shard, [t])[0]), bool(tick.get("final"))]
    marks["hw"] = max(t, marks["hw"] or t)
    expected = int(tick.get("shards") or 1)
    if len(shards) < expected:
        state.set("t", marks, ttl=TICK_TTL)
        return
    watermark = min(FINAL_WATERMARK if final else ts for ts, final in shards.values())
    newest = cfg.window_start(marks["hw"])
    if marks.get("first") is None:  # the first window this partition marks: where the stream begins
        marks["first"] = cfg.window_start(min(t, watermark))
    first = marks["done"] + cfg.window_ms if marks["done"] is not None else marks["first"]
    first = max(first, newest - MAX_MARKER_WINDOWS * cfg.window_ms)
    for start in range(first, newest + cfg.window_ms, cfg.window_ms):
        yield {"k": "m", "w": start, "p": partition, "n": cfg.partitions, "wm": watermark, "o": marks["first"]}
    complete = newest if watermark >= FINAL_WATERMARK else cfg.last_complete_window(watermark)
    if marks["done"] is None or complete > marks["done"]:
        marks["done"] = complete
    state.set("t", marks, ttl=TICK_TTL)

