"""`twitch-pulse models build|freshness|dbt`: the dbt project with the project's settings.
Only the arguments live here; the handler (`analytics.commands`) loads when the command runs."""

from __future__ import annotations

import argparse

from pulse.cli import Formatter

DESCRIPTION = """\
Run the analytics models of dbt/ (DESIGN §10) against the warehouse of the settings: the same
SNOWFLAKE_* variables as the sinks (without SNOWFLAKE_ACCOUNT: the local fakesnow server at
SNOWFLAKE_HOST:SNOWFLAKE_PORT). The dbt profile is written for each run; secrets reach dbt through
its environment only. dbt's target/ and logs/ go to STATE_DIR/dbt.

  build      dbt build: every model (incremental ones add only the periods with new window rows)
             and its tests, in dependency order; progress as it goes, one line at the end
  freshness  dbt source freshness: how long ago each sink table was written (INGESTED_AT)
  dbt ARGS   any other dbt command with the same profile, e.g. `models dbt docs generate`,
             `models dbt run --select broadcasts`, `models dbt debug`

Exit 0 when dbt succeeded; 1 with one line when it failed, the warehouse is unreachable, its
schema predates the models (run `twitch-pulse bootstrap`) or dbt is not installed; 2 on a bad setting.
dbt runs from its own virtualenv: DBT_EXECUTABLE, else .venv-dbt/bin/dbt (`make install`), else PATH.
"""


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="build the dbt analytics models (broadcasts, daily/monthly rankings, rollups)",
                            description=DESCRIPTION, formatter_class=Formatter)
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build", help="dbt build: models and their tests", formatter_class=Formatter,
        description="Build every model of dbt/ and run its tests, in dependency order (dbt build). The\n"
                    "incremental models add the UTC periods holding window rows new to them. Progress as it\n"
                    "goes, one line at the end; exit 1 when a model or a test fails.")
    build.add_argument("--select", "-s", action="append", default=[], metavar="SPEC",
                       help="only these nodes (dbt's selection syntax; repeatable), e.g. marts or +broadcasts")
    build.add_argument("--exclude", action="append", default=[], metavar="SPEC", help="leave these nodes out")
    build.add_argument("--full-refresh", action="store_true",
                       help="rebuild the incremental models from every window row instead of adding new periods")
    build.add_argument("--every", type=float, default=0, metavar="SECONDS",
                       help="keep building, one build starting every SECONDS (a long-running scheduler for "
                            "compose and Quix; a failed build is retried at the next turn; SIGTERM stops it); "
                            "0 = build once")
    build.add_argument("--quiet", action="store_true", help="print only each build's one-line summary")
    actions.add_parser("freshness", help="dbt source freshness of the sinks' tables", formatter_class=Formatter,
                       description="How long ago each table the sinks write was last written (INGESTED_AT):\n"
                                   "a warning after 30 minutes, an error after 3 hours (ALERTS: a warning after 7 days).")
    passthrough = actions.add_parser(
        "dbt", help="any dbt command with the project's profile", formatter_class=Formatter,
        description="Run any dbt command on dbt/ with the profile written from the settings, e.g.\n"
                    "`twitch-pulse models dbt docs generate` or `twitch-pulse models dbt run --select broadcasts`.")
    passthrough.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="ARGS", help="dbt's arguments")
    models.set_defaults(handler="analytics.commands:models")
