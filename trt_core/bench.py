"""A small closed-loop load generator: N workers send requests back to back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BenchResult:
    requests: int
    errors: int
    concurrency: int
    seconds: float
    images_per_s: float
    latency_ms: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lat = self.latency_ms
        return (
            f"{self.requests} requests ({self.errors} errors), concurrency {self.concurrency}, "
            f"{self.seconds:.2f} s: {self.images_per_s:.1f} images/s; latency ms "
            f"p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  max {lat['max']:.1f}"
        )


def run_load(
    send: Callable[[int], int], *, requests: int, concurrency: int, warmup: int = 0, images_per_request: int = 1
) -> BenchResult:
    """Call ``send(i)`` ``requests`` times from ``concurrency`` threads.

    ``send`` returns the number of failed images (0 on success) or raises (one error).
    """
    for i in range(warmup):
        send(i)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            start = time.perf_counter()
            try:
                failed = send(index)
            except Exception:
                failed = 1
            elapsed = (time.perf_counter() - start) * 1e3
            with lock:
                latencies.append(elapsed)
                errors += failed

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    values = np.asarray(latencies or [0.0])
    percentiles = {f"p{p}": float(np.percentile(values, p)) for p in (50, 90, 99)}
    return BenchResult(
        requests=requests,
        errors=errors,
        concurrency=concurrency,
        seconds=seconds,
        images_per_s=requests * images_per_request / seconds if seconds > 0 else 0.0,
        latency_ms={**percentiles, "mean": float(values.mean()), "max": float(values.max())},
    )
