"""TensorRT engine building, caching and running.

- :mod:`~trt_core.trt.options`: :class:`BuildOptions` and the pure logic derived from them
- :mod:`~trt_core.trt.builder`: ONNX -> serialized engine (TensorRT 10.x / 11.x)
- :mod:`~trt_core.trt.cache`: on-disk engine cache with inter-process build locking
- :mod:`~trt_core.trt.loader`: :func:`cached_engine` (the one engine-cache flow), deserialize, engine I/O
- :mod:`~trt_core.trt.api_surface`: every TensorRT name used, and the lazy import

The backend that runs engines is :class:`trt_core.backends.tensorrt.TensorRTBackend`.
Importing this package never imports TensorRT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trt_core._lazy import lazy_getattr
from trt_core.trt.info import describe
from trt_core.trt.options import BuildOptions

__all__ = ["BuildOptions", "EngineCache", "EngineKey", "build_engine", "cached_engine", "describe"]

_LAZY = {
    "EngineCache": "trt_core.trt.cache",
    "EngineKey": "trt_core.trt.cache",
    "build_engine": "trt_core.trt.builder",
    "cached_engine": "trt_core.trt.loader",
}

if TYPE_CHECKING:
    from trt_core.trt.builder import build_engine
    from trt_core.trt.cache import EngineCache, EngineKey
    from trt_core.trt.loader import cached_engine


__getattr__ = lazy_getattr(__name__, _LAZY)
