"""Write the demo model's sample images and their ground truth (COCO json).

Picks images of the shapes set (seed 7, never used in training or evaluation) that fill
a few slots: JPEG and PNG, landscape, portrait and near-square, flat and gradient
backgrounds.  Output: ``shapes_<i>.<jpg|png>``, and ``samples_ground_truth.json`` beside the folder.

    .venv/bin/python training/make_samples.py --out models/shapes-yolov3-tiny/samples
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

import shapes_dataset as shapes  # noqa: E402

SAMPLES_SEED = 7
Predicate = Callable[[shapes.ShapesSample, str, bool], bool]


def _ratio(s: shapes.ShapesSample) -> float:
    return s.width / s.height


SLOTS: list[tuple[str, Predicate]] = [
    ("landscape jpeg, gradient", lambda s, ext, grad: ext == "jpg" and 1.5 < _ratio(s) < 2.2 and grad),
    ("portrait png, gradient", lambda s, ext, grad: ext == "png" and _ratio(s) < 0.7 and grad),
    ("near-square jpeg, flat", lambda s, ext, grad: ext == "jpg" and 0.9 < _ratio(s) < 1.1 and not grad),
    ("wide png, gradient", lambda s, ext, grad: ext == "png" and _ratio(s) > 2.5 and grad),
    ("portrait jpeg, flat", lambda s, ext, grad: ext == "jpg" and 0.55 < _ratio(s) < 0.85 and not grad),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "models" / "shapes-yolov3-tiny" / "samples"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    index = 0
    for slot, (_, wanted) in enumerate(SLOTS):
        while True:
            rng = shapes.image_rng(SAMPLES_SEED, index)
            layout = shapes.sample_layout(rng)
            sample = shapes.ShapesSample(shapes.render(rng, layout), layout.boxes(), layout.class_ids(), layout.colours)
            data, ext = shapes.encode(sample, rng)
            index += 1
            gradient = layout.background.colour_b is not None
            if len(sample.boxes) >= 3 and max(sample.width, sample.height) <= 900 and wanted(sample, ext, gradient):
                break
        name = f"shapes_{slot}.{ext}"
        (out / name).write_bytes(data)
        records.append(
            {
                "file_name": name,
                "width": sample.width,
                "height": sample.height,
                "boxes": [[round(v, 3) for v in box] for box in sample.boxes.tolist()],
                "class_ids": sample.class_ids.tolist(),
            }
        )
    (out.parent / "samples_ground_truth.json").write_text(json.dumps(shapes.to_coco(records), indent=1) + "\n")
    for rec in records:
        print(rec["file_name"], rec["width"], rec["height"], len(rec["boxes"]))


if __name__ == "__main__":
    main()
