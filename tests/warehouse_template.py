"""A seeded, dbt-built warehouse schema made once per test run and copied into each test's own
(and a seeded BigQuery dataset, made once per run, that the read-only BigQuery dashboard tests share).

Seeding a schema and `dbt run` over it cost 10-30 s of CPU on a 2-core machine that the suite
keeps busy, and several dashboard tests each need the same such schema, some of them to add
windows to it. The first test (of any pytest-xdist worker) to ask builds the template with real
dbt on the real fakesnow server, under a lock; every test then gets a copy in its own schema:
the sinks' tables through the project's own bootstrap (their DDL and defaults), filled from the
template, and the models' tables created from the template's. Only the dbt staging view is not
copied: the dashboard never reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from filelock import FileLock

from pulse.settings import Settings
from sinks.bigquery.connection import client, dataset_id
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap

DONE = "template-{run}-{name}.done"  # under the test stack's run folder: the template is built


def ensure_template(run_dir: Path, name: str, settings: Settings, make: Callable[[Settings], None]) -> Settings:
    """`settings`' schema (or BigQuery dataset) built by `make` once in this test run (the
    first caller builds it)."""
    run = os.environ["PULSE_TEST_RUN_ID"]
    done = run_dir / DONE.format(run=run, name=name)
    with FileLock(str(run_dir / f"template-{name}.lock")):
        if not done.exists():
            make(settings)
            done.write_text(place(settings))
    return settings


def place(settings: Settings) -> str:
    """Where a template lives, as its done marker records it: `snowflake:SCHEMA` or `bigquery:dataset`."""
    if settings.common.warehouse == "bigquery":
        return f"bigquery:{settings.bigquery.dataset}"
    return f"snowflake:{settings.snowflake.schema_name}"


def drop_schema(settings: Settings) -> None:
    """`settings`' schema and everything in it, gone (nothing happens when there is none)."""
    conn = connect(settings, with_schema=False)
    try:
        conn.cursor().execute(
            f"DROP SCHEMA IF EXISTS {settings.snowflake.database}.{settings.snowflake.schema_name} CASCADE")
    finally:
        conn.close()


def drop_dataset(settings: Settings) -> None:
    """`settings`' BigQuery dataset and every table in it, gone (nothing happens when there is none)."""
    client(settings).delete_dataset(dataset_id(settings), delete_contents=True, not_found_ok=True)


def drop_templates(run_dir: Path, drop: Callable[[str, str], None]) -> None:
    """Drop the templates this run made (at its end), each by `drop(warehouse, name)`: a stack
    kept between runs keeps no copies."""
    run = os.environ["PULSE_TEST_RUN_ID"]
    for done in run_dir.glob(DONE.format(run=run, name="*")):
        warehouse, _, name = done.read_text().partition(":")
        try:
            drop(warehouse, name)
        except Exception:
            pass  # a stack already stopped took its schemas with it
        done.unlink(missing_ok=True)


def copy_schema(source: Settings, target: Settings) -> None:
    """`target`'s schema, made anew, with every table of `source`'s and the same rows."""
    database, schema = target.snowflake.database, target.snowflake.schema_name
    drop_schema(target)
    conn = connect(target)
    try:
        bootstrap(conn)
        cur = conn.cursor()
        cur.execute("SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = %s", (schema,))
        made = {name.upper() for (name,) in cur.fetchall()}
        cur.execute("SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_TYPE = 'BASE TABLE'", (source.snowflake.schema_name,))
        for (table,) in cur.fetchall():
            origin = f"{database}.{source.snowflake.schema_name}.{table}"
            if table.upper() == "SCHEMA_VERSION":
                continue  # bootstrap recorded its own
            if table.upper() in made:
                cur.execute(f"INSERT INTO {table} SELECT * FROM {origin}")
            else:
                cur.execute(f"CREATE TABLE {table} AS SELECT * FROM {origin}")
    finally:
        conn.close()
