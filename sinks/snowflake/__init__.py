"""Snowflake, the sinks' warehouse: everything specific to it lives in this package (the
connection, the load methods and their SQL, error classification, the versioned DDL in `sql/`).
`SNOWFLAKE` is what the warehouse-neutral sinks use; see the README's "Adding a warehouse"."""

from ..warehouse import Warehouse
from . import errors, load, schema
from .connection import connect, connect_kwargs

SNOWFLAKE = Warehouse(
    name="snowflake",
    connect=connect,
    bootstrap=schema.bootstrap,
    current_version=schema.current_version,
    prune=schema.prune,
    is_transient=errors.is_transient,
    lost_session=errors.lost_session,
    rollback=load.rollback,
    write_raw=load.write_raw,
    merge=load.merge,
)

__all__ = ["SNOWFLAKE", "connect", "connect_kwargs"]
