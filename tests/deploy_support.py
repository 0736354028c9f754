"""What the deployment tests share: the generator of quix.yaml and friends, the CLI parser,
Prometheus' folder and a wait on a condition with a live check."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from pulse.cli import build_parser, resolve

ROOT = Path(__file__).resolve().parents[1]


def _load_generator():
    spec = importlib.util.spec_from_file_location("deploy_generate", ROOT / "deploy" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["deploy_generate"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def resolves(argv: list[str]) -> argparse.Namespace:
    """argv parses with the real CLI into a command with a handler."""
    args = build_parser().parse_args(argv)
    assert callable(resolve(getattr(args, "handler", None))), argv
    return args


def dashboard_queries() -> list[str]:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/twitch-pulse.json").read_text())
    return [t["expr"] for p in dash["panels"] if p["type"] != "row" for t in p["targets"]]


PROM_DIR = ROOT / "deploy" / "prometheus"


def wait_until(what: str, check: Callable[[], Any], timeout: float, alive: Callable[[], None] = lambda: None) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        alive()
        try:
            last = check()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"{what} not reached within {timeout}s (last: {last!r})")
