"""The CUDA layer shared by the TensorRT and the ONNX Runtime CUDA backends.

- :mod:`~trt_core.cuda.sizing`: buffer sizing from :class:`~trt_core.tensors.IOTensor` (pure, no CUDA)
- :mod:`~trt_core.cuda.driver`: pycuda device context, streams, pinned and device buffers
- :mod:`~trt_core.cuda.slots`: execution slots used round-robin to overlap copies and compute
- :mod:`~trt_core.cuda.graphs`: CUDA graph capture (driver API through ctypes)

Importing this package never imports pycuda; names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trt_core._lazy import lazy_getattr
from trt_core.cuda.info import describe, gpu_count
from trt_core.cuda.sizing import plan_buffers
from trt_core.tensors import IOTensor

__all__ = [
    "CudaContext",
    "DeviceBuffer",
    "IOTensor",
    "PinnedBuffer",
    "SlotPool",
    "Stream",
    "describe",
    "gpu_count",
    "plan_buffers",
]

_LAZY = {
    "CudaContext": "trt_core.cuda.driver",
    "DeviceBuffer": "trt_core.cuda.driver",
    "PinnedBuffer": "trt_core.cuda.driver",
    "Stream": "trt_core.cuda.driver",
    "SlotPool": "trt_core.cuda.slots",
}

if TYPE_CHECKING:
    from trt_core.cuda.driver import CudaContext, DeviceBuffer, PinnedBuffer, Stream
    from trt_core.cuda.slots import SlotPool


__getattr__ = lazy_getattr(__name__, _LAZY)
