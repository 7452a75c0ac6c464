from __future__ import annotations

import numpy as np
import pytest

from trt_core.boxes import batched_nms, box_area, box_iou, cxcywh_to_xyxy, nms


def reference_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Textbook greedy NMS, one box at a time."""

    def iou(a: np.ndarray, b: np.ndarray) -> float:
        ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = ix * iy
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32), rng.permutation(n).astype(np.float32) / n


def test_iou_hand_computed() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]], rtol=1e-6)


def test_iou_handles_empty_and_degenerate() -> None:
    assert box_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    zero = np.array([[1, 1, 1, 1]], np.float32)
    assert box_iou(zero, zero)[0, 0] == 0.0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_nms_matches_reference(seed: int, threshold: float) -> None:
    boxes, scores = random_boxes(np.random.default_rng(seed), 60)
    assert nms(boxes, scores, threshold).tolist() == reference_nms(boxes, scores, threshold)


def test_nms_max_keep_and_empty() -> None:
    boxes, scores = random_boxes(np.random.default_rng(1), 40)
    full = nms(boxes, scores, 0.5)
    assert nms(boxes, scores, 0.5, max_keep=3).tolist() == full[:3].tolist()
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).shape == (0,)


def test_batched_nms_is_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 1, 0])
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.5).tolist() == [0]


def test_batched_nms_matches_reference_per_class() -> None:
    rng = np.random.default_rng(7)
    boxes, scores = random_boxes(rng, 80)
    classes = rng.integers(0, 3, 80)
    kept = set(batched_nms(boxes, scores, classes, 0.4).tolist())
    expected: set[int] = set()
    for c in range(3):
        idx = np.nonzero(classes == c)[0]
        expected |= {int(idx[i]) for i in reference_nms(boxes[idx], scores[idx], 0.4)}
    assert kept == expected


def test_box_functions_do_not_mutate() -> None:
    boxes, scores = random_boxes(np.random.default_rng(3), 20)
    before = boxes.copy(), scores.copy()
    nms(boxes, scores, 0.5)
    batched_nms(boxes, scores, np.zeros(20, np.int64), 0.5)
    box_area(boxes)
    cxcywh_to_xyxy(boxes)
    np.testing.assert_array_equal(boxes, before[0])
    np.testing.assert_array_equal(scores, before[1])


def test_cxcywh_to_xyxy() -> None:
    np.testing.assert_allclose(cxcywh_to_xyxy(np.array([[10, 20, 4, 6]], np.float32)), [[8, 17, 12, 23]])
    assert cxcywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4)
