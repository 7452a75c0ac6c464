"""``trt-detect detect``: detect objects in image files, in-process or through a server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from trt_core.cli.common import add_model_options, add_threshold_options, detector_from_args, threshold_query
from trt_core.errors import TrtDetectError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("detect", help="detect objects in images", description=__doc__)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument("--url", help="a running trt-detect server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image per line")
    parser.add_argument("--out", type=Path, help="write annotated images to this folder")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request with --url")
    add_model_options(parser)
    add_threshold_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    source = _RemoteSource(args) if args.url else _LocalSource(args)
    failures = 0
    for name in args.images:
        path = Path(name)
        try:
            result, annotated = source.detect(path)
        except TrtDetectError as exc:
            failures += 1
            print(f"trt-detect: {path}: {exc}", file=sys.stderr)
            continue
        if annotated is not None:
            (args.out / f"{path.stem}.jpg").write_bytes(annotated)
        _print(path, result, as_json=args.json)
    return 1 if failures else 0


def _print(path: Path, result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"path": str(path), **result}), flush=True)
        return
    detections = result["detections"]
    size = result["image"]
    print(f"{path}: {len(detections)} detection(s) in {size['width']}x{size['height']}")
    for d in detections:
        box = ", ".join(f"{v:.1f}" for v in d["box"])
        print(f"  {d['label']:<12} {d['score']:.3f}  [{box}]")


class _LocalSource:
    def __init__(self, args: argparse.Namespace) -> None:
        self.detector = detector_from_args(args)
        self.annotate = args.out is not None

    def detect(self, path: Path) -> tuple[dict[str, Any], bytes | None]:
        from trt_core.annotate import draw, encode
        from trt_core.image import load_rgb
        from trt_core.result import result_dict

        rgb = load_rgb(path, max_pixels=self.detector.max_pixels)
        detections = self.detector.detect(rgb)
        timing = self.detector.last_timing_ms
        result = result_dict(self.detector.spec.name, rgb.shape[1], rgb.shape[0], detections, timing)
        return result, encode(draw(rgb, detections)) if self.annotate else None


class _RemoteSource:
    def __init__(self, args: argparse.Namespace) -> None:
        from trt_core.client import Client

        self.client = Client(args.url, timeout=args.timeout)
        self.query = threshold_query(args)
        self.annotate = args.out is not None

    def detect(self, path: Path) -> tuple[dict[str, Any], bytes | None]:
        data = _read(path)
        result = self.client.detect(data, **self.query)
        return result, self.client.annotate(data, **self.query) if self.annotate else None


def _read(path: Path) -> bytes:
    from trt_core.errors import InvalidImageError

    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidImageError(f"no such file: {path}") from None
    except OSError as exc:
        raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from None
