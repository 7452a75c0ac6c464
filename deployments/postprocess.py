"""``Postprocess`` (CPU): raw head outputs -> detections in original pixels -> JSON / image."""

from __future__ import annotations

import time
from typing import Any

from ray import serve
from ray.serve import metrics

from deployments.config import PostprocessUserConfig
from deployments.messages import InferredImage
from trt_core.annotate import draw, encode
from trt_core.detections import Detections
from trt_core.image import load_rgb
from trt_core.params import DetectParams
from trt_core.postprocess import postprocess
from trt_core.result import result_dict
from trt_core.spec import ModelSpec


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=16)
class Postprocess:
    def __init__(self, spec: ModelSpec, max_pixels: int) -> None:
        self.spec = spec
        self.max_pixels = max_pixels
        self.defaults = DetectParams()
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
        config = PostprocessUserConfig(**user_config)
        self.defaults = DetectParams(conf=config.conf, iou=config.iou, max_det=config.max_det, agnostic=config.agnostic)

    def __call__(self, inferred: InferredImage, query: dict[str, str]) -> dict[str, Any]:
        start = time.perf_counter()
        params = self.defaults.with_query(query)
        detections = postprocess(inferred.outputs, self.spec, inferred.geometry, params)
        elapsed = (time.perf_counter() - start) * 1e3
        self.latency.observe(elapsed)
        self.detections.observe(len(detections))
        geometry = inferred.geometry
        timing = {**inferred.timing_ms, "postprocess": elapsed}
        result = result_dict(self.spec.name, geometry.width, geometry.height, detections, timing)
        result["batch_size"] = inferred.batch_size
        return result

    def annotate(self, image: Any, result: dict[str, Any], fmt: str) -> bytes:
        rgb = load_rgb(image, max_pixels=self.max_pixels)
        return encode(draw(rgb, Detections.from_list(result["detections"], self.spec.names)), fmt)

    def defaults_dict(self) -> dict[str, Any]:
        return {"conf": self.defaults.conf, "iou": self.defaults.iou, "max_det": self.defaults.max_det}

    def replica(self) -> str:
        return serve.get_replica_context().replica_id.unique_id

    def ping(self) -> str:
        return "ok"
