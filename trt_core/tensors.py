"""``IOTensor``: a graph input/output as a backend binds it.

:class:`~trt_core.spec.TensorDesc` (name, shape, dtype) is the one tensor description;
``IOTensor`` adds the direction and the buffer arithmetic a backend needs (bytes per batch,
per item), with its shape checked, so the CUDA layer (:mod:`trt_core.cuda`), the TensorRT
loader and the ONNX Runtime CUDA backend describe tensors alike.  It stays a class of its
own (a subclass) because only a tensor bound to buffers has a direction and a size in
bytes; a model's spec describes tensors that are never bound, and ``spec.py`` stays free
of buffer arithmetic.  It lives here, not in :mod:`trt_core.cuda.sizing`, because the
TensorRT loader and the CLI describe engines with it without any CUDA.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from trt_core.errors import BackendError
from trt_core.spec import TensorDesc


@dataclass(frozen=True)
class IOTensor(TensorDesc):
    """A :class:`~trt_core.spec.TensorDesc` that a backend binds to buffers: one named input
    (``is_input``) or output, ``-1`` for the batch axis.

    Only the leading (batch) axis may be dynamic; other dynamic axes must be resolved
    (see :func:`~trt_core.cuda.sizing.resolve_tensors`) before buffers can be sized.
    """

    is_input: bool

    def __post_init__(self) -> None:
        np.dtype(self.dtype)  # raises TypeError for an unknown dtype name
        if not self.shape:
            raise ValueError(f"tensor {self.name!r}: scalars are not supported as batched I/O")
        if any(d < -1 or d == 0 for d in self.shape):
            raise ValueError(f"tensor {self.name!r}: invalid shape {self.shape}")

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def dynamic_batch(self) -> bool:
        return self.shape[0] == -1

    @property
    def fully_static(self) -> bool:
        return all(d > 0 for d in self.shape[1:])

    def shape_for(self, batch: int) -> tuple[int, ...]:
        """The concrete shape for ``batch`` items (a static batch axis must match)."""
        if batch < 1:
            raise BackendError(f"batch size must be >= 1, got {batch}")
        if not self.fully_static:
            raise BackendError(
                f"tensor {self.name!r} has dynamic non-batch axes {self.shape}",
                hint="resolve them from the engine/session at the largest batch first (resolve_tensors)",
            )
        lead = self.shape[0]
        if lead != -1 and lead != batch:
            raise BackendError(f"tensor {self.name!r} has a fixed batch of {lead}; got {batch}")
        return (batch, *self.shape[1:])

    def nbytes(self, batch: int) -> int:
        return math.prod(self.shape_for(batch)) * self.itemsize

    def item_bytes(self) -> int:
        """Bytes of one batch item (the stride between consecutive items)."""
        return self.nbytes(1) if self.dynamic_batch else self.nbytes(self.shape[0]) // self.shape[0]

    @classmethod
    def of(cls, desc: TensorDesc, *, is_input: bool) -> IOTensor:
        return cls(desc.name, desc.shape, desc.dtype, is_input)

    def with_shape(self, shape: tuple[int, ...]) -> IOTensor:
        return dataclasses.replace(self, shape=shape)
