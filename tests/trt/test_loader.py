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


@pytest.mark.parametrize("topk", [None, 0, 50])
def test_trt_detect_build_asks_for_the_engine_the_detector_loads(tiny_model: Path, topk: int | None) -> None:
    """Same graph bytes and recipe, same key options: what ``trt-detect build`` caches is what
    ``Detector.from_onnx(..., backend="tensorrt")`` / the Serve app (same decode_topk) look up."""
    import argparse

    from trt_core.cli import build
    from trt_core.graph import GraphRecipe, prepare_graph
    from trt_core.onnx_decode import DEFAULT_TOPK

    parser = argparse.ArgumentParser()
    build.add_parser(parser.add_subparsers())
    argv = ["build", str(tiny_model), "--fp16", "--max-batch", "8", "--timing-cache", "t.cache"]
    graph, options = build.engine_request(
        parser.parse_args(argv + ([f"--decode-topk={topk}"] if topk is not None else []))
    )
    decode_topk = DEFAULT_TOPK if topk is None else topk
    want = prepare_graph(tiny_model, ModelSpec.from_onnx(tiny_model), GraphRecipe.from_decode_topk(decode_topk))
    assert graph.model == want.model and graph.recipe == want.recipe
    assert graph.decode == ("host" if topk == 0 else "device")
    # TensorRTBackend.from_onnx(graph, max_batch=8, precision="fp16"): the options it keys on
    backend_options = engine_options(want, BuildOptions().replace(max_batch=8, precision="fp16"))
    assert options.key_fields() == backend_options.key_fields()
