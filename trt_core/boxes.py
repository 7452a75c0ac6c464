"""Pure, vectorised box functions.  None of them mutates its inputs; all handle N = 0.

Non-maximum suppression is the textbook greedy algorithm (keep the best remaining box,
drop every box overlapping it by more than the threshold, repeat), computed a block of
``BLOCK`` boxes at a time so that no Python loop runs once per box:

1. the next block is taken from the boxes no kept box has suppressed so far;
2. inside it, the greedy outcome is the unique fixed point of
   ``keep[j] = not any(keep[i] and iou[i, j] > t for i < j)`` over the block's
   upper-triangular overlap matrix, reached by iterating from "keep all" (the Cluster-NMS
   iteration of Zheng et al., 2021: as many rounds as the longest chain of suppressions,
   usually 2-4, at most the block's size);
3. the block's kept boxes drop, in one IoU matrix, the later boxes they suppress (only
   those inside their extent and, per class, of the class that continues after the block).

Per-class NMS visits boxes class by class, so a box only ever meets its own class.  The
result is exactly the one-box-at-a-time greedy NMS: same IoU arithmetic (float32 for
float32 boxes), same order, equal scores in input order.

Why not OpenCV's ``cv2.dnn.NMSBoxesBatched``: ``benchmarks/cpu_nms.py`` measures both on
one core.  OpenCV is faster for 1,000 candidates (~0.4 ms against ~1-1.5 ms here, both
within the 2 ms budget), slower per class for 10,000 (it offsets classes and compares
every kept box with every box), and computes IoU on ``x, y, w, h`` doubles, so it can
disagree with the float32 decision at the threshold; its ``top_k`` limits candidates,
not kept boxes.  Exactness against the reference and the per-class scaling decided it.
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


def _overlaps(a: np.ndarray, b: np.ndarray, iou_threshold: float) -> np.ndarray:
    """``box_iou(a, b) > iou_threshold`` with the same arithmetic, in fewer passes."""
    inter = np.minimum(a[:, None, 2], b[None, :, 2])
    inter -= np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3])
    height -= np.maximum(a[:, None, 1], b[None, :, 1])
    np.maximum(inter, 0, out=inter)
    inter *= np.maximum(height, 0, out=height)
    union = box_area(a)[:, None] + box_area(b)[None, :]
    union -= inter
    positive = union > 0
    inter /= np.maximum(union, 1e-12, out=union)
    return np.where(positive, inter > iou_threshold, iou_threshold < 0.0)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, *, max_keep: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.

    A box is dropped when its IoU with a better kept box is above ``iou_threshold``; equal
    scores keep input order; at most ``max_keep`` indices are returned.
    """
    order = np.argsort(-scores, kind="stable")
    return order[_greedy(_floating(xyxy)[order], None, iou_threshold, max_keep)]


def batched_nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    *,
    max_keep: int | None = None,
) -> np.ndarray:
    """Per-class NMS: :func:`nms` within each class, the kept boxes of all classes in score
    order (equal scores: input order), at most ``max_keep``.

    Boxes are visited class by class (best first within a class), so a box meets only its
    own class's boxes (the IoU of two classes' boxes never counts).
    """
    by_score = np.argsort(-scores, kind="stable")
    order = by_score[np.argsort(class_ids[by_score], kind="stable")]  # class, then score rank
    kept = order[_greedy(_floating(xyxy)[order], class_ids[order], iou_threshold, None)]
    rank = np.empty_like(by_score)
    rank[by_score] = np.arange(by_score.size)
    return kept[np.argsort(rank[kept])][:max_keep]


def _floating(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy)
    return xyxy if np.issubdtype(xyxy.dtype, np.floating) else xyxy.astype(np.float64)


def _greedy(boxes: np.ndarray, classes: np.ndarray | None, iou_threshold: float, max_keep: int | None) -> np.ndarray:
    """Positions kept by greedy NMS over ``boxes`` in visiting order (sorted by ``classes``
    first when given: then only boxes of one class suppress each other)."""
    limit = boxes.shape[0] if max_keep is None else max(int(max_keep), 0)
    remaining = np.arange(boxes.shape[0])  # not suppressed by any box kept so far
    kept: list[np.ndarray] = []
    count = 0
    while remaining.size and count < limit:
        block, rest = remaining[:BLOCK], remaining[BLOCK:]
        block_classes = None if classes is None else classes[block]
        new = block[_resolve(boxes[block], block_classes, iou_threshold)][: limit - count]
        kept.append(new)
        count += new.size
        if rest.size and new.size and count < limit:
            rest = _suppress(boxes, classes, new, rest, iou_threshold)
        remaining = rest
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def _suppress(
    boxes: np.ndarray, classes: np.ndarray | None, new: np.ndarray, rest: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """``rest`` without the boxes that a box of ``new`` suppresses."""
    if classes is not None:  # sorted by class: only the class the block ends in goes on in ``rest``
        last = classes[new[-1]]
        new = new[classes[new] == last]
        near = rest[: np.searchsorted(classes[rest], last, side="right")]
    else:
        near = rest
    near = near[_touching(boxes[near], boxes[new])]
    if near.size == 0:
        return rest
    dropped = near[_overlaps(boxes[new], boxes[near], iou_threshold).any(axis=0)]
    return rest[~np.isin(rest, dropped, assume_unique=True)] if dropped.size else rest


def _touching(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Mask of ``boxes`` that can overlap some box of ``others`` (a positive-area
    intersection needs overlapping extents; boxes with NaN coordinates never overlap)."""
    low = others[:, :2].min(axis=0)
    high = others[:, 2:].max(axis=0)
    return (boxes[:, 0] < high[0]) & (boxes[:, 2] > low[0]) & (boxes[:, 1] < high[1]) & (boxes[:, 3] > low[1])


def _resolve(block: np.ndarray, classes: np.ndarray | None, iou_threshold: float) -> np.ndarray:
    """Greedy NMS inside one block: the fixed point of the in-block suppression."""
    keep = np.ones(block.shape[0], dtype=bool)
    if block.shape[0] < 2:
        return keep
    overlaps = np.triu(_overlaps(block, block, iou_threshold), 1)
    if classes is not None:
        overlaps &= classes[:, None] == classes[None, :]
    if not overlaps.any():
        return keep
    weights = overlaps.astype(np.float32)
    while True:
        updated = (keep.astype(np.float32) @ weights) == 0
        if np.array_equal(updated, keep):
            return keep
        keep = updated
