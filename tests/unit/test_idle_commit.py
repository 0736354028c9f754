"""`IdleCommit`: the processor commits as soon as its input runs dry, and only then.

A real Quix Streams `Application` (no broker needed to build one), so a Quix upgrade that
moves the processing context or the periodic tasks fails here; its checkpoint is replaced by
one that only says whether it holds work, and the commit by a recorder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from quixstreams import Application

from processors.app import IdleCommit


class Checkpoint:
    def __init__(self) -> None:
        self.work = False

    def empty(self) -> bool:
        return not self.work


@pytest.fixture()
def wired(tmp_path: Path) -> tuple[Application, IdleCommit, Checkpoint, list[bool]]:
    idle = IdleCommit()
    app = Application(broker_address="127.0.0.1:1", consumer_group="idle-commit-test", state_dir=str(tmp_path),
                      processing_guarantee="exactly-once", on_message_processed=idle.processed)
    idle.attach(app)
    checkpoint, forced = Checkpoint(), []
    context = app._processing_context
    context._checkpoint = checkpoint

    def commit_checkpoint(force: bool = False, revoking: bool = False) -> None:
        forced.append(force)
        checkpoint.work = False

    context.commit_checkpoint = commit_checkpoint
    return app, idle, checkpoint, forced


def loop(app: Application, idle: IdleCommit, messages: int) -> None:
    """One turn of Quix's run loop: a consumer poll that gave `messages` messages, then the periodic tasks."""
    for offset in range(messages):
        app._on_message_processed("twitch.streams", 0, offset)
    app._dataframe_registry.run_periodic_tasks()


def test_a_poll_that_finds_nothing_commits_the_work_held(wired) -> None:
    app, idle, checkpoint, forced = wired
    checkpoint.work = True
    loop(app, idle, 0)
    assert forced == [True] and idle.commits == 1


def test_no_commit_while_messages_keep_coming(wired) -> None:
    app, idle, checkpoint, forced = wired
    checkpoint.work = True
    for _ in range(5):
        loop(app, idle, 3)
    assert forced == []
    loop(app, idle, 0)  # the backlog is read: the work goes out now, not at the interval
    assert forced == [True]


def test_an_idle_consumer_with_nothing_to_commit_does_not_commit(wired) -> None:
    app, idle, checkpoint, forced = wired
    for _ in range(3):
        loop(app, idle, 0)
    assert forced == [] and idle.commits == 0
