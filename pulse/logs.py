"""Logging set-up shared by every worker: one line per record, secrets redacted."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Iterable

_DEFAULT_THREAD_HOOK = threading.excepthook
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once; calling again replaces the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
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
            str(args.exc_value).strip().splitlines()[0] if str(args.exc_value).strip() else args.exc_type.__name__)
        return
    _DEFAULT_THREAD_HOOK(args)
