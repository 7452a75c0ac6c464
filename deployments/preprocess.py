"""``Preprocess`` (CPU): image -> uint8 tensor, then hands it on down the pipeline.

Each request's tensor goes from here straight to a Detector replica and the Detector's
compact output straight to a Postprocess replica; only the small typed result comes back
through the Ingress.  :meth:`Preprocess.many` takes the images an Ingress replica grouped
into one call and sends them on in one call to each stage.  (With Serve's gRPC transport,
handle calls pass values, so a chain composed in the Ingress would carry every tensor in
and out of it.)  The tensor hop uses Ray's object store by default (``tensor_transport``),
the other hops gRPC.  (Grouping in this stage instead, the images a replica had ready
within a millisecond, was measured slower on an H200 node, 368 against 422 images/s: too
few images met there; see benchmarks/README.md.)  Decoding runs on this replica's own
threads, never on its event loop, which keeps serving the awaits of the requests in flight
downstream.  Beside a GPU a call's images decode in parallel (a thread each by default:
decode and resize release the GIL), so a group of eight does not wait eight decodes on one
core while the node has idle ones (+16-18% images/s on an H200 node; benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import serve
from ray.serve import metrics
from ray.serve.handle import DeploymentHandle

from deployments.messages import DetectedImage, InferredImage, Outcome, PreprocessedImage, forward, unwrap
from deployments.sizing import node_cpus
from trt_core.annotate import draw, encode
from trt_core.image import load_rgb
from trt_core.preprocess import preprocess
from trt_core.spec import ModelSpec


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=64)
class Preprocess:
    def __init__(
        self,
        spec: ModelSpec,
        max_pixels: int,
        detector: DeploymentHandle,
        postprocess: DeploymentHandle,
        num_cpus: float = 1.0,
        tensor_transport: str = "object_store",
        threads: int | None = None,
    ) -> None:
        self.spec = spec
        self.max_pixels = max_pixels
        # Tensors (~0.8 MB) go through Ray's object store, zero-copy into a Detector on the
        # same node, instead of being pickled through the Detector's gRPC event loop.
        self.detector = detector.options(_by_reference=tensor_transport == "object_store")
        self.postprocess = postprocess
        cpus = max(1, math.floor(num_cpus))
        # a call's images decode in parallel (None: one thread per CPU of the replica); more
        # threads than the node has cores add no speed, only decoded images held at once
        threads = min(threads or cpus, node_cpus())
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="preprocess")
        import cv2

        cv2.setNumThreads(cpus)  # OpenCV's own threads within one call: no more than the replica's CPUs
        self.latency = metrics.Histogram(
            "trt_detect_preprocess_ms",
            description="Decode + letterbox time per image (ms).",
            boundaries=[0.5, 1, 2, 5, 10, 20, 50, 100, 200],
        )

    def _prepare(self, image: Any) -> PreprocessedImage:
        start = time.perf_counter()
        prepared = preprocess(image, self.spec, max_pixels=self.max_pixels)
        elapsed = (time.perf_counter() - start) * 1e3
        self.latency.observe(elapsed)
        return PreprocessedImage(prepared.tensor, prepared.geometry, {"preprocess": elapsed})

    async def _downstream(
        self, prepared: list[Outcome[PreprocessedImage]], changes: list[dict[str, Any]]
    ) -> list[Outcome[DetectedImage]]:
        """One Detector call and one Postprocess call for the images prepared without error."""

        async def infer(_: list[int], items: list[PreprocessedImage]) -> list[Outcome[InferredImage]]:
            inferred: list[Outcome[InferredImage]] = await self.detector.many.remote(items)
            return inferred

        async def finish(ok: list[int], items: list[InferredImage]) -> list[Outcome[DetectedImage]]:
            detected: list[Outcome[DetectedImage]] = await self.postprocess.many.remote(items, [changes[i] for i in ok])
            return detected

        return await forward(await forward(prepared, infer), finish)

    async def many(self, images: list[Any], changes: list[dict[str, Any]]) -> list[Outcome[DetectedImage]]:
        """Several requests' images (each with its request's ``changes``), each with its own outcome."""
        loop = asyncio.get_running_loop()
        prepared: list[Outcome[PreprocessedImage]] = list(
            await asyncio.gather(
                *(loop.run_in_executor(self.pool, self._prepare, image) for image in images), return_exceptions=True
            )
        )
        return await self._downstream(prepared, changes)

    async def annotate(self, image: Any, changes: dict[str, Any], fmt: str) -> bytes:
        """The image with its detections drawn, encoded as ``fmt`` (decoded once, full size)."""
        loop = asyncio.get_running_loop()
        rgb = await loop.run_in_executor(self.pool, lambda: load_rgb(image, max_pixels=self.max_pixels))
        prepared = await loop.run_in_executor(self.pool, self._prepare, rgb)
        detected = unwrap((await self._downstream([prepared], [changes]))[0])
        return await loop.run_in_executor(self.pool, lambda: encode(draw(rgb, detected.detections), fmt))

    def ping(self) -> str:
        """``GET /healthz``: this replica answers (with its id)."""
        return str(serve.get_replica_context().replica_id.unique_id)
