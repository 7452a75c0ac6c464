"""Raw head outputs of one image -> candidate boxes in model-input pixels.

Each decoder drops low-scoring candidates as early as it can (YOLOv3/v5: on objectness,
before any per-class work), so the work after it scales with candidates, not anchors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from trt_core.boxes import cxcywh_to_xyxy
from trt_core.errors import ModelSpecError
from trt_core.spec import ModelSpec

EXP_CLIP = 20.0


class Candidates(NamedTuple):
    xyxy: np.ndarray  # (K, 4) float32, model-input pixels
    scores: np.ndarray  # (K,) float32
    class_ids: np.ndarray  # (K,) int64

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


def logit(p: float) -> float:
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    return float(np.log(p / (1.0 - p)))


def _best_class(class_scores: np.ndarray, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    class_ids = np.argmax(class_scores, axis=1)
    scores = np.take_along_axis(class_scores, class_ids[:, None], axis=1)[:, 0]
    keep = scores >= conf
    return keep, scores[keep].astype(np.float32), class_ids[keep].astype(np.int64)


def decode_yolov3(outputs: Sequence[np.ndarray], spec: ModelSpec, conf: float) -> Candidates:
    """Darknet anchor heads ``(A*(5+C), H, W)`` of logits, as in NVIDIA's YOLOv3 sample."""
    in_h, in_w = spec.input_hw
    parts: list[Candidates] = []
    obj_threshold = logit(conf)
    for head, (raw, mask) in enumerate(zip(outputs, spec.masks)):
        anchors_n = len(mask)
        _, grid_h, grid_w = raw.shape
        head_out = raw.reshape(anchors_n, 5 + spec.num_classes, grid_h, grid_w)
        a, gy, gx = np.nonzero(head_out[:, 4] >= obj_threshold)
        if a.size == 0:
            continue
        t = head_out[a, :, gy, gx].astype(np.float32)
        sxy = spec.scale_x_y[head] if spec.scale_x_y else 1.0
        anchors = np.asarray(spec.anchors, np.float32)[np.asarray(mask)[a]]
        xy = sigmoid(t[:, 0:2]) * sxy - (sxy - 1.0) / 2.0
        cx = (xy[:, 0] + gx) * (in_w / grid_w)
        cy = (xy[:, 1] + gy) * (in_h / grid_h)
        wh = np.exp(np.minimum(t[:, 2:4], EXP_CLIP)) * anchors
        boxes = cxcywh_to_xyxy(np.stack([cx, cy, wh[:, 0], wh[:, 1]], axis=1))
        class_scores = sigmoid(t[:, 4:5]) * sigmoid(t[:, 5:])
        keep, scores, class_ids = _best_class(class_scores, conf)
        parts.append(Candidates(boxes[keep].astype(np.float32), scores, class_ids))
    return _concat(parts)


def decode_yolov5(outputs: Sequence[np.ndarray], spec: ModelSpec, conf: float) -> Candidates:
    """``(boxes, 5+C)``: cx, cy, w, h (input pixels), objectness, class scores (sigmoided)."""
    raw = outputs[0]
    rows = raw[raw[:, 4] >= conf].astype(np.float32)
    if rows.shape[0] == 0:
        return Candidates.empty()
    keep, scores, class_ids = _best_class(rows[:, 5:] * rows[:, 4:5], conf)
    return Candidates(cxcywh_to_xyxy(rows[keep, :4]).astype(np.float32), scores, class_ids)


def decode_yolov8(outputs: Sequence[np.ndarray], spec: ModelSpec, conf: float) -> Candidates:
    """``(4+C, boxes)``: cx, cy, w, h (input pixels), class scores; no objectness (YOLOv8/11)."""
    raw = outputs[0]
    class_scores = raw[4:]
    best = class_scores.max(axis=0)
    cols = np.nonzero(best >= conf)[0]
    if cols.size == 0:
        return Candidates.empty()
    rows = raw[:, cols].T.astype(np.float32)
    keep, scores, class_ids = _best_class(rows[:, 4:], conf)
    return Candidates(cxcywh_to_xyxy(rows[keep, :4]).astype(np.float32), scores, class_ids)


def decode_end2end(outputs: Sequence[np.ndarray], spec: ModelSpec, conf: float) -> Candidates:
    """``(K, 6)``: x1, y1, x2, y2, score, class — NMS already done in the model."""
    raw = outputs[0].astype(np.float32)
    rows = raw[raw[:, 4] >= conf]
    return Candidates(rows[:, :4].copy(), rows[:, 4].copy(), rows[:, 5].astype(np.int64))


def decode_candidates(outputs: Sequence[np.ndarray], spec: ModelSpec, conf: float) -> Candidates:
    """``(K, 6)``: x1, y1, x2, y2, score, class, decoded in the graph; NMS still to do."""
    return decode_end2end(outputs, spec, conf)


def _concat(parts: list[Candidates]) -> Candidates:
    if not parts:
        return Candidates.empty()
    return Candidates(*(np.concatenate(arrays) for arrays in zip(*parts)))


DECODERS: dict[str, Callable[[Sequence[np.ndarray], ModelSpec, float], Candidates]] = {
    "yolov3": decode_yolov3,
    "yolov5": decode_yolov5,
    "yolov8": decode_yolov8,
    "end2end": decode_end2end,
    "candidates": decode_candidates,
}


def decode(outputs: Sequence[np.ndarray], spec: ModelSpec, conf: float) -> Candidates:
    """Decode one image's outputs (batch axis removed) in ``spec.format``."""
    expected = len(spec.outputs)
    if len(outputs) != expected:
        raise ModelSpecError(f"{spec.format} model {spec.name!r} has {expected} outputs, got {len(outputs)}")
    return DECODERS[spec.format](outputs, spec, conf)
