"""Darknet ``.weights`` files: reading (strictly checked) and writing.

Layout: ``major, minor, revision`` as int32, then ``seen`` as int64 when
``major*10 + minor >= 2`` (and both < 1000), else int32; then float32 values layer by
layer.  Only convolutions carry weights: with batch normalisation ``biases, scales,
rolling_mean, rolling_variance, weights``; without, ``biases, weights``; weights are
``(filters, channels/groups, size, size)``.  The file must hold exactly what the cfg
needs: a short file or one with bytes left over means the cfg and weights disagree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from trt_core.darknet.cfg import Convolutional, DarknetConfig
from trt_core.darknet.layers import Shape, infer_shapes
from trt_core.errors import DarknetError

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Header:
    major: int = 0
    minor: int = 2
    revision: int = 0
    seen: int = 0

    @property
    def seen_is_int64(self) -> bool:
        return self.major * 10 + self.minor >= 2 and self.major < 1000 and self.minor < 1000

    @property
    def size(self) -> int:
        return 12 + (8 if self.seen_is_int64 else 4)

    def pack(self) -> bytes:
        seen = struct.pack("<q" if self.seen_is_int64 else "<i", self.seen)
        return struct.pack("<3i", self.major, self.minor, self.revision) + seen


@dataclass(frozen=True)
class ConvParams:
    """One convolution's parameters as stored (no batch-norm folding)."""

    biases: FloatArray
    weights: FloatArray
    scales: FloatArray | None = None
    mean: FloatArray | None = None
    variance: FloatArray | None = None

    @property
    def batch_normalize(self) -> bool:
        return self.scales is not None


@dataclass(frozen=True)
class DarknetWeights:
    header: Header
    convs: dict[int, ConvParams]  # by layer index


def conv_counts(conv: Convolutional, in_channels: int) -> list[tuple[str, tuple[int, ...]]]:
    """The arrays a convolution reads, in file order, with their shapes."""
    f = conv.filters
    arrays = [("biases", (f,))]
    if conv.batch_normalize:
        arrays += [("scales", (f,)), ("mean", (f,)), ("variance", (f,))]
    return [*arrays, ("weights", (f, in_channels // conv.groups, conv.size, conv.size))]


def _conv_inputs(cfg: DarknetConfig, shapes: list[Shape] | None) -> list[tuple[Convolutional, int]]:
    shapes = shapes if shapes is not None else infer_shapes(cfg)
    out = []
    for conv in cfg.layers:
        if isinstance(conv, Convolutional):
            out.append((conv, cfg.net.channels if conv.index == 0 else shapes[conv.index - 1].c))
    return out


def expected_floats(cfg: DarknetConfig, shapes: list[Shape] | None = None) -> int:
    return sum(int(np.prod(s)) for conv, c in _conv_inputs(cfg, shapes) for _, s in conv_counts(conv, c))


def parse_header(data: bytes, source: str) -> Header:
    if not data:
        raise DarknetError(f"{source}: the weights file is empty")
    if len(data) < 12:
        raise DarknetError(f"{source}: truncated header ({len(data)} bytes; a Darknet header has 16 or 20)")
    major, minor, revision = struct.unpack_from("<3i", data)
    if not (0 <= major < 1000 and 0 <= minor < 1000 and 0 <= revision < 1_000_000):
        raise DarknetError(
            f"{source}: not a Darknet weights file (header version {major}.{minor}.{revision})",
            hint="a .weights file starts with major, minor, revision such as 0.2.0",
        )
    header = Header(major, minor, revision)
    if len(data) < header.size:
        raise DarknetError(
            f"{source}: truncated header ({len(data)} bytes; version {major}.{minor} needs {header.size})"
        )
    seen = struct.unpack_from("<q" if header.seen_is_int64 else "<i", data, 12)[0]
    return Header(major, minor, revision, seen)


def parse_weights(
    data: bytes, cfg: DarknetConfig, shapes: list[Shape] | None = None, source: str = "<weights>"
) -> DarknetWeights:
    """Split the bytes of a weights file into per-layer arrays, checking the size exactly."""
    header = parse_header(data, source)
    payload = len(data) - header.size
    needed = expected_floats(cfg, shapes)
    if payload % 4:
        raise DarknetError(f"{source}: {payload} bytes after the header is not a whole number of float32 values")
    values = np.frombuffer(data, dtype="<f4", offset=header.size)
    mismatch_hint = "check that the weights were trained with this cfg (same filters, classes and layers)"
    if values.size < needed:
        raise DarknetError(
            f"{source}: truncated: the cfg needs {needed} float32 values after the header, the "
            f"file holds {values.size}",
            hint=mismatch_hint,
        )
    if values.size > needed:
        extra = (values.size - needed) * 4
        hint = mismatch_hint
        if extra == 4 and not header.seen_is_int64:
            hint = (
                "4 bytes too many: the header's 'seen' field may be int64 despite version "
                f"{header.major}.{header.minor}"
            )
        raise DarknetError(
            f"{source}: {extra} bytes left over after the last layer's weights "
            f"(the cfg needs {needed} float32 values, the file holds {values.size})",
            hint=hint,
        )
    convs: dict[int, ConvParams] = {}
    offset = 0
    for conv, channels in _conv_inputs(cfg, shapes):
        arrays: dict[str, FloatArray] = {}
        for name, shape in conv_counts(conv, channels):
            count = int(np.prod(shape))
            arrays[name] = values[offset : offset + count].astype(np.float32).reshape(shape)
            offset += count
        where = f"{source}: layer {conv.index} [convolutional]"
        if not all(np.isfinite(a).all() for a in arrays.values()):
            raise DarknetError(f"{where}: weights contain NaN or infinity")
        if "variance" in arrays and (arrays["variance"] < 0).any():
            raise DarknetError(f"{where}: negative batch-norm variance; the weights do not match the cfg")
        convs[conv.index] = ConvParams(**arrays)
    return DarknetWeights(header, convs)


def load_weights(path: str | Path, cfg: DarknetConfig, shapes: list[Shape] | None = None) -> DarknetWeights:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DarknetError(f"cannot read weights file {path}: {exc.strerror or exc}") from exc
    return parse_weights(data, cfg, shapes, source=path.name)


def pack_weights(weights: DarknetWeights, cfg: DarknetConfig) -> bytes:
    """The bytes of a weights file (layers in cfg order; inverse of :func:`parse_weights`)."""
    parts = [weights.header.pack()]
    for layer in cfg.layers:
        if isinstance(layer, Convolutional):
            p = weights.convs[layer.index]
            arrays = (
                [p.biases, p.scales, p.mean, p.variance, p.weights] if layer.batch_normalize else [p.biases, p.weights]
            )
            parts += [np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays if a is not None]
    return b"".join(parts)


def save_weights(path: str | Path, weights: DarknetWeights, cfg: DarknetConfig) -> None:
    Path(path).write_bytes(pack_weights(weights, cfg))
