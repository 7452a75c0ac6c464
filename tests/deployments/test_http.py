"""The HTTP contract, against a real Serve app on 127.0.0.1."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from tests.compare import assert_same_detections
from trt_core import Detector

pytestmark = pytest.mark.timeout(300)


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_images(n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    sizes = [(120, 480), (480, 120), (64, 64), (300, 200), (37, 91), (256, 256)]
    return [rng.integers(0, 256, (*sizes[i % len(sizes)], 3), dtype=np.uint8) for i in range(n)]


@pytest.fixture(scope="module")
def local(served: dict[str, Any]) -> Detector:
    return Detector.from_onnx(served["model"], backend="onnxruntime", device="cpu", conf=0.05)


def assert_matches(result: dict[str, Any], expected: Any, width: int, height: int) -> None:
    assert result["image"] == {"width": width, "height": height}
    assert_same_detections(result["detections"], expected, score_atol=1e-4)
    assert [d["label"] for d in result["detections"]] == expected.labels


def test_detect_equals_in_process_detector(served: dict[str, Any], local: Detector) -> None:
    for rgb in make_images():
        response = requests.post(served["url"] + "/detect", data=png(rgb), timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "tiny-test"
        timing = body["timing_ms"]
        assert set(timing) >= {"preprocess", "call_wait", "inference_queue", "inference", "postprocess", "total"}
        assert 0 <= timing["call_wait"] + timing["inference_queue"] + timing["inference"] <= timing["total"]
        assert_matches(body, local.detect(rgb), rgb.shape[1], rgb.shape[0])


def test_query_parameters(served: dict[str, Any], local: Detector) -> None:
    rgb = make_images()[3]
    query = {"conf": "0.3", "iou": "0.3", "max_det": "3", "classes": "0,2"}
    body = requests.post(served["url"] + "/detect", params=query, data=png(rgb), timeout=60).json()
    expected = local.detect(rgb, conf=0.3, iou=0.3, max_det=3, classes=[0, 2])
    assert_matches(body, expected, rgb.shape[1], rgb.shape[0])


def test_multipart_several_files_in_order(served: dict[str, Any], local: Detector) -> None:
    images = make_images(3)
    files = [("image", (f"{i}.png", png(rgb), "image/png")) for i, rgb in enumerate(images)]
    response = requests.post(served["url"] + "/detect", files=files, timeout=60)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 3
    for result, rgb in zip(results, images):
        assert_matches(result, local.detect(rgb), rgb.shape[1], rgb.shape[0])


def test_annotate_jpeg_and_png(served: dict[str, Any]) -> None:
    rgb = make_images()[0]
    response = requests.post(served["url"] + "/annotate", data=png(rgb), timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (rgb.shape[1], rgb.shape[0])
    response = requests.post(served["url"] + "/annotate", data=png(rgb), headers={"Accept": "image/png"}, timeout=60)
    assert response.headers["content-type"] == "image/png"
    drawn = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    assert not np.array_equal(drawn, rgb)


def test_healthz_model_and_openapi(served: dict[str, Any]) -> None:
    assert requests.get(served["url"] + "/healthz", timeout=30).json() == {"status": "ok"}
    model = requests.get(served["url"] + "/model", timeout=30).json()
    assert model["name"] == "tiny-test" and model["classes"] == ["c0", "c1", "c2"]
    assert model["backend"] == "onnxruntime" and model["device"] == "cpu" and model["precision"] == "fp32"
    assert model["input"]["height"] == 64 and model["batch"]["max_batch_size"] == 8
    assert model["defaults"]["conf"] == 0.05  # from the builder's args alone: no user_config set
    spec = requests.get(served["url"] + "/openapi.json", timeout=30).json()
    assert {"/detect", "/annotate", "/healthz", "/model"} <= set(spec["paths"])


def test_64_concurrent_requests_form_batches(served: dict[str, Any], local: Detector) -> None:
    images = make_images(8)
    expected = [local.detect(rgb) for rgb in images]
    bodies = [png(rgb) for rgb in images]

    def send(i: int) -> tuple[int, dict[str, Any]]:
        response = requests.post(served["url"] + "/detect", data=bodies[i % 8], timeout=120)
        assert response.status_code == 200, response.text
        return i, response.json()

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(send, range(64)))
    for i, body in results:
        rgb = images[i % 8]
        assert_matches(body, expected[i % 8], rgb.shape[1], rgb.shape[0])
    assert max(body["batch_size"] for _, body in results) > 1
    batches = requests.get(served["url"] + "/model", timeout=30).json()["batch"]["batches_by_size"]
    assert any(int(size) > 1 for size in batches)


def bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, format="PNG")  # 9 Mpx > the 4 Mpx test limit, ~9 KB
    return buffer.getvalue()


BAD_BODIES = {
    "empty": (b"", 400, "empty"),
    "random": (bytes(np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8)), 400, "not a recognised image"),
    "truncated_jpeg": (jpeg(make_images()[5])[:600], 400, "(?i)truncated|cannot (decode|open)"),
    "text": (b"name,value\nhello,world\n", 400, "not a recognised image"),
    "bomb": (bomb(), 413, "over the limit"),
    "oversize": (b"\xff" * 2_100_000, 413, "over the limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_get_clear_4xx_and_service_keeps_serving(served: dict[str, Any], case: str) -> None:
    data, status, message = BAD_BODIES[case]
    response = requests.post(served["url"] + "/detect", data=data, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and re.search(message, error["message"])
    assert requests.post(served["url"] + "/detect", data=png(make_images()[2]), timeout=60).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"conf": "abc"},
        {"conf": "1.5"},
        {"iou": "-0.1"},
        {"max_det": "0"},
        {"max_det": "2.5"},
        {"classes": "a,b"},
        {"classes": "99999999999999999999"},
        {"classes": "-1"},
        {"bogus": "1"},
    ],
)
def test_bad_query_values_get_422(served: dict[str, Any], query: dict[str, str]) -> None:
    response = requests.post(served["url"] + "/detect", params=query, data=png(make_images()[2]), timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_multipart_without_image_field(served: dict[str, Any]) -> None:
    response = requests.post(served["url"] + "/detect", files=[("file", ("x.png", b"abc"))], timeout=60)
    assert response.status_code == 400 and "'image'" in response.json()["error"]["message"]


def test_bad_requests_do_not_disturb_concurrent_good_ones(served: dict[str, Any], local: Detector) -> None:
    good = make_images()[1]
    expected = local.detect(good)
    bad = BAD_BODIES["truncated_jpeg"][0]

    def send(i: int) -> int:
        data = bad if i % 2 else png(good)
        response = requests.post(served["url"] + "/detect", data=data, timeout=120)
        if i % 2 == 0:
            assert_matches(response.json(), expected, good.shape[1], good.shape[0])
        return response.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, range(32)))
    assert statuses == [200, 400] * 16


def test_cli_detect_through_the_server(served: dict[str, Any], tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    rgb = make_images()[0]
    path = tmp_path / "x.png"
    path.write_bytes(png(rgb))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "trt_core.cli.main",
            "detect",
            "--url",
            served["url"],
            "--json",
            "--conf",
            "0.2",
            "--out",
            str(tmp_path / "ann"),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout.strip())
    assert line["path"] == str(path) and all(d["score"] >= 0.2 for d in line["detections"])
    assert (tmp_path / "ann" / "x.jpg").is_file()
