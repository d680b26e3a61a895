"""Shared test set-up: a deterministic hypothesis profile, a private data cache, a loopback HTTP server."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# derandomize: the same examples on every run, so CI is reproducible; 200 examples per property by default.
settings.register_profile("d2lx", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("d2lx")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private, empty cache for one test."""
    monkeypatch.setenv("D2LX_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, int | None]] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        status, body, claimed_length = self.routes.get(self.path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Length", str(claimed_length or len(body)))
        self.end_headers()
        self.wfile.write(body)  # a claimed length above len(body) makes the client's read end short

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(monkeypatch):
    """Serve ``routes[path] = (status, body, claimed_length)`` on 127.0.0.1; yields (base_url, routes)."""
    monkeypatch.setenv("D2LX_OFFLINE", "0")
    routes: dict[str, tuple[int, bytes, int | None]] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", routes
    finally:
        server.shutdown()
        server.server_close()
