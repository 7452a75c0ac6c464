"""What travels between the stages (object store, replica to replica)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trt_core.preprocess import Geometry


@dataclass(frozen=True)
class PreprocessedImage:
    tensor: np.ndarray  # uint8 (3, H, W): ~0.5 MB at 416x416, a quarter of float32
    geometry: Geometry
    timing_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class InferredImage:
    outputs: list[np.ndarray]  # raw heads of one image, batch axis removed
    geometry: Geometry
    timing_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1
