"""``trt-detect bench``: throughput and latency percentiles, against a server or in-process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trt_core.bench import run_load
from trt_core.cli.common import add_model_options, add_threshold_options, detector_from_args, threshold_query
from trt_core.errors import InvalidImageError, InvalidRequestError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("bench", help="load-test a server (--url) or the in-process detector")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="images to send, round robin")
    parser.add_argument("--url", help="a running trt-detect server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=200, help="requests to send (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests first (default 10)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(parser)
    add_threshold_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0:
        raise InvalidRequestError("--requests and --concurrency must be >= 1, --warmup >= 0")
    payloads = [_read(path) for path in args.images]
    send = _remote_sender(args, payloads) if args.url else _local_sender(args, payloads)
    result = run_load(send, requests=args.requests, concurrency=args.concurrency, warmup=args.warmup)
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 1 if result.errors else 0


def _remote_sender(args: argparse.Namespace, payloads: list[bytes]) -> Any:
    from trt_core.client import Client

    client = Client(args.url, timeout=120.0)
    query = threshold_query(args)

    def send(i: int) -> int:
        client.detect(payloads[i % len(payloads)], **query)
        return 0

    return send


def _local_sender(args: argparse.Namespace, payloads: list[bytes]) -> Any:
    detector = detector_from_args(args)

    def send(i: int) -> int:
        detector.detect(payloads[i % len(payloads)])
        return 0

    return send


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from None
