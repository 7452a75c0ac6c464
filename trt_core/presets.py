"""Named recipes: preprocessing conventions plus detection thresholds that belong together.

``nvidia-yolov3`` reproduces NVIDIA's TensorRT ``yolov3_onnx`` sample: the image is
stretched (no letterbox) to the input size with bicubic resampling, a box is kept when
objectness x class probability >= 0.6, and NMS runs per class at IoU 0.5.

``ultralytics`` is what ``yolo predict`` does (Ultralytics' letterbox, grey 114, OpenCV
INTER_LINEAR resize; conf 0.25, IoU 0.7, at most 300 boxes, per-class NMS), and
``ultralytics-yolov5`` the legacy YOLOv5 repository's ``detect.py`` (IoU 0.45, 1000 boxes).
A model whose metadata says it comes from one of them gets that preset by itself
(:attr:`ModelSpec.preset`); a preset the caller names, and the caller's own values, win.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from trt_core.errors import InvalidRequestError
from trt_core.metadata import ULTRALYTICS_PREPROCESS
from trt_core.params import DetectParams

if TYPE_CHECKING:
    from trt_core.spec import ModelSpec


@dataclass(frozen=True)
class Preset:
    """A recipe: :class:`~trt_core.spec.ModelSpec` overrides and default thresholds."""

    name: str
    # ModelSpec fields, e.g. {"letterbox": False, "resize": "bicubic"}; read-only
    spec_overrides: Mapping[str, Any] = field(hash=False)
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
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
        "ultralytics": Preset(
            name="ultralytics",
            spec_overrides=ULTRALYTICS_PREPROCESS,
            conf=0.25,
            iou=0.7,
            max_det=300,
            agnostic=False,
            description="yolo predict: letterbox, pad 114, OpenCV INTER_LINEAR resize, conf 0.25, "
            "per-class NMS at IoU 0.7, at most 300 boxes",
        ),
        "ultralytics-yolov5": Preset(
            name="ultralytics-yolov5",
            spec_overrides=ULTRALYTICS_PREPROCESS,
            conf=0.25,
            iou=0.45,
            max_det=1000,
            agnostic=False,
            description="the YOLOv5 repository's detect.py: letterbox, pad 114, OpenCV INTER_LINEAR resize, "
            "conf 0.25, per-class NMS at IoU 0.45, at most 1000 boxes",
        ),
    }
)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`InvalidRequestError` for an unknown name."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidRequestError(f"unknown preset {name!r}", hint=f"one of: {', '.join(sorted(PRESETS))}") from None


def preset_params(preset: str | None) -> DetectParams:
    """The default thresholds of ``preset`` (``None``: :class:`DetectParams`' own)."""
    if preset is None:
        return DetectParams()
    chosen = get_preset(preset)
    return DetectParams(conf=chosen.conf, iou=chosen.iou, max_det=chosen.max_det, agnostic=chosen.agnostic)


def resolve(
    preset: str | None, spec_overrides: Mapping[str, Any], **thresholds: Any
) -> tuple[dict[str, Any], DetectParams]:
    """Merge a preset with the caller's choices (the caller's win): the ModelSpec overrides
    and the default :class:`DetectParams` (``thresholds``: conf, iou, max_det, classes,
    agnostic; ``None`` means not given).  The preset is recorded as the spec's ``preset``."""
    overrides = dict(spec_overrides)
    if preset is not None:
        overrides = {**get_preset(preset).spec_overrides, "preset": preset, **overrides}
    return overrides, preset_params(preset).replace(**thresholds)


def load_spec(
    path: str | Path, preset: str | None, spec_overrides: Mapping[str, Any], **thresholds: Any
) -> tuple[ModelSpec, DetectParams]:
    """Read ``path``'s :class:`ModelSpec` and the default thresholds, most specific first:
    the caller's ``thresholds`` and ``spec_overrides``, then the named ``preset``, then the
    preset the model's metadata implies (``spec.preset``, e.g. ``"ultralytics"``), then the
    metadata and the defaults.  ``spec_overrides={"preset": None}`` turns the last one off."""
    from trt_core.spec import ModelSpec

    overrides, _ = resolve(preset, spec_overrides)
    spec = ModelSpec.from_onnx(path, **overrides)
    return spec, preset_params(spec.preset).replace(**thresholds)
