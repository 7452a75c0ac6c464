"""The TensorRT backend: an engine's execution contexts over the CUDA layer.

Shaped like :class:`~trt_core.backends.ort_cuda.OrtCudaBackend`: a replica-owned primary
context and ``num_contexts`` execution slots (:mod:`trt_core.cuda.slots`), each with its
own execution context, stream and pinned/device buffers, bound once with
``set_tensor_address``.  Per batch: ``set_input_shape`` (when the batch size changes), async
H2D, ``execute_async_v3``, async D2H on the slot's stream, then a stream sync when the
result is collected.  With ``cuda_graphs=True`` the copy+execute sequence of each (slot,
batch size) is captured into a CUDA graph on its second run and replayed after; a failed
capture falls back to plain enqueueing for that batch size.

A rect model (``ModelSpec.rect``: each image at its own height and width, up to the input
size; the engine's optimisation profile spans them, see :func:`trt_core.trt.loader.engine_options`)
keeps buffers sized at the full input size
(:class:`~trt_core.backends.shaped.ShapedSlotPool`); each batch sets its input shape on
the context and reads the output shapes back from it before its copies.  This path is
written against the TensorRT 10/11 API names (checked against the real bindings in
tests/trt) but has not been run on a GPU yet.

:meth:`TensorRTBackend.from_onnx` gets its engine through :func:`trt_core.trt.loader.cached_engine`
(built once per model/TensorRT/GPU/options), :meth:`TensorRTBackend.from_engine` from a file.
TensorRT and pycuda are imported only when a backend is created.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from trt_core.backends.base import DEFAULT_MAX_BATCH, BackendInfo, Batch
from trt_core.errors import BackendError, ModelLoadError
from trt_core.graph import PreparedGraph, as_prepared
from trt_core.onnx_graph import ModelSource
from trt_core.spec import ModelSpec
from trt_core.trt.loader import LoadedEngine, deserialize_engine, engine_tensors, in_spec_order
from trt_core.trt.options import BuildOptions
from trt_core.trt.trt_logger import describe_errors, get_logger

log = logging.getLogger(__name__)


class TensorRTBackend:
    """Runs uint8 ``(N, 3, H, W)`` batches through a TensorRT engine on device 0."""

    def __init__(
        self,
        engine: LoadedEngine | bytes,
        spec: ModelSpec,
        *,
        max_batch: int | None = None,
        num_contexts: int = 2,
        cuda_graphs: bool = False,
        allow_host_code: bool = False,
        precision: str = "unknown",
        details: dict[str, Any] | None = None,
        context: Any = None,
    ) -> None:
        from trt_core.backends.shaped import ShapedSlotPool
        from trt_core.cuda.driver import CudaContext
        from trt_core.cuda.slots import SlotPool

        self._spec = spec
        self.cuda_graphs = cuda_graphs
        self.graph_failures: dict[tuple[int, ...], str] = {}
        self._loaded: LoadedEngine | None = None
        self._pool: Any = None
        self._owns_ctx = context is None
        self._ctx = context if context is not None else CudaContext(0)
        try:
            with self._ctx.active():
                if isinstance(engine, LoadedEngine):
                    self._loaded = engine
                else:
                    self._loaded = deserialize_engine(bytes(engine), allow_host_code=allow_host_code)
                tensors, want = engine_tensors(self._loaded, max_batch)
                tensors = in_spec_order(tensors, spec)
            self._pool = (ShapedSlotPool if spec.rect else SlotPool)(
                self._ctx, tensors, max_batch=want, count=num_contexts, enqueue=self._enqueue, setup=self._setup_slot
            )
        except BaseException:
            self.close()
            raise
        self._info = BackendInfo(
            name="tensorrt",
            device="cuda:0",
            precision=precision,
            max_batch=self._pool.max_batch,
            dynamic_batch=self._pool.input.dynamic_batch,
            preferred_padding="pow2",
            slots=num_contexts,
            details={"contexts": num_contexts, "cuda_graphs": cuda_graphs, **(details or {})},
        )

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_onnx(
        cls,
        model_source: ModelSource | PreparedGraph,
        spec: ModelSpec | None = None,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        options: BuildOptions | None = None,
        cache_dir: str | Path | None = None,
        num_contexts: int = 2,
        cuda_graphs: bool = False,
        allow_host_code: bool = False,
        progress: Any = None,
        **option_overrides: Any,
    ) -> TensorRTBackend:
        """Build (once per model/TensorRT/GPU/options, cached on disk) or load, then run.

        ``model_source`` is a :class:`~trt_core.graph.PreparedGraph` (built as given; ``spec``
        defaults to its spec), or a model file / bytes (prepared with the minimal recipe).
        ``option_overrides`` are :class:`BuildOptions` fields (``precision="fp16"``, ...).
        """
        from trt_core.cuda.driver import CudaContext
        from trt_core.trt.api_surface import load_tensorrt
        from trt_core.trt.loader import cached_engine, engine_options

        trt = load_tensorrt()
        graph = as_prepared(model_source, spec)
        opts = (options or BuildOptions()).replace(**{"max_batch": max_batch, **option_overrides})
        opts = engine_options(graph, opts)
        if opts.version_compatible and not allow_host_code:
            raise ModelLoadError(
                "a version-compatible engine embeds TensorRT's lean runtime (host code) and loading it "
                "needs that allowed",
                hint="pass allow_host_code=True if you trust the engine cache folder",
            )
        ctx = CudaContext(0)
        try:
            found = cached_engine(
                graph,
                opts,
                context=ctx,
                trt=trt,
                cache_dir=cache_dir,
                progress=progress,
                allow_host_code=allow_host_code,
            )
            details = {
                "engine": str(found.path),
                "built": found.built,
                "tensorrt": trt.__version__,
                "gpu": ctx.name,
                "build_seconds": found.build_seconds,
            }
            backend = cls(
                found.value,
                graph.spec,
                max_batch=opts.max_batch,
                num_contexts=num_contexts,
                cuda_graphs=cuda_graphs,
                precision=opts.precision,
                details=details,
                context=ctx,
            )
        except BaseException:
            ctx.close()
            raise
        backend._owns_ctx = True
        return backend

    @classmethod
    def from_engine(
        cls,
        engine_path: str | Path,
        spec: ModelSpec,
        *,
        max_batch: int | None = None,
        precision: str = "unknown",
        num_contexts: int = 2,
        cuda_graphs: bool = False,
        allow_host_code: bool = False,
    ) -> TensorRTBackend:
        """Load a serialized engine file built for this GPU and TensorRT version."""
        try:
            data = Path(engine_path).read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read engine {engine_path}: {exc}") from None
        return cls(
            data,
            spec,
            max_batch=max_batch,
            num_contexts=num_contexts,
            cuda_graphs=cuda_graphs,
            allow_host_code=allow_host_code,
            precision=precision,
            details={"engine": str(engine_path)},
        )

    # -- execution slots -----------------------------------------------------------------
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
        inp = slot.tensors[self._pool.input.name]  # a rect model's: at this batch's height and width
        context, shape = state["context"], inp.shape_for(n)
        fresh = state["shape"] != shape
        if fresh:  # a captured graph bakes in its shapes: the context must match it too
            if not context.set_input_shape(inp.name, shape):
                raise BackendError(f"TensorRT rejected input shape {shape}")
            state["shape"] = shape
        if self._spec.rect:
            outputs = [name for name, t in slot.tensors.items() if not t.is_input]
            self._pool.shape_outputs(slot, {name: tuple(context.get_tensor_shape(name)) for name in outputs})
        graph = state["graphs"].get(shape)
        if graph is not None:
            graph.launch(slot.stream.handle)
            return

        def work() -> None:
            slot.h2d(inp.name, n)
            if not context.execute_async_v3(slot.stream.handle):
                assert self._loaded is not None
                logger = get_logger(self._loaded.trt)
                raise BackendError(f"execute_async_v3 failed{describe_errors(list(logger.errors)[-3:])}")
            for name in self._pool.output_names:
                slot.d2h(name, n)

        # capture once an enqueue with this shape has happened (TensorRT needs one after a shape change)
        if self.cuda_graphs and not fresh and shape not in state["graphs"]:
            try:
                state["graphs"][shape] = self._ctx.track(capture(slot.stream.handle, work))
            except GraphCaptureError as exc:
                state["graphs"][shape] = None
                self.graph_failures[shape] = str(exc)
                log.warning("CUDA graph capture failed for input shape %s (running without): %s", shape, exc)
            else:
                state["graphs"][shape].launch(slot.stream.handle)
                return
        work()

    # -- Backend protocol ----------------------------------------------------------------
    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def output_names(self) -> list[str]:
        return list(self._spec.output_names)

    def infer(self, batch: Batch) -> list[np.ndarray]:
        return self.submit(batch).result()

    def submit(self, batch: Batch) -> Any:
        """Enqueue without waiting; ``.result()`` returns what :meth:`infer` would."""
        if self._pool is None:
            raise BackendError("backend is closed")
        return _SpecOutputs(self._pool.submit(batch), len(self._spec.outputs))

    def close(self) -> None:
        """Drain, free contexts/graphs/buffers/streams, release engine and runtime, in order."""
        ctx = self._ctx
        if ctx is None or ctx.closed:
            return
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

    def __enter__(self) -> TensorRTBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SpecOutputs:
    """A pending batch whose result is the spec's outputs only."""

    def __init__(self, pending: Any, count: int) -> None:
        self._pending, self._count = pending, count

    def done(self) -> bool:
        return bool(self._pending.done())

    def result(self) -> list[np.ndarray]:
        return list(self._pending.result()[: self._count])
