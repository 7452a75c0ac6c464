"""A dependency-free HTTP client for a running trt-detect server (stdlib ``urllib``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from trt_core.errors import TrtDetectError


class ServerError(TrtDetectError):
    """The server answered with an error, or could not be reached."""

    code = "server"

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        self.status = status
        super().__init__(message, hint=hint)


class Client:
    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def detect(self, image: bytes, **query: str) -> dict[str, Any]:
        body, _ = self._post("/detect", image, query, accept="application/json")
        return dict(json.loads(body))

    def annotate(self, image: bytes, *, fmt: str = "jpeg", **query: str) -> bytes:
        body, _ = self._post("/annotate", image, query, accept=f"image/{fmt}")
        return body

    def model(self) -> dict[str, Any]:
        return dict(json.loads(self._request(urllib.request.Request(self.url + "/model"))[0]))

    def _post(self, path: str, data: bytes, query: dict[str, str], *, accept: str) -> tuple[bytes, str]:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/octet-stream", "Accept": accept}
        )
        return self._request(request)

    def _request(self, request: urllib.request.Request) -> tuple[bytes, str]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise ServerError(_error_message(exc), status=exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(f"cannot reach {self.url}: {reason}", hint="is the server running?") from None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
        return f"server answered {exc.code}: {error['message']}"
    except Exception:
        return f"server answered {exc.code} {exc.reason}"
