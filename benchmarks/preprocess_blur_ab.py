"""A/B in one process: the 640x480 letterbox with the fixed-point [1, 2, 1] / 4 blur (shipped
for shrinks of 1.2x to 1.5x) against the float 3-tap kernel of Pillow's variance (the previous
blur), each over Pillow's plain decode of the same JPEG, interleaved, one core.

    python benchmarks/preprocess_blur_ab.py [--rounds 400]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import io
import sys
from pathlib import Path

import cv2
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from cpu_preprocess import interleaved, photo  # noqa: E402

import trt_core.preprocess as preprocess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    opts = parser.parse_args()
    cv2.setNumThreads(1)
    buffer = io.BytesIO()
    Image.fromarray(photo(640, 480)).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    shipped = preprocess.FIXED_BLUR_RANGE

    def decode() -> None:
        Image.open(io.BytesIO(data)).load()

    def fit_with(fixed_range: tuple[float, float]) -> None:
        preprocess.FIXED_BLUR_RANGE = fixed_range
        preprocess.fit(data, (512, 512))

    runs = {"decode": decode, "fixed blur": lambda: fit_with(shipped), "float blur": lambda: fit_with((0.0, 0.0))}
    try:
        ms = interleaved(runs, opts.rounds)
    finally:
        preprocess.FIXED_BLUR_RANGE = shipped
    print(", ".join(f"{name} {value:.3f} ms" for name, value in ms.items()))
    fixed, floating = ms["fixed blur"] / ms["decode"], ms["float blur"] / ms["decode"]
    print(f"fixed blur {fixed:.2f}x decode, float blur {floating:.2f}x")


if __name__ == "__main__":
    main()
