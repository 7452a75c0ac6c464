"""``trt-detect build MODEL.onnx``: build (and cache) a TensorRT engine for this GPU."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trt_core.backends.base import DEFAULT_MAX_BATCH
from trt_core.cli.common import (
    UsageError,
    add_quiet_option,
    add_spec_options,
    int_at_least,
    positive_int,
    spec_overrides,
)
from trt_core.onnx_decode import DEFAULT_TOPK
from trt_core.tensors import IOTensor

if TYPE_CHECKING:
    from trt_core.graph import PreparedGraph
    from trt_core.trt.options import BuildOptions


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build (and cache) a TensorRT engine from an ONNX detector",
        description="Build a TensorRT engine for this machine's GPU. By default it goes to the engine cache "
        "(where the detector and the Serve replicas look for it); with -o it is written to FILE instead.",
    )
    parser.add_argument("model", metavar="MODEL.onnx", help="the ONNX detector")
    parser.add_argument("--fp16", action="store_true", help="build in fp16 (default fp32)")
    parser.add_argument(
        "--max-batch",
        type=positive_int,
        default=DEFAULT_MAX_BATCH,
        help=f"largest batch (profile max; default {DEFAULT_MAX_BATCH})",
    )
    parser.add_argument("--opt-batch", type=positive_int, help="batch size to optimise for (default: --max-batch)")
    parser.add_argument("--workspace", type=int, metavar="MiB", help="builder workspace limit in MiB")
    parser.add_argument("--opt-level", type=int, choices=range(6), metavar="0-5", help="builder optimisation level")
    parser.add_argument(
        "--cache", metavar="DIR", help="engine cache folder (default $TRT_DETECT_CACHE or ~/.cache/trt-detect/engines)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the engine to FILE instead of the cache")
    parser.add_argument(
        "--version-compatible",
        action="store_true",
        help="an engine later TensorRT versions can load (embeds the lean runtime)",
    )
    parser.add_argument("--timing-cache", metavar="FILE", help="reuse and update a timing cache (faster rebuilds)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache has the engine")
    parser.add_argument("--verbose", action="store_true", help="show TensorRT's verbose log")
    parser.add_argument("--preset", help="a named recipe whose model overrides apply, e.g. nvidia-yolov3")
    parser.add_argument(
        "--decode-topk",
        type=int_at_least(0),
        default=DEFAULT_TOPK,
        metavar="K",
        help=f"decode YOLOv3 heads in the engine, keeping the best K, as the detector and the Serve app do "
        f"(default {DEFAULT_TOPK}; 0: raw heads, decoded on the host)",
    )
    add_quiet_option(parser)
    add_spec_options(parser)  # --input-size fixes a dynamic image size, e.g. 416x416
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from trt_core.trt.api_surface import load_tensorrt

    if not Path(args.model).is_file():
        raise UsageError(f"no such model file: {args.model}", hint="pass an .onnx detector")
    trt = load_tensorrt()  # raises BackendUnavailableError (one line, with an install hint)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    graph, options = engine_request(args)
    spec = graph.spec
    start = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - start:7.1f}s] {message}", file=sys.stderr, flush=True)

    size = f"{spec.input_hw[0]}x{spec.input_hw[1]}"
    progress(f"{args.model}: {spec.name}, input {size}, decode on the {graph.decode}, TensorRT {trt.__version__}")
    if args.output:
        return _build_to_file(args, graph, options, trt, progress)
    return _build_to_cache(args, graph, options, trt, progress)


def _build_to_file(args: argparse.Namespace, graph: Any, options: Any, trt: Any, progress: Any) -> int:
    from trt_core.trt.builder import build_engine
    from trt_core.trt.cache import atomic_write

    result = build_engine(graph, options, progress=progress, trt=trt)
    out = Path(args.output)
    atomic_write(out, result.engine)
    tensors = [IOTensor.of(t, is_input=True) for t in result.inputs]
    tensors += [IOTensor.of(t, is_input=False) for t in result.outputs]
    _summary(out, len(result.engine), result.seconds, options, trt, result.strategy, tensors)
    return 0


def _build_to_cache(args: argparse.Namespace, graph: Any, options: Any, trt: Any, progress: Any) -> int:
    from trt_core.cuda.driver import CudaContext
    from trt_core.trt.builder import precision_strategy
    from trt_core.trt.cache import EngineCache
    from trt_core.trt.loader import cached_engine, engine_io

    with CudaContext(0) as ctx:
        cache = EngineCache(args.cache).directory
        progress(f"GPU {ctx.name} (sm {ctx.compute_capability[0]}{ctx.compute_capability[1]}), cache {cache}")
        found = cached_engine(
            graph,
            options,
            context=ctx,
            trt=trt,
            cache_dir=args.cache,
            progress=progress,
            allow_host_code=options.version_compatible,
            force=args.force,
        )
        with ctx.active():
            tensors = engine_io(trt, found.value.engine)
            found.value.release()  # while the context is current
        if not found.built:
            progress("already in the cache (use --force to rebuild)")
        strategy = precision_strategy(trt, options.precision)
        _summary(found.path, found.value.nbytes, found.build_seconds, options, trt, strategy, tensors)
    return 0


def _summary(
    path: Path, size: int, seconds: float | None, options: Any, trt: Any, strategy: str, tensors: list[IOTensor]
) -> None:
    built = f"built in {seconds:.1f}s" if seconds is not None else "from the cache"
    print(f"engine     {path}")
    print(f"size       {size / 1e6:.1f} MB, {built}")
    print(
        f"tensorrt   {trt.__version__}, precision {options.precision}"
        + (f" ({strategy})" if options.precision == "fp16" else "")
    )
    print(f"profile    batch min 1, opt {options.opt}, max {options.max_batch}")
    for t in tensors:
        kind = "input " if t.is_input else "output"
        shape = "x".join("N" if d < 0 else str(d) for d in t.shape)
        print(f"{kind}     {t.name}: {t.dtype} {shape}")


def engine_request(args: argparse.Namespace) -> tuple[PreparedGraph, BuildOptions]:
    """The graph and options ``args`` ask for: the graph the detector and the Serve app
    prepare (same preset, spec overrides and decode recipe), so the cache key is theirs."""
    from trt_core.graph import GraphRecipe, prepare_graph
    from trt_core.presets import load_spec
    from trt_core.trt.loader import engine_options
    from trt_core.trt.options import BuildOptions

    spec, _ = load_spec(args.model, args.preset, spec_overrides(args))  # as the app and Detector read it
    graph = prepare_graph(Path(args.model), spec, GraphRecipe.from_decode_topk(args.decode_topk))
    options = BuildOptions(
        precision="fp16" if args.fp16 else "fp32",
        max_batch=args.max_batch,
        opt_batch=args.opt_batch,
        workspace_mib=args.workspace,
        optimization_level=args.opt_level,
        version_compatible=args.version_compatible,
        timing_cache=args.timing_cache,
        verbose=args.verbose,
    )
    return graph, engine_options(graph, options)
