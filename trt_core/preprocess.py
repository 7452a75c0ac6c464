"""Fitting an image to the model's input: letterbox (aspect kept, padded) or stretch.

The result is a C-contiguous uint8 ``(3, H, W)`` tensor plus the :class:`Geometry` that
maps boxes in input pixels back to the original image (as displayed, whatever size it was
decoded at).  The resized pixels are written straight into the tensor's planes.

``ModelSpec.resize`` picks the resampling, each on the library whose convention it is:

- ``"bilinear"`` (the default): when the image is 2x the target or more, it is first
  reduced by integer factors while it stays at least the target size (the antialiasing):
  for JPEG in the DCT domain while decoding (see :mod:`trt_core.image`), then with a box
  filter; then OpenCV's bilinear (``INTER_LINEAR``) shrinks it by less than 2x, after a
  3-tap blur: OpenCV's fixed-point ``[1, 2, 1] / 4`` for shrinks of 1.2x to 1.5x (half the
  float kernel's cost; the demo model's mAP within 0.001), otherwise the variance of
  Pillow's antialiasing filter at that scale, so the cost stays near the decode's whatever
  the image's size.  JPEGs are decoded with
  libjpeg-turbo's fast IDCT and chroma upsampling here (the blur follows anyway; the demo
  model's mAP is unchanged).  (Pillow's antialiased bilinear cost 3.3x a 640x480 JPEG's
  decode for that last step; plain ``INTER_LINEAR`` without the blur turned a bundled
  sample's 15-pixel circle into a square.)
- ``"bicubic"``: Pillow's bicubic filter on the full decode: NVIDIA's ``yolov3_onnx``
  sample, bit for bit.
- ``"linear"``: Ultralytics' ``LetterBox``: full decode (libjpeg-turbo's exact one for JPEG,
  OpenCV's pixels), then ``cv2.resize(INTER_LINEAR)`` (no antialiasing), bit for bit.

Letterbox rounding is Ultralytics': ``new = round(side * r)``, ``pad = (input - new) // 2``
(the same as their ``round(d - 0.1)`` for both whole and half paddings).

With ``ModelSpec.rect`` (Ultralytics exports whose input H/W are dynamic), each image gets
its own tensor shape, as ``yolo predict`` letterboxes them (``auto=True``): the same scale,
but each side padded only up to ``new + (input - new) % stride`` (:func:`rect_side`), so a
640x480 image goes in as 480x640 and a 1920x1080 one as 384x640 at ``imgsz`` 640.  Boxes
map back with one gain computed from that tensor's shape (Ultralytics' ``scale_boxes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from trt_core.image import DEFAULT_MAX_PIXELS, OpenedImage, open_image
from trt_core.spec import ModelSpec

Resize = Literal["bilinear", "bicubic", "linear"]
#: shrinks within this range (on every shrunk axis) are blurred by OpenCV's fixed-point
#: [1, 2, 1] / 4 instead of the float 3-tap kernel of Pillow's variance: half its cost (the
#: blur was a third of a 640x480 image's preprocessing, benchmarks/README.md); its variance,
#: 0.5, is Pillow's at 1.73x and at most twice Pillow's (0.24-0.375) within the range
FIXED_BLUR_RANGE = (1.2, 1.5)


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


@dataclass(frozen=True)
class Preprocessed:
    """One image ready for the backend: ``tensor`` is uint8 ``(3, H, W)``."""

    tensor: np.ndarray
    geometry: Geometry


def preprocess(image: Any, spec: ModelSpec, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Preprocessed:
    """Decode ``image`` (bytes, path, PIL, ndarray) and fit it to ``spec``'s input."""
    return fit(
        image,
        spec.input_hw,
        letterbox=spec.letterbox,
        pad_value=spec.pad_value,
        resize=spec.resize,
        max_pixels=max_pixels,
        stride=spec.stride if spec.rect else None,
    )


def rect_side(new: int, size: int, stride: int) -> int:
    """A side of ``new`` pixels padded as Ultralytics' rect letterbox pads it in an input
    of ``size``: by ``(size - new) % stride`` (a multiple of ``stride`` when ``size`` is one)."""
    return new + (size - new) % stride


def rect_min_hw(size_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """The smallest height and width a rect letterbox into ``size_hw`` can give (the low end
    of a TensorRT optimisation profile): ``stride`` when the size is a multiple of it."""
    return (
        min(rect_side(n, size_hw[0], stride) for n in range(1, size_hw[0] + 1)),
        min(rect_side(n, size_hw[1], stride) for n in range(1, size_hw[1] + 1)),
    )


def fit(
    image: Any,
    size_hw: tuple[int, int],
    *,
    letterbox: bool = True,
    pad_value: int = 114,
    resize: Resize = "bilinear",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stride: int | None = None,
) -> Preprocessed:
    """Fit ``image`` (anything :func:`~trt_core.image.open_image` takes) into ``size_hw``;
    with ``stride`` (and ``letterbox``), into the rect shape Ultralytics gives it instead."""
    import cv2

    opened = open_image(image, max_pixels=max_pixels)
    width, height = opened.width, opened.height
    in_h, in_w = size_hw
    if letterbox:
        ratio = min(in_w / width, in_h / height)
        new_w, new_h = max(1, min(in_w, round(width * ratio))), max(1, min(in_h, round(height * ratio)))
    else:
        new_w, new_h = in_w, in_h
    if letterbox and stride is not None:
        in_h, in_w = rect_side(new_h, in_h, stride), rect_side(new_w, in_w, stride)
    resized = _resized(opened, new_w, new_h, resize)
    pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    tensor = np.empty((3, in_h, in_w), np.uint8)
    # the padding only (the image's pixels are written next): bands above and below, then beside
    tensor[:, :pad_y] = tensor[:, pad_y + new_h :] = pad_value
    inside = tensor[:, pad_y : pad_y + new_h]
    inside[:, :, :pad_x] = inside[:, :, pad_x + new_w :] = pad_value
    # HWC -> the tensor's three planes in one pass, no intermediate (split writes into the views)
    cv2.split(resized, [inside[c, :, pad_x : pad_x + new_w] for c in range(3)])
    if letterbox and resize == "linear":  # Ultralytics' scale_boxes: one gain, from the tensor's shape
        gain = min(in_w / width, in_h / height)
        geometry = Geometry(
            width,
            height,
            gain,
            gain,
            float(round((in_w - width * gain) / 2 - 0.1)),
            float(round((in_h - height * gain) / 2 - 0.1)),
        )
    else:
        geometry = Geometry(width, height, new_w / width, new_h / height, float(pad_x), float(pad_y))
    return Preprocessed(tensor, geometry)


def _resized(opened: OpenedImage, width: int, height: int, resize: Resize) -> np.ndarray:
    """``opened`` as ``(height, width, 3)`` RGB."""
    if resize == "bicubic":  # NVIDIA's recipe: Pillow's filter on the full decode
        image = opened.pil_rgb()[0]
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BICUBIC)
        return np.asarray(image)
    if resize == "bilinear" and (opened.width >= 2 * width or opened.height >= 2 * height):
        reduced, (factor_x, factor_y) = opened.reduced_rgb(at_least=(width, height), fast=True)
        # the region of the reduced pixels the original covers: exact even where their size
        # was rounded up (then the extra column or row is left out)
        region = (opened.width / factor_x, opened.height / factor_y)
        return _linear(reduced, width, height, region, antialias=True, scratch=not opened.borrowed)
    rgb = opened.rgb(fast=resize == "bilinear")
    return _linear(rgb, width, height, None, antialias=resize == "bilinear", scratch=not opened.borrowed)


def _linear(
    rgb: np.ndarray,
    width: int,
    height: int,
    region: tuple[float, float] | None,
    *,
    antialias: bool,
    scratch: bool = False,
) -> np.ndarray:
    """OpenCV's bilinear (``INTER_LINEAR``) of ``rgb``'s top-left ``region`` (all of it when
    ``None``) to ``width x height``: ``cv2.resize``, or the same sampling through
    ``warpAffine`` when the region is not the whole array.  With ``antialias``, an axis
    shrunk by ``s`` is first blurred by a 3-tap kernel: ``[1, 2, 1] / 4`` where every shrunk
    axis is within :data:`FIXED_BLUR_RANGE`, else one of Pillow's bilinear filter's variance
    there (:func:`_antialias_kernel`); in place when ``scratch`` says ``rgb`` is
    ours to overwrite and it is writeable (the same pixels: the blur's rows are buffered
    before they are written back; it saves a cold ~1 MB output at 640x480)."""
    import cv2

    stored_hw = rgb.shape[:2]
    full = region is None or region == (stored_hw[1], stored_hw[0])
    span_w, span_h = (stored_hw[1], stored_hw[0]) if region is None else region
    scale_x, scale_y = span_w / width, span_h / height
    if full and stored_hw == (height, width):
        return rgb
    if antialias and max(scale_x, scale_y) > 1:
        into = rgb if scratch and rgb.flags.writeable else None
        if all(FIXED_BLUR_RANGE[0] <= s <= FIXED_BLUR_RANGE[1] for s in (scale_x, scale_y) if s > 1):
            rgb = cv2.GaussianBlur(rgb, (3 if scale_x > 1 else 1, 3 if scale_y > 1 else 1), 0, dst=into)
        else:
            rgb = cv2.sepFilter2D(rgb, -1, _antialias_kernel(scale_x), _antialias_kernel(scale_y), dst=into)
    if full:
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    to_source = np.array([[scale_x, 0, scale_x / 2 - 0.5], [0, scale_y, scale_y / 2 - 0.5]])
    return cv2.warpAffine(
        rgb, to_source, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def _antialias_kernel(scale: float) -> np.ndarray:
    """The blur before shrinking an axis by ``scale`` (below 2: the callers reduce by integer
    factors first): ``[a, 1 - 2a, a]`` with the variance ``2a`` of Pillow's bilinear filter
    there (a triangle of half-width ``scale``: ``scale**2 / 6``); ``[0, 1, 0]`` for an axis
    not shrunk."""
    a = min(scale, 2.0) ** 2 / 12 if scale > 1 else 0.0
    return np.array([a, 1 - 2 * a, a], np.float32)
