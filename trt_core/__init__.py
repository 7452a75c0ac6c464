"""trt-detect's framework-free core: models, pre/post-processing and inference backends.

Heavy modules load on first use, so ``import trt_core`` is cheap and works on machines
without TensorRT, CUDA or Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trt_core._lazy import lazy_getattr

__version__ = "0.1.0"

__all__ = [
    "DetectParams",
    "Detections",
    "Detector",
    "InferenceEngine",
    "ModelSpec",
    "TrtDetectError",
    "__version__",
]

_LAZY = {
    "Detector": "trt_core.detector",
    "InferenceEngine": "trt_core.engine",
    "Detections": "trt_core.detections",
    "DetectParams": "trt_core.params",
    "ModelSpec": "trt_core.spec",
    "TrtDetectError": "trt_core.errors",
}

if TYPE_CHECKING:
    from trt_core.detections import Detections
    from trt_core.detector import Detector
    from trt_core.engine import InferenceEngine
    from trt_core.errors import TrtDetectError
    from trt_core.params import DetectParams
    from trt_core.spec import ModelSpec


__getattr__ = lazy_getattr(__name__, _LAZY)
