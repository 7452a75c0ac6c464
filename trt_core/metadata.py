"""Parsing of the ONNX ``metadata_props`` keys that describe a detector.

Keys (all optional; values are strings):

=============  ==========================================================================
``format``     ``yolov3`` | ``yolov5`` | ``yolov8`` | ``end2end``
``name``       model name reported by the API
``names``      class names: JSON list, JSON/Python dict ``{0: "person", ...}`` (Ultralytics)
``anchors``    JSON ``[[w, h], ...]`` in input pixels, or Darknet's ``10,14, 23,27, ...``
``masks``      JSON ``[[3, 4, 5], [0, 1, 2]]``: anchor indices per output, in output order
``strides``    JSON list, informational (derived from shapes when static)
``scale_x_y``  JSON list, one per head (YOLOv4 grid sensitivity), default 1.0
``input_size`` ``416``, ``[416, 416]`` or ``416x416`` (H, W); Ultralytics' ``imgsz`` too
``letterbox``  ``true`` | ``false`` (``false``: plain resize to the input size)
``pad_value``  0..255, the letterbox padding grey level
``resize``     ``bilinear`` (reduced, then bilinear) | ``bicubic`` | ``linear`` (as Ultralytics)
``input_scale`` float multiplied into the uint8 input (default 1/255)
=============  ==========================================================================

Models exported by Ultralytics carry its own keys instead (values are ``str()`` of Python
objects): ``author`` (``Ultralytics``), ``task`` (``detect``, ``segment``, ...), ``stride``,
``batch``, ``imgsz`` (``[640, 640]``), ``names`` (``{0: 'person', ...}``), ``args`` (the
export arguments, ``{'half': False, 'dynamic': True, 'nms': False, ...}``), ``end2end``
(``True`` for YOLOv10/YOLO26 heads), ``channels``.  :func:`exporter_info` reads them; the
legacy YOLOv5 repository's exports hold only ``stride`` and ``names``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from trt_core.errors import ModelSpecError


def _json_or_literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def parse_names(text: str) -> tuple[str, ...]:
    value = _json_or_literal(text)
    if isinstance(value, dict):
        items = sorted((int(k), str(v)) for k, v in value.items())
        if [k for k, _ in items] != list(range(len(items))):
            raise ModelSpecError("metadata 'names' dict keys must be 0..N-1")
        return tuple(v for _, v in items)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    lines = [n.strip() for n in text.replace(",", "\n").splitlines() if n.strip()]
    if not lines:
        raise ModelSpecError("metadata 'names' is empty")
    return tuple(lines)


def parse_anchors(text: str) -> tuple[tuple[float, float], ...]:
    value = _json_or_literal(text)
    if value is None or isinstance(value, int | float):
        value = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    flat = [float(v) for pair in value for v in (pair if isinstance(pair, list | tuple) else [pair])]
    if len(flat) % 2 or not flat:
        raise ModelSpecError(f"metadata 'anchors' must hold (w, h) pairs, got {text!r}")
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


def parse_masks(text: str) -> tuple[tuple[int, ...], ...]:
    value = _json_or_literal(text)
    if value is None:
        value = [[int(v) for v in group.split(",")] for group in text.split(";")]
    try:
        return tuple(tuple(int(i) for i in group) for group in value)
    except TypeError:
        raise ModelSpecError(f"metadata 'masks' must be a list of lists, got {text!r}") from None


def parse_floats(text: str) -> tuple[float, ...]:
    value = _json_or_literal(text)
    if isinstance(value, int | float):
        return (float(value),)
    if value is None:
        value = text.split(",")
    return tuple(float(v) for v in value)


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ModelSpecError(f"expected a boolean, got {text!r}")


def parse_size(text: str) -> tuple[int, int]:
    value = _json_or_literal(text)
    if isinstance(value, int):
        return value, value
    if isinstance(value, list | tuple):
        return (int(value[0]), int(value[-1]))
    parts = text.lower().replace("x", ",").split(",")
    return int(parts[0]), int(parts[-1])


PARSERS: dict[str, Callable[[str], Any]] = {
    "names": parse_names,
    "anchors": parse_anchors,
    "masks": parse_masks,
    "scale_x_y": parse_floats,
    "strides": parse_floats,
    "letterbox": parse_bool,
    "pad_value": lambda s: int(float(s)),
    "resize": lambda s: s.strip().lower(),
    "input_size": parse_size,
    "imgsz": parse_size,
    "input_scale": float,
    "format": lambda s: s.strip().lower(),
    "name": str,
}
KNOWN_KEYS = frozenset(PARSERS)


def parse(props: Mapping[str, str]) -> dict[str, Any]:
    """Parse the known keys of ``props``; unknown keys are ignored here (kept as ``extra``)."""
    out: dict[str, Any] = {}
    for key, text in props.items():
        if key not in PARSERS:
            continue
        try:
            out[key] = PARSERS[key](text)
        except ModelSpecError as exc:
            raise ModelSpecError(f"bad metadata {key}={text!r}: {exc.message}", hint=exc.hint) from None
        except Exception as exc:
            raise ModelSpecError(f"bad metadata {key}={text!r}: {exc}") from exc
    if "imgsz" in out and "input_size" not in out:
        out["input_size"] = out.pop("imgsz")
    return out


def to_props(**values: Any) -> dict[str, str]:
    """Encode values as the metadata strings :func:`parse` reads (used by exporters)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if key not in PARSERS:
            raise ModelSpecError(f"unknown metadata key {key!r}")
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, str):
            out[key] = value
        else:
            out[key] = json.dumps(value)
    return out


# Preprocessing every Ultralytics exporter's own inference uses (YOLOv5 repo and the
# ``ultralytics`` package): letterbox, grey 114 padding, OpenCV INTER_LINEAR resize.
ULTRALYTICS_PREPROCESS: Mapping[str, Any] = MappingProxyType({"letterbox": True, "pad_value": 114, "resize": "linear"})


@dataclass(frozen=True)
class ExporterInfo:
    """What an exporter's own metadata says about a model.

    ``origin`` is ``"ultralytics"`` (the ``ultralytics`` package: YOLOv5u/v8/11/YOLO26) or
    ``"yolov5"`` (the legacy YOLOv5 repository).  ``end2end`` is ``None`` when unknown.
    """

    origin: str
    task: str = "detect"
    stride: int | None = None
    batch: int | None = None
    end2end: bool | None = None
    dynamic: bool = False
    half: bool = False
    nms: bool = False


def _literal(text: str | None) -> Any:
    """A Python literal from its ``str()`` (never ``eval``); ``None`` when it is not one."""
    if text is None:
        return None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _int(text: str | None) -> int | None:
    value = _literal(text)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def exporter_info(props: Mapping[str, str]) -> ExporterInfo | None:
    """Recognise Ultralytics' metadata (or the legacy YOLOv5 repo's); ``None`` otherwise."""
    author = props.get("author", "").strip().lower()
    if author.startswith("ultralytics") or ("task" in props and "names" in props and "stride" in props):
        args = _literal(props.get("args"))
        args = args if isinstance(args, dict) else {}
        key = _literal(props.get("end2end"))  # absent from older exports (YOLOv10's too)
        nms = bool(args.get("nms", False))
        end2end = True if nms or key is True else False if key is False else None
        return ExporterInfo(
            origin="ultralytics",
            task=props.get("task", "detect").strip().lower(),
            stride=_int(props.get("stride")),
            batch=_int(props.get("batch")),
            end2end=end2end,
            dynamic=bool(args.get("dynamic", False)),
            half=bool(args.get("half", False)),
            nms=nms,
        )
    if "stride" in props and "names" in props and not KNOWN_KEYS.intersection(props).difference({"names"}):
        return ExporterInfo(origin="yolov5", stride=_int(props.get("stride")))
    return None
