"""Pure buffer sizing from typed descriptions (:class:`~trt_core.tensors.IOTensor`) of an
engine's or session's I/O tensors.

No CUDA here: this is the arithmetic the runners use to allocate one pinned host and one
device buffer per tensor, each large enough for the largest batch, so that buffers are
allocated once per execution slot and reused for every batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from trt_core.errors import BackendError
from trt_core.tensors import IOTensor

#: device allocations are rounded up to this many bytes (cudaMalloc aligns to 256 too)
ALIGNMENT = 256


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
        out.append(t.with_shape((t.shape[0], *seen[1:])))
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
