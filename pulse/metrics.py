"""Prometheus `/metrics` and a `/healthz` endpoint on one small HTTP server per worker.

prometheus-client does the exposition; this module only adds the health route, so a
container orchestrator and Prometheus can share one port.
"""

from __future__ import annotations

import errno
import threading
from socketserver import ThreadingMixIn
from typing import Callable, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app

from .settings import ConfigError

HealthCheck = Callable[[], tuple[bool, str]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class MetricsServer:
    """Serves `/metrics` (Prometheus text format) and `/healthz` (200 ok / 503 reason)."""

    def __init__(self, port: int, health: Optional[HealthCheck] = None, host: str = "0.0.0.0") -> None:
        self._health = health or (lambda: (True, "ok"))
        metrics_app = make_wsgi_app(REGISTRY)

        def app(environ, start_response):
            if environ.get("PATH_INFO") in ("/healthz", "/health"):
                ok, reason = self._health()
                status = "200 OK" if ok else "503 Service Unavailable"
                start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
                return [reason.encode()]
            return metrics_app(environ, start_response)

        try:
            self._server = make_server(host, port, app, _ThreadingWSGIServer, handler_class=_QuietHandler)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise ConfigError(f"METRICS_PORT: port {port} is already in use (another worker?); "
                              f"set METRICS_PORT to a free port, or 0 to disable metrics") from None
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_metrics_server(port: int, health: Optional[HealthCheck] = None) -> Optional[MetricsServer]:
    """Start the server unless `port` is 0 (disabled)."""
    if not port:
        return None
    return MetricsServer(port, health).start()
