"""ONNX Runtime's CUDA provider driven through our CUDA layer.

Same data path as the TensorRT backend: a replica-owned primary context, per-slot streams
and pinned/device buffers (:mod:`trt_core.cuda.slots`).  Each slot has its own
``InferenceSession`` whose CUDA provider runs on the slot's stream
(``user_compute_stream``), and an ``io_binding`` bound to the slot's device buffers: async
H2D on the stream, ``run_with_iobinding`` (kernels queued on the same stream, no
synchronisation inside the run), async D2H into pinned memory, one stream sync when the
result is collected.  Outputs are bound to our preallocated device buffers with the
shape of the current batch (rebound when the batch size changes).

A rect model (``ModelSpec.rect``: Ultralytics' letterbox gives each image its own height
and width) keeps buffers sized at the full input size and runs each batch at its own
shape (:class:`~trt_core.backends.shaped.ShapedSlotPool`); its output shapes for a new
height and width come from one run of a probe session, and each slot has one session per
(batch size, height, width) — every new shape costs a session, which is why TensorRT is
the backend for rect models on a GPU.  Verified on the CPU (host memory, CPU provider);
not yet run on a GPU.

It exists so the GPU data path can be verified and benchmarked where TensorRT's builder
is not installed; it is also a usable backend when onnxruntime-gpu is all there is.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from trt_core.backends.base import DEFAULT_MAX_BATCH, BackendInfo, Batch
from trt_core.cuda.sizing import resolve_tensors
from trt_core.errors import BackendError, BackendUnavailableError, ModelLoadError
from trt_core.graph import PreparedGraph, as_prepared
from trt_core.onnx_graph import ModelSource
from trt_core.spec import ModelSpec
from trt_core.tensors import IOTensor

ORT_GPU_HINT = "pip install onnxruntime-gpu (instead of onnxruntime) with a CUDA/cuDNN it supports"


class OrtCudaBackend:
    """Runs uint8 ``(N, 3, H, W)`` batches with ONNX Runtime's CUDA provider on device 0."""

    #: where the bound buffers live and which provider must run the session (CPU tests of
    #: the binding logic override these with host memory and the CPU provider)
    device_type = "cuda"
    provider = "CUDAExecutionProvider"

    def __init__(
        self,
        model_source: ModelSource | PreparedGraph,
        spec: ModelSpec | None = None,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        num_streams: int = 2,
        provider_options: dict[str, str] | None = None,
        synchronize_in_run: bool = False,
        context: Any = None,
    ) -> None:
        from trt_core.backends.shaped import ShapedSlotPool
        from trt_core.cuda.driver import CudaContext
        from trt_core.cuda.slots import SlotPool

        ort = _import_ort(self.provider)
        graph = as_prepared(model_source, spec)
        spec = graph.spec
        self._model_bytes = graph.model
        self._ort = ort
        self._spec = spec
        self._provider_options = dict(provider_options or {})
        self._run_options = ort.RunOptions()
        if not synchronize_in_run:  # we synchronise the stream ourselves, once, after D2H
            self._run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
        self._owns_ctx = context is None
        self._ctx = context if context is not None else CudaContext(0)
        self._pool: Any = None
        self._rect = spec.rect
        self._prober: Any = None  # rect models: the session that learns output shapes
        self._probed: dict[tuple[int, int], dict[str, tuple[int, ...]]] = {}
        self._probe_lock = threading.Lock()
        try:
            static = spec.static_batch
            batch = static if static is not None else max_batch
            tensors = [IOTensor(spec.input.name, (static or -1, *spec.input.shape[1:]), "uint8", True)]
            tensors += [IOTensor(o.name, (static or -1, *o.shape[1:]), o.dtype, False) for o in spec.outputs]
            if self._rect or not all(t.fully_static for t in tensors):
                tensors = resolve_tensors(tensors, self._probe_shapes(batch, tensors))
            self._pool = (ShapedSlotPool if self._rect else SlotPool)(
                self._ctx, tensors, max_batch=batch, count=num_streams, enqueue=self._enqueue, setup=self._setup_slot
            )
            with self._ctx.active():
                providers = self._session_for(self._pool.slots[0], batch)[0].get_providers()
        except BaseException:
            self.close()
            raise
        self._info = BackendInfo(
            name="onnxruntime",
            device=f"{self.device_type}:0",
            precision="fp16" if graph.recipe.fp16 else "fp32",
            max_batch=self._pool.max_batch,
            dynamic_batch=static is None,
            preferred_padding="pow2",
            slots=len(self._pool.slots),
            details={
                "providers": providers,
                "onnxruntime": ort.__version__,
                "streams": num_streams,
                "gpu": self._ctx.name,
                "io_binding": True,
                "provider_options": dict(self._provider_options),
            },
        )

    # -- sessions ------------------------------------------------------------------------
    def _providers(self, stream_handle: int | None) -> list[Any]:
        options = {"device_id": "0", **self._provider_options}
        if stream_handle is not None:  # ORT sets has_user_compute_stream from it
            options["user_compute_stream"] = str(stream_handle)
        return [("CUDAExecutionProvider", options), "CPUExecutionProvider"]

    def _session(self, stream_handle: int | None) -> Any:
        ort = self._ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = self._providers(stream_handle)
        session = self._new_session(so, providers)
        if session.get_providers()[0] != self.provider and hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # CUDA/cuDNN from the nvidia-* wheels, then try again
            session = self._new_session(so, providers)
        if session.get_providers()[0] != self.provider:
            raise BackendUnavailableError(
                f"ONNX Runtime's {self.provider} did not load (providers: {session.get_providers()})",
                hint=ORT_GPU_HINT,
            )
        return session

    def _new_session(self, so: Any, providers: list[Any]) -> Any:
        try:
            return self._ort.InferenceSession(self._model_bytes, so, providers=providers)
        except Exception as exc:
            raise ModelLoadError(f"ONNX Runtime cannot load the model: {exc}") from exc

    def _probe_shapes(self, batch: int, tensors: list[IOTensor]) -> dict[str, tuple[int, ...]]:
        """Run one zero batch at the largest size to learn outputs' dynamic non-batch axes."""
        with self._ctx.active():
            session = self._session(None)
            x = np.zeros(tensors[0].shape_for(batch), np.uint8)
            outputs = session.run([t.name for t in tensors[1:]], {tensors[0].name: x})
        if self._rect:
            self._prober = session
        return {t.name: tuple(o.shape) for t, o in zip(tensors[1:], outputs)}

    def _output_shapes(self, hw: tuple[int, int]) -> dict[str, tuple[int, ...]]:
        """A rect model's output shapes (batch 1) for inputs of height x width ``hw``:
        one zero image through the probe session, once per shape."""
        with self._probe_lock:
            found = self._probed.get(hw)
            if found is None:
                names = list(self._spec.output_names)
                x = np.zeros((1, *self._spec.input.shape[1:2], *hw), np.uint8)
                outputs = self._prober.run(names, {self._spec.input.name: x})
                found = self._probed[hw] = {name: tuple(o.shape) for name, o in zip(names, outputs)}
            return found

    def _setup_slot(self, slot: Any) -> None:
        slot.state.update(sessions={})

    def _session_for(self, slot: Any, n: int) -> tuple[Any, Any]:
        """The slot's session for batch size ``n`` (and, for rect models, the batch's height
        and width), bound once to the slot's buffers at the tensors' shapes for it.

        One session per shape: ONNX Runtime's CUDA provider pays ~300 ms whenever a
        session's input shape changes (measured on an H100, even for shapes it has seen), so
        each session only ever sees one shape (sizes are few: see trt_core.batching)."""
        sessions = slot.state["sessions"]
        key: Any = (n, *slot.tensors[self._spec.input.name].shape[2:]) if self._rect else n
        if key not in sessions:
            session = self._session(slot.stream.handle)
            binding = session.io_binding()
            for name, t in slot.tensors.items():
                bind = binding.bind_input if t.is_input else binding.bind_output
                bind(name, self.device_type, 0, np.dtype(t.dtype).type, list(t.shape_for(n)), slot.ptr(name))
            sessions[key] = (session, binding)
        return sessions[key]

    def _enqueue(self, slot: Any, n: int) -> None:
        if self._rect:  # the slot's input is already at the batch's shape (ShapedSlotPool)
            hw = slot.tensors[self._spec.input.name].shape[2:]
            self._pool.shape_outputs(slot, self._output_shapes((int(hw[0]), int(hw[1]))))
        session, binding = self._session_for(slot, n)
        for name, t in slot.tensors.items():
            if t.is_input:
                slot.h2d(name, n)
        session.run_with_iobinding(binding, self._run_options)
        for name, t in slot.tensors.items():
            if not t.is_input:
                slot.d2h(name, n)

    # -- Backend protocol ----------------------------------------------------------------
    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def output_names(self) -> list[str]:
        return list(self._spec.output_names)

    def infer(self, batch: Batch) -> list[np.ndarray]:
        if self._pool is None:
            raise BackendError("backend is closed")
        return self._pool.infer(batch)

    def submit(self, batch: Batch) -> Any:
        """Enqueue without waiting; ``.result()`` returns what :meth:`infer` would."""
        if self._pool is None:
            raise BackendError("backend is closed")
        return self._pool.submit(batch)

    def close(self) -> None:
        ctx = self._ctx
        if ctx is None or ctx.closed:
            return
        with ctx.active():
            if self._pool is not None:
                self._pool.drain()
                for slot in self._pool.slots:  # sessions before the streams they run on
                    slot.state.clear()
                self._pool.free()
                self._pool = None
            self._prober = None
        if self._owns_ctx:
            ctx.close()

    def __enter__(self) -> OrtCudaBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _import_ort(provider: str) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailableError(f"onnxruntime is not installed ({exc})", hint=ORT_GPU_HINT) from None
    if provider not in ort.get_available_providers():
        raise BackendUnavailableError(f"ONNX Runtime has no {provider}", hint=ORT_GPU_HINT)
    return ort
