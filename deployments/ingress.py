"""The Ingress: the HTTP API and the object Python handle calls reach.

It parses and validates a request (typed parameters, bounded body, multipart), admits it
or sheds it (images in flight per replica), hands each image to Preprocess — which passes
the tensor on to a Detector replica and its output on to Postprocess — and turns the typed
result into JSON at the edge.  The images of the requests in flight together (within
``call_wait_s``, up to ``images_per_call``) share one call down the stages: Serve's
per-call work, not the images' own, is what limited a GPU node (benchmarks/README.md).
Every request has a deadline; past it, or when one image of a multipart request fails, its
images not yet sent are dropped (those already in a shared call finish with the others).

No ``from __future__ import annotations`` here: FastAPI resolves the route signatures
(``request: Request``) at definition time, inside Serve's class-based ingress.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments.config import IngressSettings
from deployments.errors import ErrorEnvelope, as_project_error, envelope, lost_replica
from deployments.http import BodyLimits, images_from_request
from deployments.kserve import OpenInferenceProtocol, router
from deployments.kserve_grpc import OpenInferenceGRPC
from deployments.messages import DetectedImage, Outcome, unwrap
from deployments.openapi import (
    ANNOTATE_RESPONSES,
    DETECT_RESPONSES,
    HEALTH_RESPONSES,
    IMAGE_REQUEST,
    DetectResult,
    DetectResults,
    ModelInfo,
    Status,
    install_docs,
)
from trt_core.errors import DeadlineExceededError, InvalidImageError, OverloadedError
from trt_core.params import DetectParams, query_changes
from trt_core.spec import ModelSpec

HEALTH_TIMEOUT_S = 1.0
MAX_CALLS_IN_FLIGHT = 1024  # grouped calls down the stages per replica: never the limit (admission is)
STAGES = ("Preprocess", "Detector", "Postprocess")
T = TypeVar("T")

api = FastAPI(
    title="trt-detect",
    description="YOLO object detection: CPU preprocessing, TensorRT / ONNX Runtime inference, CPU postprocessing.",
    version="0.1.0",
    docs_url=None,
    redoc_url=None,
)
install_docs(api)
api.include_router(router)


api.add_middleware(ErrorEnvelope)


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    codes = {404: "not_found", 405: "method_not_allowed"}
    return envelope(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    # Should a route ever declare FastAPI-parsed parameters: still the project's 422 envelope
    message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return envelope(422, "invalid_request", message)


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=1024)
@serve.ingress(api)
class Ingress(OpenInferenceProtocol, OpenInferenceGRPC):
    def __init__(
        self,
        preprocess: DeploymentHandle,
        detector: DeploymentHandle,
        postprocess: DeploymentHandle,
        spec: ModelSpec,
        settings: IngressSettings,
    ) -> None:
        self.preprocess = preprocess
        self.stages = dict(zip(STAGES, (preprocess, detector, postprocess)))
        self.spec = spec
        self.settings = settings
        self.limits = BodyLimits(
            settings.max_body_bytes,
            settings.body_timeout_s,
            settings.max_images_per_request,
            settings.max_request_pixels,
        )
        self.ongoing_images = 0
        self.lost_replica_at = float("-inf")
        grouped: Any = self._through_stages  # @serve.batch attaches these setters to the method
        grouped.set_max_batch_size(settings.images_per_call)
        grouped.set_batch_wait_timeout_s(settings.call_wait_s)

    # -- the pipeline ---------------------------------------------------------------------
    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002, max_concurrent_batches=MAX_CALLS_IN_FLIGHT)
    async def _through_stages(self, items: list[tuple[Any, dict[str, Any], float]]) -> list[Outcome[DetectedImage]]:
        """The images in flight together, in one call down the stages (each keeps its own
        outcome, and its timing the wait for the call: ``call_wait``)."""
        images, changes, submitted = zip(*items)
        sent = time.perf_counter()
        detected: list[Outcome[DetectedImage]] = await self.preprocess.many.remote(list(images), list(changes))
        return [
            outcome if isinstance(outcome, BaseException) else outcome.waited("call_wait", (sent - since) * 1e3)
            for outcome, since in zip(detected, submitted)
        ]

    def _changes(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validated request parameters (422 before any work starts); the rest stay the live defaults."""
        DetectParams().replace(**given).check_classes(self.spec.num_classes)
        return given

    async def _admitted(self, images: int, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` for ``images`` images within the deadline, or shed it (503) when full."""
        if self.ongoing_images + images > self.settings.max_ongoing_images:
            raise OverloadedError(
                f"{self.ongoing_images} images in flight on this replica, the limit is "
                f"{self.settings.max_ongoing_images}",
                hint="retry after the Retry-After seconds",
            )
        self.ongoing_images += images
        try:
            return await asyncio.wait_for(work(), self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            if time.monotonic() - self.lost_replica_at < 2 * self.settings.request_timeout_s:
                # waited for a stage's replacement replica: a 503 to retry, not a slow request
                raise OverloadedError(
                    "a stage of the service lost a replica and is recovering", hint="retry shortly"
                ) from None
            raise DeadlineExceededError(
                f"the request did not finish within {self.settings.request_timeout_s:g} s"
            ) from None
        except Exception as exc:
            if lost_replica(exc):
                self.lost_replica_at = time.monotonic()
            # As a project error, so that Serve's own handlers (plain-text 503s) never see it
            raise (as_project_error(exc) or exc) from None
        finally:
            self.ongoing_images -= images

    async def _each(
        self, images: list[Any], changes: dict[str, Any], finish: Callable[[DetectedImage, float], T]
    ) -> list[T]:
        """``finish(detected, ms since start)`` of every image; the first failure cancels the others."""
        start = time.perf_counter()

        async def one(image: Any) -> T:
            detected = unwrap(await self._through_stages((image, changes, time.perf_counter())))
            return finish(detected, round((time.perf_counter() - start) * 1e3, 3))

        tasks = [asyncio.ensure_future(one(image)) for image in images]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()

    async def _detect_all(self, images: list[Any], changes: dict[str, Any]) -> list[dict[str, Any]]:
        """The JSON of every image (nothing left running after a failure)."""
        return await self._each(images, changes, lambda detected, ms: detected.to_dict(self.spec.name, ms))

    async def _not_serving(self) -> str | None:
        """Why the app cannot serve (the stages that do not answer within a second), or None."""

        async def ping(handle: DeploymentHandle) -> str:
            result: str = await handle.ping.remote()
            return result

        names = list(self.stages)
        answers = await asyncio.gather(
            *(asyncio.wait_for(ping(h), HEALTH_TIMEOUT_S) for h in self.stages.values()), return_exceptions=True
        )
        failing = [f"{name} ({type(a).__name__})" for name, a in zip(names, answers) if isinstance(a, BaseException)]
        return f"not serving: {', '.join(failing)}" if failing else None

    # -- Python handle API ----------------------------------------------------------------
    async def detect(self, image: Any, **params: Any) -> dict[str, Any]:
        """``handle.detect.remote(bytes | ndarray | PIL.Image, conf=..., ...)`` -> the JSON dict."""
        changes = self._changes({k: v for k, v in params.items() if v is not None})
        results = await self._admitted(1, lambda: self._detect_all([image], changes))
        return results[0]

    # -- HTTP API ---------------------------------------------------------------------------
    @api.post(
        "/detect",
        summary="Detect objects in one image (raw body) or several (multipart 'image')",
        response_model=DetectResult | DetectResults,
        responses=DETECT_RESPONSES,
        openapi_extra=IMAGE_REQUEST,
    )
    async def http_detect(self, request: Request) -> Response:
        changes = self._changes(query_changes(request.query_params))
        images, multipart = await images_from_request(request, self.limits)
        results = await self._admitted(len(images), lambda: self._detect_all(images, changes))
        return JSONResponse({"results": results} if multipart else results[0])

    @api.post(
        "/annotate",
        summary="Draw the detections on the image (JPEG, or PNG with Accept: image/png)",
        response_class=Response,
        responses=ANNOTATE_RESPONSES,
        openapi_extra=IMAGE_REQUEST,
    )
    async def http_annotate(self, request: Request) -> Response:
        fmt = "png" if "image/png" in request.headers.get("accept", "") else "jpeg"
        changes = self._changes(query_changes(request.query_params))
        images, _ = await images_from_request(request, self.limits)
        if len(images) != 1:
            raise InvalidImageError(f"/annotate takes one image, got {len(images)}")
        picture: bytes = await self._admitted(1, lambda: self.preprocess.annotate.remote(images[0], changes, fmt))
        return Response(picture, media_type=f"image/{fmt}")

    @api.get("/livez", summary="200 while this Ingress replica answers (liveness)", response_model=Status)
    async def livez(self) -> Response:
        return JSONResponse({"status": "ok"})

    @api.get(
        "/healthz",
        summary="200 when every stage answers within a second (readiness)",
        response_model=Status,
        responses=HEALTH_RESPONSES,
    )
    async def healthz(self) -> Response:
        failing = await self._not_serving()
        return JSONResponse({"status": "ok"}) if failing is None else envelope(503, "unavailable", failing)

    @api.get("/readyz", summary="Same as /healthz (readiness)", response_model=Status, responses=HEALTH_RESPONSES)
    async def readyz(self) -> Response:
        return await self.healthz()

    @api.get("/model", summary="The model, backend, precision, device and batch settings", response_model=ModelInfo)
    async def model(self) -> Response:
        try:
            detector, defaults = await asyncio.gather(
                self.stages["Detector"].describe.remote(), self.stages["Postprocess"].defaults_dict.remote()
            )
        except Exception as exc:
            raise (as_project_error(exc) or exc) from None
        limits = self.settings.model_dump()
        return JSONResponse({**self.spec.to_dict(), **detector, "defaults": defaults, "limits": limits})
