"""A thin Helix client: app token, validation, rate-limit pacing, retries. One per credential.

Why not the `twitchAPI` package: it is asyncio/aiohttp-only (a second HTTP stack beside
httpx), its paginating helpers follow cursors blindly (no de-duplication, no loop-back or
"IA" guard, no invalid-cursor retry), and it hides the `Ratelimit-*` headers and the
per-request status we must count. The producer needs exactly four endpoints and full
control over every DESIGN §8 defence, so ~200 lines on httpx (already a dependency, with
pooled keep-alive connections) are smaller and clearer than working around a framework.

Behaviour:
- Token: `POST {auth}/token` (client credentials, secret in the form body, never a URL).
  App tokens cannot be refreshed: any 401 from Helix gets a new token and one retry.
- `GET {auth}/validate` at start and every hour (simulated clock); 401 -> new token.
- Rate limit: each response's `Ratelimit-Limit/Remaining/Reset` updates an estimate of the
  bucket, refilled at limit/60 s; a request waits for a point (keeping a small reserve for
  concurrent chains), so steady polling never provokes a 429. A 429 waits until Reset.
- 5xx, timeouts and connection errors: jittered exponential backoff, then `HelixError`.
- 400 on a cursor -> `InvalidCursor`; a 200 whose body is not the expected JSON ->
  `MalformedPage` (both left to the paginator, which retries and counts).
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any, Optional, Sequence

import httpx
import orjson
from pydantic import SecretStr

from pulse.clock import CLOCK_HEADER, Clock

from . import metrics

log = logging.getLogger("producers.helix")
VALIDATE_EVERY = 3600.0


class HelixError(Exception):
    """A request that failed after every retry (its message never carries a secret)."""


class AuthError(HelixError):
    """Twitch refused the client credentials: a configuration problem, not transient."""


class InvalidCursor(HelixError):
    pass


class MalformedPage(HelixError):
    pass


class HelixClient:
    def __init__(self, client_id: str, client_secret: SecretStr, api_url: str, auth_url: str,
                 clock: Optional[Clock] = None, *, name: str = "0", timeout: float = 10.0,
                 max_retries: int = 5, backoff: float = 0.5, reserve: int = 4,
                 stop: Optional[threading.Event] = None) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.api_url, self.auth_url = api_url.rstrip("/"), auth_url.rstrip("/")
        self.clock = clock or Clock()
        self.name = name
        self.max_retries, self.backoff, self.reserve = max_retries, backoff, reserve
        self.stop = stop or threading.Event()
        self.http = httpx.Client(timeout=timeout, headers={"Accept": "application/json"},
                                 limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
        self._token: Optional[str] = None
        self._token_lock = threading.Lock()
        self._validated_at = float("-inf")
        self._rl_lock = threading.Lock()
        self._limit: Optional[int] = None
        self._tokens = 0.0
        self._seen_at = 0.0
        self.last_remaining: Optional[int] = None

    def __repr__(self) -> str:  # no secret, no token
        return f"HelixClient(client_id={self.client_id!r}, api_url={self.api_url!r})"

    def close(self) -> None:
        self.http.close()

    # --- auth ---------------------------------------------------------------------------
    def _new_token(self, stale: Optional[str] = None) -> str:
        with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token  # another thread already replaced it
            data = {"client_id": self.client_id, "client_secret": self._secret.get_secret_value(),
                    "grant_type": "client_credentials"}
            resp = self._send("token", "POST", f"{self.auth_url}/token", data=data)
            self.clock.adopt(resp.headers.get(CLOCK_HEADER))
            if resp.status_code in (400, 401, 403):
                raise AuthError(f"Twitch refused client id {self.client_id}: {_message(resp)}")
            if resp.status_code != 200:
                raise HelixError(f"token request failed with HTTP {resp.status_code}")
            try:
                token = orjson.loads(resp.content)["access_token"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise HelixError("token response without access_token") from None
            metrics.TOKENS.inc()
            self._token = token
            self._validated_at = self.clock.now()
            log.info("credential %s: new app access token", self.name)
            return token

    def token(self) -> str:
        return self._token or self._new_token()

    def validate(self) -> dict[str, Any]:
        """`GET /oauth2/validate`; a 401 gets a new token (validated by construction)."""
        token = self.token()
        resp = self._send("validate", "GET", f"{self.auth_url}/validate",
                          headers={"Authorization": f"OAuth {token}"})
        if resp.status_code == 401:
            log.warning("credential %s: token no longer valid, getting a new one", self.name)
            self._new_token(stale=token)
            return {}
        if resp.status_code != 200:
            raise HelixError(f"token validation failed with HTTP {resp.status_code}")
        self._validated_at = self.clock.now()
        return orjson.loads(resp.content)

    def _maybe_validate(self) -> None:
        if self.clock.now() - self._validated_at >= VALIDATE_EVERY:
            self.validate()

    # --- transport ----------------------------------------------------------------------
    def _send(self, endpoint: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange with retries on 5xx/timeouts; returns the last response."""
        for attempt in range(self.max_retries + 1):
            try:
                resp = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                metrics.HTTP_REQUESTS.labels(endpoint, "error").inc()
                if attempt == self.max_retries:
                    raise HelixError(f"{endpoint}: {type(exc).__name__} after {attempt + 1} attempts") from None
                self._backoff(attempt, f"{endpoint}: {type(exc).__name__}")
                continue
            metrics.HTTP_REQUESTS.labels(endpoint, str(resp.status_code)).inc()
            if resp.status_code >= 500 and attempt < self.max_retries:
                self._backoff(attempt, f"{endpoint}: HTTP {resp.status_code}")
                continue
            return resp
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, why: str) -> None:
        delay = min(30.0, self.backoff * 2**attempt) * (0.5 + random.random())
        log.warning("credential %s: %s; retrying in %.2fs", self.name, why, delay)
        if self.stop.wait(delay):
            raise HelixError("stopped")

    # --- rate limit ---------------------------------------------------------------------
    def _acquire(self) -> None:
        """Wait until the bucket estimate has a point to spend beyond the reserve."""
        waited = False
        while True:
            with self._rl_lock:
                if self._limit is None:
                    break
                now = self.clock.now()
                self._tokens = min(self._limit, self._tokens + (now - self._seen_at) * self._limit / 60.0)
                self._seen_at = now
                if self._tokens >= 1 + self.reserve:
                    self._tokens -= 1
                    break
                wait = (1 + self.reserve - self._tokens) * 60.0 / self._limit
            waited = True
            if not self.clock.sleep(wait, self.stop):
                raise HelixError("stopped")
        if waited:
            metrics.RATELIMIT_WAITS.inc()

    def _observe(self, resp: httpx.Response) -> None:
        try:
            limit = int(resp.headers["Ratelimit-Limit"])
            remaining = int(resp.headers["Ratelimit-Remaining"])
        except (KeyError, ValueError):
            return
        with self._rl_lock:
            self._limit, self._tokens, self._seen_at = limit, float(remaining), self.clock.now()
        self.last_remaining = remaining
        metrics.RATELIMIT_REMAINING.labels(self.name).set(remaining)

    # --- Helix --------------------------------------------------------------------------
    def get(self, path: str, params: Sequence[tuple[str, str]], endpoint: str = "") -> dict[str, Any]:
        """GET a Helix path; returns the decoded JSON object (with a `data` list)."""
        endpoint = endpoint or path.strip("/").split("/")[0]
        self._maybe_validate()
        for auth_attempt in range(3):
            token = self.token()
            while True:
                self._acquire()
                resp = self._send(endpoint, "GET", f"{self.api_url}{path}", params=list(params),
                                  headers={"Authorization": f"Bearer {token}", "Client-Id": self.client_id})
                self._observe(resp)
                if resp.status_code != 429:
                    break
                reset = _float(resp.headers.get("Ratelimit-Reset"), self.clock.now() + 1)
                log.warning("credential %s: 429 rate limited; waiting until reset", self.name)
                metrics.RATELIMIT_WAITS.inc()
                if not self.clock.sleep_until(max(reset, self.clock.now() + 0.05), self.stop):
                    raise HelixError("stopped")
            if resp.status_code == 401:
                log.warning("credential %s: Helix answered 401 (%s); getting a new token",
                            self.name, _message(resp))
                self._new_token(stale=token)
                continue
            if resp.status_code == 400 and "cursor" in _message(resp).lower():
                raise InvalidCursor(_message(resp))
            if resp.status_code != 200:
                raise HelixError(f"{endpoint}: HTTP {resp.status_code}: {_message(resp)}")
            try:
                body = orjson.loads(resp.content)
            except orjson.JSONDecodeError:
                raise MalformedPage(f"{endpoint}: body is not valid JSON") from None
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise MalformedPage(f"{endpoint}: body has no data list")
            return body
        raise HelixError(f"{endpoint}: still 401 after new tokens")

    def games(self, ids: Sequence[str] = (), names: Sequence[str] = ()) -> list[dict[str, Any]]:
        """`GET /helix/games` in chunks of 100 ids/names."""
        wanted = [("id", i) for i in ids] + [("name", n) for n in names]
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), 100):
            found += self.get("/games", wanted[start:start + 100], "games")["data"]
        return found


def _message(resp: httpx.Response) -> str:
    try:
        body = orjson.loads(resp.content)
        return str(body.get("message") or body.get("error") or "") if isinstance(body, dict) else ""
    except orjson.JSONDecodeError:
        return ""


def _float(value: Optional[str], default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default
