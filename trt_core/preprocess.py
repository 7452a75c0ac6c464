"""Resizing an RGB image to the model's input: letterbox (aspect-preserving) or stretch.

The result is a compact uint8 ``(3, H, W)`` tensor plus the :class:`Geometry` that maps
boxes in input pixels back to the original image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from trt_core.image import DEFAULT_MAX_PIXELS, load_rgb
from trt_core.spec import ModelSpec

_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


@dataclass(frozen=True)
class Geometry:
    """``input = original * scale + pad`` per axis; the original image is ``width x height``."""

    width: int
    height: int
    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    def to_original(self, xyxy: np.ndarray) -> np.ndarray:
        """Map ``(N, 4)`` boxes from model-input pixels to original pixels, clipped (new array)."""
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, 0::2] = (xyxy[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (xyxy[:, 1::2] - self.pad_y) / self.scale_y
        np.clip(out[:, 0::2], 0, self.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.height, out=out[:, 1::2])
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, 0::2] = xyxy[:, 0::2] * self.scale_x + self.pad_x
        out[:, 1::2] = xyxy[:, 1::2] * self.scale_y + self.pad_y
        return out


@dataclass(frozen=True)
class Preprocessed:
    """One image ready for the backend: ``tensor`` is uint8 ``(3, H, W)``."""

    tensor: np.ndarray
    geometry: Geometry


def letterbox(
    rgb: np.ndarray, size_hw: tuple[int, int], *, pad_value: int = 114, resample: str = "bilinear"
) -> Preprocessed:
    """Resize keeping the aspect ratio, centre, and pad to ``size_hw``."""
    height, width = rgb.shape[:2]
    in_h, in_w = size_hw
    ratio = min(in_w / width, in_h / height)
    new_w = max(1, min(in_w, round(width * ratio)))
    new_h = max(1, min(in_h, round(height * ratio)))
    resized = _resize(rgb, new_w, new_h, resample)
    pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    canvas = np.full((3, in_h, in_w), pad_value, dtype=np.uint8)
    canvas[:, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.transpose(2, 0, 1)
    geometry = Geometry(width, height, new_w / width, new_h / height, float(pad_x), float(pad_y))
    return Preprocessed(canvas, geometry)


def stretch(rgb: np.ndarray, size_hw: tuple[int, int], *, resample: str = "bicubic") -> Preprocessed:
    """Plain resize to ``size_hw`` (the original NVIDIA recipe), aspect ratio not kept."""
    height, width = rgb.shape[:2]
    in_h, in_w = size_hw
    resized = _resize(rgb, in_w, in_h, resample)
    tensor = np.ascontiguousarray(resized.transpose(2, 0, 1))
    return Preprocessed(tensor, Geometry(width, height, in_w / width, in_h / height, 0.0, 0.0))


def preprocess(image: Any, spec: ModelSpec, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Preprocessed:
    """Decode ``image`` (bytes, path, PIL, ndarray) and fit it to ``spec``'s input."""
    rgb = load_rgb(image, max_pixels=max_pixels)
    if spec.letterbox:
        return letterbox(rgb, spec.input_hw, pad_value=spec.pad_value, resample=spec.resize)
    return stretch(rgb, spec.input_hw, resample=spec.resize)


def _resize(rgb: np.ndarray, width: int, height: int, resample: str) -> np.ndarray:
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    image = Image.fromarray(rgb).resize((width, height), _RESAMPLE[resample])
    return np.asarray(image, dtype=np.uint8)
