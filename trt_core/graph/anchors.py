"""A dynamic anchor axis made static, so such models can decode on the device.

Ultralytics exports made with ``dynamic=True`` answer ``(N, 4+C, anchors)`` (YOLOv8/11,
YOLOv5u) or ``(N, anchors, 5+C)`` (the YOLOv5 repo) where the anchor count follows the
input's height and width, and the rect letterbox (``ModelSpec.rect``) runs each shape up to
the model's input size.  The on-device decode + ``TopK`` (:mod:`trt_core.onnx_decode`) needs
a static count; :func:`with_static_anchors` appends a zero padding up to the count at the
input size (learnt by running the model once on ONNX Runtime's CPU provider) and slices to
it: ``Concat(rows, zeros) -> Slice(0, count)``, a shape that is static whatever the input.
Padded rows are all zeros: score 0, box (0, 0, 0, 0), so they rank after every real box,
fail any ``conf`` above 0 and, at ``conf=0``, map to an empty box that is never reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from trt_core.errors import ModelSpecError
from trt_core.onnx_graph import GraphBuilder
from trt_core.spec import ModelSpec

PREFIX = "anchors_"  # every node and initialiser added here starts with it
ANCHOR_AXIS = {"yolov8": 2, "yolov5": 1}


def dynamic_anchor_axis(spec: ModelSpec) -> int | None:
    """The axis of ``spec``'s one output that is a dynamic anchor count, or ``None``."""
    axis = ANCHOR_AXIS.get(spec.format)
    if axis is None or len(spec.outputs) != 1 or len(spec.outputs[0].shape) != 3:
        return None
    shape = spec.outputs[0].shape
    return axis if shape[axis] < 1 and shape[3 - axis] > 0 else None


def anchor_count(model: Any, spec: ModelSpec, axis: int) -> int:
    """The anchor count at ``spec.input_hw``: one zero image through ONNX Runtime (CPU)."""
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = np.zeros((1, *spec.input.shape[1:2], *spec.input_hw), np.dtype(spec.input.dtype))
        (out,) = session.run([spec.outputs[0].name], {spec.input.name: x})
    except Exception as exc:
        raise ModelSpecError(f"cannot learn the anchor count at {spec.input_hw}: {exc}") from exc
    return int(out.shape[axis])


def with_static_anchors(model: Any, spec: ModelSpec) -> tuple[Any, ModelSpec]:
    """``model`` (a copy) and ``spec`` with a dynamic anchor axis padded to its count at the
    input size; both unchanged (the same objects) when there is none."""
    import onnx

    axis = dynamic_anchor_axis(spec)
    if axis is None:
        return model, spec
    count = anchor_count(model, spec, axis)
    desc = spec.outputs[0]
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    raw = PREFIX + "raw"
    for existing in graph.node:  # the model's own output becomes an inner tensor
        existing.output[:] = [raw if name == desc.name else name for name in existing.output]
        existing.input[:] = [raw if name == desc.name else name for name in existing.input]

    b = GraphBuilder(PREFIX)
    fixed = [1, 1, 1]
    fixed[3 - axis], fixed[axis] = desc.shape[3 - axis], count
    batch = b.node(
        "Slice", [b.node("Shape", [raw], "shape"), b.const("b0", np.array([0])), b.const("b1", np.array([1]))], "n"
    )
    target = b.node("Concat", [batch, b.const("rest", np.array(fixed[1:], np.int64))], "target", axis=0)
    zeros = b.node("Expand", [b.const("zero", np.zeros((1, 1, 1), np.dtype(desc.dtype))), target], "zeros")
    padded = b.node("Concat", [raw, zeros], "padded", axis=axis)
    bounds = [b.const("s", np.array([0])), b.const("e", np.array([count])), b.const("ax", np.array([axis]))]
    b.node("Slice", [padded, *bounds], "slice", output=desc.name)
    b.append_to(graph)
    for value in graph.output:
        if value.name == desc.name:
            dim = value.type.tensor_type.shape.dim[axis]
            dim.Clear()
            dim.dim_value = count
    shape = tuple(count if i == axis else d for i, d in enumerate(desc.shape))
    outputs = (dataclasses.replace(desc, shape=shape),)
    return out, dataclasses.replace(spec, outputs=outputs)
