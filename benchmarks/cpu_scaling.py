"""Do the machine's cores scale?  N processes, each on one thread, run the same work at once;
their total images/s against N times one process alone, in one run.

Two kinds of work: the app's preprocessing (decode + letterbox of a 640x480 JPEG, as a
Preprocess replica runs it) and a pure-Python loop (interpreter-bound, like Serve's work for
each call).  On a node whose every core is its own, the efficiency stays near 1.0 up to the
core count; where it falls well before (cores sharing a physical core, the host's other
tenants, a clock that drops with more cores busy, shared caches), the app's per-image CPU
grows with the load, which is what the served app showed on an H200 node
(benchmarks/README.md, sixth session).

    python benchmarks/cpu_scaling.py [--procs 1,2,4,8,12,16] [--seconds 4] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import multiprocessing as mp
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]


def python_work() -> None:
    total = 0
    for i in range(20_000):
        total += i * i % 7


def worker(kind: str, data: bytes, seconds: float, ready: Any, rates: Any) -> None:
    """Warm up, wait for every other worker, then run ``kind`` for ``seconds``; put its rate."""
    import cv2

    from trt_core.preprocess import fit

    cv2.setNumThreads(1)
    work = python_work if kind == "python" else lambda: fit(data, (512, 512))
    work()
    ready.wait()  # all imported and warmed: they run together
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        work()
        done += 1
    rates.put(done / (time.perf_counter() - start))


def rate(kind: str, procs: int, data: bytes, seconds: float) -> float:
    """Calls per second of ``procs`` processes running ``kind`` together."""
    context = mp.get_context("spawn")
    ready, rates = context.Barrier(procs), context.Queue()
    workers = [context.Process(target=worker, args=(kind, data, seconds, ready, rates)) for _ in range(procs)]
    for process in workers:
        process.start()
    total = sum(rates.get(timeout=seconds + 120) for _ in workers)
    for process in workers:
        process.join()
    return float(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", default=f"1,2,4,8,12,{os.cpu_count()}", help="process counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args(argv)
    from serve_bench import jpeg_of_size

    data = jpeg_of_size(640, 480)
    counts = sorted({int(n) for n in opts.procs.split(",") if n})
    lines = [
        f"$ python {' '.join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}",
        f"{os.cpu_count()} CPUs seen; {opts.seconds:g} s per measurement; "
        "efficiency = total / (N x one alone, the mean of its two runs)",
        "",
        f"{'work':<11} {'N':>3} {'total/s':>9} {'per process/s':>14} {'efficiency':>10}",
    ]
    print("\n".join(lines), flush=True)
    for kind in ("preprocess", "python"):
        totals = {procs: rate(kind, procs, data, opts.seconds) for procs in [1, *(n for n in counts if n != 1)]}
        again = rate(kind, 1, data, opts.seconds)  # one process alone before and after the rest: the noise
        alone = (totals[1] + again) / 2
        for procs, total in sorted(totals.items()):
            line = f"{kind:<11} {procs:>3} {total:>9.0f} {total / procs:>14.0f} {total / (procs * alone):>10.2f}"
            lines.append(line)
            print(line, flush=True)
        lines.append(f"{'':<11} one process alone before and after: {totals[1]:.0f} and {again:.0f} per second")
        print(lines[-1], flush=True)
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
