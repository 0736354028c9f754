"""`twitch-pulse dashboard`: serve the viewership dashboard (a Streamlit app) over the warehouse."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devstack.service import ServiceError, port_open
from pulse.cli import Formatter
from pulse.settings import load_settings

from . import REFRESH_ENV

APP = Path(__file__).with_name("app.py")


def streamlit_argv(port: int, address: str) -> list[str]:
    """`streamlit run` for the app: headless, no usage statistics, no file watcher."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", address, "--server.headless", "true",
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer"]


def _dashboard(args: argparse.Namespace) -> int:
    settings = load_settings()  # a bad setting stops here with one line, not inside the page
    if args.refresh < 0:
        print("twitch-pulse: --refresh: must be 0 (off) or a number of seconds", file=sys.stderr)
        return 2
    if port_open(args.address if args.address not in ("0.0.0.0", "") else "127.0.0.1", args.port):
        raise ServiceError(f"dashboard: port {args.address}:{args.port} is taken; choose another with --port")
    where = settings.snowflake.account or f"local warehouse {settings.snowflake.host}:{settings.snowflake.port}"
    print(f"dashboard at http://{args.address}:{args.port} reading {settings.snowflake.database}."
          f"{settings.snowflake.schema_name} ({where}); Ctrl-C stops", flush=True)
    env = {**os.environ, **settings.as_env(), REFRESH_ENV: f"{args.refresh:g}"}
    argv = streamlit_argv(args.port, args.address)
    os.execve(argv[0], argv, env)  # Streamlit takes over this process: signals reach it directly
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard", help="serve the viewership dashboard (Streamlit) over the warehouse",
        description=(
            "Serve the viewership dashboard: Overview (latest complete window's top games and channels,\n"
            "platform hourly/daily totals), Game, Channel and Alerts pages. It reads only the warehouse\n"
            "(GAME_WINDOWS, CHANNEL_WINDOWS, GAME_TOP_CHANNELS, ALERTS and the rollup views) with the\n"
            "sinks' connection settings, so it works on Snowflake and on the local fakesnow server."),
        formatter_class=Formatter)
    p.add_argument("--port", type=int, default=os.environ.get("DASHBOARD_PORT", "8501"),
                   help="HTTP port (env DASHBOARD_PORT)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--refresh", type=float, default=15.0,
                   help="seconds between automatic refreshes of a page's data (0 = off)")
    p.set_defaults(handler=_dashboard)
