"""``trt-detect convert-darknet CFG WEIGHTS -o MODEL.onnx``: Darknet YOLO to ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trt_core.cli.common import UsageError, add_quiet_option
from trt_core.cli.progress import Progress, note


def _input_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW with positive sizes, got {text!r}")
    return (parts[0], parts[-1])


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "convert-darknet",
        help="convert a Darknet YOLO cfg + weights to an ONNX detector",
        description="Convert a Darknet YOLOv3/v4-style network (cfg + weights) to ONNX with raw "
        "detection heads and the metadata trt-detect needs (anchors, masks, names, input size).",
    )
    parser.add_argument("cfg", type=Path, metavar="CFG", help="Darknet .cfg file")
    parser.add_argument("weights", type=Path, metavar="WEIGHTS", help="Darknet .weights file")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.onnx", help="ONNX file to write")
    parser.add_argument(
        "--input-size",
        type=_input_size,
        metavar="N",
        help="input size N (or HxW) instead of the cfg's width/height; a multiple of 32",
    )
    parser.add_argument("--names", type=Path, metavar="FILE", help="class names, one per line (Darknet .names)")
    parser.add_argument("--name", help="model name reported by the API (default: the cfg's file name)")
    parser.add_argument(
        "--preset", help="write a recipe's preprocessing into the metadata, e.g. nvidia-yolov3 (stretch, bicubic)"
    )
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_core.darknet import convert

    missing = [str(p) for p in (args.cfg, args.weights, args.names) if p is not None and not p.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}", hint="check the path(s)")
    if args.output.is_dir():
        raise UsageError(f"-o {args.output} is a folder", hint="-o takes the .onnx file to write")
    size_mib = args.weights.stat().st_size / 2**20
    note(f"converting {args.cfg.name} + {args.weights.name} ({size_mib:.1f} MiB of weights) ...", quiet=args.quiet)
    with Progress(None, desc="convert-darknet", unit="step", quiet=args.quiet) as bar:

        def on_step(phase: str, done: int, total: int) -> None:
            bar.update(1, phase=f"{phase} {done}/{total}" if total > 1 else phase)

        result = convert(
            args.cfg,
            args.weights,
            args.output,
            input_size=args.input_size,
            names_path=args.names,
            preset=args.preset,
            name=args.name,
            on_step=on_step,
        )
    h, w = result.input_hw
    print(f"wrote {result.path} ({result.file_size / 2**20:.1f} MiB)")
    print(f"  layers: {result.layers}, input: 3x{h}x{w} (batch dynamic), classes: {len(result.names)}")
    for name, (c, oh, ow) in result.outputs:
        print(f"  output {name}: {c}x{oh}x{ow} (stride {h // oh})")
    return 0
