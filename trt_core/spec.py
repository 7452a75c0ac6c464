"""``ModelSpec``: everything the pipeline needs to know about a detector model.

The ONNX file is the source of truth: the input's name and size and the outputs' names
and shapes come from the graph, and the rest (format, anchors, masks, class names,
preprocessing conventions) from ``metadata_props``.  Models with no metadata whose
outputs look like NVIDIA's Darknet YOLOv3 export get that sample's defaults.  Every field
can be overridden by the caller.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trt_core import metadata
from trt_core.errors import ModelLoadError, ModelSpecError

OutputFormat = Literal["yolov3", "yolov5", "yolov8", "end2end", "candidates"]
FORMATS: tuple[str, ...] = ("yolov3", "yolov5", "yolov8", "end2end", "candidates")

COCO_ANCHORS: tuple[tuple[float, float], ...] = (
    (10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326),
)
COCO_MASKS: tuple[tuple[int, ...], ...] = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
TINY_ANCHORS: tuple[tuple[float, float], ...] = ((10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319))
TINY_MASKS: tuple[tuple[int, ...], ...] = ((3, 4, 5), (0, 1, 2))
NVIDIA_YOLOV3_INPUT = (608, 608)


def coco_names() -> tuple[str, ...]:
    text = (Path(__file__).parent / "data" / "coco.names").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


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
    # bilinear/bicubic: Pillow's filters (antialiased when shrinking); linear: OpenCV's
    # INTER_LINEAR (no antialiasing), what Ultralytics' own preprocessing does
    resize: Literal["bilinear", "bicubic", "linear"] = "bilinear"
    input_scale: float = 1.0 / 255.0
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
            self._validate_yolov3()
        if not 0 <= self.pad_value <= 255:
            raise ModelSpecError(f"pad_value must be in 0..255, got {self.pad_value}")

    def _validate_yolov3(self) -> None:
        if len(self.masks) != len(self.outputs):
            raise ModelSpecError(
                f"yolov3 format: {len(self.outputs)} heads but {len(self.masks)} anchor masks",
                hint="metadata 'masks' lists one group of anchor indices per output, in output order",
            )
        if self.scale_x_y and len(self.scale_x_y) != len(self.outputs):
            raise ModelSpecError("yolov3 format: scale_x_y needs one value per head")
        for out, mask in zip(self.outputs, self.masks):
            if any(not 0 <= i < len(self.anchors) for i in mask):
                raise ModelSpecError(f"anchor mask {mask} indexes past the {len(self.anchors)} anchors")
            channels = out.shape[1] if len(out.shape) == 4 else -1
            expected = len(mask) * (5 + self.num_classes)
            if channels > 0 and channels != expected:
                raise ModelSpecError(
                    f"head {out.name!r} has {channels} channels; {len(mask)} anchors x (5 + "
                    f"{self.num_classes} classes) = {expected}",
                    hint="check 'names' and 'masks' in the model metadata",
                )

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
        return cls.from_onnx_model(model, default_name=Path(path).stem, **overrides)

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
        fmt = overrides.pop("format", None) or meta.get("format") or _guess_format(outputs)
        size = overrides.pop("input_size", None) or meta.get("input_size")
        if size is not None:
            h, w = _pair(size)
            input_desc = dataclasses.replace(input_desc, shape=(*input_desc.shape[:2], h, w))
        nvidia_default = fmt == "yolov3" and "format" not in meta and "anchors" not in meta
        if nvidia_default and min(input_desc.shape[2:]) < 1:
            input_desc = dataclasses.replace(input_desc, shape=(*input_desc.shape[:2], *NVIDIA_YOLOV3_INPUT))
        fields: dict[str, Any] = {
            "name": meta.get("name", default_name),
            "format": fmt,
            "input": input_desc,
            "outputs": outputs,
            "names": meta.get("names") or _default_names(fmt, outputs),
            "letterbox": meta.get("letterbox", not nvidia_default),
            "pad_value": meta.get("pad_value", 128 if fmt == "yolov3" else 114),
            "resize": meta.get("resize", "bicubic" if nvidia_default else "bilinear"),
            "extra": {k: v for k, v in props.items() if k not in metadata.KNOWN_KEYS},
        }
        if fmt == "yolov3":
            anchors, masks = _default_anchors(len(outputs))
            fields["anchors"] = meta.get("anchors", anchors)
            fields["masks"] = meta.get("masks", masks)
            if "scale_x_y" in meta:
                fields["scale_x_y"] = meta["scale_x_y"]
        if "input_scale" in meta:
            fields["input_scale"] = meta["input_scale"]
        for key in ("anchors", "masks", "names", "scale_x_y"):
            if key in overrides and isinstance(overrides[key], str):
                overrides[key] = metadata.PARSERS[key](overrides[key])
        fields.update(overrides)
        return cls(**_normalise(fields))


def _tensor_desc(value_info: Any) -> TensorDesc:
    import onnx

    tensor_type = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tensor_type.shape.dim)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
    return TensorDesc(value_info.name, dims, dtype)


def _guess_format(outputs: tuple[TensorDesc, ...]) -> str:
    if outputs and all(len(o.shape) == 4 for o in outputs):
        return "yolov3"
    if len(outputs) == 1 and len(outputs[0].shape) == 3:
        _, a, b = outputs[0].shape
        if b == 6 and 0 < a <= 1000:
            return "end2end"
        if a > 0 and b > 0:
            return "yolov8" if a < b else "yolov5"
    shapes = [o.shape for o in outputs]
    raise ModelSpecError(
        f"cannot tell the output format from output shapes {shapes}",
        hint=f"set metadata 'format' (or pass format=) to one of {', '.join(FORMATS)}",
    )


def _default_anchors(heads: int) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[int, ...], ...]]:
    if heads == 2:
        return TINY_ANCHORS, TINY_MASKS
    return COCO_ANCHORS, COCO_MASKS[:heads] if heads <= 3 else ()


def _default_names(fmt: str, outputs: tuple[TensorDesc, ...]) -> tuple[str, ...]:
    classes = -1
    out = outputs[0] if outputs else None
    if out is not None and fmt == "yolov3" and len(out.shape) == 4 and out.shape[1] > 0:
        classes = out.shape[1] // 3 - 5
    elif out is not None and fmt == "yolov5" and out.shape[-1] > 0:
        classes = out.shape[-1] - 5
    elif out is not None and fmt == "yolov8" and out.shape[1] > 0:
        classes = out.shape[1] - 4
    if classes == 80 or classes < 1:
        return coco_names()
    return tuple(str(i) for i in range(classes))


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
