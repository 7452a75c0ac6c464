"""Write a Darknet network as an ONNX graph (opset 17) whose outputs are the raw YOLO heads.

Like NVIDIA's ``yolov3_onnx`` sample: input ``000_net`` float32 ``(N, 3, H, W)`` RGB in
0..1, outputs named after the layer feeding each ``[yolo]`` (``082_convolutional``...) with
shape ``(N, A*(5+C), H/s, W/s)``, logits (no sigmoid).  Batch normalisation is folded into
the convolutions (``eps = 1e-5``).  Everything the decoder needs goes to
``metadata_props`` so that :meth:`trt_core.spec.ModelSpec.from_onnx` needs no settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trt_core import metadata
from trt_core.darknet.cfg import default_names, load_cfg, load_names
from trt_core.darknet.layers import (
    Convolutional,
    DarknetConfig,
    Dropout,
    Maxpool,
    Route,
    Shape,
    Shortcut,
    Upsample,
    Yolo,
    infer_shapes,
    kind,
    maxpool_output,
    maxpool_pads,
)
from trt_core.darknet.weights import ConvParams, DarknetWeights, load_weights
from trt_core.errors import DarknetError

OPSET = 17
IR_VERSION = 8
BN_EPSILON = 1e-5
INPUT_NAME = "000_net"
PAD_VALUE = 128


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert` wrote."""

    path: Path
    layers: int
    input_hw: tuple[int, int]
    outputs: tuple[tuple[str, tuple[int, int, int]], ...]  # name, (C, H, W)
    names: tuple[str, ...]
    file_size: int


def fold_batchnorm(p: ConvParams) -> tuple[np.ndarray, np.ndarray]:
    """Convolution weights and bias with Darknet's batch normalisation folded in (float32)."""
    if p.scales is None or p.mean is None or p.variance is None:
        return p.weights.astype(np.float32), p.biases.astype(np.float32)
    factor = p.scales.astype(np.float64) / np.sqrt(p.variance.astype(np.float64) + BN_EPSILON)
    weights = p.weights.astype(np.float64) * factor[:, None, None, None]
    bias = p.biases.astype(np.float64) - p.mean.astype(np.float64) * factor
    return weights.astype(np.float32), bias.astype(np.float32)


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def activation(self, x: str, name: str, out: str) -> str:
        if name == "linear":
            return self.node("Identity", [x], out)
        if name == "leaky":
            return self.node("LeakyRelu", [x], out, alpha=0.1)
        if name == "logistic":
            return self.node("Sigmoid", [x], out)
        if name == "relu":
            return self.node("Relu", [x], out)
        if name == "tanh":
            return self.node("Tanh", [x], out)
        if name == "swish":
            return self.node("Mul", [x, self.node("Sigmoid", [x], out + "_sigmoid")], out)
        if name == "mish":  # x * tanh(softplus(x)); ONNX's Mish op needs opset 18
            softplus = self.node("Softplus", [x], out + "_softplus")
            return self.node("Mul", [x, self.node("Tanh", [softplus], out + "_tanh")], out)
        raise DarknetError(f"unsupported activation {name!r}")


def build_model(
    cfg: DarknetConfig,
    weights: DarknetWeights,
    *,
    input_hw: tuple[int, int] | None = None,
    names: Sequence[str] | None = None,
    name: str = "darknet",
    letterbox: bool = True,
    resize: str = "bilinear",
    pad_value: int = PAD_VALUE,
    extra_props: dict[str, str] | None = None,
    on_layer: Callable[[int, int], None] | None = None,
) -> Any:
    """The ``onnx.ModelProto`` of ``cfg`` with ``weights``; ``on_layer(done, total)`` after each layer."""
    from onnx import TensorProto, helper

    hw = input_hw if input_hw is not None else (cfg.net.height, cfg.net.width)
    shapes = infer_shapes(cfg, hw)
    yolos = cfg.yolo_layers
    classes = {y.classes for y in yolos}
    if len(classes) != 1 or len({y.anchors for y in yolos}) != 1:
        raise DarknetError(f"{cfg.source}: all [yolo] layers must share classes and anchors")
    num_classes = classes.pop()
    names = tuple(names) if names is not None else default_names(num_classes)
    if len(names) != num_classes:
        raise DarknetError(f"{len(names)} class names given, but the cfg's [yolo] layers have classes={num_classes}")

    g = _Graph()
    tensors: list[str] = []
    for layer in cfg.layers:
        if on_layer is not None and layer.index:
            on_layer(layer.index, len(cfg.layers))
        out = f"{layer.index + 1:03d}_{kind(layer)}"
        prev = tensors[-1] if tensors else INPUT_NAME
        if isinstance(layer, Convolutional):
            tensors.append(_conv(g, layer, weights, prev, out))
        elif isinstance(layer, Maxpool):
            tensors.append(_maxpool(g, layer, shapes[layer.index - 1] if layer.index else None, hw, prev, out))
        elif isinstance(layer, Upsample):
            scales = g.const(out + "_scales", np.array([1, 1, layer.stride, layer.stride], np.float32))
            up = g.node(
                "Resize",
                [prev, "", scales],
                out if layer.scale == 1 else out + "_nearest",
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            )
            if layer.scale != 1:
                up = g.node("Mul", [up, g.const(out + "_scale", np.array(layer.scale, np.float32))], out)
            tensors.append(up)
        elif isinstance(layer, Shortcut):
            total = prev
            for k, index in enumerate(layer.sources):
                last = k == len(layer.sources) - 1 and layer.activation == "linear"
                total = g.node("Add", [total, tensors[index]], out if last else f"{out}_add{k}")
            tensors.append(total if layer.activation == "linear" else g.activation(total, layer.activation, out))
        elif isinstance(layer, Route):
            tensors.append(_route(g, layer, shapes, tensors, out))
        elif isinstance(layer, Yolo | Dropout):
            tensors.append(prev)  # [yolo] marks a head; [dropout] is the identity at inference

    heads = [(y, tensors[y.index - 1], shapes[y.index - 1]) for y in yolos]
    if len({t for _, t, _ in heads}) != len(heads) or any(t == INPUT_NAME for _, t, _ in heads):
        raise DarknetError(f"{cfg.source}: two [yolo] layers read the same tensor")
    batch: list[str | int] = ["batch"]
    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [*batch, 3, *hw])],
        [helper.make_tensor_value_info(t, TensorProto.FLOAT, [*batch, s.c, s.h, s.w]) for _, t, s in heads],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="trt-detect")
    model.ir_version = IR_VERSION
    anchors = [[_num(a) for a in pair] for pair in yolos[0].anchors]
    strides = [_num(hw[0] / s.h) for _, _, s in heads]
    props = metadata.to_props(
        format="yolov3",
        name=name,
        names=list(names),
        anchors=anchors,
        masks=[list(y.mask) for y in yolos],
        strides=strides,
        input_size=list(hw),
        letterbox=letterbox,
        pad_value=pad_value,
        resize=resize,
        **({"scale_x_y": [y.scale_x_y for y in yolos]} if any(y.scale_x_y != 1 for y in yolos) else {}),
    )
    helper.set_model_props(model, {**props, **(extra_props or {})})
    return model


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _conv(g: _Graph, layer: Convolutional, weights: DarknetWeights, x: str, out: str) -> str:
    w, b = fold_batchnorm(weights.convs[layer.index])
    p, k = layer.padding, layer.size
    conv_out = out if layer.activation == "linear" else out + "_conv"
    y = g.node(
        "Conv",
        [x, g.const(out + "_weights", w), g.const(out + "_bias", b)],
        conv_out,
        kernel_shape=[k, k],
        strides=[layer.stride] * 2,
        pads=[p] * 4,
        group=layer.groups,
    )
    return y if layer.activation == "linear" else g.activation(y, layer.activation, out)


def _maxpool(g: _Graph, layer: Maxpool, prev: Shape | None, hw: tuple[int, int], x: str, out: str) -> str:
    before, after = maxpool_pads(layer)
    h, w = (prev.h, prev.w) if prev is not None else hw
    # Drop padding at the end when no window reaches it (same output size without it).
    end = [after if (n + before - layer.size) // layer.stride + 1 != maxpool_output(n, layer) else 0 for n in (h, w)]
    return g.node(
        "MaxPool",
        [x],
        out,
        kernel_shape=[layer.size] * 2,
        strides=[layer.stride] * 2,
        pads=[before, before, *end],
    )


def _route(g: _Graph, layer: Route, shapes: list[Shape], tensors: list[str], out: str) -> str:
    parts = []
    for k, index in enumerate(layer.layers):
        source = tensors[index]
        if layer.groups > 1:
            step = shapes[index].c // layer.groups
            starts, ends = (np.array([v], np.int64) for v in (step * layer.group_id, step * (layer.group_id + 1)))
            name = f"{out}_group{k}" if len(layer.layers) > 1 else out
            source = g.node(
                "Slice",
                [
                    source,
                    g.const(name + "_starts", starts),
                    g.const(name + "_ends", ends),
                    g.const(name + "_axes", np.array([1], np.int64)),
                ],
                name,
            )
        parts.append(source)
    return parts[0] if len(parts) == 1 else g.node("Concat", parts, out, axis=1)


def convert(
    cfg_path: str | Path,
    weights_path: str | Path,
    output: str | Path,
    *,
    input_size: tuple[int, int] | None = None,
    names_path: str | Path | None = None,
    preset: str | None = None,
    name: str | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
) -> Conversion:
    """Read a Darknet cfg + weights and write the ONNX model to ``output``.

    ``on_step(phase, done, total)`` reports progress: ``weights`` (read), ``layers`` (built,
    one call per layer), ``write`` and ``check``.
    """

    def step(phase: str, done: int = 1, total: int = 1) -> None:
        if on_step is not None:
            on_step(phase, done, total)

    import onnx

    options: dict[str, Any] = {"letterbox": True, "resize": "bilinear", "pad_value": PAD_VALUE}
    extra = {"converted_from": f"{Path(cfg_path).name} + {Path(weights_path).name}"}
    if preset is not None:
        from trt_core.presets import get_preset

        overrides = get_preset(preset).spec_overrides
        options.update({k: v for k, v in overrides.items() if k in options})
        extra["preset"] = preset
    cfg = load_cfg(cfg_path)
    hw = input_size if input_size is not None else (cfg.net.height, cfg.net.width)
    shapes = infer_shapes(cfg, hw)  # size problems show before a large weights file is read
    weights = load_weights(weights_path, cfg, shapes)
    step("weights")
    names = load_names(names_path) if names_path is not None else None
    model = build_model(
        cfg,
        weights,
        input_hw=hw,
        names=names,
        name=name or Path(cfg_path).stem,
        extra_props=extra,
        on_layer=lambda done, total: step("layers", done, total),
        **options,
    )
    step("layers", len(cfg.layers), len(cfg.layers))
    output = Path(output)
    try:
        onnx.save_model(model, str(output))
    except OSError as exc:
        raise DarknetError(f"cannot write {output}: {exc.strerror or exc}") from exc
    step("write")
    try:  # from the file: checking the in-memory proto would serialise it a second time
        onnx.checker.check_model(str(output))
    except onnx.checker.ValidationError as exc:  # a bug here, not in the user's files
        output.unlink(missing_ok=True)
        raise DarknetError(f"the generated ONNX model is invalid: {exc}") from exc
    step("check")
    heads = [shapes[y.index - 1] for y in cfg.yolo_layers]
    outputs = tuple((o.name, (s.c, s.h, s.w)) for o, s in zip(model.graph.output, heads, strict=True))
    classes = cfg.yolo_layers[0].classes
    return Conversion(output, len(cfg.layers), hw, outputs, names or default_names(classes), output.stat().st_size)
