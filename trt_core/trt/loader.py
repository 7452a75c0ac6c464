"""Small loaders, chained (Polygraphy's ``backend/trt/loader.py`` is the model): graph ->
engine bytes (built once, cached on disk) -> deserialized engine -> its I/O tensors.

:func:`cached_engine` is the one engine-cache flow — key, then
:meth:`~trt_core.trt.cache.EngineCache.get_or_build` with :func:`build_engine` and
:func:`deserialize_engine` — used by :class:`~trt_core.backends.tensorrt.TensorRTBackend`
and ``trt-detect build``, so an engine either builds is found by the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trt_core.cuda.sizing import resolve_tensors
from trt_core.errors import BackendError, BackendUnavailableError, ModelLoadError
from trt_core.graph import PreparedGraph
from trt_core.spec import ModelSpec
from trt_core.tensors import IOTensor
from trt_core.trt.api_surface import load_tensorrt
from trt_core.trt.builder import Progress, build_engine, engine_key
from trt_core.trt.cache import CacheResult, EngineCache
from trt_core.trt.options import BuildOptions, for_model
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


def engine_options(graph: PreparedGraph, options: BuildOptions) -> BuildOptions:
    """The options actually built with: the graph's image size and fixed batch, if any, and
    for a rect model the smallest image size its letterbox gives (the profile's low end)."""
    spec = graph.spec
    min_hw = None
    if spec.rect:
        from trt_core.preprocess import rect_min_hw

        min_hw = rect_min_hw(spec.input_hw, spec.stride)
    return for_model(options, spec.input_hw, spec.static_batch, min_hw)


def cached_engine(
    graph: PreparedGraph,
    options: BuildOptions,
    *,
    context: Any,
    trt: Any = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    allow_host_code: bool = False,
    force: bool = False,
) -> CacheResult[LoadedEngine]:
    """Load the engine of ``graph`` built with ``options`` (see :func:`engine_options`) for
    ``context``'s GPU from the cache, building it first (once across processes) if needed.

    ``force`` rebuilds even when the cache has it.  The engine is deserialized with
    ``context`` current; release it (:meth:`LoadedEngine.release`) with the context current too.
    """
    trt = trt if trt is not None else load_tensorrt()
    options = engine_options(graph, options)
    key = engine_key(graph, options, trt=trt, gpu_name=context.name, compute_capability=context.compute_capability)
    cache = EngineCache(cache_dir)
    if force:
        cache.path(key).unlink(missing_ok=True)

    def build() -> bytes:
        return build_engine(graph, options, progress=progress, trt=trt).engine

    def load(data: bytes) -> LoadedEngine:
        return deserialize_engine(data, trt=trt, allow_host_code=allow_host_code)

    with context.active():
        return cache.get_or_build(key, build, load)


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
        tensors.append(IOTensor(name, shape, dtype, mode == trt.TensorIOMode.INPUT))
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


def engine_tensors(loaded: LoadedEngine, max_batch: int | None = None) -> tuple[list[IOTensor], int]:
    """The engine's I/O tensors with every non-batch axis resolved, and the batch size to
    size buffers for (``max_batch``, default the profile's maximum, which it may not exceed)."""
    tensors = engine_io(loaded.trt, loaded.engine)
    limit, largest = profile_max_batch(loaded.engine, tensors)
    want = max_batch or limit
    if want > limit:
        raise BackendError(
            f"max_batch {want} exceeds the engine's profile maximum {limit}",
            hint="rebuild the engine with a larger max batch",
        )
    if all(t.fully_static for t in tensors):
        return tensors, want
    probe = loaded.engine.create_execution_context()  # TensorRT reports the shapes at the largest batch
    if probe is None:
        raise BackendError("cannot create an execution context", hint="is the GPU out of memory?")
    try:
        for name, shape in largest.items():
            if not probe.set_input_shape(name, shape):
                raise BackendError(f"TensorRT rejected input shape {shape} for {name!r}")
        seen = {t.name: tuple(int(d) for d in probe.get_tensor_shape(t.name)) for t in tensors}
    finally:
        del probe
    fixed = [t.with_shape((t.shape[0], *largest[t.name][1:])) if t.is_input else t for t in tensors]
    return resolve_tensors(fixed, seen), want


def in_spec_order(tensors: list[IOTensor], spec: ModelSpec) -> list[IOTensor]:
    """The input, then the spec's outputs in its order, then any other engine output (bound
    because TensorRT needs every tensor's address, but not returned)."""
    by_name = {t.name: t for t in tensors}
    inputs = [t for t in tensors if t.is_input]
    if [t.name for t in inputs] != [spec.input.name]:
        raise BackendError(f"engine inputs {[t.name for t in inputs]} != model input {spec.input.name!r}")
    outputs = [t.name for t in tensors if not t.is_input]
    missing = [n for n in spec.output_names if n not in outputs]
    if missing:
        raise BackendError(f"engine lacks outputs {missing}; it has {outputs}")
    rest = [t for t in tensors if not t.is_input and t.name not in spec.output_names]
    return [*inputs, *(by_name[n] for n in spec.output_names), *rest]
