"""``Preprocess`` (CPU): image bytes/array -> compact uint8 tensor + geometry."""

from __future__ import annotations

import time
from typing import Any

from ray import serve
from ray.serve import metrics

from deployments.messages import PreprocessedImage
from trt_core.preprocess import preprocess
from trt_core.spec import ModelSpec


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=8)
class Preprocess:
    def __init__(self, spec: ModelSpec, max_pixels: int) -> None:
        self.spec = spec
        self.max_pixels = max_pixels
        self.latency = metrics.Histogram(
            "trt_detect_preprocess_ms",
            description="Decode + letterbox time per image (ms).",
            boundaries=[0.5, 1, 2, 5, 10, 20, 50, 100, 200],
        )

    def __call__(self, image: Any) -> PreprocessedImage:
        start = time.perf_counter()
        prepared = preprocess(image, self.spec, max_pixels=self.max_pixels)
        elapsed = (time.perf_counter() - start) * 1e3
        self.latency.observe(elapsed)
        return PreprocessedImage(prepared.tensor, prepared.geometry, {"preprocess": elapsed})

    def ping(self) -> str:
        return "ok"
