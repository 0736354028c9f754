"""Which Snowflake errors are worth waiting out and which must stop the worker (issue 5 §5;
the two kinds: `sinks.errors`).

Transient (Snowflake will accept the same batch later): connection refused or reset,
timeouts, throttling and 5xx answers, lock and transaction conflicts, and a lost session
(HTTP 401 on a query after a server restart, an expired session): the sink drops its
connection and logs in again. Permanent: bad credentials, missing objects or privileges,
SQL errors.
"""

from __future__ import annotations

import socket

from snowflake.connector import errors as sf

from ..errors import PermanentSinkError

# Snowflake error numbers that mean "try again later"
_TRANSIENT_ERRNOS = {
    604,     # statement cancelled (e.g. by a warehouse restart)
    625,     # statement reached its statement or warehouse timeout
    630,     # statement timeout
    2097,    # lock wait timeout
    250001,  # could not connect to Snowflake backend
    250003,  # failed to get a response (network)
    251011,  # connection timeout
    290000,  # general HTTP error
    390114,  # authentication token has expired: the connector re-authenticates
    390111,  # session no longer exists: reconnect
    390112,  # session expired: reconnect
    290401,  # HTTP 401 on a query: the session is gone (e.g. a restarted local server): reconnect
}
# ... and "stop now, a person must act"
_PERMANENT_ERRNOS = {
    390100,  # incorrect username or password
    390101,  # user not found / locked
    390144,  # JWT token invalid (key pair)
    390189,  # role not allowed / does not exist
    3001,    # insufficient privileges
    2003,    # object does not exist or not authorized
    2043,    # object does not exist (or not authorized)
    1003,    # SQL syntax error
}
_TRANSIENT_TEXT = ("conflict", "timeout", "timed out", "temporarily", "throttl", "too many requests",
                   "connection refused", "connection reset", "could not connect", "unavailable",
                   "401 unauthorized", "session no longer exists", "session expired")

_TRANSIENT_CLASSES: tuple[type[BaseException], ...] = (
    sf.InternalServerError, sf.ServiceUnavailableError, sf.GatewayTimeoutError, sf.BadGatewayError,
    sf.RequestTimeoutError, sf.TooManyRequests, sf.OtherHTTPRetryableError, sf.RequestExceedMaxRetryError,
    sf.TokenExpiredError, sf.PresignedUrlExpiredError,
    ConnectionError, TimeoutError, socket.timeout,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PermanentSinkError):
        return False
    if isinstance(exc, _TRANSIENT_CLASSES):
        return True
    errno = getattr(exc, "errno", None)
    if errno in _PERMANENT_ERRNOS:
        return False
    if errno in _TRANSIENT_ERRNOS:
        return True
    if isinstance(exc, (sf.OperationalError, sf.InterfaceError)):
        return True  # network-level trouble below the SQL layer
    if isinstance(exc, sf.ProgrammingError) or isinstance(exc, sf.DatabaseError):
        message = str(exc).lower()
        return "conflict" in message or "lock" in message and "timeout" in message
    message = str(exc).lower()
    return isinstance(exc, sf.Error) and any(word in message for word in _TRANSIENT_TEXT)


_LOST_SESSION_ERRNOS = {290401, 390111, 390112, 390114}


def lost_session(exc: BaseException) -> bool:
    """The warehouse answered, but no longer knows this session: log in again at once."""
    return getattr(exc, "errno", None) in _LOST_SESSION_ERRNOS
