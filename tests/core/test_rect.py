"""Ultralytics exports with dynamic H/W (``dynamic=True``) are served as ``yolo predict``
serves them: each image letterboxed "rect" (scaled as usual, but padded only up to a
multiple of the stride), so each has its own tensor shape; boxes mapped back with
``scale_boxes`` from that shape.  Checked against an independent reference written here
from Ultralytics' documented rules (never its code): letterbox by hand with OpenCV, the
original float32 model on ONNX Runtime, the project's NMS, ``scale_boxes`` by hand.
Real ONNX Runtime, real images (the bundled samples, some resized to common camera sizes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.models import ultralytics_like_model
from tests.ultralytics_models import Export, build
from trt_core import Detector
from trt_core.backends.base import Batch, batch_layout
from trt_core.boxes import batched_nms
from trt_core.detections import Detections
from trt_core.spec import ModelSpec

IMGSZ, STRIDE, CONF, IOU = 640, 32, 0.25, 0.7


def imread(path: Path) -> np.ndarray:
    """The image as ``yolo predict`` reads it: OpenCV, BGR."""
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return np.asarray(bgr)


def letterbox(bgr: np.ndarray, *, auto: bool) -> np.ndarray:
    """Ultralytics' ``LetterBox(640, auto=auto, stride=32)`` as its documentation states it."""
    h, w = bgr.shape[:2]
    r = min(IMGSZ / h, IMGSZ / w)
    new_w, new_h = round(w * r), round(h * r)
    dw, dh = IMGSZ - new_w, IMGSZ - new_h
    if auto:
        dw, dh = dw % STRIDE, dh % STRIDE
    if (new_w, new_h) != (w, h):
        bgr = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh / 2 - 0.1), round(dh / 2 + 0.1)
    left, right = round(dw / 2 - 0.1), round(dw / 2 + 0.1)
    return cv2.copyMakeBorder(bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def scale_boxes(xyxy: np.ndarray, tensor_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """Ultralytics' ``scale_boxes`` (padding=True) and its clip, as documented."""
    gain = min(tensor_hw[0] / image_hw[0], tensor_hw[1] / image_hw[1])
    pad_x = round((tensor_hw[1] - image_hw[1] * gain) / 2 - 0.1)
    pad_y = round((tensor_hw[0] - image_hw[0] * gain) / 2 - 0.1)
    out = (xyxy - [pad_x, pad_y, pad_x, pad_y]) / gain
    out[:, 0::2] = out[:, 0::2].clip(0, image_hw[1])
    out[:, 1::2] = out[:, 1::2].clip(0, image_hw[0])
    return out


def reference(model: onnx.ModelProto, path: Path, *, auto: bool) -> Detections:
    """``yolo predict``'s steps, by hand: cv2.imread, letterbox, RGB /255 float32, the model,
    YOLOv8 decode (best class per box, conf), per-class NMS, scale_boxes."""
    bgr = imread(path)
    x = letterbox(bgr, auto=auto)[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": x})
    rows = out[0].T
    class_ids, scores = rows[:, 4:].argmax(1), rows[:, 4:].max(1)
    keep = scores > CONF
    rows, class_ids, scores = rows[keep], class_ids[keep], scores[keep]
    xyxy = np.concatenate([rows[:, :2] - rows[:, 2:4] / 2, rows[:, :2] + rows[:, 2:4] / 2], axis=1)
    kept = batched_nms(xyxy, scores, class_ids, IOU, max_keep=300)
    boxes = scale_boxes(xyxy[kept], (x.shape[2], x.shape[3]), (bgr.shape[0], bgr.shape[1]))
    # boxes wholly in the padding clip to nothing: yolo predict lists them with zero width
    # or height, the project leaves them out (trt_core.postprocess)
    seen = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    names = tuple(f"class{i}" for i in range(3))
    return Detections(boxes[seen].astype(np.float32), scores[kept][seen], class_ids[kept][seen], names)


def assert_same(got: Detections, want: Detections) -> None:
    assert got.class_ids.tolist() == want.class_ids.tolist()
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5)
    np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)


@pytest.fixture(scope="module")
def images(sample_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The samples as they are (odd sizes, JPEG and PNG) and one photo resized (lossless PNG)
    to 640x480, 1920x1080, a tall 480x1000 and a tiny 100x50 (scaled up)."""
    folder = tmp_path_factory.mktemp("rect-images")
    out = {p.name: p for p in sample_images}
    photo = imread(sample_images[2])
    for w, h in ((640, 480), (1920, 1080), (480, 1000), (100, 50)):
        path = folder / f"{w}x{h}.png"
        cv2.imwrite(str(path), cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA))
        out[f"{w}x{h}"] = path
    return out


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return ultralytics_like_model(imgsz=IMGSZ, dynamic=True)


@pytest.fixture(scope="module")
def model_path(model: onnx.ModelProto, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rect") / "yolov8-dynamic.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def detector(model_path: Path) -> Iterator[Detector]:
    with Detector.from_onnx(model_path, backend="onnxruntime", device="cpu", max_batch=4) as det:
        yield det


def test_the_spec_says_rect_only_for_dynamic_height_and_width(model_path: Path, tmp_path: Path) -> None:
    with Detector.from_onnx(model_path, backend="onnxruntime", device="cpu") as det:
        assert det.spec.rect and det.spec.stride == STRIDE and det.spec.input_hw == (IMGSZ, IMGSZ)
        assert det.info["rect"] and det.decode == "device"  # the anchor count, padded to 8400, decodes on it
        assert det.spec.outputs[0].shape == (-1, 1000, 6)
    static = tmp_path / "static.onnx"
    onnx.save(ultralytics_like_model(imgsz=IMGSZ, dynamic=False), str(static))
    with Detector.from_onnx(static, backend="onnxruntime", device="cpu") as det:
        assert not det.spec.rect
    # the exporter's args say dynamic=True, but the input's H/W are fixed: no rect
    fixed_hw = ultralytics_like_model(imgsz=IMGSZ, dynamic=True)
    for axis in (2, 3):
        fixed_hw.graph.input[0].type.tensor_type.shape.dim[axis].dim_value = IMGSZ
    # dynamic H/W but a fixed batch: Ultralytics' AutoBackend does not call it dynamic
    # (its test is the first output's batch axis), so yolo predict letterboxes it square
    fixed_batch = ultralytics_like_model(imgsz=IMGSZ, dynamic=True)
    for value in (fixed_batch.graph.input[0], fixed_batch.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 1
    spec = ModelSpec.from_onnx_model(fixed_batch)
    assert spec.static_batch == 1 and spec.input_hw == (IMGSZ, IMGSZ) and not spec.rect
    onnx.save(fixed_hw, str(tmp_path / "fixed-hw.onnx"))
    with Detector.from_onnx(tmp_path / "fixed-hw.onnx", backend="onnxruntime", device="cpu") as det:
        assert not det.spec.rect and "'dynamic': True" in next(
            p.value for p in fixed_hw.metadata_props if p.key == "args"
        )


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("640x480", (480, 640)),
        ("1920x1080", (384, 640)),
        ("480x1000", (640, 320)),
        ("100x50", (320, 640)),
        ("shapes_0.jpg", (320, 640)),  # 744x354: 305 rows, padded by 15
        ("shapes_1.png", (640, 448)),  # 329x501: 420 columns, padded by 28
        ("shapes_2.jpg", (640, 640)),
        ("shapes_3.png", (224, 640)),  # 870x263: 193 rows, padded by 31
        ("shapes_4.jpg", (640, 512)),
    ],
)
def test_each_image_gets_its_rect_tensor_pixel_for_pixel(
    detector: Detector, images: dict[str, Path], name: str, shape: tuple[int, int]
) -> None:
    want = letterbox(imread(images[name]), auto=True)
    assert want.shape[:2] == shape
    tensor = detector.preprocess(images[name]).tensor
    assert tensor.shape == (3, *shape)
    np.testing.assert_array_equal(tensor, want[..., ::-1].transpose(2, 0, 1))


def test_detections_equal_yolo_predicts_steps(
    detector: Detector, model: onnx.ModelProto, images: dict[str, Path]
) -> None:
    counts = []
    for path in images.values():
        want = reference(model, path, auto=True)
        assert_same(detector.detect(path, conf=CONF, iou=IOU), want)
        counts.append(len(want))
    assert sum(c > 0 for c in counts) >= len(counts) - 1 and sum(counts) > 300  # a test that can fail


def test_a_mixed_batch_equals_one_by_one(
    detector: Detector, images: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    order = ["640x480", "1920x1080", "shapes_0.jpg", "640x480", "shapes_3.png", "640x480", "640x480", "640x480"]
    paths = [images[n] for n in order]
    alone = [detector.detect(p, conf=CONF, iou=IOU) for p in paths]
    shapes: list[tuple[int, ...]] = []
    backend: Any = detector.backend
    infer = backend.infer

    def recorded(batch: Batch) -> list[np.ndarray]:
        shapes.append(batch_layout(batch)[0])
        return infer(batch)

    monkeypatch.setattr(backend, "infer", recorded)
    together = detector.detect_batch(paths, conf=CONF, iou=IOU)
    for got, want in zip(together, alone, strict=True):
        assert_same(got, want)
    # five 480x640 images in batches of at most 4, then one batch per other shape
    assert shapes == [(4, 3, 480, 640), (1, 3, 480, 640), (1, 3, 384, 640), (1, 3, 320, 640), (1, 3, 224, 640)]


def test_a_static_export_keeps_the_square_letterbox(images: dict[str, Path], tmp_path: Path) -> None:
    model = ultralytics_like_model(imgsz=IMGSZ, dynamic=False)
    path = tmp_path / "static.onnx"
    onnx.save(model, str(path))
    with Detector.from_onnx(path, backend="onnxruntime", device="cpu") as det:
        for name in ("640x480", "1920x1080", "shapes_1.png"):
            want = letterbox(imread(images[name]), auto=False)
            tensor = det.preprocess(images[name]).tensor
            assert tensor.shape == (3, IMGSZ, IMGSZ)
            np.testing.assert_array_equal(tensor, want[..., ::-1].transpose(2, 0, 1))
            assert_same(det.detect(images[name], conf=CONF, iou=IOU), reference(model, images[name], auto=False))


def test_host_decode_agrees(model_path: Path, model: onnx.ModelProto, images: dict[str, Path]) -> None:
    with Detector.from_onnx(model_path, backend="onnxruntime", device="cpu", decode_topk=None) as det:
        assert det.decode == "host" and det.spec.outputs[0].shape == (-1, 7, -1)
        for name in ("640x480", "1920x1080", "shapes_4.jpg"):
            assert_same(det.detect(images[name], conf=CONF, iou=IOU), reference(model, images[name], auto=True))


@pytest.mark.parametrize(
    "export",
    [Export(dynamic=True), Export(dynamic=True, half=True), Export(layout="yolov5", dynamic=True)],
    ids=["yolov8", "yolov8-half", "yolov5-legacy"],
)
def test_dynamic_anchor_counts_decode_on_the_device(export: Export, tmp_path: Path, sample_images: list[Path]) -> None:
    """Every layout with a dynamic anchor axis, fp16 outputs too: padded to the count at the
    input size, decoded on the device, the same detections as the raw heads on the host."""
    path = build(tmp_path / "m.onnx", export)
    size: dict[str, Any] = {"input_size": 64} if export.layout == "yolov5" else {}  # the YOLOv5 repo: no imgsz
    results = []
    for topk in (None, 1000):
        with Detector.from_onnx(path, backend="onnxruntime", device="cpu", decode_topk=topk, **size) as det:
            assert det.decode == ("device" if topk else "host")
            results.append(det.detect_batch(sample_images, conf=0.3, iou=0.7))
    for host, device in zip(*results, strict=True):
        assert len(host) > 0
        assert_same(device, host)
