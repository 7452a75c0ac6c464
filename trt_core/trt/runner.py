"""Load a serialized engine and run it: the TensorRT half of the GPU data path.

Polygraphy-style separation: :func:`deserialize_engine` loads, :class:`TrtRunner` runs.
The runner is a context manager that owns the runtime, the engine and ``num_contexts``
execution contexts, each in its own slot (:mod:`trt_core.cuda.slots`) with its own stream
and pinned/device buffers, bound once with ``set_tensor_address``.  Per batch:
``set_input_shape`` (when the batch size changes), async H2D, ``execute_async_v3``, async
D2H on the slot's stream, then a stream sync when the result is collected.  With
``cuda_graphs=True`` the copy+execute sequence of each (slot, batch size) is captured into
a CUDA graph on its second run and replayed after; a failed capture falls back to plain
enqueueing for that batch size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from trt_core.cuda.sizing import IOTensor, resolve_tensors
from trt_core.errors import BackendError, BackendUnavailableError, ModelLoadError
from trt_core.trt.api_surface import load_tensorrt
from trt_core.trt.trt_logger import describe_errors, get_logger

log = logging.getLogger(__name__)


@dataclass
class LoadedEngine:
    """A deserialized engine and the runtime that must outlive it."""

    trt: Any
    runtime: Any
    engine: Any
    nbytes: int

    def release(self) -> None:
        """Drop the engine, then the runtime (the CUDA context must be current)."""
        self.engine = None
        self.runtime = None


def deserialize_engine(data: bytes, *, trt: Any = None, allow_host_code: bool = False) -> LoadedEngine:
    """Deserialize ``data`` (needs the CUDA context current).  Raises :class:`ModelLoadError`
    when TensorRT rejects the bytes (corrupt, other TensorRT version, other GPU)."""
    trt = trt if trt is not None else load_tensorrt()
    logger = get_logger(trt)
    mark = logger.count
    try:
        runtime = trt.Runtime(logger)
    except Exception as exc:
        raise BackendUnavailableError(f"cannot create a TensorRT runtime: {exc}", hint="is a GPU visible?") from exc
    if runtime is None:
        raise BackendUnavailableError("cannot create a TensorRT runtime", hint="is a GPU visible?")
    if allow_host_code:
        runtime.engine_host_code_allowed = True
    try:
        engine = runtime.deserialize_cuda_engine(data)
    except Exception as exc:
        log.debug("deserialize_cuda_engine raised %s", exc)
        engine = None
    if engine is None:
        hint = "rebuild it for this TensorRT and GPU (the engine cache does this by itself)"
        if not allow_host_code:
            hint += "; a version-compatible engine also needs allow_host_code=True"
        raise ModelLoadError(
            f"TensorRT {trt.__version__} cannot deserialize the engine{describe_errors(logger.errors_since(mark))}",
            hint=hint,
        )
    return LoadedEngine(trt, runtime, engine, len(data))


def engine_io(trt: Any, engine: Any) -> list[IOTensor]:
    """The engine's I/O tensors as typed descriptions (``-1`` where the engine is dynamic)."""
    tensors = []
    for i in range(int(engine.num_io_tensors)):
        name = str(engine.get_tensor_name(i))
        if engine.get_tensor_location(name) != trt.TensorLocation.DEVICE:
            raise BackendError(f"tensor {name!r} lives on the host (a shape tensor); not supported")
        mode = engine.get_tensor_mode(name)
        if mode not in (trt.TensorIOMode.INPUT, trt.TensorIOMode.OUTPUT):
            continue
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        tensors.append(IOTensor(name, dtype, shape, mode == trt.TensorIOMode.INPUT))
    return tensors


def profile_max_batch(engine: Any, tensors: list[IOTensor]) -> tuple[int, dict[str, tuple[int, ...]]]:
    """The largest batch profile 0 allows, and each input's max shape."""
    largest: dict[str, tuple[int, ...]] = {}
    batch = None
    for t in tensors:
        if not t.is_input:
            continue
        if t.fully_static and not t.dynamic_batch:
            largest[t.name] = t.shape
            size = t.shape[0]
        else:
            if int(engine.num_optimization_profiles) < 1:
                raise BackendError(f"input {t.name!r} is dynamic but the engine has no optimisation profile")
            _, _, high = engine.get_tensor_profile_shape(t.name, 0)
            largest[t.name] = tuple(int(d) for d in high)
            size = largest[t.name][0]
        batch = size if batch is None else min(batch, size)
    if batch is None:
        raise BackendError("the engine has no input tensor")
    return batch, largest


class TrtRunner:
    """Runs uint8 batches through a TensorRT engine; see the module docstring."""

    def __init__(
        self,
        engine: LoadedEngine | bytes,
        *,
        context: Any = None,
        num_contexts: int = 2,
        max_batch: int | None = None,
        cuda_graphs: bool = False,
        allow_host_code: bool = False,
    ) -> None:
        self._engine_arg: LoadedEngine | bytes | None = engine
        self._ctx = context
        self._owns_ctx = context is None
        self.num_contexts = num_contexts
        self._requested_batch = max_batch
        self.cuda_graphs = cuda_graphs
        self._allow_host_code = allow_host_code
        self._loaded: LoadedEngine | None = None
        self._pool: Any = None
        self.tensors: list[IOTensor] = []
        self.graph_failures: dict[int, str] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def activate(self) -> TrtRunner:
        if self._pool is not None:
            return self
        from trt_core.cuda.driver import CudaContext
        from trt_core.cuda.slots import SlotPool

        if self._ctx is None:
            self._ctx = CudaContext(0)
        try:
            with self._ctx.active():
                arg = self._engine_arg
                loaded = (
                    arg
                    if isinstance(arg, LoadedEngine)
                    else deserialize_engine(bytes(arg or b""), allow_host_code=self._allow_host_code)
                )
                self._loaded, self._engine_arg = loaded, None
                tensors = engine_io(loaded.trt, loaded.engine)
                limit, largest = profile_max_batch(loaded.engine, tensors)
                want = self._requested_batch or limit
                if want > limit:
                    raise BackendError(
                        f"max_batch {want} exceeds the engine's profile maximum {limit}",
                        hint="rebuild the engine with a larger max batch",
                    )
                self.tensors = self._resolve(loaded, tensors, largest)
            self._pool = SlotPool(
                self._ctx,
                self.tensors,
                max_batch=want,
                count=self.num_contexts,
                enqueue=self._enqueue,
                setup=self._setup_slot,
            )
        except BaseException:
            self.close()
            raise
        return self

    def _resolve(
        self, loaded: LoadedEngine, tensors: list[IOTensor], largest: dict[str, tuple[int, ...]]
    ) -> list[IOTensor]:
        """Replace dynamic non-batch axes by the shapes TensorRT reports at the largest batch."""
        if all(t.fully_static for t in tensors):
            return tensors
        probe = loaded.engine.create_execution_context()
        if probe is None:
            raise BackendError("cannot create an execution context", hint="is the GPU out of memory?")
        try:
            for name, shape in largest.items():
                if not probe.set_input_shape(name, shape):
                    raise BackendError(f"TensorRT rejected input shape {shape} for {name!r}")
            seen = {t.name: tuple(int(d) for d in probe.get_tensor_shape(t.name)) for t in tensors}
        finally:
            del probe
        fixed = [
            IOTensor(t.name, t.dtype, (t.shape[0], *largest[t.name][1:]), True) if t.is_input else t for t in tensors
        ]
        return resolve_tensors(fixed, seen)

    def close(self) -> None:
        """Drain, free contexts/graphs/buffers/streams, release engine and runtime, in order."""
        ctx = self._ctx
        if ctx is not None and not ctx.closed:
            with ctx.active():
                if self._pool is not None:
                    self._pool.drain()
                    for slot in self._pool.slots:
                        for graph in slot.state.get("graphs", {}).values():
                            if graph is not None:
                                ctx.release(graph)
                        slot.state.pop("context", None)
                    self._pool.free()
                self._pool = None
                if self._loaded is not None:
                    self._loaded.release()
                    self._loaded = None
            if self._owns_ctx:
                ctx.close()
        self._ctx = None if self._owns_ctx else ctx

    def __enter__(self) -> TrtRunner:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------
    @property
    def max_batch(self) -> int:
        return int(self._active().max_batch)

    @property
    def input(self) -> IOTensor:
        return self._active().input

    @property
    def output_names(self) -> list[str]:
        return list(self._active().output_names)

    def submit(self, batch: np.ndarray) -> Any:
        """Enqueue a batch; returns a :class:`~trt_core.cuda.slots.Pending`."""
        return self._active().submit(batch)

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Outputs in :attr:`output_names` order, as host arrays the caller owns."""
        return self._active().infer(batch)

    def _active(self) -> Any:
        if self._pool is None:
            raise BackendError("the TensorRT runner is not active", hint="use it as a context manager")
        return self._pool

    def _setup_slot(self, slot: Any) -> None:
        assert self._loaded is not None
        context = self._loaded.engine.create_execution_context()
        if context is None:
            raise BackendError(
                "cannot create an execution context", hint="the GPU may be out of memory; use fewer contexts"
            )
        for name in slot.tensors:
            if not context.set_tensor_address(name, slot.ptr(name)):
                raise BackendError(f"TensorRT rejected the address of tensor {name!r}")
        slot.state.update(context=context, shape=None, graphs={})

    def _enqueue(self, slot: Any, n: int) -> None:
        from trt_core.cuda.graphs import GraphCaptureError, capture

        state = slot.state
        context, inp = state["context"], self.input
        fresh = state["shape"] != n
        if fresh:  # a captured graph bakes in its shapes: the context must match it too
            if not context.set_input_shape(inp.name, inp.shape_for(n)):
                raise BackendError(f"TensorRT rejected input shape {inp.shape_for(n)}")
            state["shape"] = n
        graph = state["graphs"].get(n)
        if graph is not None:
            graph.launch(slot.stream.handle)
            return

        def work() -> None:
            slot.h2d(inp.name, n)
            if not context.execute_async_v3(slot.stream.handle):
                assert self._loaded is not None
                logger = get_logger(self._loaded.trt)
                raise BackendError(f"execute_async_v3 failed{describe_errors(list(logger.errors)[-3:])}")
            for name in self.output_names:
                slot.d2h(name, n)

        # capture once an enqueue with this shape has happened (TensorRT needs one after a shape change)
        if self.cuda_graphs and not fresh and n not in state["graphs"]:
            try:
                state["graphs"][n] = self._ctx.track(capture(slot.stream.handle, work))
            except GraphCaptureError as exc:
                state["graphs"][n] = None
                self.graph_failures[n] = str(exc)
                log.warning("CUDA graph capture failed for batch %d (running without): %s", n, exc)
            else:
                state["graphs"][n].launch(slot.stream.handle)
                return
        work()
