"""Which ONNX Runtime CUDA data path is fastest for the bundled model? One process, one run.

    python benchmarks/ort_cuda_variants.py [--batches 1,4,8,32] [--seconds 2]

- ``layer-2streams``: OrtCudaBackend as shipped (pinned buffers, io_binding, user_compute_stream, 2 slots)
- ``layer-1stream``:  the same with one slot
- ``layer-ort-stream``: io_binding on our buffers, but ORT's own stream (synchronised in run)
- ``naive``: ``InferenceSession.run`` with numpy in/out
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trt_core.backends.ort_cuda import OrtCudaBackend  # noqa: E402
from trt_core.graph import GraphRecipe, prepare_graph  # noqa: E402
from trt_core.models import demo_model_path  # noqa: E402
from trt_core.spec import ModelSpec  # noqa: E402


class OrtStreamBackend(OrtCudaBackend):
    def _providers(self, stream_handle: int | None) -> list[Any]:
        return super()._providers(None)


def rate(infer: Any, batch: np.ndarray, seconds: float) -> float:
    for _ in range(10):
        infer(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        infer(batch)
        done += batch.shape[0]
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", default="1,4,8,32")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import onnxruntime as ort

    from trt_core.onnx_graph import load_model, with_uint8_input

    path = demo_model_path()
    prepared = prepare_graph(path, ModelSpec.from_onnx(path), GraphRecipe.from_decode_topk(1000))
    spec = prepared.spec
    batches = [int(b) for b in args.batches.split(",")]
    x = np.random.default_rng(0).integers(0, 256, (max(batches), 3, *spec.input_hw), dtype=np.uint8)
    variants: dict[str, Any] = {
        "layer-2streams": OrtCudaBackend(prepared.model, spec, max_batch=max(batches)),
        "layer-1stream": OrtCudaBackend(prepared.model, spec, max_batch=max(batches), num_streams=1),
        "layer-ort-stream": OrtStreamBackend(prepared.model, spec, max_batch=max(batches), synchronize_in_run=True),
    }
    model = with_uint8_input(load_model(prepared.model)).SerializeToString()
    session = ort.InferenceSession(model, providers=["CUDAExecutionProvider"])
    results: dict[str, dict[int, float]] = {}
    for name, backend in variants.items():
        results[name] = {b: rate(backend.infer, x[:b], args.seconds) for b in batches}
    results["naive"] = {
        b: rate(lambda t: session.run(None, {spec.input.name: t}), x[:b], args.seconds) for b in batches
    }
    print("| variant | " + " | ".join(f"b{b} img/s" for b in batches) + " |")
    print("|---|" + "---|" * len(batches))
    for name, row in results.items():
        print(f"| {name} | " + " | ".join(f"{row[b]:.0f}" for b in batches) + " |")
    if args.out:
        args.out.write_text(json.dumps({"results": results, "command": " ".join(["python", *sys.argv])}, indent=2))


if __name__ == "__main__":
    main()
