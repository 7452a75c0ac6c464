"""Output layouts of the YOLO families: telling the format from shapes, and the defaults
(anchors, class names) a model without metadata gets.

===========  =====================================  =============================================
format       output (``-1``: a dynamic axis)        models
===========  =====================================  =============================================
``yolov3``   one ``(N, A*(5+C), H, W)`` per head    Darknet YOLOv3/v4 (NVIDIA's ONNX export)
``yolov5``   ``(N, anchors, 5+C)``                  YOLOv5 repository (anchor-based, legacy)
``yolov8``   ``(N, 4+C, anchors)``                  Ultralytics YOLOv5u/v8/11 (``dynamic=True``:
                                                    ``(-1, 4+C, -1)``)
``end2end``  ``(N, max_det, 6)`` x1 y1 x2 y2 s c    Ultralytics ``nms=True``, YOLOv10, YOLO26
===========  =====================================  =============================================
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trt_core.errors import ModelSpecError

FORMATS: tuple[str, ...] = ("yolov3", "yolov5", "yolov8", "end2end", "candidates")

COCO_ANCHORS: tuple[tuple[float, float], ...] = (
    (10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326),
)  # fmt: skip
COCO_MASKS: tuple[tuple[int, ...], ...] = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
TINY_ANCHORS: tuple[tuple[float, float], ...] = ((10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319))
TINY_MASKS: tuple[tuple[int, ...], ...] = ((3, 4, 5), (0, 1, 2))
END2END_MAX_ROWS = 1000  # an (N, K, 6) output with K above this is a 1-class YOLOv5 head

# format -> (axis of the single (N, A, B) output that holds the per-box values, fixed
# values besides the class scores, what they are); end2end rows do not grow with classes
LAYOUTS: dict[str, tuple[int, int, str]] = {
    "yolov8": (1, 4, "4 box values + {nc} class scores"),
    "yolov5": (2, 5, "4 box values + objectness + {nc} class scores"),
    "end2end": (2, 6, "x1, y1, x2, y2, score, class"),
}


def coco_names() -> tuple[str, ...]:
    text = (Path(__file__).parent / "data" / "coco.names").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def guess_format(
    shapes: Sequence[tuple[int, ...]],
    *,
    num_classes: int | None = None,
    end2end: bool | None = None,
    ultralytics: bool = False,
) -> str:
    """The output format of a model whose outputs have ``shapes``.

    ``num_classes`` (from the metadata's names) settles shapes with dynamic axes;
    ``end2end`` is what the exporter's metadata says (``None``: unknown).  With
    ``ultralytics``, a last axis of 6 means end-to-end, as Ultralytics' own inference reads it.
    """
    if shapes and all(len(s) == 4 for s in shapes):
        return "yolov3"
    if len(shapes) == 1 and len(shapes[0]) == 3:
        _, a, b = shapes[0]
        if end2end:
            return "end2end"
        if end2end is None and b == 6 and (ultralytics or 0 < a <= END2END_MAX_ROWS):
            return "end2end"
        if num_classes:
            if a == 4 + num_classes:
                return "yolov8"
            if b == 5 + num_classes:
                return "yolov5"
        if a > 0 and b > 0:
            return "yolov8" if a < b else "yolov5"
        if a > 0:  # channels fixed, anchor axis dynamic: Ultralytics' dynamic=True
            return "yolov8"
        if b > 0 and b != 6:  # anchor axis dynamic, channels fixed: YOLOv5 repo dynamic
            return "yolov5"
    raise ModelSpecError(
        f"cannot tell the output format from output shapes {[tuple(s) for s in shapes]}",
        hint=f"set metadata 'format' (or pass format=) to one of {', '.join(FORMATS)}",
    )


def check_layout(fmt: str, name: str, shape: tuple[int, ...], num_classes: int) -> None:
    """A single ``(N, A, B)`` output must agree with the class count (dynamic axes pass)."""
    if fmt not in LAYOUTS or len(shape) != 3:
        return
    axis, fixed, meaning = LAYOUTS[fmt]
    expected = fixed + (num_classes if fmt != "end2end" else 0)
    if 0 < shape[axis] != expected:
        raise ModelSpecError(
            f"{fmt} output {name!r} {list(shape)}: axis {axis} should hold "
            f"{meaning.format(nc=num_classes)} = {expected}, got {shape[axis]}",
            hint="check 'names' (the class count) and 'format'",
        )


def check_yolov3(
    heads: Sequence[tuple[str, tuple[int, ...]]],
    anchors: Sequence[tuple[float, float]],
    masks: Sequence[tuple[int, ...]],
    scale_x_y: Sequence[float],
    num_classes: int,
) -> None:
    """Darknet heads ``(name, shape)`` must agree with the anchor masks and the class count."""
    if len(masks) != len(heads):
        raise ModelSpecError(
            f"yolov3 format: {len(heads)} heads but {len(masks)} anchor masks",
            hint="metadata 'masks' lists one group of anchor indices per output, in output order",
        )
    if scale_x_y and len(scale_x_y) != len(heads):
        raise ModelSpecError("yolov3 format: scale_x_y needs one value per head")
    for (name, shape), mask in zip(heads, masks):
        if any(not 0 <= i < len(anchors) for i in mask):
            raise ModelSpecError(f"anchor mask {mask} indexes past the {len(anchors)} anchors")
        channels = shape[1] if len(shape) == 4 else -1
        expected = len(mask) * (5 + num_classes)
        if channels > 0 and channels != expected:
            raise ModelSpecError(
                f"head {name!r} has {channels} channels; "
                f"{len(mask)} anchors x (5 + {num_classes} classes) = {expected}",
                hint="check 'names' and 'masks' in the model metadata",
            )


def default_anchors(heads: int) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[int, ...], ...]]:
    if heads == 2:
        return TINY_ANCHORS, TINY_MASKS
    return COCO_ANCHORS, COCO_MASKS[:heads] if heads <= 3 else ()


def default_names(fmt: str, shapes: Sequence[tuple[int, ...]]) -> tuple[str, ...]:
    """COCO's 80 names when the head says 80 classes (or cannot say); else ``"0"``, ``"1"``, ..."""
    classes = -1
    shape = shapes[0] if shapes else ()
    if fmt == "yolov3" and len(shape) == 4 and shape[1] > 0:
        classes = shape[1] // 3 - 5
    elif fmt == "yolov5" and len(shape) == 3 and shape[2] > 0:
        classes = shape[2] - 5
    elif fmt == "yolov8" and len(shape) == 3 and shape[1] > 0:
        classes = shape[1] - 4
    if classes == 80 or classes < 1:
        return coco_names()
    return tuple(str(i) for i in range(classes))
