"""Small ONNX detectors built in-process for tests (random weights, real graphs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from trt_core import metadata


def tiny_yolov3(
    path: Any,
    *,
    size: int = 64,
    classes: int = 3,
    batch: int | str = "N",
    seed: int = 0,
    props: dict[str, str] | None = None,
) -> Any:
    """Two Darknet-style heads (strides 32 and 16) made of one strided conv each."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    channels = 3 * (5 + classes)
    w32 = (rng.standard_normal((channels, 3, 32, 32)) * 0.02).astype(np.float32)
    w16 = (rng.standard_normal((channels, 3, 16, 16)) * 0.02).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["images", "w32"], ["head32"], strides=[32, 32]),
        helper.make_node("Conv", ["images", "w16"], ["head16"], strides=[16, 16]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolov3",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, size, size])],
        [
            helper.make_tensor_value_info("head32", TensorProto.FLOAT, [batch, channels, size // 32, size // 32]),
            helper.make_tensor_value_info("head16", TensorProto.FLOAT, [batch, channels, size // 16, size // 16]),
        ],
        [numpy_helper.from_array(w32, "w32"), numpy_helper.from_array(w16, "w16")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    values = (
        props
        if props is not None
        else metadata.to_props(
            format="yolov3",
            name="tiny-test",
            names=[f"c{i}" for i in range(classes)],
            anchors=[[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]],
            masks=[[3, 4, 5], [0, 1, 2]],
            letterbox=True,
        )
    )
    helper.set_model_props(model, values)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
