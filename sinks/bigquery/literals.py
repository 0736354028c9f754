"""Values written into BigQuery SQL as literals, safely.

BigQuery accepts query parameters in a multi-statement script, but the local emulator does
not, and the sinks' exactly-once write is one script (a transaction). So the few values that
script needs (the sink's consumer group, the topic name, partition and offset numbers) are
literals, made only here: a string becomes a double-quoted GoogleSQL string literal through
JSON's escaping (`\\"`, `\\\\`, `\\n`, `\\r`, `\\t`), which GoogleSQL reads the same way;
nothing else can end the literal. Other control characters are refused rather than escaped:
GoogleSQL reads `\\uXXXX` but the emulator keeps it as six characters, and no topic or group
name holds one. Integers are checked to be integers. Rows never go through literals: they
are staged (`sinks.bigquery.load`).
"""

from __future__ import annotations

import json
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")


def string(value: str) -> str:
    """A GoogleSQL string literal holding exactly `value`."""
    if not isinstance(value, str):
        raise TypeError(f"a string literal needs a str, not {type(value).__name__}")
    if _CONTROL.search(value):
        raise ValueError(f"control character in {value!r}: not written into SQL")
    # ensure_ascii=False: no \\ud83d surrogate pairs (GoogleSQL rejects them); non-ASCII as UTF-8
    return json.dumps(value, ensure_ascii=False)


def integer(value: int) -> str:
    """An INT64 literal; bool and anything that is not an int are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an INT64 literal needs an int, not {type(value).__name__}")
    if not -(2 ** 63) <= value < 2 ** 63:
        raise ValueError(f"{value} does not fit INT64")
    return str(value)


def identifier(name: str) -> str:
    """A table or column name of our own (specs, generated staging names), checked, unquoted."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name
