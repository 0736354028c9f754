"""`twitch-pulse dashboard`: serve the viewership dashboard (a Streamlit app) over the warehouse."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

from devstack.service import ServiceError, port_open
from pulse.cli import Formatter
from pulse.logs import setup_logging
from pulse.settings import Settings, load_settings

from . import REFRESH_ENV, TIMEOUT_ENV

APP = Path(__file__).with_name("app.py")
# Imported before the server starts: Streamlit imports a page's modules on its first run, and
# these take 1-3 s, which the first viewer of a fresh server would wait for (issue 20, defect 12).
# The standard library's html first: Streamlit puts the app's folder (dashboard/) at the head of
# sys.path, where our html.py would shadow it for a module imported later (starlette's server).
PRELOAD = ("html", "pandas", "pyarrow", "altair")
PRELOAD_SNOWFLAKE = ("snowflake.connector",)
PRELOAD_BIGQUERY = ("google.cloud.bigquery", "sqlglot")


def reading(settings: Settings) -> str:
    """What the dashboard reads, for its first line: the schema and where the warehouse is."""
    if settings.warehouse == "bigquery":
        bq = settings.bigquery
        where = f"local bqemulator {bq.host}:{bq.port}" if bq.uses_local else f"project {bq.project}"
        return f"BigQuery dataset {bq.dataset} ({where})"
    where = settings.snowflake.account or f"local warehouse {settings.snowflake.host}:{settings.snowflake.port}"
    return f"{settings.snowflake.database}.{settings.snowflake.schema_name} ({where})"

log = logging.getLogger(__name__)


def streamlit_args(port: int, address: str) -> list[str]:
    """`streamlit run` for the app: headless, no usage statistics, no file watcher."""
    return ["run", str(APP), "--server.port", str(port), "--server.address", address, "--server.headless", "true",
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer", "--server.scriptHealthCheckEnabled", "true"]


def warm_up(base: str, timeout: float = 120) -> None:
    """Once the server answers, run the app's script once without a browser (Streamlit's script
    health check): it opens the warehouse connection, starts the background check and reads
    the overview's default snapshot into the cache, so the first viewer of a fresh server does
    not wait for any of it (issue 20, defect 12). A failure only means a slower first view."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{base}/_stcore/script-health-check", timeout=timeout) as answer:
            answer.read()
        log.info("dashboard: warmed up in %.1f s (the overview's first view reads from the cache)",
                 time.monotonic() - started)
    except OSError as exc:
        log.warning("dashboard: warm-up run failed (%s); the first view reads the warehouse itself", exc)


def _dashboard(args: argparse.Namespace) -> int:
    settings = load_settings()  # a bad setting stops here with one line, not inside the page
    if args.refresh < 0:
        print("twitch-pulse: --refresh: must be 0 (off) or a number of seconds", file=sys.stderr)
        return 2
    if args.timeout < 1:
        print("twitch-pulse: --timeout: must be at least 1 second", file=sys.stderr)
        return 2
    if port_open(args.address if args.address not in ("0.0.0.0", "") else "127.0.0.1", args.port):
        raise ServiceError(f"dashboard: port {args.address}:{args.port} is taken; choose another with --port")
    print(f"dashboard at http://{args.address}:{args.port} reading {reading(settings)}; Ctrl-C stops", flush=True)
    os.environ.update({**settings.as_env(), REFRESH_ENV: f"{args.refresh:g}", TIMEOUT_ENV: f"{args.timeout:g}"})
    setup_logging(settings.log_level, settings.secret_values, settings.log_format)
    for module in PRELOAD + (PRELOAD_BIGQUERY if settings.warehouse == "bigquery" else PRELOAD_SNOWFLAKE):
        importlib.import_module(module)
    from streamlit.web import cli as streamlit_cli  # Streamlit installs its own signal handlers

    local = "127.0.0.1" if args.address in ("0.0.0.0", "") else args.address
    threading.Thread(target=warm_up, args=(f"http://{local}:{args.port}",), name="warm-up", daemon=True).start()
    streamlit_cli.main(args=streamlit_args(args.port, args.address), prog_name="streamlit")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard", help="serve the viewership dashboard (Streamlit) over the warehouse",
        description=(
            "Serve the viewership dashboard: Overview (latest complete window's top games and channels,\n"
            "the top five games over time, platform hourly/daily totals), Game, Channel and Alerts pages.\n"
            "It reads only the warehouse (GAME_WINDOWS, CHANNEL_WINDOWS, GAME_TOP_CHANNELS, ALERTS and the\n"
            "rollups) with the sinks' connection settings, so it works on Snowflake, the local fakesnow\n"
            "server, BigQuery and the local bqemulator (WAREHOUSE=bigquery). Pages look for new windows\n"
            "every --refresh seconds and redraw, in one piece, when one is complete; a warehouse that does\n"
            "not answer within --timeout seconds is said on the page, which keeps its data and recovers\n"
            "by itself."),
        formatter_class=Formatter)
    p.add_argument("--port", type=int, default=os.environ.get("DASHBOARD_PORT", "8501"),
                   help="HTTP port (env DASHBOARD_PORT)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--refresh", type=float, default=os.environ.get(REFRESH_ENV, "2"),
                   help=f"seconds between looks for new data; each costs no query unless the newest windows "
                        f"changed (0 = no live updates; env {REFRESH_ENV})")
    p.add_argument("--timeout", type=float, default=os.environ.get(TIMEOUT_ENV, "3"),
                   help=f"seconds the warehouse may take to answer before a page says it does not (env {TIMEOUT_ENV})")
    p.set_defaults(handler=_dashboard)
