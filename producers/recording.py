"""Recorded polls (DESIGN §3): JSON Lines, one poll a line, gzipped when the name ends in .gz.

`{"captured_at": "<RFC 3339 UTC>", "data": [<Helix stream objects exactly as returned>]}`

`data` holds every object of the poll's pages in order, duplicates included, so a replay
runs the same de-duplication as the live poll did and reproduces its events exactly.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Optional

import orjson

from pulse.events import format_ts, parse_ts


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")


class Recorder:
    """Appends polls to a file, one flushed line per poll (a crash loses at most the current one)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = _open(self.path, "a")
        self.polls = 0

    def write(self, captured_at_ms: int, streams: list[dict[str, Any]]) -> None:
        self._file.write(orjson.dumps({"captured_at": format_ts(captured_at_ms), "data": streams}) + b"\n")
        self._file.flush()
        self.polls += 1

    def close(self) -> None:
        self._file.close()


class RecordingError(ValueError):
    """A line of a recording is not a poll; the message names the file and line."""


class Reader:
    """Iterates (captured_at_ms, data) over a recording; `progress` is the share of bytes read."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.size = os.path.getsize(self.path)
        self._raw: Optional[io.BufferedReader] = None

    @property
    def progress(self) -> float:
        if self._raw is None or not self.size:
            return 0.0
        if self._raw.closed:  # read to the end
            return 1.0
        return min(1.0, self._raw.tell() / self.size)

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        with open(self.path, "rb") as raw:
            self._raw = raw  # type: ignore[assignment]
            stream: Iterable[bytes] = gzip.GzipFile(fileobj=raw) if self.path.suffix == ".gz" else raw
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    poll = orjson.loads(line)
                    captured_at = parse_ts(poll["captured_at"])
                    data = poll["data"]
                    if not isinstance(data, list):
                        raise TypeError("data is not a list")
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise RecordingError(f"{self.path}:{number}: not a recorded poll ({exc})") from None
                del line, poll  # one poll's text and objects are the largest thing in memory: only `data` stays
                yield captured_at, data
