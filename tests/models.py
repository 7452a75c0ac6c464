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


# -- an Ultralytics-style YOLOv8 export with dynamic batch, height and width
# (``yolo export format=onnx dynamic=True``): input ``images`` (batch, 3, height, width),
# output ``output0`` (batch, 4 + classes, anchors) whose anchor count follows H and W (one
# cell per 8, 16 and 32 pixels), and the metadata the exporter writes (``str()`` of values)
ULTRALYTICS_STRIDES = (8, 16, 32)


def ultralytics_like_model(
    *, imgsz: int = 640, classes: int = 3, width: int = 8, dynamic: bool = True, seed: int = 0
) -> Any:
    """Return an ``onnx.ModelProto``: a tiny conv net (random weights) with three heads
    (strides 8, 16, 32) decoded as Ultralytics' Detect head does — box centres on each head's
    grid (built from the runtime shape, so any H/W works), sizes and class scores per cell."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    out_channels = 4 + classes
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(x: str, cin: int, cout: int, k: int, stride: int, name: str, bias: float = 0.0) -> str:
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1 + bias).astype(np.float32)
        return node("Conv", [x, const(name + "_w", w), const(name + "_b", b)], name, strides=[stride, stride])

    const("zero", np.array(0, np.int64))
    const("one", np.array(1, np.int64))
    const("half", np.array(0.5, np.float32))
    x = node("Relu", [conv("images", 3, width, 8, 8, "stem")], "stem_act")  # stride 8
    features = [x]
    for s in ULTRALYTICS_STRIDES[1:]:
        x = node("Relu", [conv(x, width, width, 2, 2, f"down{s}")], f"down{s}_act")
        features.append(x)
    heads = []
    for s, f in zip(ULTRALYTICS_STRIDES, features):
        p = f"h{s}_"
        box = conv(f, width, 4, 1, 1, p + "box")  # (N, 4, h, w): centre offsets, log sizes
        cls = node("Sigmoid", [conv(f, width, classes, 1, 1, p + "cls", bias=-2.0)], p + "scores")
        shape = node("Shape", [f], p + "shape")
        h = node("Gather", [shape, const(p + "i2", np.array(2, np.int64))], p + "h")
        w = node("Gather", [shape, const(p + "i3", np.array(3, np.int64))], p + "w")
        gy = node("Cast", [node("Range", ["zero", h, "one"], p + "ry")], p + "gy", to=TensorProto.FLOAT)
        gx = node("Cast", [node("Range", ["zero", w, "one"], p + "rx")], p + "gx", to=TensorProto.FLOAT)
        gy = node("Unsqueeze", [gy, const(p + "ax1", np.array([1], np.int64))], p + "gy2")  # (h, 1)
        split = [p + "dx", p + "dy", p + "dw", p + "dh"]
        nodes.append(helper.make_node("Split", [box], split, name=p + "split", axis=1, num_outputs=4))
        stride = const(p + "stride", np.array(s, np.float32))
        cx = node(
            "Mul",
            [
                node("Add", [node("Add", [gx, "half"], p + "gxc"), node("Tanh", [split[0]], p + "tx")], p + "cx0"),
                stride,
            ],
            p + "cx",
        )
        cy = node(
            "Mul",
            [
                node("Add", [node("Add", [gy, "half"], p + "gyc"), node("Tanh", [split[1]], p + "ty")], p + "cy0"),
                stride,
            ],
            p + "cy",
        )
        size = const(p + "size", np.array(3.0 * s, np.float32))
        bw = node("Mul", [node("Sigmoid", [split[2]], p + "sw"), size], p + "bw")
        bh = node("Mul", [node("Sigmoid", [split[3]], p + "sh"), size], p + "bh")
        cells = node("Concat", [cx, cy, bw, bh, cls], p + "cells", axis=1)
        shape3 = const(p + "shape3", np.array([0, out_channels, -1], np.int64))
        heads.append(node("Reshape", [cells, shape3], p + "rows"))
    node("Concat", heads, "output0", axis=2)
    batch: int | str = "batch" if dynamic else 1
    hw: list[int | str] = ["height", "width"] if dynamic else [imgsz, imgsz]
    anchors: int | str = "anchors" if dynamic else sum((imgsz // s) ** 2 for s in ULTRALYTICS_STRIDES)
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *hw])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, out_channels, anchors])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="pytorch")
    model.ir_version = 9
    args = {"batch": 1, "half": False, "dynamic": dynamic, "simplify": True, "opset": None, "nms": False}
    props: dict[str, Any] = {
        "description": "Ultralytics YOLOv8n model trained on coco.yaml",
        "author": "Ultralytics",
        "version": "8.3.150",
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "stride": max(ULTRALYTICS_STRIDES),
        "task": "detect",
        "batch": 1,
        "imgsz": [imgsz, imgsz],
        "names": {i: f"class{i}" for i in range(classes)},
        "args": args,
        "channels": 3,
        "end2end": False,
    }
    helper.set_model_props(model, {k: str(v) for k, v in props.items()})
    onnx.checker.check_model(model, full_check=True)
    return model
