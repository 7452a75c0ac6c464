"""Options shared by subcommands that load a model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from trt_core.backends import BACKENDS, DEVICES
from trt_core.errors import TrtDetectError
from trt_core.params import parse_classes

if TYPE_CHECKING:
    from trt_core.detector import Detector


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="ONNX detector (default: $TRT_DETECT_MODEL or the bundled demo model)")
    group.add_argument("--backend", choices=BACKENDS, default="auto")
    group.add_argument("--device", choices=DEVICES, default="auto")
    group.add_argument("--preset", help="a named recipe, e.g. nvidia-yolov3 (stretch resize, conf 0.6, iou 0.5)")
    group.add_argument("--max-batch", type=int, default=8, help="images per backend call")


def add_threshold_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("thresholds")
    group.add_argument("--conf", type=float, help="score threshold, 0..1")
    group.add_argument("--iou", type=float, help="NMS IoU threshold, 0..1")
    group.add_argument("--max-det", type=int, help="most detections per image")
    group.add_argument("--classes", type=_classes, help="comma-separated class ids to keep")
    group.add_argument("--agnostic", action="store_true", default=None, help="class-agnostic NMS")


def detector_from_args(args: argparse.Namespace) -> Detector:
    """The in-process detector the model and threshold options describe."""
    from trt_core.detector import Detector

    return Detector.from_onnx(
        args.model,
        backend=args.backend,
        device=args.device,
        max_batch=args.max_batch,
        preset=args.preset,
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        classes=args.classes,
        agnostic=args.agnostic,
    )


def _classes(text: str) -> tuple[int, ...]:
    try:
        return parse_classes(text)
    except TrtDetectError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def threshold_query(args: argparse.Namespace) -> dict[str, str]:
    query: dict[str, str] = {}
    for key in ("conf", "iou", "max_det"):
        if getattr(args, key) is not None:
            query[key] = str(getattr(args, key))
    if args.classes is not None:
        query["classes"] = ",".join(str(c) for c in args.classes)
    if args.agnostic:
        query["agnostic"] = "true"
    return query
