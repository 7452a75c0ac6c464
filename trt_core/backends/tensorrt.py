"""The TensorRT backend: a :class:`~trt_core.trt.runner.TrtRunner` behind the ``Backend`` protocol.

Build, load and run are separate steps: :meth:`TensorRTBackend.from_onnx` builds (or loads
from the engine cache) an engine for this GPU, :meth:`TensorRTBackend.from_engine` loads an
engine file, and the backend runs batches through the runner's execution slots.
TensorRT and pycuda are imported only when a backend is created.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from trt_core.backends.base import BackendInfo
from trt_core.errors import BackendError, ModelLoadError
from trt_core.graph import PreparedGraph, as_prepared
from trt_core.onnx_graph import ModelSource
from trt_core.spec import ModelSpec
from trt_core.trt.options import BuildOptions, for_model
from trt_core.trt.runner import TrtRunner

log = logging.getLogger(__name__)


class TensorRTBackend:
    """Runs uint8 ``(N, 3, H, W)`` batches through a TensorRT engine on device 0."""

    def __init__(self, runner: TrtRunner, spec: ModelSpec, *, precision: str, details: dict[str, Any]) -> None:
        self._runner = runner.activate()
        try:
            if runner.input.name != spec.input.name:
                raise BackendError(f"engine input {runner.input.name!r} != model input {spec.input.name!r}")
            missing = [n for n in spec.output_names if n not in runner.output_names]
            if missing:
                raise BackendError(f"engine lacks outputs {missing}; it has {runner.output_names}")
        except BaseException:
            runner.close()
            raise
        self._spec = spec
        self._order = [runner.output_names.index(n) for n in spec.output_names]
        self._info = BackendInfo(
            name="tensorrt",
            device="cuda:0",
            precision=precision,
            max_batch=runner.max_batch,
            dynamic_batch=runner.input.dynamic_batch,
            preferred_padding="pow2",
            slots=runner.num_contexts,
            details={"contexts": runner.num_contexts, "cuda_graphs": runner.cuda_graphs, **details},
        )

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_onnx(
        cls,
        model_source: ModelSource | PreparedGraph,
        spec: ModelSpec | None = None,
        *,
        max_batch: int = 32,
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
        from trt_core.trt.builder import build_engine, engine_key
        from trt_core.trt.cache import EngineCache
        from trt_core.trt.runner import deserialize_engine

        trt = load_tensorrt()
        graph = as_prepared(model_source, spec)
        spec = graph.spec
        opts = (options or BuildOptions()).replace(**{"max_batch": max_batch, **option_overrides})
        opts = for_model(opts, spec.input_hw, spec.static_batch)  # as `trt-detect build` does
        if opts.version_compatible and not allow_host_code:
            raise ModelLoadError(
                "a version-compatible engine embeds TensorRT's lean runtime (host code) and loading it "
                "needs that allowed",
                hint="pass allow_host_code=True if you trust the engine cache folder",
            )
        ctx = CudaContext(0)
        try:
            key = engine_key(graph, opts, trt=trt, gpu_name=ctx.name, compute_capability=ctx.compute_capability)

            def build() -> bytes:
                return build_engine(graph, opts, progress=progress, trt=trt).engine

            with ctx.active():
                result = EngineCache(cache_dir).get_or_build(
                    key, build, lambda data: deserialize_engine(data, trt=trt, allow_host_code=allow_host_code)
                )
            runner = TrtRunner(
                result.value, context=ctx, num_contexts=num_contexts, max_batch=opts.max_batch, cuda_graphs=cuda_graphs
            )
            details = {
                "engine": str(result.path),
                "built": result.built,
                "tensorrt": trt.__version__,
                "gpu": ctx.name,
                "build_seconds": result.build_seconds,
            }
            backend = cls(runner, spec, precision=opts.precision, details=details)
        except BaseException:
            ctx.close()
            raise
        backend._ctx = ctx
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
        runner = TrtRunner(
            data,
            num_contexts=num_contexts,
            max_batch=max_batch,
            cuda_graphs=cuda_graphs,
            allow_host_code=allow_host_code,
        )
        return cls(runner, spec, precision=precision, details={"engine": str(engine_path)})

    # -- Backend protocol ----------------------------------------------------------------
    _ctx: Any = None

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def output_names(self) -> list[str]:
        return list(self._spec.output_names)

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        outputs = self._runner.infer(batch)
        return [outputs[i] for i in self._order]

    def submit(self, batch: np.ndarray) -> Any:
        """Enqueue without waiting; ``.result()`` gives what :meth:`infer` returns (reordered)."""
        return _Reordered(self._runner.submit(batch), self._order)

    def close(self) -> None:
        self._runner.close()
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    def __enter__(self) -> TensorRTBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Reordered:
    def __init__(self, pending: Any, order: list[int]) -> None:
        self._pending, self._order = pending, order

    def done(self) -> bool:
        return bool(self._pending.done())

    def result(self) -> list[np.ndarray]:
        outputs = self._pending.result()
        return [outputs[i] for i in self._order]
