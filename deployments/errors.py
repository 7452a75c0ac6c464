"""Every failure of a request, mapped once to the documented error envelope.

``{"error": {"code": ..., "message": ...}}`` with the right status: the project's own
errors keep theirs; a stage at capacity or without a live replica is a 503 with
``Retry-After``; a missed deadline a 504; anything else a 500 whose body names no
internals (actor ids, addresses, tracebacks go to the log, with the request id).
"""

from __future__ import annotations

import asyncio
import logging

from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
from ray.serve.exceptions import (
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
    RequestCancelledError,
)
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trt_core.errors import DeadlineExceededError, OverloadedError, TrtDetectError

logger = logging.getLogger("ray.serve")

RETRY_AFTER_S = 1
UNAVAILABLE = (
    DeploymentUnavailableError,
    ReplicaUnavailableError,
    ActorDiedError,
    ActorUnavailableError,
    RayActorError,
)


def unwrap(exc: BaseException) -> BaseException:
    """The exception that explains ``exc``: looks through Ray's task-error wrappers."""
    seen: BaseException = exc
    for _ in range(16):
        if isinstance(seen, (TrtDetectError, BackPressureError, RequestCancelledError, *UNAVAILABLE)):
            return seen
        cause = getattr(seen, "cause", None)
        inner = cause if isinstance(cause, BaseException) else seen.__cause__
        if inner is None or inner is seen:
            return seen
        seen = inner
    return seen


def as_project_error(exc: BaseException) -> TrtDetectError | None:
    """The project exception a caller should see for ``exc``; ``None`` for an unexpected failure."""
    found = unwrap(exc)
    if isinstance(found, TrtDetectError):
        return found
    if isinstance(found, BackPressureError):
        return OverloadedError("the service is at capacity", hint=f"retry after {RETRY_AFTER_S} s")
    if isinstance(found, UNAVAILABLE):
        return OverloadedError("a stage of the service lost a replica and is recovering", hint="retry shortly")
    if isinstance(found, asyncio.TimeoutError | TimeoutError | RequestCancelledError):
        return DeadlineExceededError("the request did not finish within its deadline")
    return None


def lost_replica(exc: BaseException) -> bool:
    """Whether ``exc`` says a stage lost a replica (a caller may answer 503 while it recovers)."""
    return isinstance(unwrap(exc), UNAVAILABLE)


def envelope(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    if status in (503, 504):
        headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    if status in (408, 413):  # the body was not read to its end: the connection cannot carry another request
        headers.setdefault("Connection", "close")
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers or None)


def error_response(exc: BaseException) -> JSONResponse:
    """The HTTP answer for any exception raised while handling a request."""
    error = as_project_error(exc)
    if error is None:
        logger.error("unexpected error while handling a request", exc_info=exc)
        return envelope(500, "internal", "internal error; the server log has the details")
    message = f"{error.message} (hint: {error.hint})" if error.hint else error.message
    return envelope(error.http_status, error.code, message)


class ErrorEnvelope:
    """ASGI middleware: any exception a route raises becomes :func:`error_response` (one place)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or scope["type"] != "http":
                raise
            await error_response(exc)(scope, receive, send)
