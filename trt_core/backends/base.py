"""The small interface every inference backend implements.

A backend owns its device resources (session / engine, execution contexts, streams,
buffers) and runs *uint8 NCHW* batches through the graph it is given: a
:class:`~trt_core.graph.PreparedGraph`, whose uint8 input normalises to float inside the
graph (see :mod:`trt_core.graph`), so only uint8 crosses the host/device boundary.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

import numpy as np

from trt_core.errors import BackendError

if TYPE_CHECKING:
    from trt_core.batching import BatchPadding

#: the largest batch a backend is built for unless told otherwise
DEFAULT_MAX_BATCH = 32
#: one batch: an ``(N, 3, H, W)`` array, or a list (or tuple) of ``N`` ``(3, H, W)`` arrays of one
#: shape and dtype, which a backend with its own input buffers stacks straight into them (one
#: copy, not two)
Batch = Union[np.ndarray, list[np.ndarray], tuple[np.ndarray, ...]]  # noqa: UP007 (an alias used at run time)
_reused = threading.local()


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

    def infer(self, batch: Batch) -> list[np.ndarray]:
        """Run one batch (``N <= info.max_batch``: an array, or a list of images, see
        :data:`Batch`); return the raw outputs, batch first, in ``output_names`` order, as
        host arrays the caller may keep."""
        ...

    def close(self) -> None:
        """Release device resources; idempotent."""
        ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


def batch_layout(batch: Batch) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype ``batch`` has as one array (a list: its first image's, N first)."""
    if isinstance(batch, np.ndarray):
        return tuple(batch.shape), batch.dtype
    if isinstance(batch, list | tuple):
        if not batch:
            raise BackendError("empty batch: no images")
        if isinstance(batch[0], np.ndarray):
            return (len(batch), *batch[0].shape), batch[0].dtype
        raise BackendError(f"expected a list of numpy arrays, got a list of {type(batch[0]).__name__}")
    raise BackendError(f"expected a numpy array or a list of them, got {type(batch).__name__}")


def stack_into(out: np.ndarray, images: list[np.ndarray] | tuple[np.ndarray, ...]) -> None:
    """Copy ``images`` into ``out`` row by row; every image must have ``out``'s dtype exactly
    (no silent casts, e.g. uint16 wrapping into uint8)."""
    np.stack(images, out=out, casting="no")


def stacked(batch: Batch) -> np.ndarray:
    """``batch`` as one array: a list is stacked in one copy into a buffer the calling thread
    reuses (its pages already mapped; valid until the thread's next call).  A fresh
    ``np.stack`` into new pages every time took 5 ms for eight 512x512 images (now 0.1 ms)."""
    if isinstance(batch, np.ndarray):
        return batch
    shape, dtype = batch_layout(batch)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffer: np.ndarray | None = getattr(_reused, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = _reused.buffer = np.empty(nbytes, np.uint8)
    out = buffer[:nbytes].view(dtype).reshape(shape)
    try:
        stack_into(out, batch)
    except (ValueError, TypeError) as exc:
        raise BackendError(f"the batch's images differ in shape or dtype: {exc}") from None
    return out
