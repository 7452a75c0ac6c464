"""``prepare_graph``: one deterministic place that rewrites the model, and its recipe."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest

from trt_core.backends import create_backend
from trt_core.errors import ModelSpecError
from trt_core.graph import GraphRecipe, PreparedGraph, as_prepared, prepare_graph, with_fp16
from trt_core.onnx_decode import PREFIX
from trt_core.spec import ModelSpec


def input_type(graph: PreparedGraph) -> int:
    return int(onnx.load_from_string(graph.model).graph.input[0].type.tensor_type.elem_type)


def test_default_recipe_decodes_on_device_with_uint8_input(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    graph = prepare_graph(tiny_model, spec)
    assert graph.recipe == GraphRecipe() and graph.decode == "device"
    assert input_type(graph) == onnx.TensorProto.UINT8
    assert graph.spec.format == "candidates" and graph.spec.output_names == ("candidates",)
    assert graph.spec.input == spec.input and graph.spec.names == spec.names


def test_deterministic_and_the_source_is_untouched(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    model = onnx.load(str(tiny_model))
    before = model.SerializeToString()
    first = prepare_graph(model, spec)
    assert model.SerializeToString() == before
    again = prepare_graph(tiny_model.read_bytes(), spec)
    assert first.model == again.model and first.sha256 == again.sha256
    assert prepare_graph(tiny_model, spec, GraphRecipe(topk=7)).sha256 != first.sha256


def test_formats_that_cannot_decode_on_device_fall_back(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model).replace(format="end2end")
    graph = prepare_graph(tiny_model, spec, GraphRecipe(decode="device"))
    assert graph.decode == "host" and graph.recipe == GraphRecipe(decode="host")
    assert graph.spec == spec and input_type(graph) == onnx.TensorProto.UINT8


def test_recipe_validation_and_key() -> None:
    with pytest.raises(ModelSpecError, match="decode place"):
        GraphRecipe(decode="gpu")  # type: ignore[arg-type]
    with pytest.raises(ModelSpecError, match="topk"):
        GraphRecipe(topk=0)
    assert GraphRecipe.from_decode_topk(None) == GraphRecipe(decode="host")
    assert GraphRecipe.from_decode_topk(50) == GraphRecipe(decode="device", topk=50)
    keys = {
        repr(sorted(r.key().items()))
        for r in (
            GraphRecipe(),
            GraphRecipe(fp16=True),
            GraphRecipe(topk=9),
            GraphRecipe(decode="host"),
            GraphRecipe(uint8_input=False),
        )
    }
    assert len(keys) == 5


def test_prepared_graph_pickles_and_runs_as_given(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    graph = pickle.loads(pickle.dumps(prepare_graph(tiny_model, spec)))
    assert as_prepared(graph) is graph
    # provider_options are for ONNX Runtime's CUDA provider: the CPU backend leaves them be
    options = {"provider_options": {"enable_cuda_graph": "1"}}
    with create_backend(graph, backend="onnxruntime", device="cpu", max_batch=2, options=options) as backend:
        assert backend.output_names == ["candidates"]
        (out,) = backend.infer(np.zeros((2, 3, 64, 64), np.uint8))
        assert out.shape == (2, 60, 6)


def test_plain_models_get_the_minimal_recipe(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    graph = as_prepared(tiny_model, spec)
    assert graph.recipe == GraphRecipe(decode="host") and graph.spec == spec
    assert input_type(graph) == onnx.TensorProto.UINT8
    assert as_prepared(graph.model, spec).model == graph.model  # a uint8 graph is not prefixed twice
    with pytest.raises(ModelSpecError, match="ModelSpec"):
        as_prepared(tiny_model)


def test_fp16_keeps_decode_in_fp32_and_stays_close(tiny_model: Path) -> None:
    import onnxruntime as ort

    spec = ModelSpec.from_onnx(tiny_model)
    fp32 = prepare_graph(tiny_model, spec)
    fp16 = prepare_graph(tiny_model, spec, GraphRecipe(fp16=True))
    assert with_fp16(fp32).model == fp16.model and with_fp16(fp16) is fp16
    model = onnx.load_from_string(fp16.model)
    conv_weights = [i for i in model.graph.initializer if i.name in ("w32", "w16")]
    assert conv_weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in conv_weights)
    decode_consts = [i for i in model.graph.initializer if i.name.startswith(PREFIX) and i.data_type in (1, 10)]
    assert decode_consts and all(i.data_type == onnx.TensorProto.FLOAT for i in decode_consts)
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64), dtype=np.uint8)
    outs = [
        ort.InferenceSession(g.model, providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
        for g in (fp32, fp16)
    ]
    np.testing.assert_allclose(outs[1][:, :5, :5], outs[0][:, :5, :5], rtol=1e-3, atol=0.02)  # the best five
    assert [n.op_type for n in model.graph.node[:3]] == ["Cast", "Mul", "Conv"]  # uint8 -> fp16, scale, body
