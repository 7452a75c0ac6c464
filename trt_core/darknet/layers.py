"""Darknet layer types (parsed cfg sections) and shape inference with Darknet's size arithmetic.

Every layer gets its output shape ``(C, H, W)``; the checks here (channel counts of
groups and heads, spatial sizes of concatenations and additions) are the ones that
would otherwise surface as an opaque ONNX or TensorRT error much later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from trt_core.errors import DarknetError


@dataclass(frozen=True)
class Net:
    width: int
    height: int
    channels: int


@dataclass(frozen=True)
class Convolutional:
    index: int
    line: int
    filters: int
    size: int
    stride: int
    padding: int
    groups: int
    batch_normalize: bool
    activation: str


@dataclass(frozen=True)
class Shortcut:
    index: int
    line: int
    sources: tuple[int, ...]  # absolute indices added to the previous layer's output
    activation: str


@dataclass(frozen=True)
class Route:
    index: int
    line: int
    layers: tuple[int, ...]  # absolute indices, concatenated along channels
    groups: int
    group_id: int


@dataclass(frozen=True)
class Upsample:
    index: int
    line: int
    stride: int
    scale: float


@dataclass(frozen=True)
class Maxpool:
    index: int
    line: int
    size: int
    stride: int
    padding: int  # total padding; Darknet puts padding // 2 before and the rest after


@dataclass(frozen=True)
class Yolo:
    index: int
    line: int
    mask: tuple[int, ...]
    anchors: tuple[tuple[float, float], ...]
    classes: int
    scale_x_y: float


@dataclass(frozen=True)
class Dropout:
    index: int
    line: int


Layer = Union[Convolutional, Shortcut, Route, Upsample, Maxpool, Yolo, Dropout]  # noqa: UP007


@dataclass(frozen=True)
class DarknetConfig:
    net: Net
    layers: tuple[Layer, ...]
    source: str = "<cfg>"

    @property
    def yolo_layers(self) -> tuple[Yolo, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, Yolo))


def kind(layer: Layer) -> str:
    """Darknet's section name of ``layer`` (``convolutional``, ``route``, ...)."""
    return type(layer).__name__.lower()


@dataclass(frozen=True)
class Shape:
    c: int
    h: int
    w: int

    def __str__(self) -> str:
        return f"{self.c}x{self.h}x{self.w}"


def maxpool_pads(pool: Maxpool) -> tuple[int, int]:
    """Padding (before, after) on each spatial axis: Darknet offsets windows by ``-padding/2``."""
    return pool.padding // 2, pool.padding - pool.padding // 2


def conv_output(size: int, conv: Convolutional) -> int:
    return (size + 2 * conv.padding - conv.size) // conv.stride + 1


def maxpool_output(size: int, pool: Maxpool) -> int:
    return (size + pool.padding - pool.size) // pool.stride + 1


def _where(cfg: DarknetConfig, layer: Layer) -> str:
    return f"{cfg.source}: [{kind(layer)}] (layer {layer.index}, line {layer.line})"


def infer_shapes(cfg: DarknetConfig, input_hw: tuple[int, int] | None = None) -> list[Shape]:
    """Output shape of every layer for an input of ``input_hw`` (default: the cfg's size)."""
    h, w = input_hw if input_hw is not None else (cfg.net.height, cfg.net.width)
    if h < 1 or w < 1:
        raise DarknetError(f"input size must be positive, got {h}x{w}")
    size_hint = f"input size {h}x{w} does not suit this network; use a multiple of its largest stride (e.g. 32)"
    shapes: list[Shape] = []

    def source(layer: Layer, index: int) -> Shape:
        if index < 0:
            return Shape(cfg.net.channels, h, w)
        if isinstance(cfg.layers[index], Yolo):
            raise DarknetError(f"{_where(cfg, layer)}: uses the output of [yolo] layer {index}, which is not supported")
        return shapes[index]

    for layer in cfg.layers:
        where = _where(cfg, layer)
        prev = source(layer, layer.index - 1) if not isinstance(layer, Route | Yolo) else None
        if isinstance(layer, Convolutional):
            assert prev is not None
            if prev.c % layer.groups or layer.filters % layer.groups:
                raise DarknetError(
                    f"{where}: groups={layer.groups} must divide the input channels ({prev.c}) "
                    f"and filters ({layer.filters})"
                )
            shape = Shape(layer.filters, conv_output(prev.h, layer), conv_output(prev.w, layer))
        elif isinstance(layer, Maxpool):
            assert prev is not None
            shape = Shape(prev.c, maxpool_output(prev.h, layer), maxpool_output(prev.w, layer))
        elif isinstance(layer, Upsample):
            assert prev is not None
            shape = Shape(prev.c, prev.h * layer.stride, prev.w * layer.stride)
        elif isinstance(layer, Shortcut):
            assert prev is not None
            for index in layer.sources:
                other = source(layer, index)
                if other != prev:
                    raise DarknetError(
                        f"{where}: adds layer {index} ({other}) to layer {layer.index - 1} ({prev}); shapes differ",
                        hint=size_hint,
                    )
            shape = prev
        elif isinstance(layer, Route):
            parts = [source(layer, index) for index in layer.layers]
            for index, part in zip(layer.layers, parts, strict=True):
                if part.c % layer.groups:
                    raise DarknetError(
                        f"{where}: groups={layer.groups} does not divide layer {index}'s {part.c} channels"
                    )
                if (part.h, part.w) != (parts[0].h, parts[0].w):
                    listed = ", ".join(f"layer {i}: {p.h}x{p.w}" for i, p in zip(layer.layers, parts, strict=True))
                    raise DarknetError(f"{where}: concatenates different spatial sizes ({listed})", hint=size_hint)
            shape = Shape(sum(p.c // layer.groups for p in parts), parts[0].h, parts[0].w)
        elif isinstance(layer, Yolo):
            shape = source(layer, layer.index - 1)
            expected = len(layer.mask) * (5 + layer.classes)
            if shape.c != expected:
                raise DarknetError(
                    f"{where}: its input (layer {layer.index - 1}) has {shape.c} channels, but "
                    f"{len(layer.mask)} anchors x (5 + {layer.classes} classes) = {expected}",
                    hint="set filters of the convolution before each [yolo] to mask size x (classes + 5)",
                )
        else:
            assert isinstance(layer, Dropout) and prev is not None
            shape = prev
        if shape.h < 1 or shape.w < 1:
            raise DarknetError(f"{where}: output size {shape} is empty", hint=size_hint)
        shapes.append(shape)
    return shapes
