"""Tiny ONNX models shaped and labelled as Ultralytics' exporter writes them (no Ultralytics).

Every model answers the same known boxes whatever the image (its outputs are constants
added to ``0 x mean(image)``, so the batch axis follows the input), except one score that
is the image's top-left pixel: with Ultralytics' letterbox of a wide image that pixel is
padding, so the box appears with score 114/255 only when the padding is grey 114.

Conventions followed (``ultralytics/engine/exporter.py``): input ``images`` (N, 3, H, W),
output ``output0``; ``dynamic=True`` makes batch, height, width (input) and batch, anchors
(output) symbolic, and only batch with ``nms=True``; ``half=True`` makes both float16;
``metadata_props`` hold ``str()`` of Python values: ``names`` a dict repr, ``imgsz`` a list,
``args`` the export arguments' dict repr.  Layouts: YOLOv5u/v8/11 ``(N, 4+C, anchors)``
(cx, cy, w, h, class scores), ``nms=True``/YOLOv10/YOLO26 ``(N, 300, 6)`` (x1, y1, x2,
y2, score, class), the legacy YOLOv5 repo ``(N, 3*anchors, 5+C)`` with only ``stride`` and
``names`` as metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NAMES = ("person", "bicycle", "car")
IMGSZ = 64
STRIDES = (8, 16, 32)
MAX_DET = 300


@dataclass(frozen=True)
class Box:
    """A box the model answers, in model-input pixels."""

    xyxy: tuple[float, float, float, float]
    score: float
    class_id: int


# Two 'person' boxes overlapping at IoU 0.6 (kept by yolo predict's IoU 0.7, not by 0.45),
# a 'car', and a 'bicycle' below conf 0.25.
BOXES = (
    Box((10.0, 22.0, 30.0, 42.0), 0.9, 0),
    Box((15.0, 22.0, 35.0, 42.0), 0.8, 0),
    Box((40.0, 30.0, 60.0, 40.0), 0.7, 2),
    Box((5.0, 5.0, 15.0, 15.0), 0.2, 1),
)
PAD_PROBE = Box((44.0, 10.0, 60.0, 24.0), 0.0, 1)  # score := the image's top-left pixel / 255


@dataclass(frozen=True)
class Export:
    """One exporter configuration: ``layout`` is ``yolov8`` (also v5u/11), ``yolov5`` (legacy
    repo), ``end2end`` (``nms=True``, YOLOv10, YOLO26)."""

    layout: str = "yolov8"
    batch: int = 1
    dynamic: bool = False
    half: bool = False
    nms: bool = False
    end2end_key: bool | None = False  # newer exporters write 'end2end'; older ones (YOLOv10) did not
    description: str = "Ultralytics YOLOv8n model trained on coco.yaml"
    task: str = "detect"
    metadata: bool = True
    boxes: tuple[Box, ...] = field(default=BOXES)


def anchors(size: int = IMGSZ) -> int:
    return sum((size // s) ** 2 for s in STRIDES)


def raw_output(export: Export) -> tuple[np.ndarray, np.ndarray]:
    """The constant output ``(1, ...)`` and the mask where the pad probe's pixel is added."""
    nc = len(NAMES)
    boxes = [*export.boxes, PAD_PROBE]
    if export.layout == "end2end":
        out = np.zeros((1, MAX_DET, 6), np.float32)
        for i, b in enumerate(boxes):
            out[0, i] = [*b.xyxy, b.score, b.class_id]
        probe = (0, len(boxes) - 1, 4)
    elif export.layout == "yolov8":
        out = np.zeros((1, 4 + nc, anchors()), np.float32)
        for i, b in enumerate(boxes):
            out[0, :4, 7 * i + 3] = _cxcywh(b.xyxy)
            out[0, 4 + b.class_id, 7 * i + 3] = b.score
        probe = (0, 4 + PAD_PROBE.class_id, 7 * (len(boxes) - 1) + 3)
    elif export.layout == "yolov5":
        out = np.zeros((1, 3 * anchors(), 5 + nc), np.float32)
        for i, b in enumerate(boxes):
            out[0, 5 * i + 1, :5] = [*_cxcywh(b.xyxy), 1.0]
            out[0, 5 * i + 1, 5 + b.class_id] = b.score
        probe = (0, 5 * (len(boxes) - 1) + 1, 5 + PAD_PROBE.class_id)
    else:
        raise ValueError(export.layout)
    mask = np.zeros_like(out)
    mask[probe] = 1.0
    return out, mask


def metadata_props(export: Export) -> dict[str, str]:
    """``metadata_props`` as the exporter writes them (``str()`` of each value)."""
    names = dict(enumerate(NAMES))
    if export.layout == "yolov5":  # the legacy YOLOv5 repository's export.py
        return {"stride": "32", "names": str(names)}
    args = {
        "batch": export.batch,
        "half": export.half,
        "dynamic": export.dynamic,
        "simplify": True,
        "opset": None,
        "nms": export.nms,
    }
    props: dict[str, Any] = {
        "description": export.description,
        "author": "Ultralytics",
        "date": "2025-06-01T12:00:00.000000",
        "version": "8.3.150",
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "stride": 32,
        "task": export.task,
        "batch": export.batch,
        "imgsz": [IMGSZ, IMGSZ],
        "names": names,
        "args": args,
        "channels": 3,
    }
    if export.end2end_key is not None:
        props["end2end"] = export.end2end_key
    return {k: str(v) for k, v in props.items()}


def build(path: Path, export: Export) -> Path:
    """Write the model for ``export`` to ``path`` (checked by ``onnx.checker``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out, mask = raw_output(export)
    io_type = TensorProto.FLOAT16 if export.half else TensorProto.FLOAT
    batch: int | str = "batch" if export.dynamic else export.batch
    side: int | str = IMGSZ
    in_shape = [batch, 3, "height" if export.dynamic else side, "width" if export.dynamic else side]
    out_shape: list[int | str] = [batch, *out.shape[1:]]
    if export.dynamic and export.layout == "yolov8":
        out_shape[2] = "anchors"
    if export.dynamic and export.layout == "yolov5":
        out_shape[1] = "anchors"
    nodes = [
        helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape3"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["batch_zeros"]),
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["corner"]),
        helper.make_node("Reshape", ["corner", "shape3"], ["corner3"]),
        helper.make_node("Mul", ["corner3", "probe_mask"], ["probe"]),
        helper.make_node("Add", ["batch_zeros", "constant"], ["boxes"]),
        helper.make_node("Add", ["boxes", "probe"], ["y"]),
        helper.make_node("Cast", ["y"], ["output0"], to=io_type),
    ]
    initialisers = [
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.zeros(4, np.int64), "starts"),
        numpy_helper.from_array(np.ones(4, np.int64) * [np.iinfo(np.int64).max, 1, 1, 1], "ends"),
        numpy_helper.from_array(np.arange(4, dtype=np.int64), "axes"),
        numpy_helper.from_array(mask, "probe_mask"),
        numpy_helper.from_array(out, "constant"),
    ]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("images", io_type, in_shape)],
        [helper.make_tensor_value_info("output0", io_type, out_shape)],
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 9
    if export.metadata:
        helper.set_model_props(model, metadata_props(export))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _cxcywh(xyxy: tuple[float, float, float, float]) -> list[float]:
    x1, y1, x2, y2 = xyxy
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
