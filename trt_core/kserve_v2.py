"""The Open Inference Protocol (KServe v2) for a detector: request decoding, response encoding.

Pure functions, no Ray, no web framework: the Serve Ingress (``deployments/kserve.py``) calls
them.  Inputs are images, either encoded (``images``, ``BYTES`` ``[N]``: JPEG, PNG, ...) or
decoded (``pixels``, ``UINT8`` ``[N, H, W, 3]`` or ``[H, W, 3]``, RGB); thresholds travel as
request ``parameters`` (``conf``, ``iou``, ``max_det``, ``classes``, ``agnostic``).  Outputs
are the detections of all images concatenated (``boxes`` ``FP32 [M, 4]`` xyxy pixels,
``scores`` ``FP32 [M]``, ``class_ids`` ``INT64 [M]``, ``labels`` ``BYTES [M]``) and
``counts`` ``INT32 [N]``, the number of detections of each image, in order.

Both encodings of the protocol are spoken: plain JSON (``BYTES`` elements of a JSON request
are base64 strings, since image bytes are not text) and the binary tensor data extension
(``Inference-Header-Content-Length``; ``BYTES`` elements as 4-byte little-endian lengths
followed by the bytes, as Triton's clients write them).  The codec is a few lines, written
here rather than taken from ``tritonclient`` so that the server does not depend on a client
package and its gevent stack.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trt_core.detections import Detections
from trt_core.errors import InvalidImageError, InvalidRequestError
from trt_core.params import QUERY_KEYS, parse_classes

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
BYTES_INPUT, PIXELS_INPUT = "images", "pixels"
OUTPUTS = ("boxes", "scores", "class_ids", "labels", "counts")
# Request parameters of the protocol or of Triton's clients that carry no meaning here
IGNORED_PARAMETERS = frozenset(
    {"binary_data_output", "sequence_id", "sequence_start", "sequence_end", "priority", "timeout"}
)
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(bool),
    "UINT8": np.dtype(np.uint8),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
OUTPUT_TYPES = {"boxes": "FP32", "scores": "FP32", "class_ids": "INT64", "labels": "BYTES", "counts": "INT32"}


@dataclass(frozen=True)
class InferRequest:
    """One decoded ``/infer`` request."""

    images: list[bytes | np.ndarray]
    changes: dict[str, Any]  # typed DetectParams fields, not yet range-checked
    outputs: dict[str, bool] = field(default_factory=dict)  # requested name -> binary; empty: all
    binary_output: bool = False  # the default for outputs not named
    id: str | None = None


def model_metadata(name: str, platform: str, versions: Sequence[str] = ("1",)) -> dict[str, Any]:
    """``GET /v2/models/{name}``."""
    return {
        "name": name,
        "versions": list(versions),
        "platform": platform,
        "inputs": [
            {"name": BYTES_INPUT, "datatype": "BYTES", "shape": [-1]},
            {"name": PIXELS_INPUT, "datatype": "UINT8", "shape": [-1, -1, -1, 3]},
        ],
        "outputs": [
            {"name": "boxes", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "scores", "datatype": "FP32", "shape": [-1]},
            {"name": "class_ids", "datatype": "INT64", "shape": [-1]},
            {"name": "labels", "datatype": "BYTES", "shape": [-1]},
            {"name": "counts", "datatype": "INT32", "shape": [-1]},
        ],
    }


# -- requests -----------------------------------------------------------------------------------
def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """The images, thresholds and wanted outputs of an ``/infer`` body (JSON, maybe + binary)."""
    json_size = _header_length(header_length, len(body))
    try:
        request = json.loads(body[:json_size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"the inference request header is not JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise InvalidRequestError("the inference request needs a non-empty 'inputs' list")
    binary = memoryview(body)[json_size:]
    images: list[bytes | np.ndarray] = []
    for tensor in request["inputs"]:
        values, binary = _input_images(tensor, binary)
        images.extend(values)
    if len(binary):
        raise InvalidRequestError(f"{len(binary)} bytes of binary data follow the inputs that no input claims")
    parameters = request.get("parameters") or {}
    outputs = requested_outputs(request.get("outputs"))
    request_id = request.get("id")
    return InferRequest(
        images,
        parameter_changes(parameters),
        outputs,
        bool(parameters.get("binary_data_output", False)),
        str(request_id) if request_id is not None else None,
    )


def _header_length(value: str | None, body_size: int) -> int:
    if value is None:
        return body_size
    if not value.strip().isdigit() or int(value) > body_size:
        raise InvalidRequestError(
            f"{HEADER_LENGTH} must be an integer from 0 to the body size {body_size}, got {value!r}"
        )
    return int(value)


def _input_images(tensor: Any, binary: memoryview) -> tuple[list[bytes | np.ndarray], memoryview]:
    """The images of one input tensor and the binary data left after it."""
    if not isinstance(tensor, dict):
        raise InvalidRequestError("each input must be an object with name, datatype, shape and data")
    name = tensor.get("name")
    shape = check_input(name, tensor.get("datatype"), tensor.get("shape"))
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    raw: bytes | None = None
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary):
            raise InvalidRequestError(f"input {name!r} claims binary_data_size {size!r}; {len(binary)} bytes are left")
        raw, binary = bytes(binary[:size]), binary[size:]
    elif "data" not in tensor:
        raise InvalidRequestError(f"input {name!r} has neither 'data' nor a binary_data_size parameter")
    if name == BYTES_INPUT:
        elements = deserialize_bytes(raw) if raw is not None else _base64_elements(tensor.get("data"))
        return encoded_images(shape, elements), binary
    pixels = np.frombuffer(raw, dtype=np.uint8) if raw is not None else pixel_values(tensor.get("data"))
    return pixel_images(shape, pixels), binary


def check_input(name: Any, datatype: Any, shape: Any) -> list[int]:
    """The shape of an input tensor whose name, datatype and shape this model takes (else 422)."""
    expected = {BYTES_INPUT: "BYTES", PIXELS_INPUT: "UINT8"}
    if name not in expected:
        raise InvalidRequestError(
            f"unknown input {name!r}: inputs are {BYTES_INPUT!r} (BYTES) and {PIXELS_INPUT!r} (UINT8)"
        )
    if datatype != expected[name]:
        raise InvalidRequestError(f"input {name!r} must have datatype {expected[name]}, got {datatype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidRequestError(f"input {name!r} needs a shape of non-negative integers, got {shape!r}")
    return list(shape)


def encoded_images(shape: list[int], elements: Sequence[bytes]) -> list[bytes | np.ndarray]:
    """The encoded images of a ``BYTES`` input of ``shape`` ([N] or [N, 1])."""
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise InvalidRequestError(f"input {BYTES_INPUT!r} must have shape [N] or [N, 1], got {shape}")
    if len(elements) != int(np.prod(shape)):
        raise InvalidRequestError(f"input {BYTES_INPUT!r} has shape {shape} but {len(elements)} elements")
    return list(elements)


def _base64_elements(data: Any) -> list[bytes]:
    flat = np.asarray(data, dtype=object).reshape(-1).tolist() if isinstance(data, list) else [data]
    try:
        return [base64.b64decode(item, validate=True) for item in flat]
    except (binascii.Error, TypeError, ValueError):
        raise InvalidImageError(
            f"the elements of {BYTES_INPUT!r} in a JSON request must be base64 strings",
            hint="or send them as binary data (Triton clients: binary_data=True)",
        ) from None


def pixel_values(data: Any) -> np.ndarray:
    """Integer values 0..255 (a JSON list, or a protobuf's repeated ``uint_contents``) as ``uint8``."""
    try:
        values = np.asarray(data, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"input {PIXELS_INPUT!r} data must be integers 0..255") from None
    if values.size and (values.min() < 0 or values.max() > 255):
        raise InvalidRequestError(f"input {PIXELS_INPUT!r} values must be 0..255")
    return values.astype(np.uint8)


def pixel_images(shape: list[int], pixels: np.ndarray) -> list[bytes | np.ndarray]:
    """The RGB images of a ``UINT8`` input of ``shape`` ([N, H, W, 3] or [H, W, 3]) from its flat values."""
    if len(shape) not in (3, 4) or shape[-1] != 3:
        raise InvalidRequestError(f"input {PIXELS_INPUT!r} must have shape [N, H, W, 3] or [H, W, 3], got {shape}")
    count = int(np.prod(shape))
    if pixels.size != count:
        raise InvalidRequestError(f"input {PIXELS_INPUT!r} has shape {shape} ({count} values) but {pixels.size} values")
    batch = pixels.reshape(shape if len(shape) == 4 else [1, *shape])
    return [np.ascontiguousarray(image) for image in batch]


def parameter_changes(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The threshold parameters of a request as typed ``DetectParams`` fields (unknown names: 422)."""
    if not isinstance(parameters, Mapping):
        raise InvalidRequestError("'parameters' must be an object")
    unknown = {
        k for k in parameters if k not in QUERY_KEYS and k not in IGNORED_PARAMETERS and not k.startswith("triton_")
    }
    if unknown:
        raise InvalidRequestError(f"unknown parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(QUERY_KEYS)}")
    changes = {k: v for k, v in parameters.items() if k in QUERY_KEYS and v is not None}
    if isinstance(changes.get("classes"), str):
        changes["classes"] = parse_classes(changes["classes"]) or None
    elif isinstance(changes.get("classes"), int) and not isinstance(changes["classes"], bool):
        changes["classes"] = (changes["classes"],)
    if "agnostic" in changes and not isinstance(changes["agnostic"], bool):
        raise InvalidRequestError(f"agnostic must be true or false, got {changes['agnostic']!r}")
    return {k: v for k, v in changes.items() if v is not None}


def requested_outputs(outputs: Any) -> dict[str, bool]:
    """Requested output name -> whether it is wanted as binary data; empty: every output."""
    if outputs is None:
        return {}
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise InvalidRequestError("'outputs' must be a list of objects with a name")
    wanted: dict[str, bool] = {}
    for output in outputs:
        name = output.get("name")
        if name not in OUTPUTS:
            raise InvalidRequestError(f"unknown output {name!r}: outputs are {', '.join(OUTPUTS)}")
        wanted[name] = bool((output.get("parameters") or {}).get("binary_data", False))
    return wanted


# -- responses ----------------------------------------------------------------------------------
def detection_tensors(per_image: Sequence[Detections]) -> dict[str, np.ndarray]:
    """The output tensors of the detections of every image of a request, in order."""
    return {
        "boxes": np.concatenate([d.xyxy for d in per_image]).astype(np.float32).reshape(-1, 4),
        "scores": np.concatenate([d.scores for d in per_image]).astype(np.float32),
        "class_ids": np.concatenate([d.class_ids for d in per_image]).astype(np.int64),
        "labels": np.array([label.encode() for d in per_image for label in d.labels], dtype=object),
        "counts": np.array([len(d) for d in per_image], dtype=np.int32),
    }


def encode_infer_response(
    model: str, tensors: Mapping[str, np.ndarray], request: InferRequest, version: str = "1"
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary tensors follow it."""
    names = list(request.outputs) or list(OUTPUTS)
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name in names:
        array = tensors[name]
        entry: dict[str, Any] = {"name": name, "datatype": OUTPUT_TYPES[name], "shape": list(array.shape)}
        if request.outputs.get(name, request.binary_output):
            raw = raw_tensor(name, array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif OUTPUT_TYPES[name] == "BYTES":
            entry["data"] = [item.decode() for item in array.reshape(-1).tolist()]
        else:
            entry["data"] = array.reshape(-1).tolist()
        outputs.append(entry)
    header: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": outputs}
    if request.id is not None:
        header = {"id": request.id, **header}
    text = json.dumps(header, separators=(",", ":")).encode()
    if not chunks:
        return text, None
    return b"".join([text, *chunks]), len(text)


def raw_tensor(name: str, array: np.ndarray) -> bytes:
    """Output ``name``'s binary data: flat, row-major, little-endian (``BYTES``: length-prefixed)."""
    if OUTPUT_TYPES[name] == "BYTES":
        return serialize_bytes(array)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def serialize_bytes(array: np.ndarray) -> bytes:
    """``BYTES`` elements as the binary extension lays them out: ``<u4 length`` + bytes each."""
    return b"".join(struct.pack("<I", len(item)) + item for item in array.reshape(-1).tolist())


def deserialize_bytes(raw: bytes) -> list[bytes]:
    """The elements of a binary ``BYTES`` tensor (malformed lengths: 400)."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidRequestError("BYTES tensor data ends inside an element's 4-byte length")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidRequestError(f"BYTES tensor element of {size} bytes runs past the end of its data")
        elements.append(raw[offset : offset + size])
        offset += size
    return elements
