"""The Python handle API, live reconfiguration and health."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from tests.deployments.conftest import call_handle, deploy, with_deployment
from trt_core import Detector
from trt_core.errors import InvalidImageError, InvalidRequestError

pytestmark = pytest.mark.timeout(300)


def rgb_image(seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (90, 210, 3), dtype=np.uint8)


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def test_handle_accepts_bytes_numpy_and_pil(served: dict[str, Any]) -> None:
    rgb = rgb_image()
    expected = Detector.from_onnx(served["model"], backend="onnxruntime", conf=0.05).detect(rgb)
    http = requests.post(served["url"] + "/detect", data=png(rgb), timeout=60).json()
    for source in (png(rgb), rgb, Image.fromarray(rgb)):
        result = call_handle("detect", source)
        assert result["image"] == {"width": 210, "height": 90}
        np.testing.assert_allclose([d["box"] for d in result["detections"]], expected.xyxy, atol=1e-3)
        assert [d["label"] for d in result["detections"]] == [d["label"] for d in http["detections"]]
    strict = call_handle("detect", rgb, conf=0.3, classes=[1])
    assert all(d["score"] >= 0.3 and d["class_id"] == 1 for d in strict["detections"])


def test_handle_errors_are_project_exceptions(served: dict[str, Any]) -> None:
    with pytest.raises(InvalidImageError, match="not a recognised image"):
        call_handle("detect", b"definitely not an image")
    with pytest.raises(InvalidRequestError, match="conf"):
        call_handle("detect", rgb_image(), conf=7)
    with pytest.raises(InvalidRequestError, match="class ids from 0 to 2"):
        call_handle("detect", rgb_image(), classes=[999])
    good = call_handle("detect", rgb_image(), conf="0.05")  # the query-string spelling is accepted too
    assert good["image"] == {"width": 210, "height": 90} and good["detections"]


def test_reconfigure_changes_thresholds_and_batching_live(served: dict[str, Any]) -> None:
    url = served["url"]

    def serve_actor_ids() -> set[str]:
        post = call_handle("ping", deployment="Postprocess")  # answers with its replica id
        return {post, requests.get(url + "/model", timeout=30).json()["detector_replica"]}

    rgb = rgb_image(9)
    before = requests.post(url + "/detect", data=png(rgb), timeout=60).json()["detections"]
    actors = serve_actor_ids()
    config = with_deployment(served["config"], "Postprocess", user_config={"conf": 0.3, "iou": 0.45, "max_det": 2})
    config = with_deployment(config, "Detector", user_config={"max_batch_size": 4, "batch_wait_timeout_s": 0.001})
    try:
        deploy(config)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            model = requests.get(url + "/model", timeout=30).json()
            if model["defaults"]["conf"] == 0.3 and model["batch"]["max_batch_size"] == 4:
                break
            time.sleep(0.5)
        assert model["defaults"] == {"conf": 0.3, "iou": 0.45, "max_det": 2}
        assert model["batch"]["max_batch_size"] == 4 and model["batch"]["batch_wait_timeout_s"] == 0.001
        after = requests.post(url + "/detect", data=png(rgb), timeout=60).json()["detections"]
        assert len(after) <= 2 < len(before)
        assert all(d["score"] >= 0.3 for d in after)
        assert serve_actor_ids() == actors, "reconfigure must not restart replicas"
    finally:
        deploy(served["config"])
