"""Execution slots for an input whose height and width change from batch to batch.

:class:`~trt_core.cuda.slots.SlotPool` gives every slot one pinned and one device buffer
per tensor, sized once for the largest batch at the tensors' full shapes.  Ultralytics'
rect letterbox (``ModelSpec.rect``) gives each image its own height and width, never more
than the model's input size, so those buffers hold every batch; what changes is the
*shape* each batch is copied, bound and read back with.  :class:`ShapedSlotPool` keeps the
buffers and, per batch, gives the slot (under its lock, until the result is collected) the
tensors shaped for that batch: the input's from the batch itself (:meth:`ShapedSlotPool.batch_tensors`),
the outputs' from the backend (:meth:`ShapedSlotPool.shape_outputs`, which it calls from its
``enqueue`` once it knows them: TensorRT from the execution context after
``set_input_shape``, ONNX Runtime from a probe run).  Every shape is checked against the
bytes allocated, so no binding can ever point past a buffer.

Static-shape models keep the plain :class:`SlotPool`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from trt_core.backends.base import Batch, batch_layout
from trt_core.cuda.slots import Slot, SlotPool, validate_batch
from trt_core.errors import BackendError
from trt_core.tensors import IOTensor


class ShapedSlotPool(SlotPool):
    """A :class:`SlotPool` whose batches may be any height and width up to the input's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: every tensor at its full shape (what the buffers were sized for)
        self.full: dict[str, IOTensor] = dict(self.slots[0].tensors) if self.slots else {}
        self._cache: dict[tuple[tuple[str, tuple[int, ...]], ...], dict[str, IOTensor]] = {}
        self._lock = threading.Lock()

    def reshaped(self, base: Mapping[str, IOTensor], shapes: Mapping[str, Sequence[int]]) -> dict[str, IOTensor]:
        """``base`` with the tensors named in ``shapes`` reshaped (their batch axis kept as
        declared), each checked to fit the bytes allocated for it."""
        key = tuple(
            (name, tuple(int(d) for d in shapes[name]) if name in shapes else t.shape) for name, t in base.items()
        )
        found = self._cache.get(key)
        if found is not None:
            return found
        out = dict(base)
        for name, shape in shapes.items():
            t = self.full.get(name)
            if t is None:
                raise BackendError(f"no tensor named {name!r}")
            dims = (t.shape[0], *(int(d) for d in shape[1:]))
            if len(dims) != len(t.shape) or any(d < 1 for d in dims[1:]):
                raise BackendError(f"tensor {name!r} cannot take shape {tuple(shape)} (declared {t.shape})")
            shaped = t.with_shape(dims)
            if shaped.nbytes(self.max_batch if shaped.dynamic_batch else dims[0]) > self.plan.allocation[name]:
                raise BackendError(
                    f"tensor {name!r} at shape {tuple(shape)} needs more than the "
                    f"{self.plan.allocation[name]} bytes allocated for {t.shape}",
                    hint="the model's input size (imgsz) must be the largest it is run at",
                )
            out[name] = shaped
        with self._lock:
            return self._cache.setdefault(key, out)

    def input_tensors(self, hw: tuple[int, int]) -> dict[str, IOTensor]:
        """The full tensors with the input at height x width ``hw`` (at most the input's)."""
        full_h, full_w = self.input.shape[2:]
        if not (1 <= hw[0] <= full_h and 1 <= hw[1] <= full_w):
            raise BackendError(f"input {self.input.name!r} takes images up to {full_h}x{full_w}; got {hw[0]}x{hw[1]}")
        return self.reshaped(self.full, {self.input.name: (*self.input.shape[:2], *hw)})

    def shape_outputs(self, slot: Slot, shapes: Mapping[str, Sequence[int]]) -> None:
        """Give ``slot`` (locked, in ``enqueue``) its outputs' shapes for the current batch."""
        slot.tensors = self.reshaped(slot.tensors, shapes)

    def batch_tensors(self, batch: Batch) -> dict[str, IOTensor]:
        """The tensors at ``batch``'s height and width, which the slot takes before its input is copied."""
        shape, _ = batch_layout(batch)
        if len(shape) != len(self.input.shape):
            validate_batch(batch, self.input, self.max_batch)  # raises the usual error
        return self.input_tensors((int(shape[2]), int(shape[3])))
