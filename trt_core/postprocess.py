"""Candidates -> final detections: class filter, NMS, ``max_det``, original pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trt_core.boxes import batched_nms, nms
from trt_core.decoders import Candidates, decode
from trt_core.detections import Detections
from trt_core.params import DetectParams
from trt_core.preprocess import Geometry
from trt_core.spec import ModelSpec

MAX_CANDIDATES = 30_000


def select(candidates: Candidates, params: DetectParams, *, already_suppressed: bool = False) -> np.ndarray:
    """Indices of the candidates that survive filtering and NMS, best first."""
    xyxy, scores, class_ids = candidates
    index = np.nonzero(scores >= params.conf)[0]
    if params.classes is not None:
        index = index[np.isin(class_ids[index], np.asarray(params.classes, np.int64))]
    if index.size > MAX_CANDIDATES:
        index = index[np.argpartition(-scores[index], MAX_CANDIDATES)[:MAX_CANDIDATES]]
    if already_suppressed:
        order = np.argsort(-scores[index], kind="stable")[: params.max_det]
        return index[order]
    if params.agnostic:
        kept = nms(xyxy[index], scores[index], params.iou, max_keep=params.max_det)
    else:
        kept = batched_nms(xyxy[index], scores[index], class_ids[index], params.iou, max_keep=params.max_det)
    return index[kept]


def postprocess(outputs: Sequence[np.ndarray], spec: ModelSpec, geometry: Geometry, params: DetectParams) -> Detections:
    """One image's raw outputs (no batch axis) -> :class:`Detections` in original pixels."""
    candidates = decode(outputs, spec, params.conf)
    keep = select(candidates, params, already_suppressed=spec.format == "end2end")
    xyxy = geometry.to_original(candidates.xyxy[keep])
    visible = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    keep = keep[visible]
    return Detections(xyxy[visible], candidates.scores[keep], candidates.class_ids[keep], spec.names)
