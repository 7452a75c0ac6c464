"""What the subcommands share: the exit-code scheme, option groups, the detector and the client.

Exit codes (every command):

- ``0`` success;
- ``1`` the work failed: an image could not be decoded, the server is unreachable, is not a
  trt-detect server or answered an error, a bench request failed, the model or backend
  failed, an engine build failed (also when stdout is closed early, e.g. ``| head``);
- ``2`` usage error, nothing was done: an unknown option or bad value, a file or folder
  that does not exist, an output path that cannot be used, ``--classes`` the model lacks;
- ``130`` interrupted (Ctrl-C).

Every error is one line on stderr, ``trt-detect: error: <reason> (hint: <what to do>)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trt_core.backends import BACKENDS, DEVICES
from trt_core.errors import InvalidRequestError, TrtDetectError
from trt_core.params import parse_classes
from trt_core.spec import FORMATS

if TYPE_CHECKING:
    from trt_core.client import Client
    from trt_core.detector import Detector

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES_HELP = (
    "exit codes: 0 success; 1 the work failed (an image could not be decoded, the server is unreachable "
    "or answered an error, a bench request failed, the model, backend or build failed); 2 usage error, "
    "nothing done (bad option or value, missing file, unusable output path); 130 interrupted"
)
RESIZE_MODES = ("bilinear", "bicubic", "linear")


class UsageError(TrtDetectError):
    """The command line cannot work as given (exit 2)."""

    code = "usage"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


positive_int = int_at_least(1)


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display on stderr")


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """ModelSpec overrides, for models whose metadata is missing or wrong."""
    group = parser.add_argument_group("model overrides (default: read from the ONNX file)")
    group.add_argument("--format", choices=FORMATS, help="output format")
    group.add_argument("--input-size", metavar="HxW", type=_size, help="input size, e.g. 640 or 384x640")
    group.add_argument("--names", metavar="FILE|LIST", help="class names: a file with one per line, or a,b,c")
    group.add_argument("--resize", choices=RESIZE_MODES, help="resize filter (linear: OpenCV-style, as Ultralytics)")
    group.add_argument(
        "--letterbox",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the aspect ratio and pad (--no-letterbox: stretch)",
    )


def spec_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key in ("format", "input_size", "resize", "letterbox"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if getattr(args, "names", None):
        path = Path(args.names)
        try:
            overrides["names"] = path.read_text() if path.is_file() else args.names
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"--names {path}: cannot read it as text ({exc})", hint="one class name per line"
            ) from None
    return overrides


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model (in-process)")
    group.add_argument("--model", help="ONNX detector (default: $TRT_DETECT_MODEL or the bundled demo model)")
    group.add_argument("--backend", choices=BACKENDS, default="auto")
    group.add_argument("--device", choices=DEVICES, default="auto")
    group.add_argument("--preset", help="a named recipe, e.g. nvidia-yolov3 (stretch resize, conf 0.6, iou 0.5)")
    group.add_argument("--max-batch", type=positive_int, default=8, help="images per backend call (default 8)")
    add_spec_options(parser)


def add_threshold_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("thresholds")
    group.add_argument("--conf", type=float, help="score threshold, 0..1")
    group.add_argument("--iou", type=float, help="NMS IoU threshold, 0..1")
    group.add_argument("--max-det", type=int, help="most detections per image")
    group.add_argument("--classes", type=_classes, help="comma-separated class ids to keep")
    group.add_argument("--agnostic", action="store_true", default=None, help="class-agnostic NMS")


def detector_from_args(args: argparse.Namespace) -> Detector:
    """The in-process detector the model, override and threshold options describe."""
    from trt_core.detector import Detector
    from trt_core.models import resolve_model

    try:
        resolve_model(args.model)
    except TrtDetectError as exc:
        raise UsageError(exc.message, hint="check --model or $TRT_DETECT_MODEL") from None
    detector = Detector.from_onnx(
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
        **spec_overrides(args),
    )
    check_classes(args.classes, list(detector.spec.names))
    return detector


def client_from_args(args: argparse.Namespace, *, retries: int = 3) -> tuple[Client, dict[str, Any]]:
    """A client for ``--url`` and the server's ``GET /model``, probed once so that a wrong or
    unreachable URL fails before any image is sent."""
    from trt_core.client import Client, ServerError

    try:
        client = Client(args.url, timeout=args.timeout, retries=retries)
    except ValueError as exc:
        raise UsageError(f"--url: {exc}") from None
    try:
        model = client.model()
    except ServerError as exc:
        if exc.status is None:
            hint = "is the server running? start it with `serve run serve_config.yaml`, or fix --url"
            raise ServerError(exc.message, hint=hint) from None
        if exc.status >= 500:
            raise ServerError(f"{client.url} cannot serve now: {exc.message}", hint="check `serve status`") from None
        raise ServerError(
            f"{client.url} is not a trt-detect server: GET /model answered {exc.status}", hint="check --url"
        ) from None
    except ValueError:
        raise ServerError(
            f"{client.url} is not a trt-detect server: GET /model is not JSON", hint="check --url"
        ) from None
    if not isinstance(model.get("classes"), list):
        raise ServerError(f"{client.url} is not a trt-detect server: GET /model has no classes", hint="check --url")
    check_classes(args.classes, model["classes"])
    return client, model


def check_classes(classes: tuple[int, ...] | None, names: list[str]) -> None:
    bad = [c for c in classes or () if not 0 <= c < len(names)]
    if bad:
        raise UsageError(
            f"--classes {','.join(map(str, bad))}: the model has {len(names)} classes",
            hint=f"use ids 0-{len(names) - 1} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})",
        )


def threshold_query(args: argparse.Namespace) -> dict[str, Any]:
    """The threshold options as ``/detect`` query parameters (those given)."""
    query = {key: getattr(args, key) for key in ("conf", "iou", "max_det", "classes", "agnostic")}
    return {key: value for key, value in query.items() if value is not None}


def validate_thresholds(args: argparse.Namespace) -> None:
    """Range-check the thresholds before any work (raises :class:`UsageError`)."""
    from trt_core.params import DetectParams

    try:
        DetectParams().replace(**{k: v for k, v in threshold_query(args).items() if k != "agnostic"})
    except InvalidRequestError as exc:
        raise UsageError(exc.message, hint=exc.hint or "see --help") from None


def _size(text: str) -> str:
    parts = text.lower().replace("x", ",").split(",")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected N or HxW with positive sizes, got {text!r}")
    return text.lower()


def _classes(text: str) -> tuple[int, ...]:
    try:
        return parse_classes(text)
    except TrtDetectError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
