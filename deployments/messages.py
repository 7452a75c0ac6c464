"""What travels between the stages: typed, compact, numpy inside.

Ingress -> Preprocess: the image (encoded bytes, an array or a PIL image) and the request's
:class:`~trt_core.params.DetectParams`.  Preprocess -> Detector: :class:`PreprocessedImage`
(uint8, a quarter of float32).  Detector -> Postprocess: :class:`InferredImage` (24 KB of
candidates when decoding runs in the graph).  Postprocess -> Preprocess -> Ingress:
:class:`DetectedImage`, turned into JSON only at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trt_core.detections import Detections
from trt_core.preprocess import Geometry
from trt_core.result import result_dict


@dataclass(frozen=True)
class PreprocessedImage:
    tensor: np.ndarray  # uint8 (3, H, W)
    geometry: Geometry
    timing_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class InferredImage:
    outputs: list[np.ndarray]  # one image's outputs, batch axis removed
    geometry: Geometry
    timing_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1


@dataclass(frozen=True)
class DetectedImage:
    detections: Detections  # in pixels of the image as displayed
    width: int
    height: int
    timing_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1

    def to_dict(self, model: str, total_ms: float | None = None) -> dict[str, Any]:
        """The HTTP / handle JSON object of one image."""
        timing = dict(self.timing_ms)
        if total_ms is not None:
            timing["total"] = total_ms
        result = result_dict(model, self.width, self.height, self.detections, timing)
        result["batch_size"] = self.batch_size
        return result
