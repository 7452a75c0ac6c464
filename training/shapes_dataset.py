"""The synthetic "shapes" detection set (spec: ``docs/shapes-dataset.md``, v1).

Training and evaluation data of the bundled demo model; not runtime code, so it lives here
beside the training scripts rather than in the installed package.

Filled circles, rotated squares and rotated equilateral triangles on flat-noisy or
gradient backgrounds.  Everything is drawn with numpy from one ``numpy.random.Generator``,
so an image is a pure function of its generator's state.  Shapes are rendered with
analytic anti-aliasing (coverage from the signed distance of each pixel centre to the
shape), clipped to the shape's tight box, so no pixel outside the ground-truth box is
touched.

Coordinates are continuous pixel coordinates: pixel ``i`` spans ``[i, i + 1)``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle")
CIRCLE, SQUARE, TRIANGLE = 0, 1, 2

MIN_SIDE, MAX_SIDE = 256, 1024
MAX_OBJECTS = 6
MIN_OBJECT_PX = 16.0
MIN_OBJECT_FRAC, MAX_OBJECT_FRAC = 0.04, 0.40
MIN_COLOUR_DISTANCE = 150
MAX_IOU = 0.1
PLACEMENT_TRIES = 50
NOISE_SIGMA = 8.0
JPEG_QUALITY = (85, 95)
ROTATION_RANGE = {SQUARE: math.pi / 2, TRIANGLE: 2 * math.pi / 3}


@dataclass(frozen=True)
class Background:
    """A flat colour (``colour_b is None``) or a linear gradient from ``colour_a`` to ``colour_b``.

    The gradient runs along the unit vector ``direction``; ``offset`` and ``span`` map the
    projection ``p . direction`` of a point onto ``t = (proj - offset) / span`` in ``[0, 1]``.
    """

    colour_a: np.ndarray
    colour_b: np.ndarray | None = None
    direction: tuple[float, float] = (1.0, 0.0)
    offset: float = 0.0
    span: float = 1.0

    def colour_at(self, x: float, y: float) -> np.ndarray:
        if self.colour_b is None:
            return self.colour_a.astype(np.float64)
        t = ((x * self.direction[0] + y * self.direction[1]) - self.offset) / self.span
        t = min(max(t, 0.0), 1.0)
        return self.colour_a + t * (self.colour_b.astype(np.float64) - self.colour_a)


@dataclass(frozen=True)
class Shape:
    """One object's geometry: class, centre, bounding-box size (longer edge), rotation."""

    class_id: int
    cx: float
    cy: float
    size: float
    angle: float

    def outline(self) -> np.ndarray:
        """The polygon's vertices ``(K, 2)`` (empty for a circle), counter-clockwise in image axes."""
        if self.class_id == CIRCLE:
            return np.zeros((0, 2))
        unit = _unit_polygon(self.class_id, self.angle)
        extent = unit.max(axis=0) - unit.min(axis=0)
        scale = self.size / float(extent.max())
        centre = (unit.max(axis=0) + unit.min(axis=0)) / 2
        return (unit - centre) * scale + np.array([self.cx, self.cy])

    def box(self) -> np.ndarray:
        """The tight axis-aligned box ``[x1, y1, x2, y2]`` of the geometry."""
        if self.class_id == CIRCLE:
            r = self.size / 2
            return np.array([self.cx - r, self.cy - r, self.cx + r, self.cy + r])
        pts = self.outline()
        return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


@dataclass(frozen=True)
class ShapesSample:
    """One image and its ground truth (boxes in continuous pixel coordinates, xyxy)."""

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    colours: np.ndarray

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True)
class Layout:
    """An image's geometry before rendering: size, background, objects and their colours."""

    width: int
    height: int
    background: Background
    shapes: tuple[Shape, ...]
    colours: np.ndarray

    def boxes(self) -> np.ndarray:
        if not self.shapes:
            return np.zeros((0, 4), np.float32)
        boxes = np.stack([s.box() for s in self.shapes])
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, self.width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, self.height)
        return boxes.astype(np.float32)

    def class_ids(self) -> np.ndarray:
        return np.array([s.class_id for s in self.shapes], dtype=np.int64)


def _unit_polygon(class_id: int, angle: float) -> np.ndarray:
    corners = 4 if class_id == SQUARE else 3
    start = math.pi / 4 if class_id == SQUARE else -math.pi / 2
    theta = start + angle + 2 * math.pi * np.arange(corners) / corners
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    lt = np.maximum(box[:2], others[:, :2])
    rb = np.minimum(box[2:], others[:, 2:])
    inter = np.prod((rb - lt).clip(0), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    return np.asarray(inter / (area + areas - inter))


def _draw_background(rng: np.random.Generator, width: int, height: int) -> Background:
    colour_a = rng.integers(0, 256, 3)
    if rng.random() < 0.5:
        return Background(colour_a)
    colour_b = rng.integers(0, 256, 3)
    theta = rng.uniform(0, 2 * math.pi)
    direction = (math.cos(theta), math.sin(theta))
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=np.float64)
    proj = corners @ np.array(direction)
    return Background(colour_a, colour_b, direction, float(proj.min()), float(max(np.ptp(proj), 1e-6)))


def _draw_colour(rng: np.random.Generator, reference: np.ndarray) -> np.ndarray:
    while True:
        candidates = rng.integers(0, 256, (16, 3))
        ok = np.abs(candidates - reference).sum(axis=1) >= MIN_COLOUR_DISTANCE
        if ok.any():
            return candidates[int(np.argmax(ok))].astype(np.uint8)


def sample_layout(rng: np.random.Generator) -> Layout:
    """Draw an image's size, background and objects (no pixels yet)."""
    width = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
    height = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
    background = _draw_background(rng, width, height)
    short = min(width, height)
    lo, hi = max(MIN_OBJECT_PX, MIN_OBJECT_FRAC * short), MAX_OBJECT_FRAC * short
    shapes: list[Shape] = []
    boxes: list[np.ndarray] = []
    colours: list[np.ndarray] = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        class_id = int(rng.integers(0, len(CLASS_NAMES)))
        size = float(rng.uniform(lo, hi))
        angle = float(rng.uniform(0, ROTATION_RANGE[class_id])) if class_id in ROTATION_RANGE else 0.0
        template = Shape(class_id, 0.0, 0.0, size, angle)
        rel = template.box()
        for _ in range(PLACEMENT_TRIES):
            cx = float(rng.uniform(-rel[0], width - rel[2]))
            cy = float(rng.uniform(-rel[1], height - rel[3]))
            box = rel + np.array([cx, cy, cx, cy])
            if not boxes or _iou(box, np.stack(boxes)).max() <= MAX_IOU:
                break
        else:
            continue
        shapes.append(Shape(class_id, cx, cy, size, angle))
        boxes.append(box)
        colours.append(_draw_colour(rng, background.colour_at(cx, cy)))
    colour_array = np.stack(colours) if colours else np.zeros((0, 3), np.uint8)
    return Layout(width, height, background, tuple(shapes), colour_array)


def _render_background(rng: np.random.Generator, layout: Layout) -> np.ndarray:
    bg = layout.background
    h, w = layout.height, layout.width
    if bg.colour_b is None:
        noise = rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(NOISE_SIGMA)
        return noise + bg.colour_a.astype(np.float32)
    xs = (np.arange(w, dtype=np.float32) + 0.5) * np.float32(bg.direction[0])
    ys = (np.arange(h, dtype=np.float32) + 0.5) * np.float32(bg.direction[1])
    t = ((ys[:, None] + xs[None, :]) - np.float32(bg.offset)) / np.float32(bg.span)
    t = t.clip(0, 1)[..., None]
    a = bg.colour_a.astype(np.float32)
    b = bg.colour_b.astype(np.float32)
    return a + t * (b - a)


def _coverage(shape: Shape, box: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Fraction of each pixel in ``[y0:y1, x0:x1]`` covered by ``shape`` (signed-distance AA)."""
    px = np.arange(x0, x1, dtype=np.float32) + np.float32(0.5)
    py = (np.arange(y0, y1, dtype=np.float32) + np.float32(0.5))[:, None]
    box_sd = np.maximum(
        np.maximum(np.float32(box[0]) - px, px - np.float32(box[2])),
        np.maximum(np.float32(box[1]) - py, py - np.float32(box[3])),
    )
    if shape.class_id == CIRCLE:
        dx = px - np.float32(shape.cx)
        dy = py - np.float32(shape.cy)
        sd = np.sqrt(dx * dx + dy * dy) - np.float32(shape.size / 2)
    else:
        pts = shape.outline()
        nxt = np.roll(pts, -1, axis=0)
        edges = nxt - pts
        normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        if float(np.mean(normals @ np.array([shape.cx, shape.cy]) - (normals * pts).sum(1))) > 0:
            normals = -normals
        offsets = (normals * pts).sum(axis=1)
        sd = np.full(box_sd.shape, -np.inf, dtype=np.float32)
        for (nx, ny), c in zip(normals.astype(np.float32), offsets.astype(np.float32)):
            sd = np.maximum(sd, px * nx + py * ny - c)
    return np.asarray((np.float32(0.5) - np.maximum(sd, box_sd)).clip(0, 1))


def render(rng: np.random.Generator, layout: Layout) -> np.ndarray:
    """Draw ``layout`` into an ``HxWx3`` uint8 RGB image."""
    canvas = _render_background(rng, layout)
    np.clip(canvas, 0, 255, out=canvas)
    for shape, box, colour in zip(layout.shapes, layout.boxes(), layout.colours):
        x0, y0 = math.floor(box[0]), math.floor(box[1])
        x1, y1 = math.ceil(box[2]), math.ceil(box[3])
        cov = _coverage(shape, box, x0, y0, x1, y1)[..., None]
        region = canvas[y0:y1, x0:x1]
        region += cov * (colour.astype(np.float32) - region)
    return np.rint(canvas).astype(np.uint8)


def generate_image(rng: np.random.Generator) -> ShapesSample:
    """One image of the set with its ground truth."""
    layout = sample_layout(rng)
    image = render(rng, layout)
    return ShapesSample(image, layout.boxes(), layout.class_ids(), layout.colours)


def encode(sample: ShapesSample, rng: np.random.Generator) -> tuple[bytes, str]:
    """Encode as PNG or JPEG (quality 85..95), equal odds; returns ``(bytes, extension)``."""
    from PIL import Image

    buf = io.BytesIO()
    image = Image.fromarray(sample.image)
    if rng.random() < 0.5:
        image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), "png"
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue(), "jpg"


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image ``index`` of the set drawn with ``seed`` (independent per image)."""
    return np.random.default_rng([seed, index])


def iter_samples(seed: int, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, ShapesSample]]:
    index = start
    while stop is None or index < stop:
        yield index, generate_image(image_rng(seed, index))
        index += 1


def coco_categories() -> list[dict[str, Any]]:
    return [{"id": i, "name": name, "supercategory": "shape"} for i, name in enumerate(CLASS_NAMES)]


def _write_one(args: tuple[str, int, int]) -> dict[str, Any]:
    out_dir, seed, index = args
    rng = image_rng(seed, index)
    sample = generate_image(rng)
    data, ext = encode(sample, rng)
    name = f"{index:06d}.{ext}"
    (Path(out_dir) / name).write_bytes(data)
    return {
        "file_name": name,
        "width": sample.width,
        "height": sample.height,
        "boxes": sample.boxes.tolist(),
        "class_ids": sample.class_ids.tolist(),
    }


def to_coco(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """COCO json from records ``{file_name, width, height, boxes (xyxy), class_ids}``.

    Image and annotation ids start at 1 (pycocotools treats annotation id 0 as "no match").
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, rec in enumerate(records, start=1):
        images.append({"id": image_id, "file_name": rec["file_name"], "width": rec["width"], "height": rec["height"]})
        for (x1, y1, x2, y2), cls in zip(rec["boxes"], rec["class_ids"]):
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": coco_categories()}


def write_dataset(out_dir: str | Path, n: int, seed: int, *, workers: int | None = None) -> Path:
    """Write ``n`` encoded images and ``annotations.json`` (COCO) to ``out_dir``; return the json path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), seed, i) for i in range(n)]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 16)
    if workers > 1 and n > 8:
        with ProcessPoolExecutor(workers) as pool:
            records = list(pool.map(_write_one, jobs, chunksize=8))
    else:
        records = [_write_one(job) for job in jobs]
    path = out / "annotations.json"
    path.write_text(json.dumps(to_coco(records)))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic shapes detection set (COCO json).")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n", type=int, default=100, help="number of images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    path = write_dataset(args.out, args.n, args.seed, workers=args.workers)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
