"""An exception as the one line a person reads in a log, on /healthz or as a CLI's last word."""

from __future__ import annotations


def first_line(exc: BaseException, with_type: bool = False) -> str:
    """The exception's first line of text, its second too when there is one (the Snowflake
    connector puts the code on one line and the cause on the next); its type when it has no
    text, or in front of it with `with_type` (a broker error's text alone can be cryptic)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = " ".join(lines[:2])
    return f"{type(exc).__name__}: {text}" if with_type else text
