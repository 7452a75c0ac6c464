"""Bare-backend GPU throughput: images/s against batch size, one process, one run.

    python benchmarks/gpu_backends.py --out gpu_backends.json
    python benchmarks/gpu_backends.py --backends ort-cuda,ort-cuda-naive,tensorrt --batches 1,8,32 --seconds 3

Backends (``--backends``, comma list; default: ort-cuda, ort-cuda-naive, and tensorrt when importable):

- ``ort-cuda``        OrtCudaBackend: our CUDA layer (pinned buffers, per-slot streams, io_binding)
- ``ort-cuda-naive``  a plain ``InferenceSession.run`` on the CUDA provider with numpy in/out (the baseline)
- ``tensorrt``        TensorRTBackend (engine built or loaded through the engine cache)
- ``ort-cpu``         ONNX Runtime on the CPU (slow; opt-in)

Each of ours runs ``serial`` (infer, wait, repeat) and ``pipelined`` (the next batch is
submitted before the previous one is collected, so copies and compute of consecutive
batches overlap).  Prints a markdown table and ratios measured in this one run (these
machines are shared and noisy: compare ratios, not absolute numbers, across runs).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUNDLED = REPO / "trt_core" / "data" / "shapes-yolov3-tiny.onnx"


class NaiveOrt:
    """The baseline: numpy in, numpy out, ORT does the (synchronous, pageable) copies."""

    def __init__(self, path: Path, spec: Any, providers: list[Any]) -> None:
        import onnx
        import onnxruntime as ort

        from trt_core.onnx_graph import with_uint8_input

        model = with_uint8_input(onnx.load(str(path)), scale=spec.input_scale).SerializeToString()
        self.session = ort.InferenceSession(model, providers=providers)
        self.names, self.input = list(spec.output_names), spec.input.name

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        return list(self.session.run(self.names, {self.input: batch}))

    def close(self) -> None:
        self.session = None


def measure(run: Callable[[], int], seconds: float, warmup: int) -> dict[str, Any]:
    """Call ``run`` (returns images done) for ``seconds``; images/s and per-call latencies."""
    for _ in range(warmup):
        run()
    times: list[float] = []
    images = 0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        images += run()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start >= seconds and len(times) >= 5:
            break
    elapsed = time.perf_counter() - start
    times.sort()
    return {
        "images_per_s": images / elapsed,
        "call_ms_p50": 1e3 * statistics.median(times),
        "call_ms_p90": 1e3 * times[int(0.9 * (len(times) - 1))],
        "calls": len(times),
    }


def serial(backend: Any, batches: list[np.ndarray]) -> Callable[[], int]:
    state = {"i": 0}

    def run() -> int:
        x = batches[state["i"] % len(batches)]
        state["i"] += 1
        backend.infer(x)
        return len(x)

    return run


def pipelined(backend: Any, batches: list[np.ndarray], depth: int) -> Callable[[], int]:
    """Keep ``depth`` batches in flight: submit one, collect the oldest."""
    state: dict[str, Any] = {"i": 0, "queue": []}

    def run() -> int:
        x = batches[state["i"] % len(batches)]
        state["i"] += 1
        state["queue"].append((backend.submit(x), len(x)))
        if len(state["queue"]) < depth:
            return 0
        pending, n = state["queue"].pop(0)
        pending.result()
        return int(n)

    return run


def make_backend(name: str, path: Path, spec: Any, args: argparse.Namespace, max_batch: int) -> Any:
    if name == "ort-cuda":
        from trt_core.backends.ort_cuda import OrtCudaBackend

        return OrtCudaBackend(path, spec, max_batch=max_batch, num_streams=args.streams)
    if name == "ort-cuda-naive":
        return NaiveOrt(path, spec, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    if name == "ort-cpu":
        return NaiveOrt(path, spec, ["CPUExecutionProvider"])
    if name == "tensorrt":
        from trt_core.backends.tensorrt import TensorRTBackend

        return TensorRTBackend.from_onnx(
            path,
            spec,
            max_batch=max_batch,
            precision="fp16" if args.fp16 else "fp32",
            cache_dir=args.cache,
            num_contexts=args.streams,
            cuda_graphs=args.cuda_graphs,
        )
    raise SystemExit(f"unknown backend {name!r}")


def default_backends() -> list[str]:
    names = ["ort-cuda", "ort-cuda-naive"]
    try:
        import tensorrt  # noqa: F401

        names.append("tensorrt")
    except ImportError:
        pass
    return names


def markdown(rows: list[dict[str, Any]], batches: list[int]) -> str:
    columns = sorted({(r["backend"], r["mode"]) for r in rows}, key=lambda c: (c[0] != "ort-cuda", c))
    table = {(r["backend"], r["mode"], r["batch"]): r for r in rows}
    lines = ["| batch | " + " | ".join(f"{b} {m} img/s" for b, m in columns) + " |", "|---:|" + "---:|" * len(columns)]
    for n in batches:
        cells = [f"{table[(b, m, n)]['images_per_s']:.0f}" if (b, m, n) in table else "-" for b, m in columns]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]], batches: list[int]) -> dict[str, dict[int, float]]:
    t = {(r["backend"], r["mode"], r["batch"]): r["images_per_s"] for r in rows}
    out: dict[str, dict[int, float]] = {}
    pairs = {
        "ort-cuda serial / ort-cuda-naive": (("ort-cuda", "serial"), ("ort-cuda-naive", "serial")),
        "ort-cuda pipelined / serial": (("ort-cuda", "pipelined"), ("ort-cuda", "serial")),
        "tensorrt serial / ort-cuda serial": (("tensorrt", "serial"), ("ort-cuda", "serial")),
        "tensorrt pipelined / serial": (("tensorrt", "pipelined"), ("tensorrt", "serial")),
        "ort-cuda serial / ort-cpu": (("ort-cuda", "serial"), ("ort-cpu", "serial")),
    }
    for label, (a, b) in pairs.items():
        values = {n: t[(*a, n)] / t[(*b, n)] for n in batches if (*a, n) in t and (*b, n) in t}
        if values:
            out[label] = values
    for backend in sorted({r["backend"] for r in rows}):
        key = (backend, "serial", batches[0])
        if key in t:
            out[f"{backend} serial batch N / batch {batches[0]}"] = {
                n: t[(backend, "serial", n)] / t[key] for n in batches if (backend, "serial", n) in t
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="ONNX detector (default: the bundled model, else synthetic)")
    parser.add_argument("--size", type=int, default=416, help="image size of the synthetic model")
    parser.add_argument("--batches", default="1,2,4,8,16,32")
    parser.add_argument("--backends", help="comma list (see above)")
    parser.add_argument("--seconds", type=float, default=1.5, help="measuring time per point")
    parser.add_argument("--warmup", type=int, default=5, help="calls before measuring each point")
    parser.add_argument("--streams", type=int, default=2, help="execution slots (streams / contexts)")
    parser.add_argument("--fp16", action="store_true", help="TensorRT precision fp16")
    parser.add_argument("--cuda-graphs", action="store_true", help="TensorRT: capture CUDA graphs")
    parser.add_argument("--cache", help="TensorRT engine cache folder")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from trt_core.spec import ModelSpec

    batches = [int(b) for b in args.batches.split(",")]
    path = args.model or (BUNDLED if BUNDLED.exists() else None)
    if path is None:
        from tests.models import save_yolo_like_model

        path = Path(save_yolo_like_model(Path("/tmp") / f"yolo-like-{args.size}.onnx", size=args.size))
    spec = ModelSpec.from_onnx(path)
    h, w = spec.input_hw
    rng = np.random.default_rng(0)
    names = args.backends.split(",") if args.backends else default_backends()
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    print(f"model {path} ({spec.name}, {h}x{w}); backends {names}; batches {batches}", file=sys.stderr)
    for name in names:
        try:
            backend = make_backend(name, path, spec, args, max(batches))
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"{name}: unavailable: {failures[name]}", file=sys.stderr)
            continue
        try:
            for n in batches:
                data = [rng.integers(0, 256, (n, 3, h, w), dtype=np.uint8) for _ in range(4)]
                modes = {"serial": serial(backend, data)}
                if hasattr(backend, "submit"):
                    modes["pipelined"] = pipelined(backend, data, depth=args.streams)
                for mode, run in modes.items():
                    result = measure(run, args.seconds, args.warmup)
                    rows.append({"backend": name, "mode": mode, "batch": n, **result})
                    print(
                        f"{name:15s} {mode:9s} batch {n:3d}: {result['images_per_s']:9.1f} img/s "
                        f"(p50 {result['call_ms_p50']:.2f} ms/call)",
                        file=sys.stderr,
                    )
        finally:
            backend.close()

    report = {
        "model": str(path),
        "input": [h, w],
        "batches": batches,
        "rows": rows,
        "failures": failures,
        "ratios": {k: {str(n): v for n, v in r.items()} for k, r in ratios(rows, batches).items()},
        "environment": environment(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print(markdown(rows, batches))
    print()
    for label, values in ratios(rows, batches).items():
        print(f"- {label}: " + ", ".join(f"b{n} {v:.2f}x" for n, v in values.items()))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.out}", file=sys.stderr)
    return 0 if rows else 1


def environment() -> dict[str, Any]:
    from trt_core.cuda import describe as cuda_describe
    from trt_core.trt import describe as trt_describe

    env: dict[str, Any] = {"python": platform.python_version(), "cuda": cuda_describe(), "tensorrt": trt_describe()}
    try:
        import onnxruntime as ort

        env["onnxruntime"] = {
            "version": ort.__version__,
            "file": ort.__file__,
            "providers": ort.get_available_providers(),
        }
    except ImportError:
        pass
    return env


if __name__ == "__main__":
    sys.exit(main())
