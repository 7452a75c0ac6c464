"""Moving box decoding and top-K into the model graph (so onto the device).

Raw heads are large — NVIDIA's YOLOv3 at 608x608 emits 255 x 7,581 floats, 7.7 MB per
image — while postprocessing needs only the best few hundred boxes.  ``with_candidates``
appends the decode of the model's format and a ``TopK`` to the graph, so the model emits
``(N, K, 6)`` candidates ``x1, y1, x2, y2, score, class`` in input pixels (24 KB per image
at K = 1000), best first, and postprocessing is the host's NMS alone:

- ``yolov3``: Darknet anchor heads ``(A*(5+C), H, W)`` of logits (sigmoid/exp with anchors
  and grid), :func:`trt_core.decoders.decode_yolov3`'s maths;
- ``yolov5``: ``(boxes, 5+C)`` rows, score = objectness x class score;
- ``yolov8``: ``(4+C, boxes)`` columns, score = class score.

Each box keeps its best class only, as the host decoders do.  Keeping the K best is exact
for NMS: greedy NMS decides a box from better-scored boxes only, so NMS over the top K
keeps exactly the boxes the full NMS keeps among those K — the host result is reproduced
whenever its kept boxes (up to ``max_det``) lie in the top K, and in any case whenever at
most K boxes pass the request's ``conf`` (and ``classes``) — up to float rounding: the
runtime's sigmoid/exp and numpy's agree to ~1e-7, which can reorder two exactly tied
scores and so change which of two overlapping boxes NMS keeps (YOLOv3-608 with calibrated
random weights: 2 of 1,447 detections, ``benchmarks/cpu_postprocess.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from trt_core.decoders import EXP_CLIP
from trt_core.errors import ModelSpecError
from trt_core.onnx_graph import GraphBuilder
from trt_core.spec import ModelSpec, TensorDesc

CANDIDATES = "candidates"
DEFAULT_TOPK = 1000
DEVICE_FORMATS = ("yolov3", "yolov5", "yolov8")
PREFIX = "decode_"  # every node and initialiser this module adds starts with it


def candidate_count(spec: ModelSpec) -> int:
    """How many boxes the raw outputs hold (static shapes needed)."""
    if spec.format == "yolov3":
        return sum(len(mask) * o.shape[2] * o.shape[3] for o, mask in zip(spec.outputs, spec.masks))
    shape = spec.outputs[0].shape
    return shape[1] if spec.format == "yolov5" else shape[2]


def candidates_spec(spec: ModelSpec, topk: int) -> ModelSpec:
    """The spec of a model whose only output is ``(N, K, 6)`` candidates."""
    k = min(topk, candidate_count(spec))
    output = TensorDesc(CANDIDATES, (spec.input.shape[0], k, 6), "float32")
    return dataclasses.replace(spec, format="candidates", outputs=(output,))


def check_decodable(model: Any, spec: ModelSpec) -> None:
    """Raise :class:`ModelSpecError` saying why ``model`` cannot decode on the device."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ModelSpecError(f"on-device decoding needs ONNX opset >= 13, the model has {opset}")
    if spec.format not in DEVICE_FORMATS:
        raise ModelSpecError(f"on-device decoding supports {', '.join(DEVICE_FORMATS)} models, not {spec.format}")
    if spec.format == "yolov3":
        if any(len(o.shape) != 4 or min(o.shape[1:]) < 1 for o in spec.outputs):
            raise ModelSpecError("on-device decoding needs static head shapes (A*(5+C), H, W)")
        return
    expected = 5 + spec.num_classes if spec.format == "yolov5" else 4 + spec.num_classes
    shape = spec.outputs[0].shape
    dims = (shape[1:2], shape[2:3]) if spec.format == "yolov5" else (shape[2:3], shape[1:2])
    if len(spec.outputs) != 1 or len(shape) != 3 or min(shape[1:]) < 1 or dims[1] != (expected,):
        raise ModelSpecError(f"on-device decoding needs one static {spec.format} output with {expected} values a box")


class _Builder(GraphBuilder):
    """The shared builder under this module's prefix, plus the decode's candidate rows."""

    def __init__(self) -> None:
        super().__init__(PREFIX)

    def rows(self, xy: str, wh: str, scores: str, p: str) -> str:
        """``(N, M, 6)`` rows from centres, sizes and ``(N, M, C)`` class scores."""
        half = self.node("Mul", [wh, self.const(p + "half", np.array(0.5, np.float32))], p + "half_wh")
        top_left = self.node("Sub", [xy, half], p + "tl")
        bottom_right = self.node("Add", [xy, half], p + "br")
        argmax = self.node("ArgMax", [scores], p + "argmax", axis=2, keepdims=1)
        best = self.node("GatherElements", [scores, argmax], p + "best", axis=2)
        label = self.node("Cast", [argmax], p + "label", to=1)
        return self.node("Concat", [top_left, bottom_right, best, label], p + "cand", axis=2)


def _yolov3(b: _Builder, spec: ModelSpec) -> list[str]:
    in_h, in_w = spec.input_hw
    classes = spec.num_classes
    heads = []
    for i, (desc, mask) in enumerate(zip(spec.outputs, spec.masks)):
        p = f"{i}_"
        anchors_n, (grid_h, grid_w) = len(mask), desc.shape[2:]
        cells = grid_h * grid_w
        a, gy, gx = np.meshgrid(np.arange(anchors_n), np.arange(grid_h), np.arange(grid_w), indexing="ij")
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        anchor_wh = np.asarray(spec.anchors, np.float32)[np.asarray(mask)[a.ravel()]]
        sxy = spec.scale_x_y[i] if spec.scale_x_y else 1.0
        head = desc.name if desc.dtype == "float32" else b.node("Cast", [desc.name], p + "f32", to=1)
        rows = b.node("Reshape", [head, b.const(p + "shape1", np.array([-1, anchors_n, 5 + classes, cells]))], p + "r")
        rows = b.node("Transpose", [rows], p + "t", perm=[0, 1, 3, 2])
        rows = b.node(
            "Reshape", [rows, b.const(p + "shape2", np.array([-1, anchors_n * cells, 5 + classes]))], p + "rows"
        )
        xy = b.node("Sigmoid", [b.slice(rows, 0, 2, 2, p + "xy")], p + "xy_sig")
        xy = b.node("Mul", [xy, b.const(p + "sxy", np.array(sxy, np.float32))], p + "xy_scaled")
        xy = b.node("Sub", [xy, b.const(p + "sxy_off", np.array((sxy - 1.0) / 2.0, np.float32))], p + "xy_shift")
        xy = b.node("Add", [xy, b.const(p + "grid", grid)], p + "xy_grid")
        stride = np.array([in_w / grid_w, in_h / grid_h], np.float32)
        centre = b.node("Mul", [xy, b.const(p + "stride", stride)], p + "c")
        wh = b.node(
            "Min",
            [b.slice(rows, 2, 4, 2, p + "wh"), b.const(p + "clip", np.array(EXP_CLIP, np.float32))],
            p + "wh_clip",
        )
        wh = b.node("Mul", [b.node("Exp", [wh], p + "wh_exp"), b.const(p + "anchors", anchor_wh)], p + "wh_px")
        obj = b.node("Sigmoid", [b.slice(rows, 4, 5, 2, p + "obj")], p + "obj_sig")
        cls = b.node("Sigmoid", [b.slice(rows, 5, 5 + classes, 2, p + "cls")], p + "cls_sig")
        heads.append(b.rows(centre, wh, b.node("Mul", [obj, cls], p + "scores"), p))
    return heads


def _yolov5_or_v8(b: _Builder, spec: ModelSpec) -> list[str]:
    classes = spec.num_classes
    rows = spec.outputs[0].name
    if spec.outputs[0].dtype != "float32":  # fp16 exports: decode in float32, as the host does
        rows = b.node("Cast", [rows], "f32", to=1)
    if spec.format == "yolov8":  # (N, 4+C, M) -> (N, M, 4+C)
        rows = b.node("Transpose", [rows], "t", perm=[0, 2, 1])
    xy, wh = b.slice(rows, 0, 2, 2, "xy"), b.slice(rows, 2, 4, 2, "wh")
    if spec.format == "yolov8":
        scores = b.slice(rows, 4, 4 + classes, 2, "cls")
    else:
        scores = b.node("Mul", [b.slice(rows, 4, 5, 2, "obj"), b.slice(rows, 5, 5 + classes, 2, "cls")], "scores")
    return [b.rows(xy, wh, scores, "")]


def with_candidates(model: Any, spec: ModelSpec, topk: int = DEFAULT_TOPK) -> tuple[Any, ModelSpec]:
    """A copy of ``model`` ending in decode + TopK, and its new spec (``candidates`` format)."""
    import onnx
    from onnx import helper

    check_decodable(model, spec)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    new_spec = candidates_spec(spec, topk)
    b = _Builder()
    parts = _yolov3(b, spec) if spec.format == "yolov3" else _yolov5_or_v8(b, spec)
    allc = b.node("Concat", parts, "all", axis=1) if len(parts) > 1 else parts[0]
    score = b.slice(allc, 4, 5, 2, "score3")
    score = b.node("Squeeze", [score, b.const("sq_axes", np.array([2]))], "score")
    k = new_spec.outputs[0].shape[1]
    _, top_index = (
        b.node("TopK", [score, b.const("k", np.array([k]))], "topk", outputs=2, axis=1, largest=1, sorted=1),
        f"{PREFIX}topk_1",
    )
    index = b.node("Unsqueeze", [top_index, b.const("unsq_axes", np.array([2]))], "index")
    b.node("GatherND", [allc, index], "gather", output=CANDIDATES, batch_dims=1)

    graph = out.graph
    b.append_to(graph)
    del graph.output[:]
    batch = spec.input.shape[0] if spec.input.shape[0] > 0 else "N"
    graph.output.append(helper.make_tensor_value_info(CANDIDATES, onnx.TensorProto.FLOAT, [batch, k, 6]))
    return out, new_spec
