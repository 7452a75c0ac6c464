"""Pure, vectorised box functions.  None of them mutates its inputs; all handle N = 0.

Non-maximum suppression is the textbook greedy algorithm — keep the best remaining box,
drop every box whose IoU with it is above the threshold, repeat — run by ONNX Runtime's
``NonMaxSuppression`` kernel (C++, single-threaded) through a tiny cached CPU session:
onnxruntime is already a core dependency, and its kernel computes IoU exactly as
:func:`box_iou` does in float32 (``min``/``max`` corners, ``inter / (area1 + area2 -
inter)``, suppress when ``> iou``).  What the kernel would do differently is removed
before it runs: scores become their rank (so equal scores keep input order, as a stable
sort does), boxes without positive width and height (and NaN) become empty boxes (which
never overlap, as with :func:`box_iou`, instead of having their corners swapped).  Per
class, each class is a row of the kernel's score matrix, holding its own boxes only.

Measured on one core (``benchmarks/cpu_nms.py``; 1,000 candidates, 80 classes, per class):
~0.13 ms, against ~1-1.5 ms for a blocked numpy implementation (IoU matrices and a
Cluster-NMS fixed point; commit 12c3493), ~0.8 ms for OpenCV's ``cv2.dnn.NMSBoxesBatched``
(which also computes IoU on ``x, y, w, h`` doubles, so it can disagree at the threshold)
and ~6 ms for the one-Python-round-per-kept-box loop it replaces.  ``tests/core/test_nms.py``
checks the results against that loop, kept there as the reference.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

#: largest classes x boxes score matrix handed to the kernel in one call (4M floats, 16 MB)
MAX_MATRIX = 1 << 22
_session: Any = None
_session_lock = threading.Lock()


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

    A box is dropped when its IoU (float32) with a better kept box is above
    ``iou_threshold``; equal scores keep input order; at most ``max_keep`` are returned.
    """
    return batched_nms(xyxy, scores, np.zeros(len(scores), np.int64), iou_threshold, max_keep=max_keep)


def batched_nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    *,
    max_keep: int | None = None,
) -> np.ndarray:
    """Per-class NMS: :func:`nms` within each class, the kept boxes of all classes in score
    order (equal scores: input order), at most ``max_keep``."""
    n = len(scores)
    limit = n if max_keep is None else max(int(max_keep), 0)
    if n == 0 or limit == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-np.asarray(scores), kind="stable")
    rank = np.empty(n, np.float32)
    rank[order] = np.arange(n, 0, -1, dtype=np.float32)  # best n ... worst 1: no ties
    boxes = np.asarray(xyxy, np.float32)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # False for NaN too
    boxes = np.where(valid[:, None], boxes, np.float32(0.0))
    classes, group = np.unique(np.asarray(class_ids), return_inverse=True)
    kept = []
    step = max(1, MAX_MATRIX // n)  # classes per kernel call
    for first in range(0, len(classes), step):
        members = np.nonzero((group >= first) & (group < first + step))[0] if len(classes) > step else np.arange(n)
        kept.append(members[_kernel(boxes[members], rank[members], group[members] - first, iou_threshold, limit)])
    found = np.concatenate(kept)
    return found[np.argsort(-rank[found], kind="stable")][:limit]


def _kernel(boxes: np.ndarray, rank: np.ndarray, group: np.ndarray, iou_threshold: float, limit: int) -> np.ndarray:
    """ONNX Runtime's NonMaxSuppression, one class per score row; kept positions."""
    n, rows = len(rank), int(group.max()) + 1
    scores = np.full((1, rows, n), -1.0, np.float32)  # below the 0 threshold: not a member
    scores[0, group, np.arange(n)] = rank
    feed = {
        "boxes": boxes[None],
        "scores": scores,
        "max_per_class": np.array([limit], np.int64),
        "iou": np.array([iou_threshold], np.float32),
        "score": np.array([0.0], np.float32),
    }
    selected = _nms_session().run(None, feed)[0]
    return np.asarray(selected[:, 2], np.int64)


def _nms_session() -> Any:
    global _session
    with _session_lock:
        if _session is None:
            import onnxruntime as ort
            from onnx import TensorProto, helper

            names = ("boxes", "scores", "max_per_class", "iou", "score")
            inputs = [
                helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, "n", 4]),
                helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, "c", "n"]),
                helper.make_tensor_value_info("max_per_class", TensorProto.INT64, [1]),
                helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
                helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
            ]
            output = helper.make_tensor_value_info("selected", TensorProto.INT64, ["k", 3])
            graph = helper.make_graph(
                [helper.make_node("NonMaxSuppression", list(names), ["selected"])], "nms", inputs, [output]
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
            model.ir_version = 7
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            _session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return _session
