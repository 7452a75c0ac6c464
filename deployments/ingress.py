"""The ingress: HTTP API and Python handle entry point.

It composes the three stages with ``DeploymentHandle``s and passes each stage's response
on *un-awaited*, so tensors go Preprocess -> Detector -> Postprocess replica to replica
through the object store and never through the ingress.

No ``from __future__ import annotations`` here: FastAPI resolves the route signatures
(``request: Request``) at definition time, inside Serve's class-based ingress.
"""

import asyncio
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from deployments.http import error_response, images_from_request, plain_error, query_dict
from trt_core.errors import TrtDetectError
from trt_core.params import DetectParams
from trt_core.spec import ModelSpec

logger = logging.getLogger("ray.serve")
HEALTH_TIMEOUT_S = 10.0

api = FastAPI(
    title="trt-detect",
    description="YOLO object detection: CPU preprocessing, TensorRT / ONNX Runtime inference, CPU postprocessing.",
    version="0.1.0",
)


def project_error(exc: BaseException) -> TrtDetectError | None:
    """The TrtDetectError behind ``exc``, looking through Ray's task-error wrappers."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        cause = getattr(seen, "cause", None)
        if isinstance(cause, TrtDetectError):
            return cause
        if isinstance(seen, TrtDetectError) and not hasattr(seen, "cause"):
            return seen
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
    return None


def _query_value(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def overload_error(exc: BaseException) -> BaseException | None:
    """A BackPressureError / DeploymentUnavailableError behind ``exc``, if any."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, BackPressureError | DeploymentUnavailableError):
            return seen
        cause = getattr(seen, "cause", None)
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
    return None


def http_error(exc: BaseException) -> JSONResponse:
    error = project_error(exc)
    if error is not None:
        return error_response(error)
    if overload_error(exc) is not None:
        return plain_error(503, "overloaded", f"the service is at capacity: {exc}", **{"Retry-After": "1"})
    logger.exception("unexpected error while handling a request", exc_info=exc)
    return plain_error(500, "internal", f"{type(exc).__name__}: {exc}")


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=256)
@serve.ingress(api)
class Ingress:
    def __init__(
        self,
        preprocess: DeploymentHandle,
        detector: DeploymentHandle,
        postprocess: DeploymentHandle,
        spec: ModelSpec,
        settings: dict[str, Any],
    ) -> None:
        self.preprocess = preprocess
        self.detector = detector
        self.postprocess = postprocess
        self.spec = spec
        self.settings = settings
        self.max_body_bytes = int(settings["max_body_bytes"])

    # -- the pipeline ---------------------------------------------------------------------
    def _submit(self, image: Any, query: dict[str, str]) -> DeploymentResponse:
        prepared = self.preprocess.remote(image)
        inferred = self.detector.remote(prepared)
        response = self.postprocess.remote(inferred, query)
        assert isinstance(response, DeploymentResponse)
        return response

    async def _detect_one(self, image: Any, query: dict[str, str]) -> dict[str, Any]:
        start = time.perf_counter()
        result: dict[str, Any] = await self._submit(image, query)
        result["timing_ms"]["total"] = round((time.perf_counter() - start) * 1e3, 3)
        return result

    @staticmethod
    def _validated_query(query: dict[str, Any]) -> dict[str, str]:
        DetectParams().with_query(query)  # raises InvalidRequestError (422) before any work starts
        return {k: str(v) for k, v in query.items()}

    # -- Python handle API ----------------------------------------------------------------
    async def detect(self, image: Any, **query: Any) -> dict[str, Any]:
        """``handle.detect.remote(bytes | ndarray | PIL.Image, conf=..., ...)`` -> the JSON dict."""
        given = {k: _query_value(v) for k, v in query.items() if v is not None}
        try:
            return await self._detect_one(image, self._validated_query(given))
        except Exception as exc:
            raise (project_error(exc) or exc) from None

    # -- HTTP API ---------------------------------------------------------------------------
    @api.post("/detect", summary="Detect objects in one image (raw body) or several (multipart 'image')")
    async def http_detect(self, request: Request) -> Response:
        try:
            query = self._validated_query(query_dict(request))
            images, multipart = await images_from_request(request, self.max_body_bytes)
            results = await asyncio.gather(*(self._detect_one(image, query) for image in images))
        except Exception as exc:
            return http_error(exc)
        return JSONResponse({"results": list(results)} if multipart else results[0])

    @api.post("/annotate", summary="Draw the detections on the image (JPEG, or PNG with Accept: image/png)")
    async def http_annotate(self, request: Request) -> Response:
        fmt = "png" if "image/png" in request.headers.get("accept", "") else "jpeg"
        try:
            query = self._validated_query(query_dict(request))
            images, _ = await images_from_request(request, self.max_body_bytes)
            if len(images) != 1:
                return plain_error(400, "invalid_request", f"/annotate takes one image, got {len(images)}")
            picture: bytes = await self.postprocess.annotate.remote(images[0], self._submit(images[0], query), fmt)
        except Exception as exc:
            return http_error(exc)
        return Response(picture, media_type=f"image/{fmt}")

    @api.get("/healthz", summary="200 when every deployment answers")
    async def healthz(self) -> Response:
        try:
            await asyncio.wait_for(
                asyncio.gather(
                    self.preprocess.ping.remote(), self.detector.ping.remote(), self.postprocess.ping.remote()
                ),
                HEALTH_TIMEOUT_S,
            )
        except Exception as exc:
            return plain_error(503, "unavailable", f"a deployment is not serving: {exc}", **{"Retry-After": "5"})
        return JSONResponse({"status": "ok"})

    @api.get("/model", summary="The model, backend, precision, device and batch settings")
    async def model(self) -> Response:
        try:
            detector, defaults = await asyncio.gather(
                self.detector.describe.remote(), self.postprocess.defaults_dict.remote()
            )
        except Exception as exc:
            return http_error(exc)
        return JSONResponse(
            {
                **self.spec.to_dict(),
                "backend": detector["backend"],
                "precision": detector["precision"],
                "device": detector["device"],
                "decode": detector["decode"],
                "batch": {
                    "max_batch_size": detector["max_batch_size"],
                    "batch_wait_timeout_s": detector["batch_wait_timeout_s"],
                    "engine_max_batch": detector["engine_max_batch"],
                    "dynamic_batch": detector["dynamic_batch"],
                    "batches_by_size": detector["batches"],
                },
                "defaults": defaults,
                "limits": {"max_body_bytes": self.max_body_bytes, "max_pixels": self.settings["max_pixels"]},
                "backend_details": detector["details"],
                "detector_replica": detector["replica"],
            }
        )
