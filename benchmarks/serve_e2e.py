"""End-to-end Serve throughput vs the bare model, and vs a hand-rolled server, in one run.

    python benchmarks/serve_e2e.py [--model M.onnx] [--device cpu|gpu] [--requests 400]
           [--concurrency 16] [--out benchmarks/results/serve_e2e_cpu.json]

1. bare model: ``backend.infer`` on ready uint8 batches (no decode, no pre/post) — the ceiling;
2. in-process ``Detector.detect_batch`` (decode + preprocess + infer + postprocess, one process);
3. the Ray Serve app (serve_config.yaml's graph) over HTTP on 127.0.0.1;
4. baseline: ``benchmarks/baseline_server.py`` (one FastAPI process, no batching) over HTTP.
Also: bytes that cross deployments per image (pickled stage messages, uint8 vs float32).
Prints a markdown table with ratios measured in this one run; writes JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trt_core import Detector  # noqa: E402
from trt_core.bench import BenchResult, run_load  # noqa: E402
from trt_core.client import Client  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_payloads() -> list[bytes]:
    folder = REPO / "models" / "shapes-yolov3-tiny" / "samples"
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".jpg", ".png")]


def bench_bare(detector: Detector, payloads: list[bytes], batch: int, seconds: float = 5.0) -> float:
    tensors = np.stack([detector.preprocess(payloads[i % len(payloads)]).tensor for i in range(batch)])
    detector.backend.infer(tensors)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        detector.backend.infer(tensors)
        count += batch
    return count / (time.perf_counter() - start)


def bench_http(url: str, payloads: list[bytes], requests: int, concurrency: int) -> BenchResult:
    client = Client(url, timeout=120, retries=0)  # a 503 is a failure, not a retry

    def send(i: int) -> int:
        client.detect(payloads[i % len(payloads)])
        return 0

    return run_load(send, requests=requests, concurrency=concurrency, warmup=20)


def stage_bytes(detector: Detector, payload: bytes) -> dict[str, int]:
    from deployments.messages import InferredImage, PreprocessedImage

    prepared = detector.preprocess(payload)
    message = PreprocessedImage(prepared.tensor, prepared.geometry)
    outputs = [o[0] for o in detector.backend.infer(prepared.tensor[None])]
    inferred = InferredImage(outputs, prepared.geometry)
    as_float = PreprocessedImage(prepared.tensor.astype(np.float32) / 255, prepared.geometry)  # type: ignore[arg-type]
    return {
        "preprocess_to_detector_uint8": len(pickle.dumps(message)),
        "preprocess_to_detector_if_float32": len(pickle.dumps(as_float)),
        "detector_to_postprocess": len(pickle.dumps(inferred)),
    }


def serve_app(model: str | None, device: str, port: int, batch: int) -> None:
    import yaml
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load((REPO / "serve_config.yaml").read_text())
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    app = config["applications"][0]
    app["args"].update({"model": model, "device": device, "max_batch_size": batch})
    app["deployments"] = [{"name": "Detector", "user_config": {"max_batch_size": batch, "batch_wait_timeout_s": 0.005}}]
    schema = ServeDeploySchema.model_validate(copy.deepcopy(config))
    client = serve_api.serve_start(http_options=config["http_options"], proxy_location=schema.proxy_location)
    client.deploy_apps(schema)
    deadline = time.monotonic() + 180
    while (
        serve.status().applications.get("detector") is None
        or serve.status().applications["detector"].status != "RUNNING"
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("serve app did not start")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import ray

    payloads = sample_payloads()
    detector = Detector.from_onnx(args.model, device=args.device, max_batch=args.batch)
    rows: dict[str, Any] = {}
    rows["bare_model_images_per_s"] = bench_bare(detector, payloads, args.batch)
    start = time.perf_counter()
    for i in range(0, 200, args.batch):
        detector.detect_batch([payloads[(i + j) % len(payloads)] for j in range(args.batch)])
    rows["in_process_images_per_s"] = 200 / (time.perf_counter() - start)
    rows["bytes_per_image"] = stage_bytes(detector, payloads[0])
    detector.close()

    port = free_port()
    baseline = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "benchmarks" / "baseline_server.py"),
            "--port",
            str(port),
            "--device",
            args.device,
            *(["--model", args.model] if args.model else []),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        wait_http_baseline(f"http://127.0.0.1:{port}", payloads[0])
        base = bench_http(f"http://127.0.0.1:{port}", payloads, args.requests, args.concurrency)
    finally:
        baseline.terminate()
        baseline.wait(30)

    ray.init(include_dashboard=False, log_to_driver=False)
    serve_port = free_port()
    serve_app(args.model, args.device, serve_port, args.batch)
    ours = bench_http(f"http://127.0.0.1:{serve_port}", payloads, args.requests, args.concurrency)
    batches = Client(f"http://127.0.0.1:{serve_port}").model()["batch"]["batches_by_size"]
    ray.shutdown()

    rows["serve"] = ours.to_dict()
    rows["baseline"] = base.to_dict()
    rows["serve_batches_by_size"] = batches
    rows["ratios"] = {
        "serve_e2e_vs_bare_model": ours.images_per_s / rows["bare_model_images_per_s"],
        "serve_vs_baseline_throughput": ours.images_per_s / base.images_per_s,
        "serve_vs_baseline_p50_latency": ours.latency_ms["p50"] / base.latency_ms["p50"],
        "in_process_vs_bare_model": rows["in_process_images_per_s"] / rows["bare_model_images_per_s"],
    }
    rows["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "device": args.device}
    rows["command"] = " ".join(["python", *sys.argv])

    print("| measure | images/s | p50 ms | p99 ms |\n|---|---|---|---|")
    print(f"| bare model (batch {args.batch}) | {rows['bare_model_images_per_s']:.1f} | | |")
    print(f"| in-process Detector | {rows['in_process_images_per_s']:.1f} | | |")
    for name, result in (("Ray Serve app (HTTP)", ours), ("baseline FastAPI (HTTP)", base)):
        lat = result.latency_ms
        print(f"| {name} | {result.images_per_s:.1f} | {lat['p50']:.1f} | {lat['p99']:.1f} |")
    print("ratios:", json.dumps({k: round(v, 3) for k, v in rows["ratios"].items()}))
    print("bytes per image:", rows["bytes_per_image"], "batches:", batches)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))


def wait_http_baseline(url: str, payload: bytes, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            Client(url, timeout=5).detect(payload)
            return
        except Exception:
            time.sleep(0.5)
    raise TimeoutError(url)


if __name__ == "__main__":
    main()
