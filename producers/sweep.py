"""One poll's sweep: cursor chains over Helix, every DESIGN §8 defence, then de-duplication.

A `Query` is one cursor chain (a filter combination). A shard's sweep runs its queries in
parallel threads, each on a credential dealt round-robin, and concatenates the raw stream
objects in query order, pages in order: exactly what `record` stores and what `dedupe`
(shared with `replay`) turns into stream objects, keeping the first occurrence of a stream id.

Pagination defences (`paginate`):
- duplicates from page drift: kept raw here, dropped by `dedupe` (counted);
- loop back to page 1: a page that starts with page 1's first stream or jumps from a tail
  of ~0 viewers to far more, or a cursor seen before, ends the chain and is discarded
  (a page of only already-seen streams is not enough: heavy drift on a short page does that);
- `"IA"` cursor, empty cursor, empty page: the end;
- `400 invalid cursor`: the same cursor is retried (3 times), then the chain ends incomplete;
- short pages: never taken as the end; only a missing cursor or an empty page is;
- malformed page (not JSON, no data list): counted, the same request retried twice, then
  the chain ends incomplete keeping what it has; a malformed stream object is counted and
  skipped by `dedupe`.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from pulse.events import normalise, valid_start

from . import metrics
from .helix import HelixClient, HelixError, InvalidCursor, MalformedPage

log = logging.getLogger("producers.sweep")
PAGE_SIZE = 100
CURSOR_RETRIES = 3
MALFORMED_RETRIES = 2
MAX_PAGES = 5000  # 500k streams: twice the all-time peak; a guard against endless cursors


@dataclass(frozen=True)
class Query:
    """One cursor chain: Helix ANDs the dimensions and ORs the values within one."""

    game_ids: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    user_logins: tuple[str, ...] = ()

    def params(self) -> list[tuple[str, str]]:
        return ([("game_id", g) for g in self.game_ids] + [("language", lang) for lang in self.languages]
                + [("user_login", u) for u in self.user_logins])

    def describe(self) -> str:
        parts = [f"{name}={len(values)}" for name, values in
                 (("games", self.game_ids), ("languages", self.languages), ("logins", self.user_logins)) if values]
        return ",".join(parts) or "all"


@dataclass
class ChainResult:
    streams: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    complete: bool = True
    loop_back: bool = False
    malformed_pages: int = 0
    invalid_cursors: int = 0
    error: str = ""


@dataclass
class SweepResult:
    streams: list[dict[str, Any]]  # raw Helix objects, query order then page order
    pages: int = 0
    complete: bool = True
    malformed_pages: int = 0
    loop_backs: int = 0
    errors: list[str] = field(default_factory=list)


def _viewers(stream: Any) -> int:
    try:
        return int(stream.get("viewer_count", 0))
    except (AttributeError, TypeError, ValueError):
        return 0


def _id(stream: Any) -> Any:
    return stream.get("id") if isinstance(stream, dict) else None


def paginate(client: HelixClient, query: Query, stop: Optional[threading.Event] = None) -> ChainResult:
    """Follow one cursor chain to its end, defending against every §8 behaviour."""
    result = ChainResult()
    cursors: set[str] = set()
    first_id: Any = None
    prev_last: Optional[int] = None
    after: Optional[str] = None
    cursor_failures = malformed_failures = 0
    while result.pages < MAX_PAGES:
        if stop is not None and stop.is_set():
            result.complete, result.error = False, "stopped"
            return result
        params = query.params() + [("first", str(PAGE_SIZE))] + ([("after", after)] if after else [])
        try:
            body = client.get("/streams", params, "streams")
        except InvalidCursor:
            result.invalid_cursors += 1
            metrics.INVALID_CURSORS.inc()
            cursor_failures += 1
            if cursor_failures > CURSOR_RETRIES:
                result.complete, result.error = False, "invalid cursor after retries"
                return result
            continue
        except MalformedPage as exc:
            result.malformed_pages += 1
            metrics.MALFORMED_PAGES.inc()
            malformed_failures += 1
            log.warning("query %s page %d: %s", query.describe(), result.pages + 1, exc)
            if malformed_failures > MALFORMED_RETRIES:
                result.complete, result.error = False, "malformed page after retries"
                return result
            continue
        except HelixError as exc:
            result.complete, result.error = False, str(exc)
            return result
        cursor_failures = malformed_failures = 0
        data = body["data"]
        cursor = (body.get("pagination") or {}).get("cursor") if isinstance(body.get("pagination"), dict) else None
        ids = [_id(s) for s in data]
        if result.pages and data and (
                ids[0] == first_id
                or (prev_last is not None and _viewers(data[0]) > 10 * prev_last + 100)):
            result.loop_back = True
            metrics.LOOP_BACKS.inc()
            log.info("query %s: cursor looped back to page 1 after %d pages; chain ends",
                     query.describe(), result.pages)
            return result
        result.pages += 1
        metrics.PAGES.inc()
        if data:
            if first_id is None:
                first_id = ids[0]
            prev_last = _viewers(data[-1])
            result.streams.extend(data)
        if not data or not cursor or cursor == "IA":
            return result
        if cursor in cursors:
            result.loop_back = True
            metrics.LOOP_BACKS.inc()
            return result
        cursors.add(cursor)
        after = cursor
    result.complete, result.error = False, f"more than {MAX_PAGES} pages"
    return result


def sweep(clients: Sequence[HelixClient], queries: Sequence[Query], concurrency: int = 4,
          stop: Optional[threading.Event] = None) -> SweepResult:
    """Run every query (in parallel, credentials dealt round-robin) and concatenate in order."""
    if not queries:
        return SweepResult(streams=[])
    jobs = [(clients[i % len(clients)], q) for i, q in enumerate(queries)]
    if len(jobs) == 1 or concurrency <= 1:
        chains = [paginate(c, q, stop) for c, q in jobs]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(jobs)), thread_name_prefix="chain") as pool:
            chains = list(pool.map(lambda job: paginate(job[0], job[1], stop), jobs))
    result = SweepResult(streams=[])
    for query, chain in zip(queries, chains):
        result.streams.extend(chain.streams)
        result.pages += chain.pages
        result.malformed_pages += chain.malformed_pages
        result.loop_backs += int(chain.loop_back)
        if not chain.complete:
            result.complete = False
            result.errors.append(f"{query.describe()}: {chain.error}")
    return result


@dataclass
class Polled:
    """A poll's stream objects (DESIGN §3), normalised and de-duplicated, and what was dropped."""

    streams: list[dict[str, Any]]
    duplicates: int = 0
    malformed: int = 0


def _valid(stream: dict[str, Any]) -> bool:
    """`full_stream_error(stream) is None` for an object `normalise` made, at a third of the cost.

    `normalise` already gave every field its type, so only the values remain to check: the
    viewer count's range, non-empty ids and the started_at timestamp (parsed values are
    remembered). tests/integration/test_producer.py holds this equal to `full_stream_error`.
    """
    viewers = stream["viewer_count"]
    if viewers < 0 or viewers >= 2**53 or not stream["stream_id"] or not stream["user_id"]:
        return False
    return valid_start(stream["started_at"])


def dedupe(streams: Iterable[Any]) -> Polled:
    """Raw Helix objects -> stream objects, the first occurrence of a stream id kept.

    An object that cannot be normalised or violates the schema (`full_stream_error`, the
    sinks' own check) is counted as malformed and dropped; so is one too large to fit in a
    chunk on its own (see `producers.emitter.cut`).
    """
    out = Polled(streams=[])
    seen: set[str] = set()
    keep = out.streams.append
    for raw in streams:
        try:
            stream = normalise(raw)
        except (KeyError, TypeError, ValueError, AttributeError):
            out.malformed += 1
            continue
        if not _valid(stream):
            out.malformed += 1
            continue
        stream_id = stream["stream_id"]
        if stream_id in seen:
            out.duplicates += 1
            continue
        seen.add(stream_id)
        keep(stream)
    return out
