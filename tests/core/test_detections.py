from __future__ import annotations

import numpy as np
import pytest

from trt_core.detections import Detections


def sample() -> Detections:
    return Detections(
        np.array([[0, 0, 10, 10], [5, 5, 20, 25], [1, 2, 3, 4]]),
        np.array([0.9, 0.5, 0.3]),
        np.array([0, 2, 1]),
        names=("circle", "square", "triangle"),
    )


def test_dtypes_and_len() -> None:
    d = sample()
    assert len(d) == 3
    assert d.xyxy.dtype == np.float32 and d.scores.dtype == np.float32 and d.class_ids.dtype == np.int64
    assert d.labels == ["circle", "triangle", "square"]


def test_shape_validation() -> None:
    with pytest.raises(ValueError, match="must be"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        Detections(np.zeros((2, 5)), np.zeros(2), np.zeros(2))


def test_boolean_mask_and_index_selection() -> None:
    d = sample()
    high = d[d.scores > 0.4]
    assert len(high) == 2 and high.class_ids.tolist() == [0, 2]
    assert d[1].xyxy.shape == (1, 4)
    assert len(d[np.array([], dtype=np.int64)]) == 0
    assert d[::2].scores.tolist() == pytest.approx([0.9, 0.3])


def test_empty() -> None:
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4) and empty.to_list() == []
    assert len(Detections([], [], [])) == 0


def test_to_list_matches_http_contract_and_round_trips() -> None:
    items = sample().to_list()
    assert items[0] == {"box": [0.0, 0.0, 10.0, 10.0], "score": 0.9, "class_id": 0, "label": "circle"}
    again = Detections.from_list(items, names=("circle", "square", "triangle"))
    np.testing.assert_allclose(again.xyxy, sample().xyxy)
    assert again.labels == sample().labels


def test_unknown_class_label_falls_back_to_id() -> None:
    assert Detections(np.zeros((1, 4)), [0.5], [7]).labels == ["7"]
