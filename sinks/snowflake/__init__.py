"""Snowflake: everything that is specific to this warehouse (the connection; see the README's
"Adding a warehouse")."""

from .connection import connect, connect_kwargs

__all__ = ["connect", "connect_kwargs"]
