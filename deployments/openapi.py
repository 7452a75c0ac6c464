"""The typed OpenAPI of the native API, and ``/docs`` served without a CDN.

The routes read their bodies and query strings themselves (bounded, timed, one error
envelope), so nothing here reaches the wire: request bodies and query parameters are
declared through ``openapi_extra``, responses through ``response_model`` / ``responses``
(FastAPI validates nothing when a route returns a ``Response`` itself).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from trt_core.params import MAX_DET_LIMIT


class ImageSize(BaseModel):
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class Detection(BaseModel):
    box: list[float] = Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in pixels of the displayed image")
    score: float = Field(ge=0, le=1)
    class_id: int = Field(ge=0)
    label: str


class DetectResult(BaseModel):
    """The detections in one image, sorted by score (highest first)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "yolov8n",
                    "image": {"width": 640, "height": 480},
                    "detections": [
                        {"box": [12.5, 40.0, 210.25, 388.0], "score": 0.91, "class_id": 0, "label": "person"}
                    ],
                    "timing_ms": {
                        "preprocess": 1.2,
                        "call_wait": 5.1,
                        "inference_queue": 2.0,
                        "inference": 3.4,
                        "postprocess": 0.8,
                        "total": 14.9,
                    },
                    "batch_size": 4,
                }
            ]
        }
    )
    model: str
    image: ImageSize
    detections: list[Detection]
    timing_ms: dict[str, float] = Field(
        description="preprocess, call_wait, inference_queue, inference, postprocess, total (ms); more keys may be added"
    )
    batch_size: int = Field(ge=1, description="images in the Detector batch this image ran in")


class DetectResults(BaseModel):
    """A multipart request: one result per ``image`` file, in order."""

    results: list[DetectResult]


class ErrorBody(BaseModel):
    code: str = Field(examples=["invalid_image"])
    message: str = Field(examples=["not a recognised image (JPEG, PNG, WebP, BMP, GIF, TIFF)"])


class ErrorResponse(BaseModel):
    """Every 4xx/5xx of the native API."""

    error: ErrorBody


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class ModelInfo(BaseModel):
    """``GET /model`` (more fields may appear)."""

    model_config = ConfigDict(extra="allow")
    name: str
    format: str
    input: dict[str, Any]
    classes: list[str]
    backend: str = Field(examples=["tensorrt", "onnxruntime"])
    device: str
    precision: str
    batch: dict[str, Any]
    defaults: dict[str, Any]
    limits: dict[str, Any]


BINARY = {"type": "string", "format": "binary"}
IMAGE_BODY: dict[str, Any] = {
    "required": True,
    "description": "The raw bytes of one image (JPEG, PNG, WebP, BMP, GIF, TIFF; any Content-Type), "
    "or multipart/form-data with one or more files in the field `image`.",
    "content": {
        "image/*": {"schema": BINARY},
        "application/octet-stream": {"schema": BINARY},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "array", "items": BINARY, "description": "one or more image files"}},
            }
        },
    },
}
QUERY: list[dict[str, Any]] = [
    {
        "name": "conf",
        "in": "query",
        "description": "Minimum score (default: the model's, 0.25)",
        "schema": {"type": "number", "minimum": 0, "maximum": 1},
    },
    {
        "name": "iou",
        "in": "query",
        "description": "NMS IoU threshold (default 0.45)",
        "schema": {"type": "number", "minimum": 0, "maximum": 1},
    },
    {
        "name": "max_det",
        "in": "query",
        "description": "At most this many detections per image (default 300)",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DET_LIMIT},
    },
    {
        "name": "classes",
        "in": "query",
        "description": "Keep only these class ids, comma-separated (e.g. `0,2`)",
        "schema": {"type": "string", "pattern": r"^\s*(\d+\s*(,\s*\d+\s*)*)?$"},
    },
    {
        "name": "agnostic",
        "in": "query",
        "description": "Class-agnostic NMS (default false)",
        "schema": {"type": "boolean"},
    },
]
IMAGE_REQUEST: dict[str, Any] = {"requestBody": IMAGE_BODY, "parameters": QUERY}


def _error(description: str, code: str, message: str) -> dict[str, Any]:
    example = {"error": {"code": code, "message": message}}
    return {"model": ErrorResponse, "description": description, "content": {"application/json": {"example": example}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Not an image, or a malformed body", "invalid_image", "not a recognised image"),
    408: _error("The body did not arrive in time", "request_timeout", "the request body did not arrive within 10 s"),
    413: _error("Body, image or request over the limits", "payload_too_large", "request body is over the limit"),
    422: _error("A query parameter out of range or malformed", "invalid_request", "conf must be between 0 and 1"),
    503: _error("At capacity or recovering (Retry-After)", "overloaded", "the service is at capacity"),
    504: _error("Past the request deadline", "deadline_exceeded", "the request did not finish within 30 s"),
}
DETECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": 'One result (raw body) or `{"results": [...]}` (multipart)'},
    **_ERRORS,
}
ANNOTATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The image with boxes and labels drawn",
        "content": {"image/jpeg": {"schema": BINARY}, "image/png": {"schema": BINARY}},
    },
    **_ERRORS,
}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: _error("A stage is down", "unavailable", "not serving: Detector (RayTaskError)")
}


def _swagger_assets() -> Path | None:
    """Swagger UI's files from the ``fastapi-offline`` wheel (Swagger UI 5, MIT), when installed."""
    spec = find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install_docs(api: FastAPI) -> None:
    """``/docs`` and ``/redoc`` from local files when available (clusters often have no internet);
    FastAPI's CDN defaults otherwise.  Call on an app made with ``docs_url=None, redoc_url=None``."""
    assets = _swagger_assets()
    files = {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"}

    def url(name: str, default: str) -> str:
        return f"/docs-assets/{name}" if assets is not None else default

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=api.openapi_url or "/openapi.json",
            title=f"{api.title} - Swagger UI",
            swagger_js_url=url(
                "swagger-ui-bundle.js", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
            ),
            swagger_css_url=url("swagger-ui.css", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"),
            swagger_favicon_url=url("favicon.png", "https://fastapi.tiangolo.com/img/favicon.png"),
        )

    @api.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=api.openapi_url or "/openapi.json",
            title=f"{api.title} - ReDoc",
            redoc_js_url=url("redoc.standalone.js", "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"),
        )

    @api.get("/docs-assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if assets is None or name not in files:
            return Response(status_code=404)
        return FileResponse(assets / name, headers={"Cache-Control": "public, max-age=86400"})
