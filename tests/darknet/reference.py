"""An independent numpy implementation of Darknet's forward pass, for checking the ONNX export.

Nothing here imports ``trt_core.darknet``: the cfg is parsed again (minimally), random
weights are generated and packed into a ``.weights`` file by hand, and each layer is
computed the way Darknet's C code does it (``im2col`` convolution, explicit batch
normalisation with ``eps = .00001``, ``maxpool`` windows offset by ``-padding/2``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Array = np.ndarray
EPS = 0.00001


def sections(text: str) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = re.sub(r"\s+", "", raw)
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            name = line[1:-1]
            out.append(({"conv": "convolutional", "max": "maxpool", "network": "net"}.get(name, name), {}))
        else:
            key, _, value = line.partition("=")
            out[-1][1].setdefault(key, value)
    return out


def shrink(text: str, divisor: int = 8, classes: int | None = None, size: int | None = None) -> str:
    """Reduce a cfg: non-head conv widths / ``divisor``, optional classes and input size."""
    secs = sections(text)
    lines: list[str] = []
    for i, (kind, opts) in enumerate(secs):
        opts = dict(opts)
        head = kind == "convolutional" and i + 1 < len(secs) and secs[i + 1][0] == "yolo"
        if kind == "convolutional" and not head:
            opts["filters"] = str(max(2, int(opts["filters"]) // divisor))
        if kind == "yolo" and classes is not None:
            opts["classes"] = str(classes)
        if head and classes is not None:
            mask = secs[i + 1][1].get("mask", "").split(",")
            opts["filters"] = str(len(mask) * (classes + 5))
        if kind == "net" and size is not None:
            opts["width"] = opts["height"] = str(size)
        lines += [f"[{kind}]", *(f"{k}={v}" for k, v in opts.items()), ""]
    return "\n".join(lines)


@dataclass
class Conv:
    biases: Array
    weights: Array
    bn: tuple[Array, Array, Array] | None  # scales, rolling mean, rolling variance


@dataclass
class Reference:
    text: str
    seed: int = 0
    convs: dict[int, Conv] = field(default_factory=dict)

    def __post_init__(self) -> None:
        secs = sections(self.text)
        self.net, self.layers = secs[0][1], secs[1:]
        rng = np.random.default_rng(self.seed)
        channels: list[int] = []
        prev = int(self.net.get("channels", 3))
        for i, (kind, o) in enumerate(self.layers):
            if kind == "convolutional":
                f, k, groups = int(o["filters"]), int(o.get("size", 1)), int(o.get("groups", 1))
                fan_in = prev // groups * k * k
                w = rng.normal(0, 1 / np.sqrt(fan_in), (f, prev // groups, k, k))
                bn = None
                if int(o.get("batch_normalize", 0)):
                    bn = (rng.uniform(0.5, 1.5, f), rng.normal(0, 0.2, f), rng.uniform(0.3, 2.0, f))
                self.convs[i] = Conv(rng.normal(0, 0.2, f), w, bn)
                prev = f
            elif kind == "route":
                refs = [int(v) for v in o["layers"].split(",")]
                prev = sum(channels[r if r >= 0 else i + r] for r in refs) // int(o.get("groups", 1))
            channels.append(prev)

    def weights_bytes(self, major: int = 0, minor: int = 2, revision: int = 0, seen: int = 12345) -> bytes:
        seen_fmt = "<q" if major * 10 + minor >= 2 else "<i"
        parts = [struct.pack("<3i", major, minor, revision), struct.pack(seen_fmt, seen)]
        for i in sorted(self.convs):
            c = self.convs[i]
            arrays = [c.biases, *(c.bn or ()), c.weights]
            parts += [np.asarray(a, "<f4").tobytes() for a in arrays]
        return b"".join(parts)

    def forward(self, x: Array) -> list[Array]:
        """The inputs of the [yolo] layers (raw heads), for an ``(N, 3, H, W)`` input."""
        x = x.astype(np.float64)
        outs: list[Array] = []
        heads: list[Array] = []
        for i, (kind, o) in enumerate(self.layers):
            prev = outs[-1] if outs else x
            if kind == "convolutional":
                y = activate(self._conv(prev, i, o), o.get("activation", "logistic"))
            elif kind == "maxpool":
                y = maxpool(prev, o)
            elif kind == "upsample":
                s = int(o.get("stride", 2))
                y = prev.repeat(s, axis=2).repeat(s, axis=3) * float(o.get("scale", 1))
            elif kind == "route":
                groups, gid = int(o.get("groups", 1)), int(o.get("group_id", 0))
                parts = []
                for r in (int(v) for v in o["layers"].split(",")):
                    src = outs[r if r >= 0 else i + r]
                    step = src.shape[1] // groups
                    parts.append(src[:, step * gid : step * (gid + 1)])
                y = np.concatenate(parts, axis=1)
            elif kind == "shortcut":
                y = prev.copy()
                for r in (int(v) for v in o["from"].split(",")):
                    y = y + outs[r if r >= 0 else i + r]
                y = activate(y, o.get("activation", "linear"))
            elif kind == "yolo":
                heads.append(prev)
                y = prev
            elif kind == "dropout":
                y = prev
            else:
                raise ValueError(kind)
            outs.append(y)
        return heads

    def _conv(self, x: Array, i: int, o: dict[str, str]) -> Array:
        p = self.convs[i]
        k, stride = int(o.get("size", 1)), int(o.get("stride", 1))
        pad = k // 2 if int(o.get("pad", 0)) else int(o.get("padding", 0))
        groups = int(o.get("groups", 1))
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        cols = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # N,C,OH,OW,k,k
        cg, fg = x.shape[1] // groups, p.weights.shape[0] // groups
        y = np.concatenate(
            [
                np.einsum("nchwij,fcij->nfhw", cols[:, g * cg : (g + 1) * cg], p.weights[g * fg : (g + 1) * fg])
                for g in range(groups)
            ],
            axis=1,
        )
        if p.bn is not None:
            scales, mean, var = (a[None, :, None, None] for a in p.bn)
            y = (y - mean) / np.sqrt(var + EPS) * scales
        return y + p.biases[None, :, None, None]


def activate(x: Array, name: str) -> Array:
    if name == "linear":
        return x
    if name == "leaky":
        return np.where(x > 0, x, 0.1 * x)
    if name == "logistic":
        return 1 / (1 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0)
    if name == "tanh":
        return np.tanh(x)
    if name == "swish":
        return x / (1 + np.exp(-x))
    if name == "mish":
        return x * np.tanh(np.log1p(np.exp(x)))
    raise ValueError(name)


def maxpool(x: Array, o: dict[str, str]) -> Array:
    """Darknet's forward_maxpool_layer: windows start at ``-(padding/2) + i*stride``."""
    stride = int(o.get("stride", 1))
    size = int(o.get("size", stride))
    padding = int(o.get("padding", size - 1))
    n, c, h, w = x.shape
    oh, ow = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    offset = -(padding // 2)  # C integer division truncates: -l.pad/2
    out = np.full((n, c, oh, ow), -np.inf)
    for dy in range(size):
        for dx in range(size):
            rows = offset + np.arange(oh) * stride + dy
            cols = offset + np.arange(ow) * stride + dx
            valid = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
            vals = x[:, :, rows.clip(0, h - 1)][:, :, :, cols.clip(0, w - 1)]
            out = np.maximum(out, np.where(valid, vals, -np.inf))
    return out
