"""The small interface every inference backend implements.

A backend owns its device resources (session / engine, execution contexts, streams,
buffers) and runs *uint8 NCHW* batches through the graph it is given: a
:class:`~trt_core.graph.PreparedGraph`, whose uint8 input normalises to float inside the
graph (see :mod:`trt_core.graph`), so only uint8 crosses the host/device boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from trt_core.batching import BatchPadding

#: the largest batch a backend is built for unless told otherwise
DEFAULT_MAX_BATCH = 32


@dataclass(frozen=True)
class BackendInfo:
    """What a backend tells the world about itself (``GET /model``, ``trt-detect info``)."""

    name: str  # "onnxruntime" | "tensorrt"
    device: str  # "cpu" | "cuda:0" | ...
    precision: str  # "fp32" | "fp16"
    max_batch: int  # largest batch one ``infer`` call accepts
    dynamic_batch: bool  # False: the model has a fixed batch axis; batches are split
    details: dict[str, object] = field(default_factory=dict)
    # How batches should be padded (see trt_core.batching): "none" where new shapes are free
    # (CPU), "pow2" where each distinct shape has a cost paid once at warm-up (TensorRT
    # profiles and CUDA graphs; OrtCudaBackend's one session per size), "max" where any
    # shape change is expensive (plain ONNX Runtime CUDA: ~300 ms per change on an H100).
    preferred_padding: BatchPadding = "none"
    slots: int = 1  # execution slots (streams / contexts) used round robin; warm-up covers each


@runtime_checkable
class Backend(Protocol):
    """Runs the detector network on uint8 ``(N, 3, H, W)`` batches."""

    @property
    def info(self) -> BackendInfo: ...

    @property
    def output_names(self) -> list[str]: ...

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run one batch (``N <= info.max_batch``); return the raw outputs, batch first,
        in ``output_names`` order, as host arrays the caller may keep."""
        ...

    def close(self) -> None:
        """Release device resources; idempotent."""
        ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...
