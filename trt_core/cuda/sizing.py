"""Pure buffer sizing from typed descriptions of an engine's or session's I/O tensors.

No CUDA here: this is the arithmetic the runners use to allocate one pinned host and one
device buffer per tensor, each large enough for the largest batch, so that buffers are
allocated once per execution slot and reused for every batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trt_core.errors import BackendError

#: device allocations are rounded up to this many bytes (cudaMalloc aligns to 256 too)
ALIGNMENT = 256


@dataclass(frozen=True)
class IOTensor:
    """One named input or output: numpy dtype name and shape, ``-1`` for the batch axis.

    Only the leading (batch) axis may be dynamic; other dynamic axes must be resolved
    (see :func:`resolve_tensors`) before buffers can be sized.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
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


def aligned(nbytes: int, alignment: int = ALIGNMENT) -> int:
    """``nbytes`` rounded up to a multiple of ``alignment`` (at least one block)."""
    if alignment < 1 or alignment & (alignment - 1):
        raise ValueError(f"alignment must be a power of two, got {alignment}")
    return max(alignment, (nbytes + alignment - 1) // alignment * alignment)


def max_batch_of(tensors: Iterable[IOTensor], requested: int) -> int:
    """The batch size buffers are sized for: ``requested``, or the fixed batch of a static model."""
    if requested < 1:
        raise BackendError(f"max_batch must be >= 1, got {requested}")
    fixed = {t.shape[0] for t in tensors if t.is_input and not t.dynamic_batch}
    if len(fixed) > 1:
        raise BackendError(f"inputs disagree on their fixed batch size: {sorted(fixed)}")
    return fixed.pop() if fixed else requested


def resolve_tensors(tensors: Sequence[IOTensor], shapes_at_max: Mapping[str, Sequence[int]]) -> list[IOTensor]:
    """Fill dynamic non-batch axes from concrete shapes observed at the largest batch.

    ``shapes_at_max`` maps tensor names to the shape the engine/session reports once its
    input is set to the largest batch; the batch axis stays dynamic.
    """
    out = []
    for t in tensors:
        if t.fully_static:
            out.append(t)
            continue
        seen = tuple(int(d) for d in shapes_at_max.get(t.name, ()))
        if len(seen) != len(t.shape) or any(d < 1 for d in seen[1:]):
            raise BackendError(
                f"cannot resolve the shape of {t.name!r}: declared {t.shape}, observed {seen or 'nothing'}",
                hint="only the batch axis of an output may depend on the input",
            )
        out.append(IOTensor(t.name, t.dtype, (t.shape[0], *seen[1:]), t.is_input))
    return out


@dataclass(frozen=True)
class BufferPlan:
    """Bytes to allocate per tensor for one execution slot."""

    max_batch: int
    nbytes: Mapping[str, int]  # exact bytes at max_batch
    allocation: Mapping[str, int]  # aligned bytes actually allocated

    @property
    def total(self) -> int:
        return sum(self.allocation.values())


def plan_buffers(tensors: Sequence[IOTensor], max_batch: int, *, alignment: int = ALIGNMENT) -> BufferPlan:
    """Size one host and one device buffer per tensor for batches of up to ``max_batch``."""
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise BackendError(f"duplicate tensor names in {names}")
    if not any(t.is_input for t in tensors) or all(t.is_input for t in tensors):
        raise BackendError("an engine needs at least one input and one output tensor")
    batch = max_batch_of(tensors, max_batch)
    exact = {t.name: t.nbytes(batch) for t in tensors}
    return BufferPlan(batch, exact, {k: aligned(v, alignment) for k, v in exact.items()})
