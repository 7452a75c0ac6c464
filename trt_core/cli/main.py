"""``trt-detect``: the command-line entry point.  Each subcommand lives in its own module
with ``add_parser(subparsers)`` and ``run(args) -> int``.  Exit codes: see
:mod:`trt_core.cli.common` (0 ok, 1 the work failed, 2 usage error, 130 interrupted)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from trt_core import __version__
from trt_core.cli.common import EXIT_CODES_HELP, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, one_line
from trt_core.errors import InvalidRequestError, TrtDetectError

DEBUG_ENV = "TRT_DETECT_DEBUG"  # set: unexpected errors show their traceback
SUBCOMMANDS = (
    "trt_core.cli.detect",
    "trt_core.cli.build",
    "trt_core.cli.darknet",
    "trt_core.cli.bench",
    "trt_core.cli.info",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (hint: see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="trt-detect", description="YOLO object detection with TensorRT and Ray Serve", epilog=EXIT_CODES_HELP
    )
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
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the try
        return code
    except (UsageError, InvalidRequestError) as exc:
        return _fail(exc, EXIT_USAGE)
    except TrtDetectError as exc:
        return _fail(exc, EXIT_FAILURE)
    except BrokenPipeError:
        # The reader went away (`trt-detect detect ... | head`): stop quietly.  Python's
        # documented recipe: point stdout at devnull so the interpreter's final flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as exc:  # e.g. a full disk or a read-only folder while writing results
        print(f"trt-detect: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # a bug, or a model/options mismatch no check caught: still one line
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"trt-detect: error: unexpected {type(exc).__name__}: {one_line(exc)} (hint: check the model and "
            f"options, e.g. --format; set {DEBUG_ENV}=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


def _fail(exc: TrtDetectError, code: int) -> int:
    print(f"trt-detect: error: {one_line(exc)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
