"""Shared helpers for the Darknet tests: cfg sources, conversion and comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .reference import Reference

# Every supported layer type and option in one small network (input 64x64, 2 classes).
FEATURES_CFG = """
[net]
batch=64
width=64
height=64
channels=3

# 0: bn + leaky
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

# 1: 64 -> 32
[maxpool]
size=2
stride=2

# 2: bn + mish, stride 2 -> 16
[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=mish

# 3: grouped 1x1, swish
[conv]
batch_normalize=1
filters=16
size=1
stride=1
groups=4
activation=swish

# 4
[shortcut]
from=-2
activation=leaky

# 5: second half of the channels (yolov4-tiny's CSP split)
[route]
layers=-1
groups=2
group_id=1

# 6: no batch norm, logistic
[convolutional]
filters=8
size=3
stride=1
pad=1
activation=logistic

# 7
[route]
layers = -1, -2

# 8: yolov3-tiny's size-2 stride-1 maxpool (asymmetric padding)
[maxpool]
size=2
stride=1

# 9: SPP-style maxpool
[maxpool]
size=5
stride=1

# 10
[dropout]
probability=.1

# 11: relu, 16 -> 8
[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=relu

# 12: head
[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

# 13
[yolo]
mask = 3,4,5
anchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319
classes=2
num=6
scale_x_y = 1.1
jitter=.3

# 14 -> layer 10
[route]
layers = -4

# 15
[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
activation=tanh

# 16: 16 -> 32
[upsample]
stride=2

# 17: absolute index
[route]
layers = -1, 1

# 18: head
[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

# 19
[yolo]
mask = 0,1,2
anchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319
classes=2
num=6
scale_x_y = 1.1
"""

# Odd spatial sizes: Darknet's maxpool arithmetic (13 -> 7 for size 2 stride 2), explicit
# ``padding=``, a valid (unpadded) convolution and a scaled upsample; one head, 1 class.
ODD_CFG = """
[net]
width=54
height=54
channels=3

# 54 -> 26 (no padding)
[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
padding=0
activation=leaky

# 26 -> 13, explicit padding: 0 before, 1 after
[maxpool]
size=3
stride=2
padding=1

# 13 -> 7: the last window reaches into the end padding
[maxpool]
size=2
stride=2

[maxpool]
size=2
stride=1

[upsample]
stride=2
scale=0.5

[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
pad=1
activation=leaky

[convolutional]
size=1
stride=1
filters=12
activation=linear

[yolo]
mask=0,1
anchors=4,5, 9,11
classes=1
num=2
"""


def write(tmp_path: Path, text: str, ref: Reference, stem: str = "model", **header: int) -> tuple[Path, Path]:
    cfg, weights = tmp_path / f"{stem}.cfg", tmp_path / f"{stem}.weights"
    cfg.write_text(text)
    weights.write_bytes(ref.weights_bytes(**header))
    return cfg, weights


def run_onnx(path: Path, x: np.ndarray) -> tuple[list[str], list[Any]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return names, session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})


def assert_heads_match(got: list[Any], want: list[np.ndarray], rel: float = 1e-4) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        scale = max(1.0, float(np.abs(w).max()))
        diff = float(np.abs(g.astype(np.float64) - w).max())
        assert diff <= rel * scale, f"max abs diff {diff:.3g} > {rel} x output scale {scale:.3g}"
