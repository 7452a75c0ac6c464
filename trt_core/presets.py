"""Named recipes: preprocessing conventions plus detection thresholds that belong together.

``nvidia-yolov3`` reproduces NVIDIA's TensorRT ``yolov3_onnx`` sample: the image is
stretched (no letterbox) to the input size with bicubic resampling, a box is kept when
objectness x class probability >= 0.6, and NMS runs per class at IoU 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trt_core.errors import InvalidRequestError
from trt_core.params import DetectParams


@dataclass(frozen=True)
class Preset:
    """A recipe: :class:`~trt_core.spec.ModelSpec` overrides and default thresholds."""

    name: str
    # ModelSpec fields, e.g. {"letterbox": False, "resize": "bicubic"}; read-only
    spec_overrides: Mapping[str, Any] = field(hash=False)
    conf: float = 0.25
    iou: float = 0.45
    agnostic: bool = False
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Read-only, so a preset cannot be changed through a caller's reference to it.
        object.__setattr__(self, "spec_overrides", MappingProxyType(dict(self.spec_overrides)))


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "nvidia-yolov3": Preset(
            name="nvidia-yolov3",
            spec_overrides={"letterbox": False, "resize": "bicubic"},
            conf=0.6,
            iou=0.5,
            agnostic=False,
            description="NVIDIA's yolov3_onnx sample: stretch resize (bicubic), "
            "objectness x class >= 0.6, per-class NMS at IoU 0.5",
        ),
    }
)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`InvalidRequestError` for an unknown name."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidRequestError(f"unknown preset {name!r}", hint=f"one of: {', '.join(sorted(PRESETS))}") from None


def resolve(
    preset: str | None, spec_overrides: Mapping[str, Any], **thresholds: Any
) -> tuple[dict[str, Any], DetectParams]:
    """Merge a preset with the caller's choices (the caller's win): the ModelSpec overrides
    and the default :class:`DetectParams` (``thresholds``: conf, iou, max_det, classes,
    agnostic; ``None`` means not given)."""
    params = DetectParams()
    overrides = dict(spec_overrides)
    if preset is not None:
        chosen = get_preset(preset)
        overrides = {**chosen.spec_overrides, **overrides}
        params = params.replace(conf=chosen.conf, iou=chosen.iou, agnostic=chosen.agnostic)
    return overrides, params.replace(**thresholds)
