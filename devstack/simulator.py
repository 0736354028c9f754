"""The Helix simulator: a real HTTP server speaking the parts of Twitch the producer uses.

Routes (same paths, parameters, headers and error bodies as Twitch):
- `POST /oauth2/token` (client credentials) and `GET /oauth2/validate` (`Authorization: OAuth`)
- `GET /helix/streams` (`first`, `after`, `game_id`, `language`, `user_login`, repeated)
- `GET /helix/games` (`id`, `name`, repeated)
- admin, for tests and demos: `GET /admin/state`, `GET /admin/streams` (the current live set),
  `POST /admin/faults` (switch behaviours at run time), `POST /admin/spike`,
  `POST /admin/drain` (empty a client's rate-limit bucket), `POST /admin/revoke` (all tokens).

Every DESIGN §8 behaviour is a switch in `Faults`; a fault's decision is a hash of
(seed, fault, request), never a shared RNG, so it is reproducible whatever the thread
interleaving. Injected errors happen on the first presentation of a request only, so a
client that retries gets through (as with real intermittent errors).

Start it in a thread with `SimulatorServer(config).start()` (returns itself; `.url`,
`.host`, `.port`, `.stop()`), or as a process with `twitch-pulse simulate`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import orjson

from pulse.clock import CLOCK_HEADER, Clock
from pulse.events import parse_ts

from .population import STREAM_ID, Population, Snapshot

log = logging.getLogger("devstack.simulator")


@dataclass
class Faults:
    """DESIGN §8, each switchable; probabilities are per page/request, decided by seeded hash."""

    drift: float = 0.0  # a page boundary moves: 1-3 streams repeated (duplicates) or skipped (misses)
    loop_back: bool = False  # the last page's cursor leads back to page 1
    ia_cursor: bool = False  # a single-page result carries cursor "IA", which serves page 1 again
    invalid_cursor: float = 0.0  # a cursor is refused with 400 "invalid cursor" (first time)
    short_pages: float = 0.0  # a page is cut short (the rest follows); the last cursor yields nothing
    malformed: float = 0.0  # a page's body is broken JSON (first time)
    server_errors: float = 0.0  # 503 (first time)
    revoke_every: int = 0  # every N Helix requests all tokens expire -> 401

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in names:
                raise KeyError(f"unknown fault {key!r}")
            current = getattr(self, key)
            setattr(self, key, type(current)(value))


@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    channels: int = 3000
    games: int = 2000
    seed: int = 1
    speed: float = 1.0
    anchor: float = 0.0  # 0: anchor at start (see pulse/clock.py)
    step_seconds: float = 60.0
    frozen: bool = False  # keep the first step's population forever (exact-set tests)
    rate_limit: int = 800  # points per simulated minute per client id
    token_ttl: int = 5_184_000  # seconds a token lives (Twitch: ~60 days)
    clients: dict[str, str] = field(default_factory=dict)  # accepted id -> secret; empty = any
    faults: Faults = field(default_factory=Faults)


class _Bucket:
    """Token bucket: `limit` points, refilled continuously over 60 simulated seconds."""

    def __init__(self, limit: int, now: float) -> None:
        self.limit, self.tokens, self.updated = limit, float(limit), now

    def take(self, now: float) -> tuple[bool, dict[str, str]]:
        self.tokens = min(self.limit, self.tokens + (now - self.updated) * self.limit / 60.0)
        self.updated = now
        ok = self.tokens >= 1
        if ok:
            self.tokens -= 1
        reset = now + (self.limit - self.tokens) * 60.0 / self.limit
        return ok, {"Ratelimit-Limit": str(self.limit), "Ratelimit-Remaining": str(int(self.tokens)),
                    "Ratelimit-Reset": str(int(reset + 0.999))}


class Helix:
    """The simulator's state and request logic, independent of the HTTP plumbing."""

    def __init__(self, config: SimulatorConfig, clock: Optional[Clock] = None) -> None:
        self.config = config
        self.clock = clock or Clock(config.speed, config.anchor or None)
        self.population = Population(config.channels, config.games, config.seed,
                                     config.step_seconds, self.clock.now(), config.frozen)
        self.faults = config.faults
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expiry)
        self.buckets: dict[str, _Bucket] = {}
        self.failed: set[tuple] = set()  # requests whose injected fault already fired
        self.stats: Counter = Counter()
        self.missed: set[str] = set()  # stream ids skipped by a forward drift
        self.helix_requests = 0

    # --- helpers ----------------------------------------------------------------------
    def _roll(self, fault: str, *key: Any) -> float:
        digest = hashlib.blake2b(repr((self.config.seed, fault, key)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def _first_time(self, fault: str, probability: float, *key: Any) -> bool:
        if probability <= 0 or self._roll(fault, *key) >= probability:
            return False
        with self.lock:
            if (fault, key) in self.failed:
                return False
            self.failed.add((fault, key))
            return True

    @staticmethod
    def _error(status: int, message: str) -> tuple[int, dict, bytes]:
        names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 429: "Too Many Requests", 503: "Service Unavailable"}
        body = {"error": names.get(status, "Error"), "status": status, "message": message}
        return status, {}, orjson.dumps(body)

    @staticmethod
    def encode_cursor(offset: int, step: int) -> str:
        raw = orjson.dumps({"b": {"Cursor": f"o:{offset}"}, "s": step})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode_cursor(cursor: str) -> Optional[int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            return int(orjson.loads(raw)["b"]["Cursor"].split(":", 1)[1])
        except Exception:
            return None

    # --- OAuth --------------------------------------------------------------------------
    def token(self, params: dict[str, list[str]]) -> tuple[int, dict, bytes]:
        client_id = (params.get("client_id") or [""])[0]
        secret = (params.get("client_secret") or [""])[0]
        if (params.get("grant_type") or [""])[0] != "client_credentials":
            return self._error(400, "unsupported grant type")
        if not client_id:
            return self._error(400, "missing client id")
        if self.config.clients and client_id not in self.config.clients:
            return self._error(400, "invalid client")
        if self.config.clients and self.config.clients[client_id] != secret or not secret:
            return self._error(403, "invalid client secret")
        token = secrets.token_hex(15)
        with self.lock:
            self.tokens[token] = (client_id, self.clock.now() + self.config.token_ttl)
            self.stats["token"] += 1
        body = {"access_token": token, "expires_in": self.config.token_ttl, "token_type": "bearer"}
        return 200, {}, orjson.dumps(body)

    def _token_client(self, token: str) -> Optional[tuple[str, float]]:
        entry = self.tokens.get(token)
        if entry is None or entry[1] <= self.clock.now():
            return None
        return entry

    def validate(self, headers) -> tuple[int, dict, bytes]:
        self.stats["validate"] += 1
        auth = headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        entry = self._token_client(token) if scheme.lower() == "oauth" else None
        if entry is None:
            return self._error(401, "invalid access token")
        body = {"client_id": entry[0], "scopes": [], "expires_in": int(entry[1] - self.clock.now())}
        return 200, {}, orjson.dumps(body)

    # --- Helix --------------------------------------------------------------------------
    def helix(self, path: str, params: dict[str, list[str]], headers) -> tuple[int, dict, bytes]:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        client_id = headers.get("Client-Id", "")
        with self.lock:
            self.helix_requests += 1
            if self.faults.revoke_every and self.helix_requests % self.faults.revoke_every == 0:
                self.tokens.clear()
                self.stats["revoked"] += 1
            entry = self._token_client(token) if scheme.lower() == "bearer" else None
        if not client_id:
            return self._error(401, "Client ID header is required")
        if entry is None:
            return self._error(401, "Invalid OAuth token")
        if entry[0] != client_id:
            return self._error(401, "Client ID and OAuth token do not match")
        now = self.clock.now()
        with self.lock:
            bucket = self.buckets.setdefault(client_id, _Bucket(self.config.rate_limit, now))
            ok, limit_headers = bucket.take(now)
        if not ok:
            status, _, body = self._error(429, "Too Many Requests")
            return status, limit_headers, body
        key = (path, tuple(sorted((k, tuple(v)) for k, v in params.items())))
        if self._first_time("server_errors", self.faults.server_errors, key):
            status, _, body = self._error(503, "Service Unavailable")
            return status, limit_headers, body
        if path == "/helix/games":
            games = self.population.find_games(params.get("id", []), params.get("name", []))
            return 200, limit_headers, orjson.dumps({"data": [g.as_helix() for g in games]})
        if path != "/helix/streams":
            return self._error(404, "Not Found")
        status, body = self._streams(params, key)
        return status, limit_headers, body

    def _streams(self, params: dict[str, list[str]], key: tuple) -> tuple[int, bytes]:
        try:
            first = int((params.get("first") or ["20"])[0])
        except ValueError:
            first = 0
        if not 1 <= first <= 100:
            return self._error(400, "The parameter \"first\" was malformed: the value must be between 1 and 100")[0::2]
        for name in ("game_id", "language", "user_login", "user_id"):
            if len(params.get(name, [])) > 100:
                return self._error(400, f"The parameter \"{name}\" may be specified at most 100 times")[0::2]
        snap = self.population.snapshot(self.clock.now())
        rows = snap.filtered(frozenset(params.get("game_id", [])), frozenset(params.get("language", [])),
                             frozenset(params.get("user_login", [])))
        after = (params.get("after") or [""])[0]
        faults = self.faults
        if after == "IA":
            offset = 0  # Twitch's "IA" leads back to the start
        elif after:
            offset = self.decode_cursor(after)
            if offset is None or offset < 0:
                return self._error(400, "invalid cursor")[0::2]
            if self._first_time("invalid_cursor", faults.invalid_cursor, key):
                return self._error(400, "invalid cursor")[0::2]
        else:
            offset = 0
        if after and after != "IA" and faults.drift and offset < len(rows):
            roll = self._roll("drift", snap.step, key)
            if roll < faults.drift:
                shift = 1 + int(self._roll("drift-size", snap.step, key) * 3)
                if roll < faults.drift / 2:  # streams moved down: the previous page's tail again
                    offset = max(0, offset - shift)
                    self.stats["drift_duplicates"] += min(shift, offset + shift)
                else:  # streams moved up past the cursor: never served in this sweep
                    with self.lock:
                        self.missed.update(r[STREAM_ID] for r in rows[offset:offset + shift])
                    offset += shift
        size = first
        if faults.short_pages and self._roll("short", snap.step, key) < faults.short_pages:
            size = max(1, int(first * self._roll("short-size", snap.step, key)))
        page = rows[offset:offset + size]
        end = offset + len(page)
        if not after and end >= len(rows):  # everything fitted on one page
            cursor = "IA" if faults.ia_cursor and rows else None
        elif end < len(rows):
            cursor = self.encode_cursor(end, snap.step)
        elif faults.loop_back:
            cursor = self.encode_cursor(0, snap.step)
        elif faults.short_pages and page:
            cursor = self.encode_cursor(end, snap.step)  # a last cursor that yields nothing
        else:
            cursor = None
        if after == "IA":
            cursor = "IA"
        body = orjson.dumps({"data": [Snapshot.as_helix(r) for r in page],
                             "pagination": {"cursor": cursor} if cursor else {}})
        if self._first_time("malformed", faults.malformed, key):
            self.stats["malformed"] += 1
            body = body[: max(1, len(body) // 2)]
        return 200, body

    # --- admin --------------------------------------------------------------------------
    def admin(self, method: str, path: str, payload: dict) -> tuple[int, dict, bytes]:
        if path == "/admin/state" and method == "GET":
            snap = self.population.snapshot(self.clock.now())
            body = {"time": self.clock.now(), "step": snap.step, "live": len(snap.rows),
                    "speed": self.clock.speed, "anchor": self.clock.anchor,
                    "faults": asdict(self.faults), "stats": dict(self.stats),
                    "helix_requests": self.helix_requests, "missed": len(self.missed)}
            return 200, {}, orjson.dumps(body)
        if path == "/admin/streams" and method == "GET":
            snap = self.population.snapshot(self.clock.now())
            return 200, {}, orjson.dumps({"step": snap.step, "data": [Snapshot.as_helix(r) for r in snap.rows]})
        if method != "POST":
            return self._error(404, "Not Found")
        try:
            if path == "/admin/faults":
                self.faults.update(payload)
                return 200, {}, orjson.dumps(asdict(self.faults))
            if path == "/admin/spike":
                at = payload.get("at")
                start = self.clock.now() if at is None else (
                    parse_ts(at) / 1000 if isinstance(at, str) else float(at))
                spike = self.population.add_spike(
                    int(payload["viewers"]), start, float(payload.get("duration_seconds", 600)),
                    user_login=payload.get("user_login", ""), game_id=payload.get("game_id", ""),
                    game_name=payload.get("game_name", ""))
                return 200, {}, orjson.dumps(asdict(spike))
            if path == "/admin/drain":
                self.drain(payload.get("client_id", ""))
                return 200, {}, b"{}"
            if path == "/admin/revoke":
                with self.lock:
                    self.tokens.clear()
                return 200, {}, b"{}"
        except (KeyError, ValueError, TypeError) as exc:
            return self._error(400, str(exc))
        return self._error(404, "Not Found")

    def drain(self, client_id: str) -> None:
        """Empty a client's bucket, as if another process had spent it (provokes a 429)."""
        with self.lock:
            bucket = self.buckets.setdefault(client_id, _Bucket(self.config.rate_limit, self.clock.now()))
            bucket.tokens, bucket.updated = 0.0, self.clock.now()

    def live_streams(self) -> list[dict]:
        snap = self.population.snapshot(self.clock.now())
        return [Snapshot.as_helix(r) for r in snap.rows]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a full sweep is ~1,200 requests
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header(CLOCK_HEADER, self.server.helix.clock.header())
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        helix = self.server.helix
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if url.path == "/oauth2/token" and method == "POST":
                if raw and "json" not in (self.headers.get("Content-Type") or ""):
                    for key, value in parse_qs(raw.decode()).items():
                        params.setdefault(key, value)
                result = helix.token(params)
            elif url.path == "/oauth2/validate" and method == "GET":
                result = helix.validate(self.headers)
            elif url.path.startswith("/helix/") and method == "GET":
                result = helix.helix(url.path, params, self.headers)
            elif url.path.startswith("/admin/"):
                result = helix.admin(method, url.path, orjson.loads(raw) if raw else {})
            else:
                result = helix._error(404, "Not Found")
        except Exception as exc:  # a bug here must not kill the server thread silently
            log.exception("simulator error on %s", url.path)
            result = helix._error(500, f"internal error: {type(exc).__name__}")
        with helix.lock:
            helix.stats[f"http_{result[0]}"] += 1
        self._send(*result)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    helix: Helix


class SimulatorServer:
    """The simulator on a real socket, served from a background thread."""

    def __init__(self, config: Optional[SimulatorConfig] = None, clock: Optional[Clock] = None) -> None:
        self.config = config or SimulatorConfig()
        self.helix = Helix(self.config, clock)
        self._server = _Server((self.config.host, self.config.port), _Handler)
        self._server.helix = self.helix
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="helix-simulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/helix"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/oauth2"

    def start(self) -> "SimulatorServer":
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
