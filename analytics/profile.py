"""The dbt profile, written from the same settings as the sinks' connection, for one run.

`sinks.snowflake.connect_kwargs` decides how to reach the warehouse (real Snowflake with a
password or a key pair, or the local fakesnow server over HTTP); the profile says the same
thing in dbt-snowflake's words. Secrets never enter the file: it names them with
`env_var('DBT_ENV_SECRET_...')` and they reach the dbt process through its environment, where
dbt also masks them in every log line.
"""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

from pulse.settings import Settings
from sinks.snowflake import connect_kwargs

PROFILE = "twitch_pulse"  # dbt_project.yml's `profile`
TARGET = "pulse"
SECRET_PREFIX = "DBT_ENV_SECRET_"  # dbt scrubs these variables' values from its output
# dbt-snowflake's names for connect_kwargs' non-secret entries
_PLAIN = {"account": "account", "user": "user", "database": "database", "schema": "schema",
          "warehouse": "warehouse", "role": "role", "host": "host", "port": "port", "protocol": "protocol",
          "login_timeout": "connect_timeout"}


class Profile(NamedTuple):
    """profiles.yml (JSON, a subset of YAML) and the secret variables it references."""

    text: str
    env: dict[str, str]  # pass to the dbt process only; never print


def build_profile(settings: Settings) -> Profile:
    kwargs = connect_kwargs(settings)
    output: dict[str, Any] = {"type": "snowflake", "threads": 1 if settings.uses_local_warehouse else 4,
                              "client_session_keep_alive": False}
    output.update({name: kwargs[key] for key, name in _PLAIN.items() if key in kwargs})
    env: dict[str, str] = {}

    def secret(field: str, variable: str, value: str) -> None:
        env[SECRET_PREFIX + variable] = value
        output[field] = "{{ env_var('" + SECRET_PREFIX + variable + "') }}"

    if "private_key" in kwargs:  # DER bytes, already decrypted with the passphrase
        secret("private_key", "SNOWFLAKE_PRIVATE_KEY", base64.b64encode(kwargs["private_key"]).decode())
    elif settings.snowflake_password.get_secret_value():
        secret("password", "SNOWFLAKE_PASSWORD", kwargs["password"])
    elif "password" in kwargs:  # the local server's placeholder, not a secret
        output["password"] = kwargs["password"]
    text = json.dumps({PROFILE: {"target": TARGET, "outputs": {TARGET: output}}}, indent=2)
    return Profile(text, env)
