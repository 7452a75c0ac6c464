"""The in-graph decode + TopK gives what the numpy decoder gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from trt_core.decoders import decode
from trt_core.errors import ModelSpecError
from trt_core.onnx_decode import with_candidates
from trt_core.onnx_graph import with_uint8_input
from trt_core.params import DetectParams
from trt_core.postprocess import postprocess
from trt_core.preprocess import Geometry
from trt_core.spec import ModelSpec


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("scale_x_y", [None, (1.05, 1.1)])
def test_candidates_match_numpy_decode(tiny_model: Path, scale_x_y: tuple[float, float] | None) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    if scale_x_y:
        spec = spec.replace(scale_x_y=scale_x_y)
    model = with_uint8_input(onnx.load(str(tiny_model)))
    decoded, cand_spec = with_candidates(model, spec, topk=1000)
    assert cand_spec.format == "candidates" and cand_spec.outputs[0].shape == (-1, 60, 6)  # 3*(2*2 + 4*4)
    x = np.random.default_rng(2).integers(0, 256, (3, 3, 64, 64), dtype=np.uint8)
    raw = session(model).run(None, {"images": x})
    (cands,) = session(decoded).run(None, {"images": x})
    assert cands.shape == (3, 60, 6)
    for i in range(3):
        want = decode([r[i] for r in raw], spec, conf=0.0)
        got = decode([cands[i]], cand_spec, conf=0.0)
        order_w, order_g = np.argsort(-want.scores, kind="stable"), np.argsort(-got.scores, kind="stable")
        np.testing.assert_allclose(got.scores[order_g], want.scores[order_w], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.xyxy[order_g], want.xyxy[order_w], rtol=1e-4, atol=1e-3)
        geometry = Geometry(64, 64, 1.0, 1.0, 0.0, 0.0)
        a = postprocess([r[i] for r in raw], spec, geometry, DetectParams(conf=0.05))
        b = postprocess([cands[i]], cand_spec, geometry, DetectParams(conf=0.05))
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
        assert a.class_ids.tolist() == b.class_ids.tolist()


def test_topk_keeps_the_best(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    model = with_uint8_input(onnx.load(str(tiny_model)))
    decoded, _ = with_candidates(model, spec, topk=5)
    x = np.random.default_rng(3).integers(0, 256, (1, 3, 64, 64), dtype=np.uint8)
    (cands,) = session(decoded).run(None, {"images": x})
    full = decode([r[0] for r in session(model).run(None, {"images": x})], spec, conf=0.0)
    assert cands.shape == (1, 5, 6)
    np.testing.assert_allclose(cands[0, :, 4], np.sort(full.scores)[::-1][:5], rtol=1e-5)


def test_other_formats_are_refused(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model).replace(format="end2end")
    with pytest.raises(ModelSpecError, match="yolov3"):
        with_candidates(onnx.load(str(tiny_model)), spec)
