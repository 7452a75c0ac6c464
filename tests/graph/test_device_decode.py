"""Decode + top-K on the device, NMS on the host, equals the all-host path on the same model
outputs, for every format that decodes on the device (per class and class-agnostic,
``max_det``, class filters, no detections, tied scores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.compare import assert_same_detections
from trt_core.backends.onnxruntime import OnnxRuntimeBackend
from trt_core.detections import Detections
from trt_core.graph import GraphRecipe, PreparedGraph, prepare_graph
from trt_core.params import DetectParams
from trt_core.postprocess import postprocess
from trt_core.preprocess import Geometry
from trt_core.spec import ModelSpec

FORMATS = ("yolov3", "yolov5", "yolov8")
PARAMS = {
    "per-class": DetectParams(conf=0.05, iou=0.45),
    "agnostic": DetectParams(conf=0.05, iou=0.45, agnostic=True),
    "max_det": DetectParams(conf=0.05, iou=0.6, max_det=3),
    "classes": DetectParams(conf=0.05, classes=(1,)),
    "classes-agnostic": DetectParams(conf=0.05, classes=(0, 2), agnostic=True),
    "iou-1": DetectParams(conf=0.1, iou=1.0),
    "iou-0": DetectParams(conf=0.1, iou=0.0),
    "none": DetectParams(conf=1.0),
}


def run(graph: PreparedGraph, x: np.ndarray) -> list[list[np.ndarray]]:
    """Per image, the graph's outputs (batch axis removed)."""
    with OnnxRuntimeBackend(graph, device="cpu") as backend:
        outputs = backend.infer(x)
    return [[o[i] for o in outputs] for i in range(x.shape[0])]


def detections(graph: PreparedGraph, outputs: list[np.ndarray], params: DetectParams) -> Detections:
    h, w = graph.spec.input_hw
    return postprocess(outputs, graph.spec, Geometry(w, h, 1.0, 1.0, 0.0, 0.0), params)


def images(spec: ModelSpec, seed: int) -> np.ndarray:
    h, w = spec.input_hw
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (3, 3, h, w), dtype=np.uint8)
    x[2] = 128  # one flat image: every cell sees the same pixels, so scores tie
    return x


@pytest.mark.parametrize("fmt", FORMATS)
def test_device_decode_equals_host_decode(format_models: dict[str, Path], fmt: str) -> None:
    path = format_models[fmt]
    spec = ModelSpec.from_onnx(path)
    host = prepare_graph(path, spec, GraphRecipe(decode="host"))
    device = prepare_graph(path, spec, GraphRecipe(decode="device", topk=100_000))
    assert host.decode == "host" and host.spec == spec
    assert device.decode == "device" and device.spec.format == "candidates"
    x = images(spec, seed=len(fmt))
    seen = 0
    for raw, cands in zip(run(host, x), run(device, x)):
        for name, params in PARAMS.items():
            want = detections(host, raw, params)
            assert_same_detections(detections(device, cands, params), want)
            seen += len(want)
            if name == "none":
                assert len(want) == 0
    assert seen > 20  # the comparison covered real detections


@pytest.mark.parametrize("fmt", FORMATS)
def test_ties_keep_the_host_order(format_models: dict[str, Path], fmt: str) -> None:
    path = format_models[fmt]
    spec = ModelSpec.from_onnx(path)
    host = prepare_graph(path, spec, GraphRecipe(decode="host"))
    device = prepare_graph(path, spec, GraphRecipe(decode="device"))
    x = images(spec, seed=1)[2:]
    (cands,) = run(device, x)
    scores = cands[0][:, 4]
    assert len(np.unique(scores)) < len(scores)  # the flat image does tie
    (raw,) = run(host, x)
    for params in (DetectParams(conf=0.0, iou=0.3), DetectParams(conf=0.0, iou=0.3, agnostic=True)):
        assert_same_detections(detections(device, cands, params), detections(host, raw, params))


@pytest.mark.parametrize("fmt", FORMATS)
def test_top_k_keeps_the_host_result_s_best(format_models: dict[str, Path], fmt: str) -> None:
    """NMS over the K best candidates keeps exactly the host's kept boxes among those K:
    the device's detections are the first ones of the host's."""
    path = format_models[fmt]
    spec = ModelSpec.from_onnx(path)
    host = prepare_graph(path, spec, GraphRecipe(decode="host"))
    device = prepare_graph(path, spec, GraphRecipe(decode="device", topk=12))
    assert device.spec.outputs[0].shape[1] == 12
    x = images(spec, seed=5)[:2]
    for raw, cands in zip(run(host, x), run(device, x)):
        params = DetectParams(conf=0.0, iou=0.5)
        want = detections(host, raw, params)
        got = detections(device, cands, params)
        assert 0 < len(got) < len(want)
        assert_same_detections(got, want[np.arange(len(got))])
