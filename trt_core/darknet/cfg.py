"""Darknet ``.cfg`` parsing into typed, immutable section objects (and ``.names`` files).

Layer indices follow Darknet: ``[net]`` is not a layer, the first section after it is
layer 0.  Relative references (``layers=-4``, ``from=-3``) are resolved to absolute
indices here, so later stages never see negative indices.  The section types live in
:mod:`trt_core.darknet.layers`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from trt_core.darknet.layers import (
    Convolutional,
    DarknetConfig,
    Dropout,
    Layer,
    Maxpool,
    Net,
    Route,
    Shortcut,
    Upsample,
    Yolo,
)
from trt_core.errors import DarknetError

ACTIVATIONS = frozenset({"linear", "leaky", "logistic", "mish", "relu", "swish", "tanh"})

# Section names as Darknet's parser spells them (aliases included) -> our canonical name.
SECTION_ALIASES = {
    "net": "net",
    "network": "net",
    "convolutional": "convolutional",
    "conv": "convolutional",
    "shortcut": "shortcut",
    "route": "route",
    "upsample": "upsample",
    "maxpool": "maxpool",
    "max": "maxpool",
    "yolo": "yolo",
    "dropout": "dropout",
}

# Options that only matter for training (accepted and ignored), per section.
_IGNORED: dict[str, frozenset[str]] = {
    "convolutional": frozenset({"stopbackward", "dont_update", "burnin_update", "train_only_bn", "train"}),
    "shortcut": frozenset({"weights_normalization"}),
    "route": frozenset({"stopbackward"}),
    "maxpool": frozenset(),
    "upsample": frozenset(),
    "dropout": frozenset({"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs"}),
}
# Options that change the computation: accepted only at their (no-op) default value.
_CONV_FLAGS = ("binary", "xnor", "antialiasing", "flipped", "deform", "sway", "rotate", "stretch")
_DEFAULT_ONLY: dict[str, dict[str, str]] = {
    "convolutional": {
        "dilation": "1",
        "stretch_sway": "0",
        "coordconv": "0",
        **dict.fromkeys(_CONV_FLAGS, "0"),
    },
    "shortcut": {"alpha": "1", "beta": "1", "weights_type": "none"},
    "maxpool": {"maxpool_depth": "0", "antialiasing": "0"},
    "upsample": {},
    "route": {},
    "dropout": {},
    "yolo": {"new_coords": "0"},
}


@dataclass
class _Section:
    kind: str
    line: int
    options: dict[str, tuple[str, int]]


def _where(source: str, index: int, kind: str, line: int) -> str:
    return f"{source}: [{kind}]" + (f" (layer {index}, line {line})" if index >= 0 else f" (line {line})")


def _split(text: str, source: str) -> list[_Section]:
    sections: list[_Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"\s+", "", raw)  # Darknet strips every whitespace character
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise DarknetError(f"{source}: line {number}: malformed section header {raw.strip()!r}")
            sections.append(_Section(line[1:-1].lower(), number, {}))
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise DarknetError(f"{source}: line {number}: expected 'option=value', got {raw.strip()!r}")
        if not sections:
            raise DarknetError(f"{source}: line {number}: option {key!r} before the first [section]")
        sections[-1].options.setdefault(key, (value, number))  # the first occurrence wins, as in Darknet
    return sections


T = TypeVar("T")


class _Reader:
    """Typed access to one section's options; remembers which were read."""

    def __init__(self, section: _Section, index: int, source: str) -> None:
        self.section = section
        self.index = index
        self.where = _where(source, index, section.kind, section.line)
        self.used: set[str] = set()

    def error(self, message: str, hint: str | None = None) -> DarknetError:
        return DarknetError(f"{self.where}: {message}", hint=hint)

    def get(self, key: str, convert: Callable[[str], T], default: T | None = None) -> T:
        self.used.add(key)
        if key not in self.section.options:
            if default is None:
                raise self.error(f"missing option {key!r}")
            return default
        text, line = self.section.options[key]
        try:
            return convert(text)
        except ValueError:
            raise self.error(
                f"option {key}={text!r} (line {line}) is not a valid {_LABELS.get(convert, 'value')}"
            ) from None

    def ints(self, key: str) -> tuple[int, ...]:
        return self.get(key, _ints)

    def activation(self, default: str) -> str:
        name = self.get("activation", str, default)
        if name not in ACTIVATIONS:
            raise self.error(f"unsupported activation {name!r}", hint=f"supported: {', '.join(sorted(ACTIVATIONS))}")
        return name

    def check_unused(self, strict: bool) -> None:
        kind = SECTION_ALIASES[self.section.kind]
        for key, (value, line) in self.section.options.items():
            if key in self.used or key in _IGNORED.get(kind, ()):
                continue
            defaults = _DEFAULT_ONLY.get(kind, {})
            if key in defaults:
                if _same(value, defaults[key]):
                    continue
                raise self.error(
                    f"option {key}={value} (line {line}) is not supported",
                    hint=f"remove it or use a cfg without it; only {key}={defaults[key]} can be converted",
                )
            if strict:
                raise self.error(f"unknown or unsupported option {key!r} (line {line})")


def _same(value: str, default: str) -> bool:
    try:
        return float(value) == float(default)
    except ValueError:
        return value.lower() == default.lower()


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v)


_LABELS: dict[object, str] = {
    int: "integer",
    float: "number",
    _ints: "list of integers",
    _floats: "list of numbers",
}


def _resolve(r: _Reader, refs: tuple[int, ...], key: str) -> tuple[int, ...]:
    if not refs:
        raise r.error(f"option {key!r} is empty")
    out = []
    for ref in refs:
        absolute = r.index + ref if ref < 0 else ref
        if not 0 <= absolute < r.index:
            raise r.error(f"{key}={ref} refers to layer {absolute}, which is not an earlier layer (0..{r.index - 1})")
        out.append(absolute)
    return tuple(out)


def _layer(r: _Reader) -> Layer:
    i, line, kind = r.index, r.section.line, SECTION_ALIASES[r.section.kind]
    if kind == "convolutional":
        size = r.get("size", int, 1)
        explicit = r.get("padding", int, 0)  # Darknet: pad=1 means size/2 and wins over padding=
        padding = size // 2 if r.get("pad", int, 0) else explicit
        conv = Convolutional(
            i,
            line,
            r.get("filters", int),
            size,
            r.get("stride", int, 1),
            padding,
            r.get("groups", int, 1),
            bool(r.get("batch_normalize", int, 0)),
            r.activation("logistic"),
        )
        for name in ("stride_x", "stride_y"):
            if r.get(name, int, conv.stride) != conv.stride:
                raise r.error(f"option {name} differs from stride; non-square strides are not supported")
        if min(conv.filters, conv.size, conv.stride, conv.groups) < 1 or conv.padding < 0:
            raise r.error("filters, size, stride and groups must be >= 1 (and padding >= 0)")
        return conv
    if kind == "shortcut":
        return Shortcut(i, line, _resolve(r, r.ints("from"), "from"), r.activation("linear"))
    if kind == "route":
        route = Route(
            i,
            line,
            _resolve(r, r.ints("layers"), "layers"),
            r.get("groups", int, 1),
            r.get("group_id", int, 0),
        )
        if route.groups < 1 or not 0 <= route.group_id < route.groups:
            raise r.error(f"needs groups >= 1 and 0 <= group_id < groups, got {route.groups}/{route.group_id}")
        return route
    if kind == "upsample":
        up = Upsample(i, line, r.get("stride", int, 2), r.get("scale", float, 1.0))
        if up.stride < 1:
            raise r.error(f"stride={up.stride} (downsampling upsample layers) is not supported")
        return up
    if kind == "maxpool":
        stride = r.get("stride", int, 1)
        size = r.get("size", int, stride)
        pool = Maxpool(i, line, size, stride, r.get("padding", int, size - 1))
        for name in ("stride_x", "stride_y"):
            if r.get(name, int, stride) != stride:
                raise r.error(f"option {name} differs from stride; non-square strides are not supported")
        if min(pool.size, pool.stride) < 1 or pool.padding < 0:
            raise r.error("size and stride must be >= 1 and padding >= 0")
        return pool
    if kind == "yolo":
        return _yolo(r)
    return Dropout(i, line)


def _yolo(r: _Reader) -> Yolo:
    classes = r.get("classes", int, 20)
    num = r.get("num", int, 1)
    flat = r.get("anchors", _floats)
    if len(flat) != 2 * num:
        raise r.error(f"anchors has {len(flat)} values but num={num} needs {2 * num} (w,h pairs)")
    mask = r.get("mask", _ints, tuple(range(num)))
    if not mask or any(not 0 <= m < num for m in mask):
        raise r.error(f"mask={','.join(map(str, mask))} must index the num={num} anchors")
    anchors = tuple((flat[k], flat[k + 1]) for k in range(0, len(flat), 2))
    scale = r.get("scale_x_y", float, 1.0)
    if classes < 1 or scale <= 0:
        raise r.error("classes must be >= 1 and scale_x_y > 0")
    return Yolo(r.index, r.section.line, mask, anchors, classes, scale)


def parse_cfg(text: str, source: str = "<cfg>") -> DarknetConfig:
    """Parse the text of a Darknet cfg file."""
    sections = _split(text, source)
    if not sections or SECTION_ALIASES.get(sections[0].kind) != "net":
        raise DarknetError(f"{source}: the first section must be [net]")
    net_reader = _Reader(sections[0], -1, source)
    net = Net(net_reader.get("width", int), net_reader.get("height", int), net_reader.get("channels", int, 3))
    net_reader.check_unused(strict=False)
    if net.channels != 3 or net.width < 1 or net.height < 1:
        raise net_reader.error(
            f"needs channels=3 and positive width/height, got channels={net.channels}, "
            f"width={net.width}, height={net.height}"
        )
    layers: list[Layer] = []
    for index, section in enumerate(sections[1:]):
        kind = SECTION_ALIASES.get(section.kind)
        if kind is None or kind == "net":
            raise DarknetError(
                f"{_where(source, index, section.kind, section.line)}: unsupported section type",
                hint=f"supported: {', '.join(sorted(set(SECTION_ALIASES.values()) - {'net'}))}",
            )
        reader = _Reader(section, index, source)
        layers.append(_layer(reader))
        reader.check_unused(strict=kind != "yolo")
    if not any(isinstance(layer, Yolo) for layer in layers):
        raise DarknetError(f"{source}: no [yolo] layer; only YOLOv3-style detectors can be converted")
    return DarknetConfig(net, tuple(layers), source)


def load_cfg(path: str | Path) -> DarknetConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DarknetError(f"cannot read cfg file {path}: {exc.strerror or exc}") from exc
    return parse_cfg(text, source=path.name)


def load_names(path: str | Path) -> tuple[str, ...]:
    """Class names from a Darknet ``.names`` file: one per line, blank lines skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DarknetError(f"cannot read names file {path}: {exc}") from exc
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise DarknetError(f"names file {path} has no names")
    return names


def default_names(classes: int) -> tuple[str, ...]:
    """COCO's names for 80 classes, else ``"0"``..``"C-1"``."""
    if classes == 80:
        from trt_core.spec import coco_names

        return coco_names()
    return tuple(str(i) for i in range(classes))
