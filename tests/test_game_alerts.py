"""game_surge evaluates polls in time order however the closed windows arrive (they come
from different assembler keys, possibly different processes)."""

from __future__ import annotations

from typing import Any, Optional

from processors.config import ProcessorConfig
from processors.game_alerts import detect

W, I = 600_000, 60_000
CFG = ProcessorConfig(window_ms=W, grace_ms=0, interval_ms=I, top_n=10, threshold_viewers=10_000,
                      surge_min_viewers=1_000, surge_ratio=1.0, game_surge_min_viewers=1_000,
                      baseline_ms=900_000, cooldown_ms=3_600_000)


class DictState:
    """The get/set/delete surface of a Quix State, for driving the pure stage logic."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Optional[Any] = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, ttl: Any = None) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def windows() -> list[dict]:
    """Game g1 steady at 2,000 for two windows, then 9,000 at the first poll of the third."""
    out = []
    for w in range(3):
        entries = [[w * W + k * I, "g1", 9_000 if (w, k) == (2, 0) else 2_000, "Game 1"] for k in range(10)]
        # two chunks per window, to exercise reassembly
        out += [{"w": w * W, "o": 0, "seq": 0, "of": 2, "e": entries[:5]},
                {"w": w * W, "o": 0, "seq": 1, "of": 2, "e": entries[5:]}]
    return out


def run(records: list[dict]) -> list[str]:
    state = DictState()
    return [a["key"] for r in records for a in detect(CFG, r, state)]


def test_out_of_order_windows_give_the_same_alerts_as_in_order() -> None:
    in_order = run(windows())
    assert in_order == [f"game_surge:g1:{2 * W}"]
    w0, w1, w2 = windows()[0:2], windows()[2:4], windows()[4:6]
    # the last window and half of the middle one arrive before the rest of the middle one
    assert run(w0 + [w1[0]] + w2 + [w1[1]]) == in_order
    assert run(w0 + w2 + w1) == in_order
    # at a cold start the later windows may even close before the first one
    assert run(w2 + w1 + w0) == in_order


def test_empty_windows_keep_the_sequence_going() -> None:
    records = windows()[:2] + [{"w": W, "o": 0, "seq": 0, "of": 1, "e": []}, {"w": 2 * W, "o": 0, "seq": 0, "of": 1, "e": [
        [2 * W, "g1", 9_000, "Game 1"]]}]
    # with no samples in the middle window the baseline (15 minutes) still reaches back to window 0
    assert run(records) == [f"game_surge:g1:{2 * W}"]
