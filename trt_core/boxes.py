"""Pure, vectorised box functions.  None of them mutates its inputs; all handle N = 0.

Non-maximum suppression is the textbook greedy algorithm (keep the best remaining box,
drop every box overlapping it by more than the threshold, repeat), computed in blocks of
score-sorted boxes so that no Python loop runs once per box:

1. each block of ``BLOCK`` boxes is checked against the boxes already kept (one IoU
   matrix, restricted to kept boxes whose extent can touch the block's);
2. inside the block, the greedy outcome is the unique fixed point of
   ``keep[j] = not any(keep[i] and iou[i, j] > t for i < j)`` over the upper-triangular
   overlap matrix, reached by iterating from "keep all" (the Cluster-NMS iteration of
   Zheng et al., 2021; it needs as many rounds as the longest chain of suppressions,
   usually 2-4, and at most the block's size).

The result is exactly the one-box-at-a-time greedy NMS (same IoU arithmetic, same order,
ties broken by input order).  OpenCV's ``cv2.dnn.NMSBoxesBatched`` is faster still (C++,
about 0.4 ms for 1,000 boxes against ~1 ms here), but costs a 50 MB dependency that
nothing else in the core needs and computes IoU on ``x, y, w, h`` doubles, so its results
can differ from ours at the threshold; ``benchmarks/cpu_nms.py`` measures both.
"""

from __future__ import annotations

import numpy as np

#: boxes per block: large enough to amortise numpy's per-call cost, small enough that the
#: in-block matrix (BLOCK**2) and its fixed-point rounds stay cheap
BLOCK = 128


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[..., 2:4] / 2
    return np.concatenate([boxes[..., 0:2] - half, boxes[..., 0:2] + half], axis=-1)


def box_area(xyxy: np.ndarray) -> np.ndarray:
    return np.clip(xyxy[..., 2] - xyxy[..., 0], 0, None) * np.clip(xyxy[..., 3] - xyxy[..., 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)``."""
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(width, 0) * np.maximum(height, 0)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, *, max_keep: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.

    A box is dropped when its IoU with a better kept box is above ``iou_threshold``; equal
    scores keep input order; at most ``max_keep`` indices are returned.
    """
    order = np.argsort(-scores, kind="stable")
    return order[_greedy(xyxy[order], iou_threshold, max_keep)]


def batched_nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    *,
    max_keep: int | None = None,
) -> np.ndarray:
    """Per-class NMS in one pass: boxes of different classes are offset so they never overlap.

    Boxes are visited class by class (best first within a class), so a block mostly holds
    one class and meets few kept boxes of others; the kept set is then put in score order.
    """
    if xyxy.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.max(xyxy)) - float(min(np.min(xyxy), 0.0)) + 1.0
    shifted = xyxy + (class_ids.astype(np.float64) * span)[:, None]
    by_score = np.argsort(-scores, kind="stable")
    rank = np.empty_like(by_score)
    rank[by_score] = np.arange(by_score.size)
    order = by_score[np.argsort(class_ids[by_score], kind="stable")]  # class, then score rank
    kept = order[_greedy(shifted[order], iou_threshold, None)]
    return kept[np.argsort(rank[kept])][:max_keep]


def _greedy(boxes: np.ndarray, iou_threshold: float, max_keep: int | None) -> np.ndarray:
    """Positions kept by greedy NMS over ``boxes`` already in visiting order."""
    n = boxes.shape[0]
    limit = n if max_keep is None else max(int(max_keep), 0)
    kept = np.zeros(n, dtype=np.int64)
    count = 0
    for start in range(0, n, BLOCK):
        if count >= limit:
            break
        block = boxes[start : start + BLOCK]
        alive = np.arange(block.shape[0])
        if count:
            prior = boxes[kept[:count]]
            prior = prior[_touching(prior, block)]
            if prior.shape[0]:
                alive = alive[~(box_iou(prior, block) > iou_threshold).any(axis=0)]
        alive = alive[_resolve(block[alive], iou_threshold)]
        taken = min(alive.size, limit - count)
        kept[count : count + taken] = start + alive[:taken]
        count += taken
    return kept[:count]


def _touching(prior: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Mask of ``prior`` boxes that can overlap some box of ``block`` (a positive-area
    intersection needs overlapping extents; boxes with NaN coordinates never overlap)."""
    low = block[:, :2].min(axis=0)
    high = block[:, 2:].max(axis=0)
    return (prior[:, 0] < high[0]) & (prior[:, 2] > low[0]) & (prior[:, 1] < high[1]) & (prior[:, 3] > low[1])


def _resolve(block: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS inside one block: the fixed point of the in-block suppression."""
    keep = np.ones(block.shape[0], dtype=bool)
    if block.shape[0] < 2:
        return keep
    overlaps = np.triu(box_iou(block, block) > iou_threshold, 1)
    if not overlaps.any():
        return keep
    weights = overlaps.astype(np.float32)
    while True:
        updated = (keep.astype(np.float32) @ weights) == 0
        if np.array_equal(updated, keep):
            return keep
        keep = updated
