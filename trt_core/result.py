"""The JSON result of one image, shared by the HTTP API, handle calls and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trt_core.detections import Detections


def result_dict(
    model: str, width: int, height: int, detections: Detections, timing_ms: Mapping[str, float] | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "model": model,
        "image": {"width": width, "height": height},
        "detections": detections.to_list(),
    }
    if timing_ms is not None:
        result["timing_ms"] = {k: round(v, 3) for k, v in timing_ms.items()}
    return result
