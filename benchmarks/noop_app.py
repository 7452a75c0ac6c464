"""Ray Serve's own ceilings on this machine, with no model and no image work.

``NoopIngress``: an Ingress that reads the body and answers fixed JSON (the HTTP ceiling),
deployed in the same proxy mode and replica count as the real app's Ingress.

``chain_app``: the real app's topology and transports with the work taken out: Ingress ->
Preprocess, which sends uint8 tensors of the model's input size to the Detector through
the object store (Serve batching there, nothing run) and outputs of the app's top-K size (24 KB an image) to
Postprocess, then answers through the Ingress; the same replica counts and CPUs as the
app, its requests grouped into calls down the stages as the app groups them
(``images_per_call``).  What it serves is the most the app's hops can carry on this
machine; the app's own work (decode, letterbox, inference, NMS, JSON) comes on top.

    serve run benchmarks.noop_app:app            (or deployed by benchmarks/serve_bench.py)
"""

# No ``from __future__ import annotations``: FastAPI resolves ``request: Request`` at definition time.
import asyncio
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

api = FastAPI()
chain_api = FastAPI()
ANSWER = {"model": "noop", "image": {"width": 0, "height": 0}, "detections": [], "timing_ms": {}}


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=1024)
@serve.ingress(api)
class NoopIngress:
    @api.post("/detect")
    async def detect(self, request: Request) -> Response:
        await request.body()
        return JSONResponse(ANSWER)


app = NoopIngress.bind()


@serve.deployment(name="Detector", max_ongoing_requests=64)
class ChainDetector:
    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005, max_concurrent_batches=2)
    async def infer(self, tensors: list[np.ndarray]) -> list[np.ndarray]:
        # the app's top-K output: 1,000 candidate rows (24 KB) an image
        return [np.zeros((1000, 6), np.float32) for _ in tensors]

    async def many(self, tensors: list[np.ndarray]) -> list[np.ndarray]:
        return list(await asyncio.gather(*(self.infer(tensor) for tensor in tensors)))


@serve.deployment(name="Postprocess", max_ongoing_requests=64)
class ChainPostprocess:
    async def many(self, outputs: list[np.ndarray], changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [ANSWER for _ in outputs]


@serve.deployment(name="Preprocess", max_ongoing_requests=64)
class ChainPreprocess:
    def __init__(self, detector: DeploymentHandle, postprocess: DeploymentHandle, input_hw: tuple[int, int]) -> None:
        self.detector = detector.options(_by_reference=True)
        self.postprocess = postprocess
        self.input_hw = input_hw

    async def many(self, bodies: list[bytes], changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tensors = [np.empty((3, *self.input_hw), np.uint8) for _ in bodies]
        outputs = await self.detector.many.remote(tensors)
        answers: list[dict[str, Any]] = await self.postprocess.many.remote(outputs, changes)
        return answers


@serve.deployment(name="Ingress", max_ongoing_requests=1024)
@serve.ingress(chain_api)
class ChainIngress:
    def __init__(self, preprocess: DeploymentHandle, images_per_call: int, call_wait_s: float) -> None:
        self.preprocess = preprocess
        grouped: Any = self.through_stages
        grouped.set_max_batch_size(images_per_call)
        grouped.set_batch_wait_timeout_s(call_wait_s)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002, max_concurrent_batches=1024)
    async def through_stages(self, bodies: list[bytes]) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = await self.preprocess.many.remote(bodies, [{} for _ in bodies])
        return answers

    @chain_api.post("/detect")
    async def detect(self, request: Request) -> Response:
        return JSONResponse(await self.through_stages(await request.body()))


def chain_app(
    stages: dict[str, tuple[int, float]],
    images_per_call: int,
    call_wait_s: float,
    input_hw: tuple[int, int] = (512, 512),
) -> Application:
    """The app's topology, ``stages`` giving each stage's ``(replicas, num_cpus)``, its requests
    grouped into calls down the stages as the app groups them (its ``images_per_call`` and
    ``call_wait_s``, which ``serve_bench.py`` reads from the app's arguments)."""

    def options(name: str) -> dict[str, Any]:
        replicas, cpus = stages[name]
        return {"num_replicas": replicas, "ray_actor_options": {"num_cpus": cpus}}

    detector = ChainDetector.options(**options("Detector")).bind()
    postprocess = ChainPostprocess.options(**options("Postprocess")).bind()
    preprocess = ChainPreprocess.options(**options("Preprocess")).bind(detector, postprocess, input_hw)
    return ChainIngress.options(**options("Ingress")).bind(preprocess, images_per_call, call_wait_s)
