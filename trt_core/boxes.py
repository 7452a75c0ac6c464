"""Pure, vectorised box functions.  None of them mutates its inputs; all handle N = 0."""

from __future__ import annotations

import numpy as np


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[..., 2:4] / 2
    return np.concatenate([boxes[..., 0:2] - half, boxes[..., 0:2] + half], axis=-1)


def box_area(xyxy: np.ndarray) -> np.ndarray:
    return np.clip(xyxy[..., 2] - xyxy[..., 0], 0, None) * np.clip(xyxy[..., 3] - xyxy[..., 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)``."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, *, max_keep: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.

    Each round keeps the best remaining box and drops, in one vectorised step, every box
    overlapping it by more than ``iou_threshold``; rounds stop at ``max_keep`` boxes.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    limit = len(order) if max_keep is None else max_keep
    while order.size and len(keep) < limit:
        best = order[0]
        keep.append(int(best))
        if order.size == 1:
            break
        rest = order[1:]
        overlaps = box_iou(xyxy[best : best + 1], xyxy[rest])[0]
        order = rest[overlaps <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    *,
    max_keep: int | None = None,
) -> np.ndarray:
    """Per-class NMS in one pass: boxes of different classes are offset so they never overlap."""
    if xyxy.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.max(xyxy)) - float(min(np.min(xyxy), 0.0)) + 1.0
    shifted = xyxy + (class_ids.astype(np.float64) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep=max_keep)
