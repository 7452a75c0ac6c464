"""ONNX Runtime backend: the same network on any machine (CPU provider, or CUDA when
``onnxruntime-gpu`` is installed).  It runs the :class:`~trt_core.graph.PreparedGraph` it is
given (uint8 input, like the TensorRT engine, so callers are backend-agnostic); a plain
model file gets the minimal recipe from :func:`trt_core.graph.as_prepared`."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from trt_core.backends.base import DEFAULT_MAX_BATCH, BackendInfo, Batch, stacked
from trt_core.errors import BackendError, BackendUnavailableError, ModelLoadError
from trt_core.graph import PreparedGraph, as_prepared
from trt_core.onnx_graph import ModelSource
from trt_core.spec import ModelSpec


def available_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def choose_providers(device: str) -> list[str]:
    """``cpu`` -> CPU only; ``gpu`` -> CUDA (error if missing); ``auto`` -> CUDA when present."""
    available = available_providers()
    if not available:
        raise BackendUnavailableError("onnxruntime is not installed", hint="pip install onnxruntime")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in available
    if device == "gpu" and not has_cuda:
        raise BackendUnavailableError(
            "ONNX Runtime has no CUDA provider", hint="pip install onnxruntime-gpu (instead of onnxruntime)"
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if has_cuda else ["CPUExecutionProvider"]


class OnnxRuntimeBackend:
    """Runs uint8 NCHW batches through an ``onnxruntime.InferenceSession``."""

    def __init__(
        self,
        model: ModelSource | PreparedGraph,
        spec: ModelSpec | None = None,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        device: str = "auto",
        intra_op_threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        graph = as_prepared(model, spec)
        spec = graph.spec
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = intra_op_threads or int(os.environ.get("TRT_DETECT_ORT_THREADS", "0"))
        if threads:
            options.intra_op_num_threads = threads
        providers = choose_providers(device)
        try:
            self._session: Any = ort.InferenceSession(graph.model, options, providers=providers)
        except Exception as exc:
            raise ModelLoadError(f"ONNX Runtime cannot load the model: {exc}") from exc
        self._spec = spec
        self._input_name = spec.input.name
        self._output_names = list(spec.output_names)
        static = spec.static_batch
        used = self._session.get_providers()
        self._info = BackendInfo(
            name="onnxruntime",
            device="cuda:0" if used[0] == "CUDAExecutionProvider" else "cpu",
            preferred_padding="max" if used[0] == "CUDAExecutionProvider" else "none",
            precision="fp16" if graph.recipe.fp16 else "fp32",
            max_batch=static if static is not None else max_batch,
            dynamic_batch=static is None,
            details={"providers": used, "onnxruntime": ort.__version__},
        )

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def output_names(self) -> list[str]:
        return self._output_names

    def infer(self, batch: Batch) -> list[np.ndarray]:
        if self._session is None:
            raise BackendError("backend is closed")
        batch = stacked(batch)
        if batch.dtype != np.uint8 or batch.ndim != 4:
            raise BackendError(f"expected a uint8 (N, 3, H, W) batch, got {batch.dtype} {batch.shape}")
        try:
            outputs = self._session.run(self._output_names, {self._input_name: batch})
        except Exception as exc:
            raise BackendError(f"ONNX Runtime inference failed: {exc}") from exc
        return [np.asarray(o) for o in outputs]

    def close(self) -> None:
        self._session = None

    def __enter__(self) -> OnnxRuntimeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
