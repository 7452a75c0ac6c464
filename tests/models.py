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


# -- a YOLOv3-tiny-shaped detector: the layers the real one has (Conv, BatchNormalization,
# LeakyRelu, MaxPool, Resize, Concat, two heads), a dynamic batch axis and the metadata
# ModelSpec reads; for the TensorRT/CUDA tests and the GPU benchmarks
TINY_ANCHORS = [[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]]


def yolo_like_model(*, size: int = 64, classes: int = 3, width: int = 16, batch: int | str = "N", seed: int = 0) -> Any:
    """Return an ``onnx.ModelProto``: input ``images`` (batch, 3, size, size) float32, outputs
    ``head32`` (stride 32) and ``head16`` (stride 16), ``3 * (5 + classes)`` channels each."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if size % 32:
        raise ValueError(f"size must be a multiple of 32, got {size}")
    rng = np.random.default_rng(seed)
    inits: list[Any] = []
    nodes: list[Any] = []

    def conv(x: str, cin: int, cout: int, k: int, name: str, act: bool = True) -> str:
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")])
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], pads=[k // 2] * 4, name=name))
        if not act:
            return name
        nodes.append(helper.make_node("LeakyRelu", [name], [name + "_act"], alpha=0.1, name=name + "_act"))
        return name + "_act"

    def pool(x: str, name: str) -> str:
        nodes.append(helper.make_node("MaxPool", [x], [name], kernel_shape=[2, 2], strides=[2, 2], name=name))
        return name

    x = conv("images", 3, width, 3, "c1")
    # one BatchNormalization, as un-fused Darknet exports have
    scale, bias = rng.uniform(0.5, 1.5, width), rng.standard_normal(width) * 0.1
    mean, var = rng.standard_normal(width) * 0.1, rng.uniform(0.5, 1.5, width)
    for name, value in (("bn_s", scale), ("bn_b", bias), ("bn_m", mean), ("bn_v", var)):
        inits.append(numpy_helper.from_array(value.astype(np.float32), name))
    nodes.append(helper.make_node("BatchNormalization", [x, "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn"))
    x = pool("bn", "p1")
    channels = width
    for i in range(2, 5):  # strides 4, 8, 16
        x = pool(conv(x, channels, channels * 2, 3, f"c{i}"), f"p{i}")
        channels *= 2
    route16 = x
    x = pool(conv(x, channels, channels, 3, "c5"), "p5")  # stride 32
    out_channels = 3 * (5 + classes)
    head32 = conv(x, channels, out_channels, 1, "head32", act=False)
    up = conv(x, channels, channels // 2, 1, "c6")
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    nodes.append(helper.make_node("Resize", [up, "", "up_scales"], ["up"], mode="nearest", name="up"))
    nodes.append(helper.make_node("Concat", ["up", route16], ["cat"], axis=1, name="cat"))
    x = conv("cat", channels // 2 + channels, channels, 3, "c7")
    head16 = conv(x, channels, out_channels, 1, "head16", act=False)
    graph = helper.make_graph(
        nodes,
        "yolo_like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, size, size])],
        [
            helper.make_tensor_value_info(head32, TensorProto.FLOAT, [batch, out_channels, size // 32, size // 32]),
            helper.make_tensor_value_info(head16, TensorProto.FLOAT, [batch, out_channels, size // 16, size // 16]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    helper.set_model_props(
        model,
        metadata.to_props(
            format="yolov3",
            name="yolo-like-synthetic",
            names=[f"c{i}" for i in range(classes)],
            anchors=TINY_ANCHORS,
            masks=[[3, 4, 5], [0, 1, 2]],
            letterbox=True,
        ),
    )
    onnx.checker.check_model(model)
    return model


def save_yolo_like_model(path: Any, **kwargs: Any) -> Any:
    """Write :func:`yolo_like_model` to ``path``; returns ``path``."""
    import onnx

    onnx.save(yolo_like_model(**kwargs), str(path))
    return path
