"""The Serve app end to end on the GPU: images/s against Detector batch size, one run.

    python benchmarks/gpu_app.py [--model M.onnx] [--batches 1,2,4,8,16,32] [--requests 600] [--out F.json]

Deploys ``serve_config.yaml`` (Detector on the GPU, ``num_gpus: 1``), then for each batch
size reconfigures the Detector live (``user_config``) and drives HTTP load with
concurrency ``max(16, 2 x batch)``.  Also measures the bare backend (OrtCudaBackend,
pipelined) at the same batch sizes in the same run, and prints end-to-end / bare ratios.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deployments.conftest import deploy, free_port, load_config  # noqa: E402
from trt_core.bench import run_load  # noqa: E402
from trt_core.client import Client  # noqa: E402


def sample_payloads() -> list[bytes]:
    folder = REPO / "models" / "shapes-yolov3-tiny" / "samples"
    files = sorted(p for p in folder.glob("*") if p.suffix in (".jpg", ".png")) if folder.is_dir() else []
    if files:
        return [p.read_bytes() for p in files]
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for h, w in [(480, 640), (720, 1280), (512, 512)]:
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buffer, format="JPEG")
        out.append(buffer.getvalue())
    return out


def bare(model: str | None, batches: list[int], seconds: float) -> dict[int, float]:
    from trt_core import Detector

    detector = Detector.from_onnx(model, device="gpu", backend="onnxruntime", max_batch=max(batches))
    payloads = sample_payloads()
    tensor = detector.preprocess(payloads[0]).tensor
    out: dict[int, float] = {}
    for b in batches:
        batch = np.stack([tensor] * b)
        for _ in range(5):
            detector.backend.infer(batch)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            detector.backend.infer(batch)
            done += b
        out[b] = done / (time.perf_counter() - start)
    detector.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--batches", default="1,2,4,8,16,32")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--ingress-replicas", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    import ray
    from ray import serve

    bare_rates = bare(args.model, batches, args.seconds)
    print("bare backend images/s:", {b: round(r) for b, r in bare_rates.items()}, flush=True)
    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    config = load_config(
        port,
        model=args.model,
        device="gpu",
        backend="onnxruntime",
        max_batch_size=max(batches),
        engine_max_batch=max(batches),
    )
    for dep in config["applications"][0]["deployments"]:
        if dep["name"] in ("Preprocess", "Postprocess"):
            dep["num_replicas"] = max(1, (os.cpu_count() or 4) // 4)
            dep["ray_actor_options"] = {"num_cpus": 1}
        if dep["name"] == "Ingress":
            dep["num_replicas"] = args.ingress_replicas
    deploy(config)
    url = f"http://127.0.0.1:{port}"
    client = Client(url, timeout=120, retries=0)  # a 503 is a failure, not a retry
    payloads = sample_payloads()
    rows: list[dict[str, Any]] = []
    for b in batches:
        step = copy.deepcopy(config)
        for dep in step["applications"][0]["deployments"]:
            if dep["name"] == "Detector":
                dep["user_config"] = {"max_batch_size": b, "batch_wait_timeout_s": 0.002}
        deploy(step)
        while client.model()["batch"]["max_batch_size"] != b:
            time.sleep(0.2)

        stages: list[dict[str, float]] = []

        def send(i: int, stages: list[dict[str, float]] = stages) -> int:
            stages.append(client.detect(payloads[i % len(payloads)])["timing_ms"])
            return 0

        result = run_load(send, requests=args.requests, concurrency=max(16, 2 * b), warmup=20)
        medians = {k: float(np.median([t[k] for t in stages])) for k in stages[0]}
        print(f"batch {b}: {result.summary()}; median stage ms {medians}", flush=True)
        batches_seen = client.model()["batch"]["batches_by_size"]
        rows.append(
            {
                "batch": b,
                "e2e_images_per_s": result.images_per_s,
                "p50_ms": result.latency_ms["p50"],
                "p99_ms": result.latency_ms["p99"],
                "bare_images_per_s": bare_rates[b],
                "e2e_vs_bare": result.images_per_s / bare_rates[b],
                "batches_by_size": batches_seen,
                "median_stage_ms": medians,
            }
        )
    model = client.model()
    serve.shutdown()
    ray.shutdown()
    print("| batch | bare backend img/s | app end-to-end img/s | e2e / bare | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['batch']} | {r['bare_images_per_s']:.0f} | {r['e2e_images_per_s']:.0f} | "
            f"{r['e2e_vs_bare']:.3f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    result_doc = {
        "rows": rows,
        "ingress_replicas": args.ingress_replicas,
        "model": {k: model[k] for k in ("name", "device", "backend", "decode")},
        "cpus": os.cpu_count(),
        "command": " ".join(["python", *sys.argv]),
    }
    if args.out:
        args.out.write_text(json.dumps(result_doc, indent=2))


if __name__ == "__main__":
    main()
