"""`python -m devstack.fakesnow_server DIR`: fakesnow's HTTP server with every database on disk.

`fakesnow -s -d DIR` ignores `-d` in server mode: all sessions share one in-memory DuckDB
(`fakesnow.server.shared_fs`), so a restart loses every row. Its per-session escape hatch,
the `FAKESNOW_DB_PATH` session parameter, gives each login a DuckDB instance of its own,
so two sessions would not see each other's writes. Instead this launcher replaces the
shared instance by one whose databases are files in DIR (`<DATABASE>.db`), adds the few
Snowflake functions our views need that fakesnow lacks (`EXTRA_MACROS`), keeps
fakesnow's global catalogue (stages, file formats, column metadata) in `DIR/_fs_global.db`
and its internal stages under `DIR/stages`, re-attaches the existing databases at start,
and checkpoints on SIGTERM/SIGINT. Committed statements are in DuckDB's write-ahead log,
so even a SIGKILL keeps them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Optional, Sequence

import fakesnow.server
import uvicorn
from fakesnow import info_schema, macros
from fakesnow.instance import FakeSnow
from fakesnow.transforms import show, stage

GLOBAL = "_fs_global"


# Snowflake functions the views use that fakesnow 0.12 lacks, as DuckDB macros created in
# every database (fakesnow's own macros are created the same way, see `fakesnow.macros`)
EXTRA_MACROS = """
CREATE OR REPLACE MACRO {catalog}.try_to_timestamp_ntz(val) AS TRY_CAST(val AS TIMESTAMP);
"""


def _with_extra_macros() -> None:
    if getattr(macros.creation_sql, "_pulse", False):
        return
    original = macros.creation_sql

    def creation_sql(catalog: str) -> str:
        return original(catalog) + EXTRA_MACROS.format(catalog=catalog)

    creation_sql._pulse = True  # type: ignore[attr-defined]
    macros.creation_sql = creation_sql


def persistent_instance(db_dir: Path):
    """A `FakeSnow` whose databases, global catalogue and stages all live under `db_dir`."""
    _with_extra_macros()
    db_dir.mkdir(parents=True, exist_ok=True)
    stages = db_dir / "stages"
    stages.mkdir(exist_ok=True)
    stage.LOCAL_BUCKET_PATH = str(stages)  # read at call time by fakesnow's stage code
    fs = FakeSnow(db_path=db_dir)
    duck = fs.duck_conn
    duck.execute(f"DETACH {GLOBAL}")
    duck.execute(f"ATTACH '{db_dir / GLOBAL}.db' AS {GLOBAL}")
    duck.execute(info_schema.fs_global_creation_sql())
    duck.execute(show.fs_global_creation_sql())
    for path in sorted(db_dir.glob("*.db")):
        if path.stem != GLOBAL:
            # the same steps as fakesnow's CREATE DATABASE, for a file that already exists
            fs.connect(path.stem, None).close()
            duck.execute(macros.creation_sql(path.stem.upper()))
    return fs


def serve(db_dir: Path, host: str, port: int) -> int:
    fs = persistent_instance(db_dir)
    fakesnow.server.shared_fs = fs  # login_request reads the module global at each login
    server = uvicorn.Server(uvicorn.Config(fakesnow.server.app, host=host, port=port, log_level="info"))
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        server.should_exit = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.run, name="fakesnow", daemon=True)
    thread.start()
    while thread.is_alive() and not stop.wait(0.2):
        pass
    server.should_exit = True
    thread.join(timeout=10)
    fs.duck_conn.close()  # checkpoints every attached database
    return 0 if server.started else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.fakesnow_server", description=__doc__)
    parser.add_argument("db_dir", type=Path, help="directory of the DuckDB files (created if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    return serve(args.db_dir.resolve(), args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
