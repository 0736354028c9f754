"""A generated input that exercises every rule of DESIGN §4 (see `build` for the cases)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

from processors.config import ProcessorConfig
from pulse.events import cut_poll, final_chunks, format_ts
from tests import reference
from tests.pipeline import make_event, stream_of

W_S, I_S = 600, 60
T0 = 1_700_000_000_000 - 1_700_000_000_000 % (W_S * 1000)  # window-aligned
POLLS = 25  # 2.5 windows


def at(k: int) -> int:
    return T0 + k * I_S * 1000


@dataclass
class Scenario:
    actions: list[tuple] = field(default_factory=list)  # ("event", e) | ("ticks", t) | ("raw", key, value) | ("bad", t, stream)
    late: set[int] = field(default_factory=set)          # positions (among events) sent after their window closed
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, e: dict[str, Any], late: bool = False) -> None:
        if late:
            self.late.add(len(self.events))
        self.events.append(e)
        self.actions.append(("event", e))


def build() -> Scenario:
    sc = Scenario()
    for k in range(POLLS):
        t = at(k)
        # 101: steady, started long before (first prev = t - I)
        sc.event(make_event(t, "s101", "101", 100, "g1"))
        # 102: first sample with started_at inside the interval
        if k >= 1:
            sc.event(make_event(t, "s102", "102", 50, "g1", started_ms=at(0) + 40_000))
        # 103: offline for polls 4..7, so the gap at poll 8 is clamped to the cap
        if not 4 <= k <= 7:
            sc.event(make_event(t, "s103", "103", 30, "g2"))
        # 104: switches game mid-window and back
        game = "g2" if 5 <= k <= 9 else "g1"
        sc.event(make_event(t, "s104", "104", 70, game))
        # 105: zero viewers (air time, no watch time)
        sc.event(make_event(t, "s105", "105", 0, "g2"))
        # 106: restarts: new stream id from poll 7, started inside window 0
        if k < 7:
            sc.event(make_event(t, "s106a", "106", 40, "g1"))
        else:
            sc.event(make_event(t, "s106b", "106", 45, "g1", started_ms=at(7) - 10_000))
        # 107: goes offline for good after poll 4 (its last window must not be stranded)
        if k <= 4:
            sc.event(make_event(t, "s107", "107", 500, "g1"))
        # 99, 108, 109: identical in g3 -> tied channel ranks; top ranks by numeric user id
        for uid in ("108", "99", "109"):
            sc.event(make_event(t, f"s{uid}", uid, 20, "g3"))
        # 110 in g4 and 111 in g5: identical -> tied game ranks
        sc.event(make_event(t, "s110", "110", 10, "g4"))
        sc.event(make_event(t, "s111", "111", 10, "g5"))
        # no category: game_id ""
        if k % 2 == 0:
            sc.event(make_event(t, "s113", "113", 5, "", game_name=""))
        # duplicate (same t) and out-of-order (older t) samples: dropped
        if k == 3:
            sc.event(make_event(t, "s101", "101", 999, "g1"))
        if k == 6:
            sc.event(make_event(at(5), "s101", "101", 999, "g1"))
        # bad input -> DLQ, never stops the pipeline
        if k == 2:
            sc.actions.append(("raw", b"102", b"{not json"))
            bad = stream_of(make_event(t, "s102b", "102", 5))
            del bad["viewer_count"]
            sc.actions.append(("bad", t, bad))
        # late: window 0 closed after poll 9's tick; this sample for it arrives at poll 11
        if k == 11:
            sc.event(make_event(at(5), "s112", "112", 1000, "g1"), late=True)
        sc.actions.append(("ticks", t))
    sc.actions.append(("final", at(POLLS - 1)))
    # later, the live producer takes over after that "backfill": its windows must close as usual
    for k in range(40, 53):
        t = at(k)
        sc.event(make_event(t, "s101", "101", 120, "g1"))
        sc.event(make_event(t, "s104", "104", 80 + k, "g2" if k % 3 else "g1"))
        sc.event(make_event(t, f"s114-{k // 5}", "114", 7, "g3", started_ms=t - 30_000))
        sc.actions.append(("ticks", t))
    sc.actions.append(("final", at(52)))
    return sc


TOP_N = 3

CFG = ProcessorConfig(window_ms=W_S * 1000, grace_ms=0, interval_ms=I_S * 1000, top_n=TOP_N,
                      threshold_viewers=10**9, surge_min_viewers=10**9, surge_ratio=1.0,
                      game_surge_min_viewers=10**9, baseline_ms=900_000, cooldown_ms=3_600_000)


class Message(NamedTuple):
    """A message of `twitch.streams` as the producer sends it."""

    key: bytes
    value: bytes
    timestamp: int  # the poll's captured_at (0 for a raw message)


def messages(actions: Sequence[tuple], keys: int, chunk_streams: int) -> list[Message]:
    """A scenario's actions as the producer sends them: the samples gathered per poll and each
    poll cut into chunks (DESIGN §3) once a tick makes it due, raw messages as they are."""
    sent: list[Message] = []
    pending: dict[int, list] = {}
    for action in actions:
        kind = action[0]
        if kind == "event":
            pending.setdefault(int(reference._ms(action[1]["captured_at"])), []).append(stream_of(action[1]))
        elif kind == "bad":
            pending.setdefault(action[1], []).append(action[2])
        elif kind == "raw":
            sent.append(Message(action[1], action[2], 0))
        else:
            t = action[1]
            pending.setdefault(t, [])
            for poll_t in sorted(pending):
                for chunk, value in cut_poll(pending.pop(poll_t), poll_t, f"p@{format_ts(poll_t)}", "p", 1, keys,
                                             chunk_streams):
                    sent.append(Message(chunk.message_key, value, poll_t))
            if kind == "final":
                sent.extend(Message(chunk.message_key, value, t)
                            for chunk, value in final_chunks(t, "p-final", "p", 1, keys))
    return sent
