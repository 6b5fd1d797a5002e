"""A loopback HTTP proxy in front of a Prefect API that can answer 503 for a while.

The run under test talks to the proxy's URL; :meth:`ApiProxy.fail_for` makes it answer every
request with ``503 Service Unavailable`` (what a busy or restarting server behind a load
balancer says) for a number of seconds, then forward again.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class ApiProxy:
    """``url``: the proxied API (``http://127.0.0.1:PORT/api``); forwards to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/api")
        self.failing_until = 0.0
        self.refused = 0  # requests answered 503
        proxy = self
        client = httpx.Client(timeout=60)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if time.monotonic() < proxy.failing_until:
                    proxy.refused += 1
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                try:
                    answer = client.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
                except httpx.HTTPError:
                    self.send_response(502)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._client = client
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api"
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-proxy", daemon=True)
        self._thread.start()

    def fail_for(self, seconds: float) -> None:
        """Answer 503 to everything for ``seconds`` from now."""
        self.failing_until = time.monotonic() + seconds

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
