"""HTTP plumbing for the ingress: bounded body reading, multipart, JSON errors."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse

from trt_core.errors import InvalidImageError, RequestTooLargeError, TrtDetectError

RETRY_AFTER_S = "1"


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(f"request body of {int(declared):,} bytes is over the limit of {limit:,}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"request body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def images_from_request(request: Request, limit: int) -> tuple[list[bytes], bool]:
    """The image(s) of a request and whether it was multipart (raw body: exactly one image)."""
    body = await read_body(request, limit)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        if not body:
            raise InvalidImageError("empty request body", hint="send the image bytes as the body, or multipart 'image'")
        return [body], False

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(request.headers, stream()).parse()
    except Exception as exc:
        raise InvalidImageError(f"malformed multipart body: {exc}") from None
    try:
        files = [item for item in form.getlist("image") if not isinstance(item, str)]
        if not files:
            raise InvalidImageError("multipart body has no file in the 'image' field")
        return [await f.read() for f in files], True
    finally:
        await form.close()


def error_response(error: TrtDetectError) -> JSONResponse:
    message = f"{error.message} (hint: {error.hint})" if error.hint else error.message
    headers = {"Retry-After": RETRY_AFTER_S} if error.http_status == 503 else None
    return JSONResponse(
        {"error": {"code": error.code, "message": message}}, status_code=error.http_status, headers=headers
    )


def plain_error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers or None)


def query_dict(request: Request) -> dict[str, Any]:
    return dict(request.query_params)
