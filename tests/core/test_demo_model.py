"""The bundled demo model finds the shapes in the bundled samples (real model, real images)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import SAMPLES
from trt_core import Detector
from trt_core.boxes import box_iou

GROUND_TRUTH = SAMPLES.parent / "samples_ground_truth.json"


def ground_truth() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    coco = json.loads(GROUND_TRUTH.read_text())
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for image in coco["images"]:
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float32)
        out[image["file_name"]] = (boxes, np.array([a["category_id"] for a in anns]))
    return out


def test_every_true_shape_is_found_with_its_class(demo_model: Path, sample_images: list[Path]) -> None:
    detector = Detector.from_onnx(demo_model, backend="onnxruntime", device="cpu")  # default conf 0.25
    truth = ground_truth()
    assert {p.name for p in sample_images} == set(truth)
    for path, found in zip(sample_images, detector.detect_batch(sample_images)):
        boxes, classes = truth[path.name]
        iou = box_iou(boxes, found.xyxy)
        for i, cls in enumerate(classes):
            same_class = found.class_ids == cls
            assert same_class.any() and iou[i][same_class].max() >= 0.75, (path.name, i, found.to_list())


def test_cli_json_lines_on_the_samples(sample_images: list[Path]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "trt_core.cli.main", "detect", "--json", *map(str, sample_images)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    truth = ground_truth()
    for line in lines:
        _, classes = truth[Path(line["path"]).name]
        confident = [d for d in line["detections"] if d["score"] >= 0.25]
        assert len(confident) >= len(classes)
        assert {d["label"] for d in confident} <= {"circle", "square", "triangle"}


def test_confident_detections_are_real_shapes(demo_model: Path, sample_images: list[Path]) -> None:
    """Detections scoring >= 0.5 overlap a true shape; the samples hold one known exception
    (a 0.51 triangle where a circle touches a triangle in shapes_4.jpg)."""
    detector = Detector.from_onnx(demo_model, backend="onnxruntime", device="cpu", conf=0.5)
    truth = ground_truth()
    false_positives = []
    for path, found in zip(sample_images, detector.detect_batch(sample_images)):
        boxes, _ = truth[path.name]
        if len(found):
            stray = box_iou(found.xyxy, boxes).max(axis=1) < 0.5
            false_positives += [(path.name, d) for d in found[stray].to_list()]
    assert len(false_positives) <= 1, false_positives
    assert all(d["score"] < 0.55 for _, d in false_positives), false_positives
