"""``Postprocess`` (CPU): one image's model outputs -> detections in original pixels."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import serve
from ray.serve import metrics

from deployments.config import PostprocessUserConfig
from deployments.messages import DetectedImage, InferredImage, Outcome
from trt_core.params import DetectParams
from trt_core.postprocess import postprocess
from trt_core.spec import ModelSpec


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=64)
class Postprocess:
    def __init__(self, spec: ModelSpec, num_cpus: float = 1.0) -> None:
        self.spec = spec
        self.defaults = DetectParams()
        self.pool = ThreadPoolExecutor(max(1, math.floor(num_cpus)), thread_name_prefix="postprocess")
        self.latency = metrics.Histogram(
            "trt_detect_postprocess_ms",
            description="Decode + NMS time per image (ms).",
            boundaries=[0.1, 0.5, 1, 2, 5, 10, 20, 50],
        )
        self.detections = metrics.Histogram(
            "trt_detect_detections_per_image",
            description="Detections returned per image.",
            boundaries=[0.5, 1.5, 2.5, 5.5, 10.5, 20.5, 50.5, 100.5, 300.5],
        )

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.defaults = DetectParams(**PostprocessUserConfig(**user_config).model_dump())

    def _run(self, inferred: InferredImage, params: DetectParams) -> DetectedImage:
        start = time.perf_counter()
        detections = postprocess(inferred.outputs, self.spec, inferred.geometry, params)
        elapsed = (time.perf_counter() - start) * 1e3
        self.latency.observe(elapsed)
        self.detections.observe(len(detections))
        geometry = inferred.geometry
        timing = {**inferred.timing_ms, "postprocess": elapsed}
        return DetectedImage(detections, geometry.width, geometry.height, timing, inferred.batch_size)

    async def many(self, items: list[InferredImage], changes: list[dict[str, Any]]) -> list[Outcome[DetectedImage]]:
        """Several images in one call, run together on the pool; ``changes``: the parameters each
        image's request set, already validated (the rest are the live defaults)."""

        def run_all() -> list[Outcome[DetectedImage]]:
            results: list[Outcome[DetectedImage]] = []
            for inferred, given in zip(items, changes):
                try:
                    results.append(self._run(inferred, self.defaults.replace(**given)))
                except Exception as exc:  # this image's own error (e.g. a bad class filter)
                    results.append(exc)
            return results

        return await asyncio.get_running_loop().run_in_executor(self.pool, run_all)

    def defaults_dict(self) -> dict[str, Any]:
        return {"conf": self.defaults.conf, "iou": self.defaults.iou, "max_det": self.defaults.max_det}

    def ping(self) -> str:
        """``GET /healthz``: this replica answers (with its id)."""
        return str(serve.get_replica_context().replica_id.unique_id)
