"""Producer benchmark: a full sweep of 120k simulated streams, and replay throughput into Kafka.

    .venv/bin/python -m bench.producer_bench [--channels 120000] [--polls 5]

- The Helix simulator runs as its own process (`twitch-pulse simulate --frozen`), with the
  real rate limit of 800 points a minute per client id, at real-time speed.
- Each sweep runs in a fresh child process so its peak RSS is its own:
  one credential = one plain cursor chain (Helix's own order), two credentials = the
  language split dealt over both, 4 chains in parallel.
- Replay: recordings of the population (gzip JSONL, `--polls` polls and four times as many)
  are written, then each is replayed as fast as possible into Kafka (KAFKA_BOOTSTRAP,
  default the test broker 127.0.0.1:39092) under a throw-away topic prefix, in a fresh child
  process whose peak RSS (VmHWM) is its own: bounded memory means the same peak for both
  lengths. events/s include reading and gunzipping the file, de-duplication, normalisation,
  cutting into schema v2 chunks, produce (lz4), the per-poll flush and delivery checks, and
  the final chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.machine import peak_rss_mib
from devstack.service import free_port

ROOT = Path(__file__).resolve().parents[1]


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM), in MiB."""
    peak = peak_rss_mib()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sweep_once(url: str, credentials: int, split: str) -> dict:
    """Child process: one full sweep; prints requests, seconds, streams, peak RSS."""
    from pydantic import SecretStr

    from producers.helix import HelixClient
    from producers.sharding import Shard, plan
    from producers.sweep import dedupe, sweep
    from pulse.clock import Clock

    clock = Clock()
    clients = [HelixClient(f"bench-{credentials}-{i}", SecretStr(f"bench-secret-{i}"), f"{url}/helix", f"{url}/oauth2", clock,
                           name=str(i), reserve=3) for i in range(credentials)]
    for c in clients:
        c.validate()
    queries = plan(Shard(), split=split, credentials=credentials, concurrency=4)
    before = httpx.get(f"{url}/admin/state").json()["helix_requests"]
    began = time.monotonic()
    result = sweep(clients, queries, concurrency=4)
    events = dedupe(result.streams)
    seconds = time.monotonic() - began
    after = httpx.get(f"{url}/admin/state").json()
    return {"credentials": credentials, "chains": len(queries), "requests": after["helix_requests"] - before,
            "seconds": round(seconds, 1), "streams": len(events.streams), "duplicates": events.duplicates,
            "complete": result.complete, "peak_mb": round(_peak_mb()), "http_429": after["stats"].get("http_429", 0)}


def write_recording(path: Path, channels: int, polls: int) -> None:
    """A recording of `polls` consecutive polls of a population of `channels` live streams."""
    from devstack.population import Population, Snapshot
    from producers.recording import Recorder

    pop = Population(channels=channels, games=3000, seed=1, start=1_700_000_000)
    recorder = Recorder(path)
    for i in range(polls):
        t = 1_700_000_000 - 1_700_000_000 % 60 + 60 * i
        recorder.write(t * 1000, [Snapshot.as_helix(r) for r in pop.snapshot(t).rows])
    recorder.close()


def replay_bench(path: Path) -> dict:
    """Child process: replay `path` into fresh topics; events/s and this process's peak RSS."""
    from producers.replay import replay
    from pulse.settings import load_settings

    settings = load_settings(kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:39092"),
                             topic_prefix=f"bench{uuid.uuid4().hex[:6]}.", metrics_port=0)
    before = _peak_mb()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    report = replay(settings, path)
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime  # every thread, librdkafka's too
    return {"cpu_seconds": round(cpu_seconds, 1), "events_per_cpu_s": round(report.events / cpu_seconds),
            "polls": report.polls, "events": report.events, "seconds": round(report.seconds, 1),
            "events_per_s": round(report.events_per_second), "file_mb": round(path.stat().st_size / 2**20, 1),
            "peak_mb": round(_peak_mb()), "start_mb": round(before), "undelivered": report.undelivered,
            "topic_prefix": settings.topics.prefix}


def replay_rows(channels: int, polls: int, env: dict) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (polls, 4 * polls):
            path = Path(tmp) / f"bench-{n}.jsonl.gz"
            subprocess.run([sys.executable, "-m", "bench.producer_bench", "--write-recording", str(path),
                            "--channels", str(channels), "--polls", str(n)], cwd=ROOT, env=env, check=True)
            out = subprocess.run([sys.executable, "-m", "bench.producer_bench", "--replay-child", str(path)],
                                 cwd=ROOT, env=env, capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else str(out.returncode))
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            path.unlink()
    return rows


def print_replay(rows: list[dict]) -> None:
    print(f"\n{'replay':<16}{'polls':>8}{'events':>10}{'seconds':>9}{'events/s':>10}{'CPU s':>8}"
          f"{'events/CPU-s':>14}{'file MB':>9}{'peak RSS MB':>13}")
    for r in rows:
        print(f"{'gzip JSONL':<16}{r['polls']:>8}{r['events']:>10}{r['seconds']:>9}{r['events_per_s']:>10}"
              f"{r['cpu_seconds']:>8}{r['events_per_cpu_s']:>14}{r['file_mb']:>9}{r['peak_mb']:>13}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=120_000)
    parser.add_argument("--polls", type=int, default=5, help="polls in the replay recording")
    parser.add_argument("--child", nargs=3, metavar=("URL", "CREDENTIALS", "SPLIT"), help=argparse.SUPPRESS)
    parser.add_argument("--replay-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write-recording", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--replay-only", action="store_true", help="skip the sweeps")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(sweep_once(args.child[0], int(args.child[1]), args.child[2])))
        return 0
    if args.replay_child:
        print(json.dumps(replay_bench(args.replay_child)))
        return 0
    if args.write_recording:
        write_recording(args.write_recording, args.channels, args.polls)
        return 0

    import logging

    logging.basicConfig(level=logging.WARNING)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "LOG_LEVEL": "WARNING"}
    if args.replay_only:
        print_replay(replay_rows(args.channels, args.polls, env))
        return 0
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "pulse", "simulate", "--port", str(port), "--channels",
                            str(args.channels), "--games", "3000", "--frozen", "--speed", "1"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                live = httpx.get(f"{url}/admin/state", timeout=60).json()["live"]
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or sim.poll() is not None:
                    raise SystemExit("simulator did not start")
                time.sleep(0.3)
        print(f"simulator: {live} live streams, rate limit 800/min per client id, real-time clock\n")
        rows = []
        for credentials, split in ((1, "none"), (2, "auto")):
            out = subprocess.run([sys.executable, "-m", "bench.producer_bench", "--child", url, str(credentials),
                                  split], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        sim.terminate()
        sim.wait(30)
    print(f"{'full sweep':<16}{'chains':>8}{'requests':>10}{'seconds':>9}{'streams':>9}{'dups':>6}"
          f"{'429s':>6}{'peak MB':>9}")
    for r in rows:
        label = f"{r['credentials']} credential" + ("s" if r["credentials"] > 1 else "")
        print(f"{label:<16}{r['chains']:>8}{r['requests']:>10}{r['seconds']:>9}{r['streams']:>9}"
              f"{r['duplicates']:>6}{r['http_429']:>6}{r['peak_mb']:>9}")
    if not args.skip_replay:
        try:
            print_replay(replay_rows(args.channels, args.polls, env))
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"\nreplay skipped: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
