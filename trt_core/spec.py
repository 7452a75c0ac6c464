"""``ModelSpec``: everything the pipeline needs to know about a detector model.

The ONNX file is the source of truth: the input's name and size and the outputs' names
and shapes come from the graph, and the rest (format, anchors, masks, class names,
preprocessing conventions) from ``metadata_props``.  Ultralytics' own metadata (``task``,
``names``, ``imgsz``, ``stride``, ``args``, ``end2end``) is read before any guessing from
shapes, and its models get its preprocessing (letterbox, pad 114, INTER_LINEAR).  Models
with no metadata whose outputs look like NVIDIA's Darknet YOLOv3 export get that sample's
defaults.  Every field can be overridden by the caller.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trt_core import layouts, metadata
from trt_core.errors import ModelLoadError, ModelSpecError
from trt_core.layouts import COCO_ANCHORS, COCO_MASKS, FORMATS, TINY_ANCHORS, TINY_MASKS, coco_names

__all__ = [
    "COCO_ANCHORS", "COCO_MASKS", "FORMATS", "NVIDIA_YOLOV3_INPUT", "TINY_ANCHORS", "TINY_MASKS",
    "ModelSpec", "OutputFormat", "TensorDesc", "coco_names",
]  # fmt: skip
logger = logging.getLogger(__name__)

OutputFormat = Literal["yolov3", "yolov5", "yolov8", "end2end", "candidates"]

NVIDIA_YOLOV3_INPUT = (608, 608)


@dataclass(frozen=True)
class TensorDesc:
    """Name, shape (``-1`` for a dynamic axis) and numpy dtype name of a graph input/output."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class ModelSpec:
    """A detector model's interface and conventions; immutable, picklable, cheap to send."""

    name: str
    format: OutputFormat
    input: TensorDesc
    outputs: tuple[TensorDesc, ...]
    names: tuple[str, ...]
    anchors: tuple[tuple[float, float], ...] = ()
    masks: tuple[tuple[int, ...], ...] = ()
    scale_x_y: tuple[float, ...] = ()
    letterbox: bool = True
    pad_value: int = 114
    # bilinear: integer-factor reductions (DCT domain, box filter), a 3-tap antialias, then
    # OpenCV's INTER_LINEAR;
    # bicubic: Pillow's filter on the full decode (NVIDIA's sample); linear: OpenCV's
    # INTER_LINEAR of the full decode (no antialiasing), what Ultralytics' own preprocessing does
    resize: Literal["bilinear", "bicubic", "linear"] = "bilinear"
    input_scale: float = 1.0 / 255.0
    # the recipe (trt_core.presets) whose thresholds apply when the caller names none:
    # "ultralytics" / "ultralytics-yolov5" when the metadata says who exported the model
    preset: str | None = None
    stride: int = 32  # the largest head stride (Ultralytics' ``stride``)
    # Ultralytics' rectangular letterbox (``auto=True``): pad only up to a multiple of
    # ``stride``, what ``yolo predict`` does for exports with dynamic H/W (``dynamic=True``)
    rect: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # -- derived -------------------------------------------------------------------------
    @property
    def input_hw(self) -> tuple[int, int]:
        return self.input.shape[2], self.input.shape[3]

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def static_batch(self) -> int | None:
        """The input's fixed batch size, or ``None`` when the batch axis is dynamic."""
        batch = self.input.shape[0]
        return None if batch < 1 else batch

    @property
    def batch_note(self) -> str | None:
        """What a fixed batch size costs, in words (``None`` when the batch axis is dynamic)."""
        batch = self.static_batch
        if batch is None:
            return None
        cost = (
            "images are inferred one at a time: dynamic batching cannot group requests, so a GPU runs at "
            "its batch-1 throughput"
            if batch == 1
            else f"every inference runs {batch} images: smaller batches are padded up to {batch}"
        )
        return f"fixed batch size {batch}: {cost}; re-export with a dynamic batch axis (Ultralytics: dynamic=True)"

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    def label(self, class_id: int) -> str:
        return self.names[class_id] if 0 <= class_id < len(self.names) else str(class_id)

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed (validated); ``input_size=(h, w)`` is accepted too."""
        size = changes.pop("input_size", None)
        if size is not None:
            h, w = _pair(size)
            changes["input"] = dataclasses.replace(self.input, shape=(*self.input.shape[:2], h, w))
        for key in ("anchors", "masks", "names", "scale_x_y"):
            if key in changes and isinstance(changes[key], str):
                changes[key] = metadata.PARSERS[key](changes[key])
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ModelSpecError(f"unknown model spec field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **_normalise(changes))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (``GET /model``)."""
        h, w = self.input_hw
        return {
            "name": self.name,
            "format": self.format,
            "input": {"name": self.input.name, "height": h, "width": w, "dtype": self.input.dtype},
            "outputs": [{"name": o.name, "shape": list(o.shape)} for o in self.outputs],
            "classes": list(self.names),
            "letterbox": self.letterbox,
            "pad_value": self.pad_value,
            "resize": self.resize,
            "rect": self.rect,
            "stride": self.stride,
            "preset": self.preset,
            "static_batch": self.static_batch,
            "notes": [self.batch_note] if self.batch_note else [],
            "anchors": [list(a) for a in self.anchors] if self.anchors else None,
            "masks": [list(m) for m in self.masks] if self.masks else None,
        }

    # -- validation ----------------------------------------------------------------------
    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ModelSpecError(f"unknown output format {self.format!r}", hint=f"one of {', '.join(FORMATS)}")
        if len(self.input.shape) != 4 or self.input.shape[1] != 3:
            raise ModelSpecError(f"input {self.input.name!r} must be (N, 3, H, W), got {self.input.shape}")
        h, w = self.input_hw
        if h < 1 or w < 1:
            raise ModelSpecError(
                f"input {self.input.name!r} has a dynamic spatial size {self.input.shape}",
                hint="set input_size (metadata 'input_size' or an override)",
            )
        if not self.names:
            raise ModelSpecError("the model has no class names", hint="set metadata 'names' or pass names=")
        if not self.outputs:
            raise ModelSpecError("the model has no outputs")
        if self.format == "yolov3":
            heads = [(o.name, o.shape) for o in self.outputs]
            layouts.check_yolov3(heads, self.anchors, self.masks, self.scale_x_y, self.num_classes)
        if len(self.outputs) == 1:
            layouts.check_layout(self.format, self.outputs[0].name, self.outputs[0].shape, self.num_classes)
        if not 0 <= self.pad_value <= 255:
            raise ModelSpecError(f"pad_value must be in 0..255, got {self.pad_value}")

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_onnx(cls, path: str | Path, **overrides: Any) -> ModelSpec:
        """Read the spec from an ONNX file's graph and metadata, then apply ``overrides``."""
        import onnx

        try:
            model = onnx.load(str(path), load_external_data=False)
        except FileNotFoundError:
            raise ModelLoadError(f"model file not found: {path}") from None
        except Exception as exc:
            raise ModelLoadError(f"cannot read ONNX model {path}: {exc}") from exc
        spec = cls.from_onnx_model(model, default_name=Path(path).stem, **overrides)
        if spec.batch_note:
            logger.warning("%s: %s", path, spec.batch_note)
        return spec

    @classmethod
    def from_onnx_model(cls, model: Any, *, default_name: str = "model", **overrides: Any) -> ModelSpec:
        graph = model.graph
        initialisers = {i.name for i in graph.initializer}
        inputs = [_tensor_desc(v) for v in graph.input if v.name not in initialisers]
        if len(inputs) != 1:
            raise ModelSpecError(f"expected one image input, found {[i.name for i in inputs]}")
        outputs = tuple(_tensor_desc(v) for v in graph.output)
        props = {p.key: p.value for p in model.metadata_props}
        return cls.from_parts(inputs[0], outputs, props, default_name=default_name, **overrides)

    @classmethod
    def from_parts(
        cls,
        input_desc: TensorDesc,
        outputs: tuple[TensorDesc, ...],
        props: Mapping[str, str],
        *,
        default_name: str = "model",
        **overrides: Any,
    ) -> ModelSpec:
        """Build a spec from I/O descriptions and metadata strings (what an ONNX file holds)."""
        meta = metadata.parse(props)
        export = metadata.exporter_info(props)
        if export is not None and export.task != "detect":
            raise ModelSpecError(
                f"this is an Ultralytics {export.task!r} model; only detection models (task 'detect') are served",
                hint="export a detection model, e.g. yolo11n.pt",
            )
        for key in ("anchors", "masks", "names", "scale_x_y"):
            if key in overrides and isinstance(overrides[key], str):
                overrides[key] = metadata.PARSERS[key](overrides[key])
        names = overrides.get("names") or meta.get("names")
        shapes = [o.shape for o in outputs]
        fmt = (
            overrides.pop("format", None)
            or meta.get("format")
            or layouts.guess_format(
                shapes,
                num_classes=len(names) if names else None,
                end2end=export.end2end if export else None,
                ultralytics=export is not None and export.origin == "ultralytics",
            )
        )
        # Ultralytics' predictor letterboxes "rect" (pads to a multiple of the stride) for
        # ONNX models it calls dynamic: a symbolic batch axis on the first output, which its
        # exporter writes only with dynamic=True, and then with dynamic input H/W too (required
        # here as well: a rect tensor could not run otherwise)
        dynamic_hw = len(input_desc.shape) == 4 and min(input_desc.shape[2:]) < 1
        rect = dynamic_hw and bool(outputs) and bool(outputs[0].shape) and outputs[0].shape[0] < 1
        size = overrides.pop("input_size", None) or meta.get("input_size")
        if size is not None:
            h, w = _pair(size)
            input_desc = dataclasses.replace(input_desc, shape=(*input_desc.shape[:2], h, w))
        nvidia_default = fmt == "yolov3" and "format" not in meta and "anchors" not in meta and export is None
        if nvidia_default and min(input_desc.shape[2:]) < 1:
            input_desc = dataclasses.replace(input_desc, shape=(*input_desc.shape[:2], *NVIDIA_YOLOV3_INPUT))
        conventions: dict[str, Any] = {
            "letterbox": not nvidia_default,
            "pad_value": 128 if fmt == "yolov3" else 114,
            "resize": "bicubic" if nvidia_default else "bilinear",
        }
        fields: dict[str, Any] = {
            "name": meta.get("name", default_name),
            "format": fmt,
            "input": input_desc,
            "outputs": outputs,
            "names": meta.get("names") or layouts.default_names(fmt, shapes),
            "extra": {k: v for k, v in props.items() if k not in metadata.KNOWN_KEYS},
        }
        if export is not None:
            conventions.update(metadata.ULTRALYTICS_PREPROCESS)
            fields["preset"] = "ultralytics" if export.origin == "ultralytics" else "ultralytics-yolov5"
            fields["stride"] = export.stride or 32
            fields["rect"] = rect and export.origin == "ultralytics"
        fields.update({key: meta.get(key, default) for key, default in conventions.items()})
        if fmt == "yolov3":
            anchors, masks = layouts.default_anchors(len(outputs))
            fields["anchors"] = meta.get("anchors", anchors)
            fields["masks"] = meta.get("masks", masks)
            if "scale_x_y" in meta:
                fields["scale_x_y"] = meta["scale_x_y"]
        if "input_scale" in meta:
            fields["input_scale"] = meta["input_scale"]
        fields.update(overrides)
        return cls(**_normalise(fields))


def _tensor_desc(value_info: Any) -> TensorDesc:
    import onnx

    tensor_type = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tensor_type.shape.dim)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
    return TensorDesc(value_info.name, dims, dtype)


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else value.replace("x", ",").split(",")
    if isinstance(value, int):
        return value, value
    items = [int(v) for v in value]
    if len(items) == 1:
        return items[0], items[0]
    if len(items) != 2:
        raise ModelSpecError(f"input size must be N or (H, W), got {value!r}")
    return items[0], items[1]


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    """Coerce list-typed fields to tuples so specs stay hashable and compare equal."""
    out = dict(fields)
    if "anchors" in out:
        out["anchors"] = tuple((float(w), float(h)) for w, h in out["anchors"])
    if "masks" in out:
        out["masks"] = tuple(tuple(int(i) for i in m) for m in out["masks"])
    if "names" in out:
        out["names"] = tuple(str(n) for n in out["names"])
    if "scale_x_y" in out:
        out["scale_x_y"] = tuple(float(s) for s in out["scale_x_y"])
    if "outputs" in out:
        out["outputs"] = tuple(out["outputs"])
    return out
