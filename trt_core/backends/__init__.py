"""Inference backends and the factory that picks one.

``create_backend(..., backend="auto")`` prefers TensorRT when its bindings, pycuda and a
GPU are present, then ONNX Runtime (CUDA provider when available, else CPU).  Backend
modules are imported lazily so this package imports on machines with none of them.
"""

from __future__ import annotations

from trt_core.backends.base import Backend, BackendInfo

__all__ = ["Backend", "BackendInfo"]
