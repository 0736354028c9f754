"""The sinks' two kinds of warehouse failure (issue 5 §5), whatever the warehouse.

Transient (the warehouse will accept the same batch later): a sink turns these into
`SinkBackpressureError`: Quix Streams drops the batch, pauses, seeks back and retries.
Permanent (retrying cannot help: bad credentials, missing objects or privileges, SQL errors):
a sink turns these into `PermanentSinkError`, which ends the worker with one line. Which
error is which is the warehouse's to say (`Warehouse.is_transient`, e.g. `sinks.snowflake.errors`).
"""

from __future__ import annotations

from pulse.errors import first_line


class PermanentSinkError(Exception):
    """The warehouse refused in a way retrying cannot fix; the message is one readable line."""


def permanent(what: str, exc: BaseException) -> PermanentSinkError:
    errno = getattr(exc, "errno", None)
    code = f" [{errno}]" if errno else ""
    return PermanentSinkError(f"{what}: {first_line(exc)}{code}")
