"""The Open Inference Protocol (KServe v2) over gRPC on Serve's gRPC ingress, with Triton's own
client (``tritonclient.grpc``), in the high-throughput mode the product ships (HAProxy in front):
health, metadata, the same detections as ``POST /detect``, errors as gRPC status codes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from deployments.ingress import Ingress
from deployments.kserve_grpc import SERVICER_FUNCTION
from tests.compare import assert_same_detections
from tests.deployments.test_http import make_images, png
from trt_core.detections import Detections
from trt_core.kserve_v2 import OUTPUTS

grpcclient = pytest.importorskip("tritonclient.grpc")
triton_utils = pytest.importorskip("tritonclient.utils")

pytestmark = pytest.mark.timeout(400)
if not hasattr(Ingress.func_or_class, "ModelInfer"):
    pytest.skip("no gRPC methods: deployments/ingress.py lacks the OpenInferenceGRPC mixin", allow_module_level=True)
MODEL = "tiny-test"


def grpc_enabled(config: dict[str, Any]) -> bool:
    options = config.get("grpc_options") or {}
    return bool(options.get("port")) and SERVICER_FUNCTION in options.get("grpc_servicer_functions", [])


@pytest.fixture(scope="module")
def grpc_target(served: dict[str, Any]) -> str:
    """``host:port`` of Serve's gRPC ingress (HAProxy's gRPC frontend) in front of the ``served`` app."""
    if not grpc_enabled(served["config"]):  # gRPC options are fixed when Serve starts (tests/deployments/conftest.py)
        pytest.skip("Serve was started without gRPC: serve_config.yaml needs grpc_options, passed to serve_start")
    return f"127.0.0.1:{served['config']['grpc_options']['port']}"


@pytest.fixture(scope="module")
def client(grpc_target: str) -> Any:
    return grpcclient.InferenceServerClient(grpc_target)


@pytest.fixture(scope="module")
def jpegs(sample_images: list[Path]) -> list[bytes]:
    found = [p.read_bytes() for p in sample_images if p.suffix.lower() in (".jpg", ".jpeg")]
    assert found, "no JPEG among the sample images"
    return found


def detect(served: dict[str, Any], data: bytes, **query: str) -> list[dict[str, Any]]:
    response = requests.post(served["url"] + "/detect", params=query, data=data, timeout=60)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["detections"]
    return found


def encoded(images: list[bytes]) -> Any:
    tensor = grpcclient.InferInput("images", [len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array(images, dtype=object))
    return tensor


def assert_same(result: Any, expected: list[list[dict[str, Any]]]) -> None:
    assert result.as_numpy("counts").tolist() == [len(e) for e in expected]
    got = Detections(result.as_numpy("boxes"), result.as_numpy("scores"), result.as_numpy("class_ids"))
    assert_same_detections(got, [d for e in expected for d in e])
    labels = result.as_numpy("labels").tolist()
    assert labels == [d["label"].encode() for e in expected for d in e]


def error_of(call: Any) -> Any:
    with pytest.raises(triton_utils.InferenceServerException) as info:
        call()
    return info.value


def test_health_and_metadata(client: Any) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "1") and not client.is_model_ready(MODEL, "2")
    assert not client.is_model_ready("nope")
    metadata = client.get_model_metadata(MODEL, as_json=True)
    assert metadata["name"] == MODEL and metadata["versions"] == ["1"] and metadata["platform"] == "trt-detect"
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {"images": "BYTES", "pixels": "UINT8"}
    assert [o["name"] for o in metadata["outputs"]] == list(OUTPUTS)
    assert client.get_server_metadata(as_json=True)["name"] == "trt-detect"
    missing = error_of(lambda: client.get_model_metadata("nope"))
    assert missing.status() == "StatusCode.NOT_FOUND" and "nope" in missing.message()


def test_infer_jpegs_equals_detect(served: dict[str, Any], client: Any, jpegs: list[bytes]) -> None:
    result = client.infer(MODEL, [encoded(jpegs)], request_id="9")
    expected = [detect(served, data) for data in jpegs]
    assert sum(map(len, expected)) > 0, "the comparison needs detections"
    assert_same(result, expected)
    answer = result.get_response(as_json=True)
    assert answer["id"] == "9" and answer["model_name"] == MODEL
    assert [o["name"] for o in answer["outputs"]] == list(OUTPUTS)


def test_parameters_pixels_and_outputs(served: dict[str, Any], client: Any) -> None:
    rgb = make_images()[3]
    pixels = grpcclient.InferInput("pixels", [1, *rgb.shape], "UINT8")
    pixels.set_data_from_numpy(rgb[None])
    outputs = [grpcclient.InferRequestedOutput(name) for name in ("counts", "scores")]
    parameters = {"conf": 0.1, "iou": 0.3, "max_det": 3, "classes": "0,2"}
    result = client.infer(MODEL, [pixels], "1", outputs=outputs, parameters=parameters)
    expected = detect(served, png(rgb), conf="0.1", iou="0.3", max_det="3", classes="0,2")
    assert expected and len(expected) <= 3
    assert [o["name"] for o in result.get_response(as_json=True)["outputs"]] == ["counts", "scores"]
    assert result.as_numpy("counts").tolist() == [len(expected)]
    np.testing.assert_allclose(result.as_numpy("scores"), [d["score"] for d in expected], atol=1e-5)


def test_application_metadata_routes(client: Any, jpegs: list[bytes]) -> None:
    named = client.infer(MODEL, [encoded(jpegs[:1])], headers={"application": "detector"})
    plain = client.infer(MODEL, [encoded(jpegs[:1])])
    np.testing.assert_array_equal(named.as_numpy("boxes"), plain.as_numpy("boxes"))
    if os.environ.get("RAY_SERVE_ENABLE_HA_PROXY") == "1":  # the replica checks the name (direct ingress)
        other = error_of(lambda: client.infer(MODEL, [encoded(jpegs[:1])], headers={"application": "other"}))
        assert other.status() == "StatusCode.NOT_FOUND" and "other" in other.message()
    else:  # Serve's classic proxy sends every call to the only app, whatever its name
        client.infer(MODEL, [encoded(jpegs[:1])], headers={"application": "other"})


def test_bad_image_is_invalid_argument(client: Any) -> None:
    error = error_of(lambda: client.infer(MODEL, [encoded([b"not an image"])]))
    assert error.status() == "StatusCode.INVALID_ARGUMENT" and "image" in error.message()


@pytest.mark.parametrize(
    ("model", "parameters", "code", "words"),
    [
        (MODEL, {"conf": 1.5}, "INVALID_ARGUMENT", "conf"),
        (MODEL, {"cnf": 0.5}, "INVALID_ARGUMENT", "unknown parameter"),
        ("nope", None, "NOT_FOUND", "unknown model"),
    ],
)
def test_bad_requests_get_grpc_codes(
    client: Any, jpegs: list[bytes], model: str, parameters: dict[str, Any] | None, code: str, words: str
) -> None:
    error = error_of(lambda: client.infer(model, [encoded(jpegs[:1])], parameters=parameters))
    assert error.status() == f"StatusCode.{code}" and words in error.message()


def test_too_many_images_is_invalid_argument(served: dict[str, Any], client: Any) -> None:
    limit = served["config"]["applications"][0]["args"].get("max_images_per_request", 64)
    error = error_of(lambda: client.infer(MODEL, [encoded([b"x"] * (limit + 1))]))
    assert error.status() == "StatusCode.INVALID_ARGUMENT" and f"at most {limit} images" in error.message()
