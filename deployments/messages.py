"""What travels between the stages: typed, compact, numpy inside.

Ingress -> Preprocess: the image (encoded bytes, an array or a PIL image) and the request's
:class:`~trt_core.params.DetectParams`.  Preprocess -> Detector: :class:`PreprocessedImage`
(uint8, a quarter of float32).  Detector -> Postprocess: :class:`InferredImage` (24 KB of
candidates when decoding runs in the graph).  Postprocess -> Preprocess -> Ingress:
:class:`DetectedImage`, turned into JSON only at the edge.

Each hop carries a list of images (the requests an Ingress replica has in flight together:
a Serve call costs a replica about as much CPU as decoding a small JPEG), and answers each
image's :data:`Outcome`, so that one image's failure stays its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, Union

import numpy as np

from trt_core.detections import Detections
from trt_core.preprocess import Geometry
from trt_core.result import result_dict

A = TypeVar("A")
B = TypeVar("B")
# One image's result in a call that carries several: its value, or the error that is its own
Outcome = Union[A, BaseException]  # noqa: UP007 (a generic alias: Outcome[DetectedImage])


def unwrap(outcome: Outcome[A]) -> A:
    """The value, or raise the image's own error."""
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


async def forward(
    outcomes: list[Outcome[A]], call: Callable[[list[int], list[A]], Awaitable[list[Outcome[B]]]]
) -> list[Outcome[B]]:
    """``call(indices, values)`` on the images that succeeded so far, in one call; the failed
    ones keep their errors, in their places."""
    ok = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, BaseException)]
    results: list[Outcome[B]] = [o if isinstance(o, BaseException) else RuntimeError("no result") for o in outcomes]
    if ok:
        for i, result in zip(ok, await call(ok, [unwrap(outcomes[i]) for i in ok])):
            results[i] = result
    return results


@dataclass(frozen=True)
class PreprocessedImage:
    tensor: np.ndarray  # uint8 (3, H, W)
    geometry: Geometry
    timing_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class InferredImage:
    outputs: list[np.ndarray]  # one image's outputs, batch axis removed
    geometry: Geometry
    timing_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1


@dataclass(frozen=True)
class DetectedImage:
    detections: Detections  # in pixels of the image as displayed
    width: int
    height: int
    timing_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1

    def waited(self, where: str, ms: float) -> DetectedImage:
        """The same result, its timing with ``ms`` spent waiting at ``where``."""
        return replace(self, timing_ms={**self.timing_ms, where: ms})

    def to_dict(self, model: str, total_ms: float | None = None) -> dict[str, Any]:
        """The HTTP / handle JSON object of one image."""
        timing = dict(self.timing_ms)
        if total_ms is not None:
            timing["total"] = total_ms
        result = result_dict(model, self.width, self.height, self.detections, timing)
        result["batch_size"] = self.batch_size
        return result
