"""Stage 2, keyed by window start: collect a window's credited samples from every input
partition, and close the window once every partition's watermark has passed it.

Why not a Quix window here: Quix closes windows on a per-key or per-partition clock, but
the global ranks of DESIGN §4 need *all* input partitions' samples, and the partitions are
processed by different consumers at different speeds. So each input partition reports its
watermark (markers from `samples.process_tick`), and a window closes only when all of them
have passed it: never early under skew, never stranded by a quiet partition or a channel
that went offline, and at once when a replay's final tick arrives.

State per window key (Quix State, so it is transactional and restored from the changelog):
- `m`: watermarks per input partition, partition count, polls seen, last poll evaluated;
- `c:<t>`: number of samples of poll t; `i:<t>:<j>`: the j-th sample of poll t.
Each sample is written once under its own key (no per-message rewrite of large state);
everything is read back and deleted when the window closes. A sample is late when its own
input partition's watermark had already passed its window (so the outcome does not depend
on how the partitions interleave); a closed window leaves a `done` flag (with a TTL) so later
ones are recognised too. Late samples are counted and dropped.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any, Iterator

from pulse.events import format_ts
from pulse.outputs import channel_window_key, game_window_key, top_channel_key

from . import metrics
from .config import FINAL_WATERMARK, ProcessorConfig
from .windows import compute_window, poll_totals

log = logging.getLogger(__name__)
DONE_TTL = timedelta(days=3)


def _items(state: Any, t: int) -> list[list]:
    count = state.get(f"c:{t}") or 0
    return [state.get(f"i:{t}:{j}") for j in range(count)]


def _forget(state: Any, polls: list[int]) -> None:
    for t in polls:
        for j in range(state.get(f"c:{t}") or 0):
            state.delete(f"i:{t}:{j}")
        state.delete(f"c:{t}")
    state.delete("m")


def on_late(start: int, item: list) -> None:
    """A sample for a window that has already closed: counted, not credited."""
    metrics.DROPPED.labels("late").inc()
    log.debug("late sample for closed window %s at %s", format_ts(start), format_ts(item[0]))


def assemble(cfg: ProcessorConfig, record: dict[str, Any], state: Any) -> Iterator[dict[str, Any]]:
    start = record["w"]
    if state.get("done"):
        if record["k"] == "s":
            on_late(start, record["i"])
        return
    meta = state.get("m") or {"wm": {}, "n": cfg.partitions, "polls": [], "dp": None}

    if record["k"] == "s":
        item = record["i"]
        source = meta["wm"].get(str(record["p"]))
        if source is not None and (source >= FINAL_WATERMARK or cfg.window_complete(start, source)):
            # its own input partition had already passed this window: late, whatever the others did
            on_late(start, item)
            return
        t = item[0]
        count = state.get(f"c:{t}") or 0
        state.set(f"i:{t}:{count}", item)
        state.set(f"c:{t}", count + 1)
        if count == 0 and t not in meta["polls"]:
            meta["polls"].append(t)
            meta["polls"].sort()
            state.set("m", meta)
        return

    # a watermark marker from one input partition
    wms: dict[str, int] = meta["wm"]
    part = str(record["p"])
    wms[part] = max(record["wm"], wms.get(part, record["wm"]))
    meta["n"] = record["n"]
    state.set("m", meta)
    if len(wms) < meta["n"]:
        return
    low = min(wms.values())

    # polls every partition has delivered: per-game totals for game_surge
    for t in meta["polls"]:
        if (meta["dp"] is None or t > meta["dp"]) and t <= low:
            for game_id, (viewers, channels, name) in poll_totals(_items(state, t)).items():
                yield {"k": "p", "key": game_id,
                       "row": {"game_id": game_id, "game_name": name, "t": t, "viewers": viewers,
                               "channels": channels}}
            meta["dp"] = t
    state.set("m", meta)

    if low >= FINAL_WATERMARK or cfg.window_complete(start, low):
        yield from close_window(cfg, start, meta["polls"], state)


def close_window(cfg: ProcessorConfig, start: int, polls: list[int], state: Any) -> Iterator[dict[str, Any]]:
    began = time.perf_counter()
    items = [item for t in polls for item in _items(state, t)]
    games, channels, tops = compute_window(items, start, cfg.window_ms, cfg.top_n)
    _forget(state, polls)
    state.set("done", True, ttl=DONE_TTL)
    for row in games:
        yield {"k": "g", "key": game_window_key(row), "row": row}
    for row in channels:
        yield {"k": "c", "key": channel_window_key(row), "row": row}
    for row in tops:
        yield {"k": "t", "key": top_channel_key(row), "row": row}
    metrics.WINDOWS.labels("games").inc(len(games))
    metrics.WINDOWS.labels("channels").inc(len(channels))
    metrics.WINDOWS.labels("top_channels").inc(len(tops))
    metrics.WINDOWS_CLOSED.inc()
    metrics.LAST_WINDOW_END.set((start + cfg.window_ms) / 1000)
    metrics.ASSEMBLY.observe(time.perf_counter() - began)
    log.info("window %s closed: %d samples, %d games, %d channels", format_ts(start), len(items),
             len(games), len(channels))
