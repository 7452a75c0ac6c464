"""Inference backends and the factory that picks one.

``create_backend(..., backend="auto")`` prefers TensorRT when its bindings, pycuda and a
GPU are present, then ONNX Runtime (CUDA provider when available, else CPU).  Backend
modules are imported lazily so this package imports on machines with none of them.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from trt_core.backends.base import DEFAULT_MAX_BATCH, Backend, BackendInfo
from trt_core.errors import BackendUnavailableError, InvalidRequestError
from trt_core.graph import PreparedGraph
from trt_core.onnx_graph import ModelSource
from trt_core.spec import ModelSpec

__all__ = ["BACKENDS", "DEFAULT_MAX_BATCH", "DEVICES", "Backend", "BackendInfo", "create_backend", "tensorrt_available"]

BACKENDS = ("auto", "tensorrt", "onnxruntime")
DEVICES = ("auto", "cpu", "gpu")


def tensorrt_available() -> bool:
    """TensorRT bindings and pycuda importable, and a CUDA GPU visible."""
    if importlib.util.find_spec("tensorrt") is None or importlib.util.find_spec("pycuda") is None:
        return False
    from trt_core import cuda

    return cuda.gpu_count() > 0


def create_backend(
    model: ModelSource | PreparedGraph,
    spec: ModelSpec | None = None,
    *,
    backend: str = "auto",
    device: str = "auto",
    max_batch: int = DEFAULT_MAX_BATCH,
    options: dict[str, Any] | None = None,
    threads: int | None = None,
) -> Backend:
    """Build the backend the caller asked for (``auto``: the best one this machine has).

    ``options`` go to the TensorRT backend (build options), except ``provider_options``,
    which go to ONNX Runtime's CUDA provider (e.g. ``{"enable_cuda_graph": "1"}``).

    ``model`` is what :func:`trt_core.graph.prepare_graph` returned (run as given, with its
    spec), or a model file / bytes with its ``spec`` (given the minimal recipe: uint8 input).
    """
    if backend not in BACKENDS:
        raise InvalidRequestError(f"unknown backend {backend!r}", hint=f"one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise InvalidRequestError(f"unknown device {device!r}", hint=f"one of {', '.join(DEVICES)}")
    options = dict(options or {})
    provider_options = options.pop("provider_options", None)  # ONNX Runtime's CUDA provider only
    if backend == "tensorrt" or (backend == "auto" and device != "cpu" and tensorrt_available()):
        if device == "cpu":
            raise InvalidRequestError("the TensorRT backend needs a GPU; device='cpu' contradicts it")
        if not tensorrt_available():
            raise BackendUnavailableError(
                "TensorRT backend requested but TensorRT, pycuda or a GPU is missing",
                hint="pip install 'trt-detect[gpu]' on a machine with an NVIDIA GPU, or use backend='onnxruntime'",
            )
        from trt_core.backends.tensorrt import TensorRTBackend

        return TensorRTBackend.from_onnx(model, spec, max_batch=max_batch, **options)
    from trt_core.backends.onnxruntime import OnnxRuntimeBackend, choose_providers

    if device != "cpu" and "CUDAExecutionProvider" in choose_providers(device) and _pycuda_usable():
        from trt_core.backends.ort_cuda import OrtCudaBackend

        return OrtCudaBackend(model, spec, max_batch=max_batch, provider_options=provider_options)
    return OnnxRuntimeBackend(model, spec, max_batch=max_batch, device=device, intra_op_threads=threads)


def _pycuda_usable() -> bool:
    if importlib.util.find_spec("pycuda") is None:
        return False
    from trt_core import cuda

    return cuda.gpu_count() > 0
