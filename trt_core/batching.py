"""Running a list of per-image tensors through a backend in as few calls as it allows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trt_core.backends.base import Backend
from trt_core.errors import BackendError


def infer_images(backend: Backend, tensors: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
    """Infer ``(3, H, W)`` uint8 tensors; returns each image's outputs with the batch axis removed.

    Images are stacked into batches of at most ``backend.info.max_batch``; a model with a
    fixed batch size gets its last batch padded (the padding's outputs are dropped).
    """
    if not tensors:
        return []
    info = backend.info
    step = max(1, info.max_batch)
    results: list[list[np.ndarray]] = []
    for start in range(0, len(tensors), step):
        chunk = tensors[start : start + step]
        batch = np.stack(chunk)
        if not info.dynamic_batch and batch.shape[0] < step:
            padding = np.zeros((step - batch.shape[0], *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, padding])
        outputs = backend.infer(batch)
        for out in outputs:
            if out.shape[0] < len(chunk):
                raise BackendError(f"backend returned {out.shape[0]} results for a batch of {len(chunk)}")
        results.extend([out[i] for out in outputs] for i in range(len(chunk)))
    return results
