"""`ensure_state_dir`: the processor creates its state directory before Quix Streams checks for
it, so two replicas sharing one state volume can start together (Quix's check-then-mkdir lost
that race with FileExistsError). A real Quix Streams `Application`; no broker needed."""

from __future__ import annotations

import threading
from pathlib import Path

from quixstreams import Application

from processors.app import ensure_state_dir


def _app(state_dir: Path) -> Application:
    return Application(broker_address="127.0.0.1:1", consumer_group="state-dir-test", state_dir=str(state_dir),
                       processing_guarantee="exactly-once")


def test_the_state_directory_is_where_quix_keeps_its_stores_and_may_already_exist(tmp_path: Path) -> None:
    app = _app(tmp_path / "processor")
    path = ensure_state_dir(app)
    assert path.is_dir() and path == tmp_path / "processor" / "state-dir-test"
    assert path == app._state_manager._state_dir  # noqa: SLF001 - where Quix Streams opens the stores
    assert ensure_state_dir(app) == path  # again: no error
    app._state_manager.init()  # noqa: SLF001 - Quix's own check then finds it


def test_replicas_starting_together_both_get_the_directory(tmp_path: Path) -> None:
    apps = [_app(tmp_path / "shared") for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(apps))

    def create(app: Application) -> None:
        start.wait()
        try:
            ensure_state_dir(app)
            app._state_manager.init()  # noqa: SLF001
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and (tmp_path / "shared" / "state-dir-test").is_dir()
