"""Which BigQuery errors are worth waiting out and which must stop the worker (issue 5 §5;
the two kinds: `sinks.errors`), by the error reasons BigQuery documents
(https://cloud.google.com/bigquery/docs/error-messages).

Transient: `backendError`, `internalError`, `jobBackendError`, `jobInternalError`,
`rateLimitExceeded`, `jobRateLimitExceeded`, `quotaExceeded` (a per-minute or daily quota:
waiting is all that helps), `tableUnavailable`, `timeout`, `stopped`; a transaction aborted by
a concurrent one ("concurrent update", "could not serialize access"); a job whose status is no
longer found ("Not found: Job", a restarted emulator: the batch is idempotent), or an upload whose
session is ("Upload session ... not found", the same restart between the upload's start and its
data: no job was made, so the batch is loaded again); HTTP 429/5xx and
network failures below HTTP (refused, reset, timed out: a stopped or restarted emulator).
Lost session: HTTP 401, credentials that expired; the client refreshes them on a new
connection. Permanent: `accessDenied`, `invalid`, `invalidQuery`, `notFound`, `duplicate`,
`resourcesExceeded`, `responseTooLarge`, `billingNotEnabled`, bad credentials, SQL errors.
"""

from __future__ import annotations

import socket
from typing import Iterator

import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from ..errors import PermanentSinkError

TRANSIENT_REASONS = frozenset({
    "backendError", "internalError", "jobBackendError", "jobInternalError", "rateLimitExceeded",
    "jobRateLimitExceeded", "quotaExceeded", "tableUnavailable", "timeout", "stopped",
})
PERMANENT_REASONS = frozenset({
    "accessDenied", "invalid", "invalidQuery", "notFound", "duplicate", "resourcesExceeded",
    "responseTooLarge", "billingNotEnabled", "billingTierLimitExceeded", "notImplemented", "blocked",
    "invalidUser", "resourceInUse",
})
# a multi-statement transaction that lost against another one on the same table, or a job or
# upload whose fate is unknown (no longer found: a restarted emulator): run the batch again
_CONFLICT_TEXT = ("concurrent update", "could not serialize access", "transaction is aborted", "not found: job",
                  "upload session")

_TRANSIENT_CLASSES: tuple[type[BaseException], ...] = (
    api.InternalServerError, api.BadGateway, api.ServiceUnavailable, api.GatewayTimeout, api.TooManyRequests,
    api.DeadlineExceeded, api.RetryError, api.Unauthorized,
    auth.TransportError, requests.ConnectionError, requests.Timeout,
    ConnectionError, TimeoutError, socket.timeout,
)


def reasons(exc: BaseException) -> Iterator[str]:
    """The `reason` of each error BigQuery returned with this exception (job or API call)."""
    for error in getattr(exc, "errors", None) or ():
        if isinstance(error, dict) and error.get("reason"):
            yield str(error["reason"])


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PermanentSinkError):
        return False
    if isinstance(exc, auth.RefreshError):  # a revoked key, a deleted service account
        return False
    found = set(reasons(exc))
    message = str(exc).lower()
    if any(text in message for text in _CONFLICT_TEXT):
        return True
    if found & PERMANENT_REASONS:
        return False
    if found & TRANSIENT_REASONS:
        return True
    if isinstance(exc, _TRANSIENT_CLASSES):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def lost_session(exc: BaseException) -> bool:
    """BigQuery has no sessions to lose; expired credentials (HTTP 401) are the same case:
    a new client refreshes them, so log in again at once."""
    return isinstance(exc, api.Unauthorized)



