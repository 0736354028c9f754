"""Logging set-up shared by every worker: one line per record, secrets redacted.

Two formats (LOG_FORMAT): `text` for a terminal, `json` for containers and log collectors,
one JSON object per line with the worker, level, logger and message, and a traceback as one
`exception` field. Every library's records (Quix Streams', the connector's) go through the
same root handler, so the same redaction: workers hand Quix Streams `loglevel=None`, or it
would install its own handler, which prints past this one.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timezone
from typing import Iterable

import orjson

from .errors import first_line

_DEFAULT_THREAD_HOOK = threading.excepthook
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
# The worker these records come from (`twitch-pulse sink raw` -> "sink-raw"): set by the CLI
WORKER = ""


class RedactingFilter(logging.Filter):
    """Replaces every configured secret value in a log line (message, args, traceback)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self._scrub(record.getMessage())
            record.args = ()
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: a traceback is one `exception` string field.

    Runs after RedactingFilter, which has already moved the traceback into `exc_text`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "worker": WORKER,
            "logger": record.name,
            "message": record.getMessage(),
        }
        exception = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else "")
        if exception:
            entry["exception"] = exception
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry).decode()


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), fmt: str = "text") -> None:
    """Configure the root logger once; calling again replaces the handler. `fmt` is LOG_FORMAT."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # librdkafka and the Snowflake connector are chatty at INFO
    logging.getLogger("snowflake.connector").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # during a warehouse outage the connector logs every retried request, with a traceback;
    # the sink's own one-line warning and /healthz say it once
    for name in ("snowflake.connector.network", "snowflake.connector.file_transfer_agent",
                 "snowflake.connector.storage_client", "snowflake.connector.vendored.urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    threading.excepthook = _connector_thread_hook


def _connector_thread_hook(args: threading.ExceptHookArgs) -> None:
    """The connector cancels a timed-out statement from a timer thread, which dies with a
    traceback when the warehouse is down; one line is enough (the sink retries)."""
    if args.exc_type.__module__.startswith("snowflake.connector"):
        logging.getLogger("snowflake.connector").warning(
            "connector thread %s: %s", getattr(args.thread, "name", "?"),
            first_line(args.exc_value) if args.exc_value is not None else args.exc_type.__name__)
        return
    _DEFAULT_THREAD_HOOK(args)
