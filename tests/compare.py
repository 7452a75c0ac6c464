"""One way to compare detections in the tests: same classes in the same order, boxes and
scores within tolerances.  Either side may be a :class:`Detections` or the HTTP JSON list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trt_core.detections import Detections


def as_detections(value: Detections | Sequence[dict[str, Any]]) -> Detections:
    return value if isinstance(value, Detections) else Detections.from_list(list(value))


def assert_same_detections(
    got: Detections | Sequence[dict[str, Any]],
    want: Detections | Sequence[dict[str, Any]],
    *,
    box_atol: float = 1e-3,
    score_atol: float = 1e-5,
) -> None:
    a, b = as_detections(got), as_detections(want)
    assert a.class_ids.tolist() == b.class_ids.tolist(), (a.class_ids, b.class_ids)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=score_atol)
    np.testing.assert_allclose(a.xyxy, b.xyxy, rtol=1e-4, atol=box_atol)
