"""``Detections``: the one result type — boxes, scores and class ids as aligned numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Detections:
    """``N`` detections: ``xyxy`` ``(N, 4)`` float32 pixels, ``scores`` ``(N,)`` float32,
    ``class_ids`` ``(N,)`` int64, and the model's class ``names`` for labels."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    names: Sequence[str] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) == 0 else self.xyxy
        object.__setattr__(self, "xyxy", np.asarray(xyxy, dtype=np.float32))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "class_ids", np.asarray(self.class_ids, dtype=np.int64).reshape(-1))
        n = self.xyxy.shape[0]
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must be (N, 4), got {self.xyxy.shape}")
        if self.scores.shape != (n,) or self.class_ids.shape != (n,):
            raise ValueError(
                f"scores {self.scores.shape} and class_ids {self.class_ids.shape} must be ({n},) like xyxy"
            )

    @classmethod
    def empty(cls, names: Sequence[str] = ()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), names)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: Any) -> Detections:
        """Select with a boolean mask, an index array, a slice or an int (keeps 2-D shapes)."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(self.xyxy[index], self.scores[index], self.class_ids[index], self.names)

    @property
    def labels(self) -> list[str]:
        return [self.names[c] if 0 <= c < len(self.names) else str(c) for c in self.class_ids.tolist()]

    def to_list(self) -> list[dict[str, Any]]:
        """The ``detections`` array of the HTTP contract."""
        boxes = self.xyxy.tolist()
        return [
            {"box": [round(v, 3) for v in box], "score": round(score, 5), "class_id": class_id, "label": label}
            for box, score, class_id, label in zip(boxes, self.scores.tolist(), self.class_ids.tolist(), self.labels)
        ]

    @classmethod
    def from_list(cls, items: Sequence[dict[str, Any]], names: Sequence[str] = ()) -> Detections:
        """Inverse of :meth:`to_list` (e.g. for a server's JSON answer)."""
        if not items:
            return cls.empty(names)
        return cls(
            np.array([d["box"] for d in items], np.float32),
            np.array([d["score"] for d in items], np.float32),
            np.array([d["class_id"] for d in items], np.int64),
            names,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (
            np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.scores, other.scores)
            and np.array_equal(self.class_ids, other.class_ids)
        )

    __hash__ = None  # type: ignore[assignment]
