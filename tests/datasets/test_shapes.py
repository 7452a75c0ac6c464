"""The shapes generator (training/shapes_dataset.py) against its spec (docs/shapes-dataset.md)."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "training"))
import shapes_dataset as shapes
from shapes_dataset import CLASS_NAMES, encode, generate_image, write_dataset

N_SAMPLES = 120


@pytest.fixture(scope="module")
def samples() -> list[shapes.ShapesSample]:
    return [generate_image(shapes.image_rng(7, i)) for i in range(N_SAMPLES)]


@pytest.fixture(scope="module")
def layouts() -> list[shapes.Layout]:
    rng = np.random.default_rng(11)
    return [shapes.sample_layout(rng) for _ in range(2000)]


def pairwise_iou(boxes: np.ndarray) -> np.ndarray:
    lt = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return np.asarray(inter / (area[:, None] + area[None, :] - inter))


def test_class_names() -> None:
    assert CLASS_NAMES == ("circle", "square", "triangle")


def test_image_sizes_and_dtype(samples: list[shapes.ShapesSample]) -> None:
    for s in samples:
        h, w, c = s.image.shape
        assert c == 3 and s.image.dtype == np.uint8
        assert 256 <= w <= 1024 and 256 <= h <= 1024
    widths = {s.width for s in samples}
    assert len(widths) > N_SAMPLES // 2


def test_ground_truth_arrays(samples: list[shapes.ShapesSample]) -> None:
    for s in samples:
        assert s.boxes.dtype == np.float32 and s.boxes.shape == (len(s.class_ids), 4)
        assert s.class_ids.dtype == np.int64
        assert set(s.class_ids.tolist()) <= {0, 1, 2}


def test_object_counts(layouts: list[shapes.Layout]) -> None:
    counts = np.array([len(lay.shapes) for lay in layouts])
    assert counts.min() >= 1 and counts.max() <= 6
    assert set(counts.tolist()) == {1, 2, 3, 4, 5, 6}
    classes = np.concatenate([lay.class_ids() for lay in layouts])
    freq = np.bincount(classes, minlength=3) / len(classes)
    assert np.all(np.abs(freq - 1 / 3) < 0.03)


def test_boxes_inside_and_sized(layouts: list[shapes.Layout]) -> None:
    for lay in layouts:
        boxes = lay.boxes().astype(np.float64)
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= lay.width) and np.all(boxes[:, 3] <= lay.height)
        short = min(lay.width, lay.height)
        longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        assert np.all(longer >= max(16.0, 0.04 * short) - 1e-3)
        assert np.all(longer <= 0.4 * short + 1e-3)


def test_iou_at_most_0_1(layouts: list[shapes.Layout]) -> None:
    for lay in layouts:
        ious = pairwise_iou(lay.boxes().astype(np.float64))
        np.fill_diagonal(ious, 0)
        assert ious.max(initial=0) <= 0.1 + 1e-6


def test_shape_geometry(layouts: list[shapes.Layout]) -> None:
    for lay in layouts[:300]:
        for shape, box in zip(lay.shapes, lay.boxes()):
            w, h = box[2] - box[0], box[3] - box[1]
            assert max(w, h) == pytest.approx(shape.size, rel=1e-4)
            if shape.class_id == shapes.CIRCLE:
                assert w == pytest.approx(h, rel=1e-4)
            elif shape.class_id == shapes.SQUARE:
                assert 0 <= shape.angle < math.pi / 2
                pts = shape.outline()
                sides = np.linalg.norm(pts - np.roll(pts, 1, axis=0), axis=1)
                assert np.allclose(sides, sides[0])
                assert np.allclose(np.linalg.norm(pts - pts.mean(0), axis=1) * math.sqrt(2), sides[0])
            else:
                assert 0 <= shape.angle < 2 * math.pi / 3
                pts = shape.outline()
                sides = np.linalg.norm(pts - np.roll(pts, 1, axis=0), axis=1)
                assert np.allclose(sides, sides[0])


def test_colour_distance_to_background(layouts: list[shapes.Layout]) -> None:
    for lay in layouts:
        for shape, colour in zip(lay.shapes, lay.colours):
            reference = lay.background.colour_at(shape.cx, shape.cy)
            assert np.abs(colour.astype(np.float64) - reference).sum() >= 150 - 1e-6


def test_backgrounds_both_kinds(layouts: list[shapes.Layout]) -> None:
    gradients = sum(lay.background.colour_b is not None for lay in layouts)
    assert 0.4 < gradients / len(layouts) < 0.6


def test_determinism_per_seed() -> None:
    a = generate_image(shapes.image_rng(3, 5))
    b = generate_image(shapes.image_rng(3, 5))
    c = generate_image(shapes.image_rng(4, 5))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert np.array_equal(a.class_ids, b.class_ids)
    assert not (a.image.shape == c.image.shape and np.array_equal(a.image, c.image))
    rng1, rng2 = np.random.default_rng(9), np.random.default_rng(9)
    assert encode(generate_image(rng1), rng1) == encode(generate_image(rng2), rng2)


def test_pixels_match_boxes(samples: list[shapes.ShapesSample]) -> None:
    """Each isolated shape's colour fills its box: tight to one pixel, nothing outside."""
    checked = 0
    for s in samples:
        boxes = s.boxes.astype(np.float64)
        for i, (box, colour) in enumerate(zip(boxes, s.colours)):
            others = np.delete(boxes, i, axis=0)
            margin = 4
            grown = box + np.array([-margin, -margin, margin, margin])
            if len(others) and np.any(
                (others[:, 0] < grown[2])
                & (others[:, 2] > grown[0])
                & (others[:, 1] < grown[3])
                & (others[:, 3] > grown[1])
            ):
                continue
            x0, y0 = max(0, int(grown[0])), max(0, int(grown[1]))
            x1, y1 = min(s.width, math.ceil(grown[2])), min(s.height, math.ceil(grown[3]))
            window = s.image[y0:y1, x0:x1].astype(np.int32)
            exact = np.all(window == colour.astype(np.int32), axis=2)
            ys, xs = np.nonzero(exact)
            assert len(xs), "shape colour not found"
            found = np.array([xs.min() + x0, ys.min() + y0, xs.max() + x0 + 1, ys.max() + y0 + 1], np.float64)
            assert found[0] >= math.floor(box[0]) and found[1] >= math.floor(box[1])
            assert found[2] <= math.ceil(box[2]) and found[3] <= math.ceil(box[3])
            tolerance = 3.0
            assert np.all(np.abs(found - box) <= tolerance), (found, box)
            checked += 1
    assert checked > N_SAMPLES


def test_no_pixel_changed_outside_boxes() -> None:
    """On a flat background without noise, only pixels intersecting a ground-truth box change."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        lay = shapes.sample_layout(rng)
        flat = shapes.Layout(
            lay.width, lay.height, shapes.Background(np.array([0, 0, 0]), np.array([0, 0, 0])), lay.shapes, lay.colours
        )
        image = shapes.render(rng, flat)
        inside = np.zeros(image.shape[:2], bool)
        for x1, y1, x2, y2 in flat.boxes():
            inside[math.floor(y1) : math.ceil(y2), math.floor(x1) : math.ceil(x2)] = True
        assert not image[~inside].any()


def test_encode_formats() -> None:
    rng = np.random.default_rng(1)
    sample = generate_image(rng)
    exts = set()
    for _ in range(20):
        data, ext = encode(sample, rng)
        exts.add(ext)
        decoded = Image.open(io.BytesIO(data))
        assert decoded.format == {"png": "PNG", "jpg": "JPEG"}[ext]
        assert decoded.size == (sample.width, sample.height)
        if ext == "png":
            assert np.array_equal(np.asarray(decoded.convert("RGB")), sample.image)
    assert exts == {"png", "jpg"}


def test_write_dataset_coco(tmp_path: Path) -> None:
    path = write_dataset(tmp_path, 12, seed=123, workers=1)
    coco = json.loads(path.read_text())
    assert [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])] == list(CLASS_NAMES)
    assert len(coco["images"]) == 12
    image_ids = {im["id"] for im in coco["images"]}
    assert len(image_ids) == 12 and 0 not in image_ids
    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) >= 1
    for im in coco["images"]:
        with Image.open(tmp_path / im["file_name"]) as decoded:
            assert decoded.size == (im["width"], im["height"])
    for a in coco["annotations"]:
        assert a["image_id"] in image_ids and a["category_id"] in (0, 1, 2)
        _x, _y, w, h = a["bbox"]
        assert w > 0 and h > 0 and a["area"] == pytest.approx(w * h) and a["iscrowd"] == 0
    again = write_dataset(tmp_path / "again", 12, seed=123, workers=1)
    assert json.loads(again.read_text()) == coco
    first = sorted(coco["images"], key=lambda im: im["id"])[0]["file_name"]
    assert (tmp_path / first).read_bytes() == (tmp_path / "again" / first).read_bytes()


def test_write_dataset_matches_generator(tmp_path: Path) -> None:
    path = write_dataset(tmp_path, 3, seed=8, workers=1)
    coco = json.loads(path.read_text())
    sample = generate_image(shapes.image_rng(8, 1))
    anns = [a for a in coco["annotations"] if a["image_id"] == 2]
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
    assert np.allclose(xyxy, sample.boxes, atol=1e-3)


def test_pycocotools_reads_it(tmp_path: Path) -> None:
    coco_mod = pytest.importorskip("pycocotools.coco")
    path = write_dataset(tmp_path, 5, seed=2, workers=1)
    coco = coco_mod.COCO(str(path))
    assert sorted(coco.getCatIds()) == [0, 1, 2]
    assert len(coco.getImgIds()) == 5


def test_cli(tmp_path: Path) -> None:
    assert shapes.main(["--out", str(tmp_path), "--n", "2", "--seed", "4", "--workers", "1"]) == 0
    assert (tmp_path / "annotations.json").exists()
