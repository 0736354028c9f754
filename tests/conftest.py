"""Session fixtures: a real local Kafka broker and a real fakesnow server, shared by all tests.

Each test gets its own topic prefix and its own warehouse schema, so tests never interfere.
The stack is started once per session (or reused when already running, e.g. with
PULSE_KEEP_STACK=1 between runs) and stopped at the end if this session started it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from importlib.machinery import SOURCE_SUFFIXES, FileFinder, SourceFileLoader
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]


def _interpret_sources(*folders: Path) -> None:
    """Import these packages' modules from their .py sources even where a compiled build sits
    beside them, so the same tests check the interpreted hot path (PULSE_INTERPRETED=1)."""
    claimed = {str(folder) for folder in folders}

    def hook(path: str) -> FileFinder:
        if path not in claimed:
            raise ImportError(path)
        return FileFinder(path, (SourceFileLoader, SOURCE_SUFFIXES))

    sys.path_hooks.insert(0, hook)
    sys.path_importer_cache.clear()


if os.environ.get("PULSE_INTERPRETED"):  # before any project module is imported
    _interpret_sources(ROOT / "pulse", ROOT / "processors")

from devstack.bigquery import BigQueryServer  # noqa: E402
from devstack.kafka import KafkaBroker  # noqa: E402
from devstack.service import free_port  # noqa: E402
from devstack.warehouse import WarehouseServer  # noqa: E402
from processors import compiled  # noqa: E402
from pulse.settings import Settings, load_settings  # noqa: E402
from tests.sqlguard import install, uninstall, violations  # noqa: E402
from tests.warehouse_template import drop_dataset, drop_schema, drop_templates, ensure_template  # noqa: E402

RUN_DIR = Path(os.environ.get("PULSE_TEST_RUN_DIR", ROOT / ".cache" / "test-stack"))
# Below Linux's ephemeral port range (32768-60999): no client socket can hold them by chance
KAFKA_PORT = int(os.environ.get("PULSE_TEST_KAFKA_PORT", "29092"))
WAREHOUSE_PORT = int(os.environ.get("PULSE_TEST_WAREHOUSE_PORT", "28765"))
# bqemulator's REST port; its gRPC port is the next one
BIGQUERY_PORT = int(os.environ.get("PULSE_TEST_BIGQUERY_PORT", "28790"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Python loads a compiled module before its source: after an edit, tests would run the old build."""
    stale = [] if os.environ.get("PULSE_INTERPRETED") else compiled.stale()
    if stale:
        pytest.exit(f"compiled builds older than their sources ({', '.join(stale)}): run `make install`", 2)


# The longest modules, longest first (`pytest --durations=0`): started first, so that under
# pytest-xdist none of them is left to run alone at the end. Others follow in collection order.
LONGEST_FIRST = ("test_outage_exact", "test_models", "test_outages", "test_processor_faults", "test_end_to_end",
                 "test_producer_outage", "test_prometheus", "test_bigquery_outages", "test_sink_faults",
                 "test_quix_build", "test_supervision", "test_models_cli", "test_emitter_order", "test_local_stack",
                 "test_helm", "test_processor", "test_dashboard_browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


# One pytest run (its controller under pytest-xdist, with its workers and any pytest run nested
# in a test, which inherit these) is one user of the shared stack.
RUN_ID = "PULSE_TEST_RUN_ID"
RUN_PID = "PULSE_TEST_RUN_PID"
OWNER = RUN_ID not in os.environ
os.environ.setdefault(RUN_ID, uuid.uuid4().hex)
os.environ.setdefault(RUN_PID, str(os.getpid()))
SERVICES: dict[str, Callable[[], Any]] = {
    "kafka": lambda: KafkaBroker(RUN_DIR, port=KAFKA_PORT),
    "warehouse": lambda: WarehouseServer(RUN_DIR, port=WAREHOUSE_PORT),
    "bigquery": lambda: BigQueryServer(RUN_DIR, port=BIGQUERY_PORT, grpc_port=BIGQUERY_PORT + 1),
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _users(name: str) -> Path:
    return RUN_DIR / f"{name}.users"


def _shared(name: str) -> Any:
    """Start one of the stack's services for the whole run: under pytest-xdist every worker
    asks, one starts it (a file lock orders them), the rest find it running. Every run that
    uses it leaves its controller's pid in `<name>.users/`; a service the tests started is
    stopped by the last run to finish (`pytest_sessionfinish`), so a second `pytest` beside
    `make test` never stops what the other still uses, and a user's own stack is never stopped."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    service = SERVICES[name]()
    with FileLock(str(RUN_DIR / f"{name}.lock")):
        if service.start():
            (RUN_DIR / f"{name}.started-by-tests").touch()
        _users(name).mkdir(exist_ok=True)
        (_users(name) / os.environ[RUN_ID]).write_text(os.environ[RUN_PID])
    return service


def _drop_template(warehouse: str, name: str) -> None:
    """A template the run made, gone: a Snowflake schema on fakesnow or a dataset on the emulator."""
    if warehouse == "bigquery":
        drop_dataset(load_settings(warehouse="bigquery", bigquery_port=BIGQUERY_PORT, bigquery_dataset=name))
    else:
        drop_schema(load_settings(snowflake_port=WAREHOUSE_PORT, snowflake_schema=name))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not OWNER:
        return
    with pytest.MonkeyPatch.context() as monkeypatch:  # the test warehouse, whatever a developer's .env says
        _clean_env(monkeypatch, RUN_DIR)
        drop_templates(RUN_DIR, _drop_template)
    if os.environ.get("PULSE_KEEP_STACK"):
        return
    for name, make in SERVICES.items():
        users = _users(name)
        if not users.is_dir():
            continue
        with FileLock(str(RUN_DIR / f"{name}.lock")):
            (users / os.environ[RUN_ID]).unlink(missing_ok=True)
            others = [u for u in users.iterdir() if u.read_text().isdigit() and _alive(int(u.read_text()))]
            marker = RUN_DIR / f"{name}.started-by-tests"
            if not others and marker.exists():
                make().stop()
                marker.unlink()
                shutil.rmtree(users, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_broker() -> KafkaBroker:
    return _shared("kafka")


@pytest.fixture(scope="session")
def warehouse_server() -> WarehouseServer:
    return _shared("warehouse")


@pytest.fixture(scope="session")
def bigquery_server() -> BigQueryServer:
    """The local BigQuery stand-in (bqemulator over REST and gRPC), its data on disk."""
    return _shared("bigquery")


def once(name: str) -> FileLock:
    """A lock across xdist workers for one-time work on the machine (installing Prometheus,
    helm, a Quix build context's virtualenv)."""
    lock_dir = Path.home() / ".cache" / "twitch-pulse"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_dir / f"{name}.lock"))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer `.env` or exported variable leaks into a test."""
    _clean_env(monkeypatch, tmp_path)


def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWITCH_PULSE_ENV_FILE", str(tmp_path / "no.env"))
    for name in list(os.environ):
        if name.upper().startswith(("TWITCH_", "KAFKA_", "SNOWFLAKE_", "SLACK_", "TOPIC_", "WINDOW_", "QUIX__",
                                    "BIGQUERY_", "GOOGLE_APPLICATION_CREDENTIALS")) \
                and name != "TWITCH_PULSE_ENV_FILE" or name.upper() == "WAREHOUSE":
            monkeypatch.delenv(name, raising=False)
    for name in ("client_id", "client_secret", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


def settings_for(kafka_broker: KafkaBroker, unique: str, tmp: Path, **overrides: Any) -> Settings:
    """The local broker, topic and group prefixes and a schema of `unique`'s own, state in `tmp`."""
    base: dict[str, Any] = dict(
        kafka_bootstrap=kafka_broker.bootstrap,
        topic_prefix=f"t{unique}.",
        consumer_group_prefix=f"g{unique}",
        state_dir=tmp / "state",
        snowflake_port=WAREHOUSE_PORT,
        snowflake_schema=f"T_{unique.upper()}",
        metrics_port=0,
    )
    return load_settings(**{**base, **overrides})


@pytest.fixture
def make_settings(kafka_broker: KafkaBroker, unique: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for this test: the local broker, its own topic prefix, group prefix and state dir.

    The warehouse is not started by this fixture; tests that need it use `wh_settings`.
    """

    def factory(**overrides) -> Settings:
        return settings_for(kafka_broker, unique, tmp_path, **overrides)

    return factory


@pytest.fixture(scope="module")
def module_wh_settings(kafka_broker: KafkaBroker, warehouse_server: WarehouseServer,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings with a warehouse schema shared by one module's tests: for read-only tests over
    data that takes long to set up (seeding and a dbt build); dropped afterwards."""
    unique, tmp = uuid.uuid4().hex[:10], tmp_path_factory.mktemp("module")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean_env(monkeypatch, tmp)
        settings = settings_for(kafka_broker, unique, tmp, snowflake_schema=f"M_{unique.upper()}")
    yield settings
    _drop_schema(settings)


@pytest.fixture(scope="session")
def warehouse_template(kafka_broker: KafkaBroker, warehouse_server: WarehouseServer
                       ) -> Callable[[str, Callable[[Settings], None]], Settings]:
    """`(name, make)` -> the settings of a schema `make` built once in this run, for tests to
    copy (`tests.warehouse_template.copy_schema`), never to change."""

    def template(name: str, make: Callable[[Settings], None]) -> Settings:
        run = os.environ[RUN_ID][:10]
        folder = RUN_DIR / "templates" / f"{run}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        settings = settings_for(kafka_broker, f"tpl{run}", folder, snowflake_schema=f"TPL_{name}_{run}".upper())
        return ensure_template(RUN_DIR, name, settings, make)

    return template


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def bq_settings(bigquery_server: BigQueryServer, make_settings: Callable[..., Settings],
                unique: str) -> Iterator[Settings]:
    """Settings for BigQuery on the local emulator, in a dataset of this test's own; dropped afterwards."""
    settings = make_settings(warehouse="bigquery", bigquery_port=bigquery_server.port, bigquery_dataset=f"t_{unique}")
    yield settings
    try:
        drop_dataset(settings)
    except Exception:
        pass


@pytest.fixture(params=["snowflake", "bigquery"])
def warehouse_settings(request: pytest.FixtureRequest) -> Settings:
    """The same test on each warehouse: fakesnow (Snowflake) and bqemulator (BigQuery)."""
    return request.getfixturevalue("wh_settings" if request.param == "snowflake" else "bq_settings")


@pytest.fixture
def wh_settings(warehouse_server: WarehouseServer, settings: Settings) -> Iterator[Settings]:
    """Settings whose warehouse schema is this test's own; dropped afterwards."""
    yield settings
    _drop_schema(settings)


def _drop_schema(settings: Settings) -> None:
    try:
        drop_schema(settings)
    except Exception:
        pass


# --- fixtures of several test modules ------------------------------------------------

@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path / "kafka", port=free_port(2))
    broker.start(timeout=120)
    yield broker
    broker.stop()


@pytest.fixture
def own_warehouse(tmp_path: Path) -> Iterator[WarehouseServer]:
    server = WarehouseServer(tmp_path / "wh", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus_bin() -> dict[str, str]:
    """Install Prometheus with the project's own script on a fresh machine (apt-get as root)."""
    with once("apt"):
        result = subprocess.run([str(ROOT / "deploy" / "prometheus" / "install.sh")], capture_output=True, text=True,
                            timeout=900)
    if result.returncode == 3:
        pytest.skip("Prometheus cannot be installed here: " + result.stderr.strip().splitlines()[-1])
    assert result.returncode == 0, result.stderr[-2000:]
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    assert all(found.values()), found
    return found  # type: ignore[return-value]


@pytest.fixture
def sql_guard() -> Iterator[list[str]]:
    """Every statement of the test goes through the guard; violations fail the test."""
    violations.clear()
    install()
    try:
        yield violations
    finally:
        uninstall()
    assert not violations, violations
