"""`twitch-pulse run`: the whole pipeline locally on the embedded defaults, in one terminal."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from pulse.settings import load_settings
from sinks.choice import chosen
from sinks.dialect import sql

from .cli import broker, warehouse
from .models_job import ModelsJob
from .pipeline import WORKERS_WITH_METRICS, LocalPipeline
from .service import ServiceError, port_open


def _dashboard(settings: Any) -> str:
    """Latest window's top games and channels, and the latest alerts, from the warehouse
    (Snowflake SQL, transpiled for BigQuery by `sinks.dialect`)."""
    conn = chosen(settings).connect(settings)

    def execute(text: str, params: Any = None) -> None:
        cur.execute(sql(text, settings.warehouse), params)

    try:
        cur = conn.cursor()
        execute("SELECT COUNT(*) FROM STREAM_LOGS")
        raw = cur.fetchone()[0]
        # the newest window may still be loading; the one before it is complete
        execute("SELECT DISTINCT WINDOW_START FROM GAME_WINDOWS ORDER BY WINDOW_START DESC LIMIT 2")
        windows = [row[0] for row in cur.fetchall()]
        lines = [f"raw events in STREAM_LOGS: {raw:,}; windows in GAME_WINDOWS: {len(windows)}{'+' if len(windows) == 2 else ''}"]
        if not windows:
            return "\n".join(lines + ["no window closed yet (the first closes one poll after its end)"])
        latest = windows[-1]
        lines.append(f"latest complete window: {latest:%Y-%m-%d %H:%M} UTC (simulated time)")
        execute("SELECT RANK, GAME_NAME, WATCH_HOURS, PEAK_VIEWERS, UNIQUE_CHANNELS FROM GAME_WINDOWS "
                "WHERE WINDOW_START = %(latest)s ORDER BY RANK, GAME_ID LIMIT 5", {"latest": latest})
        lines.append(f"  {'#':>3} {'top games':<28}{'watch h':>10}{'peak':>9}{'channels':>10}")
        for rank, name, wh, peak, uc in cur.fetchall():
            lines.append(f"  {rank:>3} {(name or '(no category)')[:27]:<28}{wh:>10.1f}{peak:>9,}{uc:>10,}")
        execute("SELECT RANK, USER_NAME, GAME_NAME, WATCH_HOURS, PEAK_VIEWERS FROM CHANNEL_WINDOWS "
                "WHERE WINDOW_START = %(latest)s ORDER BY RANK, USER_ID LIMIT 5", {"latest": latest})
        lines.append(f"  {'#':>3} {'top channels':<20}{'game':<18}{'watch h':>10}{'peak':>9}")
        for rank, user, game, wh, peak in cur.fetchall():
            lines.append(f"  {rank:>3} {user[:19]:<20}{(game or '')[:17]:<18}{wh:>10.1f}{peak:>9,}")
        execute("SELECT CAPTURED_AT, KIND, SUBJECT_NAME, VIEWERS FROM ALERTS ORDER BY CAPTURED_AT DESC LIMIT 5")
        alerts = cur.fetchall()
        lines.append("latest alerts:" if alerts else "no alerts yet")
        for at, kind, who, viewers in alerts:
            lines.append(f"  {at:%H:%M} {kind:<11}{who[:30]:<31}{viewers:>9,} viewers")
        return "\n".join(lines)
    finally:
        conn.close()


def _models_board(settings: Any, last: str) -> str:
    """The dbt models' latest day: top games with rank change, the language split, and the
    latest ended broadcasts (read from the models, so as fresh as the last build)."""
    lines = [last]
    try:
        conn = chosen(settings).connect(settings)
    except Exception as exc:
        return f"{last}\n  (warehouse: {type(exc).__name__})"
    try:
        cur = conn.cursor()
        cur.execute("SELECT MAX(PERIOD_START) FROM GAME_DAILY")
        (day,) = cur.fetchone()
        if day is None:
            return last
        cur.execute("SELECT RANK, GAME_NAME, WATCH_HOURS, RANK_CHANGE FROM GAME_DAILY WHERE PERIOD_START = %s "
                    "ORDER BY RANK, GAME_ID LIMIT 3", (day,))
        games = [f"#{rank} {(name or '(no category)')[:22]} {wh:,.0f} h {_change(change)}"
                 for rank, name, wh, change in cur.fetchall()]
        lines.append(f"  {day:%Y-%m-%d} (UTC day) top games: " + "; ".join(games))
        cur.execute("SELECT LANGUAGE, WATCH_HOURS / NULLIF(SUM(WATCH_HOURS) OVER (), 0) FROM LANGUAGE_DAILY "
                    "WHERE PERIOD_START = %s ORDER BY RANK, LANGUAGE LIMIT 5", (day,))
        split = ", ".join(f"{lang} {share:.0%}" for lang, share in cur.fetchall() if share is not None)
        lines.append("  languages: " + (split or "(no LANGUAGE_WINDOWS rows yet)"))
        cur.execute("SELECT USER_NAME, STARTED_AT, LAST_SEEN, AVG_VIEWERS FROM BROADCASTS WHERE ENDED "
                    "ORDER BY LAST_SEEN DESC, STREAM_ID LIMIT 3")
        for name, start, end, avg in cur.fetchall():
            lines.append(f"  ended broadcast: {name[:20]:<21}{start:%m-%d %H:%M}-{end:%H:%M}  avg {avg or 0:,.0f} viewers")
    except Exception as exc:  # the models appear with the first build
        lines.append(f"  (models not readable yet: {type(exc).__name__})")
    finally:
        conn.close()
    return "\n".join(lines)


def _change(change: Any) -> str:
    return "new" if change is None else ("=" if change == 0 else f"{'▲' if change > 0 else '▼'}{abs(change)}")


def _clock_anchor(run_dir: Path, speed: float) -> str:
    """The accelerated clock's anchor, kept across runs so simulated time keeps moving forward:
    a new anchor would restart it at 'now', behind the windows the local state already closed."""
    path = run_dir / "clock-anchor"
    try:
        anchor, old_speed = path.read_text().split()
        if float(old_speed) == speed:
            return anchor
        print(f"clock speed changed from {old_speed} to {speed:g}: simulated time restarts; earlier local "
              f"state will see the new data as late (`make clean` starts afresh)", file=sys.stderr)
    except (OSError, ValueError):
        pass
    run_dir.mkdir(parents=True, exist_ok=True)
    anchor = f"{time.time():.3f}"
    path.write_text(f"{anchor} {speed:g}\n")
    return anchor


_STOP_ASKED = threading.Event()


def _stop_asked(signum: int, frame: Any) -> None:
    """Remember the signal, then interrupt like Ctrl-C. The flag is what `_supervise` obeys: the
    KeyboardInterrupt lands wherever the main thread is, and code there (a connector's retry
    loop, say) may swallow it; the flag cannot be lost."""
    _STOP_ASKED.set()
    raise KeyboardInterrupt


def _stop_like_ctrl_c() -> None:
    """SIGTERM (a service manager, `kill`, a container runtime) and SIGHUP (the terminal closed)
    stop `run` the way Ctrl-C does: the workers run in their own sessions, so only `run` can
    stop them, and it must not die before it has. SIGINT too, explicitly: started in the
    background by a shell without job control (`make run &` in a script), it begins ignored,
    and Python then leaves it so: `kill -INT` did nothing."""
    _STOP_ASKED.clear()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_asked)


def _ignore_stop_signals() -> None:
    """While the workers stop, a second signal must not cut that short (the stop is bounded: a
    worker still running after the timeout is killed)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def _check_metrics_ports(first: int) -> None:
    for offset, name in enumerate(WORKERS_WITH_METRICS):
        if port_open("127.0.0.1", first + offset):
            raise ServiceError(f"run: metrics port {first + offset} ({name}) is taken; pass --first-metrics-port PORT "
                               f"(the workers use PORT to PORT+{len(WORKERS_WITH_METRICS) - 1})")


def run_command(args: argparse.Namespace) -> int:
    _stop_like_ctrl_c()
    os.environ.setdefault("CLOCK_SPEED", str(args.speed))
    os.environ.setdefault("CLOCK_ANCHOR", _clock_anchor(args.run_dir, float(os.environ["CLOCK_SPEED"])))
    settings = load_settings(kafka_bootstrap=f"127.0.0.1:{args.kafka_port}", snowflake_port=args.warehouse_port,
                             warehouse=args.warehouse, bigquery_port=args.bigquery_port, state_dir=args.run_dir / "state")
    local = settings.bigquery.uses_local if settings.warehouse == "bigquery" else settings.snowflake.uses_local
    if not local or settings.kafka.key.get_secret_value():
        print("twitch-pulse run uses the local stack; unset SNOWFLAKE_ACCOUNT (BIGQUERY_PROJECT with WAREHOUSE=bigquery) "
              "and KAFKA_KEY, or run the workers one by one (see --help of each)", file=sys.stderr)
        return 2
    if args.dashboard_port and port_open("127.0.0.1", args.dashboard_port):
        raise ServiceError(f"dashboard: port {args.dashboard_port} is taken; pass --dashboard-port PORT "
                           f"(or 0 to run without the dashboard)")
    _check_metrics_ports(args.first_metrics_port)
    pipeline = LocalPipeline(settings, args.run_dir, simulator_port=args.simulator_port, channels=args.channels,
                             first_metrics_port=args.first_metrics_port, dashboard_port=args.dashboard_port or None)
    models: Optional[ModelsJob] = None
    code = 0
    try:
        for part in (broker(args), warehouse(args)):
            part.start()
            print(part.status(), flush=True)
        pipeline.start()
        _announce(pipeline, settings, args)
        models = ModelsJob(settings, pipeline.log_dir, args.models_every) if args.models_every > 0 else None
        _supervise(pipeline, settings, args, models)
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"twitch-pulse: {exc}", file=sys.stderr)
        code = 1
    finally:
        _ignore_stop_signals()
        if any(worker.proc is not None for worker in pipeline.workers):
            print("stopping the workers (the local Kafka and warehouse keep running; `make stop` stops them) ...",
                  flush=True)
        if models is not None:
            models.stop()
        codes = pipeline.stop()
    # -SIGTERM: a worker that got the signal before it could install its handler (still starting)
    bad = {name: rc for name, rc in codes.items() if rc not in (0, -signal.SIGINT, -signal.SIGTERM, 130)}
    if bad and not code:
        print(f"workers that did not stop cleanly: {bad}", file=sys.stderr)
        return 1
    return code


def _board(settings: Any, models: Optional[ModelsJob]) -> str:
    try:
        board = _dashboard(settings)
    except Exception as exc:  # tables appear once the sinks have bootstrapped
        board = f"waiting for the warehouse ({type(exc).__name__})"
    if models is not None:
        board += "\n" + _models_board(settings, models.last)
    return board


class ConsoleBoard:
    """The console board, built in a helper thread. In the main thread the Snowflake connector
    swaps the SIGINT handler for each query for one that first cancels the query, and against a
    warehouse that stopped answering that cancel retries for minutes: Ctrl-C would not stop
    `run`. Off the main thread the connector cannot touch signal handlers."""

    def __init__(self, settings: Any, models: Optional[ModelsJob]) -> None:
        self.settings, self.models = settings, models
        self._thread: Optional[threading.Thread] = None
        self._board: Optional[str] = None

    def _build(self) -> None:
        self._board = _board(self.settings, self.models)

    def refresh(self, timeout: float) -> str:
        """A fresh board, or a line saying the warehouse is slow after `timeout` seconds (the
        build goes on, and the next refresh waits for it); returns early on a stop request."""
        if self._thread is None or not self._thread.is_alive():
            self._board = None
            self._thread = threading.Thread(target=self._build, name="console-board", daemon=True)
            self._thread.start()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            if _STOP_ASKED.wait(0.2):
                break
        if self._board is None:
            return f"(the warehouse has not answered for {timeout:.0f} s)"
        return self._board


def _announce(pipeline: LocalPipeline, settings: Any, args: argparse.Namespace) -> None:
    ports = pipeline.metrics_ports
    print(f"pipeline running: simulator at {pipeline.helix_url} ({args.channels:,} channels, clock x{settings.producer.clock_speed:g}: "
          f"a {settings.processor.window_seconds // 60}-minute window every {settings.processor.window_seconds / settings.producer.clock_speed:.0f} s); "
          f"worker logs in {pipeline.log_dir}; metrics on ports {min(ports)}-{max(ports)}. Ctrl-C stops.", flush=True)
    if pipeline.dashboard_url:
        print(f"dashboard: open {pipeline.dashboard_url} (charts fill in as windows close)", flush=True)


def _supervise(pipeline: LocalPipeline, settings: Any, args: argparse.Namespace, models: Optional[ModelsJob]) -> None:
    """Restart crashed workers, build the models when due and print the console board, until
    the duration ends (or a signal, or a worker that crashes too often)."""
    started = time.monotonic()
    say = lambda line: print(f"[run] {line}", flush=True)  # noqa: E731
    console = ConsoleBoard(settings, models)
    while not args.duration or time.monotonic() - started < args.duration:
        refresh_at = time.monotonic() + args.refresh
        while time.monotonic() < refresh_at:  # supervise the workers every half second
            if _STOP_ASKED.wait(0.5):
                return
            pipeline.supervise(say=say)
            if models is not None:
                models.poll(say=say)
        if _STOP_ASKED.is_set():
            return
        board = console.refresh(timeout=args.refresh)
        if _STOP_ASKED.is_set():
            return
        print(f"\n--- {time.strftime('%H:%M:%S')} (+{time.monotonic() - started:.0f}s) ---\n{board}", flush=True)
