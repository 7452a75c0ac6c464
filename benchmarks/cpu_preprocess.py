"""Preprocess (decode + EXIF + resize + letterbox/stretch) against a plain decode, on one core.

Images are generated deterministically (smooth gradients, mild noise and discs, something
like a photo): JPEG q90 at 640x480, 1920x1080 and 4000x3000 (12 MP), and a 1920x1080 PNG.
For each, in one run, the median time of:

- a plain decode of the same bytes: Pillow's ``Image.open(...).load()`` (the denominator
  of every ratio) and OpenCV's ``cv2.imdecode`` (for reference);
- ``trt_core.preprocess.fit`` in each resize convention: ``bilinear`` letterbox to 512 (the
  default, the demo model's), ``linear`` letterbox to 512 and to 640 (Ultralytics', whose
  default size needs no resize for 640x480), ``bicubic`` stretch to 608 (NVIDIA's recipe);
- the same with the previous implementation (full decode to an array, Pillow resize,
  transpose into a new canvas; it had no ``linear``, so its bilinear stands in), kept here
  for the comparison.

Methods run interleaved, image by image, so that a busy machine slows them alike. OpenCV
runs on one thread, as in a one-CPU Preprocess replica.

    python benchmarks/cpu_preprocess.py --out benchmarks/results/cpu/preprocess.txt
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, before numpy loads
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import io  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageOps  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trt_core.preprocess import Resize, fit  # noqa: E402

# (resize, letterbox, input size): the three conventions
CONVENTIONS: tuple[tuple[Resize, bool, int], ...] = (
    ("bilinear", True, 512),
    ("linear", True, 512),
    ("linear", True, 640),
    ("bicubic", False, 608),
)
IMAGES = (("JPEG", 640, 480, 60), ("JPEG", 1920, 1080, 25), ("JPEG", 4000, 3000, 7), ("PNG", 1920, 1080, 10))


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=2)
    image = Image.fromarray(np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x0, y0, side = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(8, width // 6))
        draw.ellipse([x0, y0, x0 + side, y0 + side], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return np.asarray(image)


def encode(rgb: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def previous(data: bytes, resize: str, letterbox: bool, size: int) -> np.ndarray:
    """The implementation this replaced: full decode to an array, Pillow resize, new canvas."""
    image: Image.Image = Image.open(io.BytesIO(data))
    image.load()
    image = ImageOps.exif_transpose(image) or image
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    height, width = rgb.shape[:2]
    ratio = min(size / width, size / height) if letterbox else 0.0
    new_w, new_h = (round(width * ratio), round(height * ratio)) if letterbox else (size, size)
    pillow = Image.Resampling.BICUBIC if resize == "bicubic" else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), pillow), dtype=np.uint8)
    canvas = np.full((3, size, size), 114, dtype=np.uint8)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas[:, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.transpose(2, 0, 1)
    return canvas


def methods(data: bytes) -> dict[str, Callable[[], object]]:
    out: dict[str, Callable[[], object]] = {
        "decode Pillow": lambda: Image.open(io.BytesIO(data)).load(),
        "decode OpenCV": lambda: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
    }
    for resize, letterbox, size in CONVENTIONS:
        name = f"{resize} {'letterbox' if letterbox else 'stretch'} {size}"
        out[f"{name} new"] = functools.partial(fit, data, (size, size), letterbox=letterbox, resize=resize)
        out[f"{name} old"] = functools.partial(previous, data, resize, letterbox, size)
    return out


def measure(data: bytes, reps: int) -> dict[str, float]:
    """Median ms per method, the methods interleaved."""
    return interleaved(methods(data), reps)


def interleaved(runs: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median ms of each of ``runs`` over ``reps`` rounds, one call of each per round (after
    one warm-up call each), so that a busy machine slows them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up
        run()
    for _ in range(reps):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(values)) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=float, default=1.0, help="scale the repetitions per image")
    parser.add_argument("--out", default="", help="also write the report here (with the command at the top)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    lines = [
        f"# {shlex.join(['python', *sys.argv])}",
        f"# one core; OpenCV {cv2.__version__} on 1 thread; Pillow {Image.__version__}; median ms; "
        "ratio = ms / Pillow's plain decode of the same bytes",
        f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start (the machine is shared)",
    ]
    print("\n".join(lines), flush=True)
    for fmt, width, height, reps in IMAGES:
        data = encode(photo(width, height), fmt)
        ms = measure(data, max(3, round(reps * args.reps)))
        base = ms["decode Pillow"]
        block = [
            f"\n{fmt} {width}x{height} ({len(data) / 1e3:.0f} KB): plain decode Pillow {base:.2f} ms, "
            f"OpenCV {ms['decode OpenCV']:.2f} ms"
        ]
        for resize, letterbox, size in CONVENTIONS:
            name = f"{resize} {'letterbox' if letterbox else 'stretch'} {size}"
            new, old = ms[f"{name} new"], ms[f"{name} old"]
            block.append(
                f"  {name:<22} new {new:7.2f} ms = {new / base:4.2f}x decode   "
                f"(previous {old:7.2f} ms = {old / base:4.2f}x; {old / new:4.1f}x faster)"
            )
        print("\n".join(block), flush=True)
        lines += block
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
