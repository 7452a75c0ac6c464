"""The Open Inference Protocol (KServe v2) over gRPC for a detector: protobuf messages <-> tensors.

Pure functions, no Ray, no gRPC server: the Serve Ingress (``deployments/kserve_grpc.py``) calls
them.  The tensors, their names and checks are those of the HTTP codec (``trt_core.kserve_v2``):
inputs ``images`` (``BYTES`` ``[N]``, encoded images) and ``pixels`` (``UINT8`` ``[N, H, W, 3]``
or ``[H, W, 3]``, RGB), either as ``raw_input_contents`` (what Triton's clients send: ``BYTES``
elements length-prefixed, as in the binary extension) or as typed ``contents``
(``bytes_contents``, ``uint_contents``); thresholds as request ``parameters`` (``conf``,
``iou``, ``max_det``, ``classes``, ``agnostic``; any of the protocol's parameter types).
Outputs are answered as ``raw_output_contents`` (what ``tritonclient.grpc`` reads).

The messages are ``trt_core.proto``'s, generated from the protocol's own ``.proto``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import json_format

from trt_core.errors import InvalidRequestError
from trt_core.kserve_v2 import (
    BYTES_INPUT,
    OUTPUT_TYPES,
    OUTPUTS,
    InferRequest,
    check_input,
    deserialize_bytes,
    encoded_images,
    model_metadata,
    parameter_changes,
    pixel_images,
    pixel_values,
    raw_tensor,
    requested_outputs,
)
from trt_core.proto import open_inference_grpc_pb2 as pb

# The gRPC status (grpc.StatusCode name) of each HTTP status the project's errors carry
GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def grpc_status(http_status: int) -> str:
    """The ``grpc.StatusCode`` name of an error that HTTP answers with ``http_status``."""
    return GRPC_STATUS.get(http_status, "INTERNAL")


def parameter_values(parameters: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """A protobuf parameter map as plain values (whichever of bool/int64/string/double/uint64 is set)."""
    values: dict[str, Any] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        values[key] = None if choice is None else getattr(parameter, choice)
    return values


def parse_model_infer(request: pb.ModelInferRequest) -> InferRequest:
    """The images, thresholds and wanted outputs of a ``ModelInfer`` request."""
    if not request.inputs:
        raise InvalidRequestError("the inference request needs a non-empty 'inputs' list")
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidRequestError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; give one per input, in order"
        )
    images: list[bytes | np.ndarray] = []
    for index, tensor in enumerate(request.inputs):
        shape = check_input(tensor.name, tensor.datatype, list(tensor.shape))
        if raw and tensor.HasField("contents"):
            raise InvalidRequestError(f"input {tensor.name!r} has contents as well as raw_input_contents")
        if tensor.name == BYTES_INPUT:
            elements = deserialize_bytes(raw[index]) if raw else list(tensor.contents.bytes_contents)
            images.extend(encoded_images(shape, elements))
        else:
            values = np.frombuffer(raw[index], dtype=np.uint8) if raw else pixel_values(tensor.contents.uint_contents)
            images.extend(pixel_images(shape, values))
    outputs = requested_outputs([{"name": output.name} for output in request.outputs] or None)
    changes = parameter_changes(parameter_values(request.parameters))
    return InferRequest(images, changes, outputs, binary_output=True, id=request.id or None)


def model_infer_response(
    model: str, tensors: Mapping[str, np.ndarray], request: InferRequest, version: str = "1"
) -> pb.ModelInferResponse:
    """The requested outputs (every one when none is named) as ``raw_output_contents``."""
    response = pb.ModelInferResponse(model_name=model, model_version=version, id=request.id or "")
    for name in list(request.outputs) or list(OUTPUTS):
        array = tensors[name]
        response.outputs.add(name=name, datatype=OUTPUT_TYPES[name], shape=list(array.shape))
        response.raw_output_contents.append(raw_tensor(name, array))
    return response


def model_metadata_response(name: str, platform: str, versions: Sequence[str] = ("1",)) -> pb.ModelMetadataResponse:
    """``ModelMetadata``: the same inputs and outputs as ``GET /v2/models/{name}``."""
    return json_format.ParseDict(model_metadata(name, platform, versions), pb.ModelMetadataResponse())
