"""Host NMS on one core: ms per image for 100 / 1,000 / 10,000 candidates, in one run.

Candidates are a detector's: boxes jittered around ~N/8 objects in a 608x608 image, scores
uniform in [0.25, 1), 80 classes (per-class NMS, the default) and class-agnostic NMS, IoU
0.45.  Compared, on the same boxes: ``trt_core.boxes`` (ONNX Runtime's NMS kernel), the
one-box-at-a-time greedy loop it replaced, and OpenCV's ``cv2.dnn.NMSBoxesBatched`` /
``NMSBoxes`` when OpenCV is installed (it is not a dependency; results are checked equal).

    python benchmarks/cpu_nms.py --out benchmarks/results/cpu/nms.txt
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, before numpy loads
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trt_core.boxes import batched_nms, box_iou, nms  # noqa: E402

IOU = 0.45
CLASSES = 80


def candidates(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    objects = max(n // 8, 1)
    centres, sizes = rng.uniform(0, 608, (objects, 2)), rng.uniform(16, 300, (objects, 2))
    pick = rng.integers(0, objects, n)
    cxy = centres[pick] + rng.normal(0, 8, (n, 2))
    wh = sizes[pick] * rng.uniform(0.8, 1.2, (n, 2))
    xyxy = np.concatenate([cxy - wh / 2, cxy + wh / 2], axis=1).astype(np.float32)
    classes = rng.integers(0, CLASSES, objects)[pick]
    return xyxy, rng.uniform(0.25, 1.0, n).astype(np.float32), classes


def greedy_loop(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """The previous implementation: one Python round per kept box."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[box_iou(xyxy[best : best + 1], xyxy[rest])[0] <= iou]
    return np.asarray(keep, np.int64)


def offset(xyxy: np.ndarray, classes: np.ndarray) -> np.ndarray:
    span = float(np.max(xyxy)) - float(min(np.min(xyxy), 0.0)) + 1.0
    return xyxy + (classes.astype(np.float64) * span)[:, None]


def opencv() -> tuple[dict[str, Callable[..., np.ndarray]], str]:
    import importlib

    try:
        cv2: Any = importlib.import_module("cv2")
    except ImportError:
        return {}, ""

    def xywh(xyxy: np.ndarray) -> np.ndarray:
        return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).astype(np.float64)

    cv2.setNumThreads(1)
    functions = {
        "per-class": lambda b, s, c: np.asarray(
            cv2.dnn.NMSBoxesBatched(xywh(b), s, c.astype(np.int32), 0.0, IOU), np.int64
        ).reshape(-1),
        "agnostic": lambda b, s, c: np.asarray(cv2.dnn.NMSBoxes(xywh(b), s, 0.0, IOU), np.int64).reshape(-1),
    }
    return functions, str(cv2.__version__)


def ms(fn: Callable[[], object], budget_s: float, *, min_runs: int = 3, max_runs: int = 200) -> float:
    """Median of repeated calls, as many as fit in ``budget_s`` (``min_runs`` to ``max_runs``)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget_s and len(times) < max_runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def row(n: int, mode: str, cv: dict[str, Callable[..., np.ndarray]], budget: float) -> str:
    xyxy, scores, classes = candidates(n, seed=n)
    if mode == "per-class":
        old_boxes = offset(xyxy, classes)  # what the old batched_nms did

        def ours() -> np.ndarray:
            return batched_nms(xyxy, scores, classes, IOU)
    else:
        old_boxes = xyxy

        def ours() -> np.ndarray:
            return nms(xyxy, scores, IOU)

    kept = ours()
    equal = np.array_equal(kept, greedy_loop(old_boxes, scores, IOU))
    t_new = ms(ours, budget)
    t_old = ms(lambda: greedy_loop(old_boxes, scores, IOU), budget)
    t_cv = float("nan")
    if cv:
        equal = equal and np.array_equal(np.sort(cv[mode](xyxy, scores, classes)), np.sort(kept))
        t_cv = ms(lambda: cv[mode](xyxy, scores, classes), budget)
    return (
        f"{n:>10} {mode:>9} {kept.size:>5} {t_new:>9.2f} {t_old:>9.2f} {t_cv:>8.2f} "
        f"{t_old / t_new:>7.1f}x {t_new / t_cv:>6.1f}x  {equal}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--budget", type=float, default=1.5, help="seconds of timing per cell")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv, cv_version = opencv()
    lines = [
        f"$ python {' '.join(shlex.quote(a) for a in sys.argv)}",
        f"one core, IoU {IOU}, {CLASSES} classes, candidates clustered around n/8 objects; median ms per image"
        + (f"; OpenCV {cv_version}" if cv else "; OpenCV not installed"),
        "",
        f"{'candidates':>10} {'mode':>9} {'kept':>5} {'trt_core':>9} {'old loop':>9} {'opencv':>8} "
        f"{'old/new':>8} {'new/cv':>7}  equal",
    ]
    for n in (int(s) for s in args.sizes.split(",")):
        for mode in ("per-class", "agnostic"):
            lines.append(row(n, mode, cv, args.budget))
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
