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


def catch_early_sigterm() -> None:
    """Until a worker installs its own handler, a SIGTERM stops the process at once and cleanly
    (exit 0): nothing runs yet. Called first by both entry points (`python -m pulse`, the
    `twitch-pulse` script); a handler already installed is left alone."""
    import os  # noqa: PLC0415  (this package's import stays as light as it is)
    import signal  # noqa: PLC0415

    def stop(_signum: int, _frame: object) -> None:
        # os._exit, not SystemExit: the signal can land inside a C extension's import, and
        # unwinding and finalising a half-imported extension can crash the interpreter (SIGSEGV
        # seen once in the suite); there is nothing to flush or close yet
        os._exit(0)

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, stop)
