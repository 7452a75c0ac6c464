"""The Open Inference Protocol's gRPC codec against Triton's own client (``tritonclient.grpc``):
requests it builds decode, responses we build decode in it, and both message sets live in one
process (ours sit in a private descriptor pool)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.protobuf import json_format

from tests.deployments.test_http import make_images, png
from trt_core.detections import Detections
from trt_core.errors import (
    DeadlineExceededError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidRequestError,
    OverloadedError,
    RequestTooLargeError,
    TrtDetectError,
)
from trt_core.kserve_v2 import OUTPUTS, InferRequest, detection_tensors, model_metadata, serialize_bytes
from trt_core.kserve_v2_grpc import (
    grpc_status,
    model_infer_response,
    model_metadata_response,
    parameter_values,
    parse_model_infer,
)
from trt_core.proto import open_inference_grpc_pb2 as pb

grpcclient = pytest.importorskip("tritonclient.grpc")
triton_grpc_utils = pytest.importorskip("tritonclient.grpc._utils")
triton_pb = pytest.importorskip("tritonclient.grpc.service_pb2")


def triton_request(inputs: list[Any], outputs: list[Any] | None = None, **options: Any) -> pb.ModelInferRequest:
    """The message ``tritonclient.grpc`` sends for ``infer(...)``, as our server reads it off the wire."""
    kwargs: dict[str, Any] = {"model_version": "", "request_id": "", "sequence_id": 0, "sequence_start": False}
    kwargs.update({"sequence_end": False, "priority": 0, "timeout": None, "parameters": None, **options})
    theirs = triton_grpc_utils._get_inference_request("m", inputs, outputs=outputs, **kwargs)
    return pb.ModelInferRequest.FromString(theirs.SerializeToString())


def detections(n: int, seed: int = 0) -> Detections:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (n, 2)).astype(np.float32)
    return Detections(np.hstack([xy, xy + 10]), rng.uniform(0, 1, n), rng.integers(0, 3, n), ["a", "b", "c"])


def test_tritonclient_request_decodes() -> None:
    images = [png(rgb) for rgb in make_images(2)]
    encoded = grpcclient.InferInput("images", [2], "BYTES")
    encoded.set_data_from_numpy(np.array(images, dtype=object))
    rgb = make_images()[4]
    pixels = grpcclient.InferInput("pixels", [1, *rgb.shape], "UINT8")
    pixels.set_data_from_numpy(rgb[None])
    outputs = [grpcclient.InferRequestedOutput("boxes"), grpcclient.InferRequestedOutput("counts")]
    parameters = {"conf": 0.3, "iou": 0.5, "max_det": 7, "classes": "0,2", "agnostic": True}
    request = triton_request([encoded, pixels], outputs, request_id="7", parameters=parameters, priority=3)
    parsed = parse_model_infer(request)
    assert parsed.images[:2] == images and np.array_equal(parsed.images[2], rgb) and len(parsed.images) == 3
    assert parsed.changes == {"conf": 0.3, "iou": 0.5, "max_det": 7, "classes": (0, 2), "agnostic": True}
    assert list(parsed.outputs) == ["boxes", "counts"] and parsed.id == "7"


def test_typed_contents_decode() -> None:
    rgb = make_images()[4]
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="images", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"jpeg")
    request.inputs.add(name="pixels", datatype="UINT8", shape=list(rgb.shape)).contents.uint_contents.extend(
        rgb.reshape(-1).tolist()
    )
    parsed = parse_model_infer(request)
    assert parsed.images[0] == b"jpeg" and np.array_equal(parsed.images[1], rgb)
    assert parsed.outputs == {} and parsed.id is None and parsed.changes == {}


def test_parameter_types() -> None:
    request = pb.ModelInferRequest()
    request.parameters["a"].bool_param = True
    request.parameters["b"].int64_param = -3
    request.parameters["c"].string_param = "x"
    request.parameters["d"].double_param = 0.5
    request.parameters["e"].uint64_param = 9
    request.parameters["f"].SetInParent()  # set, with no value
    assert parameter_values(request.parameters) == {"a": True, "b": -3, "c": "x", "d": 0.5, "e": 9, "f": None}


@pytest.mark.parametrize("sizes", [(0,), (3, 0, 2)])
def test_response_decodes_in_tritonclient(sizes: tuple[int, ...]) -> None:
    per_image = [detections(n, i) for i, n in enumerate(sizes)]
    ours = model_infer_response("m", detection_tensors(per_image), InferRequest([], {}, id="x"))
    result = grpcclient.InferResult(triton_pb.ModelInferResponse.FromString(ours.SerializeToString()))
    answer = result.get_response(as_json=True)
    assert answer["id"] == "x" and answer["model_name"] == "m" and answer["model_version"] == "1"
    assert [o["name"] for o in answer["outputs"]] == list(OUTPUTS)
    assert result.as_numpy("counts").tolist() == list(sizes)
    np.testing.assert_array_equal(result.as_numpy("boxes"), np.concatenate([d.xyxy for d in per_image]))
    np.testing.assert_array_equal(result.as_numpy("scores"), np.concatenate([d.scores for d in per_image]))
    assert result.as_numpy("class_ids").dtype == np.int64
    assert result.as_numpy("labels").tolist() == [label.encode() for d in per_image for label in d.labels]


def test_response_has_only_the_requested_outputs_in_order() -> None:
    request = InferRequest([], {}, outputs={"counts": True, "boxes": True})
    response = model_infer_response("m", detection_tensors([detections(2)]), request)
    assert [o.name for o in response.outputs] == ["counts", "boxes"] and len(response.raw_output_contents) == 2
    assert list(response.outputs[1].shape) == [2, 4] and response.outputs[1].datatype == "FP32"


def test_metadata_is_the_http_json() -> None:
    response = model_metadata_response("m", "trt-detect", ["1"])
    as_json = json_format.MessageToDict(response, preserving_proto_field_name=True)
    for tensor in as_json["inputs"] + as_json["outputs"]:
        tensor["shape"] = [int(d) for d in tensor["shape"]]  # int64 is a JSON string in protobuf's mapping
    assert as_json == model_metadata("m", "trt-detect", ["1"])


def bytes_input(shape: list[int], raw: bytes | None = None, datatype: str = "BYTES", name: str = "images") -> Any:
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    if raw is not None:
        request.raw_input_contents.append(raw)
    return request


def with_parameter(key: str, value: float) -> pb.ModelInferRequest:
    request = bytes_input([1], serialize_bytes(np.array([b"x"], dtype=object)))
    request.parameters[key].double_param = value
    return request


def both_contents() -> pb.ModelInferRequest:
    request = bytes_input([1], serialize_bytes(np.array([b"x"], dtype=object)))
    request.inputs[0].contents.bytes_contents.append(b"x")
    return request


def unknown_output() -> pb.ModelInferRequest:
    request = bytes_input([1], serialize_bytes(np.array([b"x"], dtype=object)))
    request.outputs.add(name="masks")
    return request


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (pb.ModelInferRequest(model_name="m"), "inputs"),
        (bytes_input([1], b"\x05\x00\x00\x00ab"), "runs past"),
        (bytes_input([2], serialize_bytes(np.array([b"x"], dtype=object))), "1 elements"),
        (bytes_input([1, 2], serialize_bytes(np.array([b"x", b"y"], dtype=object))), r"\[N\]"),
        (bytes_input([1], b"", datatype="FP32"), "datatype"),
        (bytes_input([1], b"", name="img"), "unknown input"),
        (bytes_input([1, 2, 3], bytes(5), datatype="UINT8", name="pixels"), "6 values"),
        (bytes_input([2, 2], bytes(4), datatype="UINT8", name="pixels"), "shape"),
        (with_parameter("cnf", 0.3), "unknown parameter"),
        (both_contents(), "contents as well"),
        (unknown_output(), "unknown output"),
    ],
)
def test_malformed_requests_raise(request_: pb.ModelInferRequest, match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        parse_model_infer(request_)


def test_raw_contents_must_match_the_inputs() -> None:
    request = bytes_input([1], serialize_bytes(np.array([b"x"], dtype=object)))
    request.inputs.add(name="images", datatype="BYTES", shape=[1])
    with pytest.raises(InvalidRequestError, match="one per input"):
        parse_model_infer(request)


def test_typed_pixels_are_range_checked() -> None:
    request = pb.ModelInferRequest()
    request.inputs.add(name="pixels", datatype="UINT8", shape=[1, 1, 3]).contents.uint_contents.extend([1, 2, 300])
    with pytest.raises(InvalidRequestError, match=r"0\.\.255"):
        parse_model_infer(request)


class UnknownModel(InvalidRequestError):
    http_status = 404


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidImageError("bad"), "INVALID_ARGUMENT"),
        (ImageTooLargeError("big"), "INVALID_ARGUMENT"),
        (InvalidRequestError("conf"), "INVALID_ARGUMENT"),
        (RequestTooLargeError("many"), "INVALID_ARGUMENT"),
        (UnknownModel("who"), "NOT_FOUND"),
        (OverloadedError("full"), "UNAVAILABLE"),
        (DeadlineExceededError("late"), "DEADLINE_EXCEEDED"),
        (TrtDetectError("oops"), "INTERNAL"),
    ],
)
def test_errors_map_to_grpc_codes(error: TrtDetectError, code: str) -> None:
    assert grpc_status(error.http_status) == code
