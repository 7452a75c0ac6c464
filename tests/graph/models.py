"""Tiny YOLOv5- and YOLOv8-format ONNX detectors built in-process (random weights, real graphs).

One strided convolution makes a value per box per channel; a sigmoid (times the input
size for the box channels) turns it into what those exporters emit: ``(N, boxes, 5+C)``
rows (cx, cy, w, h, objectness, classes) for YOLOv5, ``(N, 4+C, boxes)`` for YOLOv8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trt_core import metadata


def tiny_ultralytics(path: Path, fmt: str, *, size: int = 128, classes: int = 3, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    values = (5 if fmt == "yolov5" else 4) + classes
    grid = size // 8
    boxes = grid * grid
    weights = (rng.standard_normal((values, 3, 8, 8)) * 0.15).astype(np.float32)
    bias = rng.standard_normal(values).astype(np.float32)
    scale = np.ones(values, np.float32)
    scale[:4] = [size, size, size / 2, size / 2]
    shape = [-1, values, boxes]
    nodes = [
        helper.make_node("Conv", ["images", "w", "b"], ["conv"], strides=[8, 8]),
        helper.make_node("Reshape", ["conv", "shape"], ["flat"]),
        helper.make_node("Sigmoid", ["flat"], ["sig"]),
        helper.make_node("Mul", ["sig", "scale"], ["scaled" if fmt == "yolov5" else "output0"]),
    ]
    out_shape = ["N", values, boxes]
    if fmt == "yolov5":
        nodes.append(helper.make_node("Transpose", ["scaled"], ["output0"], perm=[0, 2, 1]))
        out_shape = ["N", boxes, values]
    graph = helper.make_graph(
        nodes,
        f"tiny_{fmt}",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        [
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(bias, "b"),
            numpy_helper.from_array(np.array(shape, np.int64), "shape"),
            numpy_helper.from_array(scale[:, None], "scale"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    props = metadata.to_props(format=fmt, name=f"tiny-{fmt}", names=[f"c{i}" for i in range(classes)])
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
