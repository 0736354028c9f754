"""The unit tests run in-process in seconds: no broker, no warehouse, no emulator.

The stack's session fixtures are replaced by ones that fail, so a test that needs a real part
says so by failing here and belongs under tests/integration/. Settings point at a closed port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NoReturn

import pytest

from devstack.service import free_port
from pulse.settings import Settings, load_settings


def _no_stack(what: str) -> NoReturn:
    pytest.fail(f"a unit test asked for {what}: move it to tests/integration/", pytrace=False)


@pytest.fixture(scope="session")
def kafka_broker() -> NoReturn:
    _no_stack("the Kafka broker")


@pytest.fixture(scope="session")
def warehouse_server() -> NoReturn:
    _no_stack("the fakesnow server")


@pytest.fixture(scope="session")
def bigquery_server() -> NoReturn:
    _no_stack("the BigQuery emulator")


@pytest.fixture
def make_settings(unique: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings of this test's own, their broker and warehouse on a port nothing listens on."""
    closed = free_port()

    def factory(**overrides) -> Settings:
        base = dict(kafka_bootstrap=f"127.0.0.1:{closed}", topic_prefix=f"t{unique}.",
                    consumer_group_prefix=f"g{unique}", state_dir=tmp_path / "state",
                    snowflake_port=closed, snowflake_schema=f"T_{unique.upper()}", metrics_port=0)
        return load_settings(**{**base, **overrides})

    return factory
