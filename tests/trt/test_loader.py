"""The TensorRT loader's pure parts: binding order and the options an engine is built with."""

from __future__ import annotations

from pathlib import Path

import pytest

from trt_core.errors import BackendError
from trt_core.graph import as_prepared
from trt_core.spec import ModelSpec
from trt_core.tensors import IOTensor
from trt_core.trt.loader import engine_options, in_spec_order
from trt_core.trt.options import BuildOptions


def test_bindings_follow_the_spec_and_keep_extra_outputs_last(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    names = list(spec.output_names)
    image = IOTensor(spec.input.name, (-1, 3, 64, 64), "uint8", True)
    outputs = [IOTensor(n, (-1, 4), "float32", False) for n in reversed(names)]
    extra = IOTensor("debug", (-1, 1), "float32", False)
    ordered = in_spec_order([*outputs, extra, image], spec)
    assert [t.name for t in ordered] == [spec.input.name, *names, "debug"]
    with pytest.raises(BackendError, match="lacks outputs"):
        in_spec_order([image, *outputs[1:]], spec)
    with pytest.raises(BackendError, match="model input"):
        in_spec_order([IOTensor("other", (-1, 3, 64, 64), "uint8", True), *outputs], spec)


def test_engine_options_take_the_graphs_size_and_fixed_batch(tiny_model: Path, tmp_path: Path) -> None:
    from tests.models import tiny_yolov3

    graph = as_prepared(tiny_model, ModelSpec.from_onnx(tiny_model))
    options = engine_options(graph, BuildOptions(max_batch=8))
    assert options.input_hw == graph.spec.input_hw and options.max_batch == 8
    fixed = tiny_yolov3(tmp_path / "b2.onnx", batch=2)
    assert engine_options(as_prepared(fixed, ModelSpec.from_onnx(fixed)), BuildOptions(max_batch=8)).max_batch == 2
