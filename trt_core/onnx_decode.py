"""Moving box decoding and top-k into the model graph (so onto the GPU).

Raw heads are large — NVIDIA's YOLOv3 at 608x608 emits 255 x 7,581 floats, 7.7 MB per
image — while postprocessing needs only the best few hundred boxes.  ``with_candidates``
appends the YOLOv3 decode (sigmoid/exp with anchors and grid, best class) and a ``TopK``
to the graph, so the model emits ``(N, K, 6)`` candidates ``x1, y1, x2, y2, score, class``
in input pixels (24 KB per image at K = 1000) and postprocessing is NMS alone.  The maths
is :func:`trt_core.decoders.decode_yolov3`'s, in ONNX operators.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from trt_core.decoders import EXP_CLIP
from trt_core.errors import ModelSpecError
from trt_core.spec import ModelSpec, TensorDesc

CANDIDATES = "candidates"
DEFAULT_TOPK = 1000


def candidates_spec(spec: ModelSpec, topk: int) -> ModelSpec:
    """The spec of a model whose only output is ``(N, K, 6)`` candidates."""
    total = sum(len(mask) * o.shape[2] * o.shape[3] for o, mask in zip(spec.outputs, spec.masks))
    k = min(topk, total)
    output = TensorDesc(CANDIDATES, (spec.input.shape[0], k, 6), "float32")
    return dataclasses.replace(spec, format="candidates", outputs=(output,))


def with_candidates(model: Any, spec: ModelSpec, topk: int = DEFAULT_TOPK) -> tuple[Any, ModelSpec]:
    """A copy of a ``yolov3``-format ``model`` ending in decode + TopK, and its new spec."""
    import onnx
    from onnx import helper, numpy_helper

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ModelSpecError(f"on-device decoding needs ONNX opset >= 13, the model has {opset}")
    if spec.format != "yolov3":
        raise ModelSpecError(f"on-device decoding supports yolov3-format models, not {spec.format}")
    if any(len(o.shape) != 4 or min(o.shape[1:]) < 1 for o in spec.outputs):
        raise ModelSpecError("on-device decoding needs static head shapes (A*(5+C), H, W)")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    new_spec = candidates_spec(spec, topk)
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    in_h, in_w = spec.input_hw
    classes = spec.num_classes
    heads = []
    for i, (desc, mask) in enumerate(zip(spec.outputs, spec.masks)):
        p = f"decode{i}_"
        anchors_n, (grid_h, grid_w) = len(mask), desc.shape[2:]
        cells = grid_h * grid_w
        a, gy, gx = np.meshgrid(np.arange(anchors_n), np.arange(grid_h), np.arange(grid_w), indexing="ij")
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        anchor_wh = np.asarray(spec.anchors, np.float32)[np.asarray(mask)[a.ravel()]]
        sxy = spec.scale_x_y[i] if spec.scale_x_y else 1.0
        rows = node("Reshape", [desc.name, const(p + "shape1", np.array([-1, anchors_n, 5 + classes, cells]))], p + "r")
        rows = node("Transpose", [rows], p + "t", perm=[0, 1, 3, 2])
        rows = node("Reshape", [rows, const(p + "shape2", np.array([-1, anchors_n * cells, 5 + classes]))], p + "rows")

        def part(start: int, end: int, tag: str, rows: str = rows, p: str = p) -> str:
            bounds = [const(p + tag + "_s", np.array([start])), const(p + tag + "_e", np.array([end]))]
            return node("Slice", [rows, *bounds, const(p + tag + "_ax", np.array([2]))], p + tag)

        xy = node("Sigmoid", [part(0, 2, "xy")], p + "xy_sig")
        xy = node("Mul", [xy, const(p + "sxy", np.array(sxy, np.float32))], p + "xy_scaled")
        xy = node("Sub", [xy, const(p + "sxy_off", np.array((sxy - 1.0) / 2.0, np.float32))], p + "xy_shift")
        xy = node("Add", [xy, const(p + "grid", grid)], p + "xy_grid")
        centre = node("Mul", [xy, const(p + "stride", np.array([in_w / grid_w, in_h / grid_h], np.float32))], p + "c")
        wh = node("Min", [part(2, 4, "wh"), const(p + "clip", np.array(EXP_CLIP, np.float32))], p + "wh_clip")
        wh = node("Mul", [node("Exp", [wh], p + "wh_exp"), const(p + "anchors", anchor_wh)], p + "wh_px")
        half = node("Mul", [wh, const(p + "half", np.array(0.5, np.float32))], p + "half_wh")
        top_left = node("Sub", [centre, half], p + "tl")
        bottom_right = node("Add", [centre, half], p + "br")
        obj = node("Sigmoid", [part(4, 5, "obj")], p + "obj_sig")
        scores = node("Mul", [obj, node("Sigmoid", [part(5, 5 + classes, "cls")], p + "cls_sig")], p + "scores")
        argmax = node("ArgMax", [scores], p + "argmax", axis=2, keepdims=1)
        best = node("GatherElements", [scores, argmax], p + "best", axis=2)
        label = node("Cast", [argmax], p + "label", to=1)
        heads.append(node("Concat", [top_left, bottom_right, best, label], p + "cand", axis=2))

    allc = node("Concat", heads, "decode_all", axis=1) if len(heads) > 1 else heads[0]
    score = node("Squeeze", [node("Slice", [allc, const("s4", np.array([4])), const("s5", np.array([5])),
                                            const("s2", np.array([2]))], "decode_score3"),
                             const("sq_axes", np.array([2]))], "decode_score")
    k = new_spec.outputs[0].shape[1]
    nodes.append(helper.make_node("TopK", [score, const("decode_k", np.array([k]))], ["decode_topv", "decode_topi"],
                                  name="decode_topk", axis=1, largest=1, sorted=1))
    index = node("Unsqueeze", ["decode_topi", const("unsq_axes", np.array([2]))], "decode_index")
    nodes.append(helper.make_node("GatherND", [allc, index], [CANDIDATES], name="decode_gather", batch_dims=1))

    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.output[:]
    batch = spec.input.shape[0] if spec.input.shape[0] > 0 else "N"
    graph.output.append(helper.make_tensor_value_info(CANDIDATES, onnx.TensorProto.FLOAT, [batch, k, 6]))
    return out, new_spec
