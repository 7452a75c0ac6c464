"""An HTTP client for a running trt-detect server, on the standard library alone.

``http.client`` rather than ``httpx``/``requests``: the client ships with the base install
(no Ray, no serve extra), where neither is a dependency, and all it needs is keep-alive,
multipart and a retry loop.

Thread-safe: every thread gets its own keep-alive connection, so one :class:`Client` can be
shared by a thread pool (``trt-detect bench`` does).  From asyncio, call it through
``await asyncio.to_thread(client.detect, data)``.

A 503 or 429 is retried up to ``retries`` times, waiting what ``Retry-After`` asks (or an
exponential backoff without it), never more than ``max_wait_s`` per wait.  A keep-alive
connection the server closed while idle is reopened once, transparently.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trt_core.errors import TrtDetectError

RETRY_STATUSES = (429, 503)


class ServerError(TrtDetectError):
    """The server answered with an error (``status``), or could not be reached (``status`` None)."""

    code = "server"

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        self.status = status
        super().__init__(message, hint=hint)


class ServerUnreachable(ServerError):
    """No connection, or the connection broke before an answer."""


class ServerTimeout(ServerError):
    """No answer within the client's timeout."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def normalise_url(url: str) -> str:
    """``host:port`` -> ``http://host:port``; no trailing slash.  Raises ``ValueError`` if unusable."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.netloc.endswith(":"):
        raise ValueError(f"expected http(s)://HOST[:PORT] or HOST:PORT, got {url!r}")
    parts.port  # noqa: B018  (raises ValueError for a bad port)
    return text.rstrip("/")


class Client:
    def __init__(self, url: str, *, timeout: float = 60.0, retries: int = 3, max_wait_s: float = 10.0) -> None:
        self.url = normalise_url(url)
        parts = urllib.parse.urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path
        self.timeout = timeout
        self.retries = retries
        self.max_wait_s = max_wait_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[http.client.HTTPConnection] = []

    # -- the API ------------------------------------------------------------------------------
    def detect(self, image: bytes, **query: Any) -> dict[str, Any]:
        """``POST /detect`` with one image's bytes -> the result dict."""
        return dict(self._call("POST", "/detect", image, query, "application/octet-stream").json())

    def detect_many(self, images: Sequence[bytes], **query: Any) -> list[dict[str, Any]]:
        """One multipart ``POST /detect`` with several images -> their results, in order."""
        body, content_type = encode_multipart(images)
        return list(self._call("POST", "/detect", body, query, content_type).json()["results"])

    def annotate(self, image: bytes, *, fmt: str = "jpeg", **query: Any) -> bytes:
        """``POST /annotate`` -> the image with the boxes drawn (JPEG, or PNG with ``fmt="png"``)."""
        return self._call("POST", "/annotate", image, query, "application/octet-stream", accept=f"image/{fmt}").body

    def model(self) -> dict[str, Any]:
        return dict(self._call("GET", "/model").json())

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/healthz").json())

    def close(self) -> None:
        """Close every thread's connection (later calls reopen one)."""
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Response:
        """One request with the retry policy; any status is returned, only transport errors raise."""
        given = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        target = self._prefix + path + ("?" + urllib.parse.urlencode(given) if given else "")
        for attempt in range(self.retries + 1):
            response = self._send(method, target, body, dict(headers or {}))
            if response.status not in RETRY_STATUSES or attempt == self.retries:
                return response
            time.sleep(self._wait_s(response, attempt))
        raise AssertionError("unreachable")

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        query: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        *,
        accept: str = "application/json",
    ) -> Response:
        headers = {"Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = self.request(method, path, body, headers=headers, query=query)
        if response.status >= 400:
            raise ServerError(_error_message(response), status=response.status)
        return response

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Response:
        connection = self._connection()
        reused = connection.sock is not None
        try:
            connection.request(method, target, body=body, headers=headers)
            raw = connection.getresponse()
            data = raw.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            connection.close()
            if reused:  # the server closed an idle keep-alive connection: one fresh try
                return self._send(method, target, body, headers)
            raise self._unreachable(exc) from None
        except TimeoutError:
            connection.close()
            raise ServerTimeout(
                f"no answer from {self.url} within {self.timeout:g} s",
                hint="raise --timeout, or check the server's load",
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise self._unreachable(exc) from None
        if raw.will_close:
            connection.close()
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._open.append(connection)
        return connection

    def _unreachable(self, exc: BaseException) -> ServerError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ServerUnreachable(f"cannot reach {self.url}: {reason}", hint="is the server running? check the URL")

    def _wait_s(self, response: Response, attempt: int) -> float:
        return min(self.max_wait_s, retry_after_s(response.headers.get("retry-after")) or 0.25 * 2**attempt)


def retry_after_s(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def encode_multipart(images: Sequence[bytes], field: str = "image") -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with each image as a file in ``field`` (the stdlib has no encoder)."""
    boundary = uuid.uuid4().hex
    parts = []
    for i, data in enumerate(images):
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="image{i}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts += [head.encode(), bytes(data), b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _error_message(response: Response) -> str:
    try:
        error = response.json()["error"]
        return f"server answered {response.status}: {error['message']}"
    except Exception:
        return f"server answered {response.status} {http.client.responses.get(response.status, '')}".rstrip()
