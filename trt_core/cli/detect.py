"""``trt-detect detect``: detect objects in image files, in-process or through a server.

Images go in chunks of ``--max-batch``: in-process through ``Detector.detect_batch``, with
``--url`` as one multipart request per chunk.  Results are printed as each chunk finishes.
An image that cannot be decoded is reported on stderr (one line) and the others still run.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trt_core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    add_model_options,
    add_quiet_option,
    add_threshold_options,
    client_from_args,
    detector_from_args,
    one_line,
    threshold_query,
    validate_thresholds,
)
from trt_core.cli.inputs import chunks, expand_images
from trt_core.cli.progress import Progress
from trt_core.errors import InvalidImageError, TrtDetectError

# Per image: (result dict, annotated JPEG or None), or the error that image met.
Outcome = tuple[dict[str, Any], bytes | None] | TrtDetectError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("detect", help="detect objects in images", description=__doc__)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files, folders (their images) or globs")
    parser.add_argument("--url", help="a running trt-detect server: http://HOST:PORT or HOST:PORT")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image per line")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write annotated images to this folder")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request with --url (default 60)")
    add_quiet_option(parser)
    add_model_options(parser)
    add_threshold_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = expand_images(args.images)
    out = _output_folder(args.out)
    validate_thresholds(args)
    source = _RemoteSource(args) if args.url else _LocalSource(args)
    failures = 0
    with Progress(len(paths), desc="detect", unit="img", quiet=args.quiet) as progress:
        for chunk in chunks(paths, args.max_batch):
            for path, outcome in zip(chunk, source.detect(chunk)):
                if isinstance(outcome, TrtDetectError):
                    failures += 1
                    progress.print(f"trt-detect: error: {_about(path, outcome)}", file=sys.stderr)
                    continue
                result, annotated = outcome
                if out is not None and annotated is not None:
                    (out / f"{path.stem}.jpg").write_bytes(annotated)
                progress.print(_format(path, result, as_json=args.json))
            progress.update(len(chunk))
    return EXIT_FAILURE if failures else EXIT_OK


def _output_folder(out: Path | None) -> Path | None:
    if out is None:
        return None
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="--out takes a folder for the annotated images")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot create it: {exc.strerror or exc}", hint="choose another folder"
        ) from None
    return out


def _about(path: Path, error: TrtDetectError) -> str:
    text = one_line(error)
    return text if str(path) in text else f"{path}: {text}"


def _format(path: Path, result: dict[str, Any], *, as_json: bool) -> str:
    if as_json:
        return json.dumps({"path": str(path), **result})
    detections = result["detections"]
    size = result["image"]
    lines = [f"{path}: {len(detections)} detection(s) in {size['width']}x{size['height']}"]
    for d in detections:
        box = ", ".join(f"{v:.1f}" for v in d["box"])
        lines.append(f"  {d['label']:<12} {d['score']:.3f}  [{box}]")
    return "\n".join(lines)


def _read_all(paths: Sequence[Path]) -> tuple[dict[int, bytes], list[Outcome | None]]:
    """The bytes of each readable file by position; an unreadable one's error in its place."""
    data: dict[int, bytes] = {}
    outcomes: list[Outcome | None] = []
    for i, path in enumerate(paths):
        try:
            data[i] = _read(path)
            outcomes.append(None)
        except TrtDetectError as exc:
            outcomes.append(exc)
    return data, outcomes


class _LocalSource:
    """Encoded bytes go to ``detect_batch`` as a server's would, so that the CLI, the library
    and the HTTP API decode (and so detect) alike."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.detector = detector_from_args(args)
        self.annotate = args.out is not None

    def detect(self, paths: Sequence[Path]) -> list[Outcome]:
        data, outcomes = _read_all(paths)
        found = self._detect_batch(list(data.values()))
        # the batch's stage times, shared out over its images
        timing = {k: v / max(1, len(data)) for k, v in getattr(self.detector, "last_timing_ms", {}).items()}
        for i, detections in zip(data, found):
            outcomes[i] = (
                detections if isinstance(detections, TrtDetectError) else self._result(data[i], detections, timing)
            )
        return [o for o in outcomes if o is not None]

    def _detect_batch(self, images: list[bytes]) -> list[Any]:
        """Detections per image, or the :class:`InvalidImageError` of an image that cannot be used."""
        if not images:
            return []
        try:
            return list(self.detector.detect_batch(images))
        except InvalidImageError as exc:
            if len(images) == 1:
                return [exc]
            return [self._detect_batch([image])[0] for image in images]  # find which image it was

    def _result(self, data: bytes, detections: Any, timing: dict[str, float]) -> Outcome:
        from trt_core.result import result_dict

        width, height = _display_size(data)
        result = result_dict(self.detector.spec.name, width, height, detections, timing)
        return result, _annotated(data, detections) if self.annotate else None


def _annotated(data: bytes, detections: Any) -> bytes:
    """The image with ``detections`` drawn, as JPEG."""
    from trt_core.annotate import draw, encode
    from trt_core.image import load_rgb

    return encode(draw(load_rgb(data, max_pixels=2**31), detections))  # its size passed detection already


def _display_size(data: bytes) -> tuple[int, int]:
    """Width and height as displayed (EXIF orientations 5-8 swap them), from the header alone."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


class _RemoteSource:
    def __init__(self, args: argparse.Namespace) -> None:
        self.client, model = client_from_args(args)
        self.names: list[str] = model["classes"]
        self.query = threshold_query(args)
        self.annotate = args.out is not None

    def detect(self, paths: Sequence[Path]) -> list[Outcome]:
        from trt_core.client import ServerError

        data, outcomes = _read_all(paths)
        images = list(data.values())
        results: list[dict[str, Any] | ServerError]
        try:
            results = list(self._detect_many(images))
        except ServerError as exc:
            raise_if_gone(exc)  # else one image spoils a multipart request: find which, one by one
            results = [exc] if len(images) == 1 else [self._detect_one(image) for image in images]
        for i, result in zip(data, results):
            if isinstance(result, ServerError):
                outcomes[i] = result
            elif self.annotate:  # drawn here: the server need not detect a second time
                from trt_core.detections import Detections

                detections = Detections.from_list(result["detections"], self.names)
                outcomes[i] = (result, _annotated(data[i], detections))
            else:
                outcomes[i] = (result, None)
        return [o for o in outcomes if o is not None]

    def _detect_many(self, images: list[bytes]) -> list[dict[str, Any]]:
        if len(images) > 1:
            return self.client.detect_many(images, **self.query)
        return [self.client.detect(image, **self.query) for image in images]

    def _detect_one(self, image: bytes) -> Any:
        from trt_core.client import ServerError

        try:
            return self.client.detect(image, **self.query)
        except ServerError as exc:
            raise_if_gone(exc)
            return exc


def raise_if_gone(exc: Any) -> None:
    """Re-raise a transport failure (no HTTP status): the run stops rather than fail every image."""
    if exc.status is None:
        raise exc


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from None
