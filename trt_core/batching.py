"""Running a list of per-image tensors through a backend in as few calls as it allows.

GPU runtimes pay for every *new* input shape (cuDNN algorithm search, TensorRT shape
binding, CUDA-graph capture), and dynamic batching produces every size from 1 to B.
``padding="pow2"`` rounds each batch up to a power of two (1, 2, 4, ..., B), so a
replica sees at most log2(B)+1 shapes, all of which :func:`warm_up` runs at start-up;
``"max"`` always runs B.  The padding rows are zeros and their outputs are dropped.

Tensors of different shapes (Ultralytics' rect letterbox gives each image its own) are
grouped by shape, each group batched on its own; results come back in the callers' order.

A batch goes to the backend as the list of its images (the padding rows one shared zero
image), and is assembled in one copy: straight into the backend's pinned input buffer on a
GPU, into a buffer the calling thread reuses on the CPU (:func:`~trt_core.backends.base.stacked`).
Stacking first and then copying into pinned memory was a third of an H200 Detector's
inference-thread time (benchmarks/README.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, cast, get_args

import numpy as np

from trt_core.backends.base import Backend
from trt_core.errors import BackendError

#: how a batch is padded before it runs (``"auto"`` in configs: what the backend prefers)
BatchPadding = Literal["none", "pow2", "max"]
PADDINGS: tuple[BatchPadding, ...] = get_args(BatchPadding)
#: what a caller may ask for (``"auto"``: :func:`resolve_padding` picks)
PaddingChoice = Literal["auto", "none", "pow2", "max"]


def resolve_padding(padding: str, backend: Backend) -> BatchPadding:
    """``auto`` -> what the backend prefers (``BackendInfo.preferred_padding``)."""
    if padding == "auto":
        padding = backend.info.preferred_padding
    if padding not in PADDINGS:
        from trt_core.errors import InvalidRequestError

        raise InvalidRequestError(f"unknown batch padding {padding!r}", hint="auto, none, pow2 or max")
    return cast(BatchPadding, padding)


def run_size(n: int, max_batch: int, padding: str) -> int:
    """The batch size actually run for ``n`` images."""
    if padding == "max":
        return max_batch
    if padding == "pow2":
        return min(max_batch, 1 << (n - 1).bit_length())
    return n


def batch_sizes(max_batch: int, padding: str) -> list[int]:
    """Every batch size a backend can be asked to run under ``padding``."""
    return sorted({run_size(n, max_batch, padding) for n in range(1, max_batch + 1)})


def infer_images(
    backend: Backend, tensors: Sequence[np.ndarray], *, padding: str = "none", max_batch: int | None = None
) -> list[list[np.ndarray]]:
    """Infer ``(3, H, W)`` uint8 tensors; returns each image's outputs with the batch axis removed.

    Images of one shape are stacked into batches of at most ``max_batch`` (default and
    cap: the backend's); a model with a fixed batch size always runs its full batch.
    """
    if not tensors:
        return []
    info = backend.info
    step = max(1, min(max_batch or info.max_batch, info.max_batch) if info.dynamic_batch else info.max_batch)
    chosen = padding if info.dynamic_batch else "max"
    results: list[list[np.ndarray] | None] = [None] * len(tensors)
    for indices in shape_groups(tensors):
        for start in range(0, len(indices), step):
            chunk = indices[start : start + step]
            outputs = backend.infer(_padded([tensors[i] for i in chunk], run_size(len(chunk), step, chosen)))
            for out in outputs:
                if out.shape[0] < len(chunk):
                    raise BackendError(f"backend returned {out.shape[0]} results for a batch of {len(chunk)}")
            for row, i in enumerate(chunk):
                results[i] = [out[row] for out in outputs]
    return [r for r in results if r is not None]


def _padded(images: list[np.ndarray], size: int) -> list[np.ndarray]:
    """``images`` then a zero image up to ``size`` rows."""
    first = images[0]
    return images + [_zeros(first.shape, first.dtype.str)] * (size - len(images))


@functools.lru_cache(maxsize=16)
def _zeros(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


def shape_groups(tensors: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of ``tensors`` grouped by shape, groups in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, tensor in enumerate(tensors):
        groups.setdefault(tuple(tensor.shape), []).append(i)
    return list(groups.values())


def warm_up(
    backend: Backend, image_shape: tuple[int, int, int], *, padding: str = "none", max_batch: int | None = None
) -> list[int]:
    """Run every batch size the backend will see (zeros) once on each of its execution
    slots, which are used round robin; returns the sizes run."""
    info = backend.info
    top = min(max_batch or info.max_batch, info.max_batch) if info.dynamic_batch else info.max_batch
    sizes = batch_sizes(top, padding if info.dynamic_batch else "max")
    if padding == "none" and info.dynamic_batch:
        sizes = sorted({1, top})
    for size in sizes:
        for _ in range(max(1, info.slots)):
            backend.infer(np.zeros((size, *image_shape), np.uint8))
    return sizes
