"""fp16 conversion of the uint8-prefixed graph (what TensorRT 11 builds from), checked by
running both graphs in ONNX Runtime (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto

from tests.models import yolo_like_model
from trt_core.onnx_graph import with_uint8_input
from trt_core.spec import ModelSpec
from trt_core.trt.builder import onnx_for_parser
from trt_core.trt.fp16 import convert_to_fp16

BUNDLED = Path(__file__).resolve().parents[2] / "trt_core" / "data" / "shapes-yolov3-tiny.onnx"


def run(model_bytes: bytes, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, {session.get_inputs()[0].name: x})]


def compare(model: onnx.ModelProto, size: int) -> None:
    x = np.random.default_rng(0).integers(0, 256, (3, 3, size, size), dtype=np.uint8)
    fp32 = run(onnx_for_parser(model, input_scale=1 / 255, fp16_graph=False), x)
    fp16 = run(onnx_for_parser(model, input_scale=1 / 255, fp16_graph=True), x)
    for a, b in zip(fp32, fp16):
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        scale = float(np.abs(a).max())
        assert np.abs(a - b).max() <= 2e-2 * max(scale, 1.0), (np.abs(a - b).max(), scale)


def test_fp16_matches_fp32_within_tolerance() -> None:
    compare(yolo_like_model(size=96, classes=4), 96)


@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled model not present")
def test_fp16_bundled_model() -> None:
    model = onnx.load(str(BUNDLED))
    compare(model, ModelSpec.from_onnx_model(model).input_hw[0])


def test_io_types_and_names_are_kept() -> None:
    model = with_uint8_input(yolo_like_model())
    converted = convert_to_fp16(model)
    assert [i.name for i in converted.graph.input] == ["images"]
    assert converted.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert [(o.name, o.type.tensor_type.elem_type) for o in converted.graph.output] == [
        ("head32", TensorProto.FLOAT),
        ("head16", TensorProto.FLOAT),
    ]
    cast = converted.graph.node[0]
    assert cast.op_type == "Cast" and cast.input[0] == "images"
    assert next(a.i for a in cast.attribute if a.name == "to") == TensorProto.FLOAT16
    weights = {i.name: i.data_type for i in converted.graph.initializer}
    assert weights["c1_w"] == TensorProto.FLOAT16
    assert model.graph.initializer[0].data_type == TensorProto.FLOAT  # the input model is untouched


def test_onnx_for_parser_keeps_metadata_and_uint8_input() -> None:
    model = yolo_like_model()
    for fp16 in (False, True):
        prepared = onnx.load_from_string(onnx_for_parser(model, input_scale=1 / 255, fp16_graph=fp16))
        assert prepared.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
        assert {p.key for p in prepared.metadata_props} == {p.key for p in model.metadata_props}
        onnx.checker.check_model(prepared)
