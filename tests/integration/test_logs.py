"""Log lines: LOG_FORMAT=json gives one JSON object per record (worker, level, logger, message,
a traceback as one field), and every record, Quix Streams' own included, goes through the
redacting filter: the processor runs for real and a secret that reaches a Quix Streams line
comes out as ***."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from pulse import logs
from pulse.logs import setup_logging
from pulse.settings import ConfigError, load_settings
from tests.pipeline import start_worker, stop_worker

KEYS = {"time", "level", "worker", "logger", "message"}


def _json_lines(text: str) -> list[dict]:
    """Every non-empty line parsed as JSON (a line that is not JSON fails the test)."""
    records = []
    for line in text.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON log line: {line[:300]!r}")
    return records


@pytest.fixture
def _restore_logging():
    root = logging.getLogger()
    handlers, level, worker = list(root.handlers), root.level, logs.WORKER
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logs.WORKER = worker


def test_json_lines_parse_with_worker_level_logger_and_one_exception_field(capsys, _restore_logging) -> None:
    secret = "hunter2-very-secret"
    logs.WORKER = "sink-raw"
    setup_logging("INFO", [secret], "json")
    log = logging.getLogger("sinks.test")
    log.info("connected with %s", secret)
    try:
        raise RuntimeError(f"login failed for password {secret}\nsecond line")
    except RuntimeError:
        log.exception("write failed")
    log.debug("below the level")
    err = capsys.readouterr().err
    assert secret not in err
    first, second = _json_lines(err)  # two records, two lines: the traceback did not break a line
    assert set(first) == KEYS and set(second) == KEYS | {"exception"}
    assert first["worker"] == "sink-raw" and first["level"] == "INFO" and first["logger"] == "sinks.test"
    assert first["message"] == "connected with ***"
    assert second["level"] == "ERROR" and second["message"] == "write failed"
    assert second["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: login failed for password ***\nsecond line" in second["exception"]
    assert first["time"].endswith("+00:00")


def test_a_bad_log_format_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match=r"^invalid configuration: LOG_FORMAT: .*text or json"):
        load_settings()
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert load_settings().log_format == "json"


def test_quix_streams_lines_of_the_processor_are_json_and_redacted(make_settings, unique: str,
                                                                   tmp_path: Path) -> None:
    """Quix Streams logs the consumer group when the application starts: with a secret in it,
    the line must come through the project's handler (JSON, redacted), not Quix's own."""
    secret = f"pr0cessor-secret-{unique}"
    settings = make_settings(consumer_group_prefix=f"g-{secret}", log_format="json")
    log_path = tmp_path / "processor.log"
    proc = start_worker(["processor"], settings, log_path, TWITCH_CLIENT_SECRET=secret)
    try:
        deadline = time.monotonic() + 120
        while "Starting the Application" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "Quix Streams never logged its start"
            time.sleep(0.3)
    finally:
        stop_worker(proc)
    text = log_path.read_text(errors="replace")
    assert secret not in text
    records = _json_lines(text)
    assert all(KEYS <= set(r) and r["worker"] == "processor" for r in records)
    (start,) = [r for r in records if "Starting the Application" in r["message"]]
    assert start["logger"].startswith("quixstreams") and "consumer_group=\"g-***-processor\"" in start["message"]
