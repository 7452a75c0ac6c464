"""``nms``/``batched_nms`` equal the one-box-at-a-time greedy NMS exactly (indices and order)."""

from __future__ import annotations

import numpy as np
import pytest

from trt_core import boxes as boxes_module
from trt_core.boxes import batched_nms, box_iou, nms


def greedy_reference(xyxy: np.ndarray, scores: np.ndarray, threshold: float, max_keep: int | None = None) -> list[int]:
    """The implementation the kernel replaced: one Python round per kept box."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    limit = len(order) if max_keep is None else max_keep
    while order.size and len(keep) < limit:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[box_iou(xyxy[best : best + 1], xyxy[rest])[0] <= threshold]
    return keep


def batched_reference(
    xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float, max_keep: int | None = None
) -> list[int]:
    """Greedy NMS class by class, merged in score order (ties: input order)."""
    kept: list[int] = []
    for c in np.unique(classes):
        members = np.nonzero(classes == c)[0]
        kept += [int(members[i]) for i in greedy_reference(xyxy[members], scores[members], threshold)]
    rank = {int(i): r for r, i in enumerate(np.argsort(-scores, kind="stable"))}
    return sorted(kept, key=rank.__getitem__)[:max_keep]


def clustered(rng: np.random.Generator, n: int, classes: int, *, ties: bool) -> tuple[np.ndarray, ...]:
    """Boxes jittered around a few objects, as a detector's candidates are."""
    objects = max(n // 8, 1)
    centres = rng.uniform(0, 600, (objects, 2))
    sizes = rng.uniform(10, 200, (objects, 2))
    pick = rng.integers(0, objects, n)
    cxy = centres[pick] + rng.normal(0, 8, (n, 2))
    wh = sizes[pick] * rng.uniform(0.8, 1.2, (n, 2))
    xyxy = np.concatenate([cxy - wh / 2, cxy + wh / 2], axis=1).astype(np.float32)
    scores = rng.uniform(0.05, 1.0, n).astype(np.float32)
    if ties:
        scores = np.round(scores, 1)
    return xyxy, scores, rng.integers(0, classes, n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [0, 1, 2, 37, 128, 129, 700])
def test_nms_equals_greedy_reference(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    xyxy, scores, classes = clustered(rng, n, classes=1 + seed, ties=seed % 2 == 0)
    for threshold in (0.0, 0.3, 0.45, 0.7, 1.0):
        for max_keep in (None, 1, 5, 200):
            want = greedy_reference(xyxy, scores, threshold, max_keep)
            assert nms(xyxy, scores, threshold, max_keep=max_keep).tolist() == want
            want = batched_reference(xyxy, scores, classes, threshold, max_keep)
            assert batched_nms(xyxy, scores, classes, threshold, max_keep=max_keep).tolist() == want


def test_ties_keep_input_order() -> None:
    xyxy = np.array([[0, 0, 10, 10]] * 4 + [[50, 50, 60, 60]] * 2, np.float32)
    scores = np.full(6, 0.5, np.float32)
    assert nms(xyxy, scores, 0.5).tolist() == [0, 4]
    assert batched_nms(xyxy, scores, np.array([1, 0, 1, 0, 2, 2]), 0.5).tolist() == [0, 1, 4]


def test_chains_resolve_exactly() -> None:
    """Each box overlaps only the next: kept and dropped alternate."""
    n = 389
    x = np.arange(n, dtype=np.float32) * 6
    xyxy = np.stack([x, np.zeros(n), x + 10, np.full(n, 10)], axis=1).astype(np.float32)
    scores = np.linspace(1, 0.1, n).astype(np.float32)
    assert nms(xyxy, scores, 0.2).tolist() == list(range(0, n, 2)) == greedy_reference(xyxy, scores, 0.2)


def test_degenerate_and_nan_boxes_match_reference() -> None:
    xyxy = np.array(
        [[0, 0, 0, 0], [0, 0, 0, 0], [5, 5, 1, 1], [0, 0, 10, 10], [np.nan, 0, 10, 10], [0, 0, 10, 10]], np.float32
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], np.float32)
    for threshold in (0.0, 0.5):
        assert nms(xyxy, scores, threshold).tolist() == greedy_reference(xyxy, scores, threshold)


def test_edge_sizes() -> None:
    empty = np.zeros((0, 4), np.float32)
    assert nms(empty, np.zeros(0, np.float32), 0.5).dtype == np.int64
    assert nms(empty, np.zeros(0, np.float32), 0.5).shape == (0,)
    assert batched_nms(empty, np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5).shape == (0,)
    one = np.array([[0, 0, 1, 1]], np.float32)
    assert nms(one, np.ones(1, np.float32), 0.5, max_keep=0).tolist() == []
    assert batched_nms(one, np.ones(1, np.float32), np.zeros(1, np.int64), 0.5, max_keep=0).tolist() == []


def test_many_classes_in_several_kernel_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boxes_module, "MAX_MATRIX", 150)  # 2 classes x 60 boxes a call
    xyxy, scores, classes = clustered(np.random.default_rng(4), 60, 7, ties=True)
    for max_keep in (None, 4):
        want = batched_reference(xyxy, scores, classes, 0.4, max_keep)
        assert batched_nms(xyxy, scores, classes, 0.4, max_keep=max_keep).tolist() == want


def test_float64_scores_order_like_a_stable_sort() -> None:
    xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11]], np.float32)
    scores = np.array([0.5, 0.5 + 1e-12, 0.5])  # equal in float32, not in float64
    assert nms(xyxy, scores, 0.5).tolist() == greedy_reference(xyxy, scores, 0.5) == [1]


def test_inputs_are_not_mutated() -> None:
    xyxy, scores, classes = clustered(np.random.default_rng(9), 60, 3, ties=True)
    copies = [a.copy() for a in (xyxy, scores, classes)]
    assert nms(xyxy, scores, 0.5).tolist() == greedy_reference(xyxy, scores, 0.5)
    assert batched_nms(xyxy, scores, classes, 0.5).tolist() == batched_reference(xyxy, scores, classes, 0.5)
    for before, after in zip(copies, (xyxy, scores, classes)):
        np.testing.assert_array_equal(before, after)


def test_integer_boxes() -> None:
    xyxy = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    scores = np.array([0.5, 0.9, 0.1])
    assert nms(xyxy, scores, 0.5).tolist() == greedy_reference(xyxy, scores, 0.5) == [1, 2]
