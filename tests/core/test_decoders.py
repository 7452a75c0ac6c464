"""Each decoder against hand-computed cases, zero detections included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trt_core.decoders import decode, logit
from trt_core.params import DetectParams
from trt_core.postprocess import postprocess
from trt_core.preprocess import Geometry
from trt_core.spec import ModelSpec, TensorDesc

NAMES = {"names": '["a", "b"]'}
IDENTITY = Geometry(width=64, height=64, scale_x=1.0, scale_y=1.0, pad_x=0.0, pad_y=0.0)


def yolov3_spec() -> ModelSpec:
    outputs = (TensorDesc("h32", (-1, 14, 2, 2), "float32"), TensorDesc("h16", (-1, 14, 4, 4), "float32"))
    props = {"format": "yolov3", "anchors": "[[8, 8], [16, 16], [32, 32], [48, 48]]", "masks": "[[2, 3], [0, 1]]"}
    return ModelSpec.from_parts(TensorDesc("images", (-1, 3, 64, 64), "float32"), outputs, {**props, **NAMES})


def test_yolov3_single_cell_hand_computed() -> None:
    spec = yolov3_spec()
    h32 = np.full((14, 2, 2), -20.0, np.float32)
    h16 = np.full((14, 4, 4), -20.0, np.float32)
    # head 1 (stride 16), anchor slot 1 -> anchor index 1 = (16, 16); cell (gy=2, gx=1)
    cell = h16.reshape(2, 7, 4, 4)[1, :, 2, 1]
    cell[:] = [0.0, logit(0.25), math.log(2.0), math.log(0.5), logit(0.8), logit(0.1), logit(0.5)]
    got = decode([h32, h16], spec, conf=0.3)
    # cx = (0.5 + 1) * 16 = 24, cy = (0.25 + 2) * 16 = 36, w = 2 * 16 = 32, h = 0.5 * 16 = 8
    np.testing.assert_allclose(got.xyxy, [[8, 32, 40, 40]], atol=1e-4)
    np.testing.assert_allclose(got.scores, [0.8 * 0.5], atol=1e-6)
    assert got.class_ids.tolist() == [1]


def test_yolov3_scale_x_y() -> None:
    spec = yolov3_spec().replace(scale_x_y=(1.05, 1.1))
    h32 = np.full((14, 2, 2), -20.0, np.float32)
    h16 = np.full((14, 4, 4), -20.0, np.float32)
    h32.reshape(2, 7, 2, 2)[0, :, 0, 0] = [logit(1.0 - 1e-7), 0.0, 0.0, 0.0, 5.0, 5.0, -5.0]
    got = decode([h32, h16], spec, conf=0.1)
    # x = sigmoid * 1.05 - 0.025 ~= 1.025 -> cx = 32.8; anchor index 2 = 32 px wide
    np.testing.assert_allclose(got.xyxy[0, 0], 1.025 * 32 - 16, atol=1e-3)


def test_yolov3_zero_detections() -> None:
    spec = yolov3_spec()
    got = decode([np.full((14, 2, 2), -20.0, np.float32), np.full((14, 4, 4), -20.0, np.float32)], spec, 0.25)
    assert got.xyxy.shape == (0, 4) and got.scores.shape == (0,)
    result = postprocess([np.full((14, 2, 2), -20.0), np.full((14, 4, 4), -20.0)], spec, IDENTITY, DetectParams())
    assert len(result) == 0


def test_yolov3_objectness_gates_before_class_scores() -> None:
    spec = yolov3_spec()
    h32 = np.full((14, 2, 2), -20.0, np.float32)
    h16 = np.full((14, 4, 4), -20.0, np.float32)
    h32.reshape(2, 7, 2, 2)[1, :, 1, 1] = [0, 0, 0, 0, logit(0.5), 20.0, 20.0]
    assert len(decode([h32, h16], spec, conf=0.6).scores) == 0
    assert decode([h32, h16], spec, conf=0.4).scores.tolist() == pytest.approx([0.5], abs=1e-6)


def yolov5_spec(boxes: int = 3) -> ModelSpec:
    out = (TensorDesc("output0", (1, boxes, 7), "float32"),)
    return ModelSpec.from_parts(TensorDesc("images", (1, 3, 64, 64), "float32"), out, {**NAMES, "format": "yolov5"})


def test_yolov5_format_is_guessed_from_a_real_shape() -> None:
    out = (TensorDesc("output0", (1, 25200, 85), "float32"),)
    assert ModelSpec.from_parts(TensorDesc("images", (1, 3, 640, 640), "float32"), out, {}).format == "yolov5"


def test_yolov5_hand_computed() -> None:
    spec = yolov5_spec()
    raw = np.array(
        [[10, 10, 4, 4, 0.9, 0.2, 0.9], [30, 30, 10, 20, 0.5, 0.9, 0.1], [5, 5, 2, 2, 0.1, 1.0, 1.0]], np.float32
    )
    got = decode([raw], spec, conf=0.4)
    np.testing.assert_allclose(got.xyxy, [[8, 8, 12, 12], [25, 20, 35, 40]])
    np.testing.assert_allclose(got.scores, [0.81, 0.45], rtol=1e-6)
    assert got.class_ids.tolist() == [1, 0]
    assert len(decode([raw], spec, conf=0.95).scores) == 0


def test_yolov8_hand_computed() -> None:
    out = (TensorDesc("output0", (1, 6, 8400), "float32"),)
    spec = ModelSpec.from_parts(TensorDesc("images", (1, 3, 640, 640), "float32"), out, NAMES)
    assert spec.format == "yolov8"
    raw = np.zeros((6, 8400), np.float32)
    raw[:, 17] = [100, 50, 20, 10, 0.3, 0.7]
    got = decode([raw], spec, conf=0.5)
    np.testing.assert_allclose(got.xyxy, [[90, 45, 110, 55]])
    assert got.class_ids.tolist() == [1] and got.scores.tolist() == pytest.approx([0.7])
    assert len(decode([np.zeros((6, 8400), np.float32)], spec, conf=0.1).scores) == 0


def test_end2end_skips_nms_and_keeps_order() -> None:
    out = (TensorDesc("output0", (1, 300, 6), "float32"),)
    spec = ModelSpec.from_parts(TensorDesc("images", (1, 3, 64, 64), "float32"), out, NAMES)
    assert spec.format == "end2end"
    raw = np.zeros((300, 6), np.float32)
    raw[0] = [0, 0, 10, 10, 0.6, 1]
    raw[1] = [0, 0, 10, 10, 0.9, 1]  # identical box: a model-side NMS already decided to keep it
    result = postprocess([raw], spec, IDENTITY, DetectParams(conf=0.5))
    assert result.scores.tolist() == pytest.approx([0.9, 0.6])
    assert len(postprocess([np.zeros((300, 6), np.float32)], spec, IDENTITY, DetectParams())) == 0


def test_postprocess_filters_classes_max_det_and_maps_back() -> None:
    spec = yolov5_spec(4)
    raw = np.array(
        [
            [16, 16, 8, 8, 1.0, 0.9, 0.0],
            [16, 16, 8, 8, 1.0, 0.0, 0.8],
            [48, 48, 8, 8, 1.0, 0.7, 0.0],
            [17, 16, 8, 8, 1.0, 0.6, 0.0],
        ],
        np.float32,
    )
    geometry = Geometry(width=128, height=64, scale_x=0.5, scale_y=0.5, pad_x=0.0, pad_y=16.0)
    result = postprocess([raw], spec, geometry, DetectParams(conf=0.5, iou=0.5))
    assert result.scores.tolist() == pytest.approx([0.9, 0.8, 0.7])  # [3] suppressed by [0]
    np.testing.assert_allclose(result.xyxy[0], [24, 0, 40, 8])  # y clipped at 0
    assert postprocess([raw], spec, geometry, DetectParams(classes=(1,))).class_ids.tolist() == [1]
    assert len(postprocess([raw], spec, geometry, DetectParams(max_det=1))) == 1
    agnostic = postprocess([raw], spec, geometry, DetectParams(conf=0.5, iou=0.5, agnostic=True))
    assert agnostic.scores.tolist() == pytest.approx([0.9, 0.7])


def test_decode_checks_output_count() -> None:
    from trt_core.errors import ModelSpecError

    with pytest.raises(ModelSpecError, match="has 2 outputs"):
        decode([np.zeros((14, 2, 2))], yolov3_spec(), 0.5)
