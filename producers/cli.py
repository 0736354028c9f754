"""`twitch-pulse producer | simulate | record | replay`: the source side of the pipeline.

Configuration comes from the environment / .env (see `twitch-pulse config`): credentials
(TWITCH_CLIENT_ID/SECRET or client_id/client_secret, TWITCH_CREDENTIALS for more),
TWITCH_API_URL/TWITCH_AUTH_URL (point them at the simulator), filters (TWITCH_GAME_IDS,
TWITCH_GAME_NAMES, TWITCH_LANGUAGES, TWITCH_USER_LOGINS; none = all live streams),
POLL_INTERVAL_SECONDS, CLOCK_SPEED/CLOCK_ANCHOR, PRODUCER_SHARD/PRODUCER_SPLIT/PRODUCER_CONCURRENCY.

A sped-up local demo, in two terminals:
  twitch-pulse simulate --port 8780 --speed 60
  CLOCK_SPEED=60 TWITCH_API_URL=http://127.0.0.1:8780/helix TWITCH_AUTH_URL=http://127.0.0.1:8780/oauth2 \\
    TWITCH_CLIENT_ID=demo TWITCH_CLIENT_SECRET=demo-secret twitch-pulse producer
(the producer adopts the simulator's clock anchor from its Pulse-Clock header: one poll per real second).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pulse.cli import Formatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("producer", help="poll Helix every interval and produce snapshot chunks to Kafka (long-running)",
                       description="Poll GET /helix/streams on the interval grid (POLL_INTERVAL_SECONDS, on the "
                                   "CLOCK_SPEED clock), de-duplicate, cut each poll into schema v2 chunks (at least one "
                                   "per chunk key, CHUNK_KEYS; at most CHUNK_STREAMS streams each), produce them to "
                                   "twitch.streams keyed by chunk key and flush. Stops cleanly on SIGTERM/SIGINT; "
                                   "metrics on METRICS_PORT.\n\n" + (__doc__ or ""),
                       formatter_class=Formatter)
    p.add_argument("--polls", type=int, default=None, help="stop after this many polls, then send the final chunks so every window closes (default: run until stopped)")
    p.add_argument("--shard", default=None, help="this process's shard k/S (overrides PRODUCER_SHARD)")
    p.set_defaults(handler="producers.commands:producer")

    r = sub.add_parser("record", help="poll Helix like the producer and write each poll to a JSON Lines file",
                       description="Poll like `producer` and append every poll to FILE as one JSON line "
                                   "{\"captured_at\": ..., \"data\": [Helix stream objects as returned]} "
                                   "(gzipped when FILE ends in .gz). Share the file or backfill with `replay`.",
                       formatter_class=Formatter)
    r.add_argument("file", type=Path, metavar="FILE", help="output .jsonl or .jsonl.gz (appended to)")
    r.add_argument("--polls", type=int, default=None, help="stop after this many polls (default: until stopped)")
    r.add_argument("--produce", action="store_true", help="also produce the chunks to Kafka, as `producer` does")
    r.add_argument("--shard", default=None, help="this process's shard k/S (overrides PRODUCER_SHARD)")
    r.set_defaults(handler="producers.commands:record")

    y = sub.add_parser("replay", help="feed a recorded file into Kafka, then send the final chunks",
                       description="Stream FILE (JSON Lines, .gz allowed; one poll in memory at a time), normalise, "
                                   "de-duplicate and cut every poll into chunks exactly as live polling does, produce "
                                   "them to twitch.streams, and end with one final chunk per chunk key so every "
                                   "window closes.",
                       formatter_class=Formatter)
    y.add_argument("file", type=Path, metavar="FILE", help="a recording made by `record`")
    y.add_argument("--speed", type=float, default=None,
                   help="replay at this many times the recorded pace (default: as fast as possible)")
    y.add_argument("--shard", default=None, help="producer shard used for poll ids and the chunks' producer name (k/S)")
    y.set_defaults(handler="producers.commands:replay")
