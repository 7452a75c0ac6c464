"""``trt-detect``: the command-line entry point.  Each subcommand lives in its own module
with ``add_parser(subparsers)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from trt_core import __version__
from trt_core.errors import TrtDetectError

SUBCOMMANDS = (
    "trt_core.cli.detect",
    "trt_core.cli.build",
    "trt_core.cli.darknet",
    "trt_core.cli.bench",
    "trt_core.cli.info",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trt-detect", description="YOLO object detection with TensorRT and Ray Serve")
    parser.add_argument("--version", action="version", version=f"trt-detect {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except TrtDetectError as exc:
        print(f"trt-detect: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
