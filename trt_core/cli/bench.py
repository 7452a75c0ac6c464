"""``trt-detect bench``: closed-loop load against a server (``--url``) or the in-process detector.

Throughput counts successful images only; latency percentiles are those of successful
requests; failures are broken down by HTTP status.  Exit code 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from trt_core.bench import run_load
from trt_core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    add_model_options,
    add_quiet_option,
    add_threshold_options,
    client_from_args,
    detector_from_args,
    int_at_least,
    positive_int,
    threshold_query,
    validate_thresholds,
)
from trt_core.cli.inputs import expand_images
from trt_core.cli.progress import Progress


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench", help="load-test a server (--url) or the in-process detector", description=__doc__
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="images to send, round robin (files, folders, globs)"
    )
    parser.add_argument("--url", help="a running trt-detect server: http://HOST:PORT or HOST:PORT")
    parser.add_argument("--requests", type=positive_int, default=200, help="timed requests (default 200)")
    parser.add_argument("--concurrency", type=positive_int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--warmup", type=int_at_least(0), default=10, help="untimed requests first (default 10)")
    parser.add_argument(
        "--multipart",
        type=positive_int,
        default=1,
        metavar="N",
        help="images per request (multipart with --url, detect_batch in-process; default 1)",
    )
    parser.add_argument(
        "--retries",
        type=int_at_least(0),
        default=0,
        help="retries of a 503/429 (honouring Retry-After) before it counts as failed (default 0)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request with --url (default 120)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_quiet_option(parser)
    add_model_options(parser)
    add_threshold_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    payloads = [_read(path) for path in expand_images(args.images)]
    validate_thresholds(args)
    send = _remote_sender(args, payloads) if args.url else _local_sender(args, payloads)
    with Progress(args.requests, desc="bench", unit="img", quiet=args.quiet, scale=args.multipart) as progress:
        failed = 0

        def on_done(error: BaseException | None) -> None:
            nonlocal failed
            failed += error is not None
            progress.update(1, errors=failed)

        result = run_load(
            send,
            requests=args.requests,
            concurrency=args.concurrency,
            warmup=args.warmup,
            images_per_request=args.multipart,
            on_done=on_done,
        )
    print(json.dumps(result.to_dict()) if args.json else result.summary(), flush=True)
    return EXIT_FAILURE if result.errors else EXIT_OK


def _batches(payloads: list[bytes], size: int) -> Callable[[int], Sequence[bytes]]:
    def batch(i: int) -> Sequence[bytes]:
        return [payloads[(i * size + k) % len(payloads)] for k in range(size)]

    return batch


def _remote_sender(args: argparse.Namespace, payloads: list[bytes]) -> Callable[[int], object]:
    client, _ = client_from_args(args, retries=args.retries)
    query = threshold_query(args)
    batch = _batches(payloads, args.multipart)
    if args.multipart == 1:
        return lambda i: client.detect(batch(i)[0], **query)
    return lambda i: client.detect_many(batch(i), **query)


def _local_sender(args: argparse.Namespace, payloads: list[bytes]) -> Callable[[int], object]:
    detector = detector_from_args(args)
    batch = _batches(payloads, args.multipart)
    return lambda i: detector.detect_batch(batch(i))


def _read(path: Any) -> bytes:
    try:
        return bytes(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
