"""The Open Inference Protocol (KServe v2) routes of the Ingress, beside the native API.

A mixin of :class:`deployments.ingress.Ingress`: the same admission, deadline and stages
(Preprocess -> Detector -> Postprocess, batched in the Detector) as ``/detect``; only the
encoding differs (``trt_core.kserve_v2``).  Errors are the protocol's ``{"error": "..."}``
with the status the native API would give.

No ``from __future__ import annotations`` here: FastAPI resolves the route signatures at
definition time, inside Serve's class-based ingress.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from deployments.errors import error_response
from deployments.http import BodyLimits, _check_request_pixels, read_body
from deployments.messages import DetectedImage
from trt_core.detections import Detections
from trt_core.errors import InvalidImageError, InvalidRequestError, RequestTooLargeError
from trt_core.kserve_v2 import (
    BINARY_TYPE,
    HEADER_LENGTH,
    JSON_TYPE,
    InferRequest,
    detection_tensors,
    encode_infer_response,
    model_metadata,
    parse_infer_request,
)
from trt_core.spec import ModelSpec

T = TypeVar("T")
PLATFORM = "trt-detect"
VERSION = "1"
router = APIRouter(prefix="/v2", tags=["Open Inference Protocol (KServe v2)"])

V2_ERROR: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": 'A bad request: `{"error": "message"}`'},
    "503": {"description": "Not ready, or at capacity (with Retry-After)"},
}
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "A v2 inference request: JSON (`images` BYTES elements as base64 strings, or `pixels` UINT8 "
            "[N,H,W,3] RGB values), or the JSON header followed by binary tensors, its length in the "
            "`Inference-Header-Content-Length` header. Thresholds are request `parameters`: conf, iou, "
            'max_det, classes ("0,2"), agnostic.'
        ),
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": ["inputs"]},
                "example": {
                    "inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": ["<base64 of a JPEG>"]}],
                    "parameters": {"conf": 0.25, "iou": 0.45},
                },
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class UnknownModelError(InvalidRequestError):
    code = "not_found"
    http_status = 404


def v2_error(exc: BaseException) -> JSONResponse:
    """``{"error": "message"}`` with the status (and Retry-After) the native API's envelope has."""
    native = error_response(exc)
    message = json.loads(bytes(native.body))["error"]["message"]
    retry = native.headers.get("retry-after")
    return JSONResponse({"error": message}, native.status_code, headers={"Retry-After": retry} if retry else None)


class OpenInferenceProtocol:
    """The ``/v2`` routes; :class:`~deployments.ingress.Ingress` provides the pipeline methods."""

    spec: ModelSpec
    limits: BodyLimits

    def _changes(self, given: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def _admitted(self, images: int, work: Callable[[], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def _each(
        self, images: list[Any], changes: dict[str, Any], finish: Callable[[DetectedImage, float], T]
    ) -> list[T]:
        raise NotImplementedError

    async def _not_serving(self) -> str | None:
        raise NotImplementedError

    def _model(self, name: str, version: str = VERSION) -> None:
        if name != self.spec.name:
            raise UnknownModelError(f"unknown model {name!r}; this server serves {self.spec.name!r}")
        if version != VERSION:
            raise UnknownModelError(f"unknown version {version!r} of {name!r}; its only version is {VERSION!r}")

    @router.get("", summary="Server metadata")
    async def v2_server(self) -> Response:
        return JSONResponse({"name": PLATFORM, "version": "0.1.0", "extensions": ["binary_tensor_data"]})

    @router.get("/health/live", summary="200 while the server answers", responses=V2_ERROR)
    async def v2_live(self) -> Response:
        return Response(status_code=200)

    @router.get("/health/ready", summary="200 when every stage answers", responses=V2_ERROR)
    async def v2_ready(self) -> Response:
        failing = await self._not_serving()
        return Response(status_code=200) if failing is None else JSONResponse({"error": failing}, 503)

    async def _metadata(self, name: str, version: str) -> Response:
        try:
            self._model(name, version)
        except Exception as exc:
            return v2_error(exc)
        return JSONResponse(model_metadata(self.spec.name, PLATFORM, [VERSION]))

    async def _model_ready(self, name: str, version: str) -> Response:
        try:
            self._model(name, version)
        except Exception as exc:
            return v2_error(exc)
        return await self.v2_ready()

    async def _detections(self, parsed: InferRequest) -> list[Detections]:
        """The detections of every image of a decoded v2 request (HTTP or gRPC): checked, admitted, in time."""
        if not parsed.images:
            raise InvalidImageError("the request has no images")
        if len(parsed.images) > self.limits.max_images:
            raise RequestTooLargeError(f"a request may carry at most {self.limits.max_images} images")
        images = parsed.images
        _check_request_pixels([i for i in images if isinstance(i, bytes)], self.limits.max_pixels)
        changes = self._changes(parsed.changes)

        def keep(detected: DetectedImage, _: float) -> Detections:
            return detected.detections

        return await self._admitted(len(images), lambda: self._each(images, changes, keep))

    async def _infer(self, name: str, version: str, request: Request) -> Response:
        try:
            self._model(name, version)
            parsed = parse_infer_request(await read_body(request, self.limits), request.headers.get(HEADER_LENGTH))
            found = await self._detections(parsed)
            body, json_size = encode_infer_response(self.spec.name, detection_tensors(found), parsed, VERSION)
        except Exception as exc:
            return v2_error(exc)
        if json_size is None:
            return Response(body, media_type=JSON_TYPE)
        return Response(body, media_type=BINARY_TYPE, headers={HEADER_LENGTH: str(json_size)})

    # Triton's clients use the /versions/{version} paths when given a model_version
    @router.get("/models/{name}", summary="Model metadata: inputs and outputs", responses=V2_ERROR)
    async def v2_model(self, name: str) -> Response:
        return await self._metadata(name, VERSION)

    @router.get("/models/{name}/versions/{version}", summary="Model metadata", responses=V2_ERROR)
    async def v2_model_version(self, name: str, version: str) -> Response:
        return await self._metadata(name, version)

    @router.get("/models/{name}/ready", summary="200 when the model can serve", responses=V2_ERROR)
    async def v2_model_ready(self, name: str) -> Response:
        return await self._model_ready(name, VERSION)

    @router.get("/models/{name}/versions/{version}/ready", summary="200 when the model can serve", responses=V2_ERROR)
    async def v2_model_version_ready(self, name: str, version: str) -> Response:
        return await self._model_ready(name, version)

    @router.post("/models/{name}/infer", summary="Detect objects", responses=V2_ERROR, openapi_extra=INFER_BODY)
    async def v2_infer(self, name: str, request: Request) -> Response:
        return await self._infer(name, VERSION, request)

    @router.post(
        "/models/{name}/versions/{version}/infer",
        summary="Detect objects",
        responses=V2_ERROR,
        openapi_extra=INFER_BODY,
    )
    async def v2_infer_version(self, name: str, version: str, request: Request) -> Response:
        return await self._infer(name, version, request)
