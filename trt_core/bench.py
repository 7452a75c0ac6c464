"""A small closed-loop load generator: ``concurrency`` workers send requests back to back.

Only successful requests count: throughput is successful images per second and the
latency percentiles are those of successful requests; failures are counted by cause (the
HTTP status, or the exception's name when no answer came).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class BenchResult:
    requests: int
    ok: int
    errors: int
    errors_by_status: dict[str, int]
    concurrency: int
    images_per_request: int
    seconds: float
    images_per_s: float  # successful images only
    requests_per_s: float  # successful requests only
    latency_ms: dict[str, float] = field(default_factory=dict)  # of successful requests; empty if none

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"{self.requests} requests x {self.images_per_request} image(s), concurrency {self.concurrency}, "
            f"{self.seconds:.2f} s: {self.ok} ok, {self.errors} failed"
        )
        if self.errors_by_status:
            text += " (" + ", ".join(f"{key}: {n}" for key, n in sorted(self.errors_by_status.items())) + ")"
        if not self.ok:
            return text + "; no successful request, so no throughput or latency"
        lat = self.latency_ms
        return (
            f"{text}\n{self.images_per_s:.1f} images/s ({self.requests_per_s:.1f} requests/s) successful; "
            f"latency ms p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  max {lat['max']:.1f}"
        )


def error_key(exc: BaseException) -> str:
    """What a failure is counted under: its HTTP ``status`` if it has one, else its type's name."""
    status = getattr(exc, "status", None)
    return str(status) if status is not None else type(exc).__name__


def run_load(
    send: Callable[[int], object],
    *,
    requests: int,
    concurrency: int,
    warmup: int = 0,
    images_per_request: int = 1,
    on_done: Callable[[BaseException | None], None] | None = None,
) -> BenchResult:
    """Call ``send(i)`` ``requests`` times from ``concurrency`` threads; a call that raises failed.

    ``warmup`` untimed calls run first, one at a time; their exceptions propagate (so an
    unreachable server fails at once).  ``on_done(error_or_None)`` is called after every
    timed request (under a lock), e.g. to drive a progress bar.
    """
    for i in range(warmup):
        send(i)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            error: BaseException | None = None
            start = time.perf_counter()
            try:
                send(index)
            except Exception as exc:
                error = exc
            elapsed = (time.perf_counter() - start) * 1e3
            with lock:
                if error is None:
                    latencies.append(elapsed)
                else:
                    failures[error_key(error)] += 1
                if on_done is not None:
                    on_done(error)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(concurrency, requests))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    ok = len(latencies)
    return BenchResult(
        requests=requests,
        ok=ok,
        errors=requests - ok,
        errors_by_status=dict(failures),
        concurrency=concurrency,
        images_per_request=images_per_request,
        seconds=seconds,
        images_per_s=ok * images_per_request / seconds if seconds > 0 else 0.0,
        requests_per_s=ok / seconds if seconds > 0 else 0.0,
        latency_ms=latency_summary(latencies),
    )


def latency_summary(latencies_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99, mean and max of ``latencies_ms``; empty for no values."""
    if not latencies_ms:
        return {}
    values = np.asarray(latencies_ms)
    summary = {f"p{p}": float(np.percentile(values, p)) for p in PERCENTILES}
    return {**summary, "mean": float(values.mean()), "max": float(values.max())}
