"""Reproduce the model card's figures: COCO mAP of the shapes model on 500 unseen images.

Draws ``--n`` images from the shapes generator with ``--seed`` (never used in training),
encodes each (PNG or JPEG q85..95, as the set's spec says) and runs the encoded file
through ``trt_core.Detector.from_onnx(MODEL).detect(...)``: the project's own decode,
preprocessing, inference (ONNX Runtime on CPU) and postprocessing, as a served request
goes.  Prints mAP@.5, mAP@[.5:.95] (pycocotools) and the mean CPU time per image, end to
end and model only.

    .venv/bin/python training/evaluate.py                  # the model card's command
    .venv/bin/python training/evaluate.py --reference      # training/common.py's decode instead of Detector
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

import shapes_dataset as shapes  # noqa: E402
from common import decode_yolov3, letterbox, nms  # noqa: E402

EVAL_SEED = 20_251_125
DEFAULT_MODEL = ROOT / "trt_core" / "data" / "shapes-yolov3-tiny.onnx"


def _make(index: int, seed: int) -> tuple[bytes, dict[str, Any]]:
    rng = shapes.image_rng(seed, index)
    sample = shapes.generate_image(rng)
    data, ext = shapes.encode(sample, rng)
    record = {
        "file_name": f"{index:06d}.{ext}",
        "width": sample.width,
        "height": sample.height,
        "boxes": sample.boxes.tolist(),
        "class_ids": sample.class_ids.tolist(),
    }
    return data, record


def make_set(n: int, seed: int, workers: int) -> tuple[list[bytes], list[dict[str, Any]]]:
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_make, range(n), [seed] * n, chunksize=8))
    return [r[0] for r in results], [r[1] for r in results]


class ReferenceDetector:
    """ONNX Runtime + ``training/common.py``'s letterbox, decode and NMS (no trt_core.Detector)."""

    def __init__(self, path: str, threads: int | None) -> None:
        import onnxruntime as ort

        from trt_core.spec import ModelSpec

        self.spec = ModelSpec.from_onnx(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.model_s = 0.0

    def detect(self, image: np.ndarray, conf: float, iou: float, max_det: int) -> tuple[np.ndarray, ...]:
        size = self.spec.input_hw
        canvas, geo = letterbox(image, size, pad_value=self.spec.pad_value)
        x = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255
        t0 = time.perf_counter()
        outputs = self.session.run(None, {self.spec.input.name: x})
        self.model_s += time.perf_counter() - t0
        anchors = np.array(self.spec.anchors, dtype=np.float32)
        masks = [list(m) for m in self.spec.masks]
        boxes, scores, cls = decode_yolov3(outputs, anchors, masks, size, conf)[0]
        keep = nms(boxes, scores, cls, iou, max_det)
        h, w = image.shape[:2]
        return geo.to_original(boxes[keep], w, h), scores[keep], cls[keep]


class ProjectDetector:
    """``trt_core.Detector`` on ONNX Runtime (CPU)."""

    def __init__(self, path: str) -> None:
        from trt_core import Detector

        self.detector = Detector.from_onnx(path, backend="onnxruntime")
        self.model_s = 0.0

    def detect(self, image: bytes, conf: float, iou: float, max_det: int) -> tuple[np.ndarray, ...]:
        result = self.detector.detect(image, conf=conf, iou=iou, max_det=max_det)
        self.model_s += self.detector.last_timing_ms.get("inference", float("nan")) / 1000
        return np.asarray(result.xyxy), np.asarray(result.scores), np.asarray(result.class_ids)


def coco_map(records: list[dict[str, Any]], detections: list[dict[str, Any]]) -> tuple[float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    gt.dataset = shapes.to_coco(records)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(detections) if detections else COCO()
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
    evaluator.summarize()
    return float(evaluator.stats[1]), float(evaluator.stats[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    parser.add_argument("--conf", type=float, default=0.001)
    parser.add_argument("--iou", type=float, default=0.6)
    parser.add_argument("--max-det", type=int, default=100)
    parser.add_argument("--serve-conf", type=float, default=0.25, help="threshold of the timing pass")
    parser.add_argument("--timed", type=int, default=200, help="images in the timing pass")
    parser.add_argument("--reference", action="store_true", help="use training/common.py's decode, not Detector")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads for --reference")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="image generation processes")
    parser.add_argument("--json", default="", help="also write the figures to this json file")
    args = parser.parse_args()

    blobs, records = make_set(args.n, args.seed, args.workers)
    detector: ReferenceDetector | ProjectDetector
    if args.reference:
        images: list[Any] = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs]
        detector = ReferenceDetector(args.model, args.threads)
    else:  # the encoded files, as a served request brings them: the project's own decode
        images, detector = list(blobs), ProjectDetector(args.model)
    for image in images[:5]:
        detector.detect(image, args.conf, args.iou, args.max_det)
    detector.model_s = 0.0

    detections: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for image_id, image in enumerate(images, start=1):
        boxes, scores, cls = detector.detect(image, args.conf, args.iou, args.max_det)
        for (x1, y1, x2, y2), score, c in zip(boxes.tolist(), scores.tolist(), cls.tolist()):
            detections.append(
                {"image_id": image_id, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score}
            )
    total_ms = (time.perf_counter() - t0) / len(images) * 1000
    map50, map5095 = coco_map(records, detections)
    timed = images[: args.timed]
    detector.model_s = 0.0
    t0 = time.perf_counter()
    for image in timed:
        detector.detect(image, args.serve_conf, args.iou, args.max_det)
    serve_ms = (time.perf_counter() - t0) / len(timed) * 1000
    serve_model_ms = detector.model_s / len(timed) * 1000
    figures = {
        "model": str(args.model),
        "path": "reference decode" if args.reference else "trt_core.Detector (onnxruntime, CPU)",
        "images": args.n,
        "seed": args.seed,
        "mAP@.5": round(map50, 4),
        "mAP@[.5:.95]": round(map5095, 4),
        "eval_ms_per_image": round(total_ms, 2),
        "ms_per_image": round(serve_ms, 2),
        "model_ms_per_image": round(serve_model_ms, 2),
        "cpu_cores": os.cpu_count(),
        "onnx_mb": round(os.path.getsize(args.model) / 1e6, 2),
    }
    print(f"mAP@.5        {map50:.4f}")
    print(f"mAP@[.5:.95]  {map5095:.4f}")
    print(
        f"CPU ms/image  {serve_ms:.1f} end to end at conf {args.serve_conf} (model alone {serve_model_ms:.1f}; "
        f"{total_ms:.1f} at conf {args.conf}), batch 1, {os.cpu_count()} cores"
    )
    print(json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
