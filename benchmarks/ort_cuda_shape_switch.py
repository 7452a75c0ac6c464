"""Does changing the batch size between calls cost ONNX Runtime CUDA time? One run.

    python benchmarks/ort_cuda_shape_switch.py [--out F.json]

Median ms per call for: a fixed batch of 1; batch sizes cycling 1,2,3,4 (first pass: new
shapes; second pass: shapes seen before); and, for comparison, the same on a plain
``InferenceSession.run``.  Dynamic batching produces exactly such cycling sizes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trt_core.graph import GraphRecipe, prepare_graph  # noqa: E402
from trt_core.models import demo_model_path  # noqa: E402
from trt_core.spec import ModelSpec  # noqa: E402


def timed(infer: Any, x: np.ndarray, sizes: list[int]) -> float:
    times = []
    for n in sizes:
        start = time.perf_counter()
        infer(x[:n])
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import onnxruntime as ort

    from trt_core.backends.ort_cuda import OrtCudaBackend
    from trt_core.onnx_graph import load_model, with_uint8_input

    path = demo_model_path()
    prepared = prepare_graph(path, ModelSpec.from_onnx(path), GraphRecipe.from_decode_topk(1000))
    x = np.random.default_rng(0).integers(0, 256, (8, 3, *prepared.spec.input_hw), dtype=np.uint8)
    model = with_uint8_input(load_model(prepared.model)).SerializeToString()
    rows: dict[str, dict[str, float]] = {}
    for name, options in (("exhaustive", {}), ("heuristic", {"cudnn_conv_algo_search": "HEURISTIC"})):
        backend = OrtCudaBackend(prepared.model, prepared.spec, max_batch=8, provider_options=options)
        session = ort.InferenceSession(model, providers=[("CUDAExecutionProvider", options)])
        for label, infer in (
            (f"layer-{name}", backend.infer),
            (f"naive-{name}", lambda t, s=session: s.run(None, {prepared.spec.input.name: t})),
        ):
            timed(infer, x, [1] * 10)
            rows[label] = {
                "fixed_b1": timed(infer, x, [1] * 40),
                "cycling_new_shapes": timed(infer, x, [1, 2, 3, 4] * 3),
                "cycling_seen_shapes": timed(infer, x, [1, 2, 3, 4] * 10),
                "fixed_b1_after": timed(infer, x, [1] * 40),
            }
            print(label, {k: round(v, 2) for k, v in rows[label].items()}, flush=True)
        backend.close()
    if args.out:
        args.out.write_text(json.dumps({"median_ms_per_call": rows, "command": " ".join(["python", *sys.argv])}))


if __name__ == "__main__":
    main()
