"""The `models` command's handler: check the warehouse, run dbt, one line at the end."""

from __future__ import annotations

import argparse
import sys

from pulse.cli import CommandError
from pulse.settings import load_settings

from .preflight import WarehouseNotReady, check_warehouse
from .runner import DbtMissing, dbt_executable, project_dir, run_dbt


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
    try:
        dbt_executable(settings), project_dir(settings)  # what is wrong here first: they cost nothing to check
        check_warehouse(settings)
        outcome = run_dbt(settings, argv, say=lambda line: print(line, flush=True))
    except (WarehouseNotReady, DbtMissing) as exc:
        raise CommandError(str(exc)) from None
    print(f"twitch-pulse: {outcome.summary}", file=sys.stdout if outcome.code == 0 else sys.stderr, flush=True)
    return 0 if outcome.code == 0 else 1
