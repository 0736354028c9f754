"""Twitch Pulse's shared package: what every worker needs (settings, the event schema,
topic names, output records, logging, the metrics server, Kafka and warehouse connections)."""

import warnings


def _quiet_authlib() -> None:
    """quixstreams imports authlib's httpx integration, which warns on import about its own
    rename; it is not ours to act on and would otherwise open every worker's log. authlib
    turns its warning class to "always" when `authlib.deprecate` is imported, which would
    override a filter set earlier, so import it first and then put ours in front. Every
    command imports this package first, so this is the one place."""
    try:
        from authlib.deprecate import AuthlibDeprecationWarning
    except ImportError:
        return
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)


_quiet_authlib()
