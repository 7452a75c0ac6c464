from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from trt_core.onnx_graph import with_uint8_input


def run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def test_uint8_prefix_matches_float_model(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64), dtype=np.uint8)
    expected = run(model, x.astype(np.float32) / 255.0)
    prefixed = with_uint8_input(model)
    assert prefixed.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert prefixed.graph.input[0].name == model.graph.input[0].name
    for got, want in zip(run(prefixed, x), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert {p.key for p in prefixed.metadata_props} == {p.key for p in model.metadata_props}


def test_prefix_does_not_touch_the_original(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    before = model.SerializeToString()
    with_uint8_input(model)
    assert model.SerializeToString() == before


def test_prefix_is_idempotent(tiny_model: Path) -> None:
    once = with_uint8_input(onnx.load(str(tiny_model)))
    assert len(with_uint8_input(once).graph.node) == len(once.graph.node)


def test_float16_input_model() -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "f16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 3, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 3, 2, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    x = np.full((1, 3, 2, 2), 255, np.uint8)
    np.testing.assert_allclose(run(with_uint8_input(model), x)[0], 1.0, atol=1e-3)
