"""The Open Inference Protocol (KServe v2): the codec against Triton's own client library, and
the live app through ``tritonclient.http`` (JSON and binary), compared with ``/detect``."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
import requests

from tests.compare import assert_same_detections
from tests.deployments.test_http import make_images, png
from trt_core.detections import Detections
from trt_core.errors import InvalidImageError, InvalidRequestError
from trt_core.kserve_v2 import (
    OUTPUTS,
    InferRequest,
    deserialize_bytes,
    detection_tensors,
    encode_infer_response,
    parse_infer_request,
    serialize_bytes,
)

httpclient = pytest.importorskip("tritonclient.http")
triton_utils = pytest.importorskip("tritonclient.utils")

pytestmark = pytest.mark.timeout(300)


def detections(n: int, seed: int = 0) -> Detections:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (n, 2)).astype(np.float32)
    return Detections(np.hstack([xy, xy + 10]), rng.uniform(0, 1, n), rng.integers(0, 3, n), ["a", "b", "c"])


# -- the codec, checked against tritonclient's own encoders and decoders -------------------------
def test_bytes_codec_agrees_with_tritonclient() -> None:
    elements = np.array([b"", b"\x00\xff" * 7, png(make_images()[4])], dtype=object)
    ours = serialize_bytes(elements)
    assert ours == triton_utils.serialize_byte_tensor(elements).item()
    assert deserialize_bytes(ours) == list(elements)
    with pytest.raises(InvalidRequestError):
        deserialize_bytes(ours[:-1])


def test_tritonclient_request_decodes() -> None:
    images = [png(rgb) for rgb in make_images(2)]
    encoded = httpclient.InferInput("images", [2], "BYTES")
    encoded.set_data_from_numpy(np.array(images, dtype=object), binary_data=True)
    rgb = make_images()[4]
    pixels = httpclient.InferInput("pixels", [1, *rgb.shape], "UINT8")
    pixels.set_data_from_numpy(rgb[None], binary_data=False)
    outputs = [
        httpclient.InferRequestedOutput("boxes", binary_data=True),
        httpclient.InferRequestedOutput("counts", binary_data=False),
    ]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [encoded, pixels], outputs, request_id="7", parameters={"conf": 0.3, "classes": "0,2", "agnostic": True}
    )
    parsed = parse_infer_request(body, str(json_size))
    assert parsed.images[:2] == images and np.array_equal(parsed.images[2], rgb)
    assert parsed.changes == {"conf": 0.3, "classes": (0, 2), "agnostic": True}
    assert parsed.outputs == {"boxes": True, "counts": False} and parsed.id == "7"


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("sizes", [(0,), (3, 0, 2)])
def test_response_decodes_in_tritonclient(binary: bool, sizes: tuple[int, ...]) -> None:
    per_image = [detections(n, i) for i, n in enumerate(sizes)]
    request = InferRequest(images=[], changes={}, binary_output=binary, id="x")
    body, json_size = encode_infer_response("m", detection_tensors(per_image), request)
    assert (json_size is not None) == binary
    result = httpclient.InferResult.from_response_body(body, header_length=json_size)
    assert result.get_response()["id"] == "x" and result.get_response()["model_name"] == "m"
    assert result.as_numpy("counts").tolist() == list(sizes)
    np.testing.assert_array_equal(result.as_numpy("boxes"), np.concatenate([d.xyxy for d in per_image]))
    np.testing.assert_array_equal(result.as_numpy("scores"), np.concatenate([d.scores for d in per_image]))
    assert result.as_numpy("class_ids").dtype == np.int64
    labels = [x if isinstance(x, bytes) else x.encode() for x in result.as_numpy("labels").tolist()]
    assert labels == [label.encode() for d in per_image for label in d.labels]


@pytest.mark.parametrize(
    ("request_json", "error"),
    [
        ({"inputs": []}, InvalidRequestError),
        ({"inputs": [{"name": "img", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}]}, InvalidRequestError),
        ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1], "data": [1.0]}]}, InvalidRequestError),
        ({"inputs": [{"name": "images", "datatype": "BYTES", "shape": [2], "data": ["eA=="]}]}, InvalidRequestError),
        (
            {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": ["not base64!"]}]},
            InvalidImageError,
        ),
        (
            {"inputs": [{"name": "pixels", "datatype": "UINT8", "shape": [1, 1, 3], "data": [1, 2, 300]}]},
            InvalidRequestError,
        ),
        (
            {"inputs": [{"name": "pixels", "datatype": "UINT8", "shape": [2, 2], "data": [1, 2, 3, 4]}]},
            InvalidRequestError,
        ),
        (
            {
                "inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}],
                "parameters": {"cnf": 1},
            },
            InvalidRequestError,
        ),
        (
            {
                "inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}],
                "outputs": [{"name": "x"}],
            },
            InvalidRequestError,
        ),
    ],
)
def test_malformed_requests_raise(request_json: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_infer_request(json.dumps(request_json).encode(), None)


def test_binary_lengths_are_checked() -> None:
    header = json.dumps(
        {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 10}}]}
    ).encode()
    with pytest.raises(InvalidRequestError, match="binary_data_size"):
        parse_infer_request(header + b"\x01\x00\x00\x00x", str(len(header)))
    with pytest.raises(InvalidRequestError, match="Header-Content-Length"):
        parse_infer_request(header, str(len(header) + 1))


# -- the live app ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(served: dict[str, Any]) -> Any:
    return httpclient.InferenceServerClient(served["url"].removeprefix("http://"), network_timeout=120)


def detect(served: dict[str, Any], data: bytes, **query: str) -> list[dict[str, Any]]:
    response = requests.post(served["url"] + "/detect", params=query, data=data, timeout=60)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["detections"]
    return found


def assert_same(result: Any, expected: list[list[dict[str, Any]]]) -> None:
    counts = result.as_numpy("counts").tolist()
    assert counts == [len(e) for e in expected]
    got = Detections(result.as_numpy("boxes"), result.as_numpy("scores"), result.as_numpy("class_ids"))
    assert_same_detections(got, [d for e in expected for d in e])


def test_health_ready_and_metadata(served: dict[str, Any], client: Any) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("tiny-test")
    assert not client.is_model_ready("nope") and not client.is_model_ready("tiny-test", "2")
    assert client.get_model_metadata("tiny-test", "1")["versions"] == ["1"]
    metadata = client.get_model_metadata("tiny-test")
    assert metadata["name"] == "tiny-test"
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {"images": "BYTES", "pixels": "UINT8"}
    assert [o["name"] for o in metadata["outputs"]] == list(OUTPUTS)
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    missing = requests.get(served["url"] + "/v2/models/nope", timeout=30)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


@pytest.mark.parametrize("binary", [True, False])
def test_infer_equals_detect(served: dict[str, Any], client: Any, binary: bool) -> None:
    images = [png(rgb) for rgb in make_images(4)]
    encoded = httpclient.InferInput("images", [len(images)], "BYTES")
    encoded.set_data_from_numpy(np.array(images, dtype=object), binary_data=True)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in OUTPUTS]
    result = client.infer("tiny-test", [encoded], outputs=outputs)
    assert_same(result, [detect(served, data) for data in images])
    labels = [x if isinstance(x, bytes) else x.encode() for x in result.as_numpy("labels").tolist()]
    assert labels == [d["label"].encode() for data in images for d in detect(served, data)]


def test_infer_parameters_and_pixels(served: dict[str, Any], client: Any) -> None:
    rgb = make_images()[3]
    pixels = httpclient.InferInput("pixels", [1, *rgb.shape], "UINT8")
    pixels.set_data_from_numpy(rgb[None], binary_data=True)
    parameters = {"conf": 0.1, "iou": 0.3, "max_det": 3, "classes": "0,2"}
    result = client.infer("tiny-test", [pixels], "1", parameters=parameters)  # no outputs named: all, binary
    expected = detect(served, png(rgb), conf="0.1", iou="0.3", max_det="3", classes="0,2")
    assert expected and len(expected) <= 3
    assert_same(result, [expected])


def test_plain_json_with_curl_shape(served: dict[str, Any]) -> None:
    data = png(make_images()[0])
    body: dict[str, Any] = {
        "id": "42",
        "inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(data).decode()]}],
        "parameters": {"conf": 0.2},
    }
    response = requests.post(served["url"] + "/v2/models/tiny-test/infer", json=body, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "42" and answer["model_name"] == "tiny-test"
    outputs = {o["name"]: o for o in answer["outputs"]}
    expected = detect(served, data, conf="0.2")
    assert outputs["counts"]["data"] == [len(expected)]
    assert outputs["boxes"]["shape"] == [len(expected), 4]
    np.testing.assert_allclose(outputs["scores"]["data"], [d["score"] for d in expected], atol=1e-5)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": ["aGVsbG8="]}]}, 400, "image"),
        (
            {
                "inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}],
                "parameters": {"conf": 1.5},
            },
            422,
            "conf",
        ),
        ({"inputs": [{"name": "images", "datatype": "INT8", "shape": [1], "data": [1]}]}, 422, "datatype"),
        ({"inputs": [{"name": "pixels", "datatype": "UINT8", "shape": [0, 4, 4, 3], "data": []}]}, 400, "no images"),
    ],
)
def test_bad_requests_get_v2_errors(served: dict[str, Any], body: dict[str, Any], status: int, message: str) -> None:
    response = requests.post(served["url"] + "/v2/models/tiny-test/infer", json=body, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and message in error


def test_tritonclient_raises_on_a_bad_image(client: Any) -> None:
    garbage = httpclient.InferInput("images", [1], "BYTES")
    garbage.set_data_from_numpy(np.array([b"not an image"], dtype=object), binary_data=True)
    with pytest.raises(triton_utils.InferenceServerException) as info:
        client.infer("tiny-test", [garbage])
    assert info.value.status() == "400" and "image" in info.value.message()
