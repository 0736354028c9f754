"""The `models` command's handler: check the warehouse, run dbt, one line at the end."""

from __future__ import annotations

import argparse
import sys
import time

from pulse.cli import CommandError
from pulse.metrics import start_metrics_server
from pulse.settings import Settings, load_settings

from .metrics import BUILD_SECONDS, BUILDS, LAST_SUCCESS
from .preflight import WarehouseNotReady, check_warehouse
from .runner import DbtMissing, dbt_executable, project_dir, run_dbt


UNHEALTHY_AFTER = 3  # failed builds in a row before /healthz says so


def dbt_arguments(args: argparse.Namespace) -> list[str]:
    if args.action == "build":
        argv = ["build"]
        for flag, specs in (("--select", args.select), ("--exclude", args.exclude)):
            if specs:
                argv += [flag, *specs]
        return argv + (["--full-refresh"] if args.full_refresh else [])
    if args.action == "freshness":
        return ["source", "freshness"]
    dbt_args = [a for a in args.dbt_args if a != "--"] if args.dbt_args[:1] == ["--"] else list(args.dbt_args)
    if not dbt_args:
        raise CommandError("models dbt: name a dbt command, e.g. `twitch-pulse models dbt debug`")
    return dbt_args


def models(args: argparse.Namespace) -> int:
    settings = load_settings()
    argv = dbt_arguments(args)
    quiet = getattr(args, "quiet", False)
    try:
        dbt_executable(settings), project_dir(settings)  # what is wrong here first: they cost nothing to check
    except DbtMissing as exc:
        raise CommandError(str(exc)) from None
    every = getattr(args, "every", 0)
    if not every:
        return _once(settings, argv, quiet)
    return _schedule(settings, argv, quiet, every)


def _once(settings: Settings, argv: list[str], quiet: bool) -> int:
    """One dbt run after the warehouse check; its summary line; 0 or 1."""
    try:
        check_warehouse(settings)
        outcome = run_dbt(settings, argv, say=(lambda line: None) if quiet else (lambda line: print(line, flush=True)))
    except (WarehouseNotReady, DbtMissing) as exc:
        raise CommandError(str(exc)) from None
    print(f"twitch-pulse: {outcome.summary}", file=sys.stdout if outcome.code == 0 else sys.stderr, flush=True)
    BUILD_SECONDS.observe(outcome.seconds)
    return 0 if outcome.code == 0 else 1


def _schedule(settings: Settings, argv: list[str], quiet: bool, every: float) -> int:
    """Build every `every` seconds until SIGTERM (which ends a build or the wait: exit 0), with
    /metrics and /healthz on METRICS_PORT: unhealthy once UNHEALTHY_AFTER builds in a row failed."""
    failures: list[str] = []

    def health() -> tuple[bool, str]:
        if len(failures) >= UNHEALTHY_AFTER:
            return False, f"{len(failures)} builds in a row failed, the last: {failures[-1]}"
        return True, "ok"

    server = start_metrics_server(settings.metrics_port, health)
    try:
        while True:
            started = time.monotonic()
            try:
                ok = _once(settings, argv, quiet) == 0
                reason = "dbt build failed (see above)"
            except CommandError as exc:  # the warehouse is away: try again at the next turn
                print(f"twitch-pulse: {exc}; next build in {every:.0f} s", file=sys.stderr, flush=True)
                ok, reason = False, str(exc)
            BUILDS.labels(result="success" if ok else "failure").inc()
            if ok:
                LAST_SUCCESS.set_to_current_time()
                failures.clear()
            else:
                failures.append(reason)
            time.sleep(max(0.0, every - (time.monotonic() - started)))
    finally:
        if server is not None:
            server.stop()
