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
    if settings.snowflake.private_key.get_secret_value():
        pem = settings.snowflake.private_key.get_secret_value().encode()
    else:
        path = settings.snowflake.private_key_file
        try:
            pem = path.read_bytes()  # type: ignore[union-attr]
        except OSError as exc:
            raise ConfigError(f"SNOWFLAKE_PRIVATE_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    passphrase = settings.snowflake.private_key_passphrase.get_secret_value().encode() or None
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
        "database": settings.snowflake.database,
        "schema": settings.snowflake.schema_name,
        "network_timeout": settings.snowflake.network_timeout,
        "login_timeout": settings.snowflake.network_timeout,
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
    }
    if settings.snowflake.uses_local:
        kwargs.update(
            account="fakesnow",
            user=settings.snowflake.user or "local",
            password=settings.snowflake.password.get_secret_value() or "local",
            host=settings.snowflake.host,
            port=settings.snowflake.port,
            protocol="http",
        )
        return kwargs
    if not settings.snowflake.user:
        raise ConfigError("SNOWFLAKE_USER: required when SNOWFLAKE_ACCOUNT is set")
    kwargs.update(account=settings.snowflake.account, user=settings.snowflake.user)
    if settings.snowflake.private_key_file or settings.snowflake.private_key.get_secret_value():
        kwargs["private_key"] = _private_key_der(settings)
    elif settings.snowflake.password.get_secret_value():
        kwargs["password"] = settings.snowflake.password.get_secret_value()
    else:
        raise ConfigError("SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_FILE: one is required")
    if settings.snowflake.warehouse:
        kwargs["warehouse"] = settings.snowflake.warehouse
    if settings.snowflake.role:
        kwargs["role"] = settings.snowflake.role
    return kwargs


def connect(settings: Settings, with_schema: bool = True) -> SnowflakeConnection:
    """Open a connection. With the local server, the database and schema are created first."""
    kwargs = connect_kwargs(settings)
    if settings.snowflake.uses_local:
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
