"""Processor failover: how long windows stop coming out after a processor is SIGKILLed.

Polls of `--channels` channels go in one per `--pace` real seconds (60 s of event time each,
10-minute windows), so a window closes every 10 polls. A processor is SIGKILLed right after a
window came out, and the bench reports the time from the kill to the next window's rows
(committed) on the output topic, in two cases:

(a) restarted in place: a new process with the same PROCESSOR_INSTANCE_ID (a container
    restart, a StatefulSet pod): static membership gives it its partitions back at once and
    its transactional.id fences the dead one's open transaction;
(b) gone for good: a second replica (another instance id) already runs in the group and takes
    the partitions over after PROCESSOR_SESSION_TIMEOUT_MS.

Without a kill a window comes out every 10 polls, so the figure to compare with is the
window cadence (10 x pace). Needs a local broker (BENCH_KAFKA=host:port).

    .venv/bin/python -m bench.failover_bench [--channels 2000] [--pace 1]
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.scale_bench import Outputs, send_polls, settings_for, start_processor
from pulse import topics
from pulse.kafka import ensure_topics


def windows_out(outputs: Outputs) -> set[str]:
    return {key.split("|", 1)[0] for key in list(outputs.rows[topics.WINDOWS_GAMES])}


def case(name: str, channels: int, pace: float, replace_in_place: bool) -> float:
    run = uuid.uuid4().hex[:8]
    settings = settings_for(run, 2, 600)
    ensure_topics(settings, [settings.topic(n) for n in topics.ALL])
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 600_000
    logs = Path(tempfile.gettempdir())
    procs = [start_processor(settings, logs / f"pulse-failover-{run}-0.log", "0")]
    if not replace_in_place:
        procs.append(start_processor(settings, logs / f"pulse-failover-{run}-1.log", "1"))
    outputs = Outputs(settings)
    outputs.start()
    sender = threading.Thread(target=send_polls, args=(settings, channels, 60, pace, t0, 60_000), daemon=True)
    sender.start()
    try:
        while len(windows_out(outputs)) < 2:  # steady state: two windows out
            time.sleep(0.1)
        seen = windows_out(outputs)
        procs[0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        procs[0].wait(10)
        if replace_in_place:
            procs[0] = start_processor(settings, logs / f"pulse-failover-{run}-0b.log", "0")
        while not windows_out(outputs) - seen:
            if time.monotonic() - killed > 300:
                raise SystemExit(f"{name}: no window within 300 s of the kill")
            time.sleep(0.1)
        gap = time.monotonic() - killed
        print(f"{name:<58}{gap:>8.1f} s  (next window {sorted(windows_out(outputs) - seen)[0]})", flush=True)
        return gap
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(60)
        outputs.stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=2000)
    parser.add_argument("--pace", type=float, default=1.0, help="real seconds between polls")
    args = parser.parse_args()
    print(f"{args.channels} channels, a poll every {args.pace:g} s: a window every {10 * args.pace:g} s normally")
    print(f"{'case':<58}{'kill -> next window out':>24}")
    case("(a) SIGKILL, restarted in place (same instance id)", args.channels, args.pace, True)
    case("(b) SIGKILL, never back; the other replica takes over", args.channels, args.pace, False)


if __name__ == "__main__":
    main()
