"""Where a command's CPU goes, by kind of process: `python -m bench.suite_cpu -- make test`.

The test suite keeps a 2-core machine busy, so it gets faster only by doing less; this says which
of the parts it starts (brokers, fakesnow, dbt, the workers, Chromium, ...) did the work. Every
process's CPU time is sampled twice a second while the command runs: a process that ends between
two samples loses at most its last half second, one that lived less than that is not seen, so the
kinds add up to a little less than the machine's busy time, printed beside them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import defaultdict

import psutil

SAMPLE_SECONDS = 0.5
# (what the command line contains, the kind it is counted as): the first match wins
KINDS = (
    ("bench.suite_cpu", "this sampler"), ("kafka.Kafka", "Kafka brokers"), ("fakesnow_server", "fakesnow"),
    ("bqemulator", "bqemulator"),
    ("dbt", "dbt"), ("chrom", "Chromium"), ("pulse dashboard", "dashboards (Streamlit)"),
    ("exec(eval(sys.stdin", "pytest workers"), ("pytest", "pytest"), ("pulse.cli", "workers (twitch-pulse)"),
    ("-m pulse", "workers (twitch-pulse)"), ("twitch-pulse", "workers (twitch-pulse)"), ("prometheus", "Prometheus"),
    ("java", "other JVMs"),
)


def kind(cmdline: str) -> str:
    return next((name for pattern, name in KINDS if pattern in cmdline), "other")


def busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def measure(argv: list[str]) -> tuple[int, float, float, dict[str, tuple[float, int]]]:
    """Runs `argv`; returns its exit code, wall seconds, the machine's busy CPU-s, and per kind
    (CPU-s, processes) for every process that ran meanwhile: one already running counts from its
    first sample, one started meanwhile from its start."""
    first: dict[tuple[int, float], float] = {}
    last: dict[tuple[int, float], tuple[str, float]] = {}
    busy, started, started_at = busy_seconds(), time.monotonic(), time.time()
    proc = subprocess.Popen(argv)
    while True:
        for p in psutil.process_iter(["cmdline", "create_time", "cpu_times"]):
            try:
                times, key = p.info["cpu_times"], (p.pid, p.info["create_time"])
                cpu = times.user + times.system
            except (psutil.Error, TypeError, AttributeError):
                continue
            first.setdefault(key, cpu if key[1] < started_at else 0.0)
            # a process that has ended but is not yet reaped (a zombie) shows no command line:
            # keep the one seen while it ran, or it would be counted as "other"
            cmdline = " ".join(p.info["cmdline"] or []) or last.get(key, ("", 0.0))[0]
            last[key] = (cmdline, cpu)
        if proc.poll() is not None:
            break
        time.sleep(SAMPLE_SECONDS)
    totals: dict[str, tuple[float, int]] = defaultdict(lambda: (0.0, 0))
    for key, (cmdline, cpu) in last.items():
        if cpu > first[key]:
            spent, count = totals[kind(cmdline)]
            totals[kind(cmdline)] = (spent + cpu - first[key], count + 1)
    return proc.returncode, time.monotonic() - started, busy_seconds() - busy, dict(totals)


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suite_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    argv = [a for a in parser.parse_args(args).command if a != "--"] or parser.error("a command to run, after --")
    code, wall, busy, kinds = measure(argv)
    print(f"\n{' '.join(argv)}: exit {code}, {wall:.0f} s; the machine busy {busy:.0f} of "
          f"{wall * psutil.cpu_count():.0f} CPU-s", file=sys.stderr)
    for name, (cpu, count) in sorted(kinds.items(), key=lambda item: -item[1][0]):
        print(f"{cpu:9.1f} CPU-s  {count:5d} processes  {name}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
