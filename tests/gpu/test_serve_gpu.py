"""The whole Serve app with ``Detector`` on the GPU (``num_gpus: 1``) gives the CPU path's answers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from tests.deployments.conftest import deploy, free_port, load_config
from trt_core import Detector

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def gpu_app(model_path: Path) -> Iterator[dict[str, Any]]:
    ray = pytest.importorskip("ray")
    from ray import serve

    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()
    ray.init(num_cpus=8, num_gpus=1, include_dashboard=False, log_to_driver=False)
    port = free_port()
    deploy(load_config(port, model=str(model_path), device="gpu", backend="onnxruntime", max_batch_size=8))
    yield {"url": f"http://127.0.0.1:{port}"}
    serve.shutdown()
    ray.shutdown()


def images() -> list[bytes]:
    rng = np.random.default_rng(21)
    out = []
    for h, w in [(480, 640), (256, 1024), (1024, 256), (416, 416)]:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def test_detector_replica_runs_on_the_gpu(gpu_app: dict[str, Any]) -> None:
    model = requests.get(gpu_app["url"] + "/model", timeout=60).json()
    assert model["device"].startswith("cuda"), model
    assert "CUDAExecutionProvider" in str(model["backend_details"])


def test_gpu_results_equal_cpu_results(gpu_app: dict[str, Any], model_path: Path) -> None:
    cpu = Detector.from_onnx(model_path, backend="onnxruntime", device="cpu")
    for data in images():
        body = requests.post(gpu_app["url"] + "/detect", data=data, timeout=60).json()
        expected = cpu.detect(data)
        got = sorted(body["detections"], key=lambda d: (d["class_id"], d["box"]))
        want = sorted(expected.to_list(), key=lambda d: (d["class_id"], d["box"]))  # near-equal scores may swap
        assert len(got) == len(want), (got, want)
        if got:
            np.testing.assert_allclose([d["box"] for d in got], [d["box"] for d in want], atol=0.5)
            np.testing.assert_allclose([d["score"] for d in got], [d["score"] for d in want], atol=5e-3)
            assert [d["class_id"] for d in got] == [d["class_id"] for d in want]
