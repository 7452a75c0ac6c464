"""Drawing detections onto an image (``POST /annotate``, ``trt-detect detect --out``)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from trt_core.detections import Detections

_PALETTE = (
    (255, 56, 56),
    (72, 249, 10),
    (0, 194, 255),
    (255, 157, 151),
    (255, 178, 29),
    (207, 210, 49),
    (146, 204, 23),
    (61, 219, 134),
    (26, 147, 52),
    (0, 212, 187),
    (44, 153, 168),
    (52, 69, 147),
)


def color(class_id: int) -> tuple[int, int, int]:
    return _PALETTE[class_id % len(_PALETTE)]


def draw(rgb: np.ndarray, detections: Detections) -> Image.Image:
    """A new image with each detection's box and ``label score`` drawn on it."""
    image = Image.fromarray(rgb).copy()
    canvas = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    width = max(1, round(max(image.size) / 400))
    for (x1, y1, x2, y2), score, class_id, label in zip(
        detections.xyxy.tolist(), detections.scores.tolist(), detections.class_ids.tolist(), detections.labels
    ):
        rgb_color = color(class_id)
        canvas.rectangle((x1, y1, x2, y2), outline=rgb_color, width=width)
        text = f"{label} {score:.2f}"
        left, top, right, bottom = canvas.textbbox((x1, y1), text, font=font)
        text_y = y1 - (bottom - top) - 2 if y1 - (bottom - top) - 2 >= 0 else y1
        canvas.rectangle((x1, text_y, x1 + (right - left) + 4, text_y + (bottom - top) + 2), fill=rgb_color)
        canvas.text((x1 + 2, text_y), text, fill=(0, 0, 0), font=font)
    return image


def encode(image: Image.Image, fmt: str = "jpeg", quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
