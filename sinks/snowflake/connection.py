"""One `connect()` for the warehouse: real Snowflake (password or key pair) or the local
fakesnow server, chosen from settings alone.

`network_timeout` is always set: fakesnow answers some unsupported SQL with HTTP 500, which
the connector would otherwise retry forever.
"""

from __future__ import annotations

from typing import Any

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from snowflake.connector import SnowflakeConnection

from pulse.settings import ConfigError, Settings


def _private_key_der(settings: Settings) -> bytes:
    if settings.snowflake_private_key.get_secret_value():
        pem = settings.snowflake_private_key.get_secret_value().encode()
    else:
        path = settings.snowflake_private_key_file
        try:
            pem = path.read_bytes()  # type: ignore[union-attr]
        except OSError as exc:
            raise ConfigError(f"SNOWFLAKE_PRIVATE_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    passphrase = settings.snowflake_private_key_passphrase.get_secret_value().encode() or None
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError):
        raise ConfigError("SNOWFLAKE_PRIVATE_KEY: not a PEM private key, or wrong passphrase") from None
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def connect_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `snowflake.connector.connect` (secrets included: never log them)."""
    kwargs: dict[str, Any] = {
        "database": settings.snowflake_database,
        "schema": settings.snowflake_schema,
        "network_timeout": settings.snowflake_network_timeout,
        "login_timeout": settings.snowflake_network_timeout,
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
    }
    if settings.uses_local_warehouse:
        kwargs.update(
            account="fakesnow",
            user=settings.snowflake_user or "local",
            password=settings.snowflake_password.get_secret_value() or "local",
            host=settings.snowflake_host,
            port=settings.snowflake_port,
            protocol="http",
        )
        return kwargs
    if not settings.snowflake_user:
        raise ConfigError("SNOWFLAKE_USER: required when SNOWFLAKE_ACCOUNT is set")
    kwargs.update(account=settings.snowflake_account, user=settings.snowflake_user)
    if settings.snowflake_private_key_file or settings.snowflake_private_key.get_secret_value():
        kwargs["private_key"] = _private_key_der(settings)
    elif settings.snowflake_password.get_secret_value():
        kwargs["password"] = settings.snowflake_password.get_secret_value()
    else:
        raise ConfigError("SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_FILE: one is required")
    if settings.snowflake_warehouse:
        kwargs["warehouse"] = settings.snowflake_warehouse
    if settings.snowflake_role:
        kwargs["role"] = settings.snowflake_role
    return kwargs


def connect(settings: Settings, with_schema: bool = True) -> SnowflakeConnection:
    """Open a connection. With the local server, the database and schema are created first."""
    kwargs = connect_kwargs(settings)
    if settings.uses_local_warehouse:
        # fakesnow only knows a database once it has been created
        database, schema = kwargs.pop("database"), kwargs.pop("schema")
        conn = snowflake.connector.connect(**kwargs)
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        if with_schema:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}")
            cur.execute(f"USE SCHEMA {database}.{schema}")
        else:
            cur.execute(f"USE DATABASE {database}")
        return conn
    return snowflake.connector.connect(**kwargs)
