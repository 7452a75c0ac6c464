"""Ultralytics exports as its exporter writes them, end to end through ``Detector.from_onnx``
on ONNX Runtime (CPU), with no ``format=``: the detections, mapped back through the letterbox
as Ultralytics' ``scale_boxes`` does, are the boxes the model answers.  Exports with dynamic
H/W are letterboxed "rect" (padded to a multiple of the stride), as ``yolo predict`` does."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ultralytics_models import BOXES, NAMES, PAD_PROBE, Box, Export, build
from trt_core import Detector
from trt_core.detections import Detections
from trt_core.errors import ModelSpecError
from trt_core.presets import load_spec

PAD_SCORE = 114 / 255  # the probe box's score: the top-left pixel, grey padding
VARIANTS = {
    "yolov8": Export(),
    "yolov8-dynamic": Export(dynamic=True),
    "yolo11": Export(description="Ultralytics YOLO11n model trained on coco.yaml"),
    "yolov5u": Export(description="Ultralytics YOLOv5nu model trained on coco.yaml"),
    "yolov8-batch4": Export(batch=4),
    "yolov8-half": Export(half=True),
    "nms": Export(layout="end2end", nms=True, dynamic=True, batch=8),
    "yolo26": Export(layout="end2end", end2end_key=True, description="Ultralytics YOLO26n model"),
    "yolov10": Export(layout="end2end", end2end_key=None, description="Ultralytics YOLOv10n model"),
    "yolov5-legacy": Export(layout="yolov5"),
}
FORMATS = {"yolov5-legacy": "yolov5", "nms": "end2end", "yolo26": "end2end", "yolov10": "end2end"}


@pytest.fixture(scope="module")
def image(sample_images: list[Path]) -> np.ndarray:
    """A real photo squeezed to 128x48: letterboxed at gain 0.5 to 64x64 with 20 rows of padding
    above and below (rect: to 32x64 with 4), where Ultralytics' and exact box mapping agree to
    the pixel; the top-left pixel is padding either way."""
    with Image.open(sample_images[0]) as im:
        return np.asarray(im.convert("RGB").resize((128, 48)))


def tensor_hw(variant: str, image: np.ndarray) -> tuple[int, int]:
    """The model input's height and width for ``image``: 64x64, or for exports with dynamic
    H/W Ultralytics' rect letterbox, each side padded up to a multiple of the stride 32."""
    if not VARIANTS[variant].dynamic:
        return (64, 64)
    r = min(64 / image.shape[0], 64 / image.shape[1])
    h, w = (-(-round(side * r) // 32) * 32 for side in image.shape[:2])
    return h, w


def ultralytics_scale_boxes(xyxy: np.ndarray, input_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """``ultralytics.utils.ops.scale_boxes`` (padding=True), then clipped to the image."""
    gain = min(input_hw[0] / image_hw[0], input_hw[1] / image_hw[1])
    pad_x = round((input_hw[1] - image_hw[1] * gain) / 2 - 0.1)
    pad_y = round((input_hw[0] - image_hw[0] * gain) / 2 - 0.1)
    out = (xyxy - [pad_x, pad_y, pad_x, pad_y]) / gain
    out[:, 0::2] = out[:, 0::2].clip(0, image_hw[1])
    out[:, 1::2] = out[:, 1::2].clip(0, image_hw[0])
    return out


def expected(
    boxes: list[Box], image: np.ndarray, input_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Boxes in image pixels, best first; those clipped to nothing (outside a rect input's
    image rows) are not reported."""
    ordered = sorted(boxes, key=lambda b: -b.score)
    xyxy = ultralytics_scale_boxes(np.array([b.xyxy for b in ordered]), input_hw, image.shape[:2])
    seen = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    kept = [b for b, v in zip(ordered, seen) if v]
    return xyxy[seen], np.array([b.score for b in kept]), [b.class_id for b in kept]


def assert_detections(
    got: Detections, boxes: list[Box], image: np.ndarray, *, rtol: float = 1e-5, input_hw: tuple[int, int] = (64, 64)
) -> None:
    xyxy, scores, class_ids = expected(boxes, image, input_hw)
    assert got.class_ids.tolist() == class_ids
    assert list(got.labels) == [NAMES[c] for c in class_ids]
    np.testing.assert_allclose(got.scores, scores, rtol=rtol)
    np.testing.assert_allclose(got.xyxy, xyxy, atol=1e-3)


def yolo_predict_boxes(variant: str) -> list[Box]:
    """What ``yolo predict`` keeps: conf 0.25, per-class NMS at IoU 0.7 (0.45 for the YOLOv5
    repo's detect.py), none for end-to-end models; the pad probe scores 114/255."""
    kept = [b for b in BOXES if b.score > 0.25]
    if variant == "yolov5-legacy":
        kept.remove(BOXES[1])  # IoU 0.6 with the better 'person': suppressed at 0.45
    return [*kept, Box(PAD_PROBE.xyxy, PAD_SCORE, PAD_PROBE.class_id)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ultralytics")
    return {name: build(folder / f"{name}.onnx", export) for name, export in VARIANTS.items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_export_is_served_as_yolo_predict_would(variant: str, models: dict[str, Path], image: np.ndarray) -> None:
    spec, params = load_spec(models[variant], None, {})
    assert spec.format == FORMATS.get(variant, "yolov8") and spec.names == NAMES
    with Detector.from_onnx(models[variant], backend="onnxruntime", device="cpu") as det:
        assert (det.spec.letterbox, det.spec.pad_value, det.spec.resize) == (True, 114, "linear")
        assert det.spec.rect == VARIANTS[variant].dynamic
        assert det.preprocess(image).tensor.shape[1:] == tensor_hw(variant, image)
        got = det.detect(image, conf=params.conf, iou=params.iou, max_det=params.max_det)
    rtol = 2e-3 if VARIANTS[variant].half else 1e-5
    assert_detections(got, yolo_predict_boxes(variant), image, rtol=rtol, input_hw=tensor_hw(variant, image))


@pytest.mark.parametrize("variant", ["yolov8-half", "yolov8-dynamic", "yolov5-legacy"])
def test_raw_heads_decoded_on_the_host(variant: str, models: dict[str, Path], image: np.ndarray) -> None:
    _, params = load_spec(models[variant], None, {})
    with Detector.from_onnx(models[variant], backend="onnxruntime", device="cpu", decode_topk=None) as det:
        assert det.decode == "host"
        got = det.detect(image, conf=params.conf, iou=params.iou, max_det=params.max_det)
    rtol = 2e-3 if VARIANTS[variant].half else 1e-5
    assert_detections(got, yolo_predict_boxes(variant), image, rtol=rtol, input_hw=tensor_hw(variant, image))


def test_detector_defaults_to_yolo_predict_thresholds(models: dict[str, Path]) -> None:
    with Detector.from_onnx(models["yolov8"], backend="onnxruntime", device="cpu") as det:
        assert (det.params.conf, det.params.iou, det.params.max_det) == (0.25, 0.7, 300)


def test_fp16_io_reaches_the_decoder_as_float16(models: dict[str, Path], image: np.ndarray) -> None:
    spec, _ = load_spec(models["yolov8-half"], None, {})
    assert spec.input.dtype == "float16" and spec.outputs[0].dtype == "float16"
    with Detector.from_onnx(models["yolov8-half"], backend="onnxruntime", device="cpu", decode_topk=None) as det:
        (raw,) = det.backend.infer(det.preprocess(image).tensor[None])
        assert raw.dtype == np.float16 and raw.shape == (1, 7, 84)
        assert det.detect(image, conf=0.85).scores.tolist() == pytest.approx([0.9], rel=1e-3)


def test_a_fixed_batch_is_stated_and_still_serves_many_images(
    models: dict[str, Path], image: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="trt_core.spec"):
        det = Detector.from_onnx(models["yolov8"], backend="onnxruntime", device="cpu")
    with det:
        note = det.spec.batch_note
        assert note is not None and "fixed batch size 1" in note and "one at a time" in note
        assert note in caplog.text and det.info["notes"] == [note] and det.info["static_batch"] == 1
        assert det.backend.info.max_batch == 1 and not det.backend.info.dynamic_batch
        results = det.detect_batch([image, image[:, ::-1].copy(), image], iou=0.7)
    assert [len(r) for r in results] == [4, 4, 4]
    np.testing.assert_allclose(results[0].xyxy, results[2].xyxy)


def test_a_dynamic_batch_batches(models: dict[str, Path], image: np.ndarray) -> None:
    with Detector.from_onnx(models["yolov8-dynamic"], backend="onnxruntime", device="cpu", max_batch=4) as det:
        assert det.spec.batch_note is None and det.spec.static_batch is None and det.spec.rect
        assert det.backend.info.dynamic_batch
        results = det.detect_batch([image] * 3, iou=0.7)
    assert [len(r) for r in results] == [3, 3, 3]  # rect 32x64: the car lies below the image rows


def test_overrides_win_over_the_metadata(models: dict[str, Path], image: np.ndarray) -> None:
    with Detector.from_onnx(
        models["yolov8"], backend="onnxruntime", device="cpu", pad_value=0, conf=0.5, iou=0.7
    ) as det:
        assert det.spec.pad_value == 0
        got = det.detect(image)  # the probe now reads 0: no bicycle; conf 0.5 set by the caller
    assert got.class_ids.tolist() == [0, 0, 2]
    spec, params = load_spec(models["yolov8"], "nvidia-yolov3", {"pad_value": 100}, iou=0.3)
    assert (spec.letterbox, spec.resize, spec.pad_value, spec.preset) == (False, "bicubic", 100, "nvidia-yolov3")
    assert (params.conf, params.iou) == (0.6, 0.3)
    spec, params = load_spec(models["yolov8"], None, {"preset": None})
    assert spec.preset is None and params.iou == 0.45 and spec.resize == "linear"


@pytest.mark.parametrize("layout", ["yolov8", "yolov5", "end2end"])
def test_metadata_less_exports_fall_back_to_shapes(layout: str, tmp_path: Path, image: np.ndarray) -> None:
    path = build(tmp_path / "bare.onnx", Export(layout=layout, metadata=False))
    assert load_spec(path, None, {})[0].format == layout
    with Detector.from_onnx(path, backend="onnxruntime", device="cpu", conf=0.5, iou=0.7) as det:
        assert det.spec.preset is None and det.spec.resize == "bilinear"
        got = det.detect(image)
    assert got.class_ids.tolist() == [0, 0, 2]  # the pad probe (0.45) is under conf 0.5
    if layout != "end2end":  # end-to-end heads do not say how many classes: COCO's names
        assert list(got.labels) == ["0", "0", "2"]


@pytest.mark.parametrize("layout", ["yolov8", "end2end"])
def test_metadata_less_dynamic_exports_need_an_input_size(layout: str, tmp_path: Path, image: np.ndarray) -> None:
    path = build(tmp_path / "bare.onnx", Export(layout=layout, metadata=False, dynamic=True, nms=layout == "end2end"))
    with pytest.raises(ModelSpecError, match="dynamic spatial size") as info:
        Detector.from_onnx(path, backend="onnxruntime", device="cpu")
    assert info.value.hint and "input_size" in info.value.hint
    with Detector.from_onnx(path, backend="onnxruntime", device="cpu", input_size=64, conf=0.5, iou=0.7) as det:
        assert det.spec.input_hw == (64, 64)
        assert len(det.detect(image)) == 3


@pytest.mark.parametrize("task", ["segment", "pose", "obb", "classify"])
def test_other_tasks_are_refused_clearly(task: str, tmp_path: Path) -> None:
    path = build(tmp_path / f"{task}.onnx", Export(task=task))
    with pytest.raises(ModelSpecError, match=f"Ultralytics '{task}' model; only detection"):
        Detector.from_onnx(path, backend="onnxruntime", device="cpu")


def test_boxes_map_back_as_ultralytics_scale_boxes(sample_images: list[Path], models: dict[str, Path]) -> None:
    path = sample_images[0]
    with Image.open(path) as im:
        assert im.size == (744, 354)  # resized to 64x30: the rounded scales differ per axis
        rgb = np.asarray(im.convert("RGB"))
    with Detector.from_onnx(models["yolov8"], backend="onnxruntime", device="cpu") as det:
        got = det.detect(path, iou=0.7)
    assert_detections(got, yolo_predict_boxes("yolov8"), rgb)
