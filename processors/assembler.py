"""Stage 2, keyed by window start: collect a window's credited samples from every input
partition, and close the window once every partition's watermark has passed it.

Why not a Quix window here: Quix closes windows on a per-key or per-partition clock, but
the global ranks of DESIGN §4 need *all* input partitions' samples, and the partitions are
processed by different consumers at different speeds. So each input partition reports its
watermark (markers from `samples.process_tick`), and a window closes only when all of them
have passed it: never early under skew, never stranded by a quiet partition or a channel
that went offline, and at once when a replay's final tick arrives.

State per window key (Quix State, so it is transactional and restored from the changelog):
- `m`: watermark per input partition, partition count, samples per poll, and `done` once
  the window has closed;
- `i:<t>:<j>`: the j-th sample of poll t.
Each sample is written once under its own key (no per-message rewrite of large state);
everything is read back and deleted when the window closes. A sample is late when its own
input partition's watermark had already passed its window (so the outcome does not depend
on how the partitions interleave); a closed window keeps its small meta record marked
`done` (about 150 bytes a window, 144 a day at W = 10 min), so later ones are recognised too.
Late samples are counted and dropped. No TTL here: a TTL write costs about as much again as a
plain one, and this is the hottest path.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

from pulse.events import format_ts
from pulse.outputs import channel_window_key, game_window_key, top_channel_key

from . import metrics
from .config import FINAL_WATERMARK, ProcessorConfig
from .windows import compute_window, poll_totals

log = logging.getLogger(__name__)
GAME_POLLS_KEY = "games"  # one key: game_surge needs the polls of consecutive windows in order
GAME_POLL_CHUNK = 5000


def _polls(meta: dict[str, Any]) -> list[int]:
    return sorted(int(t) for t in meta["cnt"])


def _items(state: Any, meta: dict[str, Any], t: int) -> list[list]:
    return [state.get(f"i:{t}:{j}") for j in range(meta["cnt"][str(t)])]


def _forget(state: Any, meta: dict[str, Any]) -> None:
    for t, count in meta["cnt"].items():
        for j in range(count):
            state.delete(f"i:{t}:{j}")


def on_late(start: int, item: list) -> None:
    """A sample for a window that has already closed: counted, not credited."""
    metrics.DROPPED.labels("late").inc()
    log.debug("late sample for closed window %s at %s", format_ts(start), format_ts(item[0]))


def assemble(cfg: ProcessorConfig, record: dict[str, Any], state: Any) -> Iterator[dict[str, Any]]:
    start = record["w"]
    meta = state.get("m") or {"wm": {}, "n": cfg.partitions, "cnt": {}, "done": False}

    if record["k"] == "s":
        item = record["i"]
        source = meta["wm"].get(str(record["p"]))
        if meta["done"] or (source is not None and (source >= FINAL_WATERMARK or cfg.window_complete(start, source))):
            # its own input partition had already passed this window: late, whatever the others did
            on_late(start, item)
            return
        poll = str(item[0])
        count = meta["cnt"].get(poll, 0)
        state.set(f"i:{poll}:{count}", item)
        meta["cnt"][poll] = count + 1
        state.set("m", meta)
        return
    if meta["done"]:
        return

    # a watermark marker from one input partition
    wms: dict[str, int] = meta["wm"]
    part = str(record["p"])
    wms[part] = max(record["wm"], wms.get(part, record["wm"]))
    meta["n"] = record["n"]
    meta["o"] = min(record.get("o", start), meta.get("o", start))
    if len(wms) >= meta["n"]:
        low = min(wms.values())
        if low >= FINAL_WATERMARK or cfg.window_complete(start, low):
            yield from close_window(cfg, start, meta, state)
    state.set("m", meta)


def game_poll_records(start: int, origin: int, by_poll: list[tuple[int, list[list]]]) -> Iterator[dict[str, Any]]:
    """Every closed window, empty or not, goes to the game_surge stage as its per-poll game
    totals `[t, game_id, viewers, game_name]`, in chunks that keep each record far below
    Kafka's 1 MB message limit; `of` tells the stage when it has the whole window, `o` the
    first window of the stream (where the stage starts, whichever window reaches it first)."""
    entries = [[t, game_id, viewers, name] for t, poll_items in by_poll
               for game_id, (viewers, _channels, name) in poll_totals(poll_items).items()]
    chunks = [entries[i:i + GAME_POLL_CHUNK] for i in range(0, len(entries), GAME_POLL_CHUNK)] or [[]]
    for seq, chunk in enumerate(chunks):
        yield {"k": "p", "key": GAME_POLLS_KEY,
               "row": {"w": start, "o": origin, "seq": seq, "of": len(chunks), "e": chunk}}


def close_window(cfg: ProcessorConfig, start: int, meta: dict[str, Any], state: Any) -> Iterator[dict[str, Any]]:
    began = time.perf_counter()
    by_poll = [(t, _items(state, meta, t)) for t in _polls(meta)]
    items = [item for _, poll_items in by_poll for item in poll_items]
    games, channels, tops = compute_window(items, start, cfg.window_ms, cfg.top_n)
    yield from game_poll_records(start, meta.get("o", start), by_poll)
    _forget(state, meta)
    meta.update(done=True, cnt={}, wm={})
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
