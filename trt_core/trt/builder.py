"""ONNX -> serialized TensorRT engine (TensorRT 10.x and 11.x Python API).

The graph TensorRT sees is a :class:`~trt_core.graph.PreparedGraph` (uint8 input, so only
uint8 crosses PCIe and normalisation is fused into the engine; optionally the on-device
decode); a plain model is prepared with the minimal recipe by :mod:`trt_core.graph`, the
one place graphs are rewritten.  fp16: TensorRT 10 sets ``BuilderFlag.FP16`` on a weakly
typed network; TensorRT 11 (strongly typed only) builds from an fp16 copy of the graph
(:func:`trt_core.graph.with_fp16`).  Every call whose result TensorRT reports as a bool or
``None`` is checked and turned into an :class:`EngineBuildError` with a hint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trt_core.errors import EngineBuildError
from trt_core.graph import PreparedGraph, rewrite_io, with_fp16
from trt_core.spec import TensorDesc
from trt_core.trt.api_surface import load_tensorrt, major_version
from trt_core.trt.options import BuildOptions, fp16_strategy, recipe
from trt_core.trt.trt_logger import describe_errors, get_logger

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    engine: bytes
    inputs: list[TensorDesc]
    outputs: list[TensorDesc]
    profiles: dict[str, tuple[tuple[int, ...], ...]]
    seconds: float
    tensorrt_version: str
    strategy: str
    recipe: dict[str, Any] = field(default_factory=dict)


def precision_strategy(trt: Any, precision: str) -> str:
    """``fp32``, ``builder-flag`` (TensorRT 10 fp16) or ``onnx-fp16`` (TensorRT 11 fp16)."""
    if precision != "fp16":
        return "fp32"
    return fp16_strategy(major_version(trt), hasattr(trt.BuilderFlag, "FP16"))


def onnx_for_parser(model: Any, *, input_scale: float, fp16_graph: bool) -> bytes:
    """The serialized graph handed to the parser: uint8 input, optionally fp16 inside."""
    if isinstance(model, PreparedGraph):
        return (with_fp16(model) if fp16_graph else model).model
    return bytes(rewrite_io(model, input_scale=input_scale, fp16=fp16_graph).SerializeToString())


def engine_key(
    graph: PreparedGraph, options: BuildOptions, *, trt: Any, gpu_name: str, compute_capability: tuple[int, int]
) -> Any:
    """The engine-cache key of ``graph`` built with ``options`` (the backend and ``trt-detect
    build`` both call this, so an engine built by one is found by the other).

    ``graph`` is keyed as given: the fp16 conversion TensorRT 11 needs happens inside
    :func:`build_engine`, only when an engine is built, and the options' recipe names it.
    """
    from trt_core.trt.cache import EngineKey

    return EngineKey.create(
        graph.model,
        options,
        tensorrt_version=trt.__version__,
        gpu_name=gpu_name,
        compute_capability=compute_capability,
        recipe=engine_recipe(trt, options, graph.spec.input_scale),
        model_name=graph.spec.name,
        graph=graph.recipe.key(),
    )


def build_engine(
    model: Any,
    options: BuildOptions,
    *,
    input_scale: float = 1.0 / 255.0,
    progress: Progress | None = None,
    trt: Any = None,
) -> BuildResult:
    """Build a serialized engine from ``model``: a :class:`PreparedGraph` (built as given;
    ``input_scale`` unused), or an ``onnx.ModelProto`` or path (uint8 input prefixed)."""
    trt = trt if trt is not None else load_tensorrt()
    if not isinstance(model, PreparedGraph) and not hasattr(model, "graph"):
        from trt_core.onnx_graph import load_model

        model = load_model(model)
    emit = progress or (lambda _msg: None)
    strategy = precision_strategy(trt, options.precision)
    onnx_bytes = onnx_for_parser(model, input_scale=input_scale, fp16_graph=strategy == "onnx-fp16")
    logger = get_logger(trt)
    logger.verbose = options.verbose
    mark = logger.count
    start = time.perf_counter()

    def fail(what: str, hint: str) -> EngineBuildError:
        return EngineBuildError(f"{what}{describe_errors(logger.errors_since(mark))}", hint=hint)

    builder = _created(lambda: trt.Builder(logger), "create the TensorRT builder", fail)
    flags = 0
    if major_version(trt) >= 11 or strategy == "onnx-fp16":
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = _created(lambda: builder.create_network(flags), "create a network definition", fail)
    parser = _created(lambda: trt.OnnxParser(network, logger), "create the ONNX parser", fail)
    emit(f"parsing ONNX ({len(onnx_bytes) / 1e6:.1f} MB, TensorRT {trt.__version__})")
    if not parser.parse(onnx_bytes):
        errors = parser_errors(parser)
        raise EngineBuildError("TensorRT cannot parse the model: " + "; ".join(errors), hint=parser_hint(errors))
    inputs = [_summary(trt, network.get_input(i)) for i in range(network.num_inputs)]
    outputs = [_summary(trt, network.get_output(i)) for i in range(network.num_outputs)]

    config = _created(builder.create_builder_config, "create a builder config", fail)
    if options.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    if options.optimization_level is not None:
        config.builder_optimization_level = options.optimization_level
    if strategy == "builder-flag":
        config.set_flag(trt.BuilderFlag.FP16)
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    profiles = _add_profile(trt, builder, config, inputs, options, fail)
    cache = _attach_timing_cache(config, options.timing_cache, fail) if options.timing_cache else None
    monitor = _progress_monitor(trt, emit) if progress is not None else None
    if monitor is not None:
        config.progress_monitor = monitor

    emit(f"building ({options.precision}, batch 1..{options.max_batch}, opt {options.opt}); this takes a while")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None or int(serialized.nbytes) == 0:
        raise fail(
            "TensorRT could not build the engine",
            "see the TensorRT errors; try a larger --workspace, precision fp32, or --verbose for the full log",
        )
    engine = bytes(serialized)
    if cache is not None and options.timing_cache:
        _save_timing_cache(config, Path(options.timing_cache), emit)
    return BuildResult(
        engine=engine,
        inputs=inputs,
        outputs=outputs,
        profiles=profiles,
        seconds=time.perf_counter() - start,
        tensorrt_version=str(trt.__version__),
        strategy=strategy,
        recipe=engine_recipe(trt, options, input_scale),
    )


def engine_recipe(trt: Any, options: BuildOptions, input_scale: float) -> dict[str, Any]:
    """The graph preparation this TensorRT and these options imply (part of the cache key)."""
    return recipe(options.precision, precision_strategy(trt, options.precision), input_scale)


def _created(make: Callable[[], Any], what: str, fail: Callable[[str, str], EngineBuildError]) -> Any:
    try:
        obj = make()
    except Exception as exc:
        raise fail(f"failed to {what} ({exc})", "check the TensorRT installation and that a GPU is visible") from exc
    if obj is None:
        raise fail(f"failed to {what}", "check the TensorRT installation and that a GPU is visible")
    return obj


def parser_errors(parser: Any) -> list[str]:
    """One line per ONNX parser error: node name, operator, index, description, code."""
    lines = []
    for i in range(int(parser.num_errors)):
        err = parser.get_error(i)
        name, op, index = str(err.node_name() or ""), str(err.node_operator() or ""), int(err.node())
        code = getattr(err.code(), "name", str(err.code()))
        where = f"node #{index}" if index >= 0 else "graph"
        if name or op:
            where = f"node {name!r} ({op or '?'}, #{index})"
        lines.append(f"{where}: {err.desc()} [{code}]")
    return lines or ["the parser reported failure without details"]


def parser_hint(errors: list[str]) -> str:
    if any("UNSUPPORTED" in e for e in errors):
        return (
            "this TensorRT cannot convert the nodes named above: re-export with another opset, "
            "simplify the graph (onnxsim), or replace those ops"
        )
    return "check the model with onnx.checker.check_model and rerun with --verbose for TensorRT's log"


def _summary(trt: Any, tensor: Any) -> TensorDesc:
    try:
        dtype = trt.nptype(tensor.dtype).__name__
    except Exception:
        dtype = getattr(tensor.dtype, "name", str(tensor.dtype)).lower()
    return TensorDesc(str(tensor.name), tuple(int(d) for d in tensor.shape), dtype)


def _add_profile(
    trt: Any,
    builder: Any,
    config: Any,
    inputs: list[TensorDesc],
    options: BuildOptions,
    fail: Callable[[str, str], EngineBuildError],
) -> dict[str, tuple[tuple[int, ...], ...]]:
    shapes = {t.name: options.profile(t.name, t.shape) for t in inputs}
    if all(s is None for s in shapes.values()):
        return {}  # fully static inputs need no profile
    profile = _created(builder.create_optimization_profile, "create an optimisation profile", fail)
    for name, s in shapes.items():
        if s is not None:
            profile.set_shape(name, s[0], s[1], s[2])
    if config.add_optimization_profile(profile) < 0:
        raise fail("TensorRT rejected the optimisation profile", f"profile {shapes} must satisfy min <= opt <= max")
    return {name: s for name, s in shapes.items() if s is not None}


def _attach_timing_cache(config: Any, path: str, fail: Callable[[str, str], EngineBuildError]) -> Any:
    file = Path(path)
    data = file.read_bytes() if file.exists() else b""
    cache = config.create_timing_cache(data)
    if cache is None or not config.set_timing_cache(cache, False):
        if not data:
            raise fail("TensorRT rejected an empty timing cache", "build without --timing-cache")
        # a cache from another GPU / TensorRT: start a fresh one rather than failing
        cache = config.create_timing_cache(b"")
        if cache is None or not config.set_timing_cache(cache, False):
            raise fail("TensorRT rejected the timing cache", f"delete {file}")
    return cache


def _save_timing_cache(config: Any, path: Path, emit: Progress) -> None:
    from trt_core.trt.cache import atomic_write

    cache = config.get_timing_cache()
    host = cache.serialize() if cache is not None else None
    if host is None:
        emit(f"warning: could not serialize the timing cache; {path} not updated")
        return
    atomic_write(path, bytes(host))


def _progress_monitor(trt: Any, emit: Progress) -> Any:
    progress = BuildProgress(emit)

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            progress.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return progress.step_complete(phase_name, step)

        def phase_finish(self, phase_name: str) -> None:
            progress.phase_finish(phase_name)

    return Monitor()


class BuildProgress:
    """TensorRT's ``IProgressMonitor`` protocol, as lines: top-level phases with their
    percentage every 10 % (a Serve replica in STARTING logs how far its engine build is)."""

    def __init__(self, emit: Progress) -> None:
        self.emit = emit
        self.depth: dict[str, int] = {}
        self.steps: dict[str, int] = {}
        self.reported: dict[str, int] = {}
        self.started: dict[str, float] = {}

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        depth = self.depth.get(parent_phase, -1) + 1 if parent_phase else 0
        self.depth[phase_name] = depth
        self.steps[phase_name] = num_steps
        self.reported[phase_name] = 0
        self.started[phase_name] = time.perf_counter()
        if depth <= 1:
            self.emit(f"{'  ' * depth}{phase_name} ({num_steps} steps)")

    def step_complete(self, phase_name: str, step: int) -> bool:
        total = self.steps.get(phase_name, 0)
        if self.depth.get(phase_name) == 0 and total > 0:
            tenth = (step + 1) * 10 // total
            if tenth > self.reported.get(phase_name, 0):
                self.reported[phase_name] = tenth
                self.emit(f"{phase_name}: {tenth * 10}%")
        return True  # never cancel the build

    def phase_finish(self, phase_name: str) -> None:
        depth = self.depth.pop(phase_name, 0)
        self.steps.pop(phase_name, None)
        self.reported.pop(phase_name, None)
        seconds = time.perf_counter() - self.started.pop(phase_name, time.perf_counter())
        if depth == 0:
            self.emit(f"{phase_name} done in {seconds:.1f}s")
