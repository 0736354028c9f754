"""What the dbt tests share: generated raw samples over several UTC days and a month boundary,
the window tables filled from them the way the sinks fill them, and `dbt build` through the
project's own runner (the real dbt, in its own virtualenv, against the fakesnow server)."""

from __future__ import annotations

import random
import tempfile
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

import pytest

from analytics.runner import Outcome, run_dbt
from pulse.settings import Settings
from sinks.snowflake.load import merge
from sinks.tables import CHANNEL_WINDOWS, GAME_TOP_CHANNELS, GAME_WINDOWS, LANGUAGE_WINDOWS, STREAM_WINDOWS
from tests import reference
from tests.sink_support import spec_row

GAMES = [("g1", "Just Chatting"), ("g2", "Fortnite"), ("g3", "Age of Empires II"), ("g4", "Chess"),
         ("g5", "Minecraft"), ("", "")]
LANGUAGES = ("en", "en", "es", "de", "ja")

def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def generate_events(start: datetime, hours: float, interval_s: int, channels: int = 40,
                    seed: int = 7) -> list[dict[str, Any]]:
    """v1 events of `channels` channels polled every `interval_s` from `start`: broadcasts that
    begin and end, games switched mid-stream, languages per broadcast, zero-viewer samples,
    polls a channel is missed in (Δ capped), all in send (poll) order."""
    rnd = random.Random(seed)
    polls = int(hours * 3600 // interval_s)
    live: dict[int, dict[str, Any]] = {}
    resume = {c: rnd.randint(0, polls // 4) for c in range(channels)}
    base = {c: rnd.choice((0, 3, 20, 150, 900, 5000)) for c in range(channels)}
    events: list[dict[str, Any]] = []
    for k in range(polls):
        at = start + timedelta(seconds=k * interval_s)
        for c in range(channels):
            if c not in live:
                if k < resume[c]:
                    continue
                stream = len([e for e in events if e["user_id"] == f"u{c}" and e.get("first")]) + 1
                game = rnd.choice(GAMES)
                live[c] = {"stream_id": f"s{c}-{stream}", "game": game, "language": rnd.choice(LANGUAGES),
                           "title": f"stream {stream} of channel {c}", "mature": rnd.random() < 0.2,
                           "started": at - timedelta(seconds=rnd.randint(0, interval_s + 60)),
                           "ends": k + rnd.randint(3, int(10 * 3600 / interval_s)), "first": True}
            s = live[c]
            if k >= s["ends"]:
                del live[c]
                resume[c] = k + rnd.randint(1, int(6 * 3600 / interval_s))
                continue
            if rnd.random() < 0.04:
                s["game"] = rnd.choice(GAMES)
            if rnd.random() < 0.02:
                s["title"] += "!"
            if rnd.random() < 0.03:
                continue  # this poll missed the channel
            viewers = 0 if rnd.random() < 0.05 else max(0, int(base[c] * rnd.uniform(0.5, 1.5)))
            events.append({"stream_id": s["stream_id"], "user_id": f"u{c}", "user_login": f"user{c}",
                           "user_name": f"User{c}", "game_id": s["game"][0], "game_name": s["game"][1],
                           "viewer_count": viewers, "captured_at": _iso(at), "started_at": _iso(s["started"]),
                           "language": s["language"], "title": s["title"], "is_mature": s["mature"],
                           "first": s.pop("first", False)})
    for event in events:
        event.pop("first")
    return events


def load_windows(conn: Any, events: Sequence[dict[str, Any]], window_s: int, interval_s: int,
                 offset: int = 0, only: Iterable[str] | None = None) -> int:
    """Write the window rows of `events` (the independent reference's) as the sinks do: staged
    and MERGEd on the natural key (the sinks' `copy` method: one statement per table, where a
    VALUES list takes fakesnow ten times longer), from Kafka offsets above `offset`; `only`:
    window starts (RFC 3339) to write. Returns the next free offset."""
    cur = conn.cursor()
    windows = reference.compute(events, window_s, interval_s, top_n=3)
    keep = set(only) if only is not None else None
    for spec, name in ((GAME_WINDOWS, "games"), (CHANNEL_WINDOWS, "channels"), (GAME_TOP_CHANNELS, "top_channels"),
                       (STREAM_WINDOWS, "streams"), (LANGUAGE_WINDOWS, "languages")):
        rows = []
        for row in windows[name].values():
            if keep is None or row["window_start"] in keep:
                rows.append(spec_row(spec, row) + [0, offset])
                offset += 1
        with tempfile.TemporaryDirectory() as workdir:
            merge(cur, spec, rows, "copy", workdir)
    return offset


def build(settings: Settings, *args: str) -> Outcome:
    """`dbt build` (or `args`) through the project's runner; fails the test with dbt's words."""
    lines: list[str] = []
    outcome = run_dbt(settings, list(args) or ["build"], say=lines.append, colors=False)
    if outcome.code != 0:
        pytest.fail(f"{outcome.summary}\n" + "\n".join(lines[-60:]))
    return outcome
