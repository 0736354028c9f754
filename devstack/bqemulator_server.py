"""`python -m devstack.bqemulator_server start ...`: bqemulator's own CLI, able to start offline.

bqemulator (the local BigQuery stand-in, REST and gRPC over DuckDB) runs `INSTALL spatial;
LOAD spatial` when its engine starts and refuses to start when that fails, which it always
does without access to DuckDB's extension repository. The pipeline has no GEOGRAPHY column,
so this launcher makes the extension optional (loaded when it is there, a warning when not)
and then hands over to bqemulator's CLI unchanged.

It runs in bqemulator's own virtualenv (`.venv-bq`, `make bqemulator`): bqemulator pins
sqlglot below the version fakesnow pins, so the two cannot share one environment. It imports
nothing of this project.
"""

from __future__ import annotations

import logging
import sys

from bqemulator.cli import main
from bqemulator.storage.engine import DuckDBEngine

log = logging.getLogger("bqemulator.launcher")


def _spatial_if_available(engine: DuckDBEngine) -> None:
    try:
        engine._connection.execute("LOAD spatial")  # type: ignore[union-attr]
    except Exception as exc:  # offline: no GEOGRAPHY, everything else works
        print(f"bqemulator launcher: DuckDB spatial extension not loaded ({str(exc).splitlines()[0]}); "
              "GEOGRAPHY functions are unavailable", file=sys.stderr, flush=True)


DuckDBEngine._load_spatial = _spatial_if_available  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
