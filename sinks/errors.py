"""The sinks' two kinds of warehouse failure (issue 5 §5), whatever the warehouse.

Transient (the warehouse will accept the same batch later): a sink turns these into
`SinkBackpressureError`: Quix Streams drops the batch, pauses, seeks back and retries.
Permanent (retrying cannot help: bad credentials, missing objects or privileges, SQL errors):
a sink turns these into `PermanentSinkError`, which ends the worker with one line. Which
error is which is the warehouse's to say (`Warehouse.is_transient`, e.g. `sinks.snowflake.errors`).
"""

from __future__ import annotations


class PermanentSinkError(Exception):
    """The warehouse refused in a way retrying cannot fix; the message is one readable line."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    parts = [line.strip() for line in text if line.strip()]
    return " ".join(parts[:2]) if parts else type(exc).__name__


def permanent(what: str, exc: BaseException) -> PermanentSinkError:
    errno = getattr(exc, "errno", None)
    code = f" [{errno}]" if errno else ""
    return PermanentSinkError(f"{what}: {first_line(exc)}{code}")
