"""Torch-free helpers shared by training and evaluation: letterbox, anchors, reference decode.

The reference decode mirrors the project's YOLOv3 postprocessing convention (see
``training/README.md``) and exists so that a model can be checked before, or
independently of, ``trt_core.Detector``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

PAD_VALUE = 128


@dataclass(frozen=True)
class Letterbox:
    """Geometry of one letterbox: ``input = original * scale + pad`` per axis."""

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        out = boxes.astype(np.float32).copy()
        out[:, 0::2] = out[:, 0::2] * self.scale_x + self.pad_x
        out[:, 1::2] = out[:, 1::2] * self.scale_y + self.pad_y
        return out

    def to_original(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        out = boxes.astype(np.float32).copy()
        out[:, 0::2] = ((out[:, 0::2] - self.pad_x) / self.scale_x).clip(0, width)
        out[:, 1::2] = ((out[:, 1::2] - self.pad_y) / self.scale_y).clip(0, height)
        return out


def letterbox_geometry(width: int, height: int, size: tuple[int, int]) -> tuple[int, int, Letterbox]:
    in_h, in_w = size
    scale = min(in_w / width, in_h / height)
    new_w = max(1, min(in_w, round(width * scale)))
    new_h = max(1, min(in_h, round(height * scale)))
    geo = Letterbox(new_w / width, new_h / height, (in_w - new_w) // 2, (in_h - new_h) // 2)
    return new_w, new_h, geo


def letterbox(
    image: np.ndarray, size: tuple[int, int], *, antialias: bool = True, pad_value: int = PAD_VALUE
) -> tuple[np.ndarray, Letterbox]:
    """Aspect-preserving bilinear resize into an ``size=(H, W)`` canvas, centred, padded grey.

    ``antialias=False`` samples bilinearly without an area filter (how cv2 / GPU resizers
    downscale); training mixes both so that the model is indifferent to the resizer.
    """
    height, width = image.shape[:2]
    new_w, new_h, geo = letterbox_geometry(width, height, size)
    pil = Image.fromarray(image)
    if antialias:
        resized = pil.resize((new_w, new_h), Image.Resampling.BILINEAR)
    else:
        coeffs = (width / new_w, 0.0, 0.0, 0.0, height / new_h, 0.0)
        resized = pil.transform((new_w, new_h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    canvas = np.full((size[0], size[1], 3), pad_value, dtype=np.uint8)
    canvas[geo.pad_y : geo.pad_y + new_h, geo.pad_x : geo.pad_x + new_w] = np.asarray(resized)
    return canvas, geo


def wh_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    inter = np.minimum(wh[:, None, 0], anchors[None, :, 0]) * np.minimum(wh[:, None, 1], anchors[None, :, 1])
    union = (wh[:, 0] * wh[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter
    return np.asarray(inter / union)


def kmeans_anchors(wh: np.ndarray, k: int, *, iters: int = 200, seed: int = 0) -> np.ndarray:
    """``k`` anchors ``(w, h)`` by k-means with ``1 - IoU`` distance, sorted by area."""
    rng = np.random.default_rng(seed)
    order = np.argsort(wh.prod(axis=1))
    centres = wh[order[np.linspace(0, len(wh) - 1, k).astype(int)]].astype(np.float64)
    for _ in range(iters):
        assign = wh_iou(wh, centres).argmax(axis=1)
        new = np.stack(
            [np.median(wh[assign == j], axis=0) if np.any(assign == j) else wh[rng.integers(len(wh))] for j in range(k)]
        )
        if np.allclose(new, centres):
            break
        centres = new
    return centres[np.argsort(centres.prod(axis=1))]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def decode_yolov3(
    outputs: list[np.ndarray],
    anchors: np.ndarray,
    masks: list[list[int]],
    input_size: tuple[int, int],
    conf: float,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: boxes xyxy (input pixels), scores, class ids -- one entry per (box, class) above ``conf``."""
    in_h, in_w = input_size
    per_image: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(outputs[0].shape[0])]
    for out, mask in zip(outputs, masks):
        n, _, gh, gw = out.shape
        na = len(mask)
        p = out.reshape(n, na, -1, gh, gw).transpose(0, 1, 3, 4, 2).astype(np.float32)
        gy, gx = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        anc = anchors[mask].reshape(1, na, 1, 1, 2)
        cx = (_sigmoid(p[..., 0]) + gx) * (in_w / gw)
        cy = (_sigmoid(p[..., 1]) + gy) * (in_h / gh)
        w = np.exp(p[..., 2]) * anc[..., 0]
        h = np.exp(p[..., 3]) * anc[..., 1]
        scores = _sigmoid(p[..., 4:5]) * _sigmoid(p[..., 5:])
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
        for i in range(n):
            idx, cls = np.nonzero(scores[i].reshape(-1, scores.shape[-1]) > conf)
            flat_boxes = boxes[i].reshape(-1, 4)
            flat_scores = scores[i].reshape(-1, scores.shape[-1])
            per_image[i].append((flat_boxes[idx], flat_scores[idx, cls], cls))
    return [tuple(np.concatenate(parts) for parts in zip(*chunks)) for chunks in per_image]  # type: ignore[misc]


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Class-aware greedy NMS; returns kept indices, best first."""
    offset = class_ids.astype(np.float32)[:, None] * (boxes.max() + 1.0) if len(boxes) else 0.0
    shifted = boxes + offset
    order = np.argsort(-scores)
    areas = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(shifted[i, :2], shifted[rest, :2])
        rb = np.minimum(shifted[i, 2:], shifted[rest, 2:])
        inter = np.prod((rb - lt).clip(0), axis=1)
        ious = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[ious <= iou]
    return np.array(keep, dtype=np.int64)
