"""HTTP plumbing for the Ingress: bounded, timed body reading and multipart parsing."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from PIL import Image
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from trt_core.errors import InvalidImageError, RequestTimeoutError, RequestTooLargeError


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    timeout_s: float
    max_images: int
    max_pixels: int  # all images of one request together


async def read_body(request: Request, limits: BodyLimits) -> bytes:
    """The whole body: 413 past ``max_bytes`` (before reading it when declared), 408 when slow."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise RequestTooLargeError(f"request body of {int(declared):,} bytes is over the limit of {limits.max_bytes:,}")

    async def receive() -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_bytes:
                raise RequestTooLargeError(f"request body is over the limit of {limits.max_bytes:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(receive(), limits.timeout_s)
    except asyncio.TimeoutError:
        raise RequestTimeoutError(f"the request body did not arrive within {limits.timeout_s:g} s") from None


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").strip().lower().startswith("multipart/form-data")


async def images_from_request(request: Request, limits: BodyLimits) -> tuple[list[bytes], bool]:
    """The image(s) of a request and whether it was multipart (raw body: exactly one image)."""
    body = await read_body(request, limits)
    if not is_multipart(request):
        if not body:
            raise InvalidImageError("empty request body", hint="send the image bytes as the body, or multipart 'image'")
        return [body], False
    images = await _multipart_images(request, body, limits.max_images)
    _check_request_pixels(images, limits.max_pixels)
    return images, True


async def _multipart_images(request: Request, body: bytes, max_images: int) -> list[bytes]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    headers = request.headers.mutablecopy()
    headers["content-type"] = "multipart/form-data" + headers["content-type"].strip()[len("multipart/form-data") :]
    try:
        form = await MultiPartParser(headers, stream(), max_files=max_images, max_fields=max_images).parse()
    except MultiPartException as exc:
        if "Too many" in str(exc):
            raise RequestTooLargeError(f"a request may carry at most {max_images} images") from None
        raise InvalidImageError(f"malformed multipart body: {exc}") from None
    except Exception as exc:
        raise InvalidImageError(f"malformed multipart body: {exc}") from None
    try:
        files = [item for item in form.getlist("image") if isinstance(item, UploadFile)]
        if not files:
            raise InvalidImageError("multipart body has no file in the 'image' field")
        return [await f.read() for f in files]
    finally:
        await form.close()


def _check_request_pixels(images: list[bytes], budget: int) -> None:
    """Refuse (413) a request whose images add up to more than ``budget`` pixels, from headers alone."""
    total = 0
    for data in images:
        try:
            with Image.open(io.BytesIO(data)) as image:
                total += image.width * image.height
        except Exception:
            continue  # not an image: Preprocess answers it with a precise 400
    if total > budget:
        raise RequestTooLargeError(
            f"the request's images add up to {total:,} pixels, over the limit of {budget:,}",
            hint="send fewer or smaller images per request",
        )
