"""A real HTTP/1.1 server (stdlib) whose answers a test scripts: statuses, Retry-After,
dropped keep-alive connections.  It records which client connection carried each request."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Script:
    statuses: list[int] = field(default_factory=list)  # answers to POST /detect, in order; then 200
    retry_after: str | None = None
    drop_after_each: bool = False  # close every connection after answering, without saying so
    ports: list[int] = field(default_factory=list)
    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    script: Script

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.script.ports.append(self.client_address[1])
        if self.path == "/model":
            self._answer(200, {"name": "fake", "classes": ["a", "b"]})
        else:
            self._answer(404, {"error": {"code": "not_found", "message": "no such route"}})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.script.lock:
            self.script.ports.append(self.client_address[1])
            self.script.bodies.append((self.headers["Content-Type"], body))
            status = self.script.statuses.pop(0) if self.script.statuses else 200
        if status == 200:
            result = {"detections": [], "image": {"width": 1, "height": 1}, "size": len(body)}
            multipart = self.headers["Content-Type"].startswith("multipart/")
            self._answer(200, {"results": [result] * body.count(b'name="image"')} if multipart else result)
            return
        headers = {"Retry-After": self.script.retry_after} if self.script.retry_after and status == 503 else {}
        self._answer(status, {"error": {"code": "x", "message": f"scripted {status}"}}, headers)

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        if self.script.drop_after_each:
            self.close_connection = True


@contextlib.contextmanager
def serve(script: Script) -> Iterator[str]:
    """Serve ``script`` on a free port while the context is open; yields ``host:port``."""
    handler = type("ScriptedHandler", (Handler,), {"script": script})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
