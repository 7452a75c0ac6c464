"""Execution slots: per-slot stream and I/O buffers, used round-robin so batches overlap.

A slot owns one stream and, for every I/O tensor, one pinned host buffer and one device
buffer sized for the largest batch (allocated once).  A backend supplies ``enqueue(slot,
n)``, which puts host->device copies, the model run and device->host copies on the slot's
stream; the pool copies the batch into pinned memory (a list of images is stacked straight
into it), calls it, and hands back a
:class:`Pending` whose :meth:`~Pending.result` synchronises the stream and copies the
outputs out.  With two or more slots, batch *k+1*'s copies and compute are enqueued
while batch *k* still runs, whether the batches come from several threads or from one
thread that submits before it collects.

The pool needs only a small memory interface (:class:`Memory`), which
:class:`~trt_core.cuda.driver.CudaContext` implements; CPU tests drive the same logic with
host memory.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from trt_core.backends.base import Batch, batch_layout, stack_into
from trt_core.cuda.sizing import plan_buffers
from trt_core.errors import BackendError, TrtDetectError
from trt_core.tensors import IOTensor


class Memory(Protocol):
    def active(self) -> contextlib.AbstractContextManager[None]: ...
    def stream(self) -> Any: ...  # .handle, .synchronize(), .is_done()
    def pinned(self, nbytes: int) -> Any: ...  # .view(dtype, shape)
    def device_buffer(self, nbytes: int) -> Any: ...  # .ptr, .copy_{from,to}_host_async(host, stream)
    def release(self, resource: Any) -> None: ...  # free it now


@dataclass
class Slot:
    """One execution slot; ``state`` holds the backend's per-slot objects."""

    index: int
    stream: Any
    tensors: dict[str, IOTensor]
    host: dict[str, Any]  # name -> PinnedBuffer
    device: dict[str, Any]  # name -> DeviceBuffer
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: dict[str, Any] = field(default_factory=dict)
    pending: Pending | None = None
    owner: int | None = None

    def host_view(self, name: str, n: int) -> np.ndarray:
        t = self.tensors[name]
        return self.host[name].view(t.dtype, t.shape_for(n))

    def h2d(self, name: str, n: int) -> None:
        self.device[name].copy_from_host_async(self.host_view(name, n), self.stream)

    def d2h(self, name: str, n: int) -> None:
        self.device[name].copy_to_host_async(self.host_view(name, n), self.stream)

    def ptr(self, name: str) -> int:
        return int(self.device[name].ptr)


def validate_batch(batch: Batch, tensor: IOTensor, max_batch: int) -> int:
    """Check a batch against the input description; return the batch size to *run*.

    That is ``len(batch)`` for a dynamic batch axis, the fixed size for a static one (the
    batch is padded and the padding's outputs dropped).
    """
    shape, dtype = batch_layout(batch)
    if dtype != np.dtype(tensor.dtype):
        raise BackendError(f"input {tensor.name!r} expects {tensor.dtype}, got {dtype}")
    if len(shape) != len(tensor.shape) or shape[1:] != tuple(tensor.shape[1:]):
        expected = ("N", *tensor.shape[1:])
        raise BackendError(f"input {tensor.name!r} expects shape {expected}, got {shape}")
    n = shape[0]
    if not 1 <= n <= max_batch:
        raise BackendError(
            f"batch of {n} outside 1..{max_batch}", hint="split larger batches (trt_core.batching.infer_images)"
        )
    return n if tensor.dynamic_batch else tensor.shape[0]


class Pending:
    """A batch in flight on one slot; :meth:`result` waits for it and returns its outputs."""

    def __init__(self, pool: SlotPool, slot: Slot, n: int, run_n: int) -> None:
        self._pool, self._slot, self._n, self._run_n = pool, slot, n, run_n
        self._outputs: list[np.ndarray] | None = None
        self._error: BaseException | None = None
        self._finishing = threading.Lock()

    @property
    def slot_index(self) -> int:
        return self._slot.index

    def done(self) -> bool:
        if self._outputs is not None or self._error is not None:
            return True
        with self._pool.memory.active():
            return bool(self._slot.stream.is_done())

    def _finish(self) -> None:
        with self._finishing:
            if self._outputs is None and self._error is None:
                self._collect()

    def _collect(self) -> None:
        slot = self._slot
        try:
            with self._pool.memory.active():
                slot.stream.synchronize()
            self._outputs = [slot.host_view(name, self._run_n)[: self._n].copy() for name in self._pool.output_names]
        except Exception as exc:
            self._error = exc
        finally:
            slot.pending, slot.owner = None, None
            slot.lock.release()

    def result(self) -> list[np.ndarray]:
        self._finish()
        if self._error is not None:
            if isinstance(self._error, TrtDetectError):
                raise self._error
            raise BackendError(f"inference failed: {self._error}") from self._error
        assert self._outputs is not None
        return self._outputs


class SlotPool:
    """``count`` slots over ``tensors`` (one input, one or more outputs)."""

    def __init__(
        self,
        memory: Memory,
        tensors: Sequence[IOTensor],
        *,
        max_batch: int,
        count: int,
        enqueue: Callable[[Slot, int], None],
        setup: Callable[[Slot], None] | None = None,
    ) -> None:
        inputs = [t for t in tensors if t.is_input]
        if len(inputs) != 1:
            raise BackendError(f"expected one input tensor, got {[t.name for t in inputs]}")
        if count < 1:
            raise BackendError(f"need at least one execution slot, got {count}")
        self.memory = memory
        self.input = inputs[0]
        self.output_names = [t.name for t in tensors if not t.is_input]
        self.plan = plan_buffers(tensors, max_batch)
        self.max_batch = self.plan.max_batch
        self._enqueue = enqueue
        self._next = itertools.count()
        by_name = {t.name: t for t in tensors}
        self.slots: list[Slot] = []
        for index in range(count):
            slot = Slot(
                index=index,
                stream=memory.stream(),
                tensors=by_name,
                host={name: memory.pinned(size) for name, size in self.plan.allocation.items()},
                device={name: memory.device_buffer(size) for name, size in self.plan.allocation.items()},
            )
            if setup is not None:
                with memory.active():
                    setup(slot)
            self.slots.append(slot)

    def submit(self, batch: Batch) -> Pending:
        """Enqueue one batch on the next slot; returns before the GPU work is done."""
        if not self.slots:
            raise BackendError("the runner is closed")
        tensors = self.batch_tensors(batch)
        run_n = validate_batch(batch, self.input if tensors is None else tensors[self.input.name], self.max_batch)
        n = len(batch)
        slot = self.slots[next(self._next) % len(self.slots)]
        me = threading.get_ident()
        pending = slot.pending
        if pending is not None and slot.owner == me:
            pending._finish()  # this thread's own earlier batch: collect it, keep its result
        slot.lock.acquire()
        try:
            if tensors is not None:
                slot.tensors = tensors
            host = slot.host_view(self.input.name, run_n)
            if isinstance(batch, np.ndarray):
                host[:n] = batch
            else:
                stack_into(host[:n], batch)
            if run_n > n:
                host[n:] = 0
            with self.memory.active():
                self._enqueue(slot, run_n)
        except Exception as exc:
            try:  # copies already queued may still read the pinned buffer: let them finish
                with self.memory.active():
                    slot.stream.synchronize()
            except Exception:
                pass
            slot.lock.release()
            if isinstance(exc, TrtDetectError):
                raise
            raise BackendError(f"enqueueing the batch failed: {exc}") from exc
        result = Pending(self, slot, n, run_n)
        slot.pending, slot.owner = result, me
        return result

    def batch_tensors(self, batch: Batch) -> dict[str, IOTensor] | None:
        """The tensors a slot takes for ``batch`` (``None``: the shapes it was built with)."""
        return None

    def infer(self, batch: Batch) -> list[np.ndarray]:
        return self.submit(batch).result()

    def drain(self) -> None:
        """Wait for every batch in flight (their results stay collectable)."""
        for slot in self.slots:
            pending = slot.pending
            if pending is not None:
                pending._finish()

    def free(self) -> None:
        """Drain, then free every slot's buffers and stream (device, pinned, stream, per slot)."""
        self.drain()
        slots, self.slots = self.slots, []
        for slot in slots:
            for buf in [*slot.device.values(), *slot.host.values(), slot.stream]:
                self.memory.release(buf)
            slot.device.clear()
            slot.host.clear()
            slot.state.clear()
